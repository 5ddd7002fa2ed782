//! Whole dataset files through `parse_str` and `load`: one valid
//! configuration, then one test per kind of problem.

use std::fs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::{Value, json};
use tempfile::TempDir;

use super::*;

/// A dataset directory: `handler.py`, and `data/` holding the two files the
/// sample manifest names.
struct Fixture {
    _dir: TempDir,
    /// The directory, canonical.
    root: PathBuf,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let root = dir.path().canonicalize().expect("canonical temp dir");
        fs::write(root.join("handler.py"), "def handler(record): return record\n").expect("write handler");
        fs::create_dir(root.join("data")).expect("create data dir");
        for name in ["logs-0001.jsonl", "logs-0002.jsonl.gz"] {
            fs::write(root.join("data").join(name), "{}\n").expect("write data file");
        }
        Self { _dir: dir, root }
    }

    fn dataset_file(&self) -> PathBuf {
        self.root.join("dataset.json")
    }

    fn data(&self) -> PathBuf {
        self.root.join("data")
    }

    /// `sample()` changed by `edit`, through `parse_str`.
    fn parse(&self, edit: impl FnOnce(&mut Value)) -> Result<DatasetConfig, ConfigError> {
        let mut dataset = sample();
        edit(&mut dataset);
        parse_str(&dataset.to_string(), &self.dataset_file())
    }

    /// The issues, as `path: message` lines, of `sample()` changed by `edit`.
    fn issues(&self, edit: impl FnOnce(&mut Value)) -> Vec<String> {
        match self.parse(edit) {
            Err(ConfigError::Invalid { issues, .. }) => issues.iter().map(ToString::to_string).collect(),
            other => panic!("expected ConfigError::Invalid, got {other:?}"),
        }
    }
}

/// The sample dataset file from the design, with `fileContents` only.
fn sample() -> Value {
    json!({
        "datasetName": "python-logs",
        "region": "us-east-1",
        "accessGrantRoleArn": "arn:aws:iam::123:role/letsdata",
        "customerAccountForAccess": "123",
        "readConnector": {
            "connectorDestination": "File",
            "readerType": "Single File Reader",
            "artifactImplementationLanguage": "Python",
            "handlerPath": "handler.py",
            "directory": "data",
            "interfaceECRImageResourceLocation": "Customer",
            "interfaceECRImagePath": "123.dkr.ecr.us-east-1.amazonaws.com/x:latest"
        },
        "manifestFile": {
            "manifestType": "S3ReaderTextManifestFile",
            "readerType": "SINGLEFILEREADER",
            "fileContents": "logs-0001.jsonl\nlogs-0002.jsonl.gz",
            "region": "us-east-1"
        },
        "writeConnector": { "connectorDestination": "File", "directory": "output" },
        "errorConnector": { "connectorDestination": "Folder", "directory": "errors" },
        "computeEngine": {
            "computeEngineType": "Local", "concurrency": 3, "batchSize": 100,
            "maxBatchBytes": 65536, "maxInFlightBatches": 2,
            "checkpointIntervalMs": 500, "bridgeProcesses": 2
        }
    })
}

fn remove(value: &mut Value, key: &str) {
    value.as_object_mut().expect("an object").remove(key).expect("the key was there");
}

fn expected_sample(fixture: &Fixture) -> DatasetConfig {
    DatasetConfig {
        name: "python-logs".to_owned(),
        aws: LetsDataAccount {
            region: Some("us-east-1".to_owned()),
            access_grant_role_arn: Some("arn:aws:iam::123:role/letsdata".to_owned()),
            customer_account_for_access: Some("123".to_owned()),
        },
        read: ReadConnector::File(FileReadConnector {
            handler: HandlerSpec { language: Language::Python, path: Some(fixture.root.join("handler.py")) },
            directory: fixture.data(),
            reader: FileReaderType::SingleFile,
        }),
        manifest: vec![
            ManifestEntry {
                name: "logs-0001.jsonl".to_owned(),
                path: fixture.data().join("logs-0001.jsonl"),
                files_by_type: Vec::new(),
            },
            ManifestEntry {
                name: "logs-0002.jsonl.gz".to_owned(),
                path: fixture.data().join("logs-0002.jsonl.gz"),
                files_by_type: Vec::new(),
            },
        ],
        write: WriteConnector::File { directory: fixture.root.join("output") },
        error: ErrorConnector::Folder { directory: fixture.root.join("errors") },
        compute: ComputeEngine {
            concurrency: 3,
            batch_size: 100,
            max_batch_bytes: 65_536,
            max_in_flight_batches: 2,
            checkpoint_interval: Duration::from_millis(500),
            bridge_processes: 2,
        },
    }
}

// ---- valid configurations ----

#[test]
fn the_sample_builds_the_expected_config() {
    let fixture = Fixture::new();
    let config = fixture.parse(|_| {}).expect("valid");
    assert_eq!(config, expected_sample(&fixture));
}

#[test]
fn load_reads_the_file_and_resolves_paths_against_its_directory() {
    let fixture = Fixture::new();
    fs::write(fixture.dataset_file(), sample().to_string()).expect("write dataset");
    let config = load(&fixture.dataset_file()).expect("valid");
    assert_eq!(config, expected_sample(&fixture));
}

#[test]
fn optional_sections_and_fields_take_their_defaults() {
    let fixture = Fixture::new();
    let config = fixture
        .parse(|dataset| {
            for key in ["region", "accessGrantRoleArn", "customerAccountForAccess"] {
                remove(dataset, key);
            }
            remove(dataset, "errorConnector");
            remove(dataset, "computeEngine");
            remove(&mut dataset["manifestFile"], "manifestType");
            remove(&mut dataset["manifestFile"], "readerType");
        })
        .expect("valid");
    assert_eq!(config.aws, LetsDataAccount::default());
    assert_eq!(config.error, ErrorConnector::Folder { directory: fixture.root.join("errors") });
    assert_eq!(config.compute, ComputeEngine::default());
    assert_eq!(
        ComputeEngine::default(),
        ComputeEngine {
            concurrency: 2,
            batch_size: 256,
            max_batch_bytes: 4_194_304,
            max_in_flight_batches: 4,
            checkpoint_interval: Duration::from_secs(1),
            bridge_processes: 1,
        }
    );
}

#[test]
fn enum_values_ignore_case_spaces_underscores_and_hyphens() {
    let fixture = Fixture::new();
    let config = fixture
        .parse(|dataset| {
            dataset["readConnector"]["connectorDestination"] = json!("file");
            dataset["readConnector"]["readerType"] = json!("single_file_reader");
            dataset["readConnector"]["artifactImplementationLanguage"] = json!("PYTHON");
            dataset["manifestFile"]["readerType"] = json!("single-file-reader");
            dataset["manifestFile"]["manifestType"] = json!("local file manifest");
            dataset["writeConnector"]["connectorDestination"] = json!("FILE");
            dataset["errorConnector"]["connectorDestination"] = json!("folder");
            dataset["computeEngine"]["computeEngineType"] = json!("LOCAL");
        })
        .expect("valid");
    assert_eq!(config, expected_sample(&fixture));
}

#[test]
fn a_glob_resolves_to_the_sorted_regular_files_it_matches() {
    let fixture = Fixture::new();
    let nested = fixture.data().join("2024");
    fs::create_dir_all(nested.join("dir.jsonl")).expect("create dirs");
    fs::write(nested.join("a.jsonl"), "{}\n").expect("write nested file");
    fs::write(fixture.data().join(".hidden.jsonl"), "{}\n").expect("write dot file");
    fs::write(fixture.data().join("notes.txt"), "").expect("write other file");
    let config = fixture
        .parse(|dataset| {
            remove(&mut dataset["manifestFile"], "fileContents");
            dataset["manifestFile"]["glob"] = json!("**/*.jsonl*");
        })
        .expect("valid");
    let names: Vec<&str> = config.manifest.iter().map(|entry| entry.name.as_str()).collect();
    assert_eq!(names, ["2024/a.jsonl", "logs-0001.jsonl", "logs-0002.jsonl.gz"]);
    assert_eq!(config.manifest[0].path, nested.join("a.jsonl"));
}

#[test]
fn manifest_lines_are_trimmed_and_blank_lines_skipped() {
    let fixture = Fixture::new();
    let config = fixture
        .parse(|dataset| {
            dataset["manifestFile"]["fileContents"] = json!("\n  logs-0002.jsonl.gz  \n\n./logs-0001.jsonl\n");
        })
        .expect("valid");
    assert_eq!(
        config.manifest,
        [
            ManifestEntry {
                name: "logs-0002.jsonl.gz".to_owned(),
                path: fixture.data().join("logs-0002.jsonl.gz"),
                files_by_type: Vec::new(),
            },
            ManifestEntry {
                name: "./logs-0001.jsonl".to_owned(),
                path: fixture.data().join("logs-0001.jsonl"),
                files_by_type: Vec::new(),
            },
        ]
    );
}

// ---- unknown fields ----

#[test]
fn an_unknown_top_level_field_is_reported_with_the_known_ones() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| dataset["datasetNam"] = json!("x"));
    assert_eq!(
        issues,
        ["datasetNam: unknown field; expected one of: datasetName, region, \
          accessGrantRoleArn, customerAccountForAccess, readConnector, manifestFile, \
          writeConnector, errorConnector, computeEngine"]
    );
}

#[test]
fn an_unknown_connector_field_is_reported_with_the_destinations_fields() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| dataset["readConnector"]["bucketNam"] = json!("b"));
    assert_eq!(
        issues,
        ["readConnector.bucketNam: unknown field; expected one of: connectorDestination, \
          readerType, artifactImplementationLanguage, handlerPath, directory, \
          interfaceECRImageResourceLocation, interfaceECRImagePath"]
    );
    let issues = fixture.issues(|dataset| dataset["computeEngine"]["memoryLimitInMegabytes"] = json!(1));
    assert_eq!(
        issues,
        ["computeEngine.memoryLimitInMegabytes: unknown field; expected one of: \
          computeEngineType, concurrency, batchSize, maxBatchBytes, maxInFlightBatches, \
          checkpointIntervalMs, bridgeProcesses"]
    );
}

// ---- enum values ----

#[test]
fn letsdata_values_this_build_cannot_run_are_not_available() {
    let fixture = Fixture::new();
    let cases = [
        (
            "readConnector",
            "readerType",
            "SPARKREADER",
            "SingleFileReader, KinesisStreamReader, SingleFileStateMachineReader, MultipleFileStateMachineReader",
        ),
        ("computeEngine", "computeEngineType", "Lambda", "Local"),
        ("computeEngine", "computeEngineType", "LAMBDA_AND_SAGEMAKER", "Local"),
    ];
    for (section, key, value, available) in cases {
        let issues = fixture.issues(|dataset| {
            dataset[section][key] = json!(value);
            if key == "readerType" {
                dataset["manifestFile"][key] = json!(value);
            }
        });
        assert_eq!(
            issues,
            [format!("{section}.{key}: {value:?} is not available in this build; available: {available}")],
            "{section}.{key} = {value}"
        );
    }
}

#[test]
fn an_unknown_enum_value_lists_the_expected_values() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        dataset["readConnector"]["connectorDestination"] = json!("Fil");
    });
    assert_eq!(
        issues,
        [
            r#"readConnector.connectorDestination: expected one of: File, S3, Kinesis, SQS, DynamoDBStreams, DynamoDB; got "Fil""#
        ]
    );
    let issues = fixture.issues(|dataset| {
        dataset["readConnector"]["artifactImplementationLanguage"] = json!("Java");
    });
    assert_eq!(
        issues,
        [r#"readConnector.artifactImplementationLanguage: expected one of: Python, Javascript, Rust; got "Java""#]
    );
}

#[test]
fn a_manifest_reader_type_must_match_the_read_connectors() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        dataset["manifestFile"]["readerType"] = json!("SPARKREADER");
    });
    assert_eq!(
        issues,
        [r#"manifestFile.readerType: "SPARKREADER" does not match readConnector.readerType "Single File Reader""#]
    );
}

// ---- JSON types, ranges and required fields ----

#[test]
fn a_wrong_json_type_is_reported_at_its_path() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| dataset["computeEngine"]["batchSize"] = json!("256"));
    assert_eq!(issues, [r#"computeEngine.batchSize: invalid type: string "256", expected u64"#]);
    let issues = fixture.issues(|dataset| dataset["writeConnector"] = json!("output"));
    assert_eq!(issues, ["writeConnector: expected a JSON object; got a string"]);
    let issues = fixture.issues(|dataset| dataset["readConnector"]["connectorDestination"] = json!(1));
    assert_eq!(issues, ["readConnector.connectorDestination: expected a string; got a number"]);
}

#[test]
fn numbers_out_of_range_name_the_range_and_unit() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        let compute = &mut dataset["computeEngine"];
        compute["concurrency"] = json!(65);
        compute["batchSize"] = json!(0);
        compute["maxBatchBytes"] = json!(1000);
        compute["maxInFlightBatches"] = json!(100);
        compute["checkpointIntervalMs"] = json!(50);
        compute["bridgeProcesses"] = json!(0);
    });
    assert_eq!(
        issues,
        [
            "computeEngine.concurrency: must be between 1 and 64 tasks; got 65",
            "computeEngine.batchSize: must be between 1 and 10000 records; got 0",
            "computeEngine.maxBatchBytes: must be between 1024 and 33554432 bytes; got 1000",
            "computeEngine.maxInFlightBatches: must be between 1 and 64 batches; got 100",
            "computeEngine.checkpointIntervalMs: must be between 100 and 600000 milliseconds; got 50",
            "computeEngine.bridgeProcesses: must be between 1 and 64 processes; got 0",
        ]
    );
}

#[test]
fn a_negative_number_is_a_wrong_type() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| dataset["computeEngine"]["concurrency"] = json!(-1));
    assert_eq!(issues, ["computeEngine.concurrency: invalid value: integer `-1`, expected u64"]);
}

#[test]
fn bridge_processes_may_not_exceed_concurrency() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        dataset["computeEngine"]["concurrency"] = json!(2);
        dataset["computeEngine"]["bridgeProcesses"] = json!(3);
    });
    assert_eq!(issues, ["computeEngine.bridgeProcesses: must be at most concurrency (2); got 3"]);
}

#[test]
fn missing_required_fields_are_reported() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        remove(dataset, "datasetName");
        remove(&mut dataset["readConnector"], "handlerPath");
    });
    assert_eq!(issues, ["datasetName: missing required field", "readConnector.handlerPath: missing required field",]);
    let issues = fixture.issues(|dataset| remove(dataset, "writeConnector"));
    assert_eq!(issues, ["writeConnector: missing required field"]);
}

#[test]
fn a_dataset_name_outside_the_allowed_characters_is_refused() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| dataset["datasetName"] = json!("python logs"));
    assert_eq!(
        issues,
        [r#"datasetName: must be 1 to 128 characters of A-Z, a-z, 0-9, '.', '_' and '-'; got "python logs""#]
    );
    let longest = "n".repeat(128);
    assert!(fixture.parse(|dataset| dataset["datasetName"] = json!(longest)).is_ok());
    let too_long = "n".repeat(129);
    assert_eq!(fixture.issues(|dataset| dataset["datasetName"] = json!(too_long)).len(), 1);
}

// ---- paths ----

#[test]
fn a_missing_handler_is_reported() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        dataset["readConnector"]["handlerPath"] = json!("handlers/main.py");
    });
    assert_eq!(
        issues,
        [format!(r#"readConnector.handlerPath: "handlers/main.py" not found in {}"#, fixture.root.display())]
    );
}

#[test]
fn the_read_directory_must_be_an_existing_directory() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| dataset["readConnector"]["directory"] = json!("handler.py"));
    assert_eq!(
        issues,
        [format!("readConnector.directory: {} is not a directory", fixture.root.join("handler.py").display())]
    );
}

#[test]
fn an_output_directory_may_not_be_an_existing_file() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| dataset["writeConnector"]["directory"] = json!("handler.py"));
    assert_eq!(
        issues,
        [format!(
            "writeConnector.directory: {} exists and is not a directory",
            fixture.root.join("handler.py").display()
        )]
    );
}

#[test]
fn write_and_error_directories_must_differ() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        dataset["errorConnector"]["directory"] = json!("./output/");
    });
    assert_eq!(
        issues,
        [format!(
            "errorConnector.directory: must differ from writeConnector.directory ({})",
            fixture.root.join("output").display()
        )]
    );
    let issues = fixture.issues(|dataset| {
        remove(dataset, "errorConnector");
        dataset["writeConnector"]["directory"] = json!("errors");
    });
    assert_eq!(
        issues,
        [format!(
            "errorConnector.directory: must differ from writeConnector.directory ({}) \
             (errorConnector is not set, so it is the default \"errors\")",
            fixture.root.join("errors").display()
        )]
    );
}

#[test]
fn the_write_directory_must_differ_from_the_read_directory() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| dataset["writeConnector"]["directory"] = json!("data"));
    assert_eq!(
        issues,
        [format!("writeConnector.directory: must differ from readConnector.directory ({})", fixture.data().display())]
    );
}

// ---- manifest ----

#[test]
fn a_manifest_needs_exactly_one_of_file_contents_and_glob() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| dataset["manifestFile"]["glob"] = json!("*.jsonl*"));
    assert_eq!(issues, ["manifestFile: set exactly one of fileContents and glob; both are set"]);
    let issues = fixture.issues(|dataset| remove(&mut dataset["manifestFile"], "fileContents"));
    assert_eq!(issues, ["manifestFile: set exactly one of fileContents and glob; neither is set"]);
}

#[test]
fn a_manifest_line_naming_a_missing_file_gives_its_line_number() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        dataset["manifestFile"]["fileContents"] = json!("logs-0001.jsonl\n\nx.jsonl\n");
    });
    assert_eq!(
        issues,
        [format!(r#"manifestFile.fileContents line 3: "x.jsonl" not found in {}"#, fixture.data().display())]
    );
}

#[test]
fn duplicate_manifest_names_are_reported() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        dataset["manifestFile"]["fileContents"] = json!("logs-0001.jsonl\nlogs-0002.jsonl.gz\n./logs-0001.jsonl");
    });
    assert_eq!(
        issues,
        [r#"manifestFile.fileContents line 3: duplicate file name "./logs-0001.jsonl" (first on line 1)"#]
    );
}

#[test]
fn manifest_names_must_stay_inside_the_read_directory() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        dataset["manifestFile"]["fileContents"] = json!("../handler.py\n/etc/hostname");
    });
    assert_eq!(
        issues,
        [
            r#"manifestFile.fileContents line 1: "../handler.py" must be a path inside the read directory"#,
            r#"manifestFile.fileContents line 2: "/etc/hostname" must be a path inside the read directory"#,
        ]
    );
    let issues = fixture.issues(|dataset| dataset["manifestFile"]["fileContents"] = json!("\n \n"));
    assert_eq!(issues, ["manifestFile.fileContents: lists no files"]);
}

#[test]
fn a_glob_matching_nothing_is_reported() {
    let fixture = Fixture::new();
    let issues = fixture.issues(|dataset| {
        remove(&mut dataset["manifestFile"], "fileContents");
        dataset["manifestFile"]["glob"] = json!("*.csv");
    });
    assert_eq!(
        issues,
        [format!(r#"manifestFile.glob: "*.csv" matched no regular files in {}"#, fixture.data().display())]
    );
    let issues = fixture.issues(|dataset| {
        remove(&mut dataset["manifestFile"], "fileContents");
        dataset["manifestFile"]["glob"] = json!("[");
    });
    assert_eq!(issues.len(), 1);
    assert!(issues[0].starts_with(r#"manifestFile.glob: invalid pattern "[": "#), "{issues:?}");
}

// ---- whole-file errors ----

#[test]
fn invalid_json_gives_line_and_column() {
    let fixture = Fixture::new();
    let text = "{\n  \"datasetName\": \"x\",\n  oops\n}";
    match parse_str(text, &fixture.dataset_file()) {
        Err(ConfigError::Json { file, line, column, message }) => {
            assert_eq!((line, column), (3, 3));
            assert_eq!(file, fixture.dataset_file());
            assert_eq!(message, "key must be a string");
        }
        other => panic!("expected ConfigError::Json, got {other:?}"),
    }
    let error = parse_str(text, Path::new("/d/dataset.json")).expect_err("invalid");
    assert_eq!(error.to_string(), "/d/dataset.json: invalid JSON at line 3, column 3: key must be a string");
}

#[test]
fn a_missing_dataset_file_is_a_read_error_naming_it() {
    let fixture = Fixture::new();
    let error = load(&fixture.dataset_file()).expect_err("no file");
    assert!(matches!(&error, ConfigError::Read { file, .. } if *file == fixture.dataset_file()));
    assert!(
        error
            .to_string()
            .starts_with(&format!("{}: cannot read dataset configuration: ", fixture.dataset_file().display())),
        "{error}"
    );
}

#[test]
fn a_top_level_that_is_not_an_object_is_reported() {
    let fixture = Fixture::new();
    let error = parse_str("[]", &fixture.dataset_file()).expect_err("invalid");
    let ConfigError::Invalid { issues, .. } = error else {
        panic!("expected ConfigError::Invalid, got {error:?}");
    };
    assert_eq!(issues[0].to_string(), "(top level): expected a JSON object; got an array");
}

#[test]
fn every_problem_in_the_file_is_reported_at_once() {
    let fixture = Fixture::new();
    let error = fixture
        .parse(|dataset| {
            dataset["datasetNam"] = json!("typo");
            dataset["readConnector"]["bucketName"] = json!("b");
            dataset["readConnector"]["artifactImplementationLanguage"] = json!("Java");
            dataset["manifestFile"]["fileContents"] = json!("logs-0001.jsonl\nmissing.jsonl");
            dataset["writeConnector"]["connectorDestination"] = json!("S3");
            dataset["computeEngine"]["batchSize"] = json!("many");
            dataset["computeEngine"]["concurrency"] = json!(0);
        })
        .expect_err("invalid");
    let expected_fields = "connectorDestination, readerType, artifactImplementationLanguage, \
                           handlerPath, directory, interfaceECRImageResourceLocation, \
                           interfaceECRImagePath";
    assert_eq!(
        error.to_string(),
        format!(
            "{file}: invalid dataset configuration\n  \
             - datasetNam: unknown field; expected one of: datasetName, region, \
             accessGrantRoleArn, customerAccountForAccess, readConnector, manifestFile, \
             writeConnector, errorConnector, computeEngine\n  \
             - readConnector.bucketName: unknown field; expected one of: {expected_fields}\n  \
             - readConnector.artifactImplementationLanguage: expected one of: Python, \
             Javascript, Rust; got \"Java\"\n  \
             - manifestFile.fileContents line 2: \"missing.jsonl\" not found in {data}\n  \
             - writeConnector.directory: unknown field; expected one of: connectorDestination, \
             resourceLocation, bucketName, keyPrefix, writerType, fileRecordsSeparator, \
             aggregateFileSizeInMB\n  \
             - writeConnector.bucketName: missing required field\n  \
             - writeConnector.writerType: missing required field\n  \
             - computeEngine.batchSize: invalid type: string \"many\", expected u64\n  \
             - computeEngine.concurrency: must be between 1 and 64 tasks; got 0",
            file = fixture.dataset_file().display(),
            data = fixture.data().display(),
        )
    );
}

#[test]
fn a_rust_handler_needs_no_handler_path_but_python_does() {
    let fixture = Fixture::new();
    let config = fixture
        .parse(|dataset| {
            dataset["readConnector"]["artifactImplementationLanguage"] = json!("rust");
            dataset["readConnector"].as_object_mut().expect("object").remove("handlerPath");
        })
        .expect("a Rust dataset without handlerPath is valid");
    let ReadConnector::File(read) = config.read else { panic!("a File read connector") };
    assert_eq!((read.handler.language, read.handler.path), (Language::Rust, None));

    let issues = fixture.issues(|dataset| {
        dataset["readConnector"].as_object_mut().expect("object").remove("handlerPath");
    });
    assert_eq!(issues, ["readConnector.handlerPath: missing required field"]);
}

// ---- cloud read connectors ----

/// `sample()` with its read connector and manifest replaced.
fn with_cloud_read(read: Value, manifest: Option<Value>) -> impl FnOnce(&mut Value) {
    move |dataset| {
        dataset["readConnector"] = read;
        match manifest {
            Some(manifest) => dataset["manifestFile"] = manifest,
            None => remove(dataset, "manifestFile"),
        }
    }
}

fn cloud_read(destination: &str, resource: (&str, &str)) -> Value {
    json!({
        "connectorDestination": destination,
        "artifactImplementationLanguage": "Python",
        "handlerPath": "handler.py",
        "resourceLocation": "Customer",
        resource.0: resource.1,
    })
}

fn cloud_source(config: DatasetConfig) -> CloudSource {
    match config.read {
        ReadConnector::Cloud(cloud) => cloud.source,
        ReadConnector::File(_) => panic!("a cloud read connector"),
    }
}

const KINESIS_ARN: &str = "arn:aws:kinesis:us-east-1:123456789012:stream/clicks";
const DDB_STREAM_ARN: &str = "arn:aws:dynamodb:us-east-1:123456789012:table/T/stream/2024-01-01T00:00:00.000";

#[test]
fn letsdata_cloud_dataset_files_build_their_sources() {
    let fixture = Fixture::new();
    let s3 = fixture
        .parse(with_cloud_read(
            json!({
                "connectorDestination": "S3", "readerType": "Single File Reader", "bucketName": "logs",
                "bucketResourceLocation": "Customer", "artifactImplementationLanguage": "Python",
                "handlerPath": "handler.py",
            }),
            Some(json!({
                "manifestType": "S3ReaderTextManifestFile", "readerType": "SINGLEFILEREADER",
                "fileContents": "a.gz\n\n b.gz ",
            })),
        ))
        .expect("valid");
    assert!(s3.manifest.is_empty());
    assert_eq!(
        cloud_source(s3),
        CloudSource::S3 { bucket: "logs".to_owned(), objects: S3Objects::Names(vec!["a.gz".into(), "b.gz".into()]) }
    );

    let sqs = fixture
        .parse(with_cloud_read(
            cloud_read("SQS", ("queueName", "orders")),
            Some(json!({
                "sqsReaderTaskStopCondition": "DrainQueues", "sqsReaderTaskStopAfterConsecutiveEmptyReceives": 3,
            })),
        ))
        .expect("valid");
    assert_eq!(
        cloud_source(sqs),
        CloudSource::Sqs { queue_name: "orders".to_owned(), stop: QueueStop::Drain { consecutive_empty_receives: 3 } }
    );

    let kinesis = fixture
        .parse(with_cloud_read(
            json!({
                "connectorDestination": "KINESIS", "readerType": "KINESISSTREAMREADER", "streamArn": KINESIS_ARN,
                "resourceLocation": "LetsData", "artifactImplementationLanguage": "Python",
                "handlerPath": "handler.py",
            }),
            Some(json!({
                "manifestType": "KinesisStreamReaderManifest", "kinesisReaderTaskStopCondition": "Continuous",
                "kinesisReaderTaskStartFromCondition": "Latest",
                "kinesisReaderTaskContinuousPollFrequency": "Poll with exponential frequency (max 1 min)",
            })),
        ))
        .expect("valid");
    assert_eq!(
        cloud_source(kinesis),
        CloudSource::Kinesis(StreamRead {
            stream_arn: KINESIS_ARN.to_owned(),
            start: StreamStart::Latest,
            stop: StreamStop::Continuous,
        })
    );

    let streams = fixture
        .parse(with_cloud_read(
            cloud_read("DYNAMODBSTREAMS", ("streamArn", DDB_STREAM_ARN)),
            Some(json!({ "manifestType": "DynamoDBStreamReaderManifest", "dynamoDBReaderTaskStopCondition": "StopWhenNoData" })),
        ))
        .expect("valid");
    assert_eq!(
        cloud_source(streams),
        CloudSource::DynamoDbStreams(StreamRead {
            stream_arn: DDB_STREAM_ARN.to_owned(),
            start: StreamStart::Earliest,
            stop: StreamStop::WhenNoData,
        })
    );

    let table = fixture
        .parse(with_cloud_read(
            cloud_read("DynamoDB", ("tableName", "Orders")),
            Some(json!({
                "manifestType": "DynamoDBTableReaderManifest", "dynamoDBTableReaderSegments": 4,
                "dynamoDBTableReaderFilterExpression": "#s = :open",
                "dynamoDBTableReaderExpressionAttributeNames": { "#s": "status" },
                "dynamoDBTableReaderExpressionAttributeValues": { ":open": "OPEN" },
            })),
        ))
        .expect("valid");
    let CloudSource::DynamoDbTable(scan) = cloud_source(table) else { panic!("a table scan") };
    assert_eq!((scan.table_name.as_str(), scan.segments, scan.stop), ("Orders", 4, ScanStop::SingleScan));
    let filter = scan.filter.expect("a filter");
    assert_eq!(filter.expression, "#s = :open");
    assert_eq!(filter.names["#s"], "status");
    assert_eq!(filter.values[":open"], json!("OPEN"));
}

#[test]
fn stream_queue_and_table_manifests_are_optional() {
    let fixture = Fixture::new();
    let sqs = fixture.parse(with_cloud_read(cloud_read("SQS", ("queueName", "q")), None)).expect("valid");
    assert_eq!(
        cloud_source(sqs),
        CloudSource::Sqs {
            queue_name: "q".to_owned(),
            stop: QueueStop::Drain { consecutive_empty_receives: QueueStop::DEFAULT_CONSECUTIVE_EMPTY_RECEIVES },
        }
    );
    let table = fixture.parse(with_cloud_read(cloud_read("DynamoDB", ("tableName", "T")), None)).expect("valid");
    assert_eq!(
        cloud_source(table),
        CloudSource::DynamoDbTable(TableScan {
            table_name: "T".to_owned(),
            segments: 1,
            filter: None,
            stop: ScanStop::SingleScan,
        })
    );
    let issues = fixture.issues(with_cloud_read(cloud_read("S3", ("bucketName", "b")), None));
    assert_eq!(issues, ["manifestFile: missing required field"]);
}

#[test]
fn each_cloud_destination_takes_its_own_resource_field() {
    let fixture = Fixture::new();
    let mut read = cloud_read("SQS", ("bucketName", "logs"));
    read["directory"] = json!("data");
    let issues = fixture.issues(with_cloud_read(read, None));
    assert_eq!(
        issues,
        [
            "readConnector.directory: unknown field; expected one of: connectorDestination, readerType, \
             artifactImplementationLanguage, handlerPath, bucketName, queueName, streamArn, tableName, \
             bucketResourceLocation, resourceLocation, interfaceECRImageResourceLocation, interfaceECRImagePath",
            "readConnector.bucketName: is not a field of a SQS read connector; it takes queueName",
            "readConnector.queueName: missing required field",
        ]
    );
    let issues = fixture.issues(with_cloud_read(
        cloud_read("Kinesis", ("streamArn", "clicks")),
        Some(json!({ "manifestType": "KinesisStreamReaderManifest" })),
    ));
    assert_eq!(
        issues,
        [
            r#"readConnector.streamArn: must be a Kinesis stream ARN (arn:aws:kinesis:REGION:ACCOUNT:stream/NAME); got "clicks""#
        ]
    );
    let issues = fixture.issues(with_cloud_read(
        cloud_read("S3", ("bucketName", "s3://logs/2024")),
        Some(json!({ "prefix": "2024/" })),
    ));
    assert_eq!(
        issues,
        [r#"readConnector.bucketName: is a bucket name, without '/' or an s3:// prefix; got "s3://logs/2024""#]
    );
}

#[test]
fn invalid_cloud_combinations_say_what_to_change() {
    let fixture = Fixture::new();
    let mut sqs = cloud_read("SQS", ("queueName", "q"));
    sqs["readerType"] = json!("Single File Reader");
    let issues = fixture.issues(with_cloud_read(
        sqs,
        Some(json!({
            "sqsReaderTaskStopCondition": "Continuous", "sqsReaderTaskStopAfterConsecutiveEmptyReceives": 5,
        })),
    ));
    assert_eq!(
        issues,
        [
            "readConnector.readerType: a SQS read connector has no reader type; remove it",
            "manifestFile.sqsReaderTaskStopAfterConsecutiveEmptyReceives: applies only to \
             sqsReaderTaskStopCondition DrainQueues",
        ]
    );
    let mut s3 = cloud_read("S3", ("bucketName", "b"));
    s3["readerType"] = json!("Single File State Machine Reader");
    let issues = fixture.issues(with_cloud_read(s3, Some(json!({ "fileContents": "a", "prefix": "b" }))));
    assert_eq!(
        issues,
        [
            "readConnector.readerType: the state machine readers read local files only; use a File read connector",
            "manifestFile: set exactly one of fileContents and prefix; both are set",
        ]
    );
    let issues = fixture.issues(with_cloud_read(
        cloud_read("DynamoDB", ("tableName", "T")),
        Some(json!({
            "manifestType": "KinesisStreamReaderManifest", "dynamoDBTableReaderSegments": 0,
        })),
    ));
    assert_eq!(
        issues,
        [
            r#"manifestFile.manifestType: "KinesisStreamReaderManifest" does not go with this read connector"#,
            "manifestFile.dynamoDBTableReaderSegments: must be between 1 and 4096; got 0",
        ]
    );
    let issues = fixture.issues(with_cloud_read(
        cloud_read("DynamoDB", ("tableName", "T")),
        Some(json!({ "dynamoDBTableReaderExpressionAttributeValues": { ":v": 1 } })),
    ));
    assert_eq!(
        issues,
        ["manifestFile.dynamoDBTableReaderFilterExpression: missing: expression attribute names and values are \
          only used by a filter expression"]
    );
    let issues =
        fixture.issues(|dataset| dataset["manifestFile"]["manifestType"] = json!("KinesisStreamReaderManifest"));
    assert_eq!(
        issues,
        [
            r#"manifestFile.manifestType: "KinesisStreamReaderManifest" is the manifest of a stream or table read connector, not of files"#
        ]
    );
}

// ---- cloud write and error connectors ----

#[test]
fn letsdata_write_connectors_build_their_destinations() {
    let fixture = Fixture::new();
    let cases = [
        (
            json!({"connectorDestination": "Kinesis", "resourceLocation": "Customer", "streamName": "docs", "kinesisShardCount": 1}),
            WriteConnector::Kinesis { stream: "docs".to_owned() },
        ),
        (
            json!({"connectorDestination": "KINESIS", "streamArn": "arn:aws:kinesis:us-east-1:1:stream/docs"}),
            WriteConnector::Kinesis { stream: "arn:aws:kinesis:us-east-1:1:stream/docs".to_owned() },
        ),
        (
            json!({"connectorDestination": "SQS", "resourceLocation": "LetsData", "queueName": "q", "messageIdAttributeName": "docId"}),
            WriteConnector::Sqs { queue_name: "q".to_owned(), message_id_attribute: "docId".to_owned() },
        ),
        (
            json!({"connectorDestination": "SQS", "queueName": "q.fifo"}),
            WriteConnector::Sqs { queue_name: "q.fifo".to_owned(), message_id_attribute: "documentId".to_owned() },
        ),
        (
            json!({"connectorDestination": "DynamoDB", "tableName": "t"}),
            WriteConnector::DynamoDb { table_name: "t".to_owned(), writers: WriteConnector::DEFAULT_DYNAMODB_WRITERS },
        ),
        (
            json!({"connectorDestination": "S3", "bucketName": "b", "writerType": "Single Record Writer", "keyPrefix": "docs/"}),
            WriteConnector::S3 { bucket: "b".to_owned(), key_prefix: "docs/".to_owned(), layout: S3Layout::PerRecord },
        ),
        (
            json!({"connectorDestination": "S3", "bucketName": "b", "writerType": "AGGREGATE_FILE_WRITER",
                   "fileRecordsSeparator": "\u{1e}", "aggregateFileSizeInMB": 10}),
            WriteConnector::S3 {
                bucket: "b".to_owned(),
                key_prefix: String::new(),
                layout: S3Layout::Aggregate { separator: "\u{1e}".to_owned(), file_size_bytes: 10 * 1024 * 1024 },
            },
        ),
        (
            json!({"connectorDestination": "Kafka", "bootstrapServers": "127.0.0.1:9092", "topic": "docs", "partitions": 3}),
            WriteConnector::Kafka {
                bootstrap_servers: "127.0.0.1:9092".to_owned(),
                topic: "docs".to_owned(),
                partitions: Some(3),
            },
        ),
    ];
    for (connector, expected) in cases {
        let config = fixture.parse(|dataset| dataset["writeConnector"] = connector.clone()).expect("valid");
        assert_eq!(config.write, expected, "{connector}");
    }
    let config = fixture
        .parse(|dataset| {
            dataset["errorConnector"] =
                json!({"connectorDestination": "S3", "resourceLocation": "letsdata", "bucketName": "errs"});
        })
        .expect("valid");
    assert_eq!(config.error, ErrorConnector::S3 { bucket: "errs".to_owned(), key_prefix: String::new() });
}

#[test]
fn a_write_connector_refuses_another_destinations_fields_and_bad_values() {
    let fixture = Fixture::new();
    let cases = [
        (
            json!({"connectorDestination": "SQS", "queueName": "q", "tableName": "t"}),
            vec![
                "writeConnector.tableName: is not a field of a SQS write connector; it takes queueName, messageIdAttributeName",
            ],
        ),
        (
            json!({"connectorDestination": "Kinesis", "streamName": "s", "streamArn": "arn:aws:kinesis:r:1:stream/s"}),
            vec!["writeConnector.streamArn: give streamName or streamArn, not both"],
        ),
        (
            json!({"connectorDestination": "Kinesis"}),
            vec!["writeConnector.streamName: missing: give the stream's streamName or streamArn"],
        ),
        (
            json!({"connectorDestination": "S3", "bucketName": "b", "writerType": "Single Record Writer", "aggregateFileSizeInMB": 10}),
            vec![
                "writeConnector.aggregateFileSizeInMB: is a setting of the Aggregate File Writer; the Single Record Writer writes an object per document",
            ],
        ),
        (
            json!({"connectorDestination": "S3", "bucketName": "b", "writerType": "Aggregate File Writer", "aggregateFileSizeInMB": 5}),
            vec!["writeConnector.aggregateFileSizeInMB: must be between 10 and 128; got 5"],
        ),
        (
            json!({"connectorDestination": "S3", "bucketName": "s3://b", "writerType": "Spark"}),
            vec![
                r#"writeConnector.bucketName: must be a bucket name, without '/' or an s3:// prefix; got "s3://b""#,
                r#"writeConnector.writerType: "Spark" is not available in this build; available: Single Record Writer, Aggregate File Writer"#,
            ],
        ),
        (
            json!({"connectorDestination": "DynamoDB", "tableName": "t", "dynamoDBWriters": 0}),
            vec!["writeConnector.dynamoDBWriters: must be between 1 and 64; got 0"],
        ),
        (
            json!({"connectorDestination": "SQS", "queueName": "https://sqs.us-east-1.amazonaws.com/1/q"}),
            vec![
                r#"writeConnector.queueName: is the queue's name, not its URL or ARN; got "https://sqs.us-east-1.amazonaws.com/1/q""#,
            ],
        ),
        (
            json!({"connectorDestination": "SQS", "queueName": "q", "messageIdAttributeName": "AWS.id"}),
            vec![
                r#"writeConnector.messageIdAttributeName: is sent as an SQS message attribute's name, which may not start with AWS. or Amazon., which SQS keeps for itself; got "AWS.id""#,
            ],
        ),
        (
            json!({"connectorDestination": "SQS", "queueName": "q", "messageIdAttributeName": "doc id"}),
            vec![
                r#"writeConnector.messageIdAttributeName: is sent as an SQS message attribute's name, which may hold only A-Z a-z 0-9 _ - and .; got "doc id""#,
            ],
        ),
        (
            json!({"connectorDestination": "Kafka", "topic": ""}),
            vec!["writeConnector.bootstrapServers: missing required field", "writeConnector.topic: must not be empty"],
        ),
    ];
    for (connector, expected) in cases {
        let issues = fixture.issues(|dataset| dataset["writeConnector"] = connector.clone());
        assert_eq!(issues, expected, "{connector}");
    }
    let issues = fixture
        .issues(|dataset| dataset["errorConnector"] = json!({"connectorDestination": "S3", "directory": "errors"}));
    assert_eq!(
        issues,
        [
            "errorConnector.directory: unknown field; expected one of: connectorDestination, resourceLocation, bucketName, keyPrefix",
            "errorConnector.bucketName: missing required field",
        ]
    );
}
