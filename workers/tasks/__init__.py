"""Celery tasks: thin wrappers that call domain functions and commit."""
