"""docker-compose.yml cannot run here (no Docker daemon); it must at least parse, run what
`make run` runs, run commands that exist, and start in an order that works."""

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
    return [Path(argv[0]).name] + [
        a for a in argv[1:] if not a.startswith(("--bind=", "--schedule=", "--workers="))
    ]


def test_it_has_the_services_of_a_deployment():
    assert set(_compose()["services"]) == {"postgres", "redis", "migrate", "web", "worker", "beat"}


def test_it_runs_the_same_processes_as_make_run():
    services = _compose()["services"]
    expected = process_commands(bin_dir="/x", host="h", port=1, web_workers=2, beat_schedule="/s")
    assert services["migrate"]["command"] == (
        'sh -c "python manage.py migrate --noinput && python manage.py bootstrap"'
    )
    for name in ("web", "worker", "beat"):
        assert _strip(shlex.split(services[name]["command"])) == _strip(expected[name])


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
    for name in ("web", "worker", "beat"):
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
    assert "inspect ping" in " ".join(services["worker"]["healthcheck"]["test"])
    for name in ("postgres", "redis"):
        assert services[name]["healthcheck"]["test"], name


def test_it_never_runs_the_containers_in_debug_and_keeps_the_local_env_out_of_the_image():
    services = _compose()["services"]
    for name in ("migrate", "web", "worker", "beat"):
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
    for name in ("migrate", "web", "worker", "beat"):
        targets = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {"/app/artifacts", "/app/var"} <= targets
        assert services[name]["environment"]["CELERY_BROKER_URL"].startswith("redis://")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")
