"""Access accountability: staff without view_prediction_answers see no answer; every read of
an individual prediction (admin page, API), every export and backup leaves an access record;
only superusers see the records."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.core.management import CommandError, call_command
from django.test import Client

from predictions import services
from privacy.models import AccessRecord

pytestmark = pytest.mark.django_db


@pytest.fixture
def stored(active_model, features):
    prediction = services.prediction_create(dict(features, CGPA=3.1415926), channel="api")
    services.feedback_create(prediction_id=prediction.pk, actual=True)
    return prediction


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def test_it_hides_the_answers_from_staff_without_the_permission_in_the_api(staff, stored):
    body = _client(staff).get(f"/api/predictions/{stored.pk}?reason=audit").json()
    assert body["features"] is None and body["warnings"] is None
    assert body["probability"] == stored.probability and body["feedback"]["actual"] == 1
    record = AccessRecord.objects.get()
    assert (record.actor, record.via, record.prediction_id) == ("reader", "api", stored.pk)
    assert record.answers_shown is False and record.reason == "audit" and record.user == staff


def test_it_shows_the_answers_to_staff_with_the_permission_in_the_api(counsellor, stored):
    body = _client(counsellor).get(f"/api/predictions/{stored.pk}").json()
    assert body["features"]["CGPA"] == 3.1415926
    record = AccessRecord.objects.get()
    assert record.answers_shown is True and record.actor == "counsellor"


def test_it_hides_the_answers_from_staff_without_the_permission_in_the_admin(staff, stored):
    page = _client(staff).get(f"/admin/predictions/prediction/{stored.pk}/change/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "3.1415926" not in html and "Sleep duration" not in html
    assert f"{stored.probability}"[:6] in html
    record = AccessRecord.objects.get()
    assert (record.via, record.prediction_id, record.answers_shown) == ("admin", stored.pk, False)


def test_it_shows_the_answers_to_staff_with_the_permission_in_the_admin(counsellor, stored):
    html = _client(counsellor).get(f"/admin/predictions/prediction/{stored.pk}/change/")
    assert "3.1415926" in html.content.decode()
    assert AccessRecord.objects.get().answers_shown is True


def test_it_records_every_read_not_the_list(counsellor, stored):
    client = _client(counsellor)
    assert client.get("/admin/predictions/prediction/").status_code == 200  # features hidden
    for _ in range(3):
        client.get(f"/api/predictions/{stored.pk}")
    client.get(f"/admin/predictions/prediction/{stored.pk}/change/")
    assert list(AccessRecord.objects.order_by("at", "pk").values_list("via", flat=True)) == [
        "api",
        "api",
        "api",
        "admin",
    ]


def test_it_records_exports_and_refuses_them_to_staff_without_the_permission(
    staff, counsellor, stored, tmp_path
):
    call_command("export_data", out=str(tmp_path), user="counsellor", reason="study", verbosity=0)
    record = AccessRecord.objects.get()
    assert (record.via, record.actor, record.rows, record.reason) == (
        "export",
        "counsellor",
        1,
        "study",
    )
    with pytest.raises(CommandError, match="may not read answers"):
        call_command("export_data", out=str(tmp_path / "no"), user="reader", verbosity=0)
    assert not (tmp_path / "no").exists()
    call_command("export_data", out=str(tmp_path), verbosity=0)  # the server's own account
    assert AccessRecord.objects.latest("pk").actor.startswith("system:")


@pytest.mark.django_db(transaction=True)  # a backup opens its own snapshot (test_backup.py)
def test_it_records_backups(stored, tmp_path):
    call_command("backup", to=tmp_path / "backups", verbosity=0)
    record = AccessRecord.objects.get()
    assert (record.via, record.rows, record.prediction_id) == ("backup", 1, None)


def test_it_shows_the_access_records_to_superusers_only(staff, counsellor, stored):
    _client(counsellor).get(f"/api/predictions/{stored.pk}")
    for user in (staff, counsellor):
        client = _client(user)
        assert client.get("/admin/privacy/accessrecord/").status_code == 403
        assert "accessrecord" not in client.get("/admin/").content.decode()
    root = get_user_model().objects.create_superuser("root", "root@example.org", "pw-rootroot")
    page = _client(root).get("/admin/privacy/accessrecord/")
    assert page.status_code == 200 and "counsellor" in page.content.decode()


def test_it_hides_the_warnings_table_from_staff_without_the_permission(
    staff, counsellor, active_model, features
):
    """The warnings quote the answers: their table (JSON fields read as tables) is hidden
    with them."""
    long_day = dict(features, Sleep_Duration=12, Study_Hours=8, Social_Media_Hours=6)
    prediction = services.prediction_create(long_day, channel="api")
    assert any(w["code"] == "implausible_day" for w in prediction.warnings)
    url = f"/admin/predictions/prediction/{prediction.pk}/change/"
    hidden = _client(staff).get(url).content.decode()
    assert "implausible_day" not in hidden and "add up to 26" not in hidden
    shown = _client(counsellor).get(url).content.decode()
    assert 'class="mp-json"' in shown and "implausible_day" in shown and "add up to 26" in shown
