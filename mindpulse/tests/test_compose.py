"""docker-compose.yml cannot run here; it must at least run what `make run` runs."""

import runpy
import shlex
from pathlib import Path

import yaml

from mindpulse.management.commands.serve import process_commands

ROOT = Path(__file__).resolve().parents[2]


def _compose():
    return yaml.safe_load((ROOT / "docker-compose.yml").read_text())


def _strip(argv):
    """Program name without its folder, and options that depend on where it runs dropped."""
    kept = [a for a in argv[1:] if not a.startswith(("--bind=", "--schedule="))]
    return [Path(argv[0]).name] + [
        f"--config={Path(a.split('=', 1)[1]).name}" if a.startswith("--config=") else a
        for a in kept
    ]


def test_it_has_the_services_of_a_deployment():
    assert set(_compose()["services"]) == {
        "postgres",
        "redis",
        "web",
        "worker-training",
        "worker",
        "beat",
    }


def test_it_runs_the_same_processes_as_make_run():
    services = _compose()["services"]
    expected = process_commands(bin_dir="/x", host="h", port=1, beat_schedule="/s")
    web_command = services["web"]["command"]
    assert "manage.py migrate" in web_command and "manage.py bootstrap" in web_command
    web_argv = shlex.split(web_command.split("&&")[-1].strip().rstrip('"'))
    assert _strip(web_argv) == _strip(expected["web"])
    assert _strip(shlex.split(services["beat"]["command"])) == _strip(expected["beat"])


def _queues(argv):
    return set(argv[argv.index("-Q") + 1].split(","))


def test_it_splits_the_worker_of_make_run_by_queue():
    services = _compose()["services"]
    everything = process_commands(bin_dir="/x", host="h", port=1, beat_schedule="/s")["worker"]
    training = shlex.split(services["worker-training"]["command"])
    light = shlex.split(services["worker"]["command"])
    assert _queues(training) == {"training"} and "--concurrency=1" in training
    assert _queues(light) == {"default", "monitoring"}
    assert _queues(training) | _queues(light) == _queues(everything)


def test_it_runs_the_gunicorn_settings_the_benchmark_measured():
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert '"--config=/app/gunicorn.conf.py"' in dockerfile
    web = process_commands(bin_dir="/x", host="h", port=1, beat_schedule="/s")["web"]
    assert Path(web[2].split("=", 1)[1]) == ROOT / "gunicorn.conf.py"


def test_it_keeps_artifacts_and_reports_in_volumes():
    services = _compose()["services"]
    for name in ("web", "worker-training", "worker", "beat"):
        targets = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {"/app/artifacts", "/app/var"} <= targets
        assert services[name]["environment"]["CELERY_BROKER_URL"].startswith("redis://")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")


def test_it_reads_the_measured_gunicorn_settings_from_its_config_file(monkeypatch):
    monkeypatch.delenv("WEB_WORKERS", raising=False)
    monkeypatch.delenv("WEB_THREADS", raising=False)
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (config["workers"], config["threads"], config["worker_class"]) == (4, 2, "gthread")
    monkeypatch.setenv("WEB_WORKERS", "2")
    monkeypatch.setenv("WEB_THREADS", "1")
    config = runpy.run_path(str(ROOT / "gunicorn.conf.py"))
    assert (config["workers"], config["threads"], config["worker_class"]) == (2, 1, "sync")
