"""Accepting work: validating operations and batches, recording them once, idempotency."""
