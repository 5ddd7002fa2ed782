from __future__ import annotations

import sys
import textwrap
from pathlib import Path
from typing import Callable, Iterator

import pytest


def _is_user_module(name: str) -> bool:
    return name == "ferry_user_handler" or name == "letsdata_interfaces" or name.startswith("letsdata_interfaces.")


@pytest.fixture(autouse=True)
def restore_import_state() -> Iterator[None]:
    """Loading handlers mutates sys.path and sys.modules; undo that after each test."""
    saved_path = list(sys.path)
    saved = {name: mod for name, mod in sys.modules.items() if _is_user_module(name)}
    yield
    sys.path[:] = saved_path
    for name in [n for n in sys.modules if _is_user_module(n)]:
        del sys.modules[name]
    sys.modules.update(saved)
    # any other module imported from a tmp dir by a handler
    for name, mod in list(sys.modules.items()):
        f = getattr(mod, "__file__", None) or ""
        if "pytest-of-" in f or "/tmp/pytest" in f:
            del sys.modules[name]


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write("rel/path.py", source) -> absolute path (source is dedented)."""

    def _write(rel: str, text: str) -> Path:
        p = tmp_path / rel
        p.parent.mkdir(parents=True, exist_ok=True)
        p.write_text(textwrap.dedent(text), encoding="utf-8")
        return p

    return _write
