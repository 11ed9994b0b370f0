"""The host's one error type: a configuration problem that stops it from starting."""


class HostError(Exception):
    """A configuration problem that stops the host from starting (the message is safe to print: no setting values)."""
