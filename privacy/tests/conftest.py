"""Fixtures of the privacy tests."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Permission

from mindpulse.testing import SAMPLE_FEATURES


@pytest.fixture
def features():
    return dict(SAMPLE_FEATURES)


def _staff(username: str, *codenames: str):
    user = get_user_model().objects.create_user(username, password="pw-" + username * 3)
    user.is_staff = True
    user.save()
    # view_prediction is what the staff API and the admin ask for; the answers need more.
    for codename in ("view_prediction", *codenames):
        user.user_permissions.add(Permission.objects.get(codename=codename))
    return get_user_model().objects.get(pk=user.pk)  # a fresh permission cache


@pytest.fixture
def staff(db):
    """Staff who may list predictions but not read their answers."""
    return _staff("reader")


@pytest.fixture
def counsellor(db):
    """Staff with view_prediction_answers."""
    return _staff("counsellor", "view_prediction_answers")
