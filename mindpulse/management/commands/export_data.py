"""Export the reference data and the production data as CSV, for analysis elsewhere.

Why: analysts work in notebooks and spreadsheets, not in the admin. ref_data.csv is the
reference dataset in the Kaggle schema; prod_data.csv has every prediction with its
features, score, model version and, when known, the actual outcome. Both stream to disk
(any table size) and appear atomically.
"""

from django.conf import settings
from django.core.management.base import BaseCommand

from mindpulse.exports import export_data


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--out", help="Output folder (default: VAR_DIR/exports).")

    def handle(self, *args, out, verbosity, **options):
        directory = out or settings.VAR_DIR / "exports"
        rows = export_data(directory)
        if verbosity:
            for name, count in rows.items():
                self.stdout.write(f"{directory}/{name}: {count} rows")
