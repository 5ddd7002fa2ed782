//! The embedded task store: one SQLite file (bundled SQLite, no server).
//!
//! Calls run on tokio's blocking pool behind a mutex; SQLite serialises
//! writers anyway and every statement here is short. WAL mode lets
//! `ferry datasets view` read while a run writes.
//!
//! Ownership (see the store's module doc) is the `owner`, `lease_until_ms`
//! and `holder` columns of a task: every write that needs ownership is
//! one UPDATE whose WHERE clause names the owner, so two processes sharing
//! the file cannot both own a task. Files made before these columns get
//! them when opened.

use std::collections::HashSet;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, Row, params};

use super::{
    Checkpoint, DEFAULT_LEASE, DatasetRecord, ExecutionRecord, Lease, Progress, State, StoreError, TaskEnd, TaskRecord,
    TaskStore, holder, millis, now_ms,
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
    owner TEXT,
    lease_until_ms INTEGER,
    holder TEXT,
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

/// Task columns added after the first schema, with their types: files
/// made before them get them when opened.
const ADDED_TASK_COLUMNS: [(&str, &str); 3] = [("owner", "TEXT"), ("lease_until_ms", "INTEGER"), ("holder", "TEXT")];

/// A task store in one SQLite database file.
#[derive(Debug, Clone)]
pub struct SqliteTaskStore {
    connection: Arc<Mutex<Connection>>,
    /// How long a start or a commit keeps the task owned.
    lease: Duration,
    /// This process, as written next to the tasks it owns (see
    /// [`super::holder`]).
    holder: Option<String>,
}

impl SqliteTaskStore {
    /// Opens (creating if needed) the store at `path`, and its directory.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|dir| !dir.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|source| StoreError::CreateDir { path: dir.display().to_string(), source })?;
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
        connection.busy_timeout(Duration::from_secs(10))?;
        connection.execute_batch(SCHEMA)?;
        add_missing_task_columns(&connection)?;
        Ok(Self {
            connection: Arc::new(Mutex::new(connection)),
            lease: DEFAULT_LEASE,
            holder: holder::this_process().map(str::to_owned),
        })
    }

    /// The same store, taking tasks as if it were `holder`.
    #[cfg(test)]
    pub(super) fn with_holder(mut self, holder: Option<String>) -> Self {
        self.holder = holder;
        self
    }

    /// The same store, whose starts and commits keep a task owned for
    /// `lease` instead of [`DEFAULT_LEASE`].
    #[must_use]
    pub fn with_lease(mut self, lease: Duration) -> Self {
        self.lease = lease;
        self
    }

    async fn with<R: Send + 'static>(
        &self,
        work: impl FnOnce(&mut Connection) -> Result<R, StoreError> + Send + 'static,
    ) -> Result<R, StoreError> {
        let connection = Arc::clone(&self.connection);
        tokio::task::spawn_blocking(move || {
            let mut connection =
                connection.lock().map_err(|_| StoreError::Worker("a previous store call panicked".to_owned()))?;
            work(&mut connection)
        })
        .await
        .map_err(|err| StoreError::Worker(err.to_string()))?
    }
}

fn add_missing_task_columns(connection: &Connection) -> Result<(), StoreError> {
    let existing: HashSet<String> = connection
        .prepare("SELECT name FROM pragma_table_info('tasks')")?
        .query_map([], |row| row.get(0))?
        .collect::<Result<_, _>>()?;
    for (column, kind) in ADDED_TASK_COLUMNS {
        if !existing.contains(column) {
            connection.execute_batch(&format!("ALTER TABLE tasks ADD COLUMN {column} {kind}"))?;
        }
    }
    Ok(())
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

fn with_state((mut record, state): (DatasetRecord, String)) -> Result<DatasetRecord, StoreError> {
    record.state = state.parse()?;
    Ok(record)
}

const DATASET_COLUMNS: &str = "name, state, config_digest, config_json, created_at_ms, updated_at_ms";
const TASK_COLUMNS: &str = "dataset, task_id, ordinal, state, processed, errored, skipped, \
     source_checkpoint, sink_checkpoint, last_error, updated_at_ms, owner, lease_until_ms";

fn task_from_row(row: &Row<'_>) -> rusqlite::Result<(TaskRecord, String)> {
    let progress = Progress {
        processed: row.get::<_, i64>(4)?.try_into().unwrap_or_default(),
        errored: row.get::<_, i64>(5)?.try_into().unwrap_or_default(),
        skipped: row.get::<_, i64>(6)?.try_into().unwrap_or_default(),
    };
    let source: Option<String> = row.get(7)?;
    let sink: Option<String> = row.get(8)?;
    let owner: Option<String> = row.get(11)?;
    let lease_until: Option<i64> = row.get(12)?;
    Ok((
        TaskRecord {
            dataset: row.get(0)?,
            task_id: row.get(1)?,
            ordinal: row.get(2)?,
            state: State::Created,
            progress,
            checkpoint: source.map(|source| Checkpoint { source, sink: sink.unwrap_or_default(), progress }),
            last_error: row.get(9)?,
            updated_at_ms: row.get(10)?,
            owner: owner.map(|run_id| Lease { run_id, expires_at_ms: lease_until.unwrap_or_default() }),
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

/// Why a write guarded by ownership changed no row: the task is missing,
/// or another run (or none) owns it.
fn not_owned(connection: &Connection, dataset: &str, task_id: &str) -> StoreError {
    let owner = connection
        .query_row("SELECT owner FROM tasks WHERE dataset = ?1 AND task_id = ?2", [dataset, task_id], |row| {
            row.get::<_, Option<String>>(0)
        })
        .optional();
    match owner {
        Ok(Some(owner)) => StoreError::NotOwner { dataset: dataset.to_owned(), task: task_id.to_owned(), owner },
        Ok(None) => StoreError::NotFound(format!("no task {task_id} in dataset {dataset}")),
        Err(err) => err.into(),
    }
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
                .query_row(&format!("SELECT {DATASET_COLUMNS} FROM datasets WHERE name = ?1"), [name], dataset_from_row)
                .optional()?
                .map(with_state)
                .transpose()
        })
        .await
    }

    async fn datasets(&self) -> Result<Vec<DatasetRecord>, StoreError> {
        self.with(|connection| {
            let mut statement = connection.prepare(&format!("SELECT {DATASET_COLUMNS} FROM datasets ORDER BY name"))?;
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
            let mut statement = connection
                .prepare(&format!("SELECT {TASK_COLUMNS} FROM tasks WHERE dataset = ?1 ORDER BY ordinal, task_id"))?;
            let rows = statement.query_map([dataset], task_from_row)?;
            rows.map(|row| task_with_state(row?)).collect()
        })
        .await
    }

    async fn start_task(&self, dataset: &str, task_id: &str, run_id: &str) -> Result<TaskRecord, StoreError> {
        let (dataset, task_id, run_id) = (dataset.to_owned(), task_id.to_owned(), run_id.to_owned());
        let (lease, holder) = (millis(self.lease), self.holder.clone());
        self.with(move |connection| {
            let transaction = connection.transaction()?;
            let now = now_ms();
            // Takes the task when it is free, this run's, past its lease,
            // or held by `stale` (an owner and its holder).
            let take = |stale: Option<&(String, String)>| {
                transaction.execute(
                    "UPDATE tasks SET state = ?4, last_error = NULL, updated_at_ms = ?5, owner = ?3, \
                     lease_until_ms = ?6, holder = ?7 WHERE dataset = ?1 AND task_id = ?2 AND (owner IS NULL \
                     OR owner = ?3 OR lease_until_ms < ?5 OR (owner = ?8 AND holder = ?9))",
                    params![
                        dataset,
                        task_id,
                        run_id,
                        State::Processing.as_str(),
                        now,
                        now.saturating_add(lease),
                        holder,
                        stale.map(|(owner, _)| owner),
                        stale.map(|(_, holder)| holder)
                    ],
                )
            };
            if take(None)? == 0 {
                let dead_owner = transaction
                    .query_row(
                        "SELECT owner, holder FROM tasks WHERE dataset = ?1 AND task_id = ?2",
                        params![dataset, task_id],
                        |row| Ok(row.get::<_, Option<String>>(0)?.zip(row.get::<_, Option<String>>(1)?)),
                    )
                    .optional()?
                    .flatten()
                    .filter(|(_, holder)| holder::is_gone(holder));
                if dead_owner.is_none() || take(dead_owner.as_ref())? == 0 {
                    return Err(not_owned(&transaction, &dataset, &task_id));
                }
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
        run_id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), StoreError> {
        let (dataset, task_id, run_id, checkpoint) =
            (dataset.to_owned(), task_id.to_owned(), run_id.to_owned(), checkpoint.clone());
        let lease = millis(self.lease);
        self.with(move |connection| {
            let progress = checkpoint.progress;
            let now = now_ms();
            let changed = connection.execute(
                "UPDATE tasks SET source_checkpoint = ?4, sink_checkpoint = ?5, processed = ?6, \
                 errored = ?7, skipped = ?8, updated_at_ms = ?9, lease_until_ms = ?10 \
                 WHERE dataset = ?1 AND task_id = ?2 AND owner = ?3",
                params![
                    dataset,
                    task_id,
                    run_id,
                    checkpoint.source,
                    checkpoint.sink,
                    counter(progress.processed),
                    counter(progress.errored),
                    counter(progress.skipped),
                    now,
                    now.saturating_add(lease)
                ],
            )?;
            if changed == 0 {
                return Err(not_owned(connection, &dataset, &task_id));
            }
            Ok(())
        })
        .await
    }

    async fn finish_task(&self, dataset: &str, task_id: &str, run_id: &str, end: &TaskEnd) -> Result<(), StoreError> {
        let (dataset, task_id, run_id, end) = (dataset.to_owned(), task_id.to_owned(), run_id.to_owned(), end.clone());
        self.with(move |connection| {
            let (state, error) = end.state_and_error();
            let transaction = connection.transaction()?;
            let now = now_ms();
            let changed = transaction.execute(
                "UPDATE tasks SET state = ?4, last_error = ?5, updated_at_ms = ?6, owner = NULL, lease_until_ms = NULL, holder = NULL \
                 WHERE dataset = ?1 AND task_id = ?2 AND owner = ?3",
                params![dataset, task_id, run_id, state.as_str(), error, now],
            )?;
            if changed == 0 {
                return Err(not_owned(&transaction, &dataset, &task_id));
            }
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
            store.commit_checkpoint("logs", "a", "run-1", &checkpoint).await.expect("commit");
            store.finish_task("logs", "a", "run-1", &TaskEnd::Interrupted).await.expect("finish");
        }
        let store = SqliteTaskStore::open(&path).expect("reopen");
        let tasks = store.tasks("logs").await.expect("tasks");
        let ids: Vec<&str> = tasks.iter().map(|task| task.task_id.as_str()).collect();
        assert_eq!(ids, ["b", "a"], "manifest order is kept");
        assert_eq!(tasks[1].state, State::Processing);
        assert_eq!(tasks[1].checkpoint.as_ref(), Some(&checkpoint));
        assert_eq!(tasks[1].owner, None, "an interrupted task is released");
        assert_eq!(tasks[0].checkpoint, None);
    }

    #[tokio::test]
    async fn a_file_made_before_task_ownership_gains_its_columns() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ferry.db");
        {
            let connection = Connection::open(&path).expect("create the old file");
            let old_schema = SCHEMA.replace("    owner TEXT,\n    lease_until_ms INTEGER,\n    holder TEXT,\n", "");
            assert_ne!(old_schema, SCHEMA, "the old schema lacks the ownership columns");
            connection.execute_batch(&old_schema).expect("old schema");
            connection
                .execute_batch(
                    "INSERT INTO datasets VALUES ('logs', 'PROCESSING', 'd', '{}', 1, 1); \
                     INSERT INTO tasks (dataset, task_id, ordinal, state, updated_at_ms) \
                     VALUES ('logs', 'a', 0, 'PROCESSING', 1);",
                )
                .expect("old rows");
        }
        let store = SqliteTaskStore::open(&path).expect("open the old file");
        let started = store.start_task("logs", "a", "run-1").await.expect("start a task of the old file");
        assert_eq!(started.owner.map(|lease| lease.run_id).as_deref(), Some("run-1"));
    }
}
