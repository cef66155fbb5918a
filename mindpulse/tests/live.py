"""Helpers of the fault tests: a TCP proxy the test can cut, a gunicorn server on loopback,
and a small HTTP client. Everything started here is stopped in `finally` blocks (process
groups killed), so a failing test leaves nothing running behind it.
"""

from __future__ import annotations

import base64
import http.cookiejar
import json
import os
import signal
import socket
import struct
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A port nothing listens on right now, on 127.0.0.1."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class TcpProxy:
    """Relays 127.0.0.1:<port> to a service; `cut()` breaks every open connection and refuses
    new ones (reset at once) until `restore()`: the service looks down to whoever uses it,
    while the machine's own server keeps running for everyone else."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0), backlog=128)
        self.listener.settimeout(0.1)
        self.port = self.listener.getsockname()[1]
        self.connections = 0
        self._cut = threading.Event()
        self._closed = threading.Event()
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._thread = threading.Thread(target=self._accept_loop, daemon=True)
        self._thread.start()

    def __enter__(self) -> TcpProxy:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def cut(self) -> None:
        self._cut.set()
        with self._lock:
            doomed, self._sockets = self._sockets, set()
        for sock in doomed:
            _reset(sock)

    def restore(self) -> None:
        self._cut.clear()

    def close(self) -> None:
        self._closed.set()
        self.cut()
        self._thread.join(timeout=5)
        self.listener.close()

    def _accept_loop(self) -> None:
        while not self._closed.is_set():
            try:
                client, _ = self.listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            if self._cut.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=3)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            client.settimeout(None)
            with self._lock:
                self._sockets |= {client, upstream}
                self.connections += 1
            for source, sink in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, sink), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for sock in (source, sink):
                with self._lock:
                    self._sockets.discard(sock)
                _reset(sock)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP reset, as a crashed or unreachable server would look."""
    with suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    with suppress(OSError):
        sock.close()


# --- gunicorn on loopback ---------------------------------------------------------------------


def database_url(settings_dict: dict, *, host: str | None = None, port: int | None = None) -> str:
    """A DATABASE_URL for the test database (optionally through a proxy's host and port)."""
    s = settings_dict
    if s["ENGINE"] == "django.db.backends.sqlite3":
        return f"sqlite:///{s['NAME']}"
    auth = urllib.parse.quote(s["USER"] or "")
    if s["PASSWORD"]:
        auth += ":" + urllib.parse.quote(s["PASSWORD"])
    at = f"{auth}@" if auth else ""
    host = host or s["HOST"] or "127.0.0.1"
    return f"postgres://{at}{host}:{port or s['PORT'] or 5432}/{s['NAME']}"


@dataclass
class Server:
    base_url: str
    process: subprocess.Popen
    log: Path

    def output(self) -> str:
        return self.log.read_text(errors="replace")


@contextmanager
def gunicorn(settings, env: dict, *, workers: int = 2, threads: int = 1, ready_path="/api/health"):
    """gunicorn serving MindPulse (test settings) on a free loopback port; killed on exit.

    Started with the worker and thread counts given here, not ops/gunicorn.conf.py (which it
    would not read anyway: it is not in the working directory).

    `settings` is pytest-django's fixture: the server uses the test's folders and secret key.
    `env` overrides the environment (DATABASE_URL is required: the test database).
    """
    port = free_port()
    log = Path(settings.ARTIFACTS_DIR).parent / f"gunicorn-{port}.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    full_env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "SECRET_KEY": settings.SECRET_KEY,
        "ARTIFACTS_DIR": str(settings.ARTIFACTS_DIR),
        "REPORTS_DIR": str(settings.REPORTS_DIR),
        "ARCHIVE_DIR": str(settings.ARCHIVE_DIR),
        "MODEL_CACHE_DIR": str(settings.MODEL_CACHE_DIR),
        "STORAGE_BACKEND": settings.STORAGE_BACKEND,
        "ACTIVE_MODEL_CHECK_SECONDS": "1",
        # Served as in production (`make test` exports DEBUG=true for the test process).
        "DEBUG": "false",
        **env,
    }
    command = [
        sys.executable,
        "-m",
        "gunicorn",
        "mindpulse.wsgi",
        f"--bind=127.0.0.1:{port}",
        f"--workers={workers}",
        f"--threads={threads}",
        "--graceful-timeout=2",
        # Import Django once in the master and fork the workers from it: several seconds
        # less per test than each worker importing everything.
        "--preload",
        "--timeout=60",
    ]
    with open(log, "wb") as out:
        process = subprocess.Popen(
            command,
            cwd=BASE_DIR,
            env=full_env,
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        server = Server(f"http://127.0.0.1:{port}", process, log)
        try:
            _wait_ready(server, ready_path)
            yield server
        finally:
            stop_process_group(process)


def _wait_ready(server: Server, path: str, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"gunicorn exited:\n{server.output()}")
        try:
            request(server.base_url + path, timeout=5)
            return
        except OSError:
            time.sleep(0.2)
    raise TimeoutError(f"gunicorn not ready after {timeout}s:\n{server.output()}")


def stop_process_group(process: subprocess.Popen) -> None:
    if process.poll() is None:
        try:
            os.killpg(process.pid, signal.SIGTERM)
            process.wait(timeout=10)
        except (subprocess.TimeoutExpired, ProcessLookupError):
            with suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            process.wait(timeout=10)


# --- A small HTTP client (the standard library's: nothing else to install) ---------------------


@dataclass
class Reply:
    status: int
    headers: dict
    body: bytes

    def json(self):
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def request(
    url: str,
    *,
    method: str = "GET",
    json_body=None,
    data: bytes | None = None,
    headers: dict | None = None,
    opener=None,
    timeout: float = 30,
) -> Reply:
    """One HTTP request; an error status is a Reply too (only network errors raise)."""
    headers = dict(headers or {})
    if json_body is not None:
        data = json.dumps(json_body).encode()
        headers.setdefault("Content-Type", "application/json")
    req = urllib.request.Request(url, data=data, method=method, headers=headers)
    try:
        with (opener or _NO_REDIRECT).open(req, timeout=timeout) as response:
            return Reply(response.status, dict(response.headers), response.read())
    except urllib.error.HTTPError as error:
        return Reply(error.code, dict(error.headers), error.read())


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 302 is an answer to check, not something to follow


_NO_REDIRECT = urllib.request.build_opener(_NoRedirect())


def session():
    """An opener that keeps cookies (a browser session) and does not follow redirects."""
    jar = http.cookiejar.CookieJar()
    opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar), _NoRedirect())
    opener.jar = jar
    return opener


def cookie(opener, name: str) -> str | None:
    return next((c.value for c in opener.jar if c.name == name), None)


def basic_auth(username: str, password: str) -> dict:
    """HTTP Basic credentials (the staff API refuses them: see test_security_round_two.py)."""
    token = base64.b64encode(f"{username}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def admin_login(base_url: str, username: str, password: str):
    """Sign in through the admin's login form (CSRF token and all); returns the session."""
    opener = session()
    request(base_url + "/admin/login/", opener=opener)
    form = urllib.parse.urlencode(
        {
            "username": username,
            "password": password,
            "csrfmiddlewaretoken": cookie(opener, "csrftoken"),
            "next": "/admin/",
        }
    ).encode()
    reply = request(
        base_url + "/admin/login/",
        method="POST",
        data=form,
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": base_url + "/admin/login/",
        },
        opener=opener,
    )
    if reply.status != 302:
        raise AssertionError(f"admin login failed: {reply.status} {reply.text[:500]}")
    return opener


def post_form(base_url: str, path: str, opener, fields: dict | None = None) -> Reply:
    """POST a form with the session's CSRF token, as the admin's pages do."""
    form = {"csrfmiddlewaretoken": cookie(opener, "csrftoken"), **(fields or {})}
    return request(
        base_url + path,
        method="POST",
        data=urllib.parse.urlencode(form).encode(),
        headers={
            "Content-Type": "application/x-www-form-urlencoded",
            "Referer": base_url + path,
        },
        opener=opener,
    )


def require(condition: bool, reason: str) -> None:
    """Skip a fault test whose service is not configured, unless CI demands it
    (MINDPULSE_REQUIRE_SERVICES=1, set by .ci/run): there a skip would hide a missing test."""
    import pytest

    if condition:
        return
    if os.environ.get("MINDPULSE_REQUIRE_SERVICES") == "1":
        pytest.fail(reason + " (MINDPULSE_REQUIRE_SERVICES=1)")
    pytest.skip(reason)
