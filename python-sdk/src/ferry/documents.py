"""The document model handlers return: :class:`Document`, :class:`ErrorDoc`, :class:`SkipDoc`.

Contract (shared with the LetsData Python interfaces and read by the ferry bridge):

* The instance attributes have exactly these names, and the bridge reads them by
  duck typing: ``documentType, documentId, recordType, partitionKey,
  documentMetadata, documentKeyValuesMap`` on every document, plus
  ``errorStartoffsetMap, errorEndoffsetMap, errorMessage`` on :class:`ErrorDoc`
  and ``errorStartoffsetMap, errorEndoffsetMap, skipMessage`` on :class:`SkipDoc`
  (note the lowercase ``o`` in ``errorStartoffsetMap``; the getters spell it
  ``getErrorStartOffsetMap``).
* A :class:`Document` goes to the write destination, an :class:`ErrorDoc` to the
  error destination, a :class:`SkipDoc` nowhere (the record is only checkpointed).
* Documents are written as *flat JSON* (see :func:`flat_json`), never as the
  nested attribute structure.

The classes use ``__slots__`` (the bridge creates a few hundred thousand of them
per second), so instances have no ``__dict__`` and unknown attributes cannot be
set on them. Subclass them if you need extra attributes.
"""

from __future__ import annotations

import json
from enum import Enum
from typing import Any, Dict, List, Mapping, Optional

__all__ = [
    "DocumentType",
    "Document",
    "ErrorDoc",
    "SkipDoc",
    "RESERVED_KEYS",
    "flat_dict",
    "flat_json",
]


class DocumentType(str, Enum):
    """Kind of a document; the value equals the member name."""

    Document = "Document"
    ErrorDoc = "ErrorDoc"
    SkipDoc = "SkipDoc"

    def __str__(self) -> str:  # "Document", not "DocumentType.Document"
        return str.__str__(self)


#: The keys written first in flat JSON. Entries of ``documentKeyValuesMap``
#: with one of these names are ignored by the serializer.
RESERVED_KEYS = ("documentId", "recordType", "partitionKey", "documentMetadata")
_RESERVED = frozenset(RESERVED_KEYS)


class Document:
    """A document produced by a handler.

    All arguments are optional. ``documentType`` defaults to
    :attr:`DocumentType.Document`; the other values are stored as given.

    * ``documentId`` / ``recordType`` / ``partitionKey``: strings (``None`` is
      written as JSON ``null``). ``partitionKey`` is used as the partition key of
      the write destination (e.g. Kinesis).
    * ``documentMetadata``: a JSON-serializable dict (``None`` is written as ``{}``).
    * ``documentKeyValuesMap``: the document body, a dict with string keys and
      JSON-serializable values; its entries become top-level keys of the flat JSON.
    """

    __slots__ = (
        "documentType",
        "documentId",
        "recordType",
        "partitionKey",
        "documentMetadata",
        "documentKeyValuesMap",
    )

    def __init__(
        self,
        documentType: Any = DocumentType.Document,
        documentId: Optional[str] = None,
        recordType: Optional[str] = None,
        partitionKey: Optional[str] = None,
        documentMetadata: Optional[Dict[str, Any]] = None,
        documentKeyValuesMap: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.documentType = documentType
        self.documentId = documentId
        self.recordType = recordType
        self.partitionKey = partitionKey
        self.documentMetadata = documentMetadata
        self.documentKeyValuesMap = documentKeyValuesMap

    def getDocumentType(self) -> Any:
        """The :class:`DocumentType` of this document."""
        return self.documentType

    def getDocumentId(self) -> Optional[str]:
        return self.documentId

    def getRecordType(self) -> Optional[str]:
        return self.recordType

    def getPartitionKey(self) -> Optional[str]:
        return self.partitionKey

    def getDocumentMetadata(self) -> Optional[Dict[str, Any]]:
        return self.documentMetadata

    def getDocumentKeyValuesMap(self) -> Optional[Dict[str, Any]]:
        return self.documentKeyValuesMap

    def serialize(self) -> str:
        """Return the flat JSON string of this document (see :func:`flat_json`)."""
        return flat_json(self)

    def __repr__(self) -> str:
        fields = ", ".join(f"{name}={getattr(self, name)!r}" for name in _all_slots(type(self)))
        return f"{type(self).__name__}({fields})"


class _PositionedDoc(Document):
    """Shared by :class:`ErrorDoc` and :class:`SkipDoc`: a document that says
    where its record starts and ends.

    ``errorStartoffsetMap`` / ``errorEndoffsetMap`` map a file type (or other
    source identifier) to the offset, as a string, where the record starts /
    ends.
    """

    __slots__ = ("errorStartoffsetMap", "errorEndoffsetMap")

    def _set_fields(
        self,
        documentType: DocumentType,
        documentId: Optional[str],
        recordType: Optional[str],
        partitionKey: Optional[str],
        documentMetadata: Optional[Dict[str, Any]],
        documentKeyValuesMap: Optional[Dict[str, Any]],
        errorStartoffsetMap: Optional[Dict[str, Any]],
        errorEndoffsetMap: Optional[Dict[str, Any]],
    ) -> None:
        self.documentType = documentType
        self.documentId = documentId
        self.recordType = recordType
        self.partitionKey = partitionKey
        self.documentMetadata = documentMetadata
        self.documentKeyValuesMap = documentKeyValuesMap
        self.errorStartoffsetMap = errorStartoffsetMap
        self.errorEndoffsetMap = errorEndoffsetMap

    def getErrorStartOffsetMap(self) -> Optional[Dict[str, Any]]:
        return self.errorStartoffsetMap

    def getErrorEndOffsetMap(self) -> Optional[Dict[str, Any]]:
        return self.errorEndoffsetMap


class ErrorDoc(_PositionedDoc):
    """A record that could not be processed; routed to the error destination.

    ``documentType`` is always :attr:`DocumentType.ErrorDoc`.
    """

    __slots__ = ("errorMessage",)

    def __init__(
        self,
        documentId: Optional[str] = None,
        recordType: Optional[str] = None,
        partitionKey: Optional[str] = None,
        documentMetadata: Optional[Dict[str, Any]] = None,
        documentKeyValuesMap: Optional[Dict[str, Any]] = None,
        errorStartoffsetMap: Optional[Dict[str, Any]] = None,
        errorEndoffsetMap: Optional[Dict[str, Any]] = None,
        errorMessage: Optional[str] = None,
    ) -> None:
        self._set_fields(
            DocumentType.ErrorDoc, documentId, recordType, partitionKey, documentMetadata,
            documentKeyValuesMap, errorStartoffsetMap, errorEndoffsetMap,
        )
        self.errorMessage = errorMessage

    def getErrorMessage(self) -> Optional[str]:
        return self.errorMessage


class SkipDoc(_PositionedDoc):
    """A record that is intentionally not written anywhere (only checkpointed).

    Same fields as :class:`ErrorDoc` with ``skipMessage`` instead of
    ``errorMessage``. ``documentType`` is always :attr:`DocumentType.SkipDoc`.
    """

    __slots__ = ("skipMessage",)

    def __init__(
        self,
        documentId: Optional[str] = None,
        recordType: Optional[str] = None,
        partitionKey: Optional[str] = None,
        documentMetadata: Optional[Dict[str, Any]] = None,
        documentKeyValuesMap: Optional[Dict[str, Any]] = None,
        errorStartoffsetMap: Optional[Dict[str, Any]] = None,
        errorEndoffsetMap: Optional[Dict[str, Any]] = None,
        skipMessage: Optional[str] = None,
    ) -> None:
        self._set_fields(
            DocumentType.SkipDoc, documentId, recordType, partitionKey, documentMetadata,
            documentKeyValuesMap, errorStartoffsetMap, errorEndoffsetMap,
        )
        self.skipMessage = skipMessage

    def getSkipMessage(self) -> Optional[str]:
        return self.skipMessage


def _all_slots(cls: type) -> List[str]:
    names: List[str] = []
    for klass in reversed(cls.__mro__):
        for name in getattr(klass, "__slots__", ()):
            if name not in names:
                names.append(name)
    return names


def flat_dict(document: Any) -> Dict[str, Any]:
    """Return the flat mapping of ``document`` (any object with the document attributes).

    Key order: ``documentId``, ``recordType``, ``partitionKey``,
    ``documentMetadata`` (``{}`` when ``None``), then every entry of
    ``documentKeyValuesMap`` (when not ``None``) in the map's order, except entries
    whose key is one of those four names (they are ignored). ``documentType`` and
    the error/skip fields are not part of the flat form.
    """
    metadata = getattr(document, "documentMetadata", None)
    out: Dict[str, Any] = {
        "documentId": getattr(document, "documentId", None),
        "recordType": getattr(document, "recordType", None),
        "partitionKey": getattr(document, "partitionKey", None),
        "documentMetadata": {} if metadata is None else metadata,
    }
    values: Optional[Mapping[str, Any]] = getattr(document, "documentKeyValuesMap", None)
    if values:
        reserved = _RESERVED
        for key, value in values.items():
            if key not in reserved:
                out[key] = value
    return out


def flat_json(document: Any) -> str:
    """Serialize ``document`` to one flat JSON object (the format ferry writes).

    The mapping is :func:`flat_dict`; the encoding is
    ``json.dumps(obj, separators=(",", ":"), ensure_ascii=False)``. Raises
    ``TypeError`` / ``ValueError`` when a value is not JSON-serializable.
    """
    return json.dumps(flat_dict(document), separators=(",", ":"), ensure_ascii=False)
