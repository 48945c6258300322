"""Celery workers: each owns some partitions and applies their queued operations."""
