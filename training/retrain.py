"""The retrain run: decide, claim, merge, train, gate, swap, archive, notify, all recorded.

model_retrain() serves the beat task, the feedback trigger, the admin, the API (through
retrain_request(), which records a queued run and queues the task) and `manage.py retrain`.
Every call but a dry run leaves a RetrainRun row that says why it did or did not retrain.

Safety, by what can go wrong:
* Two runs at once: the `running` row is the lock (a partial unique constraint), so the second
  INSERT fails at once and is recorded as skipped_already_running.
* A worker killed mid-run leaves its row `running`: the next run first marks a row running for
  longer than CELERY_TASK_TIME_LIMIT as failed and releases the feedback it claimed.
* Any exception: the run is marked failed with the traceback and its claimed rows are released.
  The model in service is untouched, because activation happens last, in the transaction that
  records the decision. Artifacts and the archive are written atomically under new names.
* A run that recovery marked failed while it was still training (a solo-pool worker ignores
  the hard time limit) cannot promote afterwards: the final update requires `running`.
"""

from __future__ import annotations

import json
import logging
import time
import traceback
import uuid
from datetime import timedelta

import pandas as pd
from celery import current_app
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from filestore import files
from predictions import selectors as predictions_selectors
from predictions import services as predictions_services

from . import gate, selectors, services, triggers
from .features import FEATURE_NAMES, NUMERIC_FEATURES, TARGET
from .models import ModelVersion, RetrainRun
from .priority import lower_cpu_priority

logger = logging.getLogger(__name__)

Decision = RetrainRun.Decision
Trigger = RetrainRun.Trigger

RETRAIN_TASK = "training.tasks.retrain"
RETRAIN_TRIGGERS = (Trigger.SCHEDULED, Trigger.FEEDBACK, Trigger.MANUAL)
ARCHIVE_PREFIX = "prod_data_archived_"
# A request must not hang on a dead broker: one short connection attempt, no retries.
BROKER_TIMEOUT_SECONDS = 2.0
MAX_ERROR_CHARS = 8000


class QueueUnavailable(Exception):
    """The broker could not be reached: the request's run is recorded as failed."""

    def __init__(self, message: str, run: RetrainRun):
        super().__init__(message)
        self.run = run


class RunTakenOver(Exception):
    """The run stopped being `running` while it trained (recovery marked it failed)."""


# --- Requests (admin, API) -----------------------------------------------------------------------


def retrain_request(*, requested_by=None, note: str = "") -> RetrainRun:
    """Record a staff request as a queued run, then queue its task: the run id exists at once.

    The row is committed before the message leaves (callers hold no transaction; the task
    retries briefly when it cannot see the row yet). A broker that cannot be reached within
    seconds marks the run failed and raises QueueUnavailable.
    """
    run = RetrainRun.objects.create(
        trigger=Trigger.MANUAL,
        decision=Decision.QUEUED,
        requested_by=requested_by,
        note=note[:500],
        reason="queued: waiting for a worker",
        task_id=str(uuid.uuid4()),
        queued_at=timezone.now(),
    )
    try:
        _send(run)
    except Exception as exc:  # kombu raises several unrelated types for a dead broker
        RetrainRun.objects.filter(pk=run.pk, decision=Decision.QUEUED).update(
            decision=Decision.FAILED,
            reason="not queued: the task queue (broker) is unreachable",
            error=f"{type(exc).__name__}: {exc}",
            finished_at=timezone.now(),
        )
        run.refresh_from_db()
        logger.warning("retrain_not_queued run=%s error=%s: %s", run.pk, type(exc).__name__, exc)
        raise QueueUnavailable(
            "The task queue is unreachable, so the retrain was not queued "
            f"(recorded as failed run #{run.pk}). Try again in a few minutes.",
            run,
        ) from exc
    logger.info("retrain_queued run=%s by=%s", run.pk, requested_by)
    return run


def retrain_request_on_feedback() -> RetrainRun | None:
    """The feedback that crossed RETRAIN_THRESHOLD: record a queued run, then send its message.

    Nothing is queued while a feedback request is queued (a partial unique constraint decides
    between concurrent feedback) or while a retrain runs: the run claims every labelled row
    there is when it starts. Returns the queued run, or None when nothing was queued.
    """
    if RetrainRun.objects.filter(decision=Decision.RUNNING).exists():
        logger.info("retrain_not_requested reason=a retrain is running")
        return None
    try:
        with transaction.atomic():
            run = RetrainRun.objects.create(
                trigger=Trigger.FEEDBACK,
                decision=Decision.QUEUED,
                reason="queued: RETRAIN_THRESHOLD crossed by a feedback",
                task_id=str(uuid.uuid4()),
                queued_at=timezone.now(),
            )
    except IntegrityError:
        logger.info("retrain_not_requested reason=a feedback retrain is already queued")
        return None
    try:
        # Delayed, so that a burst of labels (5,000 within an hour) makes one retrain on all
        # of them rather than one per RETRAIN_THRESHOLD rows as they arrive.
        _send(run, countdown=settings.RETRAIN_FEEDBACK_DELAY_SECONDS)
    except Exception as exc:  # the feedback is committed already: record, never fail it
        RetrainRun.objects.filter(pk=run.pk, decision=Decision.QUEUED).update(
            decision=Decision.FAILED,
            reason="not queued: the task queue (broker) is unreachable",
            error=f"{type(exc).__name__}: {exc}",
            finished_at=timezone.now(),
        )
        logger.warning("retrain_not_queued run=%s error=%s: %s", run.pk, type(exc).__name__, exc)
        return None
    logger.info("retrain_queued run=%s trigger=feedback", run.pk)
    return run


def _send(run: RetrainRun, *, countdown: float = 0) -> None:
    timeout = BROKER_TIMEOUT_SECONDS
    kwargs = {"trigger": run.trigger, "run_id": run.pk, "requested_by_id": run.requested_by_id}
    with current_app.connection_for_write(
        connect_timeout=timeout,
        transport_options={"socket_connect_timeout": timeout, "socket_timeout": timeout},
    ) as connection:
        connection.ensure_connection(max_retries=0)
        current_app.send_task(
            RETRAIN_TASK,
            kwargs=kwargs,
            task_id=run.task_id,
            connection=connection,
            retry=False,
            **({"countdown": countdown} if countdown else {}),
        )


# --- The run -------------------------------------------------------------------------------------


def model_retrain(
    *,
    trigger: str,
    requested_by=None,
    force: bool = False,
    dry_run: bool = False,
    task_id: str = "",
    run_id: int | None = None,
) -> RetrainRun:
    """Evaluate the triggers and, when one fires, retrain; return the recorded run.

    `run_id` names a queued run (a staff request): it is processed once, and a second delivery
    of its message returns it unchanged. A dry run evaluates and returns an unsaved run.
    """
    if trigger not in RETRAIN_TRIGGERS:
        raise ValueError(f"unknown retrain trigger {trigger!r}; expected one of {RETRAIN_TRIGGERS}")
    if dry_run:
        return _dry_run(trigger, requested_by, force)
    clock = _Clock()
    recover_stale_runs(keep=run_id)
    if run_id is not None:
        queued = RetrainRun.objects.select_related("requested_by").get(pk=run_id)
        if queued.decision != Decision.QUEUED:
            logger.info("retrain_already_handled run=%s decision=%s", run_id, queued.decision)
            return queued
        requested_by = requested_by or queued.requested_by
        task_id = task_id or queued.task_id
    evaluated = triggers.evaluate(force=force)
    fired = triggers.fired(evaluated)
    label_alerts()
    clock.lap("evaluate")
    fields = {
        "trigger": trigger,
        "requested_by": requested_by,
        "triggers": evaluated,
        "task_id": task_id,
        "step_seconds": clock.steps,
    }
    if not fired:
        lines = [triggers.describe(name, evaluated[name]) for name in triggers.ORDER]
        run = _record_skip(run_id, fields, Decision.SKIPPED_NO_TRIGGER, "; ".join(lines))
        _log_finished(run)
        return run
    run, mine = _claim_slot(run_id, {**fields, "reason": f"fired: {', '.join(fired)}"})
    if mine:
        _execute(run, clock)
    else:
        _log_finished(run)
    return run


def label_alerts() -> None:
    """Tell the alerts what the pending labels look like (a client key above its share, labels
    far from the model's calibration). Never raises."""
    from monitoring.alerts import after_labels

    try:
        anomalies = predictions_selectors.label_anomalies(
            reference_rows=selectors.reference_count()
        )
    except Exception:
        logger.exception("label_anomalies_failed")
        return
    after_labels(
        pending=anomalies.pending,
        over_share=anomalies.over_share,
        positive_share=anomalies.positive_share,
        mean_probability=anomalies.mean_probability,
        share=settings.RETRAIN_MAX_CLIENT_SHARE,
        gap=settings.LABEL_CALIBRATION_GAP,
        minimum=settings.MIN_LABELLED_ROWS,
    )


def _dry_run(trigger: str, requested_by, force: bool) -> RetrainRun:
    evaluated = triggers.evaluate(force=force)
    fired = triggers.fired(evaluated)
    run = RetrainRun(trigger=trigger, requested_by=requested_by, triggers=evaluated, decision="")
    holder = RetrainRun.objects.filter(decision=Decision.RUNNING).first()
    if not fired:
        run.decision, run.reason = Decision.SKIPPED_NO_TRIGGER, "dry run: no trigger fired"
    elif holder is not None:
        run.decision = Decision.SKIPPED_ALREADY_RUNNING
        run.reason = f"dry run: fired ({', '.join(fired)}), but retrain #{holder.pk} is running"
    else:
        run.reason = f"dry run: would retrain (fired: {', '.join(fired)})"
    return run


def _record_skip(run_id, fields: dict, decision: str, reason: str) -> RetrainRun:
    values = {**fields, "decision": decision, "reason": reason[:500], "finished_at": timezone.now()}
    if run_id is None:
        return RetrainRun.objects.create(**values)
    RetrainRun.objects.filter(pk=run_id, decision=Decision.QUEUED).update(**values)
    return RetrainRun.objects.get(pk=run_id)


def _claim_slot(run_id, fields: dict) -> tuple[RetrainRun, bool]:
    """Become THE running retrain (True), or record that another one is (False)."""
    try:
        with transaction.atomic():
            now = timezone.now()
            if run_id is None:
                run = RetrainRun.objects.create(
                    decision=Decision.RUNNING, heartbeat_at=now, **fields
                )
                return run, True
            claimed = RetrainRun.objects.filter(pk=run_id, decision=Decision.QUEUED).update(
                decision=Decision.RUNNING, started_at=now, heartbeat_at=now, **fields
            )
    except IntegrityError:
        holder = RetrainRun.objects.filter(decision=Decision.RUNNING).first()
        reason = (
            f"retrain #{holder.pk} is running (started {holder.started_at:%Y-%m-%d %H:%M:%S})"
            if holder is not None
            else "another retrain was running"
        )
        return _record_skip(run_id, fields, Decision.SKIPPED_ALREADY_RUNNING, reason), False
    # claimed == 0: a second delivery of the same message got there first.
    return RetrainRun.objects.select_related("requested_by").get(pk=run_id), claimed == 1


def _execute(run: RetrainRun, clock: _Clock) -> None:
    with Heartbeat(run.pk):
        _execute_steps(run, clock)


def _execute_steps(run: RetrainRun, clock: _Clock) -> None:
    metric = settings.MODEL_SELECTION_METRIC
    step = "claim"
    try:
        # Trusted labels only, no client key above its share (predictions.selectors).
        labels = predictions_selectors.usable_labels(reference_rows=selectors.reference_count())
        run.rows_production = predictions_services.feedback_claim(run, labels.ids())
        clock.lap(step)
        _save(run, clock, "rows_production")

        step = "merge"
        reference = selectors.reference_dataframe()
        production = predictions_selectors.claimed_frame(run.pk)
        merged, run.duplicates_removed = merge_frames(reference, production)
        run.rows_reference, run.rows_merged = len(reference), len(merged)
        clock.lap(step)
        _save(run, clock, "rows_reference", "rows_merged", "duplicates_removed")
        if _skip_unchanged(run, merged, clock):
            return

        step = "train"
        lower_cpu_priority(settings.RETRAIN_NICE)
        outcome = services.model_train(merged, metric=metric, progress=_progress(run))
        clock.lap(step)

        step = "gate"
        champion = selectors.active_model_version()
        comparison = gate.compare(
            outcome, champion, metric=metric, tolerance=settings.PROMOTION_TOLERANCE
        )
        promote = comparison.promote
        run.selection_metric, run.champion, run.reason = metric, champion, comparison.reason
        run.challenger_score = comparison.challenger.get(metric)
        run.comparison = comparison.evidence
        if comparison.champion is not None:
            run.champion_score = comparison.champion.get(metric)
        run.candidates = services.candidates_summary(outcome) + _gate_entries(
            outcome, champion, comparison
        )
        clock.lap(step)
        _save(
            run,
            clock,
            "selection_metric",
            "champion",
            "challenger_score",
            "champion_score",
            "comparison",
            "candidates",
            "reason",
        )

        step = "register"
        # Registered as rejected; the swap below activates it when the gate let it through.
        run.new_version = services.model_register(
            outcome, status=ModelVersion.Status.REJECTED, metric=metric, run=run
        )
        clock.lap(step)
        _save(run, clock, "new_version")

        prune_rejected_versions()

        step = "archive"
        run.archive_path = _archive(production, run)
        clock.lap(step)
        _save(run, clock, "archive_path")

        step = "swap"
        _swap(run, promote, clock)
    except BaseException as exc:
        _fail(run, exc, step, clock)
        _notify(run)
        if not isinstance(exc, Exception):
            raise
        return
    _notify(run)


def _skip_unchanged(run: RetrainRun, merged: pd.DataFrame, clock: _Clock) -> bool:
    """The same data as the last rejected retrain: it would train the same challenger again.

    Recorded as skipped_unchanged_data; the claimed rows (none, or the same ones) go back.
    """
    from .pipeline import data_fingerprint

    fingerprint = data_fingerprint(merged)
    if fingerprint != selectors.last_rejected_fingerprint():
        return False
    reason = (
        f"the training data (fingerprint {fingerprint[:12]}…) is the same as the last rejected "
        "retrain's: nothing to learn, not retrained"
    )
    with transaction.atomic():
        updated = RetrainRun.objects.filter(pk=run.pk, decision=Decision.RUNNING).update(
            decision=Decision.SKIPPED_UNCHANGED_DATA,
            reason=reason,
            finished_at=timezone.now(),
            step_seconds=clock.steps,
        )
        if updated:
            predictions_services.feedback_release(run)
    run.decision, run.reason = Decision.SKIPPED_UNCHANGED_DATA, reason
    logger.info("retrain_skipped_unchanged run=%s fingerprint=%s", run.pk, fingerprint[:12])
    return True


def prune_rejected_versions(*, keep: int | None = None) -> int:
    """Delete the files of rejected versions beyond the newest KEEP_REJECTED_VERSIONS.

    Their rows stay (every decision keeps its record); `files_pruned_at` says the files are
    gone, so that nobody tries to load them. Returns how many versions were pruned.
    """
    keep = settings.KEEP_REJECTED_VERSIONS if keep is None else keep
    rejected = ModelVersion.objects.filter(status=ModelVersion.Status.REJECTED).order_by("-version")
    doomed = list(
        rejected.filter(files_pruned_at__isnull=True).exclude(
            pk__in=list(rejected.values_list("pk", flat=True)[:keep])
        )
    )
    for version in doomed:
        for name in (version.artifact_path, version.reference_path):
            files.delete(files.ARTIFACTS, name)
        ModelVersion.objects.filter(pk=version.pk).update(files_pruned_at=timezone.now())
    if doomed:
        logger.info("rejected_versions_pruned versions=%s", [v.version for v in doomed])
    return len(doomed)


class Heartbeat:
    """Writes `heartbeat_at` of a running retrain every RETRAIN_HEARTBEAT_SECONDS, from a thread.

    A worker that dies stops beating; recover_stale_runs() then frees the slot within
    RETRAIN_HEARTBEAT_TIMEOUT instead of the 30-minute hard time limit. Inside a caller's
    transaction (an eager task, a test) the row is not visible to another connection, so no
    thread is started; the steps still beat from the main thread (_save).
    """

    def __init__(self, run_id: int):
        self.run_id = run_id
        self._stop = None
        self._thread = None

    def __enter__(self):
        import threading

        from django.db import connection

        if connection.in_atomic_block:
            return self
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="retrain-heartbeat", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info):
        if self._thread is not None:
            self._stop.set()
            self._thread.join(timeout=10)
        return False

    def _beat(self) -> None:
        from django.db import connection

        try:
            while not self._stop.wait(settings.RETRAIN_HEARTBEAT_SECONDS):
                try:
                    RetrainRun.objects.filter(pk=self.run_id, decision=Decision.RUNNING).update(
                        heartbeat_at=timezone.now()
                    )
                except Exception:  # a database hiccup: the next beat tries again
                    logger.warning("retrain_heartbeat_failed run=%s", self.run_id)
        finally:
            connection.close()


def _progress(run: RetrainRun):
    paused = []

    def progress(algorithm, result):
        logger.info(
            "retrain_candidate run=%s algorithm=%s fit_seconds=%.2f",
            run.pk,
            algorithm,
            result.fit_seconds,
        )
        pause = settings.RETRAIN_TEST_PAUSE_SECONDS
        if pause and not paused:  # the worker-kill test's window; 0 everywhere else
            paused.append(algorithm)
            time.sleep(pause)

    return progress


def merge_frames(reference: pd.DataFrame, production: pd.DataFrame) -> tuple[pd.DataFrame, int]:
    """Reference rows then production rows in the Kaggle schema, exact duplicates removed."""
    columns = [*FEATURE_NAMES, TARGET]
    parts = [frame.loc[:, columns] for frame in (reference, production) if len(frame)]
    if not parts:
        raise ValueError(
            "Nothing to train on: the reference dataset is empty and no production rows "
            "were claimed."
        )
    merged = pd.concat(parts, ignore_index=True)
    for name in NUMERIC_FEATURES:
        merged[name] = pd.to_numeric(merged[name], errors="coerce").astype("float64")
    merged[TARGET] = merged[TARGET].astype(bool)
    duplicated = merged.duplicated(keep="first")
    return merged.loc[~duplicated].reset_index(drop=True), int(duplicated.sum())


def _gate_entries(outcome, champion: ModelVersion | None, comparison) -> list[dict]:
    """The challenger and the model in service, side by side on the rows the gate compared."""
    if comparison.champion is None:
        return []
    common = {"gate": True, "rows": comparison.rows, "of": comparison.total}
    return [
        {
            "algorithm": outcome.winner.algorithm,
            "role": "challenger",
            "threshold": outcome.winner.threshold,
            "test": comparison.challenger,
            **common,
        },
        {
            "algorithm": champion.algorithm,
            "version": champion.version,
            "role": "in service",
            "in_service": True,
            "threshold": champion.threshold,
            "test": comparison.champion,
            "note": "; ".join(comparison.notes),
            **common,
        },
    ]


def _archive(production: pd.DataFrame, run: RetrainRun) -> str:
    """Export the claimed rows for audit (nothing is moved or deleted); the file's name."""
    if production.empty:
        return ""
    stamp = timezone.localtime().strftime("%Y%m%d_%H%M%S")
    data = production.to_csv(index=False, lineterminator="\n").encode()
    # Two runs finishing in the same second would share a name; files are never overwritten.
    for name in (f"{ARCHIVE_PREFIX}{stamp}.csv", f"{ARCHIVE_PREFIX}{stamp}_run{run.pk}.csv"):
        try:
            files.save_new(files.ARCHIVE, name, data)
            return name
        except FileExistsError:
            continue
    raise FileExistsError(f"archive {ARCHIVE_PREFIX}{stamp}_run{run.pk}.csv already exists")


def _swap(run: RetrainRun, promote: bool, clock: _Clock) -> None:
    """Record the decision and, on promotion, activate the new version: one transaction."""
    decision = Decision.PROMOTED if promote else Decision.REJECTED
    with transaction.atomic():
        current = ModelVersion.objects.select_for_update().filter(status="active").first()
        if promote and (current.pk if current else None) != run.champion_id:
            decision = Decision.REJECTED
            run.reason = (
                f"the model in service changed during the run (now "
                f"{f'v{current.version}' if current else 'none'}); the challenger was compared "
                f"with {f'v{run.champion.version}' if run.champion else 'none'}: not promoted"
            )
        run.finished_at = timezone.now()
        updated = RetrainRun.objects.filter(pk=run.pk, decision=Decision.RUNNING).update(
            decision=decision, reason=run.reason[:500], finished_at=run.finished_at
        )
        if updated != 1:
            raise RunTakenOver(f"retrain #{run.pk} is no longer running (marked failed meanwhile)")
        if decision == Decision.PROMOTED:
            services.model_activate(
                run.new_version, by=run.requested_by, reason=f"retrain #{run.pk}: {run.reason}"
            )
    run.decision = decision
    clock.lap("swap")
    RetrainRun.objects.filter(pk=run.pk).update(step_seconds=clock.steps)


def _fail(run: RetrainRun, exc: BaseException, step: str, clock: _Clock) -> None:
    clock.lap(f"{step} (failed)")
    run.decision, run.finished_at = Decision.FAILED, timezone.now()
    run.reason = f"failed during {step}: {type(exc).__name__}: {exc}"[:500]
    run.error = "".join(traceback.format_exception(exc))[-MAX_ERROR_CHARS:]
    try:
        with transaction.atomic():
            updated = RetrainRun.objects.filter(pk=run.pk, decision=Decision.RUNNING).update(
                decision=run.decision,
                reason=run.reason,
                error=run.error,
                finished_at=run.finished_at,
                step_seconds=clock.steps,
            )
            released = predictions_services.feedback_release(run) if updated else 0
    except Exception:  # the database itself failed: recovery will mark the run later
        logger.exception("retrain_failure_not_recorded run=%s", run.pk)
        return
    logger.error(
        "retrain_failed run=%s step=%s released=%s error=%s", run.pk, step, released, run.reason
    )


def recover_stale_runs(*, keep: int | None = None) -> list[int]:
    """Fail runs whose worker was lost, give their rows back; expire requests never picked up.

    A run cannot legitimately stay `running` longer than the hard time limit, and a queued
    request older than that lost its message.
    """
    limit = settings.CELERY_TASK_TIME_LIMIT
    silence = settings.RETRAIN_HEARTBEAT_TIMEOUT
    now = timezone.now()
    cutoff = now - timedelta(seconds=limit)
    quiet = now - timedelta(seconds=silence)
    recovered = []
    lost = RetrainRun.objects.filter(decision=Decision.RUNNING).filter(
        Q(started_at__lt=cutoff)
        | Q(heartbeat_at__lt=quiet)
        | Q(heartbeat_at__isnull=True, started_at__lt=quiet)
    )
    for run in lost:
        reason = (
            f"no heartbeat for {silence} s (RETRAIN_HEARTBEAT_TIMEOUT) or running longer than the "
            f"hard time limit ({limit} s): its worker was lost (killed, out of memory or "
            "restarted); claimed rows released"
        )
        with transaction.atomic():
            updated = RetrainRun.objects.filter(pk=run.pk, decision=Decision.RUNNING).update(
                decision=Decision.FAILED, reason=reason, error=reason, finished_at=now
            )
            released = predictions_services.feedback_release(run) if updated else 0
        if updated:
            logger.error("retrain_recovered run=%s released=%s", run.pk, released)
            recovered.append(run.pk)
            run.decision, run.reason, run.error, run.finished_at = "failed", reason, reason, now
            _notify(run)
    expired = (
        RetrainRun.objects.filter(decision=Decision.QUEUED, queued_at__lt=cutoff)
        .exclude(pk=keep)
        .update(
            decision=Decision.FAILED,
            reason=f"no worker picked the request up within {limit} s",
            finished_at=now,
        )
    )
    if expired:
        logger.warning("retrain_requests_expired count=%s", expired)
    return recovered


# --- Record keeping ------------------------------------------------------------------------------


class _Clock:
    def __init__(self):
        self.started = self.last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = round(now - self.last, 3)
        self.steps["total"] = round(now - self.started, 3)
        self.last = now


def _save(run: RetrainRun, clock: _Clock, *fields: str) -> None:
    """Progress on the row, so that the admin and the API show where a run is."""
    values = {name: getattr(run, name) for name in fields}
    RetrainRun.objects.filter(pk=run.pk, decision=Decision.RUNNING).update(
        step_seconds=clock.steps, heartbeat_at=timezone.now(), **values
    )


def _summary(run: RetrainRun) -> dict:
    return {
        "run": run.pk,
        "trigger": run.trigger,
        "decision": run.decision,
        "fired": triggers.fired(run.triggers or {}),
        "metric": run.selection_metric,
        "champion_version": run.champion.version if run.champion else None,
        "champion_score": run.champion_score,
        "challenger_score": run.challenger_score,
        "new_version": run.new_version.version if run.new_version else None,
        "algorithm": run.new_version.algorithm if run.new_version else None,
        "rows_reference": run.rows_reference,
        "rows_production": run.rows_production,
        "rows_merged": run.rows_merged,
        "duplicates_removed": run.duplicates_removed,
        "seconds": (run.step_seconds or {}).get("total"),
        "reason": run.reason,
    }


def _log_finished(run: RetrainRun) -> None:
    logger.info("retrain_finished %s", json.dumps(_summary(run), sort_keys=True, default=str))


def _notify(run: RetrainRun) -> None:
    """The log line, and the alert (promoted, rejected, failed), which the alert's channels
    deliver: e-mail to ADMINS and the webhook, one message per channel. Never raises."""
    from monitoring.alerts import after_retrain  # promoted/rejected/failed alert; never raises

    after_retrain(run)
    try:
        _log_finished(run)
    except Exception:
        logger.exception("retrain_notify_failed run=%s", run.pk)
