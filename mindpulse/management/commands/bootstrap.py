"""Make a fresh installation ready to serve: data, a first model, an optional superuser.

Why: `make run` must work on a fresh machine. Every step is idempotent: it loads the
reference dataset only when there is none (STUDENTS_CSV=path for the real Kaggle file,
generated rows otherwise), trains only when no version is active, and creates a
superuser only from DJANGO_SUPERUSER_USERNAME / _PASSWORD / _EMAIL — never with a
default password.
"""

import os

from django.contrib.auth import get_user_model
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError

from training import selectors


class Command(BaseCommand):
    help = __doc__

    def add_arguments(self, parser):
        parser.add_argument("--rows", type=int, default=100_000, help="Generated rows.")

    def handle(self, *args, rows, verbosity, **options):
        if selectors.reference_count() == 0:
            csv_path = os.environ.get("STUDENTS_CSV")
            if csv_path:
                self._step(verbosity, f"Importing the students of {csv_path}...")
                call_command("import_students", csv_path, verbosity=verbosity, **self._streams())
            else:
                self._step(verbosity, f"Generating {rows:,} students...")
                call_command(
                    "generate_students", rows=rows, seed=42, verbosity=verbosity, **self._streams()
                )
        if selectors.active_model_version() is None:
            self._step(verbosity, "Training three candidate models (about a minute)...")
            call_command("train", verbosity=verbosity, **self._streams())
        self._superuser(verbosity)

    def _streams(self):
        # The sub-commands write (and draw their progress bars) where this one does.
        return {"stdout": self.stdout._out, "stderr": self.stderr._out}

    def _step(self, verbosity, message):
        if verbosity >= 1:
            self.stdout.write(f"    {message}")
            self.stdout.flush()

    def _superuser(self, verbosity):
        username = os.environ.get("DJANGO_SUPERUSER_USERNAME")
        if not username or not os.environ.get("DJANGO_SUPERUSER_PASSWORD"):
            return
        if get_user_model().objects.filter(username=username).exists():
            return
        try:
            # createsuperuser skips the password validators when not interactive.
            validate_password(os.environ["DJANGO_SUPERUSER_PASSWORD"])
        except ValidationError as exc:
            message = " ".join(exc.messages)
            raise CommandError(f"DJANGO_SUPERUSER_PASSWORD refused: {message}") from None
        call_command("createsuperuser", interactive=False, verbosity=verbosity)
