"""Who may do what: API keys, scopes, and whose jobs, holds and batches a key reaches."""
