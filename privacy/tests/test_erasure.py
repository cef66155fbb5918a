"""Withdrawal: "Delete my answers" on the result page and DELETE /api/predictions/<id> delete
the prediction and its feedback and record an erasure; the next retention run purges the id
from the archives, exports and report files written before; no later run sees it."""

from __future__ import annotations

import json

import pandas as pd
import pytest
from django.core.management import call_command
from django.test import Client

from mindpulse import throttling
from monitoring import services as monitoring_services
from monitoring.models import MonitoringReport
from predictions import selectors, services
from predictions.models import Feedback, Prediction
from privacy.models import Erasure
from privacy.retention import retention_run
from training import retrain

pytestmark = pytest.mark.django_db


@pytest.fixture
def labelled(active_model, features):
    """A prediction with its feedback, made through the form with consent."""
    prediction = services.prediction_create(features, channel="form", consent=True)
    services.feedback_create(prediction_id=prediction.pk, actual=True)
    return prediction


def test_it_offers_the_deletion_on_the_result_page(client, labelled):
    html = client.get(f"/predictions/{labelled.pk}/").content.decode()
    assert f'action="/predictions/{labelled.pk}/delete/"' in html
    assert "cannot forget them" in html and 'href="/privacy/"' in html


def test_it_deletes_the_answers_and_the_feedback_from_the_page(client, labelled):
    response = client.post(f"/predictions/{labelled.pk}/delete/")
    assert response.status_code == 200 and 'data-testid="erased"' in response.content.decode()
    assert not Prediction.objects.exists() and not Feedback.objects.exists()
    erasure = Erasure.objects.get()
    assert erasure.prediction_id == labelled.pk and erasure.purged_at is None
    assert erasure.predicted_at == labelled.created_at
    assert client.get(f"/predictions/{labelled.pk}/").status_code == 404
    assert client.post(f"/predictions/{labelled.pk}/delete/").status_code == 404  # once
    assert client.get(f"/predictions/{labelled.pk}/delete/").status_code == 405


def test_it_deletes_by_api_for_whoever_holds_the_id(labelled):
    anonymous = Client()
    response = anonymous.delete(f"/api/predictions/{labelled.pk}")
    assert response.status_code == 204
    assert not Prediction.objects.exists() and not Feedback.objects.exists()
    assert Erasure.objects.filter(prediction_id=labelled.pk).exists()
    again = anonymous.delete(f"/api/predictions/{labelled.pk}")
    assert again.status_code == 404 and again.json()["detail"] == "No prediction has this id."
    assert anonymous.delete("/api/predictions/not-a-uuid").status_code == 404
    assert anonymous.get(f"/api/predictions/{labelled.pk}").status_code == 401  # still staff


def test_it_rate_limits_the_api_deletion(active_model, features, settings):
    settings.THROTTLE_ENABLED = True
    settings.THROTTLE_REDIS_URL = ""
    settings.THROTTLE_RATES = {**settings.THROTTLE_RATES, "erase": (2, 60)}
    throttling.reset()
    client = Client(REMOTE_ADDR="192.0.2.71")
    ids = [services.prediction_create(features, channel="api").pk for _ in range(3)]
    assert [client.delete(f"/api/predictions/{pk}").status_code for pk in ids] == [204, 204, 429]
    assert Prediction.objects.filter(pk=ids[2]).exists()  # the refused one is untouched
    throttling.reset()


def test_it_leaves_an_erased_prediction_nowhere(
    active_model, reference_data, settings, features, django_capture_on_commit_callbacks
):
    """Archive, export, report file, monitoring data and the next training set: all written
    while the prediction existed, none holding it after the next retention run."""
    settings.MIN_LABELLED_ROWS = 5
    settings.RETRAIN_NICE = 0
    rows = [dict(features, Age=18 + i % 20, CGPA=2.0 + i / 50) for i in range(40)]
    predictions = services.prediction_create_many(rows, channel="api")
    for prediction in predictions[:30]:
        services.feedback_create(prediction_id=prediction.pk, actual=prediction.label)
    first = retrain.model_retrain(trigger="manual", force=True)
    monitoring_services.reports_run(trigger="test")
    call_command("export_data", verbosity=0)
    gone, kept = predictions[0], predictions[1]
    archive = settings.ARCHIVE_DIR / first.archive_path
    export = settings.EXPORTS_DIR / "prod_data.csv"
    assert str(gone.pk) in archive.read_text() and str(gone.pk) in export.read_text()
    reports = MonitoringReport.objects.exclude(html_path="")
    assert reports.exists()

    Client().delete(f"/api/predictions/{gone.pk}")
    with django_capture_on_commit_callbacks(execute=True):  # the report files go on commit
        run = retention_run()

    assert str(gone.pk) not in archive.read_text() and str(kept.pk) in archive.read_text()
    assert str(gone.pk) not in export.read_text() and str(kept.pk) in export.read_text()
    assert run.actions["archives_rows_purged"] == 1 and run.actions["exports_rows_purged"] == 1
    assert len(pd.read_csv(archive)) == 29
    # The reports whose window held it keep their aggregates, not their rows.
    for report in MonitoringReport.objects.filter(pk__in=[r.pk for r in reports]):
        assert report.html_path == "" and report.summary
    assert not list(settings.REPORTS_DIR.rglob("*.html"))
    assert Erasure.objects.get().purged_at is not None
    frame = selectors.production_frame()
    assert len(frame) == 39 and not Prediction.objects.filter(pk=gone.pk).exists()
    # The next training run, archive and export: without it.
    for prediction in predictions[30:]:
        services.feedback_create(prediction_id=prediction.pk, actual=prediction.label)
    second = retrain.model_retrain(trigger="manual", force=True)
    assert second.rows_production == 10
    assert str(gone.pk) not in (settings.ARCHIVE_DIR / second.archive_path).read_text()
    call_command("export_data", verbosity=0)
    assert str(gone.pk) not in export.read_text()
    assert json.dumps(run.actions)  # recorded as plain values


def test_it_purges_an_archive_at_the_next_run_only_once(active_model, settings, features):
    settings.ARCHIVE_DIR.mkdir(parents=True)
    archive = settings.ARCHIVE_DIR / "prod_data_archived_20261201_000000.csv"
    prediction = services.prediction_create(features, channel="api")
    archive.write_text(f"Age,Depression,prediction_id\n21,True,{prediction.pk}\n22,False,other\n")
    legacy = settings.ARCHIVE_DIR / "prod_data_archived_20250101_000000.csv"
    legacy.write_text("Age,Depression\n21,True\n")
    Client().delete(f"/api/predictions/{prediction.pk}")
    first = retention_run()
    assert archive.read_text() == "Age,Depression,prediction_id\n22,False,other\n"
    assert first.actions["archives_without_ids"] == 1  # reported: it cannot be purged by id
    second = retention_run()
    assert (
        second.actions["archives_rows_purged"] == 0 and "archives_without_ids" not in second.actions
    )
