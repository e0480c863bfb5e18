"""The one error type a stage turns into a single clear line and a non-zero exit."""


class PixelpredError(Exception):
    """A user-facing failure: bad params, unknown names, missing inputs, unreachable services."""


class NotFoundError(PixelpredError):
    """A file, object or bucket that is not there (as opposed to one that cannot be reached)."""
