"""Print the record of processing: what personal data is held, since when, who read it.

Why: a data-protection officer asks what is held (counts by table and age, the oldest row of
each category), under which retention settings, and what happened in a period (erasures,
staff reads, retention runs). The same figures are on the admin's "Privacy report" page.
"""

from datetime import timedelta

from django.core.management.base import BaseCommand
from django.utils import timezone

from privacy.report import privacy_report, report_text


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--days", type=int, default=30, help="Period of the erasures and reads (default 30)."
        )

    def handle(self, *args, days, verbosity, **options):
        report = privacy_report(since=timezone.now() - timedelta(days=max(days, 1)))
        if verbosity:
            self.stdout.write(report_text(report))
