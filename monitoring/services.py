"""Writes of the monitoring app: one run of the three Evidently reports, and their retention.

The Celery task, the management command and the admin all call these functions and hold no
logic of their own. The reports themselves (Evidently calls, summaries) are the pure
functions of `monitoring.drift`; this module picks the data, records the rows and keeps the
HTML files in step with them.
"""

from __future__ import annotations

import io
import logging
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import pandas as pd
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from filestore import files
from predictions import selectors as prediction_selectors
from training import fairness
from training import selectors as training_selectors
from training.features import FEATURE_NAMES, TARGET
from training.models import ModelVersion

from . import cbpe, selectors
from .models import MonitoringReport, MonitoringRun

logger = logging.getLogger(__name__)

Kind = MonitoringReport.Kind
KINDS = (Kind.DATA_QUALITY, Kind.DATA_DRIFT, Kind.MODEL_PERFORMANCE)


class ReferenceFileError(Exception):
    """The reference file of the active version is missing or does not match its sha256."""


class Skip(Exception):
    """A report that cannot be computed honestly on this window (the message says why)."""

    def __init__(self, reason: str, summary: dict | None = None):
        super().__init__(reason)
        self.summary = summary or {}


@dataclass(frozen=True)
class RunInputs:
    version: ModelVersion
    reference: pd.DataFrame  # nine features, Depression, split, probability, prediction
    current: pd.DataFrame  # predictions.selectors.production_sample() of the window
    window_start: datetime
    window_end: datetime
    window_rows: int  # predictions in the window; `current` holds at most REPORT_MAX_ROWS


# --- One run -----------------------------------------------------------------------------------


def reports_run(*, trigger: str = "scheduled", task_id: str = "") -> MonitoringRun:
    """Run the three reports on the production window; return the run (see `run.reports`).

    At most one run at a time: the database's unique constraint on a `running` run decides,
    and a run that loses is recorded as `skipped`. A report that fails is recorded `failed`
    and the others still run. The returned run is where an alert hook can look afterwards.
    """
    _fail_abandoned_runs(task_id=task_id)
    run = _claim(trigger=trigger, task_id=task_id)
    if run.status == MonitoringRun.Status.SKIPPED:
        return run
    try:
        _run(run)
    except BaseException as exc:  # a soft time limit or a crash: never leave the slot taken
        _finish(run, MonitoringRun.Status.FAILED, error=f"{type(exc).__name__}: {exc}")
        raise
    from .alerts import after_reports  # drift, accuracy/F1, failed report...; never raises

    after_reports(run)
    return run


def _fail_abandoned_runs(*, task_id: str) -> None:
    """Free the slot of a run that can no longer be running.

    Celery kills a task at CELERY_TASK_TIME_LIMIT, so a row still `running` after that is a
    leftover of a killed worker. And with acks_late a task whose worker died is delivered
    again under the same id: its own earlier row is dead, not a concurrent run.
    """
    now = timezone.now()
    cutoff = now - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
    running = MonitoringRun.objects.filter(status=MonitoringRun.Status.RUNNING)
    stale = running.filter(started_at__lt=cutoff).update(
        status=MonitoringRun.Status.FAILED,
        finished_at=now,
        error="Abandoned: still running after the hard time limit (the worker was lost).",
    )
    redelivered = 0
    if task_id:
        redelivered = running.filter(task_id=task_id).update(
            status=MonitoringRun.Status.FAILED,
            finished_at=now,
            error="Interrupted: the task was delivered again (the worker was lost).",
        )
    if stale or redelivered:
        logger.warning("monitoring_runs_abandoned stale=%s redelivered=%s", stale, redelivered)


def _claim(*, trigger: str, task_id: str) -> MonitoringRun:
    try:
        with transaction.atomic():
            return MonitoringRun.objects.create(
                status=MonitoringRun.Status.RUNNING, trigger=trigger, task_id=task_id
            )
    except IntegrityError:
        other = MonitoringRun.objects.filter(status=MonitoringRun.Status.RUNNING).first()
        reason = "Another monitoring run is in progress"
        if other is not None:
            reason += f" (run #{other.pk}, started {other.started_at:%Y-%m-%d %H:%M:%S %Z})"
        logger.info("monitoring_run_skipped reason=%r", reason)
        return MonitoringRun.objects.create(
            status=MonitoringRun.Status.SKIPPED,
            trigger=trigger,
            task_id=task_id,
            reason=reason + ".",
            finished_at=timezone.now(),
        )


def _run(run: MonitoringRun) -> None:
    window_end = timezone.now()
    window_start = report_window_start(window_end)
    version = training_selectors.active_model_version()
    base = {"run": run, "window_start": window_start, "window_end": window_end}

    if version is None:
        reason = "No model version is active: there is no reference to compare with."
        for kind in KINDS:
            MonitoringReport.objects.create(
                **base, kind=kind, status=MonitoringReport.Status.SKIPPED, reason=reason
            )
        reports_prune()
        _finish(run, MonitoringRun.Status.SKIPPED, reason=reason)
        return

    base["model_version"] = version
    try:
        reference = load_reference(version)
    except ReferenceFileError as exc:
        for kind in KINDS:
            MonitoringReport.objects.create(
                **base, kind=kind, status=MonitoringReport.Status.FAILED, error=str(exc)
            )
        reports_prune()
        _finish(run, MonitoringRun.Status.FAILED, error=str(exc))
        return

    current, window_rows = prediction_selectors.production_sample(
        since=window_start, until=window_end, max_rows=settings.REPORT_MAX_ROWS
    )
    inputs = RunInputs(version, reference, current, window_start, window_end, window_rows)
    reports = [_report(run, inputs, kind, COMPUTE[kind]) for kind in KINDS]
    reports_prune()

    statuses = {r.status for r in reports}
    if MonitoringReport.Status.FAILED in statuses:
        failed = [r.kind for r in reports if r.status == MonitoringReport.Status.FAILED]
        _finish(run, MonitoringRun.Status.FAILED, error=f"Failed: {', '.join(failed)}.")
    elif statuses == {MonitoringReport.Status.SKIPPED}:
        _finish(run, MonitoringRun.Status.SKIPPED, reason=reports[0].reason)
    else:
        _finish(run, MonitoringRun.Status.OK)


def _finish(run: MonitoringRun, status: str, *, reason: str = "", error: str = "") -> None:
    run.status = status
    run.reason = reason[:500]
    run.error = error
    run.finished_at = timezone.now()
    run.save(update_fields=["status", "reason", "error", "finished_at"])
    logger.info("monitoring_run_finished run=%s status=%s", run.pk, status)


def report_window_start(window_end: datetime) -> datetime:
    """Where the current window starts.

    Since the end of the previous successful run's window, so that no prediction is missed
    between two runs, but at least REPORTS_WINDOW_HOURS back: a run six hours after the
    previous one still compares a full day of production with the reference.
    """
    floor = window_end - timedelta(hours=settings.REPORTS_WINDOW_HOURS)
    previous = selectors.last_successful_window_end()
    return floor if previous is None else min(previous, floor)


def load_reference(version: ModelVersion) -> pd.DataFrame:
    """The version's reference parquet, verified against its recorded sha256 before reading."""
    if not version.reference_path:
        raise ReferenceFileError(f"Model v{version.version} has no reference file.")
    try:
        data = files.read_verified(
            files.ARTIFACTS, version.reference_path, version.reference_sha256
        )
    except OSError as exc:
        raise ReferenceFileError(f"Reference file of v{version.version}: {exc}") from None
    except files.VerificationError as exc:
        raise ReferenceFileError(f"Reference file {exc} (v{version.version}).") from None
    frame = pd.read_parquet(io.BytesIO(data))
    missing = [c for c in (*FEATURE_NAMES, TARGET) if c not in frame.columns]
    if missing:
        raise ReferenceFileError(f"Reference of v{version.version} lacks {', '.join(missing)}.")
    return frame


# --- The three reports -------------------------------------------------------------------------


def _report(
    run: MonitoringRun, inputs: RunInputs, kind: str, compute: Callable
) -> MonitoringReport:
    """Compute one report and record it, whatever happens; a failure does not stop the run."""
    report = MonitoringReport(
        run=run,
        kind=kind,
        window_start=inputs.window_start,
        window_end=inputs.window_end,
        model_version=inputs.version,
    )
    relative = f"{kind}/{inputs.window_end:%Y%m%d-%H%M%S}-run{run.pk}.html"
    # Evidently writes to a local file; the reports storage receives it once it is complete.
    scratch = tempfile.TemporaryDirectory(prefix="mindpulse-report-")
    path = Path(scratch.name) / "report.html"
    started = time.perf_counter()
    try:
        # REPORTS_HTML off: the same Evidently run gives the figures, no HTML is rendered.
        html_path = str(path) if settings.REPORTS_HTML else None
        summary, reference_rows, current_rows = compute(inputs, html_path)
    except Skip as skip:
        report.status = MonitoringReport.Status.SKIPPED
        report.reason = str(skip)[:500]
        report.summary = skip.summary
        report.reference_rows = skip.summary.get("reference_rows", 0)
        report.current_rows = skip.summary.get("current_rows", 0)
    except SoftTimeLimitExceeded:
        # The hard limit follows soon: record this report, then stop the run.
        report.status = MonitoringReport.Status.FAILED
        report.error = "Stopped by the soft time limit (CELERY_TASK_SOFT_TIME_LIMIT)."
        report.duration_seconds = round(time.perf_counter() - started, 3)
        report.save()
        raise
    except Exception as exc:  # recorded on the row; the two other reports still run
        logger.exception("monitoring_report_failed run=%s kind=%s", run.pk, kind)
        report.status = MonitoringReport.Status.FAILED
        report.error = f"{type(exc).__name__}: {exc}"
    else:
        report.status = MonitoringReport.Status.OK
        report.summary = summary
        report.reference_rows = reference_rows
        report.current_rows = current_rows
        report.html_path = _store_html(path, relative, run, kind)
    finally:
        scratch.cleanup()
    report.summary = {**report.summary, **_window_counts(inputs, kind, report.summary)}
    report.duration_seconds = round(time.perf_counter() - started, 3)
    report.save()
    return report


def _store_html(path: Path, relative: str, run: MonitoringRun, kind: str) -> str:
    """Put the finished HTML into the reports storage; its name there, or "" without one."""
    if not path.exists():
        return ""
    try:
        files.save_path(files.REPORTS, relative, path)
    except Exception:  # the figures and alerts stand without the HTML
        logger.exception("monitoring_report_html_not_stored run=%s kind=%s", run.pk, kind)
        return ""
    return relative


def _window_counts(inputs: RunInputs, kind: str, summary: dict) -> dict:
    """`window_rows` (rows of the window) and `sampled_rows` (rows the report read, at most
    REPORT_MAX_ROWS); for the performance report, its labelled rows (set by the report)."""
    names = ("window_rows", "sampled_rows")
    if kind == MonitoringReport.Kind.MODEL_PERFORMANCE:
        return {k: summary[k] for k in names if k in summary}
    counts = {"window_rows": inputs.window_rows, "sampled_rows": len(inputs.current)}
    return {**counts, **{k: summary[k] for k in names if k in summary}}  # drift's lookback


def _require_production(inputs: RunInputs) -> None:
    if inputs.current.empty:
        start = timezone.localtime(inputs.window_start)
        end = timezone.localtime(inputs.window_end)
        raise Skip(
            f"No production predictions between {start:%Y-%m-%d %H:%M} and {end:%Y-%m-%d %H:%M}.",
            {"reference_rows": len(inputs.reference), "current_rows": 0},
        )


def _data_quality(inputs: RunInputs, html_path: str | None) -> tuple[dict, int, int]:
    from . import drift  # Evidently takes seconds to import: only where a report is made

    _require_production(inputs)
    summary = drift.data_quality(inputs.reference, inputs.current, html_path=html_path)
    return summary, len(inputs.reference), len(inputs.current)


def _data_drift(inputs: RunInputs, html_path: str | None) -> tuple[dict, int, int]:
    from . import drift  # Evidently takes seconds to import: only where a report is made

    _require_production(inputs)
    minimum = settings.DRIFT_MIN_ROWS
    current = inputs.current
    lookback = timedelta(hours=settings.DRIFT_LOOKBACK_HOURS)
    if len(current) < minimum and inputs.window_end - inputs.window_start < lookback:
        # Too few rows in the window: the latest DRIFT_MIN_ROWS predictions instead, if they
        # were made within DRIFT_LOOKBACK_HOURS (noise below that size would flag features).
        wider = prediction_selectors.production_frame(
            since=inputs.window_end - lookback, until=inputs.window_end
        )
        current = wider.tail(minimum) if len(wider) >= minimum else wider
    if len(current) < minimum:
        raise Skip(
            f"{len(current)} production predictions within {settings.DRIFT_LOOKBACK_HOURS} h; "
            f"at least {minimum} (DRIFT_MIN_ROWS) are needed, below which noise alone flags "
            "features.",
            {
                "reference_rows": len(inputs.reference),
                "current_rows": len(current),
                "sampled_rows": len(current),
                "min_rows": minimum,
            },
        )
    summary = drift.data_drift(
        inputs.reference, current, threshold=settings.DRIFT_THRESHOLD, html_path=html_path
    )
    summary["current_since"] = current["created_at"].min().isoformat()
    summary["sampled_rows"] = len(current)
    return summary, len(inputs.reference), len(current)


def _model_performance(inputs: RunInputs, html_path: str | None) -> tuple[dict, int, int]:
    """The active model on its labelled production predictions vs on its own test split.

    Only predictions made by the active version count: an older version's mistakes say
    nothing about the model in service (and would keep flagging it after a promotion).
    """
    from . import drift  # Evidently takes seconds to import: only where a report is made

    reference = performance_reference(inputs.reference)
    # By the time the label arrived, not the prediction: a feedback given days after its
    # prediction left the window still counts, in the window it arrived in.
    labelled, labelled_window = prediction_selectors.labelled_sample(
        since=inputs.window_start, until=inputs.window_end, max_rows=settings.REPORT_MAX_ROWS
    )
    if labelled.empty:
        _require_production(inputs)
    current = inputs.current
    if "model_version" in current:
        served = current.loc[current["model_version"] == inputs.version.version, "probability"]
    else:  # no prediction in the window: only late labels arrived in it
        served = current.iloc[0:0].get("probability", [])
    own = labelled[labelled["model_version"] == inputs.version.version]
    # Estimated on ALL of the version's predictions of the window, labelled or not, so the
    # figure exists every report, also when too few labels came back to compute the real one.
    estimated = cbpe.estimate(list(served), inputs.version.threshold)
    counts = {
        "reference_rows": len(reference),
        "current_rows": len(own),
        "labelled_rows": len(own),
        "labelled_other_versions": len(labelled) - len(own),
        # Labels that arrived in the window (all kept up to REPORT_MAX_ROWS) and those read.
        "window_rows": labelled_window,
        "sampled_rows": len(labelled),
        "min_labelled_rows": settings.MIN_LABELLED_ROWS,
        "model_version": inputs.version.version,
        "estimated": estimated,
    }
    if len(own) < settings.MIN_LABELLED_ROWS:
        raise Skip(
            f"{len(own)} labelled prediction(s) of model v{inputs.version.version} in the "
            f"window; at least {settings.MIN_LABELLED_ROWS} (MIN_LABELLED_ROWS) are needed.",
            counts,
        )
    if reference.empty:
        raise Skip("The reference file has no scored test rows to compare with.", counts)
    production = pd.DataFrame(
        {
            drift.TARGET_COLUMN: own["actual"].astype(int).to_numpy(),
            drift.PREDICTION_COLUMN: own["prediction"].astype(int).to_numpy(),
            drift.PROBABILITY_COLUMN: own["probability"].astype(float).to_numpy(),
            **{name: own[name].to_numpy() for name in fairness.GROUP_FEATURES},
        }
    )
    summary = drift.model_performance(
        reference,
        production,
        threshold=inputs.version.threshold,
        html_path=html_path,
        group_columns=fairness.GROUP_FEATURES,
    )
    summary.update({k: v for k, v in counts.items() if k != "current_rows"})
    summary["groups"] = fairness.group_table(
        own,
        own["actual"].astype(int).to_numpy(),
        own["probability"].astype(float).to_numpy(),
        inputs.version.threshold,
    )
    summary["max_group_recall_gap"] = settings.MAX_GROUP_RECALL_GAP
    return summary, len(reference), len(own)


def performance_reference(reference: pd.DataFrame) -> pd.DataFrame:
    """The model's own scores on its held-out test rows: target, prediction, probability."""
    from . import drift  # Evidently takes seconds to import: only where a report is made

    test = reference[(reference["split"] == "test") & reference["probability"].notna()]
    return pd.DataFrame(
        {
            drift.TARGET_COLUMN: test[TARGET].astype(int).to_numpy(),
            drift.PREDICTION_COLUMN: test["prediction"].astype(int).to_numpy(),
            drift.PROBABILITY_COLUMN: test["probability"].astype(float).to_numpy(),
        }
    )


COMPUTE = {
    Kind.DATA_QUALITY: _data_quality,
    Kind.DATA_DRIFT: _data_drift,
    Kind.MODEL_PERFORMANCE: _model_performance,
}


# --- Retention ---------------------------------------------------------------------------------


def reports_prune(*, keep: int | None = None) -> int:
    """Keep the `keep` (MAX_REPORTS) newest successful reports of each kind, and as many failed
    or skipped ones apart; delete the rest and their files.

    Counted apart, so that a run of failed or skipped reports (a quiet night, a broken
    reference file) never pushes the last good report out of the charts and the triggers.
    The files go only once the deletion is committed, so a rolled-back prune never leaves a
    row pointing at a deleted file.
    """
    keep = settings.MAX_REPORTS if keep is None else keep
    ok = MonitoringReport.Status.OK
    with transaction.atomic():
        doomed: list[int] = []
        for kind in KINDS:
            of_kind = MonitoringReport.objects.filter(kind=kind).order_by("-created_at", "-pk")
            for group in (of_kind.filter(status=ok), of_kind.exclude(status=ok)):
                doomed += list(group.values_list("pk", flat=True)[keep:])
        if not doomed:
            return 0
        rows = MonitoringReport.objects.filter(pk__in=doomed)
        paths = [p for p in rows.values_list("html_path", flat=True) if p]
        deleted, _ = rows.delete()
        transaction.on_commit(lambda: _delete_files(paths))
    logger.info("monitoring_reports_pruned rows=%s files=%s", deleted, len(paths))
    return deleted


def _delete_files(relative_paths: list[str]) -> None:
    for relative in relative_paths:
        name = selectors.report_name(relative)
        if name is None:
            logger.warning("monitoring_report_file_outside_reports_dir path=%r", relative)
            continue
        try:
            files.delete(files.REPORTS, name)  # already gone is fine
        except OSError:
            logger.exception("monitoring_report_file_not_deleted path=%s", name)
