"""LetsData module path; re-exports :mod:`ferry.documents`."""

from ferry.documents import DocumentType

__all__ = ["DocumentType"]
