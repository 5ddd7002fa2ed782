"""Run a SingleFileParser over sample files, without the task host.

Usage::

    python -m ferry.harness --handler PATH [--limit N] [--documents OUT.jsonl] FILE [FILE...]

The handler is loaded with :func:`ferry.load_handler`. For every FILE the
harness asks the parser for its file type, its resolved file name (only
printed) and its record start/end hints, cuts the file (gunzipped when the
name ends with ``.gz``) into records with :func:`ferry.records.iter_records`
and calls ``parseDocument(fileType, FILE, offset, bytearray(record), 0,
len(record))`` on each record.

stdout gets one JSON line per record::

    {"file":..,"offset":..,"status":"SUCCESS|ERROR|SKIP|EXCEPTION","document":<flat document or null>,"message":..}

``message`` is null for SUCCESS, the ``errorMessage`` / ``skipMessage`` for
ERROR / SKIP, and ``"Type: message"`` for EXCEPTION, whose line also has an
``"exception"`` object (``type``, ``message``, ``retryable``, ``traceback``). A
result the host would reject (not a ParseDocumentResult, unknown status,
SUCCESS without a document, a document that is not JSON-serializable) is
reported as EXCEPTION too. ``--documents`` writes the SUCCESS documents as flat
JSON lines. stderr gets the file names/types and a final summary line
``N records: X documents, Y errors, Z skipped, E exceptions``.

Exit status: 0 when all files were processed (whatever the records' outcomes),
1 when the handler failed to load or to set up (no SingleFileParser, a failing
or invalid getS3FileType/getRecordStartPattern/getRecordEndPattern) or a file
could not be read, 2 for bad usage.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import traceback
from enum import Enum
from typing import IO, Any, Dict, Optional, Sequence

from .documents import flat_json
from .errors import HandlerLoadError
from .loader import load_handler
from .records import iter_records, normalize_hint

__all__ = ["main", "console_main", "run_record"]

_STATUSES = ("SUCCESS", "ERROR", "SKIP")


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), ensure_ascii=False)


def _status_name(status: Any) -> Optional[str]:
    if isinstance(status, Enum):
        status = status.value if isinstance(status.value, str) else status.name
    if isinstance(status, str) and status.upper() in _STATUSES:
        return status.upper()
    return None


def _exception_outcome(exc: BaseException) -> Dict[str, Any]:
    return {
        "status": "EXCEPTION",
        "document": None,
        "message": f"{type(exc).__name__}: {exc}",
        "exception": {
            "type": type(exc).__name__,
            "message": str(exc),
            "retryable": getattr(exc, "retryable", False) is True,
            "traceback": "".join(traceback.format_exception(type(exc), exc, exc.__traceback__)),
        },
    }


def _invalid_outcome(message: str) -> Dict[str, Any]:
    return {
        "status": "EXCEPTION",
        "document": None,
        "message": message,
        "exception": {"type": "InvalidResult", "message": message, "retryable": False, "traceback": None},
    }


def run_record(parser: Any, file_type: Any, file_name: str, offset: int, record: bytes) -> Dict[str, Any]:
    """Call ``parser.parseDocument`` on one record and classify the outcome.

    Returns a dict with ``status`` (SUCCESS/ERROR/SKIP/EXCEPTION), ``document``
    (the flat JSON *string* of the returned document, or ``None``), ``message``
    and, for EXCEPTION, ``exception``.
    """
    try:
        result = parser.parseDocument(file_type, file_name, offset, bytearray(record), 0, len(record))
    except Exception as exc:  # noqa: BLE001 - the user's failure is the outcome
        return _exception_outcome(exc)
    if not hasattr(result, "status") or not hasattr(result, "document"):
        return _invalid_outcome(f"parseDocument returned {type(result).__name__}, expected a ParseDocumentResult")
    status = _status_name(result.status)
    if status is None:
        return _invalid_outcome(f"parseDocument returned an unknown status {result.status!r}")
    document = result.document
    if status == "SUCCESS" and document is None:
        return _invalid_outcome("parseDocument returned status SUCCESS without a document")
    flat: Optional[str] = None
    if document is not None:
        try:
            flat = flat_json(document)
        except (TypeError, ValueError) as exc:
            return _invalid_outcome(f"document is not JSON-serializable: {type(exc).__name__}: {exc}")
    message: Optional[str] = None
    if status == "ERROR":
        message = getattr(document, "errorMessage", None)
    elif status == "SKIP":
        message = getattr(document, "skipMessage", None)
    return {"status": status, "document": flat, "message": message}


def _line(file_name: str, offset: int, outcome: Dict[str, Any]) -> str:
    parts = [
        '{"file":', _dumps(file_name),
        ',"offset":', str(offset),
        ',"status":', _dumps(outcome["status"]),
        ',"document":', outcome["document"] if outcome["document"] is not None else "null",
        ',"message":', _dumps(outcome["message"]),
    ]
    if "exception" in outcome:
        parts += [',"exception":', _dumps(outcome["exception"])]
    parts.append("}")
    return "".join(parts)


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be >= 1, got {value}")
    return value


def _build_parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m ferry.harness",
        description="Run a ferry/LetsData SingleFileParser handler over sample files.",
    )
    ap.add_argument("--handler", required=True, metavar="PATH",
                    help="handler .py file, directory with handler.py, or LetsData project directory")
    ap.add_argument("--limit", type=_positive_int, metavar="N", help="stop after N records (over all files)")
    ap.add_argument("--documents", metavar="OUT.jsonl", help="write the SUCCESS documents as flat JSON lines")
    ap.add_argument("files", nargs="+", metavar="FILE", help="input file (gunzipped if it ends with .gz)")
    return ap


def _open(file_name: str) -> IO[bytes]:
    if file_name.endswith(".gz"):
        return gzip.open(file_name, "rb")  # type: ignore[return-value]
    return open(file_name, "rb")


def _fail(err: IO[str], what: str, exc: BaseException) -> int:
    print(f"ferry.harness: {what}: {type(exc).__name__}: {exc}", file=err)
    traceback.print_exception(type(exc), exc, exc.__traceback__, file=err)
    return 1


def main(argv: Optional[Sequence[str]] = None) -> int:
    """Run the harness; returns the exit status (see the module docstring)."""
    ap = _build_parser()
    try:
        args = ap.parse_args(argv)
    except SystemExit as exc:  # argparse: 2 for bad usage, 0 for --help
        return exc.code if isinstance(exc.code, int) else 2
    missing = [f for f in args.files if not os.path.isfile(f)]
    if missing:
        try:
            ap.error(f"no such file: {', '.join(missing)}")
        except SystemExit as exc:
            return exc.code if isinstance(exc.code, int) else 2

    out: IO[str] = sys.stdout
    err: IO[str] = sys.stderr
    reconfigure = getattr(out, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(encoding="utf-8")

    try:
        loaded = load_handler(args.handler)
    except HandlerLoadError as exc:
        print(f"ferry.harness: {exc}", file=err)
        if exc.details:
            print(exc.details, file=err, end="")
        return 1
    parser = loaded.interfaces.get("SingleFileParser")
    if parser is None:
        found = ", ".join(loaded.interfaces) or "none"
        print(f"ferry.harness: handler {loaded.path} has no SingleFileParser (it implements: {found})", file=err)
        return 1

    try:
        file_type = parser.getS3FileType()  # type: ignore[attr-defined]
    except Exception as exc:  # noqa: BLE001
        return _fail(err, "getS3FileType() failed", exc)
    try:
        start_hint = parser.getRecordStartPattern(file_type)  # type: ignore[attr-defined]
        end_hint = parser.getRecordEndPattern(file_type)  # type: ignore[attr-defined]
        normalize_hint(start_hint, "start")
        normalize_hint(end_hint, "end")
    except Exception as exc:  # noqa: BLE001
        return _fail(err, "record start/end hints", exc)

    counts = {"SUCCESS": 0, "ERROR": 0, "SKIP": 0, "EXCEPTION": 0}
    total = 0
    docs_out: Optional[IO[str]] = None
    if args.documents:
        try:
            docs_out = open(args.documents, "w", encoding="utf-8")
        except OSError as exc:
            return _fail(err, f"cannot write {args.documents}", exc)
    status = 0
    try:
        for file_name in args.files:
            if args.limit is not None and total >= args.limit:
                break
            try:
                resolved: Any = parser.getResolvedS3FileName(file_type, file_name)  # type: ignore[attr-defined]
            except Exception as exc:  # noqa: BLE001 - informational only
                resolved = f"<{type(exc).__name__}: {exc}>"
            print(f"{file_name}: s3FileType={file_type!s} resolvedS3FileName={resolved!s}", file=err)
            try:
                with _open(file_name) as stream:
                    for offset, record in iter_records(stream, start_hint, end_hint):
                        outcome = run_record(parser, file_type, file_name, offset, record)
                        counts[outcome["status"]] += 1
                        total += 1
                        out.write(_line(file_name, offset, outcome) + "\n")
                        if docs_out is not None and outcome["status"] == "SUCCESS":
                            docs_out.write(outcome["document"] + "\n")
                        if args.limit is not None and total >= args.limit:
                            break
            except (OSError, EOFError) as exc:
                status = _fail(err, f"cannot read {file_name}", exc)
                break
    finally:
        if docs_out is not None:
            docs_out.close()
        out.flush()
    print(
        f"{total} records: {counts['SUCCESS']} documents, {counts['ERROR']} errors, "
        f"{counts['SKIP']} skipped, {counts['EXCEPTION']} exceptions",
        file=err,
    )
    return status


def console_main() -> None:
    """Entry point of the ``ferry-harness`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
