"""Issue 12: the MLOps loop replayed over simulated weeks (see run.py and docs/loop.md)."""
