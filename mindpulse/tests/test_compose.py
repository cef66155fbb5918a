"""docker-compose.yml cannot run here; it must at least run what `make run` runs."""

import shlex
from pathlib import Path

import yaml

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
    assert set(_compose()["services"]) == {"postgres", "redis", "web", "worker", "beat"}


def test_it_runs_the_same_processes_as_make_run():
    services = _compose()["services"]
    expected = process_commands(bin_dir="/x", host="h", port=1, web_workers=2, beat_schedule="/s")
    web_command = services["web"]["command"]
    assert "manage.py migrate" in web_command and "manage.py bootstrap" in web_command
    web_argv = shlex.split(web_command.split("&&")[-1].strip().rstrip('"'))
    assert _strip(web_argv) == _strip(expected["web"])
    for name in ("worker", "beat"):
        assert _strip(shlex.split(services[name]["command"])) == _strip(expected[name])


def test_it_keeps_artifacts_and_reports_in_volumes():
    services = _compose()["services"]
    for name in ("web", "worker", "beat"):
        targets = {v.split(":")[1] for v in services[name]["volumes"]}
        assert {"/app/artifacts", "/app/var"} <= targets
        assert services[name]["environment"]["CELERY_BROKER_URL"].startswith("redis://")
        assert services[name]["environment"]["DATABASE_URL"].startswith("postgres://")
