"""Webhook events: the outbox written with the work, subscriptions, where they may go."""
