"""LetsData module path; re-exports :mod:`ferry.interfaces`."""

from ferry.interfaces import DynamoDBStreamsRecordReader

__all__ = ["DynamoDBStreamsRecordReader"]
