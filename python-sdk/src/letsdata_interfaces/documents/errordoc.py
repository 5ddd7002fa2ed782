"""LetsData module path; re-exports :mod:`ferry.documents`."""

from ferry.documents import ErrorDoc

__all__ = ["ErrorDoc"]
