"""Celery tasks of the monitoring app: thin wrappers over services."""
