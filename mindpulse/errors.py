"""Answers for failures outside a view's control: a database or a task queue that is down,
a body too large.

An outage is not a bug of the request: the client gets 503 "temporarily unavailable" with
Retry-After (JSON for the API, a short page otherwise), never a 500 or a traceback; the
exception itself goes to the log (django.request logs it with the 503). Once the database
answers again, the next request reconnects (CONN_HEALTH_CHECKS): no restart. MindPulse's own
broker calls handle a dead broker themselves; this catches the others (e.g. the "Run selected
tasks" action of django-celery-beat's admin).
"""

from __future__ import annotations

import sys

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.views import defaults
from kombu.exceptions import OperationalError as BrokerError

RETRY_AFTER_SECONDS = 5
UNAVAILABLE = (
    "The service is temporarily unavailable (its database cannot be reached). "
    "Try again in a few seconds."
)
QUEUE_UNAVAILABLE = (
    "The task queue (broker) cannot be reached, so nothing was queued. Try again in a few minutes."
)
_PAGE = (
    "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
    "<title>Temporarily unavailable · MindPulse</title></head><body>"
    "<h1>Temporarily unavailable</h1><p>{message}</p></body></html>"
)


def wants_json(request) -> bool:
    """The API (and the original API's paths) answers JSON; pages answer HTML."""
    path = request.path
    if path.startswith("/api/") or path in ("/predict", "/feedback", "/health", "/metrics"):
        return True
    return "application/json" in request.headers.get("Accept", "")


def unavailable(request, message: str = UNAVAILABLE) -> HttpResponse:
    if wants_json(request):
        response = JsonResponse({"detail": message}, status=503)
    else:
        response = HttpResponse(_PAGE.format(message=message), status=503)
    response["Retry-After"] = str(RETRY_AFTER_SECONDS)
    response["Cache-Control"] = "no-store"
    return response


def server_error(request, *args, **kwargs) -> HttpResponse:
    """handler500: a database or broker outage becomes a 503; anything else stays Django's
    500 page.

    Django calls it inside the `except` block of the failed request, so the exception is
    still in sys.exc_info() — for errors raised by a view as well as by a middleware.
    """
    error = sys.exc_info()[1]
    if isinstance(error, OperationalError | InterfaceError):
        return unavailable(request)
    if isinstance(error, BrokerError):
        return unavailable(request, QUEUE_UNAVAILABLE)
    return defaults.server_error(request, *args, **kwargs)


def page_not_found(request, exception=None) -> HttpResponse:
    """handler404: the API answers JSON like its documented 404s, even for a URL that no
    route matches (e.g. /api/retrain/-1); pages keep Django's page."""
    if wants_json(request):
        return JsonResponse({"detail": "Not found."}, status=404)
    return defaults.page_not_found(request, exception)


class RequestSizeLimitMiddleware:
    """413 before anything is read when Content-Length exceeds MAX_REQUEST_BYTES.

    Django limits form fields (DATA_UPLOAD_MAX_MEMORY_SIZE) but not uploaded files, which
    it streams to a temporary file however large they are: the batch page would accept a
    gigabyte. One check here covers every page and API endpoint the same way.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if _chunked_without_length(request):
            # Django reads a body only up to CONTENT_LENGTH: a chunked body would be taken for
            # an empty one (and any size limit skipped). Say so instead.
            message = "Send the body with a Content-Length header: chunked bodies are not read."
            if wants_json(request):
                return JsonResponse({"detail": message}, status=411)
            return HttpResponse(message, status=411, content_type="text/plain; charset=utf-8")
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0  # the parsers answer 400 to a malformed header
        limit = settings.MAX_REQUEST_BYTES
        if length > limit:
            message = (
                f"The request body is {length} bytes; the limit is {limit} bytes "
                "(MAX_REQUEST_BYTES)."
            )
            if wants_json(request) or request.content_type in ("application/json", "text/csv"):
                return JsonResponse({"detail": message}, status=413)
            return HttpResponse(message, status=413, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


def _chunked_without_length(request) -> bool:
    encoding = request.META.get("HTTP_TRANSFER_ENCODING", "").lower()
    return "chunked" in encoding and not request.META.get("CONTENT_LENGTH")


# Celery options of the tasks that need the database: a database that is down for a while (a
# failover, a restart) is retried with exponential backoff and jitter, up to 5, 10, 20, 40 and
# 80 seconds apart, instead of failing the scheduled run at once.
DATABASE_RETRY = {
    "autoretry_for": (OperationalError, InterfaceError),
    "retry_backoff": 5,
    "retry_backoff_max": 300,
    "retry_jitter": True,
    "max_retries": 5,
}


# --- The API's error shape ----------------------------------------------------------------
# Every API error body is {"detail": message}; a refused input adds "errors": {field: [messages]}
# (with "non_field_errors" for the rules that span fields). Views raise; this one handler
# (REST_FRAMEWORK["EXCEPTION_HANDLER"]) writes the body, so no view builds it by hand.
INVALID = "Invalid input."


def api_exception_handler(exc, context):
    from rest_framework.exceptions import ValidationError
    from rest_framework.response import Response
    from rest_framework.settings import api_settings
    from rest_framework.views import exception_handler

    if isinstance(exc, ValidationError):
        errors = exc.detail
        if not isinstance(errors, dict):
            errors = {api_settings.NON_FIELD_ERRORS_KEY: errors}
        return Response({"detail": INVALID, "errors": errors}, status=exc.status_code)
    return exception_handler(exc, context)
