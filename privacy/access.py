"""Access accountability: every staff read of personal data leaves an AccessRecord.

Callers (the admin, the API, the export and backup commands) say who read what; this module
knows no other app's model, so that any of them may call it.
"""

from __future__ import annotations

import getpass

from .models import AccessRecord

ANSWERS_PERMISSION = "predictions.view_prediction_answers"


def can_see_answers(user) -> bool:
    """Staff see the answers of one prediction only with the permission (superusers have it)."""
    return bool(user and user.is_active and user.has_perm(ANSWERS_PERMISSION))


def access_record(
    *,
    via: str,
    user=None,
    prediction_id=None,
    rows: int = 1,
    answers_shown: bool = True,
    reason: str = "",
) -> AccessRecord:
    """Record one read; `user` None means a command run on the server (its system account)."""
    if user is not None and getattr(user, "is_authenticated", False):
        actor = user.get_username()
    else:
        user, actor = None, f"system:{_system_user()}"
    return AccessRecord.objects.create(
        user=user,
        actor=actor[:150],
        via=via,
        prediction_id=prediction_id,
        rows=rows,
        answers_shown=answers_shown,
        reason=(reason or "")[:300],
    )


def _system_user() -> str:
    try:
        return getpass.getuser()
    except Exception:  # no login name in a container without a passwd entry
        return "unknown"
