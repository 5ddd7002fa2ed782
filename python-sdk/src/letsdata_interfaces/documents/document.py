"""LetsData module path; re-exports :mod:`ferry.documents`."""

from ferry.documents import Document

__all__ = ["Document"]
