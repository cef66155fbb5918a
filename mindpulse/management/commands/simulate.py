"""Replay the MLOps loop over simulated days in minutes: predictions, labels, reports,
retrains, alerts and promotions, on a virtual clock.

Why: every part of the loop is tested on its own, but only a run over weeks shows whether it
retrains when the world changes and stays quiet when it does not. The real code runs; only
the clock and the broker are simulated (see mindpulse/simulator/run.py).

The run never touches the configured database's data: it creates a throw-away database
(Django's test-database machinery: `<name>_simulate_<pid>` on Postgres, a file under var/ on
SQLite), migrates it, and drops it at the end. --database-is-scratch runs in the configured
database itself instead, which must be a scratch copy: it refuses one holding predictions.
Writes timeline.jsonl, summary.json and index.html (charts) under --out.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.db import connection

from mindpulse.simulator import traffic
from mindpulse.simulator.run import Options, Refused, simulate


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--scenario", choices=traffic.SCENARIOS, default="stable")
        parser.add_argument("--days", type=_positive(int), default=90)
        parser.add_argument("--per-day", type=_positive(int), default=500)
        parser.add_argument("--feedback-rate", type=_fraction, default=0.10)
        parser.add_argument("--label-delay-days", type=_non_negative, default=0.0)
        parser.add_argument("--seed", type=int, default=0)
        parser.add_argument("--shift-day", type=_non_negative_int, default=30)
        parser.add_argument("--reference-rows", type=_positive(int), default=20000)
        parser.add_argument("--poison-per-day", type=_non_negative_int, default=None)
        parser.add_argument("--burst-rows", type=_positive(int), default=traffic.BURST_ROWS)
        parser.add_argument("--out", default=str(settings.BASE_DIR / "var" / "simulate"))
        parser.add_argument(
            "--reports-html",
            action="store_true",
            help="Also write Evidently's HTML for every report (REPORTS_HTML; off by default "
            "here: the figures and alerts come from the same Evidently run, only slower).",
        )
        parser.add_argument(
            "--database-is-scratch",
            action="store_true",
            help="Run in the configured database (a scratch copy) instead of a throw-away one.",
        )

    def handle(self, *args, verbosity, **o):
        options = Options(
            scenario=o["scenario"],
            days=o["days"],
            per_day=o["per_day"],
            feedback_rate=o["feedback_rate"],
            label_delay_days=o["label_delay_days"],
            seed=o["seed"],
            out=o["out"],
            shift_day=o["shift_day"],
            reference_rows=o["reference_rows"],
            poison_per_day=o["poison_per_day"],
            burst_rows=o["burst_rows"],
            allow_existing=False,
            reports_html=o["reports_html"],
        )
        progress = self._progress if verbosity else None
        # Stopped (Ctrl-C, a TERM, or SIGINT ignored by a background shell): unwind, so that
        # the throw-away database is dropped.
        for signum in (signal.SIGINT, signal.SIGTERM):
            signal.signal(signum, _stop)
        try:
            if o["database_is_scratch"]:
                result = simulate(options, progress=progress)
            else:
                with _throwaway_database(verbosity):
                    result = simulate(options, progress=progress)
        except Refused as exc:
            raise CommandError(str(exc)) from None
        if verbosity:
            sys.stderr.write("\n")
            if not o["reports_html"]:
                self.stdout.write(
                    "Reports ran without their Evidently HTML (REPORTS_HTML off; "
                    "--reports-html to write it)."
                )
            self._table(result.summary)
            self.stdout.write(f"Timeline: {Path(o['out']) / 'timeline.jsonl'}")
            self.stdout.write(f"Charts:   {Path(o['out']) / 'index.html'}")

    def _progress(self, done: int, total: int) -> None:
        width = 40
        filled = int(width * done / total)
        sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] day {done}/{total}")
        sys.stderr.flush()

    def _table(self, summary: dict) -> None:
        rows = [(k, v) for k, v in summary.items() if k not in ("email_subjects", "checks")]
        rows += [(f"check: {k}", v) for k, v in (summary.get("checks") or {}).items()]
        width = max(len(k) for k, _ in rows)
        for key, value in rows:
            shown = value if isinstance(value, str) else json.dumps(value, default=str)
            self.stdout.write(f"{key:<{width}}  {shown}")


class _throwaway_database:
    """Create, migrate and finally drop a database of its own (Django's test-DB machinery)."""

    def __init__(self, verbosity: int):
        self.verbosity = verbosity

    def __enter__(self):
        settings_dict = connection.settings_dict
        self.old_name = settings_dict["NAME"]
        test = settings_dict.setdefault("TEST", {})
        self.old_test_name = test.get("NAME")
        if connection.vendor == "sqlite":
            test["NAME"] = str(settings.BASE_DIR / "var" / f"simulate-{os.getpid()}.sqlite3")
        else:
            test["NAME"] = f"{self.old_name}_simulate_{os.getpid()}"
        if self.verbosity:
            self_name = test["NAME"]
            sys.stderr.write(f"Creating the throw-away database {self_name}…\n")
        connection.creation.create_test_db(verbosity=0, autoclobber=True, serialize=False)
        return self

    def __exit__(self, *exc_info):
        connection.creation.destroy_test_db(self.old_name, verbosity=0)
        connection.settings_dict["TEST"]["NAME"] = self.old_test_name
        return False


def _stop(signum, frame):
    raise KeyboardInterrupt(f"stopped by signal {signum}")


def _positive(kind):
    def parse(text):
        value = kind(text)
        if value <= 0:
            raise ValueError(text)
        return value

    parse.__name__ = f"positive {kind.__name__}"
    return parse


def _non_negative(text):
    value = float(text)
    if not value >= 0:
        raise ValueError(text)
    return value


def _non_negative_int(text):
    value = int(text)
    if value < 0:
        raise ValueError(text)
    return value


def _fraction(text):
    value = float(text)
    if not 0 <= value <= 1:
        raise ValueError(text)
    return value
