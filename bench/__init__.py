"""`make bench`: the reproducible performance benchmark of MindPulse (see bench/run.py)."""
