"""Partition ownership: leases, the queues consumed, draining a partition."""
