"""Rate limits of the public endpoints: one counter per client, endpoint group and window.

Why not DRF's SimpleRateThrottle with Django's cache: it reads and rewrites the whole list of
a client's request times on every request (two cache round trips and a pickle that grows
with the rate), and a process-local cache would give each gunicorn worker its own limit.
Here a request costs ONE round trip: a fixed-window counter in Redis (`SET NX EX` + `INCR`
in one pipeline), shared by every worker and host. Without Redis (the file-system broker of
a local run) the counter lives in process memory, so the limit is per process.

The counter fails open: when Redis cannot be reached the request is served (and the
failure logged), because predictions and feedback must keep working without Redis; the store
is then left alone for a few seconds, so a dead Redis costs no time on the hot path.

Settings: THROTTLE_ENABLED, THROTTLE_RATES (scope -> (requests, seconds) or None),
THROTTLE_REDIS_URL, REST_FRAMEWORK["NUM_PROXIES"] (how the client address is found).
"""

from __future__ import annotations

import logging
import threading
import time
from functools import wraps

from django.conf import settings
from django.template.response import TemplateResponse
from django.utils.crypto import salted_hmac
from rest_framework.throttling import BaseThrottle

logger = logging.getLogger(__name__)

KEY_PREFIX = "mindpulse:throttle"
# After a Redis failure, requests are not throttled for this long before the next attempt.
RETRY_STORE_SECONDS = 5.0
STORE_TIMEOUT_SECONDS = 0.25


class LocalCounters:
    """Fixed-window counters in process memory (used when no Redis is configured)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._counts: dict[str, tuple[int, float]] = {}

    def incr(self, key: str, ttl: int) -> int:
        now = time.monotonic()
        with self._lock:
            if len(self._counts) > 10_000:  # forget expired windows
                self._counts = {k: v for k, v in self._counts.items() if v[1] > now}
            count, expires = self._counts.get(key, (0, now + ttl))
            if expires <= now:
                count, expires = 0, now + ttl
            self._counts[key] = (count + 1, expires)
            return count + 1

    def clear(self) -> None:
        with self._lock:
            self._counts.clear()


class RedisCounters:
    def __init__(self, url: str):
        import redis

        self.client = redis.Redis.from_url(
            url,
            socket_connect_timeout=STORE_TIMEOUT_SECONDS,
            socket_timeout=STORE_TIMEOUT_SECONDS,
        )

    def incr(self, key: str, ttl: int) -> int:
        pipe = self.client.pipeline(transaction=False)
        pipe.set(key, 0, ex=ttl, nx=True)
        pipe.incr(key)
        return int(pipe.execute()[1])


class _Stores:
    def __init__(self):
        self.lock = threading.Lock()
        self.by_url: dict[str, LocalCounters | RedisCounters] = {}
        self.down_until = 0.0

    def get(self) -> LocalCounters | RedisCounters:
        url = settings.THROTTLE_REDIS_URL or "local"
        store = self.by_url.get(url)
        if store is None:
            with self.lock:
                store = self.by_url.setdefault(
                    url, LocalCounters() if url == "local" else RedisCounters(url)
                )
        return store


_stores = _Stores()


def reset() -> None:
    """Forget the local counters and any recorded Redis failure (tests)."""
    for store in _stores.by_url.values():
        if isinstance(store, LocalCounters):
            store.clear()
    _stores.down_until = 0.0


def hit(scope: str, ident: str) -> float | None:
    """Count one request of `ident` in `scope`; the seconds to wait when over the limit."""
    rate = settings.THROTTLE_RATES.get(scope) if settings.THROTTLE_ENABLED else None
    if rate is None:
        return None
    limit, period = rate
    now = time.time()
    window = int(now // period)
    if time.monotonic() < _stores.down_until:
        return None
    key = f"{KEY_PREFIX}:{scope}:{limit}/{period}:{ident}:{window}"
    try:
        count = _stores.get().incr(key, period)
    except Exception as exc:  # redis-py raises several types; an unusable store never blocks
        _stores.down_until = time.monotonic() + RETRY_STORE_SECONDS
        logger.warning("throttle_store_unreachable error=%s", type(exc).__name__)
        return None
    if count <= limit:
        return None
    return max((window + 1) * period - now, 1.0)


def client_address(request) -> str:
    """The client's address: REMOTE_ADDR, or X-Forwarded-For behind NUM_PROXIES proxies.

    Never store or log it: use `client_key` instead.
    """
    return BaseThrottle().get_ident(request)


def client_key_for(address: str, *, now: float | None = None) -> str:
    """A pseudonymous key of a client address: a keyed hash whose key rotates.

    HMAC-SHA256 keyed by SECRET_KEY and the current rotation period
    (CLIENT_KEY_ROTATION_DAYS), so that the key of one address is stable within a period
    (enough for rate limits and for counting one client's labels) but cannot be linked
    across periods or reversed into the address without the secret.
    """
    days = getattr(settings, "CLIENT_KEY_ROTATION_DAYS", 30)
    period = int((time.time() if now is None else now) // (days * 86400))
    return salted_hmac(f"mindpulse.client_key.{period}", address, algorithm="sha256").hexdigest()[
        :32
    ]


def client_key(request) -> str:
    """The pseudonymous key of the request's client (see `client_key_for`)."""
    return client_key_for(client_address(request))


# Old name kept for callers: the throttle identifies a client by its pseudonymous key.
client_ident = client_key


class ScopedThrottle(BaseThrottle):
    """DRF throttle of the views that name a `throttle_scope`; the others are not limited."""

    def __init__(self):
        self.wait_seconds: float | None = None

    def allow_request(self, request, view) -> bool:
        scope = getattr(view, "throttle_scope", None)
        if not scope:
            return True
        self.wait_seconds = hit(scope, client_key_for(self.get_ident(request)))
        return self.wait_seconds is None

    def wait(self) -> float | None:
        return self.wait_seconds


def throttle_posts(scope: str):
    """The same limit for a page's POSTs (the forms): 429 with Retry-After when over it."""

    def decorator(view):
        @wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method == "POST":
                wait = hit(scope, client_ident(request))
                if wait is not None:
                    seconds = int(-(-wait // 1))
                    response = TemplateResponse(
                        request, "throttled.html", {"seconds": seconds}, status=429
                    )
                    response["Retry-After"] = str(seconds)
                    return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorator
