//! The validate and build steps: the parsed dataset file checked section by
//! section, every problem recorded, and a [`DatasetConfig`] built only when
//! there were none.

use std::fs;
use std::io;
use std::ops::RangeInclusive;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;

use super::choices::{
    COMPUTE_ENGINE_TYPES, Choices, ComputeEngineType, ERROR_DESTINATIONS, ErrorDestination, LANGUAGES,
    READ_DESTINATIONS, READER_TYPES, ReadDestination, WRITE_DESTINATIONS, WriteDestination,
};
use super::issues::{Issues, join};
use super::manifest::{self, ReadSide};
use super::raw::{
    RawDataset, RawFileReadConnector, RawFileWriteConnector, RawFolderErrorConnector, RawLocalComputeEngine,
};
use super::state_machines;
use super::{
    ComputeEngine, ConfigIssue, DatasetConfig, ErrorConnector, FileReadConnector, HandlerSpec, Language,
    LetsDataAccount, ManifestEntry, ReadConnector, WriteConnector, cloud, destinations, parse, paths,
};

/// Longest accepted `datasetName`, in characters.
const MAX_DATASET_NAME_CHARS: usize = 128;

/// The configuration `root` (the parsed `dataset_file`) describes, or every
/// problem found in it.
pub(super) fn dataset(root: Value, dataset_file: &Path) -> Result<DatasetConfig, Vec<ConfigIssue>> {
    let mut issues = Issues::default();
    let base = paths::base_dir(dataset_file);
    let Some(raw) =
        parse::object(root, "", &mut issues).and_then(|object| parse::fields::<RawDataset>(object, "", &mut issues))
    else {
        return Err(issues.into_vec());
    };

    let name = dataset_name(raw.dataset_name, &mut issues);
    let read = issues
        .require(raw.read_connector, "readConnector")
        .map(|value| read_connector(value, raw.manifest_file, &base, &mut issues))
        .unwrap_or_default();
    let write = issues
        .require(raw.write_connector, "writeConnector")
        .and_then(|value| write_connector(value, &base, &mut issues));
    let error_given = raw.error_connector.is_some();
    let error = match raw.error_connector {
        Some(value) => error_connector(value, &base, &mut issues),
        None => default_error_connector(&base, &mut issues),
    };
    check_directories_differ(read.directory.as_deref(), write.as_ref(), error.as_ref(), error_given, &mut issues);
    let compute = match raw.compute_engine {
        Some(value) => compute_engine(value, &mut issues),
        None => Some(ComputeEngine::default()),
    };

    match (name, read.connector, read.manifest, write, error, compute) {
        (Some(name), Some(read), Some(manifest), Some(write), Some(error), Some(compute)) if issues.is_empty() => {
            Ok(DatasetConfig {
                name,
                aws: LetsDataAccount {
                    region: raw.region,
                    access_grant_role_arn: raw.access_grant_role_arn,
                    customer_account_for_access: raw.customer_account_for_access,
                },
                read,
                manifest,
                write,
                error,
                compute,
            })
        }
        _ => {
            debug_assert!(!issues.is_empty(), "a section was refused without an issue");
            Err(issues.into_vec())
        }
    }
}

fn dataset_name(raw: Option<String>, issues: &mut Issues) -> Option<String> {
    let name = issues.require(raw, "datasetName")?;
    let length = name.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=MAX_DATASET_NAME_CHARS).contains(&length) && name.chars().all(allowed) {
        return Some(name);
    }
    issues.push(
        "datasetName",
        format!(
            "must be 1 to {MAX_DATASET_NAME_CHARS} characters of A-Z, a-z, 0-9, '.', '_' \
             and '-'; got {name:?}"
        ),
    );
    None
}

/// What validating `readConnector` and `manifestFile` gave; the directory
/// checks use the parts that are valid even when the whole is not.
#[derive(Debug, Default)]
struct ReadSection {
    connector: Option<ReadConnector>,
    /// The files of a `File` connector; empty for the others.
    manifest: Option<Vec<ManifestEntry>>,
    /// `directory`, canonical, when it is an existing directory.
    directory: Option<PathBuf>,
    /// `readerType` as written.
    reader_type: Option<String>,
}

fn read_connector(value: Value, manifest_file: Option<Value>, base: &Path, issues: &mut Issues) -> ReadSection {
    const PATH: &str = "readConnector";
    let mut section = ReadSection::default();
    let Some(object) = parse::object(value, PATH, issues) else {
        return section;
    };
    let destination = parse::selector(&object, "connectorDestination", PATH, issues);
    match required_choice(&READ_DESTINATIONS, destination, PATH, "connectorDestination", issues) {
        Some(ReadDestination::File) => {}
        Some(cloud_destination) => {
            section.connector = cloud::read_connector(cloud_destination, object, manifest_file, base, issues);
            section.manifest = Some(Vec::new());
            return section;
        }
        None => return section,
    }
    let Some(raw) = parse::fields::<RawFileReadConnector>(object, PATH, issues) else {
        return section;
    };
    section.reader_type = raw.reader_type.clone();
    let reader_type = required_choice(&READER_TYPES, raw.reader_type, PATH, "readerType", issues);
    let handler = handler_spec(raw.artifact_implementation_language, raw.handler_path, base, issues);
    section.directory = issues
        .require(raw.directory, &join(PATH, "directory"))
        .and_then(|written| existing(base, &written, &join(PATH, "directory"), Kind::Directory, issues));
    let read_side = ReadSide { directory: section.directory.as_deref(), reader_type: section.reader_type.as_deref() };
    section.manifest =
        issues.require(manifest_file, "manifestFile").and_then(|value| manifest::validate(value, &read_side, issues));

    let reader =
        reader_type.and_then(|reader_type| state_machines::file_reader_type(reader_type, handler.as_ref(), issues));
    if let (Some(reader), Some(handler), Some(directory)) = (reader, handler, &section.directory) {
        section.connector =
            Some(ReadConnector::File(FileReadConnector { handler, directory: directory.clone(), reader }));
    }
    section
}

/// The handler of a read connector, from its `artifactImplementationLanguage`
/// and `handlerPath`; `None` after reporting why not.
pub(super) fn handler_spec(
    language: Option<String>,
    handler_path: Option<String>,
    base: &Path,
    issues: &mut Issues,
) -> Option<HandlerSpec> {
    const PATH: &str = "readConnector";
    let language = required_choice(&LANGUAGES, language, PATH, "artifactImplementationLanguage", issues);
    let handler_path = if language == Some(Language::Rust) {
        handler_path
    } else {
        issues.require(handler_path, &join(PATH, "handlerPath"))
    };
    let handler =
        handler_path.and_then(|written| existing(base, &written, &join(PATH, "handlerPath"), Kind::Any, issues));
    match (language?, handler) {
        (Language::Rust, path) => Some(HandlerSpec { language: Language::Rust, path }),
        (language, Some(path)) => Some(HandlerSpec { language, path: Some(path) }),
        (_, None) => None,
    }
}

fn write_connector(value: Value, base: &Path, issues: &mut Issues) -> Option<WriteConnector> {
    const PATH: &str = "writeConnector";
    let object = parse::object(value, PATH, issues)?;
    let destination = parse::selector(&object, "connectorDestination", PATH, issues);
    match required_choice(&WRITE_DESTINATIONS, destination, PATH, "connectorDestination", issues)? {
        WriteDestination::File => {}
        cloud => return destinations::write_connector(cloud, object, issues),
    }
    let raw = parse::fields::<RawFileWriteConnector>(object, PATH, issues)?;
    let path = join(PATH, "directory");
    let written = issues.require(raw.directory, &path)?;
    let directory = output_directory(base, &written, &path, issues)?;
    Some(WriteConnector::File { directory })
}

fn error_connector(value: Value, base: &Path, issues: &mut Issues) -> Option<ErrorConnector> {
    const PATH: &str = "errorConnector";
    let object = parse::object(value, PATH, issues)?;
    let destination = parse::selector(&object, "connectorDestination", PATH, issues);
    match required_choice(&ERROR_DESTINATIONS, destination, PATH, "connectorDestination", issues)? {
        ErrorDestination::Folder => {}
        ErrorDestination::S3 => return destinations::s3_error_connector(object, issues),
    }
    let raw = parse::fields::<RawFolderErrorConnector>(object, PATH, issues)?;
    let path = join(PATH, "directory");
    let written = issues.require(raw.directory, &path)?;
    let directory = output_directory(base, &written, &path, issues)?;
    Some(ErrorConnector::Folder { directory })
}

/// The error connector used when the dataset file has none.
fn default_error_connector(base: &Path, issues: &mut Issues) -> Option<ErrorConnector> {
    let written = ErrorConnector::DEFAULT_DIRECTORY;
    let directory = output_directory(base, written, "errorConnector.directory", issues)?;
    Some(ErrorConnector::Folder { directory })
}

/// Documents, errors and input each need their own directory: a shared one
/// would mix outputs, or feed outputs back in as input.
fn check_directories_differ(
    read: Option<&Path>,
    write: Option<&WriteConnector>,
    error: Option<&ErrorConnector>,
    error_given: bool,
    issues: &mut Issues,
) {
    let write = write.and_then(|write| match write {
        WriteConnector::File { directory } => Some(directory.as_path()),
        _ => None,
    });
    let error = error.and_then(|error| match error {
        ErrorConnector::Folder { directory } => Some(directory.as_path()),
        ErrorConnector::S3 { .. } => None,
    });
    let defaulted = if error_given {
        String::new()
    } else {
        format!(" (errorConnector is not set, so it is the default {:?})", ErrorConnector::DEFAULT_DIRECTORY)
    };
    let same = |a: Option<&Path>, b: Option<&Path>| a.is_some() && a == b;
    if same(write, read) {
        issues.push(
            "writeConnector.directory",
            format!("must differ from readConnector.directory ({})", shown_dir(read)),
        );
    }
    if same(error, read) {
        issues.push(
            "errorConnector.directory",
            format!("must differ from readConnector.directory ({}){defaulted}", shown_dir(read)),
        );
    }
    if same(error, write) {
        issues.push(
            "errorConnector.directory",
            format!("must differ from writeConnector.directory ({}){defaulted}", shown_dir(write)),
        );
    }
}

fn shown_dir(path: Option<&Path>) -> std::path::Display<'_> {
    path.unwrap_or(Path::new("")).display()
}

fn compute_engine(value: Value, issues: &mut Issues) -> Option<ComputeEngine> {
    const PATH: &str = "computeEngine";
    let object = parse::object(value, PATH, issues)?;
    if let Some(given) = parse::selector(&object, "computeEngineType", PATH, issues) {
        match COMPUTE_ENGINE_TYPES.pick(&given) {
            Ok(ComputeEngineType::Local) => {}
            Err(message) => {
                issues.push(join(PATH, "computeEngineType"), message);
                return None;
            }
        }
    }
    let raw = parse::fields::<RawLocalComputeEngine>(object, PATH, issues)?;
    let mut number = |given: Option<u64>, key: &str, default: usize, range, unit: &str| {
        setting(given, &join(PATH, key), default, range, unit, issues)
    };
    let concurrency = number(
        raw.concurrency,
        "concurrency",
        ComputeEngine::DEFAULT_CONCURRENCY,
        ComputeEngine::CONCURRENCY_RANGE,
        "tasks",
    );
    let batch_size = number(
        raw.batch_size,
        "batchSize",
        ComputeEngine::DEFAULT_BATCH_SIZE,
        ComputeEngine::BATCH_SIZE_RANGE,
        "records",
    );
    let max_batch_bytes = number(
        raw.max_batch_bytes,
        "maxBatchBytes",
        ComputeEngine::DEFAULT_MAX_BATCH_BYTES,
        ComputeEngine::MAX_BATCH_BYTES_RANGE,
        "bytes",
    );
    let max_in_flight_batches = number(
        raw.max_in_flight_batches,
        "maxInFlightBatches",
        ComputeEngine::DEFAULT_MAX_IN_FLIGHT_BATCHES,
        ComputeEngine::MAX_IN_FLIGHT_BATCHES_RANGE,
        "batches",
    );
    let checkpoint_interval_ms = number(
        raw.checkpoint_interval_ms,
        "checkpointIntervalMs",
        ComputeEngine::DEFAULT_CHECKPOINT_INTERVAL_MS,
        ComputeEngine::CHECKPOINT_INTERVAL_MS_RANGE,
        "milliseconds",
    );
    let bridge_processes = number(
        raw.bridge_processes,
        "bridgeProcesses",
        ComputeEngine::DEFAULT_BRIDGE_PROCESSES,
        ComputeEngine::BRIDGE_PROCESSES_RANGE,
        "processes",
    );
    let (concurrency, bridge_processes) = (concurrency?, bridge_processes?);
    if bridge_processes > concurrency {
        // More processes than tasks would leave processes idle.
        issues.push(
            join(PATH, "bridgeProcesses"),
            format!("must be at most concurrency ({concurrency}); got {bridge_processes}"),
        );
        return None;
    }
    Some(ComputeEngine {
        concurrency,
        batch_size: batch_size?,
        max_batch_bytes: max_batch_bytes?,
        max_in_flight_batches: max_in_flight_batches?,
        // usize to u64 is lossless on every platform Rust supports.
        checkpoint_interval: Duration::from_millis(checkpoint_interval_ms? as u64),
        bridge_processes,
    })
}

/// `given`, or `default` when the field is absent; `None` after reporting a
/// value outside `range`.
fn setting(
    given: Option<u64>,
    path: &str,
    default: usize,
    range: RangeInclusive<usize>,
    unit: &str,
    issues: &mut Issues,
) -> Option<usize> {
    let Some(given) = given else {
        return Some(default);
    };
    match usize::try_from(given) {
        Ok(value) if range.contains(&value) => Some(value),
        _ => {
            issues.push(path, format!("must be between {} and {} {unit}; got {given}", range.start(), range.end()));
            None
        }
    }
}

/// The value `given` names in `choices`; `None` after reporting it missing,
/// unknown or not available.
fn required_choice<T: Copy>(
    choices: &Choices<T>,
    given: Option<String>,
    parent: &str,
    key: &str,
    issues: &mut Issues,
) -> Option<T> {
    let path = join(parent, key);
    let given = issues.require(given, &path)?;
    choices.pick(&given).map_err(|message| issues.push(path, message)).ok()
}

/// What an existing path must be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Any,
    Directory,
}

/// `written` resolved against `base` and made canonical; `None` after
/// reporting that it is empty, missing, or not of the `kind` wanted.
fn existing(base: &Path, written: &str, path: &str, kind: Kind, issues: &mut Issues) -> Option<PathBuf> {
    if written.is_empty() {
        issues.push(path, "must not be empty");
        return None;
    }
    let resolved = match paths::existing(base, written) {
        Ok(resolved) => resolved,
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            issues.push(path, format!("{written:?} not found in {}", base.display()));
            return None;
        }
        Err(err) => {
            issues.push(path, format!("cannot read {}: {err}", base.join(written).display()));
            return None;
        }
    };
    if kind == Kind::Directory && !resolved.is_dir() {
        issues.push(path, format!("{} is not a directory", resolved.display()));
        return None;
    }
    Some(resolved)
}

/// `written` resolved against `base`, for a directory created at run time;
/// `None` after reporting that it is empty or names something that is not
/// a directory.
fn output_directory(base: &Path, written: &str, path: &str, issues: &mut Issues) -> Option<PathBuf> {
    if written.is_empty() {
        issues.push(path, "must not be empty");
        return None;
    }
    let resolved = paths::planned(base, written);
    match fs::metadata(&resolved) {
        Ok(metadata) if !metadata.is_dir() => {
            issues.push(path, format!("{} exists and is not a directory", resolved.display()));
            None
        }
        _ => Some(resolved),
    }
}
