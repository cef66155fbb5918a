"""The privacy notice: what is stored, why, for how long, who sees it, how to withdraw."""

from __future__ import annotations

from django.conf import settings
from django.shortcuts import render
from django.views.decorators.http import require_safe


@require_safe
def privacy_page(request):
    context = {
        "controller": settings.PRIVACY_CONTROLLER,
        "contact": settings.PRIVACY_CONTACT,
        "consent_version": settings.CONSENT_VERSION,
        "minimal": settings.NO_CONSENT_STORAGE == "minimal",
        "days_raw": settings.RETENTION_DAYS_RAW,
        "days_labelled": settings.RETENTION_DAYS_LABELLED,
        "days_archives": settings.RETENTION_DAYS_ARCHIVES,
    }
    return render(request, "privacy/page.html", context)
