"""Test support shared by the apps' tests; the application never imports it."""

import logging

from training.features import EXAMPLE_STUDENT

SAMPLE_FEATURES = dict(EXAMPLE_STUDENT)

# Answers whose digits cannot appear in a log line by chance (the log-scrubbing tests grep
# for SECRETS; the privacy tests look for them in stored rows).
DISTINCTIVE = {
    "Age": 23,
    "Gender": "Female",
    "Department": "Engineering",
    "CGPA": 3.1415926,
    "Sleep_Duration": 6.2831853,
    "Study_Hours": 2.7182818,
    "Social_Media_Hours": 1.4142135,
    "Physical_Activity": 47,
    "Stress_Level": 6,
}
SECRETS = ("1415926", "2831853", "7182818", "4142135")


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


def batch_page_download(response) -> str:
    """The scored CSV the batch page hands back in its download link (a data: URL)."""
    import base64
    import re

    found = re.search(
        r'data-testid="download" href="data:text/csv;charset=utf-8;base64,([A-Za-z0-9+/=]+)"',
        response.content.decode(),
    )
    if not found:
        raise AssertionError("the page has no download link")
    return base64.b64decode(found.group(1)).decode()
