"""Events of the predictions app that a higher floor listens to.

Predictions sits below training: it never imports the retrain. Training registers its
listener when its app is ready (training/apps.py), and predictions tells it, after the commit,
that a feedback crossed RETRAIN_THRESHOLD. No Django or heavy import here, so registering is
free in every process.
"""

from __future__ import annotations

from collections.abc import Callable

_threshold_listeners: list[Callable[[], object | None]] = []


def on_retrain_threshold(listener: Callable[[], object | None]) -> None:
    """Register `listener` (once): called with no argument, it returns what it queued or None."""
    if listener not in _threshold_listeners:
        _threshold_listeners.append(listener)


def retrain_threshold_crossed() -> bool:
    """Tell every listener; True when one of them queued something."""
    queued = [listener() for listener in _threshold_listeners]
    return any(item is not None for item in queued)
