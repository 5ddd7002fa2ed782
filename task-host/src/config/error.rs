//! Why a dataset configuration was refused.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// A dataset configuration that could not be loaded.
///
/// Every variant is the user's fault: the dataset file, or a file or
/// directory it names, is missing or wrong. None is retryable: loading again
/// without changing them gives the same error. Show the error to the user.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The dataset file could not be read (missing, unreadable, not UTF-8).
    #[error("{}: cannot read dataset configuration: {source}", file.display())]
    Read {
        /// The dataset file.
        file: PathBuf,
        /// What the operating system said.
        source: io::Error,
    },

    /// The dataset file is not JSON.
    #[error("{}: invalid JSON at line {line}, column {column}: {message}", file.display())]
    Json {
        /// The dataset file.
        file: PathBuf,
        /// Line of the problem, counting from 1.
        line: usize,
        /// Column of the problem, counting from 1.
        column: usize,
        /// What the JSON parser said, without the position.
        message: String,
    },

    /// The dataset file is JSON but not a valid dataset configuration.
    /// `issues` holds every problem found, not only the first.
    #[error("{}: invalid dataset configuration{}", file.display(), IssueLines(issues))]
    Invalid {
        /// The dataset file.
        file: PathBuf,
        /// The problems, in the order they were found; never empty.
        issues: Vec<ConfigIssue>,
    },
}

/// One problem in a dataset configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigIssue {
    /// Where the problem is: a JSON path such as `computeEngine.batchSize`,
    /// or `manifestFile.fileContents line 3` for a line of the manifest.
    pub path: String,
    /// What is wrong, and when it helps, what was expected.
    pub message: String,
}

impl fmt::Display for ConfigIssue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Formats issues as `\n  - path: message` lines.
struct IssueLines<'a>(&'a [ConfigIssue]);

impl fmt::Display for IssueLines<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.iter().try_for_each(|issue| write!(f, "\n  - {issue}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invalid_prints_one_line_per_issue() {
        let error = ConfigError::Invalid {
            file: PathBuf::from("/d/dataset.json"),
            issues: vec![
                ConfigIssue { path: "datasetName".to_owned(), message: "missing required field".to_owned() },
                ConfigIssue {
                    path: "computeEngine.concurrency".to_owned(),
                    message: "must be between 1 and 64 tasks; got 0".to_owned(),
                },
            ],
        };
        assert_eq!(
            error.to_string(),
            "/d/dataset.json: invalid dataset configuration\n  \
             - datasetName: missing required field\n  \
             - computeEngine.concurrency: must be between 1 and 64 tasks; got 0"
        );
    }
}
