"""Evaluate the retrain triggers and, when one fires, retrain now, in this process.

Why: the same service as the daily beat task, at a shell, for staff who want to see the
decision happen. --dry-run prints each trigger's measured value against its threshold and
what would happen, without training and without recording anything. --force retrains even
when no trigger fires (the manual trigger). The run is recorded like any other; a failed run
exits with an error.
"""

from django.core.management.base import BaseCommand, CommandError

from training import retrain, triggers
from training.models import RetrainRun


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--force", action="store_true", help="Retrain even if no trigger fires."
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Only print the trigger evaluation."
        )

    def handle(self, *args, force, dry_run, verbosity, **options):
        run = retrain.model_retrain(trigger=RetrainRun.Trigger.MANUAL, force=force, dry_run=dry_run)
        if verbosity:
            self._print(run)
        if run.decision == RetrainRun.Decision.FAILED:
            raise CommandError(f"Retrain #{run.pk} failed: {run.reason}")

    def _print(self, run: RetrainRun) -> None:
        self.stdout.write("Triggers:")
        for name in triggers.ORDER:
            if name in run.triggers:
                self.stdout.write(f"  {triggers.describe(name, run.triggers[name])}")
        if run.pk is None:
            self.stdout.write(f"Decision: {run.reason} (nothing recorded)")
            return
        self.stdout.write(f"Decision: {run.decision} (run #{run.pk}): {run.reason}")
        if run.rows_merged:
            self.stdout.write(
                f"  rows: {run.rows_reference} reference + {run.rows_production} production, "
                f"{run.duplicates_removed} duplicates removed, {run.rows_merged} trained on"
            )
        for candidate in run.candidates:
            role = candidate.get("role") or ("winner" if candidate.get("winner") else "candidate")
            rows = f"{candidate['rows']} compared rows" if candidate.get("gate") else "test split"
            score = (candidate.get("test") or {}).get(run.selection_metric)
            shown = "—" if score is None else f"{score:.4f}"
            self.stdout.write(
                f"  {candidate['algorithm']:<20} {role:<11} {run.selection_metric} {shown} "
                f"on the {rows}"
            )
        if run.new_version is not None:
            self.stdout.write(
                f"  new version v{run.new_version.version} ({run.new_version.algorithm}): "
                f"{run.new_version.status}"
            )
        if run.step_seconds:
            steps = ", ".join(f"{k} {v:.2f}s" for k, v in run.step_seconds.items())
            self.stdout.write(f"  timings: {steps}")
