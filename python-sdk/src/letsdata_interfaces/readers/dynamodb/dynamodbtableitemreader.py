"""LetsData module path; re-exports :mod:`ferry.interfaces`."""

from ferry.interfaces import DynamoDBTableItemReader

__all__ = ["DynamoDBTableItemReader"]
