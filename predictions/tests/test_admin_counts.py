"""Admin list pages of the big tables do not COUNT(*) the whole table (Postgres estimates)."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from mindpulse.admin import EstimatedCountPaginator
from training.tests.conftest import add_labelled

pytestmark = pytest.mark.django_db


def _counts(queries, table):
    return [q["sql"] for q in queries if "COUNT(" in q["sql"].upper() and table in q["sql"]]


@pytest.mark.services
@pytest.mark.parametrize("model", ["prediction", "feedback"])
def test_it_lists_a_big_table_without_counting_it(admin_client, active_model, monkeypatch, model):
    if connection.vendor != "postgresql":
        pytest.skip("Estimated counts come from Postgres' statistics (SQLite counts exactly).")
    add_labelled(30, seed=71)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE predictions_{model}")
    monkeypatch.setattr(EstimatedCountPaginator, "EXACT_BELOW", 1)  # 30 rows count as big

    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(f"admin:predictions_{model}_changelist"))
    assert response.status_code == 200
    assert _counts(queries.captured_queries, f"predictions_{model}") == []
    assert "30 " in response.content.decode()  # the estimate ANALYZE made: all 30 rows


def test_it_counts_a_filtered_or_small_list_exactly(admin_client, active_model):
    add_labelled(12, seed=72)
    url = reverse("admin:predictions_feedback_changelist")
    with CaptureQueriesContext(connection) as queries:
        assert admin_client.get(url).status_code == 200
        assert admin_client.get(url, {"actual__exact": "1"}).status_code == 200
    assert len(_counts(queries.captured_queries, "predictions_feedback")) == 2
