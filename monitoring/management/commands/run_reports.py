"""Run the three monitoring reports now, in this process, and print their headline numbers.

Why: the same run as the 6-hourly Celery task, for a server without a worker at hand, a
check after a deployment, or a look at the numbers from a shell. Like the task, it waits
for no one: if a run is already in progress it is recorded as skipped.
"""

from django.core.management.base import BaseCommand, CommandError
from django.utils import timezone

from monitoring import services
from monitoring.models import MonitoringReport, MonitoringRun

Kind = MonitoringReport.Kind


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, verbosity, **options):
        run = services.reports_run(trigger="command")
        if verbosity:
            self._print(run, verbosity)
        if run.status == MonitoringRun.Status.FAILED:
            raise CommandError(f"Monitoring run #{run.pk} failed: {run.error}")

    def _print(self, run: MonitoringRun, verbosity: int) -> None:
        reports = sorted(run.reports.all(), key=lambda r: list(Kind.values).index(r.kind))
        first = reports[0] if reports else None
        head = f"Monitoring run #{run.pk}: {run.status}"
        if first is not None and first.window_start is not None:
            start = timezone.localtime(first.window_start)
            end = timezone.localtime(first.window_end)
            head += f", window {start:%Y-%m-%d %H:%M} → {end:%Y-%m-%d %H:%M %Z}"
            if first.model_version is not None:
                head += f", reference model v{first.model_version.version}"
        self.stdout.write(head)
        if run.status == MonitoringRun.Status.SKIPPED and not reports:
            self.stdout.write(f"  {run.reason}")
        for report in reports:
            self.stdout.write(f"  {report.kind:<18} {report.status:<8} {self._line(report)}")
            if verbosity >= 2:
                for line in self._details(report):
                    self.stdout.write(f"      {line}")

    def _line(self, report: MonitoringReport) -> str:
        summary = report.summary
        if report.status == MonitoringReport.Status.FAILED:
            return report.error
        if report.status == MonitoringReport.Status.SKIPPED:
            return report.reason
        rows = f"{report.current_rows} rows vs {report.reference_rows} reference"
        if report.kind == Kind.DATA_DRIFT:
            drifted = ", ".join(summary["drifted_features"]) or "none"
            verdict = "DATASET DRIFT" if summary["dataset_drift"] else "no dataset drift"
            return (
                f"drift share {summary['drift_share']:.2f} > {summary['threshold']:.2f}? "
                f"{verdict}; drifted: {drifted} ({rows})"
            )
        if report.kind == Kind.MODEL_PERFORMANCE:
            cur, ref = summary["current"], summary["reference"]
            return (
                f"accuracy {_f(cur['accuracy'])} (test split {_f(ref['accuracy'])}), "
                f"F1 {_f(cur['f1'])} (test split {_f(ref['f1'])}), "
                f"ROC AUC {_f(cur['roc_auc'])} on {cur['rows']} labelled predictions"
            )
        totals = summary["totals"]
        return (
            f"{rows}: {totals['missing']} missing, {totals['out_of_range']} out of training "
            f"range, {totals['unseen_categories']} unseen categories, "
            f"{totals.get('implausible_day', 0)} days over 24 h"
        )

    def _details(self, report: MonitoringReport) -> list[str]:
        lines = []
        if report.kind == Kind.DATA_DRIFT and report.status == MonitoringReport.Status.OK:
            for name, result in report.summary["features"].items():
                mark = "DRIFT" if result["drifted"] else "ok"
                lines.append(
                    f"{name:<20} {mark:<5} {result['method']}: {_f(result['score'])} "
                    f"(threshold {_f(result['threshold'])})"
                )
        if report.duration_seconds is not None:
            lines.append(f"{report.duration_seconds:.2f} s")
        if report.html_path:
            lines.append(f"HTML: {report.html_path} (in the reports storage)")
        return lines


def _f(value) -> str:
    return "—" if value is None else f"{value:.3f}"
