"""LetsData module path; re-exports :mod:`ferry.interfaces`."""

from ferry.interfaces import SagemakerVectorsInterface

__all__ = ["SagemakerVectorsInterface"]
