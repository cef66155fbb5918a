"""Generate a synthetic student dataset in the Kaggle schema.

Why: MindPulse must run and be tested without the real Kaggle file. The generator
follows the statistics measured on real rows (prevalence, the CGPA and stress
effects, the stress-sleep-activity links) and is deterministic for a seed.
Without --out the rows are loaded into the reference dataset.
"""

from django.core.management.base import BaseCommand, CommandError

from mindpulse.progress import progress_bar, rows_callback
from training import datagen, services


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--out", help="Write a CSV file instead of loading the database.")

    def handle(self, *args, rows, seed, out, verbosity, **options):
        if rows < 1:
            raise CommandError("--rows must be at least 1.")
        if out:
            datagen.write_csv(datagen.generate_students(rows, seed), out)
            if verbosity:
                self.stdout.write(f"Wrote {rows} generated rows (seed {seed}) to {out}")
            return
        with progress_bar(
            self, total=rows, desc="Storing", unit="rows", verbosity=verbosity
        ) as bar:
            dataset, created = services.dataset_generate(
                rows=rows, seed=seed, progress=rows_callback(bar)
            )
        if verbosity:
            if created:
                self.stdout.write(f"Loaded {dataset.rows_added} generated rows (seed {seed}).")
            else:
                self.stdout.write(f"Already loaded: {dataset}; nothing added.")
