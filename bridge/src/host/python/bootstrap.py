"""Prepares the embedded interpreter and loads the user's handler.

Runs once, on the bridge's Python thread, before any batch. The ferry SDK
compiled into the bridge is offered as a fallback importer at the end of
sys.meta_path, so an installed SDK or a LetsData project's own
``letsdata_interfaces`` copy still takes precedence.
"""

import importlib.abc
import importlib.util
import os
import signal
import sys
import threading


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


class CallTimeout(Exception):
    """A handler call ran past its time limit and was interrupted."""


# Set by the watchdog just before it interrupts the running call, so that
# an interruption arriving after the call returned is ignored.
_timeout_armed = False
# The interpreter thread, which runs every call.
_interpreter_thread = None


def _raise_call_timeout(signum, frame):
    global _timeout_armed
    if _timeout_armed:
        _timeout_armed = False
        raise CallTimeout("the call ran past its time limit")


def fire_call_timeout():
    """Interrupts the call running on the interpreter thread."""
    global _timeout_armed
    _timeout_armed = True
    # A real signal, sent to that thread alone, also cuts short a blocking
    # sleep or read, which a simulated one would wait out.
    signal.pthread_kill(_interpreter_thread, signal.SIGUSR2)


def disarm_call_timeout():
    global _timeout_armed
    _timeout_armed = False


def prepare(modules, handler_path):
    """Installs the bundled SDK and returns ferry.loader.load_handler(path)."""
    global _interpreter_thread
    # SIGUSR2 is sent to the bridge for nothing else.
    _interpreter_thread = threading.get_ident()
    signal.signal(signal.SIGUSR2, _raise_call_timeout)
    sys.argv = ["ferry-bridge"]
    sys.meta_path.append(BundledSdkFinder(modules))
    _add_virtualenv()
    from ferry.loader import load_handler

    return load_handler(handler_path)
