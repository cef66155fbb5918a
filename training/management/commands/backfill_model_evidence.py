"""Fill the calibration, intervals, group table and data summary of versions registered
before they existed, from each version's own reference file.

Why: the model card, the admin and the gate read these figures; a version trained before
issue 16 has none. Its registered reference file holds its test rows and scores, which is all
they need, so nothing is retrained and the model in service is not touched.
"""

from django.core.management.base import BaseCommand

from training import artifacts, services
from training.models import ModelVersion


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--dry-run", action="store_true", help="list what would be filled")

    def handle(self, *args, verbosity, dry_run, **options):
        for version in ModelVersion.objects.order_by("version"):
            try:
                filled = services.model_evidence_backfill(version, dry_run=dry_run)
            except (OSError, artifacts.ArtifactError) as exc:
                self.stderr.write(f"v{version.version}: skipped, reference file unusable: {exc}")
                continue
            if verbosity and filled:
                verb = "would fill" if dry_run else "filled"
                self.stdout.write(f"v{version.version}: {verb} {', '.join(filled)}")
