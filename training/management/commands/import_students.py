"""Import a student_lifestyle CSV (the Kaggle schema) into the reference dataset.

Why: the real dataset is messy. Blank or non-numeric cells become missing values
(the pipeline imputes them) and are counted per column; rows with an unknown
category or no label are skipped and counted; the same file imported twice adds
nothing (files are identified by their sha256).
"""

from django.core.management.base import BaseCommand, CommandError

from mindpulse.progress import progress_bar, rows_callback
from training import services


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("path")

    def handle(self, *args, path, verbosity, **options):
        try:
            with progress_bar(
                self, total=None, desc="Storing", unit="rows", verbosity=verbosity
            ) as bar:
                dataset, created = services.dataset_import_csv(path, progress=rows_callback(bar))
        except FileNotFoundError:
            raise CommandError(f"No such file: {path}") from None
        except (ValueError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot import {path}: {exc}") from None
        if not verbosity:
            return
        if not created:
            self.stdout.write(f"Already imported as {dataset}; nothing added.")
            return
        self.stdout.write(f"Imported {dataset.rows_added} of {dataset.rows_read} rows from {path}")
        for reason, count in dataset.skipped.items():
            self.stdout.write(f"  skipped {count} rows: {reason}")
        for column, count in dataset.missing.items():
            self.stdout.write(f"  missing values in {column}: {count}")
