"""Alert conditions: each raises one alert, and only one while it stays unacknowledged."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import signals
from celery.exceptions import TimeLimitExceeded
from django.contrib.auth import get_user_model
from django.utils import timezone
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from mindpulse.beat import rows_write
from mindpulse.testing import SAMPLE_FEATURES
from monitoring import alert_rules as rules
from monitoring import alerts
from monitoring.alert_tasks import check_alerts
from monitoring.models import Alert, MonitoringReport, MonitoringRun
from monitoring.task_names import CHECK_ALERTS, CHECK_ALERTS_ENTRY, REPORTS_ENTRY
from training.models import RetrainRun

pytestmark = pytest.mark.django_db

Kind = MonitoringReport.Kind
OK = MonitoringReport.Status.OK
FEATURES = SAMPLE_FEATURES


def monitoring_run(*reports, status=MonitoringRun.Status.OK, error="", end=None):
    """A finished run with (kind, status, summary) reports over the 24 hours before `end`."""
    end = end or timezone.now()
    run = MonitoringRun.objects.create(status=status, error=error, finished_at=end)
    for kind, report_status, summary in reports:
        MonitoringReport.objects.create(
            run=run,
            kind=kind,
            status=report_status,
            summary=summary,
            window_start=end - timedelta(hours=24),
            window_end=end,
        )
    return run


def drift_summary(share: float) -> dict:
    drifted = ["Sleep_Duration", "Stress_Level", "Age", "CGPA"][: round(share * 9)]
    return {"drift_share": share, "drifted_features": drifted, "dataset_drift": share > 0.3}


def performance_summary(accuracy: float, f1: float, rows: int = 120) -> dict:
    return {"current": {"accuracy": accuracy, "f1": f1, "rows": rows}, "model_version": 1}


def predict(count: int, *, warned: int, at):
    """`count` stored predictions (the first `warned` outside the training range) at `at`."""
    from predictions.models import Prediction
    from predictions.services import prediction_create_many

    rows = [dict(FEATURES, Age=40) for _ in range(warned)] + [FEATURES] * (count - warned)
    stored = prediction_create_many(rows)
    Prediction.objects.filter(pk__in=[p.pk for p in stored]).update(created_at=at)


# --- Each condition, raised the way production raises it ---------------------------------------


def drift_condition(ctx):
    alerts.after_reports(monitoring_run((Kind.DATA_DRIFT, OK, drift_summary(4 / 9))))


def accuracy_condition(ctx):
    ctx.settings.PERFORMANCE_TRIGGER = "absolute"
    alerts.after_reports(
        monitoring_run((Kind.MODEL_PERFORMANCE, OK, performance_summary(0.6, 0.9)))
    )


def performance_low_condition(ctx):
    # 1,000 labelled rows at ROC AUC 0.60 against the model's own 0.72: significant.
    counts = {"rows": 1000, "tp": 150, "fp": 250, "fn": 100, "tn": 500, "roc_auc": 0.60}
    summary = {"current": counts, "reference": {"roc_auc": 0.72}, "model_version": 1}
    alerts.after_reports(monitoring_run((Kind.MODEL_PERFORMANCE, OK, summary)))


def f1_condition(ctx):
    ctx.settings.F1_THRESHOLD = 0.5
    alerts.after_reports(
        monitoring_run((Kind.MODEL_PERFORMANCE, OK, performance_summary(0.9, 0.3)))
    )


def reports_failed_condition(ctx):
    alerts.after_reports(monitoring_run(status=MonitoringRun.Status.FAILED, error="Failed: drift."))


def retrain_condition(decision):
    def condition(ctx):
        run = RetrainRun.objects.create(
            trigger=RetrainRun.Trigger.SCHEDULED,
            decision=decision,
            reason="challenger roc_auc 0.91 >= 0.90",
            new_version=ctx.active_model,
            finished_at=timezone.now(),
        )
        alerts.after_retrain(run)

    return condition


def task_failure_condition(ctx):
    signals.task_failure.send(
        sender=check_alerts,
        task_id="0e5a2c1e-task",
        exception=TimeLimitExceeded(1800),
        args=(),
        kwargs={},
        traceback=None,
        einfo=None,
    )


def stale_condition(ctx):
    # The first model went into service 13 hours ago and no report ever succeeded.
    alerts.check(now=timezone.now() + timedelta(hours=13))


def warnings_jump_condition(ctx):
    end = timezone.now()
    if not ctx.seeded:
        predict(60, warned=0, at=end - timedelta(hours=36))  # the window before: 0 %
        predict(60, warned=30, at=end - timedelta(hours=12))  # the latest window: 50 %
        ctx.seeded = True
    alerts.after_reports(monitoring_run((Kind.DATA_QUALITY, OK, {"rows": 60}), end=end))


CONDITIONS = {
    rules.DRIFT: drift_condition,
    rules.ACCURACY_LOW: accuracy_condition,
    rules.PERFORMANCE_LOW: performance_low_condition,
    rules.F1_LOW: f1_condition,
    rules.REPORTS_FAILED: reports_failed_condition,
    rules.RETRAIN_PROMOTED: retrain_condition(RetrainRun.Decision.PROMOTED),
    rules.RETRAIN_REJECTED: retrain_condition(RetrainRun.Decision.REJECTED),
    rules.RETRAIN_FAILED: retrain_condition(RetrainRun.Decision.FAILED),
    rules.TASK_FAILED: task_failure_condition,
    rules.REPORTS_STALE: stale_condition,
    rules.WARNINGS_JUMP: warnings_jump_condition,
}


class Ctx:
    def __init__(self, settings, active_model):
        self.settings = settings
        self.active_model = active_model
        self.seeded = False


@pytest.mark.parametrize("kind", list(CONDITIONS))
def test_it_raises_one_alert_per_condition_until_it_is_acknowledged(
    kind, settings, active_model, admin_user
):
    ctx = Ctx(settings, active_model)
    CONDITIONS[kind](ctx)
    first = Alert.objects.get()
    assert first.kind == kind and first.acknowledged_at is None

    CONDITIONS[kind](ctx)  # the condition still holds: a repeat, not a second alert
    first.refresh_from_db()
    assert Alert.objects.count() == 1 and first.repeats == 1

    alerts.alert_acknowledge(Alert.objects.all(), admin_user)
    CONDITIONS[kind](ctx)  # acknowledged: the condition is re-armed
    assert Alert.objects.count() == 2
    newest = Alert.objects.latest("created_at")
    assert newest.pk != first.pk and newest.kind == kind and newest.acknowledged_at is None


def test_it_raises_nothing_when_every_value_is_within_its_threshold(settings, active_model):
    settings.F1_THRESHOLD, settings.DRIFT_THRESHOLD = 0.5, 0.34
    run = monitoring_run(
        (Kind.DATA_DRIFT, OK, drift_summary(3 / 9)),  # 0.333: just under the threshold
        (Kind.MODEL_PERFORMANCE, OK, performance_summary(0.9, 0.8)),
    )
    assert alerts.after_reports(run) == []
    skipped = RetrainRun.objects.create(
        trigger="scheduled", decision=RetrainRun.Decision.SKIPPED_NO_TRIGGER
    )
    assert alerts.after_retrain(skipped) is None
    assert alerts.check(now=timezone.now() + timedelta(hours=11))["stale_alert"] is None
    assert not Alert.objects.exists()


def test_it_never_breaks_the_caller_when_an_alert_cannot_be_written(monkeypatch, active_model):
    def broken(finding):
        raise RuntimeError("database gone")

    monkeypatch.setattr(alerts, "alert_raise", broken)
    run = monitoring_run((Kind.DATA_DRIFT, OK, drift_summary(4 / 9)))
    assert alerts.after_reports(run) == []
    task_failure_condition(None)  # the signal handler swallows it too
    assert not Alert.objects.exists()


def test_it_names_the_failed_task_and_keeps_one_alert_per_task(db):
    for task_id in ("a", "b"):
        signals.task_failure.send(
            sender=check_alerts, task_id=task_id, exception=ValueError("bad input"), einfo=None
        )
    alert = Alert.objects.get()
    assert alert.dedup_key == f"{rules.TASK_FAILED}:monitoring.check_alerts"
    assert alert.context["exception"] == "ValueError" and alert.repeats == 1
    assert "monitoring.check_alerts failed: ValueError: bad input" in alert.message


def test_it_ignores_failures_of_the_delivery_task_itself(db):
    from monitoring.alert_tasks import deliver_alert

    signals.task_failure.send(sender=deliver_alert, task_id="x", exception=OSError("smtp"))
    assert not Alert.objects.exists()


def test_it_alerts_on_a_terminated_task_but_not_on_a_plain_revoke(db):
    class Request:
        id = "r1"

    signals.task_revoked.send(sender=check_alerts, request=Request(), terminated=False)
    assert not Alert.objects.exists()
    signals.task_revoked.send(sender=check_alerts, request=Request(), terminated=True, signum=9)
    assert Alert.objects.get().kind == rules.TASK_REVOKED


# --- Rules at their boundaries -----------------------------------------------------------------


def test_it_fires_drift_strictly_above_the_threshold():
    assert rules.drift({"drift_share": 0.3}, 0.3) is None
    assert rules.drift({"drift_share": 0.31}, 0.3).severity == "warning"
    assert rules.drift({}, 0.3) is None


def test_it_ignores_performance_metrics_that_could_not_be_computed():
    summary = {"current": {"accuracy": None, "f1": None, "rows": 40}}
    assert rules.performance(summary, accuracy_floor=0.85, f1_floor=0.5) == []
    summary = {"current": {"accuracy": 0.85, "f1": 0.0, "rows": 40}}
    assert rules.performance(summary, accuracy_floor=0.85, f1_floor=0.0) == []


def _window(predictions, warned):
    now = timezone.now()
    return rules.WindowCount(now - timedelta(hours=1), now, predictions, warned)


@pytest.mark.parametrize(
    ("previous", "current", "fires"),
    [
        ((100, 10), (100, 20), False),  # doubled, but +0.10 is the bar: 0.20 = 0.20
        ((100, 10), (100, 21), True),
        ((100, 30), (100, 59), False),  # +0.29, below 2 x 0.30
        ((100, 30), (100, 61), True),
        ((100, 0), (100, 11), True),  # from nothing, +0.10 is enough
        ((49, 0), (100, 90), False),  # too few predictions before
        ((100, 0), (49, 49), False),  # too few predictions now
    ],
)
def test_it_defines_the_warnings_jump_precisely(previous, current, fires):
    finding = rules.warnings_jump(_window(*current), _window(*previous))
    assert (finding is not None) is fires


def test_it_measures_staleness_against_twice_the_period():
    now = timezone.now()
    period = timedelta(hours=6)
    since = now - timedelta(days=10)
    assert (
        rules.reports_stale(
            last_success=now - timedelta(hours=12), since=since, period=period, now=now
        )
        is None
    )
    late = rules.reports_stale(
        last_success=now - timedelta(hours=12, seconds=1), since=since, period=period, now=now
    )
    assert late is not None and late.kind == rules.REPORTS_STALE


def test_it_reads_the_period_from_the_code_then_from_the_edited_crontab(db):
    # Before beat ever started: the schedule in code (CELERY_BEAT_SCHEDULE).
    assert not PeriodicTask.objects.filter(name=REPORTS_ENTRY).exists()
    assert alerts.schedule_period(REPORTS_ENTRY, timezone.now()) == timedelta(hours=6)
    task = rows_write()[REPORTS_ENTRY]
    assert alerts.schedule_period(REPORTS_ENTRY, timezone.now()) == timedelta(hours=6)
    task.crontab = CrontabSchedule.objects.create(minute="0", hour="9", day_of_week="1-5")
    task.save()
    # An admin edit counts while beat runs it. Weekdays at 9: the longest gap is Friday to
    # Monday.
    assert alerts.schedule_period(REPORTS_ENTRY, timezone.now()) == timedelta(days=3)


def test_it_counts_a_quiet_run_as_a_success_but_not_a_failed_one(active_model):
    later = timezone.now() + timedelta(hours=13)
    monitoring_run(
        (Kind.DATA_DRIFT, MonitoringReport.Status.FAILED, {}),
        status=MonitoringRun.Status.FAILED,
        end=later - timedelta(hours=1),
    )
    assert alerts.reports_stale(later) is not None
    monitoring_run(
        (Kind.DATA_DRIFT, MonitoringReport.Status.SKIPPED, {}),
        status=MonitoringRun.Status.SKIPPED,
        end=later - timedelta(hours=1),
    )
    assert alerts.reports_stale(later) is None


def test_it_creates_the_check_schedule_when_beat_starts(beat_rows):
    task = PeriodicTask.objects.get(name=CHECK_ALERTS_ENTRY)
    assert task.task == CHECK_ALERTS and task.enabled
    assert (task.crontab.minute, task.crontab.hour) == ("30", "*")


def test_it_acknowledges_from_the_admin_with_the_user_and_time(admin_client, admin_user):
    task_failure_condition(None)
    alert = Alert.objects.get()
    response = admin_client.post(
        "/admin/monitoring/alert/",
        {"action": "acknowledge", "_selected_action": [alert.pk]},
        follow=True,
    )
    assert response.status_code == 200
    alert.refresh_from_db()
    assert alert.acknowledged_by == admin_user and alert.acknowledged_at is not None
    page = admin_client.get("/admin/monitoring/alert/").content.decode()
    assert "task_failed" in page and "no channel configured" in page


def test_it_refuses_the_acknowledge_action_to_staff_without_the_permission(client):
    from django.contrib.auth.models import Permission

    task_failure_condition(None)
    alert = Alert.objects.get()
    user = get_user_model().objects.create_user("viewer", password="x", is_staff=True)
    user.user_permissions.add(Permission.objects.get(codename="view_alert"))
    client.force_login(user)
    assert client.get("/admin/monitoring/alert/").status_code == 200
    client.post(
        "/admin/monitoring/alert/", {"action": "acknowledge", "_selected_action": [alert.pk]}
    )
    alert.refresh_from_db()
    assert alert.acknowledged_at is None


# --- Wired into the services -------------------------------------------------------------------


def test_a_reports_run_raises_the_drift_alert(settings, active_model):
    from monitoring.services import reports_run

    shifted = dict(FEATURES, Age=40, CGPA=1.2, Sleep_Duration=3.0, Stress_Level=10)
    from predictions.services import prediction_create_many

    prediction_create_many([dict(shifted, Study_Hours=1 + i % 5) for i in range(200)])
    run = reports_run(trigger="manual")
    assert run.reports.get(kind=Kind.DATA_DRIFT).summary["drift_share"] > settings.DRIFT_THRESHOLD
    alert = Alert.objects.get(kind=rules.DRIFT)
    assert "Stress_Level" in alert.context["drifted_features"]


def test_a_failed_retrain_raises_its_alert(active_model):
    from training.retrain import model_retrain

    # No reference data and no feedback: nothing to train on, so the run fails.
    run = model_retrain(trigger=RetrainRun.Trigger.MANUAL, force=True)
    assert run.decision == RetrainRun.Decision.FAILED
    alert = Alert.objects.get(kind=rules.RETRAIN_FAILED)
    assert alert.severity == "critical" and alert.context["run_id"] == run.pk


@pytest.mark.django_db(transaction=True)
def test_it_keeps_one_open_alert_when_several_processes_raise_it_at_once():
    import threading

    from django.db import connection

    barrier = threading.Barrier(4)
    errors = []

    def raise_it():
        try:
            barrier.wait(timeout=10)
            alerts.alert_raise(rules.drift({"drift_share": 0.5}, 0.3))
        except Exception as exc:  # reported below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=raise_it) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert errors == []
    alert = Alert.objects.get()  # the database constraint, not luck, kept it to one
    assert alert.repeats == 3
