//! Where a JavaScript handler's code is: the three layouts a handler path
//! may have, the modules to import, and the digest over the files.
//!
//! The layouts are those of the ferry JS SDK's harness (and, with `.js`
//! for `.py`, of the Python loader):
//!
//! - a `.js` or `.mjs` file: that module;
//! - a directory holding `letsdata_interfaces/` (a LetsData project whose
//!   interface stubs were filled in place): every module under
//!   `letsdata_interfaces/`, in path order;
//! - a directory holding `handler.js` or `handler.mjs`: that module.
//!
//! The digest is SHA-256 over the handler's files, each as its path
//! relative to the root, a NUL byte, its bytes and a NUL byte, in path
//! order; the files are the module itself for the single-module layouts
//! and every `.js`/`.mjs` file under the project (skipping `node_modules`
//! and hidden directories) for a LetsData project.

use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::handler::LoadFailure;

/// Package directory of a LetsData project.
const LETSDATA_PACKAGE: &str = "letsdata_interfaces";
/// Files a handler directory may hold, in order of preference.
const HANDLER_FILES: [&str; 2] = ["handler.js", "handler.mjs"];
/// Extensions of the ES modules the host imports.
const MODULE_EXTENSIONS: [&str; 2] = ["js", "mjs"];

/// A handler's code, located and fingerprinted, not yet imported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandlerSource {
    /// The modules to import, in order.
    pub modules: Vec<PathBuf>,
    /// What load errors name when no single module is at fault: the
    /// handler file, or the project directory.
    pub label: PathBuf,
    /// Lowercase hex SHA-256 over the handler's files.
    pub digest: String,
}

impl HandlerSource {
    /// Finds the handler at `path` (resolved against the working directory)
    /// and computes its digest.
    pub fn locate(path: &Path) -> Result<Self, LoadFailure> {
        let given = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
        let Ok(resolved) = given.canonicalize() else {
            return Err(failure(format!("handler path {} does not exist", given.display())));
        };
        if resolved.is_file() {
            if !is_module(&resolved) {
                return Err(failure(format!(
                    "handler path {} is not a .js or .mjs file; expected a JavaScript module, a directory with \
                     handler.js or handler.mjs, or a LetsData project directory containing {LETSDATA_PACKAGE}/",
                    resolved.display()
                )));
            }
            return Self::single_module(resolved);
        }
        if !resolved.is_dir() {
            return Err(failure(format!("handler path {} is neither a file nor a directory", resolved.display())));
        }
        let package = resolved.join(LETSDATA_PACKAGE);
        if package.is_dir() {
            return Self::letsdata_project(resolved, &package);
        }
        match HANDLER_FILES.iter().map(|name| resolved.join(name)).find(|file| file.is_file()) {
            Some(file) => Self::single_module(file),
            None => Err(failure(format!(
                "handler directory {} contains neither handler.js nor handler.mjs nor a {LETSDATA_PACKAGE}/ \
                 directory (LetsData project layout)",
                resolved.display()
            ))),
        }
    }

    fn single_module(file: PathBuf) -> Result<Self, LoadFailure> {
        let root = file.parent().unwrap_or(Path::new("/"));
        let digest = digest(root, std::slice::from_ref(&file))?;
        Ok(Self { modules: vec![file.clone()], label: file, digest })
    }

    fn letsdata_project(root: PathBuf, package: &Path) -> Result<Self, LoadFailure> {
        let files = module_files(&root)?;
        let modules = files.iter().filter(|file| file.starts_with(package)).cloned().collect();
        let digest = digest(&root, &files)?;
        Ok(Self { modules, label: root, digest })
    }
}

/// SHA-256 over `files` (all under `root`), as the module docs describe.
fn digest(root: &Path, files: &[PathBuf]) -> Result<String, LoadFailure> {
    let mut entries: Vec<(String, &PathBuf)> = files.iter().map(|file| (relative_path(root, file), file)).collect();
    entries.sort();
    let mut hasher = Sha256::new();
    for (relative, file) in entries {
        let bytes = std::fs::read(file)
            .map_err(|err| failure(format!("cannot read handler file {}: {err}", file.display())))?;
        hasher.update(relative.as_bytes());
        hasher.update(b"\0");
        hasher.update(&bytes);
        hasher.update(b"\0");
    }
    Ok(hex::encode(hasher.finalize()))
}

/// Every module file under `root`, sorted by relative path, skipping
/// `node_modules` and hidden directories and files.
fn module_files(root: &Path) -> Result<Vec<PathBuf>, LoadFailure> {
    let mut files = Vec::new();
    let mut pending = vec![root.to_path_buf()];
    while let Some(dir) = pending.pop() {
        let entries = std::fs::read_dir(&dir)
            .map_err(|err| failure(format!("cannot read handler directory {}: {err}", dir.display())))?;
        for entry in entries {
            let entry =
                entry.map_err(|err| failure(format!("cannot read handler directory {}: {err}", dir.display())))?;
            let path = entry.path();
            let name = entry.file_name();
            let name = name.to_string_lossy();
            if name.starts_with('.') {
                continue;
            }
            if path.is_dir() {
                if name != "node_modules" {
                    pending.push(path);
                }
            } else if is_module(&path) {
                files.push(path);
            }
        }
    }
    files.sort_by_cached_key(|file| relative_path(root, file));
    Ok(files)
}

fn is_module(path: &Path) -> bool {
    path.extension().and_then(|ext| ext.to_str()).is_some_and(|ext| MODULE_EXTENSIONS.contains(&ext))
}

/// `file` relative to `root`, with `/` separators.
fn relative_path(root: &Path, file: &Path) -> String {
    let relative = file.strip_prefix(root).unwrap_or(file);
    relative.components().map(|part| part.as_os_str().to_string_lossy()).collect::<Vec<_>>().join("/")
}

fn failure(message: String) -> LoadFailure {
    LoadFailure { message, details: String::new() }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, relative: &str, text: &str) -> PathBuf {
        let path = root.join(relative);
        std::fs::create_dir_all(path.parent().expect("a parent")).expect("create the directory");
        std::fs::write(&path, text).expect("write the file");
        path
    }

    /// The digest as the Python loader's compute_digest spells it out.
    fn reference_digest(entries: &[(&str, &str)]) -> String {
        let mut hasher = Sha256::new();
        for (relative, text) in entries {
            hasher.update(format!("{relative}\0{text}\0").as_bytes());
        }
        hex::encode(hasher.finalize())
    }

    #[test]
    fn a_module_file_is_its_own_handler_and_digest() {
        let dir = tempfile::tempdir().expect("tempdir");
        let file = write(dir.path(), "parser.mjs", "export class SingleFileParser {}\n");
        write(dir.path(), "other.js", "ignored");

        let source = HandlerSource::locate(&file).expect("located");

        let file = file.canonicalize().expect("canonical");
        assert_eq!(source.modules, vec![file.clone()]);
        assert_eq!(source.label, file);
        assert_eq!(source.digest, reference_digest(&[("parser.mjs", "export class SingleFileParser {}\n")]));
    }

    #[test]
    fn a_directory_prefers_handler_js_over_handler_mjs() {
        let dir = tempfile::tempdir().expect("tempdir");
        write(dir.path(), "handler.mjs", "b");
        let js = write(dir.path(), "handler.js", "a");

        let source = HandlerSource::locate(dir.path()).expect("located");

        assert_eq!(source.modules, vec![js.canonicalize().expect("canonical")]);
        assert_eq!(source.digest, reference_digest(&[("handler.js", "a")]));
    }

    #[test]
    fn a_letsdata_project_imports_its_package_and_digests_every_module() {
        let dir = tempfile::tempdir().expect("tempdir");
        let parser = write(dir.path(), "letsdata_interfaces/readers/parsers/singlefileparser.js", "p");
        let document = write(dir.path(), "letsdata_interfaces/documents/document.js", "d");
        write(dir.path(), "util.mjs", "u");
        write(dir.path(), "README.md", "not a module");
        write(dir.path(), "node_modules/dep/index.js", "skipped");
        write(dir.path(), ".cache/x.js", "skipped");

        let source = HandlerSource::locate(dir.path()).expect("located");

        let canonical = |path: PathBuf| path.canonicalize().expect("canonical");
        assert_eq!(source.modules, vec![canonical(document), canonical(parser)]);
        assert_eq!(source.label, dir.path().canonicalize().expect("canonical"));
        assert_eq!(
            source.digest,
            reference_digest(&[
                ("letsdata_interfaces/documents/document.js", "d"),
                ("letsdata_interfaces/readers/parsers/singlefileparser.js", "p"),
                ("util.mjs", "u"),
            ])
        );
    }

    #[test]
    fn paths_that_are_not_handlers_are_refused_naming_them() {
        let dir = tempfile::tempdir().expect("tempdir");
        let root = dir.path().canonicalize().expect("canonical");
        let text = write(&root, "notes.txt", "x");
        let missing = root.join("nowhere.js");

        let message = |path: &Path| HandlerSource::locate(path).expect_err("refused").message;

        assert_eq!(message(&missing), format!("handler path {} does not exist", missing.display()));
        assert!(message(&text).starts_with(&format!("handler path {} is not a .js or .mjs file", text.display())));
        assert_eq!(
            message(&root),
            format!(
                "handler directory {} contains neither handler.js nor handler.mjs nor a letsdata_interfaces/ \
                 directory (LetsData project layout)",
                root.display()
            )
        );
    }
}
