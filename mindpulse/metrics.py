"""GET /metrics: MindPulse's state in the Prometheus text format, read from the database.

Every value is computed from the database at scrape time (see metric_series), not kept in
process memory: with several gunicorn workers each scrape, whichever worker answers it, sees
the same totals, and a restart loses nothing.

Access: a bearer token (METRICS_TOKEN, compared in constant time) or a client address inside
METRICS_ALLOWED_IPS (REMOTE_ADDR, the proxy's address behind a reverse proxy: X-Forwarded-For
is not trusted). With neither configured, /metrics answers 403 to everyone.
"""

from __future__ import annotations

import hmac
import ipaddress
import time

from django.conf import settings
from django.http import HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from .prometheus import Family, render

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


# --- Access -----------------------------------------------------------------------------------


def access_denied(request) -> HttpResponse | None:
    """None when the request may read the metrics; otherwise the 401/403 to answer."""
    token = settings.METRICS_TOKEN
    networks = settings.METRICS_ALLOWED_IPS
    if not token and not networks:
        return _refuse(403, "Metrics are disabled: set METRICS_TOKEN or METRICS_ALLOWED_IPS.")
    if token:
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if scheme.lower() == "bearer" and hmac.compare_digest(
            given.strip().encode(), token.encode()
        ):
            return None
    if networks and _address_allowed(request.META.get("REMOTE_ADDR", ""), networks):
        return None
    if token:
        response = _refuse(401, "A valid bearer token is required.")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return _refuse(403, "This address may not read the metrics.")


def _address_allowed(address: str, networks) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    if ip.version == 6 and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return any(ip in network for network in networks)


def _refuse(status: int, message: str) -> HttpResponse:
    return HttpResponse(message + "\n", status=status, content_type="text/plain; charset=utf-8")


@never_cache
@require_GET
def metrics_view(request):
    denied = access_denied(request)
    if denied is not None:
        return denied
    from .metric_series import collect

    started = time.perf_counter()
    families = collect()
    families.append(
        Family("mindpulse_scrape_duration_seconds", "gauge", "Time spent reading the metrics.").add(
            round(time.perf_counter() - started, 6)
        )
    )
    return HttpResponse(render(families), content_type=CONTENT_TYPE)
