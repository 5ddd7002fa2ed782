//! The dataset file as serde reads it, before validation.
//!
//! Field names are LetsData's, so a LetsData dataset file reads as it is;
//! the LetsData fields the local engine has no use for (`region`,
//! `interfaceECRImagePath`, ...) are accepted on purpose and listed here.
//! Every struct denies unknown fields. Required fields are `Option` so that
//! a missing one is reported by validation alongside every other problem
//! instead of stopping serde at the first.
//!
//! A connector object is first kept as JSON: its `connectorDestination`
//! decides which struct below it is deserialized into. The same holds for
//! `computeEngine` (by `computeEngineType`) and `manifestFile` (by
//! `manifestType`).

use serde::Deserialize;
use serde_json::Value;

/// The top level of a dataset file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawDataset {
    /// Name of the dataset; required; 1 to 128 characters of
    /// `A-Z a-z 0-9 . _ -`.
    pub dataset_name: Option<String>,
    /// AWS region name (LetsData); kept, unused by the local engine.
    pub region: Option<String>,
    /// IAM role ARN LetsData assumes (LetsData); kept, unused locally.
    pub access_grant_role_arn: Option<String>,
    /// AWS account id of the customer (LetsData); kept, unused locally.
    pub customer_account_for_access: Option<String>,
    /// Where records come from; required; parsed by destination.
    pub read_connector: Option<Value>,
    /// Which files to read; required; parsed by manifest type.
    pub manifest_file: Option<Value>,
    /// Where documents go; required; parsed by destination.
    pub write_connector: Option<Value>,
    /// Where failed records go; optional (default: `Folder` at `errors`);
    /// parsed by destination.
    pub error_connector: Option<Value>,
    /// How tasks run; optional (all defaults); parsed by engine type.
    pub compute_engine: Option<Value>,
}

/// `readConnector` with `connectorDestination: "File"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawFileReadConnector {
    /// `"File"`; already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub connector_destination: Option<String>,
    /// How files become records; required; `SingleFileReader`.
    pub reader_type: Option<String>,
    /// Language of the handler; required; `Python`.
    pub artifact_implementation_language: Option<String>,
    /// Handler file or package directory; required; relative to the dataset
    /// file's directory.
    pub handler_path: Option<String>,
    /// Directory the manifest's files are in; required; relative to the
    /// dataset file's directory.
    pub directory: Option<String>,
    /// Who owns the handler's container image (LetsData); ignored locally.
    #[serde(rename = "interfaceECRImageResourceLocation")]
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub interface_ecr_image_resource_location: Option<String>,
    /// The handler's container image (LetsData); ignored locally.
    #[serde(rename = "interfaceECRImagePath")]
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub interface_ecr_image_path: Option<String>,
}

/// `manifestFile` listing files, with `manifestType` absent,
/// `S3ReaderTextManifestFile` or `LocalFileManifest`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawFileListManifest {
    /// Already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub manifest_type: Option<String>,
    /// Optional; when set, must name the read connector's reader type.
    pub reader_type: Option<String>,
    /// File names relative to the read directory, one per line; exactly one
    /// of this and `glob`.
    pub file_contents: Option<String>,
    /// Pattern relative to the read directory (`*`, `?`, `[...]`, `**`);
    /// exactly one of this and `fileContents`.
    pub glob: Option<String>,
    /// AWS region of the bucket (LetsData); ignored locally.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub region: Option<String>,
}

/// `writeConnector` with `connectorDestination: "File"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawFileWriteConnector {
    /// `"File"`; already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub connector_destination: Option<String>,
    /// Output directory; required; relative to the dataset file's
    /// directory; created at run time if missing.
    pub directory: Option<String>,
}

/// `errorConnector` with `connectorDestination: "Folder"`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawFolderErrorConnector {
    /// `"Folder"`; already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub connector_destination: Option<String>,
    /// Error directory; required; relative to the dataset file's
    /// directory; created at run time if missing.
    pub directory: Option<String>,
}

/// `computeEngine` with `computeEngineType` absent or `"Local"`. Every
/// number is optional; the defaults and ranges are on
/// [`super::ComputeEngine`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub(super) struct RawLocalComputeEngine {
    /// `"Local"`; already read to choose this struct.
    #[expect(dead_code, reason = "accepted, never read: see the field doc")]
    pub compute_engine_type: Option<String>,
    /// Tasks run at once.
    pub concurrency: Option<u64>,
    /// Records per bridge call.
    pub batch_size: Option<u64>,
    /// Bytes of record payload per bridge call.
    pub max_batch_bytes: Option<u64>,
    /// Batches sent but not yet answered, per task.
    pub max_in_flight_batches: Option<u64>,
    /// Milliseconds between checkpoints.
    pub checkpoint_interval_ms: Option<u64>,
    /// Handler processes shared by all tasks.
    pub bridge_processes: Option<u64>,
}
