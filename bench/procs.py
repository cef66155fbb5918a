"""The processes the benchmark starts: each in its own process group, all stopped at the end.

Every process is started with start_new_session=True, so that stopping it (SIGTERM to the
group, then SIGKILL) also stops what it forked: gunicorn's workers, Celery's pool.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
import urllib.error
import urllib.request
from pathlib import Path


class Processes:
    def __init__(self, log_dir: Path):
        self.log_dir = log_dir
        self.running: list[tuple[str, subprocess.Popen]] = []

    def start(self, name: str, args: list[str], *, env: dict, cwd: Path) -> subprocess.Popen:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        process = subprocess.Popen(
            args, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
        )
        log.close()  # the child holds its own descriptor
        self.running.append((name, process))
        return process

    def stop(self, process: subprocess.Popen, timeout: float = 30) -> None:
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
                process.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait(timeout=10)
            except ProcessLookupError:
                pass
        self.running = [(n, p) for n, p in self.running if p is not process]

    def stop_all(self) -> None:
        for _name, process in list(reversed(self.running)):
            self.stop(process)

    def log_tail(self, name: str, lines: int = 30) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


def wait_http(url: str, *, process: subprocess.Popen, timeout: float = 90) -> None:
    """Poll `url` until it answers 200; fail early if the process died."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the process serving {url} exited ({process.returncode})")
        try:
            with urllib.request.urlopen(url, timeout=5) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError) as exc:
            last = exc
        time.sleep(0.3)
    raise TimeoutError(f"{url} did not answer 200 within {timeout:.0f} s (last: {last})")


def cpu_seconds(pids) -> dict[int, float]:
    """User + system CPU seconds used so far by each of these processes that still exists."""
    tick = os.sysconf("SC_CLK_TCK")
    found = {}
    for pid in pids:
        try:
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            found[pid] = (int(fields[11]) + int(fields[12])) / tick  # utime, stime
        except (OSError, IndexError, ValueError):
            continue
    return found


def cpu_used(before: dict[int, float], after: dict[int, float]) -> float:
    """CPU seconds used between two samples by the processes alive at the second one (a
    process started in between counts from zero; one that ended in between is lost)."""
    return sum(seconds - before.get(pid, 0.0) for pid, seconds in after.items())


def group_pids(pgid: int) -> list[int]:
    """The processes of a process group (gunicorn's arbiter and workers)."""
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if os.getpgid(int(name)) == pgid:
                    found.append(int(name))
            except OSError:
                continue
    return found


def named_pids(name: str, *, containing: str = "") -> list[int]:
    """Processes whose command name is `name` and whose command line contains `containing`
    (a Postgres backend's command line names its database)."""
    found = []
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/comm") as comm:
                    if comm.read().strip() != name:
                        continue
                with open(f"/proc/{pid}/cmdline", "rb") as cmdline:
                    if containing.encode() in cmdline.read():
                        found.append(int(pid))
            except OSError:
                continue
    return found
