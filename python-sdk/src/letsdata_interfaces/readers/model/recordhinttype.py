"""LetsData module path; re-exports :mod:`ferry.results`."""

from ferry.results import RecordHintType

__all__ = ["RecordHintType"]
