"""Tests of `manage.py run_reports`."""

from __future__ import annotations

from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from monitoring.models import MonitoringReport, MonitoringRun

from .conftest import shift, students

pytestmark = pytest.mark.django_db

Kind = MonitoringReport.Kind


def run_command(verbosity: int = 1) -> str:
    out = StringIO()
    call_command("run_reports", verbosity=verbosity, stdout=out)
    return out.getvalue()


def test_it_runs_the_reports_and_prints_the_headline_numbers(make_predictions, settings):
    settings.DRIFT_THRESHOLD = 0.2
    make_predictions(shift(students(500, seed=41)), labelled=100)

    output = run_command()

    run = MonitoringRun.objects.get()
    assert run.trigger == "command"
    reports = {r.kind: r for r in run.reports.all()}
    drift, performance = reports[Kind.DATA_DRIFT].summary, reports[Kind.MODEL_PERFORMANCE].summary
    assert output.startswith(f"Monitoring run #{run.pk}: ok, window ")
    assert f"drift share {drift['drift_share']:.2f} > 0.20? DATASET DRIFT" in output
    assert "drifted: " + ", ".join(drift["drifted_features"]) in output
    assert "Sleep_Duration" in output and "Stress_Level" in output
    current = performance["current"]
    assert f"accuracy {current['accuracy']:.3f}" in output
    assert f"F1 {current['f1']:.3f}" in output
    assert "on 100 labelled predictions" in output
    assert "500 rows vs 3000 reference" in output
    assert "Wasserstein" not in output  # per-feature lines only with -v 2


def test_it_prints_the_details_at_verbosity_two(make_predictions):
    make_predictions(students(300, seed=42))

    output = run_command(verbosity=2)

    assert "Wasserstein distance (normed)" in output
    assert "HTML: data_drift/" in output
    assert "at least 30 (MIN_LABELLED_ROWS)" in output


def test_it_prints_the_skip_reasons(active_model):
    output = run_command()

    assert output.count("skipped  No production predictions between") == 3


def test_it_prints_nothing_at_verbosity_zero(active_model):
    assert run_command(verbosity=0) == ""
    assert MonitoringRun.objects.count() == 1


def test_it_says_when_another_run_is_in_progress(active_model):
    MonitoringRun.objects.create(status=MonitoringRun.Status.RUNNING)

    output = run_command()

    assert "skipped" in output
    assert "Another monitoring run is in progress" in output


def test_it_fails_when_the_run_fails(active_model, settings):
    path = Path(settings.ARTIFACTS_DIR) / active_model.reference_path
    path.write_bytes(b"not the reference")

    with pytest.raises(CommandError, match="sha256"):
        run_command(verbosity=0)
