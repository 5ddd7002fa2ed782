"""LetsData-compatible module paths for the ferry SDK.

Every module here re-exports a ferry class under the module path the LetsData
Python interfaces use (e.g. ``letsdata_interfaces.readers.parsers.singlefileparser``),
so handlers written for LetsData import unchanged. A LetsData project that ships
its own ``letsdata_interfaces`` package shadows this one when ferry loads it.
"""
