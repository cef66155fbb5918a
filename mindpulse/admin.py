"""Admin building blocks shared by the apps, and the note on the schedule set in code."""

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections
from django.utils.functional import cached_property


class ReadOnlyAdmin(admin.ModelAdmin):
    """Rows that are an audit trail: staff may look, nobody edits them through the admin."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False

    def has_delete_permission(self, request, obj=None):
        return False


class EstimatedCountPaginator(Paginator):
    """A paginator that does not COUNT(*) a whole big table on every admin list page.

    Unfiltered, on Postgres, the count is the planner's estimate (pg_class.reltuples, kept by
    autovacuum and ANALYZE) once it is above EXACT_BELOW rows; a filtered list, a small table
    or another database counts exactly. At 10 million predictions the exact count alone takes
    seconds; the page then shows "about" that many rows, which is all a list page needs.
    """

    EXACT_BELOW = 100_000

    @cached_property
    def count(self):
        query = getattr(self.object_list, "query", None)
        if query is not None and not query.where and not query.distinct:
            estimate = _estimated_rows(self.object_list.db, self.object_list.model)
            if estimate is not None and estimate >= self.EXACT_BELOW:
                return estimate
        return super().count


def _estimated_rows(using: str, model) -> int | None:
    connection = connections[using]
    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT reltuples::bigint FROM pg_class WHERE oid = to_regclass(%s)",
            [model._meta.db_table],
        )
        row = cursor.fetchone()
    # -1 (never analysed) or a missing table: count exactly.
    return int(row[0]) if row and row[0] is not None and row[0] >= 0 else None


class BigTableAdmin(ReadOnlyAdmin):
    """Read-only listings of tables that grow without bound (predictions, feedback)."""

    paginator = EstimatedCountPaginator
    show_full_result_count = False


# The periodic-task admin of django-celery-beat, with a note on the entries set in code.
from . import beat_admin  # noqa: E402,F401
