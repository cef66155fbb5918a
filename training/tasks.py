"""Celery tasks of the training app: thin wrappers over services."""
