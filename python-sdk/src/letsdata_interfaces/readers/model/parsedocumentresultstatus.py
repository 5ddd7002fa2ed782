"""LetsData module path; re-exports :mod:`ferry.results`."""

from ferry.results import ParseDocumentResultStatus

__all__ = ["ParseDocumentResultStatus"]
