"""The MLOps loop replayed on a virtual clock: `simulate(options)` (and `manage.py simulate`).

Everything that runs is the real code: the prediction and feedback services (and, for the
poisoning client, the public feedback endpoint), the reports task, the retrain task, the
alert check and the alert deliveries, promotion and the serving hot-swap. Only two things are
simulated:

* the clock: time-machine moves it from event to event, so `timezone.now()`, `auto_now_add`
  and every window see simulated time, and beat's crontabs (REPORTS_SCHEDULE,
  RETRAIN_SCHEDULE, ALERT_CHECK_SCHEDULE) fire at their simulated minutes;
* the broker: a task message (the feedback's retrain request, an alert delivery) is run in
  this process: a retrain request at the next simulated quarter hour, as an idle worker
  would, and deliveries at once (Celery's eager mode). Nothing reaches a real broker, and
  e-mail goes to Django's in-memory backend, where the messages are counted.

It writes into the database it is given and refuses one that already holds predictions
(`allow_existing` overrides); `manage.py simulate` gives it a throw-away database.
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from training.features import FEATURE_NAMES, TARGET

from . import traffic
from .traffic import START

CLEAN_ROWS = 5000  # held-out students scored at every activation (the poisoning check)
ADMIN_ADDRESS = "simulation-admin@example.org"
POISONER_ADDRESS = "203.0.113.66"  # TEST-NET-3: one client, one address


class Refused(Exception):
    """The database holds production data: the simulator will not write into it."""


@dataclass
class Options:
    scenario: str = "stable"
    days: int = 90
    per_day: int = 500
    feedback_rate: float = 0.10
    label_delay_days: float = 0.0
    seed: int = 0
    out: str = "var/simulate"
    shift_day: int = 30
    reference_rows: int = 20000
    poison_per_day: int | None = None  # default: as many as the day's honest predictions
    burst_rows: int = traffic.BURST_ROWS
    allow_existing: bool = False
    # Evidently's HTML (plotly figures) is most of a report's time; the figures, alerts and
    # triggers come from the same Evidently run either way. Off by default in the simulator.
    reports_html: bool = False


@dataclass
class Result:
    options: Options
    summary: dict
    events: list[dict] = field(default_factory=list)
    out: Path | None = None


def simulate(options: Options, *, progress: Callable[[int, int], None] | None = None) -> Result:
    """Run the scenario; write timeline.jsonl, summary.json and index.html under options.out."""
    from predictions.models import Prediction

    if options.scenario not in traffic.SCENARIOS:
        raise ValueError(f"unknown scenario {options.scenario!r}; one of {traffic.SCENARIOS}")
    if Prediction.objects.exists() and not options.allow_existing:
        raise Refused(
            "The database already holds predictions: the simulator writes thousands of rows "
            "and would mix them with real ones. Run `manage.py simulate` (it creates and drops "
            "its own database), or pass --database-is-scratch if this one is a scratch copy."
        )
    out = Path(options.out)
    out.mkdir(parents=True, exist_ok=True)
    loop = _Loop(options, out, progress)
    started = time.perf_counter()
    with loop.environment():
        loop.run()
    loop.summary["wall_seconds"] = round(time.perf_counter() - started, 1)
    loop.finish()
    return Result(options, loop.summary, loop.recorder.events, out)


# --- The loop ------------------------------------------------------------------------------------


class _Loop:
    def __init__(self, options: Options, out: Path, progress):
        self.o = options
        self.out = out
        self.progress = progress
        self.rng = np.random.default_rng(options.seed)
        self.scenario = traffic.Scenario(options.scenario, options.shift_day)
        self.recorder = _Recorder(out / "timeline.jsonl")
        self.truth: dict = {}  # prediction id -> true outcome (what the world decided)
        self.pending_labels: list[tuple[datetime, int, object, bool]] = []  # a heap
        self.sequence = itertools.count()
        self.sent: list[tuple[datetime, int]] = []  # (due, run id) of messages that "left"
        self.messages = {"retrain": 0, "poison_posts": 0, "poison_throttled": 0}
        self.summary: dict = {}
        self.clean: pd.DataFrame | None = None

    @property
    def artifacts_dir(self) -> Path:
        return self.out / "artifacts"

    @contextlib.contextmanager
    def environment(self):
        import time_machine
        from django.core import mail
        from django.test import override_settings

        from mindpulse.celery import app
        from training import retrain, serving

        overrides = {
            "ARTIFACTS_DIR": self.artifacts_dir,
            "REPORTS_DIR": self.out / "reports",
            "REPORTS_HTML": self.o.reports_html,
            "ARCHIVE_DIR": self.out / "archive",
            "MODEL_CACHE_DIR": self.out / "model-cache",
            "EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend",
            "ADMINS": [("Simulation", ADMIN_ADDRESS)],
            "ALERT_WEBHOOK_URL": "",
            "ACTIVE_MODEL_CHECK_SECONDS": 0,  # the hot swap is seen by the next prediction
            "RETRAIN_NICE": 0,  # the simulator's own process must keep its priority
            "THROTTLE_ENABLED": True,  # the poisoning client meets the default rate limit
            "THROTTLE_REDIS_URL": "",  # counters in this process, on the simulated clock
            "ALLOWED_HOSTS": ["testserver"],
        }
        previous_eager = app.conf.task_always_eager, app.conf.task_eager_propagates
        real_send = retrain._send
        mail.outbox = []
        with override_settings(**overrides), time_machine.travel(START, tick=False) as clock:
            self.clock = clock
            app.conf.task_always_eager, app.conf.task_eager_propagates = True, False
            retrain._send = lambda run, countdown=0: self.sent.append(
                (_now() + timedelta(seconds=countdown or 0), run.pk)
            )
            serving.reset_cache()
            try:
                yield
            finally:
                retrain._send = real_send
                app.conf.task_always_eager, app.conf.task_eager_propagates = previous_eager
                serving.reset_cache()
                self.summary["emails"] = len(mail.outbox)
                self.summary["email_subjects"] = [m.subject for m in mail.outbox][:200]

    # --- set-up -------------------------------------------------------------------------------

    def setup(self) -> None:
        from training import services

        self.clock.move_to(START - timedelta(days=1))
        services.dataset_generate(rows=self.o.reference_rows, seed=self.o.seed + 1)
        version = services.model_train_initial()
        self.clean = traffic.students(CLEAN_ROWS, np.random.default_rng(self.o.seed + 2))
        self.recorder.emit(
            "setup",
            reference_rows=self.o.reference_rows,
            version=version.version,
            algorithm=version.algorithm,
            test_metrics={k: version.metrics.get(k) for k in ("accuracy", "f1", "roc_auc")},
            options=asdict(self.o),
            reports_html=self.o.reports_html,
        )
        self.collect()

    def schedules(self) -> dict:
        """Beat's periodic tasks as beat starts them: CELERY_BEAT_SCHEDULE of the run's settings
        written into django-celery-beat's rows (mindpulse.beat.rows_write, what beat does at
        start), and each row's crontab read back, as beat reads it.
        """
        from mindpulse.beat import rows_write
        from monitoring import task_names as monitoring_tasks
        from training import task_names as training_tasks

        names = {
            "reports": monitoring_tasks.REPORTS_ENTRY,
            "retrain": training_tasks.RETRAIN_ENTRY,
            "check_alerts": monitoring_tasks.CHECK_ALERTS_ENTRY,
        }
        rows = rows_write()
        found = {key: rows[name].crontab.schedule for key, name in names.items()}
        self.recorder.emit("schedules", **{key: str(task) for key, task in found.items()})
        return found

    def run(self) -> None:
        self.setup()
        schedules = self.schedules()
        for day in range(self.o.days):
            day_start = START + timedelta(days=day)
            counts = {"predictions": 0, "feedback": 0}
            batches = self._day_batches(day)
            for hour in range(24):
                hour_start = day_start + timedelta(hours=hour)
                for minute in range(60):
                    at = hour_start + timedelta(minutes=minute)
                    for name, schedule in schedules.items():
                        if _due(schedule, at):
                            self.clock.move_to(at)
                            self.beat(name)
                    if minute == 5:
                        counts["predictions"] += self.predict(batches[hour], at, day)
                    if minute == 10 and hour == 12 and self._poisoned(day):
                        self.poison(at, day)
                    counts["feedback"] += self.labels_until(at + timedelta(minutes=1))
            self.recorder.emit("day", at=day_start, day=day, **counts)
            if self.progress:
                self.progress(day + 1, self.o.days)
        self.clock.move_to(START + timedelta(days=self.o.days))
        self.collect()

    def _poisoned(self, day: int) -> bool:
        return self.scenario.name == "poisoning" and self.scenario.shifted(day)

    def _day_batches(self, day: int) -> list[pd.DataFrame]:
        frame = traffic.traffic(self.scenario, day, self.o.per_day, self.rng)
        if self.scenario.name == "feedback_burst" and day == self.scenario.shift_day:
            self.burst = traffic.traffic(self.scenario, day, self.o.burst_rows, self.rng)
        hours = np.sort(self.rng.integers(0, 24, len(frame)))
        return [frame[hours == h] for h in range(24)]

    # --- what happens ---------------------------------------------------------------------------

    def beat(self, name: str) -> None:
        from monitoring.tasks import check_alerts, run_reports
        from training.tasks import retrain

        if name == "reports":
            run_reports.apply(kwargs={"trigger": "scheduled"})
        elif name == "retrain":
            retrain.apply(kwargs={"trigger": "scheduled"})
        else:
            check_alerts.apply()
        self.collect()

    def predict(self, batch: pd.DataFrame, at: datetime, day: int) -> int:
        from predictions import services

        count = 0
        burst_day = self.scenario.name == "feedback_burst" and day == self.scenario.shift_day
        if burst_day and at.hour == 12:
            count += self._burst(at)
        if batch.empty:
            return count
        self.clock.move_to(at)
        rows = batch[list(FEATURE_NAMES)].to_dict("records")
        stored = services.prediction_create_many(rows)
        labelled = self.rng.random(len(stored)) < self.o.feedback_rate
        delays = self.rng.uniform(1, 23, len(stored))  # hours after the prediction (+ the delay)
        for prediction, actual, is_labelled, hours in zip(
            stored, batch[TARGET].tolist(), labelled, delays, strict=True
        ):
            self.truth[prediction.pk] = bool(actual)
            if is_labelled:
                when = at + timedelta(days=self.o.label_delay_days, hours=float(hours))
                self._label_later(when, prediction.pk, bool(actual))
        return count + len(stored)

    def _burst(self, at: datetime) -> int:
        """5,000 labelled predictions within the hour: predicted, then each labelled."""
        from predictions import services

        burst = self.burst
        self.clock.move_to(at)
        stored = services.prediction_create_many(burst[list(FEATURE_NAMES)].to_dict("records"))
        step = timedelta(seconds=3000 / max(len(stored), 1))
        for i, (prediction, actual) in enumerate(zip(stored, burst[TARGET].tolist(), strict=True)):
            self.truth[prediction.pk] = bool(actual)
            self._label_later(at + timedelta(minutes=1) + i * step, prediction.pk, bool(actual))
        self.recorder.emit("burst", at=at, rows=len(stored))
        return len(stored)

    def _label_later(self, when: datetime, prediction_id, actual: bool) -> None:
        heapq.heappush(self.pending_labels, (when, next(self.sequence), prediction_id, actual))

    def labels_until(self, until: datetime) -> int:
        """The labels that arrive before `until`, each through the feedback service."""
        from predictions import services

        count = 0
        while self.pending_labels and self.pending_labels[0][0] < until:
            when, _, prediction_id, actual = heapq.heappop(self.pending_labels)
            self.clock.move_to(when)
            services.feedback_create(prediction_id=prediction_id, actual=actual)
            count += 1
        self.drain(until)
        return count

    def drain(self, at: datetime) -> None:
        """Run the queued retrain requests that are due, as an idle worker would."""
        from training.models import RetrainRun
        from training.tasks import retrain

        while self.sent and min(self.sent)[0] <= at:
            due, run_id = min(self.sent)
            self.sent.remove((due, run_id))
            self.messages["retrain"] += 1
            self.clock.move_to(max(at, due, _now()))
            run = RetrainRun.objects.get(pk=run_id)
            retrain.apply(kwargs={"trigger": run.trigger, "run_id": run.pk}, task_id=run.task_id)
            self.collect()

    def poison(self, at: datetime, day: int) -> None:
        """One client posts flipped labels through POST /api/feedback, ten a second (the
        default THROTTLE_FEEDBACK of 600/min)."""
        from django.test import Client

        count = self.o.poison_per_day if self.o.poison_per_day is not None else self.o.per_day
        frame = traffic.traffic(traffic.Scenario("stable", 0), day, count, self.rng)
        client = Client(REMOTE_ADDR=POISONER_ADDRESS)
        accepted = throttled = 0
        rows = json.loads(frame.to_json(orient="records"))  # plain JSON types
        for i, row in enumerate(rows):
            # The public API's way: predict, then report the flipped outcome of that prediction.
            self.clock.move_to(at + timedelta(seconds=i / 10))
            features = {name: row[name] for name in FEATURE_NAMES}
            answer = client.post("/api/predict", features, content_type="application/json")
            if answer.status_code != 200:
                throttled += answer.status_code == 429
                continue
            response = client.post(
                "/api/feedback",
                {"prediction_id": answer.json()["prediction_id"], "actual": int(not row[TARGET])},
                content_type="application/json",
            )
            if response.status_code == 429:
                throttled += 1
            elif response.status_code == 201:
                accepted += 1
        self.messages["poison_posts"] += accepted
        self.messages["poison_throttled"] += throttled
        self.recorder.emit("poison", at=at, posted=count, accepted=accepted, throttled=throttled)
        self.drain(_now())

    # --- recording ------------------------------------------------------------------------------

    def collect(self) -> None:
        self.recorder.collect(self)

    def clean_auc(self, version) -> float | None:
        from sklearn.metrics import roc_auc_score

        from training import serving

        loaded = serving.load_version(version)
        probability = loaded.predictor.predict_proba(self.clean[list(FEATURE_NAMES)])
        return round(float(roc_auc_score(self.clean[TARGET].astype(int), probability)), 4)

    def finish(self) -> None:
        from django.test import override_settings

        from .summary import summarise

        # After environment(): the concept check loads the run's model files again.
        with override_settings(ARTIFACTS_DIR=self.artifacts_dir):
            self.summary.update(summarise(self))
        self.recorder.emit("summary", **self.summary)
        self.recorder.close()
        (self.out / "summary.json").write_text(
            json.dumps(self.summary, indent=2, default=str), encoding="utf-8"
        )
        from .page import write_page

        write_page(self.out / "index.html", self.recorder.events, self.summary)


def _now() -> datetime:
    from django.utils import timezone

    return timezone.now()


def _due(schedule, at: datetime) -> bool:
    return (
        at.minute in schedule.minute
        and at.hour in schedule.hour
        and at.isoweekday() % 7 in schedule.day_of_week
        and at.day in schedule.day_of_month
        and at.month in schedule.month_of_year
    )


class _Recorder:
    """timeline.jsonl: one JSON event per line, written as the simulation goes."""

    def __init__(self, path: Path):
        self.path = path
        self.file = path.open("w", encoding="utf-8")
        self.events: list[dict] = []
        self.seen = {"report": 0, "alert": 0, "activation": 0}
        self.runs: set[int] = set()

    def emit(self, event_type: str, *, at: datetime | None = None, **fields) -> dict:
        event = {"type": event_type, "at": (at or _now()).isoformat(), **fields}
        self.events.append(event)
        self.file.write(json.dumps(event, default=str) + "\n")
        self.file.flush()  # a run stopped half-way still leaves its timeline
        return event

    def close(self) -> None:
        self.file.close()

    def collect(self, loop: _Loop) -> None:
        from monitoring.models import Alert, MonitoringReport
        from training.models import ActivationEvent, RetrainRun

        for report in MonitoringReport.objects.filter(pk__gt=self.seen["report"]).order_by("pk"):
            self.seen["report"] = report.pk
            self.emit("report", at=report.window_end or report.created_at, **_report(report))
        open_decisions = (RetrainRun.Decision.QUEUED, RetrainRun.Decision.RUNNING)
        finished = RetrainRun.objects.exclude(decision__in=open_decisions).exclude(pk__in=self.runs)
        for run in finished.select_related("new_version").order_by("pk"):
            self.runs.add(run.pk)
            self.emit("retrain", at=run.finished_at or run.started_at, **_retrain(run))
        for alert in Alert.objects.filter(pk__gt=self.seen["alert"]).order_by("pk"):
            self.seen["alert"] = alert.pk
            self.emit(
                "alert",
                at=alert.created_at,
                id=alert.pk,
                kind=alert.kind,
                severity=alert.severity,
                message=alert.message,
            )
        activations = ActivationEvent.objects.filter(pk__gt=self.seen["activation"])
        for event in activations.select_related("version").order_by("pk"):
            self.seen["activation"] = event.pk
            self.emit(
                "activation",
                at=event.created_at,
                version=event.version.version,
                algorithm=event.version.algorithm,
                reason=event.reason,
                clean_auc=loop.clean_auc(event.version),
                test_metrics={
                    k: event.version.metrics.get(k) for k in ("accuracy", "f1", "roc_auc")
                },
            )


def _report(report) -> dict:
    summary = report.summary or {}
    fields = {"id": report.pk, "kind": report.kind, "status": report.status}
    if report.kind == "model_performance" and summary.get("estimated"):
        # CBPE (monitoring/cbpe.py) on all of the version's predictions of the window, also
        # when too few labels came back for the realised figures.
        estimated = summary["estimated"]
        fields["estimated"] = {k: estimated.get(k) for k in ("accuracy", "f1", "roc_auc")}
        fields["estimated_rows"] = estimated.get("rows")
    if report.status != "ok":
        fields["reason"] = report.reason or report.error[:200]
        return fields
    if report.kind == "data_drift":
        fields.update(
            drift_share=summary.get("drift_share"),
            drifted=summary.get("drifted_features"),
            rows=report.current_rows,
        )
    elif report.kind == "model_performance":
        current = summary.get("current") or {}
        fields.update(
            {k: current.get(k) for k in ("accuracy", "f1", "roc_auc")},
            rows=current.get("rows"),
            positives=current.get("positives"),
            version=summary.get("model_version"),
            reference={k: (summary.get("reference") or {}).get(k) for k in ("accuracy", "roc_auc")},
        )
    else:
        fields["rows"] = report.current_rows
    return fields


def _retrain(run) -> dict:
    from training import triggers

    return {
        "id": run.pk,
        "trigger": run.trigger,
        "fired": triggers.fired(run.triggers or {}),
        "decision": run.decision,
        "reason": run.reason[:300],
        "rows_production": run.rows_production,
        "new_version": run.new_version.version if run.new_version else None,
        "challenger_score": run.challenger_score,
        "champion_score": run.champion_score,
    }
