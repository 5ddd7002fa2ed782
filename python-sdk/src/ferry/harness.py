"""Run a handler over sample input, without the task host.

Usage::

    python -m ferry.harness --handler PATH [--limit N] [--documents OUT.jsonl] FILE [FILE...]
    python -m ferry.harness --handler PATH --function INTERFACE.METHOD [--limit N] [--documents OUT.jsonl] FILE...

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

With ``--function``, one of :data:`FUNCTIONS` (e.g.
``QueueMessageReader.parseMessage``), every FILE holds JSON lines, each the
``data`` object of a LetsData request to that function (the same keys: for
Kinesis ``data`` is text, passed encoded as UTF-8 bytes; DynamoDB images and
items sit under ``data``, ``{}`` when missing). Each line is one call, and
stdout gets ``{"file":..,"line":<1-based>,...}`` with the fields above;
``extractDocumentElementsForVectorization`` adds ``"elements"`` (its dict) to a
SUCCESS line, and ``constructVectorDoc`` reports its Document as SUCCESS (an
ErrorDoc as ERROR, a SkipDoc as SKIP).

Exit status: 0 when all files were processed (whatever the records' outcomes),
1 when the handler failed to load or to set up (no handler for the interface, a
failing or invalid getS3FileType/getRecordStartPattern/getRecordEndPattern), a
file could not be read or an input line is not a call's ``data``, 2 for bad
usage.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import sys
import traceback
from enum import Enum
from typing import IO, Any, Callable, Dict, Iterator, Mapping, Optional, Sequence, Tuple

from .documents import flat_json
from .errors import HandlerLoadError
from .loader import load_handler
from .records import iter_records, normalize_hint

__all__ = ["main", "console_main", "run_record", "run_call", "FUNCTIONS"]

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
    return _parse_result_outcome(result, "parseDocument")


def _parse_result_outcome(result: Any, method: str) -> Dict[str, Any]:
    if not hasattr(result, "status") or not hasattr(result, "document"):
        return _invalid_outcome(f"{method} returned {type(result).__name__}, expected a ParseDocumentResult")
    status = _status_name(result.status)
    if status is None:
        return _invalid_outcome(f"{method} returned an unknown status {result.status!r}")
    if status == "SUCCESS" and result.document is None:
        return _invalid_outcome(f"{method} returned status SUCCESS without a document")
    return _document_outcome(status, result.document)


def _document_outcome(status: str, document: Any) -> Dict[str, Any]:
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


def _elements_outcome(result: Any, method: str) -> Dict[str, Any]:
    if not isinstance(result, dict):
        return _invalid_outcome(f"{method} returned {type(result).__name__}, expected a dict of element names to texts")
    for name, text in result.items():
        if not isinstance(name, str) or not isinstance(text, str):
            return _invalid_outcome(f"{method} returned the element {name!r}: {text!r}; names and texts must be str")
    return {"status": "SUCCESS", "document": None, "message": None, "elements": result}


def _vector_doc_outcome(result: Any, method: str) -> Dict[str, Any]:
    if result is None or not hasattr(result, "documentId"):
        return _invalid_outcome(f"{method} returned {type(result).__name__}, expected a Document")
    kind = getattr(result, "documentType", None)
    if isinstance(kind, Enum):
        kind = kind.value if isinstance(kind.value, str) else kind.name
    status = {"errordoc": "ERROR", "skipdoc": "SKIP"}.get(str(kind).lower(), "SUCCESS")
    return _document_outcome(status, result)


def _queue_args(data: Mapping[str, Any]) -> Tuple[Any, ...]:
    return (data["messageId"], data.get("messageGroupId"), data.get("messageDeduplicationId"),
            data.get("messageAttributes") or {}, data["messageBody"])


def _kinesis_args(data: Mapping[str, Any]) -> Tuple[Any, ...]:
    return (data["streamArn"], data["shardId"], data["partitionKey"], data["sequenceNumber"],
            data["approximateArrivalTimestamp"], data["data"].encode("utf-8"))


def _streams_args(data: Mapping[str, Any]) -> Tuple[Any, ...]:
    images = data.get("data") or {}
    return (data["streamArn"], data["shardId"], data["eventId"], data["eventName"], data.get("identityPrincipalId"),
            data.get("identityType"), data["sequenceNumber"], data["sizeBytes"], data["streamViewType"],
            data["approximateCreationDateTime"], images.get("keys") or {}, images.get("oldImage") or {},
            images.get("newImage") or {})


def _table_args(data: Mapping[str, Any]) -> Tuple[Any, ...]:
    images = data.get("data") or {}
    return (data["tableName"], data["segmentNumber"], images.get("keys") or {}, images.get("item") or {})


#: ``--function`` choice -> (interface, method, arguments from one input line,
#: outcome of the method's result).
FUNCTIONS: Mapping[str, Tuple[str, str, Callable[[Mapping[str, Any]], Tuple[Any, ...]],
                              Callable[[Any, str], Dict[str, Any]]]] = {
    "QueueMessageReader.parseMessage": ("QueueMessageReader", "parseMessage", _queue_args, _parse_result_outcome),
    "KinesisRecordReader.parseMessage": ("KinesisRecordReader", "parseMessage", _kinesis_args, _parse_result_outcome),
    "DynamoDBStreamsRecordReader.parseRecord": (
        "DynamoDBStreamsRecordReader", "parseRecord", _streams_args, _parse_result_outcome),
    "DynamoDBTableItemReader.parseDynamoDBItem": (
        "DynamoDBTableItemReader", "parseDynamoDBItem", _table_args, _parse_result_outcome),
    "SagemakerVectorsInterface.extractDocumentElementsForVectorization": (
        "SagemakerVectorsInterface", "extractDocumentElementsForVectorization",
        lambda data: (data["document"],), _elements_outcome),
    "SagemakerVectorsInterface.constructVectorDoc": (
        "SagemakerVectorsInterface", "constructVectorDoc",
        lambda data: (data["documentInterface"], data["vectorsMap"]), _vector_doc_outcome),
}


def run_call(handler: Any, function: str, data: Mapping[str, Any]) -> Dict[str, Any]:
    """Call ``function`` (a key of :data:`FUNCTIONS`) of ``handler`` with the
    arguments of one LetsData ``data`` object and classify the outcome, as
    :func:`run_record` does. A ``KeyError`` building the arguments (a line that
    lacks a key) propagates; it is the input's fault, not the handler's."""
    _, method, build_args, outcome = FUNCTIONS[function]
    args = build_args(data)
    try:
        result = getattr(handler, method)(*args)
    except Exception as exc:  # noqa: BLE001 - the user's failure is the outcome
        return _exception_outcome(exc)
    return outcome(result, method)


def _line(file_name: str, position: str, index: int, outcome: Dict[str, Any]) -> str:
    parts = [
        '{"file":', _dumps(file_name),
        ',"', position, '":', str(index),
        ',"status":', _dumps(outcome["status"]),
        ',"document":', outcome["document"] if outcome["document"] is not None else "null",
        ',"message":', _dumps(outcome["message"]),
    ]
    for extra in ("elements", "exception"):
        if extra in outcome:
            parts += [',"', extra, '":', _dumps(outcome[extra])]
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
        description="Run a ferry/LetsData handler over sample files.",
    )
    ap.add_argument("--handler", required=True, metavar="PATH",
                    help="handler .py file, directory with handler.py, or LetsData project directory")
    ap.add_argument("--function", choices=sorted(FUNCTIONS), metavar="INTERFACE.METHOD",
                    help="call this function once per JSON line of each FILE instead of running a "
                         f"SingleFileParser over the files; one of: {', '.join(sorted(FUNCTIONS))}")
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
    if args.function:
        interface = FUNCTIONS[args.function][0]
        handler = loaded.interfaces.get(interface)
        if handler is None:
            return _missing_interface(err, loaded, interface)
        outcomes = _call_outcomes(handler, args.function, args.files)
    else:
        parser = loaded.interfaces.get("SingleFileParser")
        if parser is None:
            return _missing_interface(err, loaded, "SingleFileParser")
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
        outcomes = _file_outcomes(parser, file_type, start_hint, end_hint, args.files, err)

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
        for file_name, position, index, outcome in outcomes:
            counts[outcome["status"]] += 1
            total += 1
            out.write(_line(file_name, position, index, outcome) + "\n")
            if docs_out is not None and outcome["status"] == "SUCCESS" and outcome["document"] is not None:
                docs_out.write(outcome["document"] + "\n")
            if args.limit is not None and total >= args.limit:
                break
    except _InputFailure as exc:
        print(f"ferry.harness: {exc}", file=err)
        status = 1
    finally:
        outcomes.close()
        if docs_out is not None:
            docs_out.close()
        out.flush()
    print(
        f"{total} records: {counts['SUCCESS']} documents, {counts['ERROR']} errors, "
        f"{counts['SKIP']} skipped, {counts['EXCEPTION']} exceptions",
        file=err,
    )
    return status


class _InputFailure(Exception):
    """The input failed, not the handler: a file that cannot be read, or a
    line that is not the data of a call."""


#: One outcome: (file name, "offset" or "line", its value, outcome).
Outcomes = Iterator[Tuple[str, str, int, Dict[str, Any]]]


def _file_outcomes(parser: Any, file_type: Any, start_hint: Any, end_hint: Any, files: Sequence[str],
                   err: IO[str]) -> Outcomes:
    """parseDocument of every record of ``files``, cut with the parser's hints."""
    for file_name in files:
        try:
            resolved: Any = parser.getResolvedS3FileName(file_type, file_name)
        except Exception as exc:  # noqa: BLE001 - informational only
            resolved = f"<{type(exc).__name__}: {exc}>"
        print(f"{file_name}: s3FileType={file_type!s} resolvedS3FileName={resolved!s}", file=err)
        try:
            with _open(file_name) as stream:
                for offset, record in iter_records(stream, start_hint, end_hint):
                    yield file_name, "offset", offset, run_record(parser, file_type, file_name, offset, record)
        except (OSError, EOFError) as exc:
            raise _InputFailure(f"cannot read {file_name}: {type(exc).__name__}: {exc}") from exc


def _call_outcomes(handler: Any, function: str, files: Sequence[str]) -> Outcomes:
    """``function`` called once per non-blank JSON line of ``files``."""
    for file_name in files:
        try:
            with _open(file_name) as stream:
                for number, raw in enumerate(stream, 1):
                    if raw.strip():
                        yield file_name, "line", number, _call_line(handler, function, f"{file_name}:{number}", raw)
        except (OSError, EOFError) as exc:
            raise _InputFailure(f"cannot read {file_name}: {type(exc).__name__}: {exc}") from exc


def _call_line(handler: Any, function: str, where: str, raw: bytes) -> Dict[str, Any]:
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise _InputFailure(f"{where}: not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise _InputFailure(f"{where}: not a JSON object")
    try:
        return run_call(handler, function, data)
    except KeyError as exc:
        raise _InputFailure(f"{where}: the data of {function} has no key {exc}") from None
    except (AttributeError, TypeError) as exc:
        raise _InputFailure(f"{where}: not the data of {function}: {type(exc).__name__}: {exc}") from None


def _missing_interface(err: IO[str], loaded: Any, interface: str) -> int:
    found = ", ".join(loaded.interfaces) or "none"
    print(f"ferry.harness: handler {loaded.path} has no {interface} (it implements: {found})", file=err)
    return 1


def console_main() -> None:
    """Entry point of the ``ferry-harness`` console script."""
    sys.exit(main())


if __name__ == "__main__":
    console_main()
