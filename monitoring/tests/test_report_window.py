"""Issue 15 item 4: the reports read at most REPORT_MAX_ROWS rows of their window, a uniform
random sample drawn in the database, all labelled rows kept up to the cap, both counts shown."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from monitoring import services
from monitoring.models import MonitoringReport
from predictions import selectors

from .conftest import students

pytestmark = pytest.mark.django_db

Kind = MonitoringReport.Kind


def _spread(make_predictions, rows: int, *, seed: int, hours_ago: float) -> None:
    """`rows` predictions, one a minute going back from `hours_ago`."""
    from predictions.models import Prediction

    now = timezone.now()
    for i, prediction in enumerate(make_predictions(students(rows, seed=seed))):
        Prediction.objects.filter(pk=prediction.pk).update(
            created_at=now - timedelta(hours=hours_ago, minutes=i)
        )


def _window():
    now = timezone.now()
    return now - timedelta(hours=24), now


def test_the_sample_holds_the_cap_and_only_rows_of_the_window(make_predictions):
    now = timezone.now()
    make_predictions(students(100, seed=51), created_at=now - timedelta(hours=2))
    make_predictions(students(60, seed=52), created_at=now - timedelta(days=3))  # out
    make_predictions(students(60, seed=52), created_at=now + timedelta(hours=1))  # out
    since, until = _window()

    frame, window_rows = selectors.production_sample(since=since, until=until, max_rows=40)

    assert window_rows == 100 and len(frame) == 40
    assert (frame["created_at"] >= since).all() and (frame["created_at"] < until).all()


def test_the_sample_is_drawn_across_the_window_not_its_first_rows(make_predictions):
    # 60 rows, one a minute: a LIMIT without a random draw would take one end of the window.
    _spread(make_predictions, 60, seed=53, hours_ago=3)
    since, until = _window()
    middle = timezone.now() - timedelta(hours=3, minutes=30)

    draws = [selectors.production_sample(since=since, until=until, max_rows=20)[0] for _ in "ab"]

    for frame in draws:
        assert len(frame) == 20
        assert (frame["created_at"] < middle).any() and (frame["created_at"] >= middle).any()
    assert set(draws[0]["created_at"]) != set(draws[1]["created_at"])  # 1 in 4e15 to fail


def test_a_window_within_the_cap_is_read_whole(make_predictions):
    make_predictions(students(30, seed=54), created_at=timezone.now() - timedelta(hours=1))
    since, until = _window()
    frame, window_rows = selectors.production_sample(since=since, until=until, max_rows=30)
    assert window_rows == 30 and len(frame) == 30


def test_it_keeps_every_labelled_row_of_the_window_below_the_cap(make_predictions):
    # 25 labelled among 100 predictions: the cap (40) samples predictions, never the labels.
    make_predictions(students(100, seed=55), labelled=25)
    since, until = _window()

    labelled, labelled_rows = selectors.labelled_sample(since=since, until=until, max_rows=40)
    production, window_rows = selectors.production_sample(since=since, until=until, max_rows=40)

    assert labelled_rows == 25 and len(labelled) == 25
    assert window_rows == 100 and len(production) == 40


def test_it_samples_the_labelled_rows_above_the_cap_within_their_window(make_predictions):
    from predictions.models import Feedback

    made = make_predictions(students(70, seed=56), labelled=70)
    old = made[:20]  # labels that arrived two days ago: out of the window
    Feedback.objects.filter(prediction__in=old).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    since, until = _window()

    labelled, labelled_rows = selectors.labelled_sample(since=since, until=until, max_rows=30)

    assert labelled_rows == 50 and len(labelled) == 30
    # The frame has no id; a prediction's probability tells it apart (the old labels' too).
    assert set(labelled["probability"]) <= {p.probability for p in made[20:]}
    assert set(labelled["probability"]).isdisjoint({p.probability for p in old})


def test_the_reports_state_the_window_and_the_sampled_rows(make_predictions, settings):
    settings.REPORT_MAX_ROWS = 40
    settings.MIN_LABELLED_ROWS = 30
    make_predictions(students(120, seed=57), labelled=50)
    make_predictions(students(30, seed=58), created_at=timezone.now() - timedelta(days=3))

    reports = {r.kind: r for r in services.reports_run().reports.all()}

    for kind in (Kind.DATA_QUALITY, Kind.DATA_DRIFT):
        report = reports[kind]
        assert report.status == "ok", report.reason or report.error
        assert report.summary["window_rows"] == 120 and report.summary["sampled_rows"] == 40
        assert report.current_rows == 40
    performance = reports[Kind.MODEL_PERFORMANCE]
    assert performance.status == "ok", performance.reason or performance.error
    assert performance.summary["window_rows"] == 50
    assert performance.summary["sampled_rows"] == 40 == performance.summary["labelled_rows"]


def test_the_report_page_shows_both_counts(make_predictions, settings, staff_client):
    settings.REPORT_MAX_ROWS = 40
    make_predictions(students(90, seed=59))
    run = services.reports_run()
    report = run.reports.get(kind=Kind.DATA_QUALITY)

    page = staff_client.get(reverse("admin:monitoring_monitoringreport_report", args=[report.pk]))

    assert page.status_code == 200
    text = page.content.decode()
    assert "90 rows in the window, 40 read (a uniform random sample" in text


def _import_settings(**env) -> subprocess.CompletedProcess:
    environment = {**os.environ, "DEBUG": "true", **env}
    return subprocess.run(
        [sys.executable, "-c", "import mindpulse.settings.main"],
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_a_cap_below_drift_min_rows_is_refused_at_start_up():
    refused = _import_settings(REPORT_MAX_ROWS="999", DRIFT_MIN_ROWS="1000")
    assert refused.returncode != 0
    assert "REPORT_MAX_ROWS=999 is below DRIFT_MIN_ROWS=1000" in refused.stderr
    accepted = _import_settings(REPORT_MAX_ROWS="1000", DRIFT_MIN_ROWS="1000")
    assert accepted.returncode == 0, accepted.stderr[-2000:]
