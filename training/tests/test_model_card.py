"""Every registered version carries its calibration, intervals and group table, and its model
card renders from them: a public page (English and French) and the admin's version page."""

from __future__ import annotations

import dataclasses

import pytest
from django.urls import reverse

from training import calibration, services
from training.models import ModelVersion
from training.uncertainty import INTERVAL_METRICS


def test_it_stores_brier_ece_intervals_reliability_and_groups(active_model, trained_outcome):
    version = ModelVersion.objects.get(pk=active_model.pk)
    assert version.metrics["brier"] == pytest.approx(trained_outcome.winner.test_metrics["brier"])
    assert version.metrics["ece"] == pytest.approx(trained_outcome.winner.test_metrics["ece"])
    assert set(version.intervals) == set(INTERVAL_METRICS)
    for metric in ("roc_auc", "recall", "brier", "ece"):
        cell = version.intervals[metric]
        assert cell["low"] < cell["high"], metric
    assert version.intervals["roc_auc"]["value"] == pytest.approx(version.metrics["roc_auc"])
    record = version.calibration
    assert record["bins"] == calibration.ECE_BINS and record["binning"] == "equal-width"
    assert sum(b["count"] for b in record["test_reliability"]) == version.metrics["n"]
    assert set(version.groups["features"]) == {"Gender", "Department"}
    departments = version.groups["features"]["Department"]["groups"]
    assert sum(row["n"] for row in departments) == version.metrics["n"]
    assert version.data_summary["splits"] == trained_outcome.split.sizes
    assert version.data_summary["ranges"]["Age"]["min"] >= 18


def test_it_computes_the_intervals_at_the_registered_threshold(db, trained_outcome):
    """A version registered at another threshold than its candidate's gets intervals (and a
    recall) for the threshold it will serve with, not the candidate's."""
    low = dataclasses.replace(trained_outcome.winner, threshold=1e-6)
    version = services.model_register(dataclasses.replace(trained_outcome, winner=low))
    assert version.intervals["recall"]["value"] == 1.0
    assert version.intervals["false_positive_rate"]["value"] == 1.0


def _page(client, version, language):
    client.cookies["django_language"] = language
    return client.get(reverse("training:model-card", args=[version.version]))


def test_it_renders_the_public_model_card_in_english(client, active_model):
    response = _page(client, active_model, "en")
    assert response.status_code == 200
    page = response.content.decode()
    assert f"model v{active_model.version}" in page
    assert "Out of scope" in page and "never says whether someone is depressed" in page
    assert 'data-testid="reliability-diagram"' in page
    assert f"{round(active_model.threshold * 100)}% or more" in page
    assert "Department" in page and "Engineering" in page
    assert "activated" in page and "test fixture" in page  # the history and its reason
    assert f"{active_model.data_fingerprint}" in page


def test_it_renders_the_public_model_card_in_french(client, active_model):
    page = _page(client, active_model, "fr").content.decode()
    assert "Comment cette estimation est faite" in page
    assert "Hors du champ d'usage" in page or "Hors du champ d&#x27;usage" in page
    assert "Diagramme de fiabilité" in page and "Filière" in page and "Ingénierie" in page
    assert "Intervalle à 95 %" in page
    assert "Out of scope" not in page and "How well it works" not in page


def test_it_answers_404_for_an_unknown_version(client, db):
    assert client.get(reverse("training:model-card", args=[999])).status_code == 404


def test_it_links_the_result_page_to_the_card_of_the_version_that_answered(client, active_model):
    from mindpulse.testing import SAMPLE_FEATURES
    from predictions import services as prediction_services

    prediction = prediction_services.prediction_create(dict(SAMPLE_FEATURES), channel="form")
    page = client.get(reverse("predictions:result", args=[prediction.pk])).content.decode()
    assert f'href="/models/v{active_model.version}/"' in page
    assert "How this estimate is made" in page


def test_it_shows_the_card_and_reliability_diagram_on_the_admin_version_page(
    admin_client, active_model
):
    url = reverse("admin:training_modelversion_change", args=[active_model.pk])
    page = admin_client.get(url).content.decode()
    assert 'data-testid="reliability-diagram"' in page and "<svg" in page
    assert 'data-testid="card-groups-Gender"' in page
    assert f'href="/models/v{active_model.version}/"' in page
