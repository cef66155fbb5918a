"""docker-compose.yml cannot run here (no Docker daemon); it must at least parse, run what
`make run` runs, run commands that exist, and start in an order that works."""

import runpy
import shlex
import shutil
import sys
from pathlib import Path

import yaml
from django.core.management import get_commands

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
        "migrate",
        "web",
        "worker-training",
        "worker",
        "beat",
    }


def test_it_runs_the_same_processes_as_make_run():
    services = _compose()["services"]
    expected = process_commands(bin_dir="/x", host="h", port=1, beat_schedule="/s")
    assert services["migrate"]["command"] == (
        'sh -c "python manage.py migrate --noinput && python manage.py bootstrap"'
    )
    for name in ("web", "beat"):
        assert _strip(shlex.split(services[name]["command"])) == _strip(expected[name])


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
    assert '"--config=/app/ops/gunicorn.conf.py"' in dockerfile
    web = process_commands(bin_dir="/x", host="h", port=1, beat_schedule="/s")["web"]
    assert Path(web[2].split("=", 1)[1]) == ROOT / "ops" / "gunicorn.conf.py"
    # Not at the root, where gunicorn would read it by itself for any server started there.
    assert not (ROOT / "gunicorn.conf.py").exists()


def _programs(command) -> list[list[str]]:
    """Each program a service's command runs (the parts of a `sh -c "a && b"`)."""
    argv = shlex.split(command) if isinstance(command, str) else list(command)
    if argv[:2] == ["sh", "-c"]:
        return [shlex.split(part) for part in argv[2].split("&&")]
    return [argv]


def test_it_runs_commands_that_exist():
    known = get_commands()
    bin_dir = Path(sys.executable).parent
    for name, service in _compose()["services"].items():
        if "command" not in service:
            continue
        for argv in _programs(service["command"]):
            if argv[:2] == ["python", "manage.py"]:
                assert argv[2] in known, (name, argv)
            else:
                assert (bin_dir / argv[0]).exists() or shutil.which(argv[0]), (name, argv)


def test_it_migrates_once_before_web_worker_and_beat_start():
    services = _compose()["services"]
    migrate = services["migrate"]
    assert migrate["restart"] == "no"  # a one-shot service: it runs, then exits
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    for name in ("web", "worker-training", "worker", "beat"):
        depends = services[name]["depends_on"]
        assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert depends["postgres"]["condition"] == "service_healthy", name
        assert services[name]["restart"] == "unless-stopped", name
        assert "migrate" not in services[name]["command"], name


def test_it_checks_the_health_of_web_and_worker():
    services = _compose()["services"]
    web = " ".join(services["web"]["healthcheck"]["test"])
    assert "http://127.0.0.1:8000/api/health" in web
    assert "127.0.0.1" in services["web"]["environment"]["ALLOWED_HOSTS"]
    for name in ("worker-training", "worker"):
        assert "inspect ping" in " ".join(services[name]["healthcheck"]["test"])
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name


def test_it_never_runs_the_containers_in_debug_and_keeps_the_local_env_out_of_the_image():
    services = _compose()["services"]
    for name in ("migrate", "web", "worker-training", "worker", "beat"):
        assert services[name]["environment"]["DEBUG"] == "false", name
    ignored = (ROOT / ".dockerignore").read_text().split()
    assert ".env" in ignored  # manage.py reads a local .env: never in production


def test_it_documents_the_plain_http_try_in_env_example():
    example = (ROOT / ".env.example").read_text()
    block = example[example.index("# --- A plain-http local try with docker compose") :]
    for switch in ("SECURE_SSL_REDIRECT", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE"):
        assert f"# {switch}=false" in block


def test_it_keeps_artifacts_and_reports_in_volumes():
    services = _compose()["services"]
    for name in ("migrate", "web", "worker-training", "worker", "beat"):
        targets = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {"/app/artifacts", "/app/var"} <= targets
        assert services[name]["environment"]["CELERY_BROKER_URL"].startswith("redis://")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")


def test_it_reads_the_measured_gunicorn_settings_from_its_config_file(monkeypatch):
    monkeypatch.delenv("WEB_WORKERS", raising=False)
    monkeypatch.delenv("WEB_THREADS", raising=False)
    config = runpy.run_path(str(ROOT / "ops" / "gunicorn.conf.py"))
    assert (config["workers"], config["threads"], config["worker_class"]) == (4, 2, "gthread")
    monkeypatch.setenv("WEB_WORKERS", "2")
    monkeypatch.setenv("WEB_THREADS", "1")
    config = runpy.run_path(str(ROOT / "ops" / "gunicorn.conf.py"))
    assert (config["workers"], config["threads"], config["worker_class"]) == (2, 1, "sync")
