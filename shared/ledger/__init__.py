"""The money rules and applying them to queued work, inside a given session."""
