"""LetsData module path; re-exports :mod:`ferry.interfaces`."""

from ferry.interfaces import KinesisRecordReader

__all__ = ["KinesisRecordReader"]
