"""LetsData module path; re-exports :mod:`ferry.documents`."""

from ferry.documents import SkipDoc

__all__ = ["SkipDoc"]
