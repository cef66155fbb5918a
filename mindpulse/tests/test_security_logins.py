"""Logins: brute force locked out by django-axes (admin form and the API's Basic auth), every
attempt recorded and visible in the admin, and no default or guessable account.

The refusal of a guessable DJANGO_SUPERUSER_PASSWORD by `bootstrap`, and that it creates no
account without the variables, are proven in test_bootstrap.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from axes.models import AccessAttempt
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import Client
from django.utils import timezone

from .live import basic_auth

pytestmark = pytest.mark.django_db

PASSWORD = "a-long-unguessable-passphrase-42"
LOGIN = "/admin/login/"


@pytest.fixture
def staff(settings):
    settings.AXES_FAILURE_LIMIT = 5
    return get_user_model().objects.create_user(
        "counsellor", password=PASSWORD, is_staff=True, is_superuser=True
    )


def _login(client, password, username="counsellor"):
    return client.post(LOGIN, {"username": username, "password": password, "next": "/admin/"})


def test_it_locks_the_admin_login_after_the_failure_limit_even_with_the_right_password(staff):
    client = Client()
    for attempt in range(4):
        response = _login(client, f"wrong-{attempt}")
        assert response.status_code == 200  # the form again, with its error
        assert "Please enter the correct username and password" in response.content.decode()
    assert _login(client, "wrong-4").status_code == 429  # the fifth failure locks
    response = _login(client, PASSWORD)
    assert response.status_code == 429
    assert "too many login attempts" in response.content.decode().lower()
    assert "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302  # still signed out


def test_it_records_each_attempt_without_the_password(staff):
    client = Client(HTTP_USER_AGENT="brute/1.0")
    for attempt in range(3):
        _login(client, f"guess-{attempt}-secret")
    (attempt,) = AccessAttempt.objects.all()
    # The client's pseudonym, not its address (privacy.reporting.axes_client_key).
    assert attempt.username == "counsellor" and attempt.ip_address.startswith("fd")
    assert attempt.failures_since_start == 3 and attempt.user_agent == "brute/1.0"
    assert "guess-" not in attempt.post_data  # axes masks the password


def test_it_shows_the_attempts_to_staff_in_the_admin(staff):
    _login(Client(), "wrong")
    admin = Client()
    admin.force_login(staff)
    response = admin.get("/admin/axes/accessattempt/")
    assert response.status_code == 200
    assert "counsellor" in response.content.decode()
    assert admin.get("/admin/axes/accesslog/").status_code == 200


def test_it_lets_the_right_password_in_below_the_limit_and_forgets_the_failures(staff):
    client = Client()
    for attempt in range(4):
        _login(client, f"wrong-{attempt}")
    assert _login(client, PASSWORD).status_code == 302
    assert not AccessAttempt.objects.exists()  # AXES_RESET_ON_SUCCESS


def test_it_unlocks_after_the_cool_off(staff, settings):
    settings.AXES_COOLOFF_TIME = timedelta(minutes=30)
    client = Client()
    for attempt in range(5):
        _login(client, f"wrong-{attempt}")
    assert _login(client, PASSWORD).status_code == 429
    with time_machine.travel(timezone.now() + timedelta(minutes=31)):
        assert _login(Client(), PASSWORD).status_code == 302


def test_it_locks_the_username_from_that_address_only(staff):
    for attempt in range(5):
        _login(Client(REMOTE_ADDR="203.0.113.7"), f"wrong-{attempt}")
    assert _login(Client(REMOTE_ADDR="203.0.113.7"), PASSWORD).status_code == 429
    # The same account from the staff member's own address still works.
    assert _login(Client(REMOTE_ADDR="198.51.100.20"), PASSWORD).status_code == 302


def test_it_creates_no_account_and_never_accepts_admin_admin(
    active_model, reference_data, monkeypatch
):
    """A fresh installation: migrated (the test database) and bootstrapped."""
    for name in ("DJANGO_SUPERUSER_USERNAME", "DJANGO_SUPERUSER_PASSWORD"):
        monkeypatch.delenv(name, raising=False)
    call_command("bootstrap", verbosity=0)
    assert not get_user_model().objects.exists()
    client = Client()
    response = _login(client, "admin", username="admin")
    assert response.status_code == 200 and "_auth_user_id" not in client.session
    assert client.get("/admin/").status_code == 302
    probe = client.get("/api/retrain/1", headers=basic_auth("admin", "admin"))
    assert probe.status_code in (401, 403)
