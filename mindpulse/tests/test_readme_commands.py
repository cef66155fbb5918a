"""Every command line of README.md and of the docs/ pages runs as written, in a fresh copy.

The commands are parsed from the pages (their ```sh blocks and their inline
`.venv/bin/python ...`, `python ...`, `make ...` and `curl ...` spans), so a command added
later is run here too, unless it is a synopsis (`[--to DIR]`, `<username>`, `/path/to/...`)
or listed in NOT_RUN with the reason and the test that covers it instead.

The copy starts as a fresh clone after `make run`: `make .env` (the file `make run` writes),
`migrate`, `bootstrap` (on 3,000 generated rows instead of 100,000), then `manage.py serve`
on a free port; the commands run in the copy with none of MindPulse's variables set
(no DEBUG, no SECRET_KEY, no DATABASE_URL: its own var/ holds the temporary database), and
the curl commands against that server.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from .live import BASE_DIR, free_port

README = BASE_DIR / "README.md"
# The README and the pages it sends its reader to: a command is a command wherever it is shown.
PAGES = [README, *sorted((BASE_DIR / "docs").glob("*.md"))]
LOCAL = "http://127.0.0.1:8000"

# Commands not run here: (regex on the command, why, what covers it).
NOT_RUN = [
    (r"\bmake run\b", "starts the server forever", "this test's serve step"),
    (r"\bmake test\b", "is the suite (or part of it) that runs this test", "CI"),
    (r"^(\S+=\S+\s+)*make bench\b", "minutes of load on all cores", "bench/ (make bench)"),
    (r"-m pytest\b", "runs a part of this suite", "this suite"),
    (r"\bbench[/.]", "a benchmark, minutes of load", "bench/"),
    (r"-m training\.bench_", "a benchmark of a file outside the checkout", "bench/"),
    (r"manage\.py simulate\b", "minutes of simulated days", "mindpulse/tests/test_simulate.py"),
    (r"-m cProfile\b", "a profiler named in prose", "bench/simulate.py"),
    (
        r"mindpulse\.example\.org",
        "an example production host",
        "training/tests/test_retrain_api.py",
    ),
]
SYNOPSIS = re.compile(r"\[|<|…|\.\.\.$|/path/to|\bDIR\b|\bPATH\b|:PASSWORD|\$TOKEN|--rows N\b")
NEEDS_GETTEXT = re.compile(r"\b(makemessages|compilemessages)\b")
_INLINE = re.compile(
    r"`((?:[A-Z_]+=\S+ )*(?:\.venv/bin/python|python|make|curl) [^`]+)`", re.MULTILINE
)
# Variables of MindPulse (and of the test run) that a fresh shell does not have.
_UNSET = re.compile(
    r"^(DEBUG|SECRET_KEY|DATABASE_URL|CELERY_BROKER_URL|CELERY_BROKER_WRITE_URL|VAR_DIR|"
    r"ARTIFACTS_DIR|REPORTS_DIR|ARCHIVE_DIR|DJANGO_SETTINGS_MODULE|DJANGO_SUPERUSER_\w+|"
    r"MINDPULSE_\w+|PYTEST_\w+|THROTTLE_\w+)$"
)


def readme_commands(text: str) -> list[tuple[int, str]]:
    """(line number, command) of every command line, in the README's order."""
    found = []
    in_block, pending, start = False, "", 0
    for number, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            in_block = line.strip() in ("```sh", "```bash")
            pending = ""
            continue
        if in_block:
            if not pending and (not line.strip() or line.lstrip().startswith("#")):
                continue
            if not pending:
                start = number
            pending = f"{pending}\n{line}" if pending else line
            if _complete(pending):
                found.append((start, pending.replace("\\\n", " ").strip()))
                pending = ""
        else:
            found.extend((number, match.group(1)) for match in _INLINE.finditer(line))
    return found


def _complete(command: str) -> bool:
    if command.rstrip().endswith("\\"):
        return False
    try:
        shlex.split(command, comments=True)
    except ValueError:  # an open quote: the command goes on on the next line
        return False
    return True


def why_not_run(command: str) -> str | None:
    if SYNOPSIS.search(command):
        return "a synopsis with placeholders"
    for pattern, reason, covered_by in NOT_RUN:
        if re.search(pattern, command):
            return f"{reason} (covered by {covered_by})"
    if NEEDS_GETTEXT.search(command) and not shutil.which("msgfmt"):
        return "needs gettext (apt-get install gettext)"
    return None


def page_commands() -> list[tuple[str, int, str]]:
    """(page, line number, command) of every command of the README and the docs/ pages."""
    return [
        (str(page.relative_to(BASE_DIR)), line, command)
        for page in PAGES
        for line, command in readme_commands(page.read_text())
    ]


def test_it_finds_the_readmes_commands_including_multi_line_ones():
    commands = [command for _page, _line, command in page_commands()]
    assert (
        "make run     # MindPulse: web + worker + beat, with a trained model, on http://127.0.0.1:8000/"
        in commands
    )
    assert ".venv/bin/python manage.py createsuperuser" in commands
    curls = [c for c in commands if c.startswith("curl") and "/api/predict/batch" in c]
    assert any('{"Age": 21}]' in c for c in curls), curls  # the quote spans three lines
    assert len([c for c in commands if why_not_run(c) is None]) >= 10
    # Never the suite inside the suite, however the README wraps the line.
    assert all(why_not_run(c) for c in commands if re.search(r"\bmake (run|test)\b", c))


def _fresh_copy(root: Path) -> Path:
    clone = root / "clone"
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=BASE_DIR, capture_output=True)
    if listed.returncode != 0:  # not a git checkout (an unpacked archive): copy what is there
        skip = shutil.ignore_patterns(".venv", "var", ".env", ".git", "__pycache__", ".*cache")
        shutil.copytree(BASE_DIR, clone, ignore=skip)
        (clone / ".venv").symlink_to(BASE_DIR / ".venv")
        return clone
    for name in filter(None, listed.stdout.decode().split("\0")):
        source = BASE_DIR / name
        if source.is_file():
            target = clone / name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target)
    (clone / ".venv").symlink_to(BASE_DIR / ".venv")
    return clone


def _shell_env() -> dict:
    env = {k: v for k, v in os.environ.items() if not _UNSET.match(k)}
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def _run(command: str, clone: Path, env: dict, timeout: int = 600):
    return subprocess.run(
        ["bash", "-c", command],
        cwd=clone,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class Output:
    """The lines a process prints, read by a thread (no blocking read in the test)."""

    def __init__(self, process: subprocess.Popen):
        self.lines: list[str] = []
        self.thread = threading.Thread(target=self._read, args=(process,), daemon=True)
        self.thread.start()

    def _read(self, process):
        for line in process.stdout:
            self.lines.append(line)

    @property
    def text(self) -> str:
        return "".join(self.lines)

    def wait_for(self, text: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if text in self.text:
                return
            time.sleep(0.2)
        raise AssertionError(f"{text!r} not printed: {self.text}")


@pytest.mark.worker  # `manage.py serve` starts gunicorn, a Celery worker and beat
def test_it_runs_every_readme_command_as_written(tmp_path):
    clone = _fresh_copy(tmp_path)
    env = _shell_env()
    setup = [
        "make .env",
        ".venv/bin/python manage.py migrate --noinput -v 0",
        ".venv/bin/python manage.py bootstrap --rows 3000 -v 0",
        ".venv/bin/python manage.py generate_students --rows 5 --seed 1 --out students.csv",
    ]
    for command in setup:
        result = _run(command, clone, env)
        assert result.returncode == 0, (command, result.stdout, result.stderr)
    assert "DEBUG=true" in (clone / ".env").read_text()

    port = free_port()
    server = _serve(clone, env, port)
    output = Output(server)
    ran, failures = [], []
    try:
        output.wait_for("MindPulse is ready", timeout=180)
        for page, line, command in page_commands():
            if why_not_run(command):
                continue
            written = command.replace(LOCAL, f"http://127.0.0.1:{port}")
            result = _run(written, clone, env)
            printed = result.stdout + result.stderr
            ran.append(command)
            if result.returncode != 0 or "Traceback" in printed or "Server Error" in printed:
                failures.append(f"{page}:{line}: {command}\n{printed[-2000:]}")
    finally:
        os.killpg(server.pid, signal.SIGINT)  # Ctrl-C: the terminal signals the whole group
        server.wait(timeout=60)
    assert not failures, "\n\n".join(failures)
    assert any(c.startswith("curl") for c in ran) and any("manage.py" in c for c in ran)
    output.thread.join(timeout=30)
    assert server.returncode == 0, output.text
    assert "Traceback" not in output.text
    assert output.text.index("waiting for") < output.text.index("MindPulse is ready")
    assert _port_closed(port)

    # Ctrl-C in the first second, while the three processes are still starting.
    early = _serve(clone, env, port)
    early_output = Output(early)
    early_output.wait_for("waiting for", timeout=60)
    os.killpg(early.pid, signal.SIGINT)
    assert early.wait(timeout=60) == 0
    early_output.thread.join(timeout=30)
    assert "Traceback" not in early_output.text, early_output.text
    assert "MindPulse is ready" not in early_output.text
    assert _port_closed(port)


def _serve(clone: Path, env: dict, port: int) -> subprocess.Popen:
    """`manage.py serve` in its own process group, as a terminal would run it."""
    return subprocess.Popen(
        [".venv/bin/python", "manage.py", "serve", f"--port={port}"],
        cwd=clone,
        env={**env, "WEB_WORKERS": "1"},  # ops/gunicorn.conf.py: one web process is enough here
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def _port_closed(port: int) -> bool:
    import socket

    with socket.socket() as probe:
        return probe.connect_ex(("127.0.0.1", port)) != 0
