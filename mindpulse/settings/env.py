"""Typed readers of environment variables.

Every setting of MindPulse goes through one of these, so that a bad value stops
the process at start-up with a message naming the variable, instead of
surfacing later as a confusing error deep in a request or a task.
"""

from __future__ import annotations

import os
from typing import overload

from django.core.exceptions import ImproperlyConfigured

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off", ""}


def load_env_file(path) -> list[str]:
    """Read KEY=VALUE lines of a local `.env` into os.environ, never over a set variable.

    `make run` writes one (DEBUG=true) so that every `.venv/bin/python manage.py ...` of the
    README reads the same settings as `make run`. Only manage.py calls this: gunicorn and
    Celery in production read the real environment alone (and .dockerignore keeps a local
    .env out of the image). Returns the names it set.
    """
    try:
        with open(path, encoding="utf-8") as file:
            lines = file.read().splitlines()
    except FileNotFoundError:
        return []
    loaded = []
    for raw in lines:
        line = raw.strip()
        if not line or line.startswith("#") or "=" not in line:
            continue
        name, value = line.removeprefix("export ").split("=", 1)
        name, value = name.strip(), value.strip()
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'":
            value = value[1:-1]
        if name and name not in os.environ:
            os.environ[name] = value
            loaded.append(name)
    return loaded


def _raw(name: str) -> str | None:
    value = os.environ.get(name)
    return None if value is None else value.strip()


@overload
def env_str(name: str, default: str, *, required: bool = False) -> str: ...
@overload
def env_str(name: str, default: None = None, *, required: bool = False) -> str | None: ...
def env_str(name: str, default: str | None = None, *, required: bool = False) -> str | None:
    value = _raw(name)
    if value:
        return value
    if required:
        raise ImproperlyConfigured(f"{name} must be set (see .env.example).")
    return default


def env_bool(name: str, default: bool) -> bool:
    value = _raw(name)
    if value is None:
        return default
    lowered = value.lower()
    if lowered in _TRUE:
        return True
    if lowered in _FALSE:
        return False
    raise ImproperlyConfigured(f"{name}={value!r} is not a boolean (use true/false, 1/0, yes/no).")


def _number(name: str, default, cast, minimum, maximum):
    value = _raw(name)
    if value is None or value == "":
        return default
    try:
        number = cast(value)
    except ValueError:
        kind = "an integer" if cast is int else "a number"
        raise ImproperlyConfigured(f"{name}={value!r} is not {kind}.") from None
    if number != number or number in (float("inf"), float("-inf")):
        raise ImproperlyConfigured(f"{name}={value!r} must be a finite number.")
    if minimum is not None and number < minimum:
        raise ImproperlyConfigured(f"{name}={value!r} must be at least {minimum}.")
    if maximum is not None and number > maximum:
        raise ImproperlyConfigured(f"{name}={value!r} must be at most {maximum}.")
    return number


def env_int(name: str, default: int, *, minimum: int | None = None, maximum: int | None = None):
    return _number(name, default, int, minimum, maximum)


def env_float(
    name: str, default: float, *, minimum: float | None = None, maximum: float | None = None
):
    return _number(name, default, float, minimum, maximum)


def env_list(name: str, default: list[str]) -> list[str]:
    value = _raw(name)
    if value is None:
        return list(default)
    return [item.strip() for item in value.split(",") if item.strip()]


def env_choice(name: str, default: str, choices: tuple[str, ...]) -> str:
    value = _raw(name) or default
    if value not in choices:
        raise ImproperlyConfigured(f"{name}={value!r} must be one of: {', '.join(choices)}.")
    return value


def env_cron(name: str, default: str) -> dict[str, str]:
    """A five-field crontab ("minute hour day_of_month month_of_year day_of_week")."""
    value = _raw(name) or default
    fields = value.split()
    if len(fields) != 5:
        raise ImproperlyConfigured(
            f"{name}={value!r} must be a crontab of five fields, e.g. '0 */6 * * *'."
        )
    keys = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")
    return dict(zip(keys, fields, strict=True))


def env_networks(name: str) -> list:
    """A comma-separated list of IP addresses or CIDR networks ("10.0.0.0/8, ::1")."""
    import ipaddress

    networks = []
    for item in env_list(name, []):
        try:
            networks.append(ipaddress.ip_network(item, strict=False))
        except ValueError:
            raise ImproperlyConfigured(
                f"{name}: {item!r} is not an IP address or network (e.g. 10.0.0.0/8)."
            ) from None
    return networks


def env_http_url(name: str, default: str = "") -> str:
    """An http(s) URL, or the default; any other scheme (file:, ftp:...) is refused."""
    value = env_str(name, default) or ""
    if value and not value.lower().startswith(("http://", "https://")):
        raise ImproperlyConfigured(f"{name} must be an http:// or https:// URL.")
    return value


_RATE_PERIODS = {"s": 1, "sec": 1, "second": 1, "m": 60, "min": 60, "minute": 60}
_RATE_PERIODS |= {"h": 3600, "hour": 3600, "d": 86400, "day": 86400}


def env_rate(name: str, default: str) -> tuple[int, int] | None:
    """A request rate "N/period" (period: second, minute, hour or day; s/sec/m/min/h/d), as
    (requests, seconds); "off" means no limit (None)."""
    value = (_raw(name) or default).lower()
    if value in ("off", "none", "0"):
        return None
    count, _, period = value.partition("/")
    seconds = _RATE_PERIODS.get(period.strip())
    if not count.strip().isdigit() or int(count) < 1 or seconds is None:
        raise ImproperlyConfigured(
            f"{name}={value!r} is not a rate: use N/second, N/minute, N/hour or N/day "
            "(e.g. 600/min), or off."
        )
    return int(count), seconds
