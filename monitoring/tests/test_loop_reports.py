"""Issue 12's report defects: late labels, small drift windows, and alerts on a healthy model."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import alerts, services, significance
from monitoring.models import Alert, MonitoringReport

from .conftest import students
from .test_alerts import monitoring_run

pytestmark = pytest.mark.django_db

Kind = MonitoringReport.Kind


def _reports(run):
    return {r.kind: r for r in run.reports.all()}


def test_it_counts_a_label_that_arrived_days_after_its_prediction(make_predictions, settings):
    settings.MIN_LABELLED_ROWS = 30
    # Predictions three days old (out of the 24-hour window); their labels arrive now.
    make_predictions(
        students(60, seed=31), labelled=60, created_at=timezone.now() - timedelta(days=3)
    )

    performance = _reports(services.reports_run())[Kind.MODEL_PERFORMANCE]

    assert performance.status == "ok", performance.reason
    assert performance.summary["labelled_rows"] == 60
    assert performance.summary["current"]["rows"] == 60


def test_it_counts_a_label_in_the_window_it_arrived_in_only(make_predictions, settings):
    settings.MIN_LABELLED_ROWS = 30
    predictions = make_predictions(students(60, seed=32), labelled=60)
    from predictions.models import Feedback

    # The labels arrived two days ago: the window of today's report does not hold them.
    Feedback.objects.filter(prediction__in=predictions).update(
        created_at=timezone.now() - timedelta(days=2)
    )
    performance = _reports(services.reports_run())[Kind.MODEL_PERFORMANCE]
    assert performance.status == "skipped" and performance.summary["labelled_rows"] == 0


def test_it_skips_the_drift_report_below_drift_min_rows(make_predictions, settings):
    settings.DRIFT_MIN_ROWS = 200
    make_predictions(students(150, seed=33))

    drift = _reports(services.reports_run())[Kind.DATA_DRIFT]

    assert drift.status == "skipped"
    assert "150 production predictions" in drift.reason and "DRIFT_MIN_ROWS" in drift.reason
    assert drift.summary["min_rows"] == 200 and drift.current_rows == 150


def test_it_runs_the_drift_report_from_drift_min_rows(make_predictions, settings):
    settings.DRIFT_MIN_ROWS = 150
    make_predictions(students(150, seed=33))
    assert _reports(services.reports_run())[Kind.DATA_DRIFT].status == "ok"


def test_it_takes_the_latest_drift_min_rows_within_the_lookback(make_predictions, settings):
    settings.DRIFT_MIN_ROWS = 200
    now = timezone.now()
    make_predictions(students(100, seed=34), created_at=now - timedelta(hours=100))  # too old
    make_predictions(students(150, seed=35), created_at=now - timedelta(hours=30))
    make_predictions(students(80, seed=36), created_at=now - timedelta(hours=1))

    drift = _reports(services.reports_run())[Kind.DATA_DRIFT]

    # 80 in the 24-hour window; the latest 200 within DRIFT_LOOKBACK_HOURS (72) are compared.
    assert drift.status == "ok", drift.reason
    assert drift.current_rows == 200 and drift.summary["rows"] == 200
    assert drift.summary["current_since"] == (now - timedelta(hours=30)).isoformat()


def test_it_skips_the_drift_report_with_too_few_rows_within_the_lookback(
    make_predictions, settings
):
    settings.DRIFT_MIN_ROWS = 200
    settings.DRIFT_LOOKBACK_HOURS = 48
    now = timezone.now()
    make_predictions(students(150, seed=34), created_at=now - timedelta(hours=50))
    make_predictions(students(80, seed=36), created_at=now - timedelta(hours=1))

    drift = _reports(services.reports_run())[Kind.DATA_DRIFT]

    assert drift.status == "skipped"
    assert "80 production predictions within 48 h" in drift.reason
    assert drift.current_rows == 80


def _healthy_summary(rows: int) -> dict:
    """A model exactly as good in production as on its test split (accuracy 0.74)."""
    tp, fp, fn, tn = (round(rows * x) for x in (0.06, 0.20, 0.06, 0.68))
    current = {"rows": rows, "tp": tp, "fp": fp, "fn": fn, "tn": tn}
    current.update(accuracy=(tp + tn) / rows, f1=2 * tp / (2 * tp + fp + fn), roc_auc=0.71)
    reference = dict(current, roc_auc=0.71)
    return {"current": current, "reference": reference, "model_version": 1}


def test_it_raises_no_critical_alert_on_a_healthy_model_with_the_defaults(db):
    # The defaults once compared production accuracy with ACCURACY_THRESHOLD=0.85, above the
    # model's own 0.74: a critical alert on every report of a healthy model.
    alerts.after_reports(monitoring_run((Kind.MODEL_PERFORMANCE, "ok", _healthy_summary(1000))))
    assert not Alert.objects.filter(severity="critical").exists()


def test_it_needs_enough_labels_to_call_a_drop_significant():
    reference, metric = 0.72, "roc_auc"
    small = {"rows": 40, "tp": 5, "fp": 10, "fn": 5, "tn": 20, "roc_auc": 0.62}
    large = {"rows": 1000, "tp": 125, "fp": 250, "fn": 125, "tn": 500, "roc_auc": 0.62}
    test = {"metric": metric, "tolerance": 0.02, "confidence": 0.95}
    assert not significance.performance_drop(small, reference, **test)["significant"]
    dropped = significance.performance_drop(large, reference, **test)
    assert dropped["significant"] and dropped["upper"] < dropped["bar"] == pytest.approx(0.70)


@pytest.mark.parametrize("metric", ["accuracy", "f1", "roc_auc"])
def test_it_bounds_each_metric_above_its_value(metric):
    current = {"rows": 400, "tp": 60, "fp": 60, "fn": 40, "tn": 240}
    current.update(accuracy=0.75, f1=120 / 220, roc_auc=0.7)
    drop = significance.performance_drop(current, 0.99, metric=metric, tolerance=0, confidence=0.95)
    assert current[metric] < drop["upper"] < 0.99 and drop["significant"]
