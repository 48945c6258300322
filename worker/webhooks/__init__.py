"""Sending webhook events: claim, POST signed, record the outcome."""
