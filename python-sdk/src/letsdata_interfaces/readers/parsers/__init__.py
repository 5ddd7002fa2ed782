"""LetsData-compatible re-exports (see :mod:`letsdata_interfaces`)."""
