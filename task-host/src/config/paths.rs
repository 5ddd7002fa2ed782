//! Turning the relative paths written in a dataset file into absolute ones.

use std::io;
use std::path::{Component, Path, PathBuf};

/// The directory relative paths in `dataset_file` resolve against: the
/// file's parent, made absolute against the current directory.
pub(super) fn base_dir(dataset_file: &Path) -> PathBuf {
    let parent = match dataset_file.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    std::path::absolute(parent).unwrap_or_else(|_| parent.to_path_buf())
}

/// `written`, relative to `base` unless absolute, as a canonical path (no
/// symlinks, `.` or `..`). Fails when nothing exists there.
pub(super) fn existing(base: &Path, written: &str) -> io::Result<PathBuf> {
    base.join(written).canonicalize()
}

/// `written`, relative to `base` unless absolute, as an absolute path that
/// need not exist yet: the longest part that exists is made canonical and
/// the rest appended with `.` and `..` applied, so two spellings of one
/// directory give the same path.
pub(super) fn planned(base: &Path, written: &str) -> PathBuf {
    let joined = base.join(written);
    for ancestor in joined.ancestors() {
        let Ok(mut resolved) = ancestor.canonicalize() else {
            continue;
        };
        let rest = joined.strip_prefix(ancestor).unwrap_or(Path::new(""));
        for component in rest.components() {
            match component {
                Component::ParentDir => {
                    resolved.pop();
                }
                Component::Normal(name) => resolved.push(name),
                Component::CurDir | Component::RootDir | Component::Prefix(_) => {}
            }
        }
        return resolved;
    }
    joined
}

/// `written` with `.` removed, when it is a relative path that stays below
/// the directory it is relative to (no root, no `..`).
pub(super) fn contained(written: &str) -> Option<PathBuf> {
    let mut inside = PathBuf::new();
    for component in Path::new(written).components() {
        match component {
            Component::Normal(name) => inside.push(name),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(inside)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn planned_paths_resolve_the_existing_part_and_tidy_the_rest() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let base = dir.path().canonicalize()?;
        std::fs::create_dir(base.join("out"))?;
        assert_eq!(planned(&base, "out"), base.join("out"));
        assert_eq!(planned(&base, "./out/../out/"), base.join("out"));
        assert_eq!(planned(&base, "new/./x/../y"), base.join("new/y"));
        Ok(())
    }

    #[test]
    fn contained_refuses_paths_that_leave_the_directory() {
        assert_eq!(contained("./a/b.jsonl"), Some(PathBuf::from("a/b.jsonl")));
        assert_eq!(contained("../a"), None);
        assert_eq!(contained("/etc/passwd"), None);
    }

    #[test]
    fn base_dir_of_a_bare_file_name_is_the_current_directory() -> io::Result<()> {
        assert_eq!(base_dir(Path::new("dataset.json")), std::path::absolute(".")?);
        Ok(())
    }
}
