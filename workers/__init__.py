"""Celery workers: webhook delivery and the periodic sweeps, over Redis."""
