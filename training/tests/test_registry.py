import pytest
from django.db import IntegrityError, transaction

from training import services, serving
from training.models import ActivationEvent, ModelVersion

pytestmark = pytest.mark.django_db


def _row(features=None):
    return features or {
        "Age": 20,
        "Gender": "Female",
        "Department": "Arts",
        "CGPA": 2.1,
        "Sleep_Duration": 5.0,
        "Study_Hours": 4.0,
        "Social_Media_Hours": 3.0,
        "Physical_Activity": 30,
        "Stress_Level": 8,
    }


def test_it_lets_the_database_refuse_a_second_active_version(active_model, trained_outcome):
    other = services.model_register(trained_outcome)
    other.status = ModelVersion.Status.ACTIVE
    with pytest.raises(IntegrityError), transaction.atomic():
        other.save()


def test_it_numbers_versions_and_keeps_each_artifact(active_model, trained_outcome, settings):
    second = services.model_register(trained_outcome)
    assert second.version == active_model.version + 1
    assert second.artifact_path != active_model.artifact_path
    assert (settings.ARTIFACTS_DIR / active_model.artifact_path).exists()
    assert (settings.ARTIFACTS_DIR / second.artifact_path).exists()


def test_it_activates_and_rolls_back_with_a_record(active_model, trained_outcome):
    second = services.model_register(trained_outcome)
    services.model_activate(second, reason="promotion")
    assert serving.get_active_model().version == second.version
    services.model_activate(ModelVersion.objects.get(pk=active_model.pk), reason="rollback")
    active_model.refresh_from_db()
    second.refresh_from_db()
    assert active_model.status == "active" and second.status == "retired"
    assert serving.get_active_model().version == active_model.version
    reasons = list(ActivationEvent.objects.order_by("created_at").values_list("reason", flat=True))
    assert reasons == ["test fixture", "promotion", "rollback"]


def test_it_serves_the_probability_of_the_pipeline(active_model):
    import pandas as pd

    loaded = serving.get_active_model()
    expected = loaded.pipeline.predict_proba(pd.DataFrame([_row()]))[0, 1]
    assert loaded.predictor.predict_proba_one(_row()) == pytest.approx(expected, abs=1e-9)


def test_it_answers_none_without_an_active_version(db):
    assert serving.get_active_model() is None


@pytest.mark.parametrize("damage", ["flip", "truncate"])
def test_it_refuses_a_damaged_file_and_keeps_the_last_good_version(
    active_model, trained_outcome, settings, damage, caplog
):
    assert serving.get_active_model().version == active_model.version
    second = services.model_register(trained_outcome)
    path = settings.ARTIFACTS_DIR / second.artifact_path
    data = bytearray(path.read_bytes())
    if damage == "flip":
        data[len(data) // 2] ^= 0xFF
    else:
        data = data[: len(data) // 2]
    path.write_bytes(bytes(data))
    services.model_activate(second, reason="damaged on purpose")
    served = serving.get_active_model()
    assert served is not None and served.version == active_model.version
    assert "model_refused" in caplog.text


def test_it_refuses_a_damaged_file_at_start_up(active_model, settings):
    path = settings.ARTIFACTS_DIR / active_model.artifact_path
    path.write_bytes(path.read_bytes() + b"tail")
    assert serving.get_active_model() is None
