"""Loading a user handler: :func:`load_handler`.

Three layouts are recognised:

(a) a ``.py`` file: its directory is put at the front of ``sys.path`` and it is
    imported as the module ``ferry_user_handler``; every class in the module
    namespace that is a strict subclass of a ferry interface base class is a
    handler for that interface (a class may implement several interfaces).
(b) a directory containing ``letsdata_interfaces/`` (a LetsData project whose
    stub classes were filled in place): the SDK's own ``letsdata_interfaces`` is
    shadowed by the project's, every module under the project's
    ``letsdata_interfaces`` is imported, and the classes named like one of the
    six interfaces that are defined in a file inside the project are the
    handlers.
(c) a directory containing ``handler.py``: as (a) on that file.

Each handler class is instantiated once, with no arguments. Modules that were
imported earlier from the handler's directory (helpers of a previous load) are
dropped from ``sys.modules`` first, so loading again sees the current files.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.machinery
import importlib.util
import os
import sys
import traceback
from pathlib import Path
from types import ModuleType
from typing import Dict, Iterable, List, Optional, Tuple, Union

from .errors import HandlerLoadError
from .interfaces import INTERFACE_CLASSES, INTERFACE_NAMES

__all__ = ["LoadedHandler", "load_handler", "compute_digest", "USER_MODULE_NAME", "LETSDATA_PACKAGE"]

#: Module name a single-file handler is imported under.
USER_MODULE_NAME = "ferry_user_handler"
#: Package name of the LetsData project layout.
LETSDATA_PACKAGE = "letsdata_interfaces"

PathLike = Union[str, "os.PathLike[str]"]


class LoadedHandler:
    """A loaded handler.

    * ``path``: the resolved path given to :func:`load_handler`.
    * ``root``: the directory the handler's files are relative to.
    * ``kind``: ``"file"`` (layouts a and c) or ``"letsdata"`` (layout b).
    * ``interfaces``: wire interface name -> the one instance serving it (a class
      implementing several interfaces has one instance shared by all of them).
    * ``files``: the handler's source files, sorted by path relative to ``root``.
    * ``digest``: lowercase hex SHA-256 over ``files`` (see :func:`compute_digest`).
    """

    __slots__ = ("path", "root", "kind", "interfaces", "files", "digest")

    def __init__(
        self,
        path: Path,
        root: Path,
        kind: str,
        interfaces: Dict[str, object],
        files: List[Path],
        digest: str,
    ) -> None:
        self.path = path
        self.root = root
        self.kind = kind
        self.interfaces = interfaces
        self.files = files
        self.digest = digest

    def get(self, interface: str) -> Optional[object]:
        """The instance serving ``interface`` (wire name, case-insensitive), or ``None``."""
        found = self.interfaces.get(interface)
        if found is not None:
            return found
        lowered = interface.lower()
        for name, instance in self.interfaces.items():
            if name.lower() == lowered:
                return instance
        return None

    def __repr__(self) -> str:
        names = {name: type(obj).__name__ for name, obj in self.interfaces.items()}
        return f"LoadedHandler(path={str(self.path)!r}, kind={self.kind!r}, interfaces={names}, digest={self.digest[:12]}...)"


def compute_digest(root: Path, files: Iterable[Path]) -> str:
    """SHA-256 (lowercase hex) over ``files``.

    For each file in sorted order of its path relative to ``root``: the relative
    path (POSIX separators, UTF-8), a NUL byte, the file bytes, a NUL byte.
    """
    entries = sorted((Path(f).relative_to(root).as_posix(), Path(f)) for f in files)
    h = hashlib.sha256()
    for rel, f in entries:
        h.update(rel.encode("utf-8"))
        h.update(b"\0")
        h.update(f.read_bytes())
        h.update(b"\0")
    return h.hexdigest()


def load_handler(path: PathLike) -> LoadedHandler:
    """Load the handler at ``path`` (a ``.py`` file, a LetsData project directory,
    or a directory with ``handler.py``).

    Raises :class:`HandlerLoadError` when the path is not a handler, when
    importing fails (syntax error, import error, exception at module level; the
    original exception is ``__cause__`` and its traceback is in ``details``),
    when no handler class is found, when two classes implement the same
    interface, or when instantiating a class fails.
    """
    p = Path(os.fspath(path)).expanduser()
    if not p.exists():
        raise HandlerLoadError(f"handler path {p} does not exist", path=str(p))
    p = p.resolve()
    if p.is_file():
        if p.suffix != ".py":
            raise HandlerLoadError(
                f"handler path {p} is not a .py file; expected a .py file, a directory with "
                f"handler.py, or a LetsData project directory containing {LETSDATA_PACKAGE}/",
                path=str(p),
            )
        return _load_file(p, p)
    if p.is_dir():
        if (p / LETSDATA_PACKAGE).is_dir():
            return _load_letsdata(p)
        handler_py = p / "handler.py"
        if handler_py.is_file():
            return _load_file(p, handler_py)
        raise HandlerLoadError(
            f"handler directory {p} contains neither handler.py nor a {LETSDATA_PACKAGE}/ directory "
            f"(LetsData project layout)",
            path=str(p),
        )
    raise HandlerLoadError(f"handler path {p} is neither a file nor a directory", path=str(p))


# --------------------------------------------------------------------------- helpers


def _prepend_sys_path(directory: Path) -> None:
    entry = str(directory)
    if sys.path and sys.path[0] == entry:
        return
    try:
        sys.path.remove(entry)
    except ValueError:
        pass
    sys.path.insert(0, entry)


def _forget_modules_under(root: Path) -> None:
    """Drop modules previously imported from ``root`` (except ferry itself), so a
    reload of a handler sees the current files of its helper modules."""
    prefix = str(root).rstrip(os.sep) + os.sep
    for name, module in list(sys.modules.items()):
        if name == "ferry" or name.startswith("ferry.") or name == "__main__":
            continue
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and os.path.abspath(file).startswith(prefix):
            del sys.modules[name]


def _innermost_location(exc: BaseException) -> Optional[Tuple[str, int]]:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb
        tb = tb.tb_next
    if last is None:
        return None
    return last.tb_frame.f_code.co_filename, last.tb_lineno


def _import_error(file: Path, exc: BaseException) -> HandlerLoadError:
    cause = f"{type(exc).__name__}: {exc}"
    if not isinstance(exc, SyntaxError):
        loc = _innermost_location(exc)
        if loc is not None and not loc[0].startswith("<"):
            cause += f" (at {loc[0]}:{loc[1]})"
    details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    err = HandlerLoadError(f"cannot import handler {file}: {cause}", path=str(file), details=details)
    err.__cause__ = exc
    return err


def _instantiate(classes: Dict[str, type], source: Path) -> Dict[str, object]:
    instances: Dict[type, object] = {}
    result: Dict[str, object] = {}
    for name in INTERFACE_NAMES:
        cls = classes.get(name)
        if cls is None:
            continue
        if cls not in instances:
            try:
                instances[cls] = cls()
            except Exception as exc:  # noqa: BLE001 - reported to the user
                details = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
                err = HandlerLoadError(
                    f"cannot instantiate handler class {cls.__qualname__} from {source}: "
                    f"{type(exc).__name__}: {exc}",
                    path=str(source),
                    details=details,
                )
                raise err from exc
        result[name] = instances[cls]
    return result


def _describe(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


# --------------------------------------------------------------------------- layout a / c


def _load_file(given: Path, file: Path) -> LoadedHandler:
    root = file.parent
    _forget_modules_under(root)
    _prepend_sys_path(root)
    importlib.invalidate_caches()
    spec = importlib.util.spec_from_file_location(USER_MODULE_NAME, str(file))
    if spec is None or spec.loader is None:
        raise HandlerLoadError(f"cannot import handler {file}: no module loader for this file", path=str(file))
    module = importlib.util.module_from_spec(spec)
    previous = sys.modules.get(USER_MODULE_NAME)
    sys.modules[USER_MODULE_NAME] = module
    try:
        spec.loader.exec_module(module)
    except (Exception, SystemExit) as exc:
        _restore_module(USER_MODULE_NAME, previous)
        raise _import_error(file, exc) from exc

    try:
        classes = _classes_by_interface(vars(module).values(), file)
        if not classes:
            names = ", ".join(f"ferry.{n}" for n in INTERFACE_NAMES)
            raise HandlerLoadError(f"{file} defines no handler class: subclass one of {names}", path=str(file))
        interfaces = _instantiate(classes, file)
    except HandlerLoadError:
        _restore_module(USER_MODULE_NAME, previous)
        raise
    files = [file]
    return LoadedHandler(given, root, "file", interfaces, files, compute_digest(root, files))


def _restore_module(name: str, previous: Optional[ModuleType]) -> None:
    if previous is None:
        sys.modules.pop(name, None)
    else:
        sys.modules[name] = previous


def _classes_by_interface(objects: Iterable[object], file: Path) -> Dict[str, type]:
    """Map interface name -> the handler class, from the objects of a module namespace.

    Candidates are strict subclasses of an interface base. When one candidate
    derives from another (an intermediate base class of the user's), the most
    derived one wins; two unrelated candidates are an error.
    """
    candidates: Dict[str, List[type]] = {}
    seen = set()
    for obj in objects:
        if not isinstance(obj, type) or obj in seen:
            continue
        seen.add(obj)
        for name in INTERFACE_NAMES:
            base = INTERFACE_CLASSES[name]
            if obj is not base and issubclass(obj, base):
                candidates.setdefault(name, []).append(obj)
    chosen: Dict[str, type] = {}
    for name in INTERFACE_NAMES:
        found = candidates.get(name)
        if not found:
            continue
        leaves = [c for c in found if not any(o is not c and issubclass(o, c) for o in found)]
        if len(leaves) > 1:
            listed = " and ".join(_describe(c) for c in leaves)
            raise HandlerLoadError(
                f"{file} defines more than one {name} handler class: {listed}; keep exactly one",
                path=str(file),
            )
        chosen[name] = leaves[0]
    return chosen


# --------------------------------------------------------------------------- layout b


def _purge_letsdata_modules() -> None:
    for name in [m for m in sys.modules if m == LETSDATA_PACKAGE or m.startswith(LETSDATA_PACKAGE + ".")]:
        del sys.modules[name]


def _is_within(path: Path, root: Path) -> bool:
    try:
        path.relative_to(root)
        return True
    except ValueError:
        return False


def _project_sources(root: Path) -> List[Path]:
    """All .py files under ``root``, skipping ``__pycache__`` and hidden directories."""
    out: List[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if d != "__pycache__" and not d.startswith("."))
        for fn in filenames:
            if fn.endswith(".py"):
                out.append(Path(dirpath) / fn)
    out.sort(key=lambda f: f.relative_to(root).as_posix())
    return out


def _module_name(package_dir: Path, file: Path) -> Optional[str]:
    rel = file.relative_to(package_dir.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    if not all(part.isidentifier() for part in parts):
        return None  # not importable as a module (e.g. "my-script.py")
    return ".".join(parts)


def _load_letsdata(root: Path) -> LoadedHandler:
    package_dir = root / LETSDATA_PACKAGE
    sources = _project_sources(root)
    package_files = [f for f in sources if _is_within(f, package_dir)]

    _purge_letsdata_modules()
    _forget_modules_under(root)
    _prepend_sys_path(root)
    importlib.invalidate_caches()
    if not (package_dir / "__init__.py").is_file():
        # Without __init__.py the project's package would be a namespace package,
        # and a regular package (the SDK's own letsdata_interfaces) would win over
        # it regardless of sys.path order: pin the package to the project.
        spec = importlib.machinery.ModuleSpec(LETSDATA_PACKAGE, None, is_package=True)
        spec.submodule_search_locations = [str(package_dir)]
        sys.modules[LETSDATA_PACKAGE] = importlib.util.module_from_spec(spec)

    modules: List[ModuleType] = []
    for file in package_files:
        name = _module_name(package_dir, file)
        if name is None:
            continue
        try:
            modules.append(importlib.import_module(name))
        except (Exception, SystemExit) as exc:
            _purge_letsdata_modules()
            raise _import_error(file, exc) from exc

    found: Dict[str, List[type]] = {}
    for module in modules:
        for obj in vars(module).values():
            if not isinstance(obj, type) or obj.__name__ not in INTERFACE_NAMES:
                continue
            defining = sys.modules.get(obj.__module__)
            defining_file = getattr(defining, "__file__", None)
            if not defining_file or not _is_within(Path(defining_file).resolve(), root):
                continue
            bucket = found.setdefault(obj.__name__, [])
            if obj not in bucket:
                bucket.append(obj)

    classes: Dict[str, type] = {}
    for name in INTERFACE_NAMES:
        candidates = found.get(name)
        if not candidates:
            continue
        if len(candidates) > 1:
            listed = " and ".join(_describe(c) for c in candidates)
            _purge_letsdata_modules()
            raise HandlerLoadError(
                f"{root} defines more than one {name} class: {listed}; keep exactly one", path=str(root)
            )
        classes[name] = candidates[0]
    if not classes:
        _purge_letsdata_modules()
        raise HandlerLoadError(
            f"{root} defines no handler class: expected one of {', '.join(INTERFACE_NAMES)} "
            f"in a module under {package_dir}",
            path=str(root),
        )
    try:
        interfaces = _instantiate(classes, root)
    except HandlerLoadError:
        _purge_letsdata_modules()
        raise
    return LoadedHandler(root, root, "letsdata", interfaces, sources, compute_digest(root, sources))
