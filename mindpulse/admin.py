"""Admin building blocks shared by the apps, and the note on the schedule set in code."""

import math

from django.contrib import admin
from django.core.paginator import Paginator
from django.db import connections, models
from django.utils import timezone
from django.utils.formats import date_format
from django.utils.functional import cached_property
from django.utils.html import format_html, format_html_join
from django.utils.translation import gettext

# --- JSON fields as tables -------------------------------------------------------------------

# Keys whose values in [0, 1] are shares of a whole: shown as percentages.
SHARE_WORDS = ("share", "rate", "fraction", "prevalence", "coverage")


def html_table(header, rows):
    """A plain admin table: `header` (None for none) and rows of cells, escaped."""
    head = (
        format_html(
            "<thead><tr>{}</tr></thead>",
            format_html_join("", "<th>{}</th>", ((h,) for h in header)),
        )
        if header
        else ""
    )
    body = format_html_join(
        "",
        "<tr>{}</tr>",
        ((format_html_join("", "<td>{}</td>", ((cell,) for cell in row)),) for row in rows),
    )
    return format_html('<table class="mp-json">{}<tbody>{}</tbody></table>', head, body)


def json_table(value, key: str = ""):
    """A JSON value as something readable: a dict as a two-column table (nested values as
    nested tables), a list of dicts as a table with a column per key, numbers with a sensible
    precision, shares as percentages."""
    if value is None or value == {} or value == []:
        return "—"
    if isinstance(value, dict):
        return html_table(None, [(_label(k), json_table(v, key=str(k))) for k, v in value.items()])
    if isinstance(value, list):
        if all(isinstance(item, dict) for item in value):
            columns = list(dict.fromkeys(k for item in value for k in item))
            rows = [[json_table(item.get(c), key=str(c)) for c in columns] for item in value]
            return html_table([_label(c) for c in columns], rows)
        if any(isinstance(item, (dict, list)) for item in value):
            return html_table(None, [(json_table(item, key=key),) for item in value])
        return ", ".join(json_table(item, key=key) for item in value)
    return number_text(value, key)


def number_text(value, key: str = "") -> str:
    """A number for a reader: booleans as yes / no, shares as percentages, floats rounded by
    their size (17 digits say nothing more than 3)."""
    if isinstance(value, bool):
        return gettext("yes") if value else gettext("no")
    if isinstance(value, int):
        return f"{value:,}".replace(",", "\u202f")
    if not isinstance(value, float):
        return str(value)
    if math.isnan(value) or math.isinf(value):
        return str(value)
    if 0 <= value <= 1 and any(word in key.lower() for word in SHARE_WORDS):
        return f"{value:.1%}"
    size = abs(value)
    if size >= 1000:
        return f"{value:,.0f}".replace(",", "\u202f")
    if size >= 10:
        return f"{value:.1f}"
    return f"{value:.3f}"


def short_datetime(value) -> str:
    """A date and time in the active language's short format (a list column stays narrow)."""
    if value is None:
        return "—"
    return date_format(timezone.localtime(value), "SHORT_DATETIME_FORMAT")


def _label(key) -> str:
    return str(key).replace("_", " ")


def json_display(field):
    """An admin display method showing `field` (a JSONField) as a table."""

    def show(obj):
        return json_table(getattr(obj, field.name))

    show.short_description = field.verbose_name
    return show


class JsonTablesMixin:
    """Every JSONField of the model shown as a table on its page, not as a JSON wall: the
    field `x` is replaced by the display method `x_table` (an admin may define its own)."""

    def __init__(self, model, admin_site):
        super().__init__(model, admin_site)
        self._json_tables = {}
        for field in model._meta.get_fields():
            if isinstance(field, models.JSONField):
                name = f"{field.name}_table"
                if not hasattr(self, name):
                    setattr(self, name, json_display(field))
                self._json_tables[field.name] = name
        self.readonly_fields = (
            *self.readonly_fields,
            *(name for name in self._json_tables.values() if name not in self.readonly_fields),
        )

    def _tables_for(self, names, request, obj):
        # An excluded JSON field (e.g. answers a user may not see) gets no table either.
        hidden = {
            self._json_tables[n]
            for n in self.get_exclude(request, obj) or ()
            if n in self._json_tables
        }
        shown = (self._json_tables.get(name, name) for name in names)
        return [name for name in dict.fromkeys(shown) if name not in hidden]

    def get_fields(self, request, obj=None):
        return self._tables_for(super().get_fields(request, obj), request, obj)

    def get_fieldsets(self, request, obj=None):
        return [
            (title, {**options, "fields": self._tables_for(options["fields"], request, obj)})
            for title, options in super().get_fieldsets(request, obj)
        ]


# --- Admin classes ---------------------------------------------------------------------------


class ReadOnlyAdmin(JsonTablesMixin, admin.ModelAdmin):
    """Rows that are an audit trail: staff may look, nobody edits them through the admin.
    Their JSON fields read as tables (JsonTablesMixin, at the end of this module)."""

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
