"""Apply the retention settings now (what the daily "privacy: retention" beat task does).

Why: to purge erased predictions from the archives at once, or to see with --dry-run what the
next run would remove. Every run is recorded (admin: Retention runs), a dry run as such.
"""

from django.core.management.base import BaseCommand

from privacy.retention import retention_run


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="Count, remove nothing.")

    def handle(self, *args, dry_run, verbosity, **options):
        run = retention_run(dry_run=dry_run)
        if verbosity:
            done = ", ".join(f"{key}={value}" for key, value in run.actions.items())
            prefix = "Would remove" if dry_run else f"Retention run #{run.pk}"
            self.stdout.write(f"{prefix}: {done}")
