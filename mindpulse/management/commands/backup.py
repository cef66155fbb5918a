"""Back up the database, the model files and their checksums into a timestamped folder.

Why: the database holds every prediction, feedback and decision, and the artifacts folder
the models themselves; losing either loses what MindPulse learned. The backup is consistent
(one database snapshot, the files that snapshot references) and self-describing
(manifest.json), so `manage.py restore DIR` can check it before restoring anything. Every file
but the manifest is encrypted with BACKUP_ENCRYPTION_KEY (Fernet); the run is recorded in the
access records, since a backup copies every answer.
"""

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError

from mindpulse.backup import BackupError, backup_create, read_manifest
from privacy.access import access_record


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument(
            "--to", help="Folder that receives the backup (default: VAR_DIR/backups)."
        )
        parser.add_argument(
            "--with-reports",
            action="store_true",
            help="Also copy the Evidently HTML reports (the reports storage).",
        )

    def handle(self, *args, to, with_reports, verbosity, **options):
        try:
            path = backup_create(to or settings.VAR_DIR / "backups", include_reports=with_reports)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        manifest = read_manifest(path)
        # A copy of every answer: recorded like an export (the system account that ran it).
        access_record(via="backup", rows=manifest["counts"]["predictions.Prediction"])
        if verbosity:
            counts = ", ".join(f"{k.split('.')[1]} {v}" for k, v in manifest["counts"].items())
            self.stdout.write(
                f"Backup written to {path}\n  {len(manifest['files'])} files, "
                f"active model v{manifest['active_version']}\n  rows: {counts}"
            )
