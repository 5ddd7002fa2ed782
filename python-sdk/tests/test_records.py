from __future__ import annotations

import io
import random
from typing import List, Optional, Tuple

import pytest

from ferry import RecordHintType, RecordParseHint
from ferry.records import iter_records, normalize_hint

P = RecordParseHint.of_pattern
O = RecordParseHint.of_offset


def cut(data: bytes, start, end, chunk_size: int = 1 << 20) -> List[Tuple[int, bytes]]:
    return list(iter_records(io.BytesIO(data), start, end, chunk_size=chunk_size))


def test_json_lines_with_trailing_newline() -> None:
    data = b'{"a":1}\n{"b":2}\n{"c":3}\n'
    assert cut(data, O(0), P("\n")) == [(0, b'{"a":1}\n'), (8, b'{"b":2}\n'), (16, b'{"c":3}\n')]


def test_json_lines_without_trailing_newline() -> None:
    data = b'{"a":1}\n{"b":2}\n{"c":3}'
    assert cut(data, O(0), P("\n")) == [(0, b'{"a":1}\n'), (8, b'{"b":2}\n'), (16, b'{"c":3}')]


def test_empty_stream() -> None:
    assert cut(b"", O(0), P("\n")) == []
    assert cut(b"", P("X"), P("\n")) == []
    assert cut(b"", O(0), O(4)) == []


def test_warc_like_with_garbage_before() -> None:
    rec1 = b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://a\r\n\r\nhello\r\n\r\n"
    rec2 = b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://b\r\n\r\nworld\r\n\r\n"
    garbage = b"junk header\r\nmore junk\r\n"
    data = garbage + rec1 + b"\n" + rec2
    out = cut(data, P("WARC/1.0"), P("\r\n\r\n"))
    # the end pattern is searched after the start pattern, so the first "\r\n\r\n" (end of headers) ends a record
    assert out[0][0] == len(garbage)
    assert out[0][1] == b"WARC/1.0\r\nWARC-Type: conversion\r\nWARC-Target-URI: http://a\r\n\r\n"
    # the body after the header block is not a record start: skipped up to the next "WARC/1.0"
    assert out == [
        (len(garbage), rec1[: rec1.index(b"\r\n\r\n") + 4]),
        (len(garbage) + len(rec1) + 1, rec2[: rec2.index(b"\r\n\r\n") + 4]),
    ]
    # a WET-style pair: start "WARC-Type: conversion", end "\n\r\n\r\n" (record body ends with a blank line)
    one = b"WARC-Type: conversion\nbody one\n\r\n\r\n"
    two = b"WARC-Type: conversion\nbody two\n\r\n\r\n"
    wet = b"junk" + one + b"XX" + two + b"tail"
    out = cut(wet, P("WARC-Type: conversion"), P("\n\r\n\r\n"))
    assert out == [(4, one), (4 + len(one) + 2, two)]


def test_end_pattern_searched_after_start_pattern() -> None:
    # the end pattern "AB" overlaps the start pattern "ABC": it must begin at/after start+len(start)
    data = b"ABC..AB..ABC-AB"
    assert cut(data, P("ABC"), P("AB")) == [(0, b"ABC..AB"), (9, b"ABC-AB")]
    # for an OFFSET start the end pattern may begin at the record start
    assert cut(b"\n\nx\n", O(0), P("\n")) == [(0, b"\n"), (1, b"\n"), (2, b"x\n")]


def test_final_record_without_end_pattern() -> None:
    assert cut(b"S1 aaa;S2 bbb", P("S"), P(";")) == [(0, b"S1 aaa;"), (7, b"S2 bbb")]
    # no start occurrence after the last record: done, trailing bytes dropped
    assert cut(b"S1;zzz", P("S"), P(";")) == [(0, b"S1;")]


def test_offset_hints() -> None:
    data = bytes(range(10))
    assert cut(data, O(0), O(4)) == [(0, bytes(range(4))), (4, bytes(range(4, 8))), (8, bytes([8, 9]))]
    # start offset k skips k bytes after the cursor each time
    assert cut(data, O(1), O(3)) == [(1, bytes([1, 2, 3])), (5, bytes([5, 6, 7])), (9, bytes([9]))]
    assert cut(data, O(10), O(3)) == []
    assert cut(b"xx|r1|r2|", P("r"), O(2)) == [(3, b"r1"), (6, b"r2")]


def test_utf8_patterns() -> None:
    data = "aé§bé§c".encode("utf-8")
    assert cut(data, O(0), P("é§")) == [(0, "aé§".encode()), (5, "bé§".encode()), (10, b"c")]


def test_hint_objects_are_duck_typed() -> None:
    class Hint:
        def __init__(self, t: str, p: Optional[str], o: int) -> None:
            self.recordHintType, self.pattern, self.offset = t, p, o

    data = b"a\nb\n"
    assert cut(data, Hint("OFFSET", None, 0), Hint("pattern", "\n", -1)) == [(0, b"a\n"), (2, b"b\n")]
    assert cut(data, {"recordHintType": "OFFSET", "offset": 0}, {"recordHintType": "PATTERN", "pattern": "\n"}) == [
        (0, b"a\n"), (2, b"b\n")]
    assert list(iter_records(b"a\nb", O(0), P("\n"))) == [(0, b"a\n"), (2, b"b")]


@pytest.mark.parametrize(
    "start,end",
    [(P(""), P("\n")), (O(0), P("")), (O(0), O(0)), (O(-1), P("\n")), (None, P("\n")),
     (RecordParseHint(RecordHintType.PATTERN, None, -1), P("\n")), (RecordParseHint("BOGUS", "x", 1), P("\n"))],  # type: ignore[arg-type]
)
def test_invalid_hints(start, end) -> None:
    with pytest.raises(ValueError):
        iter_records(io.BytesIO(b"abc"), start, end)


def test_normalize_hint() -> None:
    assert normalize_hint(P("ab")) == ("PATTERN", b"ab", None)
    assert normalize_hint(O(3), "end") == ("OFFSET", None, 3)


class TrickleReader(io.RawIOBase):
    """Returns at most a few bytes per read, to exercise the buffering."""

    def __init__(self, data: bytes, rng: random.Random) -> None:
        self._data, self._pos, self._rng = data, 0, rng

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:  # type: ignore[override]
        k = min(n, self._rng.randint(1, 5))
        out = self._data[self._pos : self._pos + k]
        self._pos += len(out)
        return out


def naive(data: bytes, start, end) -> List[Tuple[int, bytes]]:
    """Straightforward reference implementation of the cutting rules on a whole buffer."""
    out = []
    c = 0
    n = len(data)
    while True:
        if start[0] == "P":
            s = data.find(start[1], c)
            if s < 0:
                break
            frm = s + len(start[1])
        else:
            s = c + start[1]
            if s >= n:
                break
            frm = s
        if end[0] == "P":
            j = data.find(end[1], frm)
            if j < 0:
                if n > s:
                    out.append((s, data[s:]))
                break
            e = j + len(end[1])
        else:
            e = min(s + end[1], n)
        out.append((s, data[s:e]))
        c = e
    return out


def _to_hint(spec) -> RecordParseHint:
    return P(spec[1].decode()) if spec[0] == "P" else O(spec[1])


@pytest.mark.parametrize("seed", range(8))
def test_randomized_against_naive(seed: int) -> None:
    rng = random.Random(seed)
    alphabet = b"ab\n"
    for _ in range(250):
        data = bytes(rng.choice(alphabet) for _ in range(rng.randint(0, 80)))

        def spec(is_end: bool):
            if rng.random() < 0.6:
                return ("P", bytes(rng.choice(alphabet) for _ in range(rng.randint(1, 3))))
            return ("O", rng.randint(1 if is_end else 0, 6))

        start, end = spec(False), spec(True)
        expected = naive(data, start, end)
        chunk = rng.choice([1, 2, 3, 7, 64, 1 << 20])
        got = cut(data, _to_hint(start), _to_hint(end), chunk_size=chunk)
        assert got == expected, (data, start, end, chunk)
        got2 = list(iter_records(TrickleReader(data, rng), _to_hint(start), _to_hint(end), chunk_size=chunk))
        assert got2 == expected, (data, start, end, chunk)


def test_large_stream_is_cut_in_chunks() -> None:
    lines = [f'{{"i":{i}}}\n'.encode() for i in range(20000)]
    data = b"".join(lines)
    out = cut(data, O(0), P("\n"), chunk_size=4096)
    assert [r for _, r in out] == lines
    assert out[-1][0] == len(data) - len(lines[-1])
