"""Test support shared by the apps' tests; the application never imports it."""

import logging

from training.features import EXAMPLE_STUDENT

SAMPLE_FEATURES = dict(EXAMPLE_STUDENT)


class RunLog(logging.Handler):
    """Every record a test run logs, formatted as both production formatters write it
    (attached to the root logger by conftest.py; grepped by privacy/tests/test_logs.py)."""

    def __init__(self):
        super().__init__()
        self.lines: list[str] = []

    def emit(self, record):
        from mindpulse import logs

        try:
            for formatter in (logs.KeyValueFormatter(), logs.JsonFormatter()):
                self.lines.append(formatter.format(record))
        except Exception:  # a record that cannot be formatted is no line
            self.handleError(record)


RUN_LOG = RunLog()
