"""Retention: personal data past its days removed, erased predictions purged from copies.

One function, retention_run(), serves the daily beat task (privacy.tasks.retention) and
`manage.py privacy_retention`. What it does, each step counted in RetentionRun.actions:

* answers of predictions without feedback older than RETENTION_DAYS_RAW, and of labelled
  predictions (their feedback deleted) older than RETENTION_DAYS_LABELLED, are removed: the
  row stays as a minimal row (time, estimate, model version), so the per-day counts and the
  monitoring summaries stay right;
* retrain archives (ARCHIVE_DIR) and exports (EXPORTS_DIR) older than RETENTION_DAYS_ARCHIVES
  are deleted; in the younger ones, the rows of erased predictions are removed;
* Evidently HTML files (which embed the rows of their window) are deleted when their window
  is older than RETENTION_DAYS_RAW or holds an erased prediction; the report's summary (the
  aggregates) stays.
"""

from __future__ import annotations

import csv
import io
import logging
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from filestore import files
from filestore.local import SettingDirStorage
from monitoring import selectors as monitoring_selectors
from monitoring.models import MonitoringReport
from predictions.models import Feedback, Prediction
from training.features import FEATURE_NAMES
from training.selectors import FIELD_OF

from .models import Erasure, RetentionRun

logger = logging.getLogger(__name__)

ID_COLUMNS = ("prediction_id",)  # the archives' and prod_data.csv's id column
_STRIPPED = {**{FIELD_OF[name]: None for name in FEATURE_NAMES}, "warnings": []}


def retention_run(*, dry_run: bool = False) -> RetentionRun:
    """Apply the retention settings now; the RetentionRun row says what was removed."""
    run = RetentionRun.objects.create(dry_run=dry_run)
    now = timezone.now()
    try:
        actions = _apply(now, dry_run=dry_run)
    except Exception as exc:
        RetentionRun.objects.filter(pk=run.pk).update(
            status=RetentionRun.Status.FAILED,
            error=f"{type(exc).__name__}: {exc}"[:8000],
            finished_at=timezone.now(),
        )
        logger.exception("retention_failed run=%s", run.pk)
        raise
    run.status, run.actions, run.finished_at = RetentionRun.Status.OK, actions, timezone.now()
    run.save(update_fields=["status", "actions", "finished_at"])
    logger.info("retention_finished run=%s dry_run=%s %s", run.pk, dry_run, _summary(actions))
    return run


def _summary(actions: dict) -> str:
    return " ".join(f"{key}={value}" for key, value in actions.items() if isinstance(value, int))


def _apply(now: datetime, *, dry_run: bool) -> dict:
    raw_cutoff = now - timedelta(days=settings.RETENTION_DAYS_RAW)
    labelled_cutoff = now - timedelta(days=settings.RETENTION_DAYS_LABELLED)
    files_cutoff = now - timedelta(days=settings.RETENTION_DAYS_ARCHIVES)
    pending = list(Erasure.objects.filter(purged_at__isnull=True))
    erased = {str(e.prediction_id) for e in pending}
    actions: dict = {}
    with transaction.atomic():
        actions.update(_expire_answers(raw_cutoff, labelled_cutoff, dry_run=dry_run))
        report_paths = _expire_report_files(raw_cutoff, pending, dry_run=dry_run, actions=actions)
        if not dry_run:
            Erasure.objects.filter(pk__in=[e.pk for e in pending]).update(purged_at=now)
            transaction.on_commit(lambda: _unlink_reports(report_paths))
    actions["erasures_purged"] = 0 if dry_run else len(pending)
    # Exports are written on this host by an operator's command: a folder, not a storage.
    exports = SettingDirStorage("EXPORTS_DIR")
    for label, storage in (("archives", files.storage(files.ARCHIVE)), ("exports", exports)):
        deleted, purged_rows, without_ids = _expire_files(
            storage, files_cutoff, erased, dry_run=dry_run
        )
        actions[f"{label}_deleted"] = deleted
        actions[f"{label}_rows_purged"] = purged_rows
        if without_ids:
            actions[f"{label}_without_ids"] = without_ids
    return actions


def _expire_answers(raw_cutoff, labelled_cutoff, *, dry_run: bool) -> dict:
    with_answers = Prediction.objects.filter(age__isnull=False)
    unlabelled = with_answers.filter(created_at__lt=raw_cutoff, feedback__isnull=True)
    labelled = with_answers.filter(created_at__lt=labelled_cutoff, feedback__isnull=False)
    labelled_ids = list(labelled.values_list("pk", flat=True))
    if dry_run:
        return {"answers_removed": unlabelled.count(), "labelled_removed": len(labelled_ids)}
    feedback_deleted, _ = Feedback.objects.filter(prediction_id__in=labelled_ids).delete()
    unlabelled_removed = unlabelled.update(**_STRIPPED)
    labelled_removed = Prediction.objects.filter(pk__in=labelled_ids).update(**_STRIPPED)
    return {
        "answers_removed": unlabelled_removed,
        "labelled_removed": labelled_removed,
        "feedback_deleted": feedback_deleted,
    }


def _expire_report_files(raw_cutoff, pending, *, dry_run: bool, actions: dict) -> list[str]:
    """Reports whose HTML holds expired or erased rows: their file goes, the summary stays."""
    condition = Q(window_end__lt=raw_cutoff)
    for erasure in pending:
        condition |= Q(window_start__lte=erasure.predicted_at, window_end__gt=erasure.predicted_at)
    reports = MonitoringReport.objects.exclude(html_path="").filter(condition)
    paths = list(reports.values_list("html_path", flat=True))
    actions["report_files_deleted"] = len(paths)
    if not dry_run and paths:
        reports.update(html_path="")
    return [] if dry_run else paths


def _unlink_reports(paths: list[str]) -> None:
    for relative in paths:
        name = monitoring_selectors.report_name(relative)
        if name is not None:
            files.delete(files.REPORTS, name)


def _expire_files(
    storage, cutoff: datetime, erased: set[str], *, dry_run: bool
) -> tuple[int, int, int]:
    """(files deleted, erased rows removed, CSV files without an id column) in `storage`."""
    deleted = purged = without_ids = 0
    for name in sorted(files.walk(storage)):
        if files.modified_at(storage, name) < cutoff:
            deleted += 1
            if not dry_run:
                files.delete(storage, name)
            continue
        if erased and name.endswith(".csv"):
            removed = _purge_csv(storage, name, erased, dry_run=dry_run)
            if removed is None:
                without_ids += 1
            else:
                purged += removed
    return deleted, purged, without_ids


def _purge_csv(storage, name: str, erased: set[str], *, dry_run: bool) -> int | None:
    """Rewrite the CSV without the rows of erased predictions; None when it has no id column.

    The file keeps its age (files.replace): a purge must not extend its retention.
    """
    text = files.read_bytes(storage, name).decode()
    reader = csv.reader(io.StringIO(text, newline=""))
    header = next(reader, None)
    column = next((header.index(c) for c in ID_COLUMNS if header and c in header), None)
    if column is None:
        return None
    rows = list(reader)
    kept = [row for row in rows if len(row) <= column or row[column] not in erased]
    removed = len(rows) - len(kept)
    if removed and not dry_run:
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(kept)
        files.replace(storage, name, buffer.getvalue().encode())
    return removed
