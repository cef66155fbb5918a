"""Each performance report estimates the model's performance on all of its predictions (CBPE),
shows it beside the realised figures, and measures recall per group with an alert on the gap."""

from __future__ import annotations

import numpy as np
import pytest
from django.urls import reverse

from monitoring import alerts, cbpe, selectors, services
from monitoring.models import Alert, MonitoringReport
from predictions.models import Prediction

from .conftest import students

Kind = MonitoringReport.Kind


def _performance(run) -> MonitoringReport:
    return run.reports.get(kind=Kind.MODEL_PERFORMANCE)


def test_it_estimates_on_every_prediction_and_measures_on_the_labelled(
    make_predictions, active_model, settings
):
    settings.MIN_LABELLED_ROWS = 30
    make_predictions(students(500, seed=31), labelled=200)

    report = _performance(services.reports_run())

    assert report.status == MonitoringReport.Status.OK, report.error or report.reason
    served = Prediction.objects.filter(model_version=active_model)
    probability = np.array(served.values_list("probability", flat=True))
    assert len(probability) == 500
    estimated = report.summary["estimated"]
    assert estimated["rows"] == 500  # all of them, not only the 200 labelled
    expected = cbpe.estimate(probability, active_model.threshold)
    for metric in cbpe.ESTIMATED_METRICS:
        assert estimated[metric] == pytest.approx(expected[metric]), metric
    assert report.summary["current"]["rows"] == 200
    groups = report.summary["groups"]["features"]
    assert {row["group"] for row in groups["Gender"]["groups"]} <= {"Female", "Male"}
    assert sum(row["n"] for row in groups["Department"]["groups"]) == 200
    assert report.summary["max_group_recall_gap"] == settings.MAX_GROUP_RECALL_GAP


def test_it_keeps_the_estimate_when_too_few_labels_came_back(make_predictions, settings):
    settings.MIN_LABELLED_ROWS = 30
    make_predictions(students(300, seed=32), labelled=5)

    report = _performance(services.reports_run())

    assert report.status == MonitoringReport.Status.SKIPPED
    assert report.summary["estimated"]["rows"] == 300
    series = selectors.performance_series()
    assert len(series) == 1 and series[0]["accuracy"] is None
    assert series[0]["estimated_accuracy"] == pytest.approx(report.summary["estimated"]["accuracy"])


def test_it_draws_estimated_and_realised_side_by_side(make_predictions, admin_client, settings):
    settings.MIN_LABELLED_ROWS = 30
    make_predictions(students(300, seed=33), labelled=100)
    services.reports_run()

    page = admin_client.get(reverse("admin:monitoring_overview_changelist")).content.decode()

    assert "estimated accuracy (CBPE)" in page and "estimated F1 (CBPE)" in page
    assert 'class="series accuracy estimated"' in page
    assert "cannot see a concept shift" in page


def _gap_summary(gap: float) -> dict:
    def row(group, recall, positives=40):
        return {"group": group, "positives": positives, "recall": {"value": recall}}

    return {
        "model_version": 3,
        "groups": {
            "features": {
                "Department": {
                    "groups": [row("Arts", 0.9), row("Medical", 0.9 - gap)],
                    "recall_gap": gap,
                }
            },
            "worst_recall_gap": {"feature": "Department", "gap": gap},
        },
    }


@pytest.mark.parametrize(("gap", "raised"), [(0.5, True), (0.45, False), (0.2, False)])
def test_it_alerts_when_the_recall_gap_between_groups_exceeds_the_setting(
    db, settings, gap, raised
):
    from .test_alerts import OK, monitoring_run

    settings.MAX_GROUP_RECALL_GAP = 0.45
    alerts.after_reports(monitoring_run((Kind.MODEL_PERFORMANCE, OK, _gap_summary(gap))))

    found = Alert.objects.filter(kind="group_recall_gap")
    assert found.exists() is raised
    if raised:
        message = found.get().message
        assert "Department" in message and "Medical 0.40 (40 depressed)" in message
