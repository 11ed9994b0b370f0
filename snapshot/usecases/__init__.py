"""Use cases: what the triggers ask for (start, read, delete, poll, health, quota), over the adapters and domain."""
