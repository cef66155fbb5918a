"""The staff listing of predictions reads as a sentence: percentages, labelled estimates."""

from __future__ import annotations

import pytest

from predictions import services
from predictions.models import Prediction

pytestmark = pytest.mark.django_db


def test_it_lists_predictions_as_percentages_and_labelled_estimates(
    admin_client, active_model, features
):
    stored = services.prediction_create(features, channel=Prediction.Channel.API)

    content = admin_client.get("/admin/predictions/prediction/").content.decode()

    assert f"{stored.probability:.1%}" in content
    assert repr(stored.probability) not in content  # no 17-digit floats
    assert (
        f'<td class="field-estimate">{"at risk" if stored.label else "not at risk"}</td>' in content
    )
    assert str(stored.pk)[:8] in content and "MindPulse · administration" in content


def test_it_translates_the_column_titles_in_french(admin_client, active_model, features):
    services.prediction_create(features, channel=Prediction.Channel.API)

    response = admin_client.get("/admin/predictions/prediction/", HTTP_ACCEPT_LANGUAGE="fr")

    content = response.content.decode()
    assert "Risque" in content and "Estimation" in content and "Latence" in content
