//! The state-machine readers in a dataset file.
//!
//! - `readerType` "Single File State Machine Reader" and "Multiple File
//!   State Machine Reader" run stateful parsers linked into the `ferry`
//!   binary, so they need `artifactImplementationLanguage` Rust.
//! - The Multiple File State Machine Reader reads files in groups: each
//!   `fileContents` line is one task, naming one file per file type,
//!   `ORDERS:orders-1.csv|ITEMS:items-1.csv` (LetsData's multi-file
//!   manifest line). A `glob` cannot say which files go together, so it is
//!   refused for this reader.

use std::collections::HashMap;
use std::path::Path;

use super::choices::{READER_TYPES, ReaderType};
use super::issues::{Issues, join};
use super::manifest::regular_file;
use super::paths::contained;
use super::{FileReaderType, HandlerSpec, Language, ManifestEntry};

const MANIFEST: &str = "manifestFile";

/// What a `File` read connector's `readerType` reads with; `None` after
/// reporting a handler language that reader cannot run.
pub(super) fn file_reader_type(
    reader_type: ReaderType,
    handler: Option<&HandlerSpec>,
    issues: &mut Issues,
) -> Option<FileReaderType> {
    let (reader, name) = match reader_type {
        ReaderType::SingleFileReader => return Some(FileReaderType::SingleFile),
        ReaderType::KinesisStream => {
            issues.push(
                join("readConnector", "readerType"),
                "KinesisStreamReader reads a Kinesis read connector's stream, not files",
            );
            return None;
        }
        ReaderType::SingleFileStateMachine => {
            (FileReaderType::SingleFileStateMachine, "Single File State Machine Reader")
        }
        ReaderType::MultipleFileStateMachine => {
            (FileReaderType::MultipleFileStateMachine, "Multiple File State Machine Reader")
        }
    };
    match handler.map(|handler| handler.language) {
        Some(Language::Rust) => Some(reader),
        // Without a handler the language was reported already.
        None => Some(reader),
        Some(language) => {
            issues.push(
                join("readConnector", "artifactImplementationLanguage"),
                format!(
                    "the {name} runs stateful parsers linked into the ferry binary, so it needs a Rust handler \
                     (\"Rust\"); got {language:?}"
                ),
            );
            None
        }
    }
}

/// Whether `reader_type`, as written, names the Multiple File State
/// Machine Reader.
pub(super) fn is_multiple_file(reader_type: Option<&str>) -> bool {
    reader_type.is_some_and(|given| READER_TYPES.pick(given) == Ok(ReaderType::MultipleFileStateMachine))
}

/// Refuses a `glob` manifest for the Multiple File State Machine Reader.
pub(super) fn refuse_glob(issues: &mut Issues) {
    issues.push(
        join(MANIFEST, "glob"),
        "the Multiple File State Machine Reader reads files in groups a pattern cannot express; list each \
         task's files in fileContents, one line per task, as FILE_TYPE:path|FILE_TYPE:path",
    );
}

/// One task per `fileContents` line, its files by file type in line order
/// (the first also as the entry's `path`). Without a directory only the
/// lines themselves are checked.
pub(super) fn file_groups(contents: &str, directory: Option<&Path>, issues: &mut Issues) -> Option<Vec<ManifestEntry>> {
    let mut entries = Vec::new();
    let mut first_line_of: HashMap<&str, usize> = HashMap::new();
    let mut all_found = true;
    for (index, line) in contents.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let at = format!("{MANIFEST}.fileContents line {}", index + 1);
        if let Some(first) = first_line_of.get(line) {
            issues.push(at, format!("duplicate line {line:?} (first on line {first})"));
            all_found = false;
            continue;
        }
        first_line_of.insert(line, index + 1);
        let mut files: Vec<(String, ManifestEntry)> = Vec::new();
        let mut line_ok = true;
        for part in line.split('|') {
            let typed = part.split_once(':').map(|(file_type, name)| (file_type.trim(), name.trim()));
            let Some((file_type, name)) = typed.filter(|(file_type, name)| !file_type.is_empty() && !name.is_empty())
            else {
                issues.push(
                    &at,
                    format!("{:?} must be FILE_TYPE:path, as in ORDERS:orders.csv|ITEMS:items.csv", part.trim()),
                );
                line_ok = false;
                continue;
            };
            if files.iter().any(|(named, _)| named == file_type) {
                issues.push(&at, format!("the file type {file_type:?} is named twice"));
                line_ok = false;
                continue;
            }
            let Some(relative) = contained(name) else {
                issues.push(&at, format!("{name:?} must be a path inside the read directory"));
                line_ok = false;
                continue;
            };
            if let Some(directory) = directory {
                match regular_file(name, &relative, directory, &at, issues) {
                    Some(file) => files.push((file_type.to_owned(), file)),
                    None => line_ok = false,
                }
            }
        }
        all_found &= line_ok;
        if let (true, Some((_, first))) = (line_ok, files.first()) {
            let path = first.path.clone();
            entries.push(ManifestEntry { name: line.to_owned(), path, files_by_type: files });
        }
    }
    if first_line_of.is_empty() {
        issues.push(join(MANIFEST, "fileContents"), "lists no files");
        return None;
    }
    (all_found && directory.is_some()).then_some(entries)
}

#[cfg(test)]
mod tests {
    use std::fs;

    use serde_json::json;

    use super::super::{ConfigError, DatasetConfig, FileReadConnector, ReadConnector, parse_str};
    use super::*;

    /// A dataset directory with `data/orders.csv`, `data/items.csv` and
    /// `data/b/items.csv`.
    fn fixture() -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("tempdir");
        fs::create_dir_all(dir.path().join("data/b")).expect("mkdir");
        for name in ["orders.csv", "items.csv", "b/items.csv"] {
            fs::write(dir.path().join("data").join(name), "x\n").expect("write");
        }
        fs::write(dir.path().join("handler.py"), "").expect("write");
        dir
    }

    fn parse(
        dir: &tempfile::TempDir,
        read: &serde_json::Value,
        manifest: &serde_json::Value,
    ) -> Result<DatasetConfig, ConfigError> {
        let dataset = json!({
            "datasetName": "orders",
            "readConnector": read,
            "manifestFile": manifest,
            "writeConnector": { "connectorDestination": "File", "directory": "output" },
        });
        parse_str(&dataset.to_string(), &dir.path().join("dataset.json"))
    }

    fn issues(result: Result<DatasetConfig, ConfigError>) -> Vec<String> {
        match result {
            Err(ConfigError::Invalid { issues, .. }) => issues.iter().map(ToString::to_string).collect(),
            other => panic!("expected invalid, got {other:?}"),
        }
    }

    fn read(reader_type: &str, language: &str) -> serde_json::Value {
        json!({
            "connectorDestination": "File",
            "readerType": reader_type,
            "artifactImplementationLanguage": language,
            "handlerPath": "handler.py",
            "directory": "data",
        })
    }

    #[test]
    fn state_machine_readers_are_read_in_any_spelling_and_need_rust() {
        let dir = fixture();
        let manifest = json!({ "fileContents": "orders.csv" });
        for (given, expected) in [
            ("Single File State Machine Reader", FileReaderType::SingleFileStateMachine),
            ("SINGLE_FILE_STATE_MACHINE_READER", FileReaderType::SingleFileStateMachine),
            ("single-file-state-machine-reader", FileReaderType::SingleFileStateMachine),
            ("Single File Reader", FileReaderType::SingleFile),
        ] {
            let config = parse(&dir, &read(given, "Rust"), &manifest).expect("valid");
            let ReadConnector::File(FileReadConnector { reader, .. }) = config.read else {
                panic!("a File read connector")
            };
            assert_eq!(reader, expected, "{given}");
        }
        assert_eq!(
            issues(parse(&dir, &read("Single File State Machine Reader", "Python"), &manifest)),
            ["readConnector.artifactImplementationLanguage: the Single File State Machine Reader runs stateful \
              parsers linked into the ferry binary, so it needs a Rust handler (\"Rust\"); got Python"]
        );
    }

    #[test]
    fn multiple_file_lines_name_each_tasks_files_by_type() {
        let dir = fixture();
        let manifest = json!({
            "manifestType": "LocalFileManifest",
            "readerType": "MULTIPLEFILESTATEMACHINEREADER",
            "fileContents": "ORDERS:orders.csv|ITEMS:items.csv\n\n ORDERS: orders.csv | ITEMS: b/items.csv \n",
        });
        let config = parse(&dir, &read("Multiple File State Machine Reader", "Rust"), &manifest).expect("valid");
        let data = dir.path().canonicalize().expect("canonical").join("data");
        let file =
            |name: &str| ManifestEntry { name: name.to_owned(), path: data.join(name), files_by_type: Vec::new() };
        assert_eq!(
            config.manifest,
            [
                ManifestEntry {
                    name: "ORDERS:orders.csv|ITEMS:items.csv".to_owned(),
                    path: data.join("orders.csv"),
                    files_by_type: vec![
                        ("ORDERS".to_owned(), file("orders.csv")),
                        ("ITEMS".to_owned(), file("items.csv"))
                    ],
                },
                ManifestEntry {
                    name: "ORDERS: orders.csv | ITEMS: b/items.csv".to_owned(),
                    path: data.join("orders.csv"),
                    files_by_type: vec![
                        ("ORDERS".to_owned(), file("orders.csv")),
                        ("ITEMS".to_owned(), file("b/items.csv")),
                    ],
                },
            ]
        );
    }

    #[test]
    fn bad_multiple_file_manifests_name_the_line_and_the_problem() {
        let dir = fixture();
        let reader = || read("Multiple File State Machine Reader", "Rust");
        let contents = "ORDERS:orders.csv|ITEMS:items.csv\norders.csv\nA:orders.csv|A:items.csv\nA:missing.csv|B:../x\n\
                        ORDERS:orders.csv|ITEMS:items.csv\nA:|:b";
        assert_eq!(
            issues(parse(&dir, &reader(), &json!({ "fileContents": contents }))),
            [
                "manifestFile.fileContents line 2: \"orders.csv\" must be FILE_TYPE:path, as in \
                 ORDERS:orders.csv|ITEMS:items.csv",
                "manifestFile.fileContents line 3: the file type \"A\" is named twice",
                &format!(
                    "manifestFile.fileContents line 4: \"missing.csv\" not found in {}",
                    dir.path().canonicalize().expect("canonical").join("data").display()
                ),
                "manifestFile.fileContents line 4: \"../x\" must be a path inside the read directory",
                "manifestFile.fileContents line 5: duplicate line \"ORDERS:orders.csv|ITEMS:items.csv\" (first on line 1)",
                "manifestFile.fileContents line 6: \"A:\" must be FILE_TYPE:path, as in ORDERS:orders.csv|ITEMS:items.csv",
                "manifestFile.fileContents line 6: \":b\" must be FILE_TYPE:path, as in ORDERS:orders.csv|ITEMS:items.csv",
            ]
        );
        assert_eq!(
            issues(parse(&dir, &reader(), &json!({ "glob": "*.csv" }))),
            ["manifestFile.glob: the Multiple File State Machine Reader reads files in groups a pattern cannot \
              express; list each task's files in fileContents, one line per task, as FILE_TYPE:path|FILE_TYPE:path"]
        );
        assert_eq!(
            issues(parse(&dir, &reader(), &json!({ "fileContents": "\n \n" }))),
            ["manifestFile.fileContents: lists no files"]
        );
    }
}
