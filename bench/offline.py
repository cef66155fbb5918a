"""Steps without HTTP load: training (5), the model's own cost (2), the reports (6)."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

from . import data
from .stats import summaries

CANDIDATE = re.compile(r"^\s+(\w+)\s+fit\s+([\d.]+)s\s+roc_auc\s+([\d.]+)", re.M)


def train(bench) -> None:
    """`manage.py train` on the reference rows, --runs times: wall, memory, sizes, ROC AUC."""
    from django.conf import settings

    from training.models import ModelVersion

    runs = []
    for _ in range(bench.args.runs):
        result = bench.manage("train")
        version = ModelVersion.objects.order_by("-version").first()
        reference = Path(settings.ARTIFACTS_DIR) / version.reference_path
        run = {
            "wall_seconds": result["seconds"],
            "peak_mb": result["peak_mb"],
            "winner": version.algorithm,
            "artifact_mb": version.artifact_size / 1e6,
            "reference_parquet_mb": reference.stat().st_size / 1e6,
            "train_rows": version.train_rows,
        }
        for candidate in version.candidates:
            name = candidate["algorithm"]
            run[f"{name}_fit_seconds"] = candidate["fit_seconds"]
            run[f"{name}_roc_auc"] = candidate["test"]["roc_auc"]
        runs.append(run)
    keys = sorted({key for run in runs for key in run if key not in ("winner",)})
    figures = summaries(runs, keys)
    figures["winners"] = [run["winner"] for run in runs]
    bench.record("train", figures)


def model(bench) -> None:
    """The three candidates' files and their own cost, in a child process (one run: its
    timings are themselves medians over thousands of calls)."""
    found = bench.child("candidates")
    found.pop("_run")
    bench.record("model", found)


def reports(bench) -> None:
    """`manage.py run_reports` with the reference rows and 10,000 labelled current rows."""
    from monitoring.models import MonitoringRun
    from training import serving

    current = _load_current(bench, rows=10_000)
    runs = []
    for _ in range(bench.args.runs):
        result = bench.manage("run_reports")
        run = MonitoringRun.objects.order_by("-pk").first()
        figures = {
            "process_seconds": result["seconds"],
            "run_seconds": (run.finished_at - run.started_at).total_seconds(),
            "peak_mb": result["peak_mb"],
        }
        for report in run.reports.all():
            figures[f"{report.kind}_seconds"] = report.duration_seconds
            figures[f"{report.kind}_status"] = report.status
            figures["reference_rows"] = report.reference_rows
            figures["current_rows"] = report.current_rows
        runs.append(figures)
    numeric = sorted({k for run in runs for k, v in run.items() if isinstance(v, int | float)})
    figures = summaries(runs, numeric)
    figures["statuses"] = sorted({v for run in runs for k, v in run.items() if "status" in k})
    figures["loaded_current_rows"] = current
    figures["model_version"] = serving.get_active_model().version
    bench.record("reports", figures)


def _load_current(bench, *, rows: int) -> int:
    """`rows` predictions of the last hour, scored by the model in service, each with its
    (unconsumed) feedback: the reports' current window and the retrain's production rows."""
    from django.utils import timezone

    from training import serving

    loaded = serving.get_active_model()
    frame = data.student_rows(rows, seed=2)
    created_at = timezone.now() - timedelta(minutes=30)
    ids = data.copy_predictions(frame, loaded, created_at=created_at, channel="api")
    data.copy_feedback(ids, data.labelled(frame), created_at=created_at, consumed_by_id=None)
    return len(ids)
