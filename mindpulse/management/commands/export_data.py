"""Export the reference data and the production data as CSV, for analysis elsewhere.

Why: analysts work in notebooks and spreadsheets, not in the admin. ref_data.csv is the
reference dataset in the Kaggle schema; prod_data.csv has every prediction with its
features, score, model version and, when known, the actual outcome. Both stream to disk
(any table size) and appear atomically.

The answers are health data: the export is recorded as an access (the admin's Access records),
under --user when given (who must hold predictions.view_prediction_answers), else under the
system account that ran the command. The files are deleted after RETENTION_DAYS_ARCHIVES
when written to EXPORTS_DIR (the default).
"""

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from mindpulse.exports import PROD_FILE, export_data
from privacy.access import access_record, can_see_answers


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--out", help="Output folder (default: EXPORTS_DIR).")
        parser.add_argument("--user", help="The staff member the export is for (recorded).")
        parser.add_argument("--reason", default="", help="Why (recorded with the access).")

    def handle(self, *args, out, user, reason, verbosity, **options):
        reader = None
        if user:
            reader = get_user_model().objects.filter(username=user).first()
            if reader is None or not can_see_answers(reader):
                raise CommandError(
                    f"{user!r} may not read answers (needs the permission "
                    "predictions.view_prediction_answers)."
                )
        directory = out or settings.EXPORTS_DIR
        rows = export_data(directory)
        access_record(via="export", user=reader, prediction_id=None, rows=rows[PROD_FILE],
                      reason=reason)  # fmt: skip
        if verbosity:
            for name, count in rows.items():
                self.stdout.write(f"{directory}/{name}: {count} rows")
