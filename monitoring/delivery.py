"""Delivering an alert: e-mail to ADMINS and a Slack-compatible webhook, every attempt recorded.

Each configured channel is one task message (monitoring.deliver_alert), retried with
exponential backoff by Celery; each attempt's outcome is written to `Alert.delivery`:

    {"email":   {"status": "pending|retrying|delivered|failed|not_queued|skipped",
                 "attempts": 2, "last_error": "...", "last_attempt_at": iso,
                 "delivered_at": iso | null},
     "webhook": {...}}

A channel that could not even be queued (broker down) is `not_queued`; one whose retries ran
out is `failed`; the hourly alert check queues both again while the alert is open and less
than a day old. The webhook URL holds a secret: it is never logged or stored.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from datetime import datetime

from celery import shared_task
from django.conf import settings
from django.core.mail import mail_admins
from django.db import transaction
from django.utils import timezone

from . import task_names
from .models import Alert

logger = logging.getLogger(__name__)

# 5 s, 10 s, 20 s, 40 s, 80 s (each with full jitter): about 2.5 minutes of retries before a
# channel is marked failed; the hourly check then starts the sequence again (see below).
MAX_RETRIES = 5
BACKOFF_SECONDS = 5
BACKOFF_MAX_SECONDS = 300

EMAIL, WEBHOOK = "email", "webhook"
CHANNELS = (EMAIL, WEBHOOK)
UNDELIVERED = ("failed", "not_queued")
_RESPONSE_BYTES = 2000
_COLOURS = {"info": "#2f80ed", "warning": "#f2994a", "critical": "#eb5757"}


class DeliveryError(Exception):
    """One attempt failed; Celery retries the task."""


def configured_channels() -> list[str]:
    channels = []
    if settings.ADMINS:
        channels.append(EMAIL)
    if settings.ALERT_WEBHOOK_URL:
        channels.append(WEBHOOK)
    return channels


def pending() -> dict:
    return {"status": "pending", "attempts": 0, "last_error": "", "delivered_at": None}


def queue(alert_id: int, channels: list[str]) -> None:
    """Queue one delivery task per channel; a broker failure is recorded, not raised."""
    for channel in channels:
        try:
            # retry=False: a dead broker must not hold up the run that raised the alert.
            deliver_alert.apply_async(args=[alert_id, channel], retry=False)
        except Exception as exc:  # kombu raises several unrelated types for a dead broker
            logger.error(
                "alert_delivery_not_queued",
                extra={"alert_id": alert_id, "channel": channel, "error": type(exc).__name__},
            )
            _record(alert_id, channel, status="not_queued", last_error=_error_text(exc))


def deliver(alert_id: int, channel: str, *, final: bool) -> str:
    """One attempt on one channel; raises DeliveryError so that the task retries."""
    alert = Alert.objects.filter(pk=alert_id).first()
    if alert is None:
        return "alert deleted"
    if (alert.delivery.get(channel) or {}).get("status") == "delivered":
        return "already delivered"  # a redelivered message: do not send twice
    if channel not in configured_channels():
        _record(alert_id, channel, status="skipped", last_error="channel no longer configured")
        return "skipped"
    try:
        SENDERS[channel](alert)
    except Exception as exc:
        error = _error_text(exc)
        entry = _record(
            alert_id,
            channel,
            status="failed" if final else "retrying",
            last_error=error,
            attempt=True,
        )
        logger.warning(
            "alert_delivery_failed",
            extra={
                "alert_id": alert_id,
                "channel": channel,
                "attempts": entry["attempts"],
                "final": final,
                "error": error,
            },
        )
        raise DeliveryError(error) from exc
    entry = _record(alert_id, channel, status="delivered", delivered=True, attempt=True)
    logger.info(
        "alert_delivered",
        extra={"alert_id": alert_id, "channel": channel, "attempts": entry["attempts"]},
    )
    return "delivered"


def requeue_failed(*, since: datetime) -> int:
    """Queue again the channels of open alerts (created after `since`) that never got there."""
    open_alerts = Alert.objects.filter(acknowledged_at=None, created_at__gte=since)
    return sum(requeue(alert) for alert in open_alerts.only("pk", "delivery"))


def requeue(alert: Alert) -> int:
    """Queue the alert's channels that failed or were never queued; returns how many."""
    channels = [
        channel
        for channel, entry in (alert.delivery or {}).items()
        if (entry or {}).get("status") in UNDELIVERED
    ]
    for channel in channels:
        _record(alert.pk, channel, status="pending")
    if channels:
        queue(alert.pk, channels)
    return len(channels)


def _record(
    alert_id: int, channel: str, *, delivered: bool = False, attempt: bool = False, **changes
) -> dict:
    """Update one channel's entry under a row lock (two channels may finish at once)."""
    now = timezone.now().isoformat()
    with transaction.atomic():
        alert = Alert.objects.select_for_update().filter(pk=alert_id).first()
        if alert is None:
            return {}
        entry = {**pending(), **(alert.delivery.get(channel) or {}), **changes}
        if attempt:
            entry["attempts"] = int(entry.get("attempts") or 0) + 1
            entry["last_attempt_at"] = now
        if delivered:
            entry["delivered_at"] = now
        alert.delivery = {**alert.delivery, channel: entry}
        alert.save(update_fields=["delivery"])
    return entry


def _error_text(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"[:500]


# --- The channels ------------------------------------------------------------------------------


def _title(alert: Alert) -> str:
    return f"[{alert.severity.upper()}] {alert.kind}: {alert.message}"


def send_email(alert: Alert) -> None:
    body = (
        f"{alert.message}\n\n"
        f"Kind: {alert.kind}\nSeverity: {alert.severity}\n"
        f"Raised: {timezone.localtime(alert.created_at):%Y-%m-%d %H:%M:%S %Z}\n"
        f"Alert #{alert.pk}: acknowledge it in the admin (Monitoring > Alerts) to re-arm it.\n\n"
        f"Context:\n{json.dumps(alert.context, indent=2, sort_keys=True, default=str)}\n"
    )
    mail_admins(_title(alert)[:180], body, fail_silently=False)


def webhook_payload(alert: Alert) -> dict:
    """Slack's incoming-webhook format (also understood by Mattermost, Rocket.Chat...)."""
    return {
        "text": _title(alert),
        "attachments": [
            {
                "color": _COLOURS.get(alert.severity, "#999999"),
                "fields": [
                    {"title": "Kind", "value": alert.kind, "short": True},
                    {"title": "Severity", "value": alert.severity, "short": True},
                    {"title": "Alert", "value": f"#{alert.pk}", "short": True},
                    {"title": "Raised", "value": alert.created_at.isoformat(), "short": True},
                ],
                "footer": "MindPulse",
            }
        ],
    }


def send_webhook(alert: Alert) -> None:
    data = json.dumps(webhook_payload(alert)).encode()
    request = urllib.request.Request(  # noqa: S310 - the URL's scheme is checked at start-up
        settings.ALERT_WEBHOOK_URL,
        data=data,
        headers={"Content-Type": "application/json", "User-Agent": "MindPulse-alerts"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=settings.ALERT_WEBHOOK_TIMEOUT) as response:  # noqa: S310
            response.read(_RESPONSE_BYTES)
    except urllib.error.HTTPError as exc:
        # Not str(exc): never echo a URL that carries the webhook's secret.
        raise DeliveryError(f"HTTP {exc.code} {exc.reason}") from None
    except urllib.error.URLError as exc:
        raise DeliveryError(f"unreachable: {exc.reason}") from None


SENDERS = {EMAIL: send_email, WEBHOOK: send_webhook}


# The task lives beside what it sends (queue() above queues it): a thin wrapper over deliver.
@shared_task(
    bind=True,
    name=task_names.DELIVER_ALERT,
    acks_late=True,
    autoretry_for=(DeliveryError,),
    retry_backoff=BACKOFF_SECONDS,
    retry_backoff_max=BACKOFF_MAX_SECONDS,
    retry_jitter=True,
    max_retries=MAX_RETRIES,
)
def deliver_alert(self, alert_id: int, channel: str) -> str:
    """Send one alert to one channel; a failure is recorded on the alert and retried."""
    return deliver(alert_id, channel, final=self.request.retries >= self.max_retries)
