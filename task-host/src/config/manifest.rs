//! Validating `manifestFile` and resolving it to the files it names.

use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use glob::{MatchOptions, Pattern};
use serde_json::Value;

use super::ManifestEntry;
use super::choices::{MANIFEST_TYPES, ManifestType, READER_TYPES};
use super::issues::{Issues, join};
use super::parse;
use super::paths::contained;
use super::raw::RawFileListManifest;
use super::state_machines;

const PATH: &str = "manifestFile";

/// What the manifest needs from the read connector, each `None` when the
/// read connector did not give it (an issue says why).
#[derive(Debug)]
pub(super) struct ReadSide<'a> {
    /// `readConnector.directory`, canonical.
    pub directory: Option<&'a Path>,
    /// `readConnector.readerType` as written.
    pub reader_type: Option<&'a str>,
}

/// The files `manifestFile` names, in manifest order; `None` after
/// reporting why there are none.
pub(super) fn validate(value: Value, read: &ReadSide<'_>, issues: &mut Issues) -> Option<Vec<ManifestEntry>> {
    let object = parse::object(value, PATH, issues)?;
    let manifest_type = parse::selector(&object, "manifestType", PATH, issues);
    if let Some(given) = manifest_type {
        match MANIFEST_TYPES.pick(&given) {
            Ok(ManifestType::FileList) => {}
            Ok(_) => {
                issues.push(
                    join(PATH, "manifestType"),
                    format!("{given:?} is the manifest of a stream or table read connector, not of files"),
                );
                return None;
            }
            Err(message) => {
                issues.push(join(PATH, "manifestType"), message);
                return None;
            }
        }
    }
    let raw: RawFileListManifest = parse::fields(object, PATH, issues)?;
    if let Some(given) = &raw.reader_type {
        check_reader_type(given, read.reader_type, issues);
    }
    let multiple_file = state_machines::is_multiple_file(read.reader_type);
    match (raw.file_contents, raw.glob) {
        (Some(contents), None) if multiple_file => state_machines::file_groups(&contents, read.directory, issues),
        (None, Some(_)) if multiple_file => {
            state_machines::refuse_glob(issues);
            None
        }
        (Some(contents), None) => from_file_contents(&contents, read.directory, issues),
        (None, Some(pattern)) => from_glob(&pattern, read.directory, issues),
        (Some(_), Some(_)) => {
            issues.push(PATH, "set exactly one of fileContents and glob; both are set");
            None
        }
        (None, None) => {
            // A wrong JSON type on either field was reported already.
            let either_reported = ["fileContents", "glob"].iter().any(|key| issues.has(&join(PATH, key)));
            if !either_reported {
                issues.push(PATH, "set exactly one of fileContents and glob; neither is set");
            }
            None
        }
    }
}

/// `manifestFile.readerType` repeats the read connector's reader type
/// (LetsData requires both); it must name the same one.
pub(super) fn check_reader_type(given: &str, read_reader_type: Option<&str>, issues: &mut Issues) {
    let path = join(PATH, "readerType");
    let Some(canonical) = READER_TYPES.canonical(given) else {
        // Reports the unknown value with the list of known ones.
        if let Err(message) = READER_TYPES.pick(given) {
            issues.push(path, message);
        }
        return;
    };
    let Some(read_given) = read_reader_type else {
        return;
    };
    if READER_TYPES.canonical(read_given) != Some(canonical) {
        issues.push(path, format!("{given:?} does not match readConnector.readerType {read_given:?}"));
    }
}

/// The files listed one per line in `contents`, relative to `directory`.
/// Without a directory only the lines themselves are checked.
fn from_file_contents(contents: &str, directory: Option<&Path>, issues: &mut Issues) -> Option<Vec<ManifestEntry>> {
    let mut entries = Vec::new();
    let mut first_line_of: HashMap<PathBuf, usize> = HashMap::new();
    let mut all_found = true;
    let mut any_name = false;
    for (index, line) in contents.lines().enumerate() {
        let name = line.trim();
        if name.is_empty() {
            continue;
        }
        any_name = true;
        let line_number = index + 1;
        let path = format!("{PATH}.fileContents line {line_number}");
        let Some(relative) = contained(name) else {
            issues.push(path, format!("{name:?} must be a path inside the read directory"));
            all_found = false;
            continue;
        };
        if let Some(first) = first_line_of.get(&relative) {
            issues.push(path, format!("duplicate file name {name:?} (first on line {first})"));
            all_found = false;
            continue;
        }
        first_line_of.insert(relative.clone(), line_number);
        let Some(directory) = directory else {
            continue;
        };
        match regular_file(name, &relative, directory, &path, issues) {
            Some(entry) => entries.push(entry),
            None => all_found = false,
        }
    }
    if !any_name {
        issues.push(join(PATH, "fileContents"), "lists no files");
        return None;
    }
    (all_found && directory.is_some()).then_some(entries)
}

/// The entry for the file `name` (`relative` below `directory`); `None`
/// after reporting, under `path`, that it is missing or not a regular file.
pub(super) fn regular_file(
    name: &str,
    relative: &Path,
    directory: &Path,
    path: &str,
    issues: &mut Issues,
) -> Option<ManifestEntry> {
    let absolute = directory.join(relative);
    match absolute.metadata() {
        Ok(metadata) if metadata.is_file() => {
            Some(ManifestEntry { name: name.to_owned(), path: absolute, files_by_type: Vec::new() })
        }
        Ok(_) => {
            issues.push(path, format!("{name:?} is not a regular file in {}", directory.display()));
            None
        }
        Err(err) if err.kind() == io::ErrorKind::NotFound => {
            issues.push(path, format!("{name:?} not found in {}", directory.display()));
            None
        }
        Err(err) => {
            issues.push(path, format!("cannot read {}: {err}", absolute.display()));
            None
        }
    }
}

/// The regular files below `directory` matching `pattern`, sorted by name.
/// Without a directory only the pattern itself is checked.
fn from_glob(pattern: &str, directory: Option<&Path>, issues: &mut Issues) -> Option<Vec<ManifestEntry>> {
    let path = join(PATH, "glob");
    if contained(pattern).is_none_or(|inside| inside.as_os_str().is_empty()) {
        issues.push(path, format!("{pattern:?} must be a pattern inside the read directory"));
        return None;
    }
    if let Err(err) = Pattern::new(pattern) {
        issues.push(path, format!("invalid pattern {pattern:?}: {err}"));
        return None;
    }
    let directory = directory?;
    let Some(directory_text) = directory.to_str() else {
        issues.push(path, format!("the read directory {} is not valid UTF-8", directory.display()));
        return None;
    };
    let full_pattern = format!("{}/{pattern}", Pattern::escape(directory_text));
    // `*` stays within one directory level and skips dot files, as in a shell.
    let options =
        MatchOptions { case_sensitive: true, require_literal_separator: true, require_literal_leading_dot: true };
    let matches = match glob::glob_with(&full_pattern, options) {
        Ok(matches) => matches,
        Err(err) => {
            issues.push(path, format!("invalid pattern {pattern:?}: {err}"));
            return None;
        }
    };
    let mut entries = Vec::new();
    let mut readable = true;
    for found in matches {
        let found = match found {
            Ok(found) => found,
            Err(err) => {
                issues.push(&path, format!("cannot read {}: {}", err.path().display(), err.error()));
                readable = false;
                continue;
            }
        };
        if !found.is_file() {
            continue;
        }
        match entry_below(directory, found) {
            Ok(entry) => entries.push(entry),
            Err(message) => {
                issues.push(&path, message);
                readable = false;
            }
        }
    }
    if !readable {
        return None;
    }
    if entries.is_empty() {
        issues.push(path, format!("{pattern:?} matched no regular files in {}", directory.display()));
        return None;
    }
    entries.sort_by(|a, b| a.name.cmp(&b.name));
    Some(entries)
}

/// The entry for `found`, named by its '/'-separated path below `directory`.
fn entry_below(directory: &Path, found: PathBuf) -> Result<ManifestEntry, String> {
    let relative = found.strip_prefix(directory).unwrap_or(&found);
    let parts: Option<Vec<&str>> = relative.iter().map(|part| part.to_str()).collect();
    match parts {
        Some(parts) => Ok(ManifestEntry { name: parts.join("/"), path: found, files_by_type: Vec::new() }),
        None => Err(format!("file name {} is not valid UTF-8", found.display())),
    }
}
