#!/usr/bin/env python
"""Django's command-line utility for MindPulse."""

import os
import sys
from pathlib import Path


def main():
    from mindpulse.settings.env import load_env_file

    # The `.env` that `make run` writes (DEBUG=true for a local checkout); set variables win.
    load_env_file(Path(__file__).resolve().parent / ".env")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mindpulse.settings.main")
    from django.core.management import execute_from_command_line

    try:
        execute_from_command_line(sys.argv)
    except KeyboardInterrupt:
        # Ctrl-C (e.g. during `make run`'s first steps): stop without a traceback.
        sys.stderr.write("\nInterrupted.\n")
        sys.exit(130)


if __name__ == "__main__":
    main()
