"""Restore a backup made by `manage.py backup` into an empty database.

Why: a restore must never mix a backup with live data nor half-succeed. It checks every
file's sha256, that the configured database is empty (create a new one; never migrate it
first), that this code knows the backup's migrations and that no different file sits where a
model file goes — all before it touches anything. Then it restores the database (pg_restore
in one transaction, or the SQLite file), applies newer migrations, stores the model files
through the artifacts storage (a folder, or the database, whose dump brought them back and
where they are checked), compares the row counts with the manifest and loads the active model.
"""

from django.core.management.base import BaseCommand, CommandError

from mindpulse.backup import BackupError, restore_backup


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("directory", help="A mindpulse-backup-YYYYmmdd-HHMMSS folder.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Run every check, restore nothing."
        )

    def handle(self, *args, directory, dry_run, verbosity, **options):
        try:
            result = restore_backup(directory, dry_run=dry_run)
        except BackupError as exc:
            raise CommandError(str(exc)) from None
        if not verbosity:
            return
        if dry_run:
            self.stdout.write(f"{directory}: every check passed; nothing restored (dry run).")
            return
        counts = ", ".join(f"{k.split('.')[1]} {v}" for k, v in result["counts"].items())
        self.stdout.write(
            f"Restored {directory}: {result['files']} files copied, active model "
            f"v{result['active_version']} loads.\n  rows: {counts}"
            + ("\n  newer migrations applied." if result["migrated"] else "")
        )
