//! Enum values in a dataset file: how they are compared, and which ones
//! this build accepts.
//!
//! LetsData spells its enum values several ways (`"Single File Reader"`,
//! `"SINGLEFILEREADER"`, `"KINESIS"`, `"Lambda"`, `"LAMBDA_AND_SAGEMAKER"`),
//! so values are compared after [`normalise`], the only place that decides
//! what counts as the same spelling. Each table lists every value LetsData
//! defines, so that a value this build cannot run gets "not available in
//! this build" rather than "unknown".

use super::{Language, QueueStop, ScanStop, StreamStart, StreamStop};

/// Lowercases `value` and drops whitespace, underscores and hyphens, so that
/// `"Single File Reader"`, `"SINGLEFILEREADER"` and `"single_file_reader"`
/// compare equal.
pub(super) fn normalise(value: &str) -> String {
    value.chars().filter(|c| !(c.is_whitespace() || *c == '_' || *c == '-')).flat_map(char::to_lowercase).collect()
}

/// The values one enum field accepts.
#[derive(Debug)]
pub(super) struct Choices<T: 'static> {
    /// Every recognised value, by its canonical spelling, in the order error
    /// messages list them; `None` marks a value this build does not run.
    entries: &'static [(&'static str, Option<T>)],
}

impl<T: Copy> Choices<T> {
    const fn new(entries: &'static [(&'static str, Option<T>)]) -> Self {
        Self { entries }
    }

    /// The value `given` names, or the message for an issue saying why it
    /// cannot be used.
    pub(super) fn pick(&self, given: &str) -> Result<T, String> {
        let wanted = normalise(given);
        match self.entries.iter().find(|(name, _)| normalise(name) == wanted) {
            Some((_, Some(value))) => Ok(*value),
            Some((_, None)) => Err(format!(
                "{given:?} is not available in this build; available: {}",
                self.names(|available| available.is_some())
            )),
            None => Err(format!("expected one of: {}; got {given:?}", self.names(|_| true))),
        }
    }

    /// The canonical spelling of `given` when it is a recognised value,
    /// available in this build or not.
    pub(super) fn canonical(&self, given: &str) -> Option<&'static str> {
        let wanted = normalise(given);
        self.entries.iter().map(|(name, _)| *name).find(|name| normalise(name) == wanted)
    }

    fn names(&self, keep: impl Fn(&Option<T>) -> bool) -> String {
        let names: Vec<&str> = self.entries.iter().filter(|(_, value)| keep(value)).map(|(name, _)| *name).collect();
        names.join(", ")
    }
}

/// Where a read connector reads from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReadDestination {
    /// Files in a local directory.
    File,
    S3,
    Kinesis,
    Sqs,
    DynamoDbStreams,
    DynamoDbTable,
}

/// `readConnector.connectorDestination`.
pub(super) static READ_DESTINATIONS: Choices<ReadDestination> = Choices::new(&[
    ("File", Some(ReadDestination::File)),
    ("S3", Some(ReadDestination::S3)),
    ("Kinesis", Some(ReadDestination::Kinesis)),
    ("SQS", Some(ReadDestination::Sqs)),
    ("DynamoDBStreams", Some(ReadDestination::DynamoDbStreams)),
    ("DynamoDB", Some(ReadDestination::DynamoDbTable)),
]);

/// How a read connector turns files into records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ReaderType {
    /// Each manifest entry is one file, read start to end.
    SingleFileReader,
    /// Each manifest entry is one file, read record by record by a
    /// stateful Rust parser.
    SingleFileStateMachine,
    /// Each manifest line names several files, read together by a
    /// stateful Rust reader.
    MultipleFileStateMachine,
    /// Each shard of a Kinesis stream is a task.
    KinesisStream,
}

/// `readConnector.readerType` and `manifestFile.readerType`.
pub(super) static READER_TYPES: Choices<ReaderType> = Choices::new(&[
    ("SingleFileReader", Some(ReaderType::SingleFileReader)),
    ("KinesisStreamReader", Some(ReaderType::KinesisStream)),
    ("SingleFileStateMachineReader", Some(ReaderType::SingleFileStateMachine)),
    ("MultipleFileStateMachineReader", Some(ReaderType::MultipleFileStateMachine)),
    ("SparkReader", None),
]);

/// `readConnector.artifactImplementationLanguage`.
pub(super) static LANGUAGES: Choices<Language> = Choices::new(&[
    ("Python", Some(Language::Python)),
    ("Javascript", Some(Language::JavaScript)),
    ("Rust", Some(Language::Rust)),
]);

/// Where a write connector writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteDestination {
    /// Files in a local directory.
    File,
    Kinesis,
    Sqs,
    DynamoDb,
    S3,
    Kafka,
}

/// `writeConnector.connectorDestination`.
pub(super) static WRITE_DESTINATIONS: Choices<WriteDestination> = Choices::new(&[
    ("File", Some(WriteDestination::File)),
    ("Kinesis", Some(WriteDestination::Kinesis)),
    ("SQS", Some(WriteDestination::Sqs)),
    ("DynamoDB", Some(WriteDestination::DynamoDb)),
    ("S3", Some(WriteDestination::S3)),
    ("Kafka", Some(WriteDestination::Kafka)),
]);

/// How an S3 write connector lays out objects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum S3WriterType {
    PerRecord,
    Aggregate,
}

/// `writeConnector.writerType` of an S3 write connector.
pub(super) static S3_WRITER_TYPES: Choices<S3WriterType> = Choices::new(&[
    ("Single Record Writer", Some(S3WriterType::PerRecord)),
    ("Aggregate File Writer", Some(S3WriterType::Aggregate)),
    ("Spark", None),
]);

/// Where an error connector writes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ErrorDestination {
    /// Files in a local directory.
    Folder,
    S3,
}

/// `errorConnector.connectorDestination`.
pub(super) static ERROR_DESTINATIONS: Choices<ErrorDestination> =
    Choices::new(&[("Folder", Some(ErrorDestination::Folder)), ("S3", Some(ErrorDestination::S3))]);

/// What runs the tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ComputeEngineType {
    /// Tasks run in this process, handlers in local bridge processes.
    Local,
}

/// `computeEngine.computeEngineType`.
pub(super) static COMPUTE_ENGINE_TYPES: Choices<ComputeEngineType> =
    Choices::new(&[("Local", Some(ComputeEngineType::Local)), ("Lambda", None), ("LAMBDA_AND_SAGEMAKER", None)]);

/// What a manifest file lists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum ManifestType {
    /// A list of files (or S3 keys), given by `fileContents`, `glob` or
    /// `prefix`.
    FileList,
    /// Settings of a Kinesis stream read.
    KinesisStream,
    /// Settings of a DynamoDB stream read.
    DynamoDbStream,
    /// Settings of a DynamoDB table scan.
    DynamoDbTable,
}

/// `manifestFile.manifestType`.
pub(super) static MANIFEST_TYPES: Choices<ManifestType> = Choices::new(&[
    ("S3ReaderTextManifestFile", Some(ManifestType::FileList)),
    ("LocalFileManifest", Some(ManifestType::FileList)),
    ("KinesisStreamReaderManifest", Some(ManifestType::KinesisStream)),
    ("DynamoDBStreamReaderManifest", Some(ManifestType::DynamoDbStream)),
    ("DynamoDBTableReaderManifest", Some(ManifestType::DynamoDbTable)),
]);

/// `manifestFile.sqsReaderTaskStopCondition`; the number of empty
/// receives is filled in from its own field.
pub(super) static QUEUE_STOPS: Choices<QueueStop> = Choices::new(&[
    (
        "DrainQueues",
        Some(QueueStop::Drain { consecutive_empty_receives: QueueStop::DEFAULT_CONSECUTIVE_EMPTY_RECEIVES }),
    ),
    ("Continuous", Some(QueueStop::Continuous)),
]);

/// `kinesisReaderTaskStartFromCondition` and
/// `dynamoDBReaderTaskStartFromCondition`.
pub(super) static STREAM_STARTS: Choices<StreamStart> =
    Choices::new(&[("Earliest", Some(StreamStart::Earliest)), ("Latest", Some(StreamStart::Latest))]);

/// `kinesisReaderTaskStopCondition` and `dynamoDBReaderTaskStopCondition`.
pub(super) static STREAM_STOPS: Choices<StreamStop> =
    Choices::new(&[("StopWhenNoData", Some(StreamStop::WhenNoData)), ("Continuous", Some(StreamStop::Continuous))]);

/// `dynamoDBTableReaderTaskStopCondition`.
pub(super) static SCAN_STOPS: Choices<ScanStop> =
    Choices::new(&[("SingleScan", Some(ScanStop::SingleScan)), ("Continuous", Some(ScanStop::Continuous))]);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spellings_that_differ_only_in_case_spaces_underscores_and_hyphens_are_equal() {
        for given in ["Single File Reader", "SINGLEFILEREADER", "single_file_reader", "single-file-reader"] {
            assert_eq!(READER_TYPES.pick(given), Ok(ReaderType::SingleFileReader));
        }
        assert_eq!(COMPUTE_ENGINE_TYPES.canonical("lambda and sagemaker"), Some("LAMBDA_AND_SAGEMAKER"));
    }

    #[test]
    fn recognised_but_unavailable_values_name_what_is_available() {
        assert_eq!(
            S3_WRITER_TYPES.pick("spark"),
            Err(r#""spark" is not available in this build; available: Single Record Writer, Aggregate File Writer"#
                .to_owned())
        );
    }

    #[test]
    fn unknown_values_list_every_recognised_value() {
        assert_eq!(ERROR_DESTINATIONS.pick("Fold"), Err(r#"expected one of: Folder, S3; got "Fold""#.to_owned()));
        assert_eq!(MANIFEST_TYPES.canonical("Fold"), None);
    }
}
