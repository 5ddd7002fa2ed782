//! Write and error connectors over AWS services and Kafka.
//!
//! Like the cloud read connectors, each destination takes its own fields
//! and refuses the others', so a dataset file changed from one destination
//! to another fails with the fields to change.

use serde_json::{Map, Value};

use super::choices::{S3_WRITER_TYPES, S3WriterType, WriteDestination};
use super::issues::{Issues, join};
use super::raw::{RawCloudWriteConnector, RawS3ErrorConnector};
use super::{ErrorConnector, S3Layout, WriteConnector, parse};

const WRITE: &str = "writeConnector";
const ERROR: &str = "errorConnector";

/// The name of a cloud destination in messages.
fn destination_name(destination: WriteDestination) -> &'static str {
    match destination {
        WriteDestination::Kinesis => "Kinesis",
        WriteDestination::Sqs => "SQS",
        WriteDestination::DynamoDb => "DynamoDB",
        WriteDestination::S3 => "S3",
        WriteDestination::Kafka => "Kafka",
        WriteDestination::File => unreachable!("File write connectors are validated by validate.rs"),
    }
}

/// The fields each destination takes (LetsData's `resourceLocation` aside).
fn fields_of(destination: WriteDestination) -> &'static [&'static str] {
    match destination {
        WriteDestination::Kinesis => &["streamName", "streamArn", "kinesisShardCount"],
        WriteDestination::Sqs => &["queueName", "messageIdAttributeName"],
        WriteDestination::DynamoDb => &["tableName", "dynamoDBWriters"],
        WriteDestination::S3 => {
            &["bucketName", "keyPrefix", "writerType", "fileRecordsSeparator", "aggregateFileSizeInMB"]
        }
        WriteDestination::Kafka => &["bootstrapServers", "topic", "partitions"],
        WriteDestination::File => &[],
    }
}

/// The write connector `object` describes for a cloud `destination`;
/// `None` after reporting why not.
pub(super) fn write_connector(
    destination: WriteDestination,
    mut object: Map<String, Value>,
    issues: &mut Issues,
) -> Option<WriteConnector> {
    let name = destination_name(destination);
    let takes = fields_of(destination);
    // Fields of other destinations, and unknown ones, are reported here
    // against this destination's own list rather than every cloud field.
    let mut refused = false;
    object.retain(|key, _| {
        let own = takes.contains(&key.as_str()) || matches!(key.as_str(), "connectorDestination" | "resourceLocation");
        if !own {
            let message = if is_cloud_write_field(key) {
                format!("is not a field of a {name} write connector; it takes {}", takes.join(", "))
            } else {
                format!("unknown field; expected one of: connectorDestination, resourceLocation, {}", takes.join(", "))
            };
            issues.push(join(WRITE, key), message);
            refused = true;
        }
        own
    });
    let raw: RawCloudWriteConnector = parse::fields(object, WRITE, issues)?;
    let connector = match destination {
        WriteDestination::Kinesis => {
            WriteConnector::Kinesis { stream: kinesis_stream(raw.stream_name, raw.stream_arn, issues)? }
        }
        WriteDestination::Sqs => {
            let queue_name = named(raw.queue_name, "queueName", issues)?;
            if queue_name.starts_with("https://") || queue_name.starts_with("arn:") {
                issues.push(
                    join(WRITE, "queueName"),
                    format!("is the queue's name, not its URL or ARN; got {queue_name:?}"),
                );
                return None;
            }
            let message_id_attribute = match raw.message_id_attribute_name {
                None => "documentId".to_owned(),
                Some(field) => message_attribute_name(field, issues)?,
            };
            WriteConnector::Sqs { queue_name, message_id_attribute }
        }
        WriteDestination::DynamoDb => {
            let table_name = named(raw.table_name, "tableName", issues);
            let range = WriteConnector::DYNAMODB_WRITERS_RANGE;
            let writers = match raw.dynamodb_writers {
                None => Some(WriteConnector::DEFAULT_DYNAMODB_WRITERS),
                Some(given) => in_range(
                    given,
                    *range.start() as u64..=*range.end() as u64,
                    &join(WRITE, "dynamoDBWriters"),
                    issues,
                )
                .map(|count| count as usize),
            };
            WriteConnector::DynamoDb { table_name: table_name?, writers: writers? }
        }
        WriteDestination::S3 => {
            let bucket = bucket(raw.bucket_name, WRITE, issues);
            let layout = s3_layout(raw.writer_type, raw.file_records_separator, raw.aggregate_file_size_in_mb, issues);
            WriteConnector::S3 { bucket: bucket?, key_prefix: raw.key_prefix.unwrap_or_default(), layout: layout? }
        }
        WriteDestination::Kafka => {
            let bootstrap_servers = named(raw.bootstrap_servers, "bootstrapServers", issues);
            let topic = named(raw.topic, "topic", issues);
            let partitions = match raw.partitions {
                None => Some(None),
                Some(given) => {
                    in_range(given, 1..=100_000, &join(WRITE, "partitions"), issues).map(|count| Some(count as u32))
                }
            };
            WriteConnector::Kafka { bootstrap_servers: bootstrap_servers?, topic: topic?, partitions: partitions? }
        }
        WriteDestination::File => unreachable!("File write connectors are validated by validate.rs"),
    };
    (!refused).then_some(connector)
}

/// Whether `key` is a field some cloud write connector takes.
fn is_cloud_write_field(key: &str) -> bool {
    [
        WriteDestination::Kinesis,
        WriteDestination::Sqs,
        WriteDestination::DynamoDb,
        WriteDestination::S3,
        WriteDestination::Kafka,
    ]
    .into_iter()
    .any(|destination| fields_of(destination).contains(&key))
}

/// The error connector `object` describes for S3; `None` after reporting.
pub(super) fn s3_error_connector(object: Map<String, Value>, issues: &mut Issues) -> Option<ErrorConnector> {
    let raw: RawS3ErrorConnector = parse::fields(object, ERROR, issues)?;
    let bucket = bucket(raw.bucket_name, ERROR, issues)?;
    Some(ErrorConnector::S3 { bucket, key_prefix: raw.key_prefix.unwrap_or_default() })
}

/// A required, non-empty name under `writeConnector`.
fn named(value: Option<String>, key: &str, issues: &mut Issues) -> Option<String> {
    let path = join(WRITE, key);
    let value = issues.require(value, &path)?;
    if value.trim().is_empty() {
        issues.push(path, "must not be empty");
        return None;
    }
    Some(value)
}

/// `messageIdAttributeName` when SQS takes it as a message attribute's
/// name: up to 256 of `A-Z a-z 0-9 _ - .`, no leading, trailing or double
/// period, and not starting with `AWS.` or `Amazon.` (any case), which SQS
/// keeps for itself. Checked here so that a bad name fails before any
/// message is sent rather than at every call.
fn message_attribute_name(name: String, issues: &mut Issues) -> Option<String> {
    let lower = name.to_ascii_lowercase();
    let problem = if name.is_empty() || name.len() > 256 {
        Some("must be 1 to 256 characters")
    } else if !name.bytes().all(|byte| byte.is_ascii_alphanumeric() || matches!(byte, b'_' | b'-' | b'.')) {
        Some("may hold only A-Z a-z 0-9 _ - and .")
    } else if name.starts_with('.') || name.ends_with('.') || name.contains("..") {
        Some("may not start or end with a period, or hold two in a row")
    } else if lower.starts_with("aws.") || lower.starts_with("amazon.") {
        Some("may not start with AWS. or Amazon., which SQS keeps for itself")
    } else {
        None
    };
    match problem {
        Some(problem) => {
            issues.push(
                join(WRITE, "messageIdAttributeName"),
                format!("is sent as an SQS message attribute's name, which {problem}; got {name:?}"),
            );
            None
        }
        None => Some(name),
    }
}

fn bucket(value: Option<String>, parent: &str, issues: &mut Issues) -> Option<String> {
    let path = join(parent, "bucketName");
    let value = issues.require(value, &path)?;
    if value.trim().is_empty() || value.contains('/') {
        issues.push(path, format!("must be a bucket name, without '/' or an s3:// prefix; got {value:?}"));
        return None;
    }
    Some(value)
}

fn in_range(given: u64, range: std::ops::RangeInclusive<u64>, path: &str, issues: &mut Issues) -> Option<u64> {
    if range.contains(&given) {
        return Some(given);
    }
    issues.push(path, format!("must be between {} and {}; got {given}", range.start(), range.end()));
    None
}

/// `streamName` or `streamArn`, exactly one.
fn kinesis_stream(name: Option<String>, arn: Option<String>, issues: &mut Issues) -> Option<String> {
    match (name, arn) {
        (Some(_), Some(_)) => {
            issues.push(join(WRITE, "streamArn"), "give streamName or streamArn, not both");
            None
        }
        (None, None) => {
            issues.push(join(WRITE, "streamName"), "missing: give the stream's streamName or streamArn");
            None
        }
        (Some(name), None) => named(Some(name), "streamName", issues),
        (None, Some(arn)) => {
            if !(arn.starts_with("arn:") && arn.contains(":stream/")) {
                issues.push(
                    join(WRITE, "streamArn"),
                    format!("must be a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME); got {arn:?}"),
                );
                return None;
            }
            Some(arn)
        }
    }
}

fn s3_layout(
    writer_type: Option<String>,
    separator: Option<String>,
    size_mb: Option<u64>,
    issues: &mut Issues,
) -> Option<S3Layout> {
    let path = join(WRITE, "writerType");
    let given = issues.require(writer_type, &path)?;
    match S3_WRITER_TYPES.pick(&given).map_err(|message| issues.push(&path, message)).ok()? {
        S3WriterType::PerRecord => {
            for (key, present) in
                [("fileRecordsSeparator", separator.is_some()), ("aggregateFileSizeInMB", size_mb.is_some())]
            {
                if present {
                    issues.push(join(WRITE, key), "is a setting of the Aggregate File Writer; the Single Record Writer writes an object per document");
                }
            }
            (separator.is_none() && size_mb.is_none()).then_some(S3Layout::PerRecord)
        }
        S3WriterType::Aggregate => {
            let range = S3Layout::AGGREGATE_FILE_SIZE_MB_RANGE;
            let size_mb = in_range(
                size_mb.unwrap_or(S3Layout::DEFAULT_AGGREGATE_FILE_SIZE_MB),
                range,
                &join(WRITE, "aggregateFileSizeInMB"),
                issues,
            )?;
            Some(S3Layout::Aggregate {
                separator: separator.unwrap_or_else(|| S3Layout::DEFAULT_SEPARATOR.to_owned()),
                file_size_bytes: size_mb * 1024 * 1024,
            })
        }
    }
}
