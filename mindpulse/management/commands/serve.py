"""Run the web server, one Celery worker and Celery beat together; Ctrl-C stops all three.

Why: a newcomer's `make run` should start the whole system in one terminal, with
nothing else installed. If one process dies, the others are stopped too, so a
half-running system is never mistaken for a working one.
"""

import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand

GUNICORN_CONF = Path(__file__).resolve().parents[3] / "ops" / "gunicorn.conf.py"


def web_command(*, bin_dir, host, port) -> list[str]:
    """gunicorn with the measured settings of ops/gunicorn.conf.py (Docker and `make bench` too)."""
    return [
        os.path.join(bin_dir, "gunicorn"),
        "mindpulse.wsgi",
        f"--config={GUNICORN_CONF}",
        f"--bind={host}:{port}",
    ]


def process_commands(*, bin_dir, host, port, beat_schedule) -> dict[str, list[str]]:
    """The three processes of MindPulse (docker-compose.yml runs the same ones).

    One worker consumes the three queues (mindpulse.queues); two processes, so that an alert
    is not held behind a retrain. docker-compose splits them into worker-training and worker.
    """
    queues = ",".join(
        (
            settings.CELERY_TASK_DEFAULT_QUEUE,
            settings.CELERY_TRAINING_QUEUE,
            settings.CELERY_MONITORING_QUEUE,
        )
    )
    return {
        "web": web_command(bin_dir=bin_dir, host=host, port=port),
        "worker": [
            os.path.join(bin_dir, "celery"),
            *("-A", "mindpulse", "worker", "--loglevel=INFO", "--concurrency=2", "-Q", queues),
        ],
        "beat": [
            os.path.join(bin_dir, "celery"),
            *("-A", "mindpulse", "beat", "--loglevel=INFO", f"--schedule={beat_schedule}"),
        ],
    }


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=int(os.environ.get("PORT", "8000")))

    def handle(self, *args, host, port, **options):
        commands = process_commands(
            bin_dir=os.path.dirname(sys.executable),
            host=host,
            port=port,
            beat_schedule=str(settings.VAR_DIR / "celerybeat-schedule"),
        )
        # Each child in its own session: a Ctrl-C in the terminal reaches this process only,
        # which stops the children with SIGTERM (a SIGINT while beat is still importing made
        # it print a long traceback).
        processes = {
            name: subprocess.Popen(cmd, cwd=settings.BASE_DIR, start_new_session=True)
            for name, cmd in commands.items()
        }
        base = f"http://{host}:{port}"
        try:
            self.stdout.write(f"Starting web, worker and beat; waiting for {base}/ to answer...")
            while all(p.poll() is None for p in processes.values()):
                if answers(f"{base}/api/health"):
                    break
                time.sleep(0.5)
            else:
                self._report_dead(processes)
                return
            self.stdout.write(
                f"\nMindPulse is ready:\n  form     {base}/\n  API docs {base}/api/docs/\n"
                f"  admin    {base}/admin/\nPress Ctrl-C to stop web, worker and beat.\n"
            )
            while all(p.poll() is None for p in processes.values()):
                time.sleep(0.5)
            self._report_dead(processes)
        except KeyboardInterrupt:
            self.stdout.write("\nStopping web, worker and beat...")
        finally:
            stop(processes)

    def _report_dead(self, processes):
        dead = [name for name, p in processes.items() if p.poll() is not None]
        self.stderr.write(f"{', '.join(dead)} stopped; stopping the others.")


def answers(url: str) -> bool:
    """True once the web server sends any HTTP answer (503 while degraded counts)."""
    try:
        with urllib.request.urlopen(url, timeout=2):  # noqa: S310 (our own http:// address)
            return True
    except urllib.error.HTTPError:
        return True
    except (OSError, ValueError):
        return False


def stop(processes) -> None:
    """SIGTERM to every child still running, then SIGKILL after 15 s; Ctrl-C meanwhile is
    ignored so that the children are never left behind."""
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for p in processes.values():
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + 15
        for p in processes.values():
            try:
                p.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
