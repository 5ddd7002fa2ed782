"""Exceptions of the ferry SDK."""

from __future__ import annotations

from typing import Optional

__all__ = ["RetryableError", "HandlerLoadError"]


class RetryableError(Exception):
    """Raise from a handler method to report a *retryable* failure.

    The bridge treats any exception ``exc`` with ``getattr(exc, "retryable",
    False) is True`` as retryable (so you may also set ``retryable = True`` on
    your own exception classes); every other exception is a non-retryable
    failure of the record.
    """

    retryable = True


class HandlerLoadError(Exception):
    """The handler could not be loaded.

    The message always names the handler file (or directory) and the cause.
    ``path`` is that file or directory; ``details`` is the formatted traceback of
    the underlying exception (``None`` when there is none), which is also kept
    as ``__cause__``.
    """

    def __init__(self, message: str, *, path: Optional[str] = None, details: Optional[str] = None) -> None:
        super().__init__(message)
        self.message = message
        self.path = path
        self.details = details

    def __str__(self) -> str:
        return self.message
