"""LetsData module path; re-exports :mod:`ferry.results`."""

from ferry.results import ParseDocumentResult

__all__ = ["ParseDocumentResult"]
