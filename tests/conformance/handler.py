"""The conformance handler, Python twin of handler.mjs and of the Rust
handler in tests/src/conformance.rs. Keep the three in step: every case of
cases.json must give the same outcome on all of them.

The behaviour is driven by the arguments (see README.md):
- getResolvedS3FileName: fileName "raise:<m>" raises ConformanceError(m);
  otherwise returns "<s3FileType>/<fileName>".
- getRecordStartPattern / getRecordEndPattern: s3FileType "PATTERN:<p>"
  returns a pattern hint, "OFFSET:<n>" an offset hint, "EMPTY" an empty
  pattern (an invalid result), "raise:<m>" raises ConformanceError(m);
  anything else gives the pattern "<s3FileType>" (start) or "\\n" (end).
- parseDocument: the record is "<command>" or "<command>:<argument>".
- The other readers take their command from one argument (messageBody,
  the Kinesis data, eventId, tableName) and share the commands doc, skip,
  error, skipnone, raise, retry and invalid; the Sagemaker functions take
  it from the document's "command" entry.
"""

import ferry
from ferry import Document, ErrorDoc, ParseDocumentResult, RecordParseHint, SkipDoc
from ferry import ParseDocumentResultStatus as Status


class ConformanceError(Exception):
    pass


def _hint(s3FileType, default):
    command, _, argument = s3FileType.partition(":")
    if command == "PATTERN":
        return RecordParseHint.of_pattern(argument)
    if command == "OFFSET":
        return RecordParseHint.of_offset(int(argument))
    if command == "EMPTY":
        return RecordParseHint.of_pattern("")
    if command == "raise":
        raise ConformanceError(argument)
    return RecordParseHint.of_pattern(default)


class ConformanceParser(ferry.SingleFileParser):
    def getS3FileType(self):
        return "CONFORMANCE"

    def getResolvedS3FileName(self, s3FileType, fileName):
        if fileName.startswith("raise:"):
            raise ConformanceError(fileName[len("raise:"):])
        return s3FileType + "/" + fileName

    def getRecordStartPattern(self, s3FileType):
        return _hint(s3FileType, "<" + s3FileType + ">")

    def getRecordEndPattern(self, s3FileType):
        return _hint(s3FileType, "\n")

    def parseDocument(self, s3FileType, s3Filename, offsetBytes, byteArr, startIndex, endIndex):
        record = bytes(byteArr[startIndex:endIndex])
        length = endIndex - startIndex
        end = offsetBytes + length
        if record.startswith(b"bin:"):
            return success(Document(
                documentId="bin@" + str(offsetBytes),
                recordType="Binary",
                partitionKey=s3Filename,
                documentKeyValuesMap={"hex": record[4:].hex(), "length": length},
            ))
        text = record.decode("utf-8")
        command, _, argument = text.partition(":")
        if command == "doc":
            return success(Document(
                documentId=argument,
                recordType="Conformance",
                partitionKey=s3Filename,
                documentMetadata={"fileType": s3FileType, "offset": offsetBytes},
                documentKeyValuesMap={"text": argument, "length": length},
            ))
        if command == "echo":
            return success(Document(
                documentId=s3Filename + "@" + str(offsetBytes),
                recordType="Echo",
                partitionKey=argument,
                documentKeyValuesMap={
                    "s3FileType": s3FileType,
                    "s3Filename": s3Filename,
                    "offsetBytes": offsetBytes,
                    "startIndex": startIndex,
                    "endIndex": endIndex,
                    "byteArrLength": len(byteArr),
                },
            ))
        if command == "skip":
            return ParseDocumentResult(None, SkipDoc(
                documentId="skip@" + str(offsetBytes),
                recordType="Skip",
                partitionKey=s3Filename,
                errorStartoffsetMap={s3FileType: offsetBytes},
                errorEndoffsetMap={s3FileType: end},
                skipMessage=argument,
            ), Status.SKIP)
        if command == "error":
            return ParseDocumentResult(None, ErrorDoc(
                documentId="error@" + str(offsetBytes),
                recordType="Error",
                partitionKey=s3Filename,
                documentMetadata={"reason": "conformance"},
                errorStartoffsetMap={s3FileType: offsetBytes, "line": 1},
                errorEndoffsetMap={s3FileType: end, "line": 2},
                errorMessage=argument,
            ), Status.ERROR)
        if command == "skipnone":
            return ParseDocumentResult(None, None, Status.SKIP)
        if command == "bare":
            return success(Document(documentId="bare"))
        if command == "raise":
            raise ConformanceError(argument)
        if command == "retry":
            raise ferry.RetryableError(argument)
        if command == "unicode":
            return success(Document(
                documentId="unicode-ü",
                recordType="Unicode",
                partitionKey="東京",
                documentKeyValuesMap={
                    "latin": "Zürich",
                    "arrow": "a → b",
                    "cjk": "東京",
                    "emoji": "😀",
                    "quote": 'say "hi"',
                    "escapes": "line\nnext\ttab\\slash",
                    "argument": argument,
                },
            ))
        if command == "nested":
            return success(Document(
                documentId="nested",
                recordType="Nested",
                partitionKey="p",
                documentMetadata={"depth": 3, "tags": ["a", "b"]},
                documentKeyValuesMap={
                    "object": {"inner": {"flag": False, "none": None}},
                    "list": [1, "two", None, True, [3, {"k": "v"}]],
                    "emptyObject": {},
                    "emptyList": [],
                    "documentId": "shadowed",
                    "partitionKey": "shadowed",
                },
            ))
        if command == "numbers":
            return success(Document(
                documentId="numbers",
                recordType="Numbers",
                partitionKey="n",
                documentKeyValuesMap={
                    "zero": 0,
                    "negative": -7,
                    "large": 9007199254740991,
                    "half": 0.5,
                    "quarter": -2.25,
                    "price": 12.5,
                    "decimal": 1234.5678,
                    "tenth": 0.1,
                },
            ))
        if command == "invalid":
            return ParseDocumentResult(None, None, Status.SUCCESS)
        raise ConformanceError("unknown command " + command)


def success(document):
    return ParseDocumentResult(None, document, Status.SUCCESS)


# ----------------------------------------------------------------- readers


def _reader_result(command, argument, position_key, position, record_type, make_document):
    """The commands every reader shares; `position` (a str) names the record
    in the offsets of SkipDoc and ErrorDoc and is their documentId."""
    if command == "doc":
        return success(make_document(argument))
    if command == "skip":
        return ParseDocumentResult(None, SkipDoc(
            documentId=position,
            recordType=record_type,
            errorStartoffsetMap={position_key: position},
            errorEndoffsetMap={position_key: position},
            skipMessage=argument,
        ), Status.SKIP)
    if command == "error":
        return ParseDocumentResult(None, ErrorDoc(
            documentId=position,
            recordType=record_type,
            documentMetadata={"reason": "conformance"},
            errorStartoffsetMap={position_key: position},
            errorEndoffsetMap={position_key: position},
            errorMessage=argument,
        ), Status.ERROR)
    if command == "skipnone":
        return ParseDocumentResult(None, None, Status.SKIP)
    if command == "raise":
        raise ConformanceError(argument)
    if command == "retry":
        raise ferry.RetryableError(argument)
    if command == "invalid":
        return ParseDocumentResult(None, None, Status.SUCCESS)
    raise ConformanceError("unknown command " + command)


def _key_id(keys):
    """The key values joined with "|" (they are strings or integers)."""
    return "|".join(str(value) for value in keys.values())


class ConformanceQueueReader(ferry.QueueMessageReader):
    def parseMessage(self, messageId, messageGroupId, messageDeduplicationId, messageAttributes, messageBody):
        command, _, argument = messageBody.partition(":")
        return _reader_result(command, argument, "messageId", messageId, "Message", lambda argument: Document(
            documentId=argument,
            recordType="Message",
            partitionKey=messageGroupId if messageGroupId is not None else messageId,
            documentMetadata={"messageId": messageId},
            documentKeyValuesMap={
                "messageGroupId": messageGroupId,
                "messageDeduplicationId": messageDeduplicationId,
                "messageAttributes": messageAttributes,
                "messageBody": messageBody,
            },
        ))


class ConformanceKinesisReader(ferry.KinesisRecordReader):
    def parseMessage(self, streamArn, shardId, partitionKey, sequenceNumber, approximateArrivalTimestamp, data):
        if data.startswith(b"bin:"):
            return success(Document(
                documentId="bin@" + sequenceNumber,
                recordType="Binary",
                partitionKey=partitionKey,
                documentKeyValuesMap={"hex": data[4:].hex(), "length": len(data)},
            ))
        text = data.decode("utf-8")
        command, _, argument = text.partition(":")
        return _reader_result(command, argument, "sequenceNumber", sequenceNumber, "Record", lambda argument: Document(
            documentId=argument,
            recordType="Record",
            partitionKey=partitionKey,
            documentMetadata={"shardId": shardId, "sequenceNumber": sequenceNumber},
            documentKeyValuesMap={
                "streamArn": streamArn,
                "approximateArrivalTimestamp": approximateArrivalTimestamp,
                "data": text,
                "length": len(data),
            },
        ))


class ConformanceStreamsReader(ferry.DynamoDBStreamsRecordReader):
    def parseRecord(self, streamArn, shardId, eventId, eventName, identityPrincipalId, identityType,
                    sequenceNumber, sizeBytes, streamViewType, approximateCreationDateTime, keys, oldImage, newImage):
        command, _, argument = eventId.partition(":")
        return _reader_result(command, argument, "sequenceNumber", sequenceNumber, "StreamRecord", lambda _: Document(
            documentId=_key_id(keys),
            recordType=eventName,
            partitionKey=shardId,
            documentMetadata={
                "sequenceNumber": sequenceNumber,
                "sizeBytes": sizeBytes,
                "streamViewType": streamViewType,
                "approximateCreationDateTime": approximateCreationDateTime,
            },
            documentKeyValuesMap={
                "streamArn": streamArn,
                "eventId": eventId,
                "identityPrincipalId": identityPrincipalId,
                "identityType": identityType,
                "keys": keys,
                "oldImage": oldImage,
                "newImage": newImage,
            },
        ))


class ConformanceTableReader(ferry.DynamoDBTableItemReader):
    def parseDynamoDBItem(self, tableName, segmentNumber, keys, item):
        command, _, argument = tableName.partition(":")
        return _reader_result(command, argument, "segmentNumber", str(segmentNumber), "Item", lambda argument: Document(
            documentId=_key_id(keys),
            recordType="Item",
            partitionKey=argument,
            documentMetadata={"segmentNumber": segmentNumber},
            documentKeyValuesMap={"tableName": tableName, "keys": keys, "item": item},
        ))


# --------------------------------------------------------------- sagemaker


class ConformanceVectors(ferry.SagemakerVectorsInterface):
    def extractDocumentElementsForVectorization(self, document):
        command, _, argument = document["command"].partition(":")
        if command == "elements":
            # Values are passed as they are: a non-text one is an invalid result.
            return {name: value for name, value in document.items() if name.startswith("text")}
        if command == "raise":
            raise ConformanceError(argument)
        if command == "retry":
            raise ferry.RetryableError(argument)
        raise ConformanceError("unknown command " + command)

    def constructVectorDoc(self, documentInterface, vectorsMap):
        command, _, argument = documentInterface["command"].partition(":")
        document_id = documentInterface["documentId"]
        if command == "vectors":
            # Head entries are left out by the flat form itself.
            values = {
                name: value
                for name, value in documentInterface.items()
                if name != "command" and not name.startswith("text")
            }
            values["vectors"] = vectorsMap
            return Document(
                documentId=document_id,
                recordType="Vectors",
                partitionKey=documentInterface["partitionKey"],
                documentMetadata=documentInterface["documentMetadata"],
                documentKeyValuesMap=values,
            )
        if command == "error":
            return ErrorDoc(
                documentId=document_id,
                recordType="Vectors",
                errorStartoffsetMap={"documentId": document_id},
                errorEndoffsetMap={"documentId": document_id},
                errorMessage=argument,
            )
        if command == "raise":
            raise ConformanceError(argument)
        if command == "retry":
            raise ferry.RetryableError(argument)
        raise ConformanceError("unknown command " + command)
