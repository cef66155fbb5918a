"""Versions registered before issue 16 get their figures from their own reference file."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from training.models import ModelVersion


def _blank(version: ModelVersion) -> dict:
    before = {f: getattr(version, f) for f in ("intervals", "groups", "calibration")}
    metrics = {k: v for k, v in version.metrics.items() if k not in ("ece", "log_loss")}
    ModelVersion.objects.filter(pk=version.pk).update(
        intervals={}, groups={}, calibration={}, data_summary={}, metrics=metrics
    )
    return before


def test_it_fills_an_old_version_with_the_figures_a_new_one_gets(active_model):
    before = _blank(active_model)
    out = StringIO()
    call_command("backfill_model_evidence", "--dry-run", stdout=out)
    assert "would fill intervals, groups, calibration, metrics, data_summary" in out.getvalue()
    assert ModelVersion.objects.get(pk=active_model.pk).intervals == {}

    call_command("backfill_model_evidence", stdout=out)
    version = ModelVersion.objects.get(pk=active_model.pk)
    for metric in ("roc_auc", "recall", "brier"):
        assert version.intervals[metric] == pytest.approx(before["intervals"][metric]), metric
    assert version.groups == before["groups"]  # the same rows, scores and resamples
    assert version.calibration["test_ece"] == pytest.approx(before["calibration"]["test_ece"])
    assert version.metrics["ece"] == pytest.approx(active_model.metrics["ece"])
    assert version.data_summary["splits"] == active_model.data_summary["splits"]
    out = StringIO()
    call_command("backfill_model_evidence", stdout=out)
    assert out.getvalue() == ""  # nothing left to fill


def test_it_skips_a_version_whose_reference_file_was_tampered_with(active_model, settings):
    _blank(active_model)
    path = settings.ARTIFACTS_DIR / active_model.reference_path
    path.write_bytes(path.read_bytes() + b"x")
    err = StringIO()
    call_command("backfill_model_evidence", stderr=err, stdout=StringIO())
    assert "does not match its recorded sha256" in err.getvalue()
    assert ModelVersion.objects.get(pk=active_model.pk).intervals == {}
