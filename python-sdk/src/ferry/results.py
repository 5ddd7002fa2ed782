"""Reader results and record-delimiting hints.

* :class:`ParseDocumentResult` is what every reader method returns
  (``parseDocument``, ``parseMessage``, ``parseRecord``, ``parseDynamoDBItem``).
* :class:`RecordParseHint` is what ``SingleFileParser.getRecordStartPattern`` /
  ``getRecordEndPattern`` return; it tells the task host how to cut a file into
  records (see :mod:`ferry.records` for the exact rules).
"""

from __future__ import annotations

from enum import Enum
from typing import Any, Optional

__all__ = [
    "ParseDocumentResultStatus",
    "ParseDocumentResult",
    "RecordHintType",
    "RecordParseHint",
]


class ParseDocumentResultStatus(str, Enum):
    """Outcome of parsing one record; the value equals the member name.

    ``SUCCESS``: ``document`` is a :class:`~ferry.Document` to write.
    ``ERROR``: ``document`` is an :class:`~ferry.ErrorDoc` for the error destination.
    ``SKIP``: ``document`` is a :class:`~ferry.SkipDoc` (or ``None``); nothing is written.
    """

    SUCCESS = "SUCCESS"
    ERROR = "ERROR"
    SKIP = "SKIP"

    def __str__(self) -> str:
        return str.__str__(self)


class ParseDocumentResult:
    """Result of a reader call: ``(nextRecordType, document, status)``.

    ``nextRecordType`` is ``None`` for the stateless Python interfaces (it carries
    the next state of the Java state-machine parsers).
    """

    __slots__ = ("nextRecordType", "document", "status")

    def __init__(
        self,
        nextRecordType: Optional[str] = None,
        document: Any = None,
        status: Optional[ParseDocumentResultStatus] = None,
    ) -> None:
        self.nextRecordType = nextRecordType
        self.document = document
        self.status = status

    def getNextRecordType(self) -> Optional[str]:
        return self.nextRecordType

    def getDocument(self) -> Any:
        return self.document

    def getStatus(self) -> Optional[ParseDocumentResultStatus]:
        return self.status

    def __repr__(self) -> str:
        return (
            f"ParseDocumentResult(nextRecordType={self.nextRecordType!r}, "
            f"document={self.document!r}, status={self.status!r})"
        )


class RecordHintType(str, Enum):
    """How a record boundary is found: by a byte ``PATTERN`` or a byte ``OFFSET``."""

    OFFSET = "OFFSET"
    PATTERN = "PATTERN"

    def __str__(self) -> str:
        return str.__str__(self)


class RecordParseHint:
    """A record start or end delimiter.

    ``RecordParseHint(RecordHintType.PATTERN, "<delimiter>", -1)`` delimits by a
    string (matched as its UTF-8 bytes); ``RecordParseHint(RecordHintType.OFFSET,
    None, n)`` by a byte count. :meth:`getPattern` is only valid for PATTERN hints
    and :meth:`getOffset` only for OFFSET hints (otherwise ``AssertionError``).
    """

    __slots__ = ("recordHintType", "pattern", "offset")

    def __init__(
        self,
        recordHintType: RecordHintType,
        pattern: Optional[str] = None,
        offset: int = -1,
    ) -> None:
        self.recordHintType = recordHintType
        self.pattern = pattern
        self.offset = offset

    @classmethod
    def of_pattern(cls, pattern: str) -> "RecordParseHint":
        """A PATTERN hint for ``pattern`` (offset is -1)."""
        return cls(RecordHintType.PATTERN, pattern, -1)

    @classmethod
    def of_offset(cls, offset: int) -> "RecordParseHint":
        """An OFFSET hint of ``offset`` bytes (pattern is None)."""
        return cls(RecordHintType.OFFSET, None, offset)

    def getRecordHintType(self) -> RecordHintType:
        return self.recordHintType

    def getPattern(self) -> Optional[str]:
        """The delimiter string; raises ``AssertionError`` unless this is a PATTERN hint."""
        if self.recordHintType != RecordHintType.PATTERN:
            raise AssertionError(
                f"getPattern() called on a {self.recordHintType!s} hint; it is only valid for PATTERN"
            )
        return self.pattern

    def getOffset(self) -> int:
        """The byte count; raises ``AssertionError`` unless this is an OFFSET hint."""
        if self.recordHintType != RecordHintType.OFFSET:
            raise AssertionError(
                f"getOffset() called on a {self.recordHintType!s} hint; it is only valid for OFFSET"
            )
        return self.offset

    def __repr__(self) -> str:
        return (
            f"RecordParseHint(recordHintType={self.recordHintType!r}, "
            f"pattern={self.pattern!r}, offset={self.offset!r})"
        )
