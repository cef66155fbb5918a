import pytest
from django.core.exceptions import ImproperlyConfigured

from mindpulse.settings import env


@pytest.fixture
def environ(monkeypatch):
    def set_(**values):
        for key, value in values.items():
            monkeypatch.setenv(key, value)

    return set_


def test_it_reads_typed_values(environ):
    environ(A_INT="12", A_FLOAT="0.25", A_BOOL="yes", A_LIST="a, b,,c")
    assert env.env_int("A_INT", 1) == 12
    assert env.env_float("A_FLOAT", 1.0) == 0.25
    assert env.env_bool("A_BOOL", False) is True
    assert env.env_list("A_LIST", []) == ["a", "b", "c"]


def test_it_uses_defaults_when_unset(monkeypatch):
    monkeypatch.delenv("UNSET_X", raising=False)
    assert env.env_int("UNSET_X", 7) == 7
    assert env.env_bool("UNSET_X", True) is True
    assert env.env_cron("UNSET_X", "0 */6 * * *") == {
        "minute": "0",
        "hour": "*/6",
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": "*",
    }


@pytest.mark.parametrize(
    ("reader", "value", "message"),
    [
        (lambda: env.env_int("BAD", 1), "ten", "BAD='ten' is not an integer"),
        (lambda: env.env_int("BAD", 1, minimum=5), "3", "must be at least 5"),
        (lambda: env.env_float("BAD", 0.3, maximum=1), "1.5", "must be at most 1"),
        (lambda: env.env_float("BAD", 0.3), "nan", "finite"),
        (lambda: env.env_bool("BAD", False), "maybe", "is not a boolean"),
        (lambda: env.env_choice("BAD", "roc_auc", ("roc_auc", "f1")), "auc", "must be one of"),
        (lambda: env.env_cron("BAD", "0 0 * * *"), "every day", "five fields"),
        (lambda: env.env_str("BAD", required=True), "", "must be set"),
    ],
)
def test_it_refuses_bad_values_with_the_variable_name(environ, reader, value, message):
    environ(BAD=value)
    with pytest.raises(ImproperlyConfigured, match=message) as info:
        reader()
    assert "BAD" in str(info.value)


def test_it_requires_a_secret_key_when_debug_is_off(tmp_path):
    import subprocess
    import sys

    result = subprocess.run(
        [sys.executable, "-c", "import mindpulse.settings.main"],
        env={"PATH": "/usr/bin:/bin", "DEBUG": "false", "VAR_DIR": str(tmp_path)},
        capture_output=True,
        text=True,
    )
    assert result.returncode != 0
    assert "SECRET_KEY must be set when DEBUG is off" in result.stderr


def test_it_generates_a_local_secret_key_once_in_debug(tmp_path):
    import subprocess
    import sys

    code = "import mindpulse.settings.main as s; print(s.SECRET_KEY)"
    run_env = {"PATH": "/usr/bin:/bin", "DEBUG": "true", "VAR_DIR": str(tmp_path)}
    first = subprocess.run(
        [sys.executable, "-c", code], env=run_env, capture_output=True, text=True
    )
    second = subprocess.run(
        [sys.executable, "-c", code], env=run_env, capture_output=True, text=True
    )
    assert first.returncode == 0, first.stderr
    assert len(first.stdout.strip()) >= 50
    assert first.stdout == second.stdout
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
