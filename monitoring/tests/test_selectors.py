"""Tests of monitoring.selectors: report paths, headlines and the overview's series."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from django.utils import timezone

from filestore import files
from monitoring import selectors
from monitoring.models import MonitoringReport
from predictions.models import Feedback, Prediction

from .conftest import students

Kind = MonitoringReport.Kind


@pytest.mark.parametrize(
    ("relative", "inside"),
    [
        ("data_drift/a.html", True),
        ("a.html", True),
        ("data_drift/../a.html", True),
        ("../a.html", False),
        ("/etc/passwd", False),
        ("", False),
        (".", False),
    ],
)
def test_it_resolves_report_paths_only_inside_the_reports_folder(settings, relative, inside):
    name = selectors.report_name(relative)

    assert (name is not None) == inside
    if inside:
        path = Path(files.storage(files.REPORTS).path(name))
        assert path.is_relative_to(settings.REPORTS_DIR.resolve())


@pytest.mark.django_db
def test_it_counts_predictions_and_feedback_per_day(make_predictions):
    today = timezone.localdate()
    made = make_predictions(students(5, seed=51), labelled=2)
    Prediction.objects.filter(pk__in=[p.pk for p in made[:3]]).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    Feedback.objects.filter(prediction=made[0]).update(
        created_at=timezone.now() - timedelta(days=2)
    )

    volumes = selectors.daily_volumes(days=7)

    assert [v["day"] for v in volumes] == [today - timedelta(days=6 - i) for i in range(7)]
    by_day = {v["day"]: (v["predictions"], v["feedback"]) for v in volumes}
    assert by_day[today] == (2, 1)
    assert by_day[today - timedelta(days=2)] == (3, 1)
    assert sum(p for p, _ in by_day.values()) == 5


@pytest.mark.django_db
def test_it_writes_a_headline_per_kind():
    drift = MonitoringReport(
        kind=Kind.DATA_DRIFT,
        status="ok",
        summary={"drift_share": 4 / 9, "drifted_count": 4, "n_features": 9, "dataset_drift": True},
    )
    quality = MonitoringReport(
        kind=Kind.DATA_QUALITY,
        status="ok",
        summary={
            "rows": 50,
            "totals": {
                "missing": 1,
                "out_of_range": 2,
                "unseen_categories": 3,
                "implausible_day": 4,
            },
        },
    )
    failed = MonitoringReport(kind=Kind.DATA_DRIFT, status="failed", error="ValueError: x\ntrace")

    assert selectors.headline(drift) == "drift share 0.44 (4/9) — dataset drift"
    assert selectors.headline(quality) == (
        "50 rows: 1 missing, 2 out of range, 3 unseen, 4 days over 24 h"
    )
    assert selectors.headline(failed) == "ValueError: x"


@pytest.mark.django_db
def test_it_finds_the_newest_successful_report_of_a_kind():
    old = MonitoringReport.objects.create(kind=Kind.MODEL_PERFORMANCE, status="ok")
    MonitoringReport.objects.create(kind=Kind.MODEL_PERFORMANCE, status="skipped")
    drift = MonitoringReport.objects.create(kind=Kind.DATA_DRIFT, status="ok")
    MonitoringReport.objects.create(kind=Kind.DATA_DRIFT, status="failed")

    assert selectors.latest_performance_report() == old
    assert selectors.latest_drift_report() == drift
    newer = MonitoringReport.objects.create(kind=Kind.MODEL_PERFORMANCE, status="ok")
    assert selectors.latest_performance_report() == newer
