"""Reading requests and writing answers: bodies, parsing, auth, idempotency, the envelope."""
