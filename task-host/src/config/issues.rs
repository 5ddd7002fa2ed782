//! Collecting every problem in a dataset file before giving up.

use super::ConfigIssue;

/// Shown as the path of a problem with the document as a whole.
pub(super) const TOP_LEVEL: &str = "(top level)";

/// The problems found so far; parsing and validation add to it and go on.
#[derive(Debug, Default)]
pub(super) struct Issues(Vec<ConfigIssue>);

impl Issues {
    pub(super) fn push(&mut self, path: impl Into<String>, message: impl Into<String>) {
        self.0.push(ConfigIssue { path: path.into(), message: message.into() });
    }

    /// Whether a problem was already reported at exactly `path`.
    pub(super) fn has(&self, path: &str) -> bool {
        self.0.iter().any(|issue| issue.path == path)
    }

    pub(super) fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// `value`, or `None` after recording that the field is missing. A
    /// field already reported at `path` (say, with a wrong JSON type) is not
    /// reported again as missing.
    pub(super) fn require<T>(&mut self, value: Option<T>, path: &str) -> Option<T> {
        if value.is_none() && !self.has(path) {
            self.push(path, "missing required field");
        }
        value
    }

    pub(super) fn into_vec(self) -> Vec<ConfigIssue> {
        self.0
    }
}

/// The path of `key` inside the object at `parent`: `readConnector` +
/// `handlerPath` gives `readConnector.handlerPath`; the top level is `""`.
pub(super) fn join(parent: &str, key: &str) -> String {
    if parent.is_empty() { key.to_owned() } else { format!("{parent}.{key}") }
}

/// How `path` is shown in an issue: the top level has an empty path.
pub(super) fn shown(path: &str) -> &str {
    if path.is_empty() { TOP_LEVEL } else { path }
}
