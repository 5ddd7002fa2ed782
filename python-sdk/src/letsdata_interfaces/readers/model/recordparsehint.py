"""LetsData module path; re-exports :mod:`ferry.results`."""

from ferry.results import RecordParseHint

__all__ = ["RecordParseHint"]
