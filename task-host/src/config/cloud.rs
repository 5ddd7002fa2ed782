//! Read connectors over AWS services: S3, SQS, Kinesis, DynamoDB Streams
//! and DynamoDB tables, with the manifest settings of each.
//!
//! LetsData names the resource with a different field per destination
//! (`bucketName`, `queueName`, `streamArn`, `tableName`); each destination
//! requires its own and refuses the others', so a dataset file copied from
//! one source to another fails with the field to change. The manifest of a
//! stream or table read carries settings rather than files.

use std::path::Path;

use serde_json::Value;

use super::choices::{
    Choices, MANIFEST_TYPES, ManifestType, QUEUE_STOPS, READER_TYPES, ReadDestination, ReaderType, SCAN_STOPS,
    STREAM_STARTS, STREAM_STOPS,
};
use super::issues::{Issues, join};
use super::manifest::check_reader_type;
use super::raw::{
    RawCloudReadConnector, RawDynamoDbStreamsManifest, RawDynamoDbTableManifest, RawKinesisManifest, RawS3Manifest,
    RawSqsManifest,
};
use super::validate::handler_spec;
use super::{
    CloudReadConnector, CloudSource, QueueStop, ReadConnector, S3Objects, ScanFilter, ScanStop, StreamRead,
    StreamStart, StreamStop, TableScan, parse,
};

const READ: &str = "readConnector";
const MANIFEST: &str = "manifestFile";

/// The field naming the resource of each cloud destination, and what the
/// destination is called in messages.
fn resource_field(destination: ReadDestination) -> (&'static str, &'static str) {
    match destination {
        ReadDestination::S3 => ("bucketName", "S3"),
        ReadDestination::Sqs => ("queueName", "SQS"),
        ReadDestination::Kinesis => ("streamArn", "Kinesis"),
        ReadDestination::DynamoDbStreams => ("streamArn", "DynamoDBStreams"),
        ReadDestination::DynamoDbTable => ("tableName", "DynamoDB"),
        ReadDestination::File => unreachable!("File read connectors are validated by validate.rs"),
    }
}

/// The read connector `object` describes for a cloud `destination`, its
/// manifest included; `None` after reporting why not.
pub(super) fn read_connector(
    destination: ReadDestination,
    object: serde_json::Map<String, Value>,
    manifest_file: Option<Value>,
    base: &Path,
    issues: &mut Issues,
) -> Option<ReadConnector> {
    let raw: RawCloudReadConnector = parse::fields(object, READ, issues)?;
    let handler = handler_spec(raw.artifact_implementation_language, raw.handler_path, base, issues);
    let (wanted, name) = resource_field(destination);
    let mut resource = None;
    for (field, value) in [
        ("bucketName", raw.bucket_name),
        ("queueName", raw.queue_name),
        ("streamArn", raw.stream_arn),
        ("tableName", raw.table_name),
    ] {
        let path = join(READ, field);
        if field == wanted {
            resource =
                issues.require(value, &path).and_then(|value| checked_resource(destination, value, &path, issues));
        } else if value.is_some() {
            issues.push(path, format!("is not a field of a {name} read connector; it takes {wanted}"));
        }
    }
    let reader_ok = check_read_reader_type(destination, raw.reader_type.as_deref(), issues);
    let source = match destination {
        ReadDestination::S3 => {
            let manifest = issues.require(manifest_file, MANIFEST)?;
            let objects = s3_objects(manifest, raw.reader_type.as_deref(), issues)?;
            CloudSource::S3 { bucket: resource?, objects }
        }
        ReadDestination::Sqs => CloudSource::Sqs { queue_name: resource?, stop: queue_stop(manifest_file, issues)? },
        ReadDestination::Kinesis => CloudSource::Kinesis(stream_read(destination, resource?, manifest_file, issues)?),
        ReadDestination::DynamoDbStreams => {
            CloudSource::DynamoDbStreams(stream_read(destination, resource?, manifest_file, issues)?)
        }
        ReadDestination::DynamoDbTable => CloudSource::DynamoDbTable(table_scan(resource?, manifest_file, issues)?),
        ReadDestination::File => unreachable!("File read connectors are validated by validate.rs"),
    };
    reader_ok.then_some(())?;
    Some(ReadConnector::Cloud(CloudReadConnector { handler: handler?, source }))
}

/// `value` when it can name the resource; `None` after reporting why not.
fn checked_resource(destination: ReadDestination, value: String, path: &str, issues: &mut Issues) -> Option<String> {
    let problem = match destination {
        _ if value.trim().is_empty() => Some("must not be empty"),
        ReadDestination::S3 if value.contains('/') => Some("is a bucket name, without '/' or an s3:// prefix"),
        ReadDestination::Sqs if value.starts_with("https://") || value.starts_with("arn:") => {
            Some("is the queue's name, not its URL or ARN")
        }
        ReadDestination::Kinesis if !(value.starts_with("arn:") && value.contains(":stream/")) => {
            Some("must be a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)")
        }
        ReadDestination::DynamoDbStreams if !(value.starts_with("arn:") && value.contains(":table/")) => Some(
            "must be a DynamoDB stream ARN (arn:aws:dynamodb:REGION:ACCOUNT:table/TABLE/stream/LABEL), or the \
             table's ARN to read its current stream",
        ),
        _ => None,
    };
    match problem {
        Some(message) => {
            issues.push(path, format!("{message}; got {value:?}"));
            None
        }
        None => Some(value),
    }
}

/// S3 takes the Single File Reader and Kinesis the Kinesis Stream Reader,
/// both optional; the others have no reader type. False after reporting.
fn check_read_reader_type(destination: ReadDestination, given: Option<&str>, issues: &mut Issues) -> bool {
    let Some(given) = given else { return true };
    let path = join(READ, "readerType");
    let expected = match destination {
        ReadDestination::S3 => ReaderType::SingleFileReader,
        ReadDestination::Kinesis => ReaderType::KinesisStream,
        _ => {
            let (_, name) = resource_field(destination);
            issues.push(path, format!("a {name} read connector has no reader type; remove it"));
            return false;
        }
    };
    match READER_TYPES.pick(given) {
        Ok(picked) if picked == expected => true,
        Ok(ReaderType::SingleFileStateMachine | ReaderType::MultipleFileStateMachine) => {
            issues.push(path, "the state machine readers read local files only; use a File read connector");
            false
        }
        Ok(_) => {
            let (_, name) = resource_field(destination);
            issues.push(path, format!("{given:?} does not read {name}"));
            false
        }
        Err(message) => {
            issues.push(path, message);
            false
        }
    }
}

/// `manifestFile.manifestType`, when given, must be `expected`.
fn check_manifest_type(object: &serde_json::Map<String, Value>, expected: ManifestType, issues: &mut Issues) {
    let Some(given) = parse::selector(object, "manifestType", MANIFEST, issues) else { return };
    match MANIFEST_TYPES.pick(&given) {
        Ok(picked) if picked == expected => {}
        Ok(_) => issues.push(join(MANIFEST, "manifestType"), format!("{given:?} does not go with this read connector")),
        Err(message) => issues.push(join(MANIFEST, "manifestType"), message),
    }
}

/// The manifest's object parsed as `T`, its `manifestType` checked against
/// `expected`; a missing manifest is all defaults (`None` inside `Some`).
/// A wrong manifest type is reported and the fields are still checked,
/// so that every problem shows at once.
fn manifest_fields<T: serde::de::DeserializeOwned>(
    manifest_file: Option<Value>,
    expected: Option<ManifestType>,
    issues: &mut Issues,
) -> Option<Option<T>> {
    let Some(value) = manifest_file else { return Some(None) };
    let object = parse::object(value, MANIFEST, issues)?;
    if let Some(expected) = expected {
        check_manifest_type(&object, expected, issues);
    }
    parse::fields::<T>(object, MANIFEST, issues).map(Some)
}

fn s3_objects(manifest: Value, read_reader_type: Option<&str>, issues: &mut Issues) -> Option<S3Objects> {
    let raw: RawS3Manifest = manifest_fields(Some(manifest), Some(ManifestType::FileList), issues)??;
    if let Some(given) = &raw.reader_type {
        check_reader_type(given, read_reader_type, issues);
    }
    match (raw.file_contents, raw.prefix) {
        (Some(contents), None) => {
            let names: Vec<String> =
                contents.lines().map(str::trim).filter(|name| !name.is_empty()).map(str::to_owned).collect();
            let mut seen = std::collections::HashSet::new();
            let duplicates: Vec<&String> = names.iter().filter(|name| !seen.insert(name.as_str())).collect();
            if names.is_empty() {
                issues.push(join(MANIFEST, "fileContents"), "lists no files");
                None
            } else if let Some(duplicate) = duplicates.first() {
                issues.push(join(MANIFEST, "fileContents"), format!("lists {duplicate:?} more than once"));
                None
            } else {
                Some(S3Objects::Names(names))
            }
        }
        (None, Some(prefix)) => Some(S3Objects::Prefix(prefix)),
        (Some(_), Some(_)) => {
            issues.push(MANIFEST, "set exactly one of fileContents and prefix; both are set");
            None
        }
        (None, None) => {
            if !["fileContents", "prefix"].iter().any(|key| issues.has(&join(MANIFEST, key))) {
                issues.push(MANIFEST, "set exactly one of fileContents (object names) and prefix; neither is set");
            }
            None
        }
    }
}

fn queue_stop(manifest_file: Option<Value>, issues: &mut Issues) -> Option<QueueStop> {
    let raw: Option<RawSqsManifest> = manifest_fields(manifest_file, None, issues)?;
    let (condition, empty_receives) = raw
        .map(|raw| (raw.sqs_reader_task_stop_condition, raw.sqs_reader_task_stop_after_consecutive_empty_receives))
        .unwrap_or_default();
    let stop = optional_choice(&QUEUE_STOPS, condition, "sqsReaderTaskStopCondition", issues)?;
    let stop =
        stop.unwrap_or(QueueStop::Drain { consecutive_empty_receives: QueueStop::DEFAULT_CONSECUTIVE_EMPTY_RECEIVES });
    let path = join(MANIFEST, "sqsReaderTaskStopAfterConsecutiveEmptyReceives");
    match (stop, empty_receives) {
        (QueueStop::Drain { .. }, Some(given)) => {
            let range = QueueStop::CONSECUTIVE_EMPTY_RECEIVES_RANGE;
            match u32::try_from(given) {
                Ok(count) if range.contains(&count) => Some(QueueStop::Drain { consecutive_empty_receives: count }),
                _ => {
                    issues.push(path, format!("must be between {} and {}; got {given}", range.start(), range.end()));
                    None
                }
            }
        }
        (QueueStop::Continuous, Some(_)) => {
            issues.push(path, "applies only to sqsReaderTaskStopCondition DrainQueues");
            None
        }
        (stop, None) => Some(stop),
    }
}

fn stream_read(
    destination: ReadDestination,
    stream_arn: String,
    manifest_file: Option<Value>,
    issues: &mut Issues,
) -> Option<StreamRead> {
    let (stop_key, start_key, stop, start) = if destination == ReadDestination::Kinesis {
        let raw: Option<RawKinesisManifest> =
            manifest_fields(manifest_file, Some(ManifestType::KinesisStream), issues)?;
        let (stop, start) = raw
            .map(|raw| (raw.kinesis_reader_task_stop_condition, raw.kinesis_reader_task_start_from_condition))
            .unwrap_or_default();
        ("kinesisReaderTaskStopCondition", "kinesisReaderTaskStartFromCondition", stop, start)
    } else {
        let raw: Option<RawDynamoDbStreamsManifest> =
            manifest_fields(manifest_file, Some(ManifestType::DynamoDbStream), issues)?;
        let (stop, start) = raw.map(|raw| (raw.stop_condition, raw.start_from_condition)).unwrap_or_default();
        ("dynamoDBReaderTaskStopCondition", "dynamoDBReaderTaskStartFromCondition", stop, start)
    };
    let stop = optional_choice(&STREAM_STOPS, stop, stop_key, issues);
    let start = optional_choice(&STREAM_STARTS, start, start_key, issues);
    Some(StreamRead {
        stream_arn,
        start: start?.unwrap_or(StreamStart::Earliest),
        stop: stop?.unwrap_or(StreamStop::WhenNoData),
    })
}

fn table_scan(table_name: String, manifest_file: Option<Value>, issues: &mut Issues) -> Option<TableScan> {
    let raw: Option<RawDynamoDbTableManifest> =
        manifest_fields(manifest_file, Some(ManifestType::DynamoDbTable), issues)?;
    let Some(raw) = raw else {
        return Some(TableScan {
            table_name,
            segments: TableScan::DEFAULT_SEGMENTS,
            filter: None,
            stop: ScanStop::SingleScan,
        });
    };
    let stop = optional_choice(&SCAN_STOPS, raw.stop_condition, "dynamoDBTableReaderTaskStopCondition", issues);
    let range = TableScan::SEGMENTS_RANGE;
    let segments = match raw.segments.map(u32::try_from) {
        None => Some(TableScan::DEFAULT_SEGMENTS),
        Some(Ok(count)) if range.contains(&count) => Some(count),
        Some(_) => {
            issues.push(
                join(MANIFEST, "dynamoDBTableReaderSegments"),
                format!("must be between {} and {}; got {}", range.start(), range.end(), raw.segments.unwrap_or(0)),
            );
            None
        }
    };
    let placeholders_given = raw.expression_attribute_names.is_some() || raw.expression_attribute_values.is_some();
    let filter = match raw.filter_expression {
        Some(expression) if expression.trim().is_empty() => {
            issues.push(join(MANIFEST, "dynamoDBTableReaderFilterExpression"), "must not be empty");
            return None;
        }
        Some(expression) => Some(ScanFilter {
            expression,
            names: raw.expression_attribute_names.unwrap_or_default(),
            values: raw.expression_attribute_values.unwrap_or_default(),
        }),
        None if placeholders_given => {
            issues.push(
                join(MANIFEST, "dynamoDBTableReaderFilterExpression"),
                "missing: expression attribute names and values are only used by a filter expression",
            );
            return None;
        }
        None => None,
    };
    Some(TableScan { table_name, segments: segments?, filter, stop: stop?.unwrap_or(ScanStop::SingleScan) })
}

/// The choice `given` names under `manifestFile.KEY`: `Some(None)` when
/// absent, `None` after reporting an unknown value.
fn optional_choice<T: Copy>(
    choices: &Choices<T>,
    given: Option<String>,
    key: &str,
    issues: &mut Issues,
) -> Option<Option<T>> {
    match given {
        None => Some(None),
        Some(given) => match choices.pick(&given) {
            Ok(value) => Some(Some(value)),
            Err(message) => {
                issues.push(join(MANIFEST, key), message);
                None
            }
        },
    }
}
