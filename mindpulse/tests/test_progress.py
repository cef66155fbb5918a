"""The progress bars of `make run`'s bootstrap step: drawn on a terminal, silent elsewhere."""

import io
import os
import subprocess
import sys

import pytest
from django.core.management import call_command

from mindpulse.tests.live import database_url
from training.models import ModelVersion, StudentRecord

BASE_DIR = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


class Terminal(io.StringIO):
    """A stream that says it is a terminal, as a shell's stderr does."""

    def isatty(self):
        return True


@pytest.fixture(autouse=True)
def _no_superuser_env(monkeypatch):
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD", "STUDENTS_CSV"):
        monkeypatch.delenv(name, raising=False)


@pytest.mark.django_db
def test_it_draws_the_storing_and_training_bars_on_a_terminal():
    out, err = Terminal(), Terminal()
    call_command("bootstrap", rows=1500, stdout=out, stderr=err)
    bars = err.getvalue()
    assert "Storing: 100%" in bars and "1.50k/1.50k" in bars
    assert "Training: 100%" in bars and "3/3" in bars
    printed = out.getvalue()
    for algorithm in ("logistic_regression", "random_forest", "xgboost"):
        assert algorithm in printed
    assert "Version 1" in printed and "\r" not in printed


@pytest.mark.django_db
def test_it_draws_the_import_bar_on_a_terminal(tmp_path):
    from training import datagen

    path = tmp_path / "students.csv"
    datagen.write_csv(datagen.generate_students(1200, seed=9), path)
    err = Terminal()
    call_command("import_students", str(path), stdout=io.StringIO(), stderr=err)
    assert "Storing: 100%" in err.getvalue() and "1.20k/1.20k" in err.getvalue()


@pytest.mark.django_db
def test_it_draws_nothing_on_a_terminal_at_verbosity_zero():
    out, err = Terminal(), Terminal()
    call_command("bootstrap", rows=1500, verbosity=0, stdout=out, stderr=err)
    assert out.getvalue() == "" and err.getvalue() == ""
    assert ModelVersion.objects.filter(status="active").count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_runs_bootstrap_without_a_terminal_and_draws_no_bar(settings):
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "ARTIFACTS_DIR": str(settings.ARTIFACTS_DIR),
        "REPORTS_DIR": str(settings.REPORTS_DIR),
        "SECRET_KEY": settings.SECRET_KEY,
    }
    result = subprocess.run(
        [sys.executable, "manage.py", "bootstrap", "--rows", "1500"],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr
    assert "Loaded 1500 generated rows" in result.stdout
    assert "Version 1" in result.stdout
    # No bar and no carriage return (stderr keeps only the log lines): a log stays a log.
    assert "\r" not in result.stdout + result.stderr
    assert "%|" not in result.stdout + result.stderr
    assert "Storing" not in result.stderr and "Training:" not in result.stderr
    assert StudentRecord.objects.count() == 1500
    assert ModelVersion.objects.filter(status="active").count() == 1


@pytest.mark.django_db(transaction=True)
def test_it_draws_the_bar_on_a_real_terminal_that_reports_no_size(settings, tmp_path):
    """A pseudo-terminal without a size (as `script` or `docker run -t` give): tqdm alone
    would draw a bar of zero columns, i.e. nothing."""
    import pty

    from training import datagen

    path = tmp_path / "students.csv"
    datagen.write_csv(datagen.generate_students(1200, seed=9), path)
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "mindpulse.settings.test",
        "DATABASE_URL": database_url(settings.DATABASES["default"]),
        "SECRET_KEY": settings.SECRET_KEY,
    }
    for name in ("COLUMNS", "LINES"):
        env.pop(name, None)
    controller, terminal = pty.openpty()
    try:
        process = subprocess.Popen(
            [sys.executable, "manage.py", "import_students", str(path)],
            cwd=BASE_DIR,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=terminal,
        )
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal closed with the process
                break
            if not chunk:
                break
            drawn += chunk
        out, _ = process.communicate(timeout=120)
    finally:
        os.close(controller)
    assert process.returncode == 0
    assert "Imported 1200 of 1200 rows" in out.decode()
    assert "Storing: 100%" in drawn.decode(errors="replace")
