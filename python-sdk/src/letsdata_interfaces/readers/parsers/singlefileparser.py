"""LetsData module path; re-exports :mod:`ferry.interfaces`."""

from ferry.interfaces import SingleFileParser

__all__ = ["SingleFileParser"]
