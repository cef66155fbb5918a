"""Train the three candidates on the reference dataset and put the best in service.

Why: this is how the first model comes to exist (make run calls it when no version
is active) and how staff retrain by hand on the reference data alone. Retrains that
also use production feedback go through `manage.py retrain`.
"""

from django.core.management.base import BaseCommand, CommandError

from mindpulse.progress import progress_bar, write_line
from training import pipeline, services


class Command(BaseCommand):
    help = __doc__

    def handle(self, *args, verbosity, **options):
        def progress(algorithm, result):
            bar.update(1)
            if verbosity:
                m = result.test_metrics
                write_line(
                    self,
                    bar,
                    f"  {algorithm:<20} fit {result.fit_seconds:6.1f}s  "
                    f"roc_auc {m['roc_auc']:.3f}  f1 {m['f1']:.3f}  "
                    f"threshold {result.threshold:.3f}",
                )

        try:
            with progress_bar(
                self,
                total=len(pipeline.ALGORITHMS),
                desc="Training",
                unit="model",
                verbosity=verbosity,
            ) as bar:
                version = services.model_train_initial(progress=progress)
        except ValueError as exc:
            raise CommandError(str(exc)) from None
        if verbosity:
            self.stdout.write(
                f"Version {version.version} ({version.algorithm}) is active: "
                f"{version.selection_metric} {version.metrics.get(version.selection_metric):.3f} "
                f"on {version.train_rows} rows."
            )
