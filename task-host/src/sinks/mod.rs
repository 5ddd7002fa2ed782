//! Document sinks.

pub mod jsonl_file;

/// A file name for a task's output: the task id with every character
/// outside `[A-Za-z0-9._-]` percent-encoded, so distinct tasks never share
/// a file and the name stays readable for plain manifest names.
pub fn task_file_stem(task_id: &str) -> String {
    let mut stem = String::with_capacity(task_id.len());
    for byte in task_id.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'.' | b'_' | b'-') {
            stem.push(char::from(byte));
        } else {
            stem.push_str(&format!("%{byte:02X}"));
        }
    }
    stem
}

#[cfg(test)]
mod tests {
    use super::task_file_stem;

    #[test]
    fn stems_are_readable_and_distinct() {
        assert_eq!(task_file_stem("logs-0001.jsonl.gz"), "logs-0001.jsonl.gz");
        assert_eq!(task_file_stem("2024/a b.jsonl"), "2024%2Fa%20b.jsonl");
        assert_ne!(task_file_stem("a/b"), task_file_stem("a_b"));
    }
}
