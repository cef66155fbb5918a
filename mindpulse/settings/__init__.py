"""MindPulse settings: `main` for every process, `test` for the test suite."""
