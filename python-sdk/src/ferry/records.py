"""Cutting a byte stream into records from a start hint and an end hint.

These are the rules the ferry task host applies to the hints returned by
``SingleFileParser.getRecordStartPattern`` / ``getRecordEndPattern``. Starting
with the cursor ``c`` at 0:

* start PATTERN ``p``: the record starts at the first occurrence of ``p`` at or
  after ``c``; the bytes before it are skipped. No occurrence: done.
* start OFFSET ``k``: the record starts at ``c + k``; done if that is at or
  after the end of the stream.
* end PATTERN ``q``: the record ends right after the first occurrence of ``q``
  that begins at or after ``start + len(p)`` (or at or after ``start`` when the
  start is an OFFSET); ``q`` is part of the record. If there is no such
  occurrence, the rest of the stream is the final record (when non-empty).
* end OFFSET ``n``: the record is the ``n`` bytes from its start (a shorter final
  record is returned as is).
* The cursor moves to the end of the record.

Patterns are strings matched as their UTF-8 bytes (``bytes`` are accepted as
is). Patterns must be non-empty, a start offset must be >= 0 and an end offset
> 0 (anything else would not make progress); violations raise ``ValueError``.

The stream is read in chunks; the buffer holds at most one record plus one
chunk (and a pattern's length of look-behind), so files larger than memory
work as long as single records fit.
"""

from __future__ import annotations

import io
from enum import Enum
from typing import Any, BinaryIO, Iterator, Mapping, NamedTuple, Optional, Tuple, Union

__all__ = ["Boundary", "normalize_hint", "iter_records"]

DEFAULT_CHUNK_SIZE = 1 << 20


class Boundary(NamedTuple):
    """A normalized hint: ``kind`` is ``"PATTERN"`` (use ``pattern``) or ``"OFFSET"`` (use ``offset``)."""

    kind: str
    pattern: Optional[bytes]
    offset: Optional[int]


def _hint_field(hint: Any, name: str) -> Any:
    if isinstance(hint, Mapping):
        return hint.get(name)
    return getattr(hint, name, None)


def normalize_hint(hint: Any, which: str = "record") -> Boundary:
    """Turn a ``RecordParseHint``-like object into a :class:`Boundary`.

    Accepts :class:`ferry.RecordParseHint`, any object with ``recordHintType``,
    ``pattern`` and ``offset`` attributes (e.g. a LetsData project's own class,
    whose ``recordHintType`` may be a different enum or a string), or a mapping
    with those keys. ``which`` ("start"/"end") is only used in error messages.
    """
    if hint is None:
        raise ValueError(f"{which} hint is None; expected a RecordParseHint")
    kind = _hint_field(hint, "recordHintType")
    if isinstance(kind, Enum):
        kind = kind.value if isinstance(kind.value, str) else kind.name
    kind = str(kind).upper() if kind is not None else None
    if kind == "PATTERN":
        pattern = _hint_field(hint, "pattern")
        if isinstance(pattern, str):
            pattern_bytes = pattern.encode("utf-8")
        elif isinstance(pattern, (bytes, bytearray, memoryview)):
            pattern_bytes = bytes(pattern)
        else:
            raise ValueError(f"{which} hint is a PATTERN hint without a pattern string: {hint!r}")
        if not pattern_bytes:
            raise ValueError(f"{which} hint has an empty pattern")
        return Boundary("PATTERN", pattern_bytes, None)
    if kind == "OFFSET":
        offset = _hint_field(hint, "offset")
        if isinstance(offset, bool) or not isinstance(offset, int):
            raise ValueError(f"{which} hint is an OFFSET hint without an integer offset: {hint!r}")
        if which == "end" and offset <= 0:
            raise ValueError(f"end OFFSET hint must be > 0, got {offset}")
        if offset < 0:
            raise ValueError(f"{which} OFFSET hint must be >= 0, got {offset}")
        return Boundary("OFFSET", None, offset)
    raise ValueError(f"{which} hint has an unknown recordHintType {kind!r} (expected PATTERN or OFFSET)")


class _Window:
    """A sliding window over a binary stream, addressed by absolute offsets."""

    __slots__ = ("_read", "_chunk", "buf", "base", "eof", "keep")

    def __init__(self, read: Any, chunk: int) -> None:
        self._read = read
        self._chunk = chunk
        self.buf = bytearray()
        self.base = 0  # absolute offset of buf[0]
        self.eof = False
        self.keep = 0  # bytes before this absolute offset may be dropped

    @property
    def end(self) -> int:
        return self.base + len(self.buf)

    def fill(self) -> bool:
        """Read one more chunk; False at end of stream."""
        if self.eof:
            return False
        drop = self.keep - self.base
        if drop > 0 and drop >= len(self.buf) // 2:
            del self.buf[:drop]
            self.base += drop
        data = self._read(self._chunk)
        if not data:
            self.eof = True
            return False
        self.buf += data
        return True

    def find(self, pattern: bytes, start: int, skip: bool) -> int:
        """Absolute offset of the first ``pattern`` at or after ``start``, or -1.

        With ``skip`` the bytes before a possible match are released as the
        search advances (used for start patterns, whose prefix is skipped).
        """
        while True:
            i = self.buf.find(pattern, start - self.base)
            if i >= 0:
                return self.base + i
            if self.eof:
                return -1
            start = max(start, self.end - len(pattern) + 1)
            if skip:
                self.keep = start
            self.fill()

    def reaches(self, offset: int) -> bool:
        """True if the stream has a byte at ``offset``."""
        while self.end <= offset:
            if not self.fill():
                return False
        return True

    def clamp(self, offset: int) -> int:
        """``min(offset, end of stream)``."""
        while self.end < offset:
            if not self.fill():
                return self.end
        return offset

    def stream_end(self) -> int:
        while self.fill():
            pass
        return self.end

    def take(self, start: int, end: int) -> bytes:
        return bytes(self.buf[start - self.base : end - self.base])


StreamLike = Union[BinaryIO, bytes, bytearray, memoryview, Any]


def iter_records(
    stream: StreamLike,
    start_hint: Any,
    end_hint: Any,
    *,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
) -> Iterator[Tuple[int, bytes]]:
    """Yield ``(offset, record_bytes)`` for every record of ``stream``.

    ``stream`` is a binary file-like object (anything with ``read(n)``) or a
    bytes-like object. The hints are ``RecordParseHint``-like (see
    :func:`normalize_hint`); they are validated before anything is read.
    ``offset`` is the absolute byte offset of the record in the stream. The
    cutting rules are described in the module docstring.
    """
    start_b = normalize_hint(start_hint, "start")
    end_b = normalize_hint(end_hint, "end")
    if chunk_size <= 0:
        raise ValueError("chunk_size must be > 0")
    if isinstance(stream, (bytes, bytearray, memoryview)):
        stream = io.BytesIO(bytes(stream))
    return _cut(stream.read, start_b, end_b, chunk_size)


def _cut(read: Any, start_b: Boundary, end_b: Boundary, chunk_size: int) -> Iterator[Tuple[int, bytes]]:
    win = _Window(read, chunk_size)
    cursor = 0
    start_pattern = start_b.pattern
    start_offset = start_b.offset
    end_pattern = end_b.pattern
    end_offset = end_b.offset
    while True:
        win.keep = cursor
        if start_pattern is not None:
            rstart = win.find(start_pattern, cursor, skip=True)
            if rstart < 0:
                return
            search_from = rstart + len(start_pattern)
        else:
            assert start_offset is not None
            rstart = cursor + start_offset
            if not win.reaches(rstart):
                return
            search_from = rstart
        win.keep = rstart
        if end_pattern is not None:
            j = win.find(end_pattern, search_from, skip=False)
            if j < 0:
                rend = win.stream_end()
                if rend > rstart:
                    yield rstart, win.take(rstart, rend)
                return
            rend = j + len(end_pattern)
        else:
            assert end_offset is not None
            rend = win.clamp(rstart + end_offset)
        yield rstart, win.take(rstart, rend)
        cursor = rend
