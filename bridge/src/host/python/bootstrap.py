"""Prepares the embedded interpreter and loads the user's handler.

Runs once, on the bridge's Python thread, before any batch. The ferry SDK
compiled into the bridge is offered as a fallback importer at the end of
sys.meta_path, so an installed SDK or a LetsData project's own
``letsdata_interfaces`` copy still takes precedence.
"""

import importlib.abc
import importlib.util
import os
import sys


class BundledSdkFinder(importlib.abc.MetaPathFinder, importlib.abc.Loader):
    """Imports the SDK modules the bridge carries in memory."""

    def __init__(self, modules):
        # name -> (source, is_package, origin)
        self._modules = modules

    def find_spec(self, fullname, path=None, target=None):
        entry = self._modules.get(fullname)
        if entry is None:
            return None
        return importlib.util.spec_from_loader(
            fullname, self, origin=entry[2], is_package=entry[1]
        )

    def create_module(self, spec):
        return None

    def exec_module(self, module):
        source, _, origin = self._modules[module.__name__]
        exec(compile(source, origin, "exec"), module.__dict__)

    def get_source(self, fullname):
        return self._modules[fullname][0]


def _add_virtualenv():
    # The embedded interpreter does not start from a venv's python binary,
    # so its site-packages must be added by hand for handler dependencies.
    venv = os.environ.get("VIRTUAL_ENV")
    if not venv:
        return
    import site

    version = f"python{sys.version_info.major}.{sys.version_info.minor}"
    site.addsitedir(os.path.join(venv, "lib", version, "site-packages"))


def prepare(modules, handler_path):
    """Installs the bundled SDK and returns ferry.loader.load_handler(path)."""
    sys.argv = ["ferry-bridge"]
    sys.meta_path.append(BundledSdkFinder(modules))
    _add_virtualenv()
    from ferry.loader import load_handler

    return load_handler(handler_path)
