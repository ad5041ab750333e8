"""The errors a caller can act on.

Every rule that refuses something raises one of these with a message that names
the field and the limit. Adapters turn them into a `ToolError` (MCP) or a
non-zero exit (CLI); anything else escaping the use cases is a bug.
"""


class CublabError(Exception):
    """A business rule refused the request; the message says what to change."""


class NotFound(CublabError):
    """An id that names nothing (or nothing the caller may see)."""


class InvalidInput(CublabError):
    """The request is malformed or over a limit."""


class Conflict(CublabError):
    """The request is well formed but the object's state does not allow it."""


class Forbidden(CublabError):
    """The identity making the request may not do this."""


class Fault(CublabError):
    """The infrastructure failed, not the request: the database is full, read-only, unreachable or locked, or the
    authority is unreachable. Nothing was written. `retryable` says whether calling again may succeed without an
    operator's help; `kind` names the fault for programs (`app/faults.py` lists them)."""

    def __init__(self, message: str, *, kind: str, retryable: bool) -> None:
        super().__init__(message)
        self.kind = kind
        self.retryable = retryable
