"""LetsData module path; re-exports :mod:`ferry.interfaces`."""

from ferry.interfaces import QueueMessageReader

__all__ = ["QueueMessageReader"]
