//! The embedded task store: one SQLite file (bundled SQLite, no server).
//!
//! Calls run on tokio's blocking pool behind a mutex; SQLite serialises
//! writers anyway and every statement here is short. WAL mode lets
//! `ferry datasets view` read while a run writes.

use std::path::Path;
use std::sync::{Arc, Mutex};

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Checkpoint, DatasetRecord, ExecutionRecord, Progress, State, StoreError, TaskEnd, TaskRecord,
    TaskStore, now_ms,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS datasets (
    name TEXT PRIMARY KEY,
    state TEXT NOT NULL,
    config_digest TEXT NOT NULL,
    config_json TEXT NOT NULL,
    created_at_ms INTEGER NOT NULL,
    updated_at_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS tasks (
    dataset TEXT NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    ordinal INTEGER NOT NULL,
    state TEXT NOT NULL,
    processed INTEGER NOT NULL DEFAULT 0,
    errored INTEGER NOT NULL DEFAULT 0,
    skipped INTEGER NOT NULL DEFAULT 0,
    source_checkpoint TEXT,
    sink_checkpoint TEXT,
    last_error TEXT,
    updated_at_ms INTEGER NOT NULL,
    PRIMARY KEY (dataset, task_id)
);
CREATE TABLE IF NOT EXISTS executions (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    dataset TEXT NOT NULL REFERENCES datasets(name) ON DELETE CASCADE,
    task_id TEXT NOT NULL,
    run_id TEXT NOT NULL,
    started_at_ms INTEGER NOT NULL,
    ended_at_ms INTEGER,
    outcome TEXT
);
";

/// A task store in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteTaskStore {
    connection: Arc<Mutex<Connection>>,
}

impl SqliteTaskStore {
    /// Opens (creating if needed) the store at `path`, and its directory.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.display().to_string(),
                source,
            })?;
        }
        Self::from_connection(Connection::open(path)?)
    }

    /// A store that lives in memory only, for tests.
    pub fn in_memory() -> Result<Self, StoreError> {
        Self::from_connection(Connection::open_in_memory()?)
    }

    fn from_connection(connection: Connection) -> Result<Self, StoreError> {
        connection.pragma_update(None, "journal_mode", "WAL")?;
        connection.pragma_update(None, "foreign_keys", "ON")?;
        // A concurrent reader (datasets view) may hold the lock briefly.
        connection.busy_timeout(std::time::Duration::from_secs(10))?;
        connection.execute_batch(SCHEMA)?;
        Ok(Self { connection: Arc::new(Mutex::new(connection)) })
    }

    async fn with<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut connection = connection
                .lock()
                .map_err(|_| StoreError::Worker("a previous store call panicked".to_owned()))?;
            work(&mut connection)
        })
        .await
        .map_err(|err| StoreError::Worker(err.to_string()))?
    }
}

fn dataset_from_row(row: &Row<'_>) -> rusqlite::Result<(DatasetRecord, String)> {
    let state: String = row.get(1)?;
    Ok((
        DatasetRecord {
            name: row.get(0)?,
            state: State::Created,
            config_digest: row.get(2)?,
            config_json: row.get(3)?,
            created_at_ms: row.get(4)?,
            updated_at_ms: row.get(5)?,
        },
        state,
    ))
}

fn with_state(
    (mut record, state): (DatasetRecord, String),
) -> Result<DatasetRecord, StoreError> {
    record.state = state.parse()?;
    Ok(record)
}

const DATASET_COLUMNS: &str =
    "name, state, config_digest, config_json, created_at_ms, updated_at_ms";
const TASK_COLUMNS: &str = "dataset, task_id, ordinal, state, processed, errored, skipped, \
     source_checkpoint, sink_checkpoint, last_error, updated_at_ms";

fn task_from_row(row: &Row<'_>) -> rusqlite::Result<(TaskRecord, String)> {
    let progress = Progress {
        processed: row.get::<_, i64>(4)?.try_into().unwrap_or_default(),
        errored: row.get::<_, i64>(5)?.try_into().unwrap_or_default(),
        skipped: row.get::<_, i64>(6)?.try_into().unwrap_or_default(),
    };
    let source: Option<String> = row.get(7)?;
    let sink: Option<String> = row.get(8)?;
    Ok((
        TaskRecord {
            dataset: row.get(0)?,
            task_id: row.get(1)?,
            ordinal: row.get(2)?,
            state: State::Created,
            progress,
            checkpoint: source.map(|source| Checkpoint {
                source,
                sink: sink.unwrap_or_default(),
                progress,
            }),
            last_error: row.get(9)?,
            updated_at_ms: row.get(10)?,
        },
        row.get(3)?,
    ))
}

fn task_with_state((mut record, state): (TaskRecord, String)) -> Result<TaskRecord, StoreError> {
    record.state = state.parse()?;
    Ok(record)
}

fn counter(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

#[async_trait::async_trait]
impl TaskStore for SqliteTaskStore {
    async fn open_dataset(
        &self,
        name: &str,
        config_digest: &str,
        config_json: &str,
    ) -> Result<DatasetRecord, StoreError> {
        let (name, digest, json) = (name.to_owned(), config_digest.to_owned(), config_json.to_owned());
        self.with(move |connection| {
            let transaction = connection.transaction()?;
            let existing = transaction
                .query_row(
                    &format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1"),
                    [&name],
                    dataset_from_row,
                )
                .optional()?;
            let record = match existing {
                Some(found) => {
                    let record = with_state(found)?;
                    if record.config_digest != digest {
                        return Err(StoreError::ConfigChanged { name });
                    }
                    record
                }
                None => {
                    let now = now_ms();
                    transaction.execute(
                        "INSERT INTO datasets (name, state, config_digest, config_json, created_at_ms, updated_at_ms) \
                         VALUES (?1, ?2, ?3, ?4, ?5, ?5)",
                        params![name, State::Created.as_str(), digest, json, now],
                    )?;
                    DatasetRecord {
                        name,
                        state: State::Created,
                        config_digest: digest,
                        config_json: json,
                        created_at_ms: now,
                        updated_at_ms: now,
                    }
                }
            };
            transaction.commit()?;
            Ok(record)
        })
        .await
    }

    async fn delete_dataset(&self, name: &str) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.with(move |connection| {
            connection.execute("DELETE FROM datasets WHERE name = ?1", [name])?;
            Ok(())
        })
        .await
    }

    async fn set_dataset_state(&self, name: &str, state: State) -> Result<(), StoreError> {
        let name = name.to_owned();
        self.with(move |connection| {
            let changed = connection.execute(
                "UPDATE datasets SET state = ?2, updated_at_ms = ?3 WHERE name = ?1",
                params![name, state.as_str(), now_ms()],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("no dataset named {name}")));
            }
            Ok(())
        })
        .await
    }

    async fn dataset(&self, name: &str) -> Result<Option<DatasetRecord>, StoreError> {
        let name = name.to_owned();
        self.with(move |connection| {
            connection
                .query_row(
                    &format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1"),
                    [name],
                    dataset_from_row,
                )
                .optional()?
                .map(with_state)
                .transpose()
        })
        .await
    }

    async fn datasets(&self) -> Result<Vec<DatasetRecord>, StoreError> {
        self.with(|connection| {
            let mut statement = connection
                .prepare(&format!("SELECT {DATASET_COLUMNS} FROM datasets ORDER BY name"))?;
            let rows = statement.query_map([], dataset_from_row)?;
            rows.map(|row| with_state(row?)).collect()
        })
        .await
    }

    async fn ensure_tasks(&self, dataset: &str, task_ids: &[String]) -> Result<(), StoreError> {
        let (dataset, task_ids) = (dataset.to_owned(), task_ids.to_vec());
        self.with(move |connection| {
            let transaction = connection.transaction()?;
            {
                let mut insert = transaction.prepare(
                    "INSERT OR IGNORE INTO tasks (dataset, task_id, ordinal, state, updated_at_ms) \
                     VALUES (?1, ?2, ?3, ?4, ?5)",
                )?;
                let now = now_ms();
                for (ordinal, task_id) in task_ids.iter().enumerate() {
                    insert.execute(params![
                        dataset,
                        task_id,
                        i64::try_from(ordinal).unwrap_or(i64::MAX),
                        State::Created.as_str(),
                        now
                    ])?;
                }
            }
            transaction.commit()?;
            Ok(())
        })
        .await
    }

    async fn tasks(&self, dataset: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let dataset = dataset.to_owned();
        self.with(move |connection| {
            let mut statement = connection.prepare(&format!(
                "SELECT {TASK_COLUMNS} FROM tasks WHERE dataset = ?1 ORDER BY ordinal"
            ))?;
            let rows = statement.query_map([dataset], task_from_row)?;
            rows.map(|row| task_with_state(row?)).collect()
        })
        .await
    }

    async fn start_task(
        &self,
        dataset: &str,
        task_id: &str,
        run_id: &str,
    ) -> Result<TaskRecord, StoreError> {
        let (dataset, task_id, run_id) = (dataset.to_owned(), task_id.to_owned(), run_id.to_owned());
        self.with(move |connection| {
            let transaction = connection.transaction()?;
            let now = now_ms();
            let changed = transaction.execute(
                "UPDATE tasks SET state = ?3, last_error = NULL, updated_at_ms = ?4 \
                 WHERE dataset = ?1 AND task_id = ?2",
                params![dataset, task_id, State::Processing.as_str(), now],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("no task {task_id} in dataset {dataset}")));
            }
            transaction.execute(
                "INSERT INTO executions (dataset, task_id, run_id, started_at_ms) VALUES (?1, ?2, ?3, ?4)",
                params![dataset, task_id, run_id, now],
            )?;
            let record = transaction.query_row(
                &format!("SELECT {TASK_COLUMNS} FROM tasks WHERE dataset = ?1 AND task_id = ?2"),
                params![dataset, task_id],
                task_from_row,
            )?;
            transaction.commit()?;
            task_with_state(record)
        })
        .await
    }

    async fn commit_checkpoint(
        &self,
        dataset: &str,
        task_id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), StoreError> {
        let (dataset, task_id, checkpoint) = (dataset.to_owned(), task_id.to_owned(), checkpoint.clone());
        self.with(move |connection| {
            let progress = checkpoint.progress;
            let changed = connection.execute(
                "UPDATE tasks SET source_checkpoint = ?3, sink_checkpoint = ?4, processed = ?5, \
                 errored = ?6, skipped = ?7, updated_at_ms = ?8 WHERE dataset = ?1 AND task_id = ?2",
                params![
                    dataset,
                    task_id,
                    checkpoint.source,
                    checkpoint.sink,
                    counter(progress.processed),
                    counter(progress.errored),
                    counter(progress.skipped),
                    now_ms()
                ],
            )?;
            if changed == 0 {
                return Err(StoreError::NotFound(format!("no task {task_id} in dataset {dataset}")));
            }
            Ok(())
        })
        .await
    }

    async fn finish_task(
        &self,
        dataset: &str,
        task_id: &str,
        run_id: &str,
        end: &TaskEnd,
    ) -> Result<(), StoreError> {
        let (dataset, task_id, run_id, end) =
            (dataset.to_owned(), task_id.to_owned(), run_id.to_owned(), end.clone());
        self.with(move |connection| {
            let (state, error) = match &end {
                TaskEnd::Completed => (State::Completed, None),
                TaskEnd::Interrupted => (State::Processing, None),
                TaskEnd::Errored(message) => (State::Errored, Some(message.as_str())),
            };
            let transaction = connection.transaction()?;
            let now = now_ms();
            transaction.execute(
                "UPDATE tasks SET state = ?3, last_error = ?4, updated_at_ms = ?5 \
                 WHERE dataset = ?1 AND task_id = ?2",
                params![dataset, task_id, state.as_str(), error, now],
            )?;
            transaction.execute(
                "UPDATE executions SET ended_at_ms = ?4, outcome = ?5 \
                 WHERE dataset = ?1 AND task_id = ?2 AND run_id = ?3 AND ended_at_ms IS NULL",
                params![dataset, task_id, run_id, now, state.as_str()],
            )?;
            transaction.commit()?;
            Ok(())
        })
        .await
    }

    async fn executions(&self, dataset: &str) -> Result<Vec<ExecutionRecord>, StoreError> {
        let dataset = dataset.to_owned();
        self.with(move |connection| {
            let mut statement = connection.prepare(
                "SELECT dataset, task_id, run_id, started_at_ms, ended_at_ms, outcome \
                 FROM executions WHERE dataset = ?1 ORDER BY id",
            )?;
            let rows = statement.query_map([dataset], |row| {
                Ok((
                    ExecutionRecord {
                        dataset: row.get(0)?,
                        task_id: row.get(1)?,
                        run_id: row.get(2)?,
                        started_at_ms: row.get(3)?,
                        ended_at_ms: row.get(4)?,
                        outcome: None,
                    },
                    row.get::<_, Option<String>>(5)?,
                ))
            })?;
            rows.map(|row| {
                let (mut record, outcome) = row?;
                record.outcome = outcome.map(|text| text.parse()).transpose()?;
                Ok(record)
            })
            .collect()
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> SqliteTaskStore {
        SqliteTaskStore::in_memory().expect("in-memory store")
    }

    #[tokio::test]
    async fn a_dataset_is_created_once_and_guards_its_config() {
        let store = store();
        let first = store.open_dataset("logs", "d1", "{}").await.expect("create");
        assert_eq!(first.state, State::Created);
        let again = store.open_dataset("logs", "d1", "{}").await.expect("reopen");
        assert_eq!(again.created_at_ms, first.created_at_ms);
        let changed = store.open_dataset("logs", "d2", "{}").await.expect_err("other config");
        assert!(matches!(changed, StoreError::ConfigChanged { .. }), "{changed}");
        assert!(changed.to_string().contains("--restart"));
    }

    #[tokio::test]
    async fn checkpoints_and_counters_survive_reopening_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("state/ferry.db");
        let checkpoint = Checkpoint {
            source: "1234".to_owned(),
            sink: "999".to_owned(),
            progress: Progress { processed: 7, errored: 2, skipped: 1 },
        };
        {
            let store = SqliteTaskStore::open(&path).expect("open");
            store.open_dataset("logs", "d", "{}").await.expect("dataset");
            store.ensure_tasks("logs", &["b".to_owned(), "a".to_owned()]).await.expect("tasks");
            store.start_task("logs", "a", "run-1").await.expect("start");
            store.commit_checkpoint("logs", "a", &checkpoint).await.expect("commit");
            store.finish_task("logs", "a", "run-1", &TaskEnd::Interrupted).await.expect("finish");
        }
        let store = SqliteTaskStore::open(&path).expect("reopen");
        let tasks = store.tasks("logs").await.expect("tasks");
        let ids: Vec<&str> = tasks.iter().map(|task| task.task_id.as_str()).collect();
        assert_eq!(ids, ["b", "a"], "manifest order is kept");
        assert_eq!(tasks[1].state, State::Processing);
        assert_eq!(tasks[1].checkpoint.as_ref(), Some(&checkpoint));
        assert_eq!(tasks[1].progress.records(), 10);
        assert_eq!(tasks[0].checkpoint, None);
    }

    #[tokio::test]
    async fn executions_log_each_run_with_its_outcome() {
        let store = store();
        store.open_dataset("logs", "d", "{}").await.expect("dataset");
        store.ensure_tasks("logs", &["a".to_owned()]).await.expect("tasks");
        store.start_task("logs", "a", "run-1").await.expect("start 1");
        store.finish_task("logs", "a", "run-1", &TaskEnd::Errored("boom".to_owned())).await.expect("end 1");
        let task = &store.tasks("logs").await.expect("tasks")[0];
        assert_eq!((task.state, task.last_error.as_deref()), (State::Errored, Some("boom")));
        store.start_task("logs", "a", "run-2").await.expect("start 2");
        store.finish_task("logs", "a", "run-2", &TaskEnd::Completed).await.expect("end 2");
        let runs = store.executions("logs").await.expect("executions");
        let outcomes: Vec<_> = runs.iter().map(|run| (run.run_id.as_str(), run.outcome)).collect();
        assert_eq!(outcomes, [("run-1", Some(State::Errored)), ("run-2", Some(State::Completed))]);
        assert!(store.tasks("logs").await.expect("tasks")[0].last_error.is_none());
    }

    #[tokio::test]
    async fn deleting_a_dataset_removes_its_tasks() {
        let store = store();
        store.open_dataset("logs", "d", "{}").await.expect("dataset");
        store.ensure_tasks("logs", &["a".to_owned()]).await.expect("tasks");
        store.delete_dataset("logs").await.expect("delete");
        assert!(store.dataset("logs").await.expect("lookup").is_none());
        assert!(store.tasks("logs").await.expect("tasks").is_empty());
        let missing = store.start_task("logs", "a", "r").await.expect_err("gone");
        assert!(matches!(missing, StoreError::NotFound(_)));
    }
}
