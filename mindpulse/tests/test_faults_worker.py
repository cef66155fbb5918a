"""kill -9 of a real Celery worker in the middle of a monitoring run.

What must hold: no half-written HTML at a final path (drift.py writes `*.part` files and
renames them), the model in service untouched, and the run left `running` never runs twice
at once: while it looks alive a second run is recorded as skipped; the next run after the
hard time limit (CELERY_TASK_TIME_LIMIT) marks it failed and runs once.

How it comes back in production: with acks_late + reject_on_worker_lost the message stays
unacknowledged; Redis delivers it again after its visibility timeout (1 hour by default) under
the same task id, and that delivery marks the dead run failed at once (covered by
monitoring/tests/test_services.py::test_it_takes_over_the_slot_of_its_own_redelivered_task).
Whichever comes first, the next beat tick (every 6 hours, beyond the 30-minute hard limit) or
the redelivery, recovers the slot; this test plays the first one by ageing the run's start.

The same fault during a retrain is training/tests/test_retrain_worker.py.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from monitoring import services as monitoring_services
from monitoring.models import MonitoringReport, MonitoringRun
from monitoring.tasks import run_reports
from predictions import services
from predictions.models import Feedback
from training import artifacts, datagen
from training.features import FEATURE_NAMES, TARGET
from training.models import ModelVersion

pytestmark = [pytest.mark.faults, pytest.mark.worker, pytest.mark.django_db(transaction=True)]


def _production(rows: int, labelled: int) -> None:
    frame = datagen.generate_students(rows * 2, seed=11).dropna(subset=FEATURE_NAMES).head(rows)
    records = frame[list(FEATURE_NAMES)].to_dict("records")
    for record in records:
        for name in ("Age", "Physical_Activity", "Stress_Level"):
            record[name] = int(record[name])
    predictions = services.prediction_create_many(records)
    truths = frame[TARGET].astype(bool).tolist()
    Feedback.objects.bulk_create(
        Feedback(prediction=p, actual=a)
        for p, a in zip(predictions[:labelled], truths, strict=False)
    )


def _complete(path) -> bool:
    with open(path, "rb") as handle:
        handle.seek(max(0, path.stat().st_size - 64))
        return handle.read().rstrip().lower().endswith(b"</html>")


def test_it_recovers_a_report_run_whose_worker_was_killed(
    celery_worker_process, active_model, settings
):
    _production(1500, labelled=200)
    model_file = settings.ARTIFACTS_DIR / active_model.artifact_path
    model_sha = artifacts.sha256_file(model_file)
    queued = run_reports.apply_async(kwargs={"trigger": "scheduled"})

    # Kill as soon as the first of the three reports is recorded: the run is mid-way.
    celery_worker_process.wait_for(
        lambda: MonitoringReport.objects.filter(run__status="running").exists(),
        timeout=180,
        interval=0.05,
    )
    celery_worker_process.kill()

    (run,) = MonitoringRun.objects.all()
    assert run.status == "running", f"the run ended before the kill: {run.status} {run.error}"
    assert run.task_id == queued.id
    assert run.reports.count() < 3
    finals = [p for p in settings.REPORTS_DIR.rglob("*") if p.is_file() and p.suffix == ".html"]
    assert all(_complete(path) for path in finals), finals
    for report in run.reports.exclude(html_path=""):
        assert (settings.REPORTS_DIR / report.html_path) in finals
    active_model.refresh_from_db()
    assert active_model.status == "active" and ModelVersion.objects.count() == 1
    assert artifacts.sha256_file(model_file) == model_sha

    # Never two at once: the dead run still holds the slot.
    second = monitoring_services.reports_run(trigger="admin")
    assert second.status == "skipped" and "in progress" in second.reason

    # Past the hard time limit, the next run frees the slot and runs, once.
    MonitoringRun.objects.filter(pk=run.pk).update(
        started_at=timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT + 60)
    )
    third = monitoring_services.reports_run(trigger="scheduled")
    run.refresh_from_db()
    assert run.status == "failed" and "hard time limit" in run.error
    assert third.status == "ok", third.error
    assert not MonitoringRun.objects.filter(status="running").exists()
    assert [r.status for r in third.reports.order_by("kind")] == ["ok", "ok", "ok"]
