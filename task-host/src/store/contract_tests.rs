//! The [`TaskStore`] contract, written once and run against every store:
//! SQLite in a temporary file, and DynamoDB in a moto server (the AWS API
//! emulator) that each test starts on 127.0.0.1 and stops when it ends.
//! moto comes from the venv `tests/run-all.sh` sets up (`FERRY_VENV`, else
//! the repository's `.venv`).
//!
//! Each test gets several handles on one store's data (see [`Stores`]):
//! leases of an hour, leases that run out in `BRIEF_LEASE` so expiry is
//! tested in a fraction of a second, and handles that take tasks as if
//! they were a dead process of this machine or a process elsewhere.

use std::net::{TcpListener, TcpStream};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{
    Checkpoint, DynamoDbTaskStore, Lease, Progress, SqliteTaskStore, State, StoreError, StoreLocation, TaskEnd,
    TaskRecord, TaskStore, holder, millis, now_ms,
};

/// Leases no test outlives.
const LONG_LEASE: Duration = Duration::from_secs(3600);
/// Leases the expiry tests wait out.
const BRIEF_LEASE: Duration = Duration::from_millis(200);
/// How long moto may take to listen.
const MOTO_START: Duration = Duration::from_secs(60);

/// Handles on one store's data, and what keeps the data alive (a
/// temporary directory, a moto server) until the test ends.
struct Stores {
    /// Hour-long leases, held by this process.
    store: Arc<dyn TaskStore>,
    /// Leases of `BRIEF_LEASE`, held by this process.
    brief: Arc<dyn TaskStore>,
    /// Hour-long leases, held by a process of this machine that has ended.
    dead: Arc<dyn TaskStore>,
    /// Hour-long leases, held by a process of another machine.
    elsewhere: Arc<dyn TaskStore>,
    _backing: Box<dyn std::any::Any + Send>,
}

/// The holders the `dead` and `elsewhere` handles write.
fn other_holders() -> [Option<String>; 2] {
    let mut child = Command::new("true").spawn().expect("start a process");
    let dead = holder::of_process(child.id()).expect("this machine tells where its PIDs belong");
    child.wait().expect("reap the process");
    [Some(dead), Some("another-boot:pid:[1]/1".to_owned())]
}

fn sqlite_stores() -> Stores {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let path = dir.path().join("ferry.db");
    let open = |lease| SqliteTaskStore::open(&path).expect("open the store").with_lease(lease);
    let [dead, elsewhere] = other_holders();
    Stores {
        store: Arc::new(open(LONG_LEASE)),
        brief: Arc::new(open(BRIEF_LEASE)),
        dead: Arc::new(open(LONG_LEASE).with_holder(dead)),
        elsewhere: Arc::new(open(LONG_LEASE).with_holder(elsewhere)),
        _backing: Box::new(dir),
    }
}

async fn dynamodb_stores() -> Stores {
    let moto = MotoServer::start();
    let client = moto.client().await;
    let open = |lease| {
        let client = client.clone();
        async move { DynamoDbTaskStore::open(client, "ferry-tasks", lease).await.expect("open the table") }
    };
    let [dead, elsewhere] = other_holders();
    Stores {
        store: Arc::new(open(LONG_LEASE).await),
        brief: Arc::new(open(BRIEF_LEASE).await),
        dead: Arc::new(open(LONG_LEASE).await.with_holder(dead)),
        elsewhere: Arc::new(open(LONG_LEASE).await.with_holder(elsewhere)),
        _backing: Box::new(moto),
    }
}

/// Runs each named contract test against each store.
macro_rules! contract_tests {
    ($($test:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::sqlite_stores()).await;
                }
            )*
        }
        mod dynamodb {
            $(
                #[tokio::test]
                async fn $test() {
                    super::$test(super::dynamodb_stores().await).await;
                }
            )*
        }
    };
}

contract_tests!(
    a_dataset_is_created_once_and_guards_its_config,
    tasks_are_added_once_in_manifest_order,
    a_checkpoint_and_its_counters_are_committed_together,
    a_live_owner_keeps_its_task,
    an_expired_lease_passes_the_task_to_another_run,
    a_dead_process_of_this_machine_loses_its_tasks_at_once,
    a_process_of_another_machine_keeps_its_lease,
    a_commit_renews_the_lease,
    executions_log_each_run_with_its_outcome,
    deleting_a_dataset_removes_everything_of_it,
    a_missing_task_is_not_found,
);

fn ids(names: &[&str]) -> Vec<String> {
    names.iter().map(|name| (*name).to_owned()).collect()
}

fn checkpoint(source: &str, processed: u64) -> Checkpoint {
    Checkpoint {
        source: source.to_owned(),
        sink: format!("{processed}0"),
        progress: Progress { processed, errored: 2, skipped: 1 },
    }
}

/// A dataset "logs" with tasks `names`, in that order.
async fn dataset_with_tasks(store: &dyn TaskStore, names: &[&str]) {
    store.open_dataset("logs", "digest", "{}").await.expect("open the dataset");
    store.ensure_tasks("logs", &ids(names)).await.expect("add the tasks");
}

async fn task(store: &dyn TaskStore, id: &str) -> TaskRecord {
    let tasks = store.tasks("logs").await.expect("list the tasks");
    tasks.into_iter().find(|task| task.task_id == id).unwrap_or_else(|| panic!("no task {id}"))
}

fn owner_of(error: &StoreError) -> Option<&str> {
    match error {
        StoreError::NotOwner { owner, .. } => owner.as_deref(),
        other => panic!("expected NotOwner, got {other:?}"),
    }
}

/// Waits until `lease` has run out by the stores' clock.
async fn outlive(lease: &Lease) {
    let left = lease.expires_at_ms + 1 - now_ms();
    if let Ok(left) = u64::try_from(left) {
        tokio::time::sleep(Duration::from_millis(left)).await;
    }
}

async fn a_dataset_is_created_once_and_guards_its_config(stores: Stores) {
    let store = stores.store.as_ref();
    assert_eq!(store.dataset("logs").await.expect("look up"), None);
    let first = store.open_dataset("logs", "d1", "{\"a\": 1}").await.expect("create");
    assert_eq!((first.state, first.config_json.as_str()), (State::Created, "{\"a\": 1}"));
    let again = store.open_dataset("logs", "d1", "{\"a\": 1}").await.expect("reopen");
    assert_eq!(again, first, "opening it again changes nothing");

    let changed = store.open_dataset("logs", "d2", "{}").await.expect_err("another config");
    assert!(matches!(changed, StoreError::ConfigChanged { .. }), "{changed}");
    assert!(changed.to_string().contains("--restart"), "{changed}");
    assert!(!changed.is_retryable());

    store.set_dataset_state("logs", State::Processing).await.expect("set the state");
    assert_eq!(store.dataset("logs").await.expect("look up").map(|dataset| dataset.state), Some(State::Processing));
    let missing = store.set_dataset_state("nothing", State::Completed).await.expect_err("no such dataset");
    assert!(matches!(missing, StoreError::NotFound(_)), "{missing}");

    store.open_dataset("archive", "d", "{}").await.expect("create another");
    let names: Vec<String> = store.datasets().await.expect("list").into_iter().map(|dataset| dataset.name).collect();
    assert_eq!(names, ["archive", "logs"], "datasets are listed by name");
}

async fn tasks_are_added_once_in_manifest_order(stores: Stores) {
    let store = stores.store.as_ref();
    dataset_with_tasks(store, &["c", "a", "b"]).await;
    let tasks = store.tasks("logs").await.expect("tasks");
    let order: Vec<&str> = tasks.iter().map(|task| task.task_id.as_str()).collect();
    assert_eq!(order, ["c", "a", "b"]);
    for task in &tasks {
        assert_eq!(
            (task.state, task.progress, &task.checkpoint, &task.owner, &task.last_error),
            (State::Created, Progress::default(), &None, &None, &None),
            "{}",
            task.task_id
        );
    }

    store.start_task("logs", "a", "run-1").await.expect("start a");
    store.ensure_tasks("logs", &ids(&["c", "a", "b", "d"])).await.expect("add d");
    let tasks = store.tasks("logs").await.expect("tasks");
    let order: Vec<&str> = tasks.iter().map(|task| task.task_id.as_str()).collect();
    assert_eq!(order, ["c", "a", "b", "d"], "a new task comes after the known ones");
    let started = &tasks[1];
    assert_eq!(started.state, State::Processing, "ensuring again keeps what is known of a task");
    assert_eq!(started.owner.as_ref().map(|lease| lease.run_id.as_str()), Some("run-1"));
    assert!(store.tasks("nothing").await.expect("tasks of no dataset").is_empty());
}

async fn a_checkpoint_and_its_counters_are_committed_together(stores: Stores) {
    let store = stores.store.as_ref();
    dataset_with_tasks(store, &["a", "b"]).await;
    let started = store.start_task("logs", "a", "run-1").await.expect("start");
    assert_eq!((started.state, started.checkpoint), (State::Processing, None));

    for (position, processed) in [("100", 7), ("250", 19)] {
        let committed = checkpoint(position, processed);
        store.commit_checkpoint("logs", "a", "run-1", &committed).await.expect("commit");
        let stored = task(store, "a").await;
        assert_eq!(stored.checkpoint.as_ref(), Some(&committed));
        assert_eq!(stored.progress, committed.progress, "the counters move with the checkpoint");
    }
    store.finish_task("logs", "a", "run-1", &TaskEnd::Interrupted).await.expect("interrupt");
    let stored = task(store, "a").await;
    assert_eq!((stored.state, stored.owner), (State::Processing, None), "an interrupted task is released");

    let resumed = store.start_task("logs", "a", "run-2").await.expect("resume");
    assert_eq!(resumed.checkpoint, Some(checkpoint("250", 19)), "the next run resumes from the checkpoint");
    assert_eq!(resumed.progress.records(), 22);
    assert_eq!(task(store, "b").await.checkpoint, None, "other tasks are untouched");
}

async fn a_live_owner_keeps_its_task(stores: Stores) {
    let store = stores.store.as_ref();
    dataset_with_tasks(store, &["a"]).await;
    store.start_task("logs", "a", "run-1").await.expect("run-1 starts");
    store.commit_checkpoint("logs", "a", "run-1", &checkpoint("10", 1)).await.expect("run-1 commits");

    let refused = store.start_task("logs", "a", "run-2").await.expect_err("run-1 holds the task");
    assert_eq!(owner_of(&refused), Some("run-1"));
    assert!(!refused.is_retryable(), "another worker has the task");
    assert!(refused.to_string().contains("run-1"), "{refused}");
    let refused = store.commit_checkpoint("logs", "a", "run-2", &checkpoint("99", 9)).await.expect_err("not run-2's");
    assert_eq!(owner_of(&refused), Some("run-1"));
    let refused = store.finish_task("logs", "a", "run-2", &TaskEnd::Completed).await.expect_err("not run-2's");
    assert_eq!(owner_of(&refused), Some("run-1"));
    let untouched = task(store, "a").await;
    assert_eq!((untouched.state, untouched.checkpoint), (State::Processing, Some(checkpoint("10", 1))));

    store.finish_task("logs", "a", "run-1", &TaskEnd::Errored("boom".to_owned())).await.expect("run-1 ends");
    let released = task(store, "a").await;
    assert_eq!((released.state, released.owner, released.last_error.as_deref()), (State::Errored, None, Some("boom")));
    let late = store.commit_checkpoint("logs", "a", "run-1", &checkpoint("20", 2)).await.expect_err("released");
    assert_eq!(owner_of(&late), None, "an ended run owns nothing");
    store.start_task("logs", "a", "run-2").await.expect("a released task can be started by anyone");
}

async fn an_expired_lease_passes_the_task_to_another_run(stores: Stores) {
    dataset_with_tasks(stores.store.as_ref(), &["a"]).await;
    let started = stores.brief.start_task("logs", "a", "run-1").await.expect("run-1 starts");
    let lease = started.owner.expect("run-1 owns the task");
    assert_eq!(lease.run_id, "run-1");
    outlive(&lease).await;

    let taken = stores.store.start_task("logs", "a", "run-2").await.expect("run-1's lease ran out");
    assert_eq!(taken.owner.map(|lease| lease.run_id).as_deref(), Some("run-2"));
    let stale = stores.brief.commit_checkpoint("logs", "a", "run-1", &checkpoint("10", 1)).await.expect_err("stale");
    assert_eq!(owner_of(&stale), Some("run-2"));
    let stale = stores.brief.finish_task("logs", "a", "run-1", &TaskEnd::Completed).await.expect_err("stale");
    assert_eq!(owner_of(&stale), Some("run-2"));

    stores.store.commit_checkpoint("logs", "a", "run-2", &checkpoint("30", 3)).await.expect("run-2 commits");
    stores.store.finish_task("logs", "a", "run-2", &TaskEnd::Completed).await.expect("run-2 completes");
    let done = task(stores.store.as_ref(), "a").await;
    assert_eq!((done.state, done.checkpoint), (State::Completed, Some(checkpoint("30", 3))));
}

async fn a_dead_process_of_this_machine_loses_its_tasks_at_once(stores: Stores) {
    dataset_with_tasks(stores.store.as_ref(), &["a"]).await;
    stores.dead.start_task("logs", "a", "run-1").await.expect("run-1 starts, then its process dies");
    let taken = stores.store.start_task("logs", "a", "run-2").await.expect("run-1's process is gone");
    assert_eq!(taken.owner.map(|lease| lease.run_id).as_deref(), Some("run-2"));
    let stale = stores.dead.commit_checkpoint("logs", "a", "run-1", &checkpoint("1", 1)).await.expect_err("taken");
    assert_eq!(owner_of(&stale), Some("run-2"));
    let refused = stores.dead.start_task("logs", "a", "run-3").await.expect_err("run-2's process runs");
    assert_eq!(owner_of(&refused), Some("run-2"));
}

async fn a_process_of_another_machine_keeps_its_lease(stores: Stores) {
    dataset_with_tasks(stores.store.as_ref(), &["a"]).await;
    stores.elsewhere.start_task("logs", "a", "run-1").await.expect("run-1 starts on another machine");
    let refused = stores.store.start_task("logs", "a", "run-2").await.expect_err("its lease runs");
    assert_eq!(owner_of(&refused), Some("run-1"));
}

async fn a_commit_renews_the_lease(stores: Stores) {
    dataset_with_tasks(stores.store.as_ref(), &["a"]).await;
    let started = stores.brief.start_task("logs", "a", "run-1").await.expect("start");
    let first = started.owner.expect("owned");
    assert!(first.expires_at_ms >= started.updated_at_ms + millis(BRIEF_LEASE), "{first:?}");
    // The owner's lease ran out but nobody took the task: the owner goes on.
    outlive(&first).await;
    let before = now_ms();
    stores.brief.commit_checkpoint("logs", "a", "run-1", &checkpoint("10", 1)).await.expect("commit");
    let renewed = task(stores.store.as_ref(), "a").await.owner.expect("still owned");
    assert_eq!(renewed.run_id, "run-1");
    assert!(renewed.expires_at_ms >= before + millis(BRIEF_LEASE), "{renewed:?} renewed at {before}");
    assert!(renewed.expires_at_ms > first.expires_at_ms);
}

async fn executions_log_each_run_with_its_outcome(stores: Stores) {
    let store = stores.store.as_ref();
    dataset_with_tasks(store, &["a", "b"]).await;
    store.start_task("logs", "a", "run-1").await.expect("start a");
    store.finish_task("logs", "a", "run-1", &TaskEnd::Errored("boom".to_owned())).await.expect("end a");
    store.start_task("logs", "a", "run-2").await.expect("start a again");
    store.finish_task("logs", "a", "run-2", &TaskEnd::Completed).await.expect("end a again");
    store.start_task("logs", "b", "run-2").await.expect("start b");

    let runs = store.executions("logs").await.expect("executions");
    let logged: Vec<_> = runs
        .iter()
        .map(|run| (run.task_id.as_str(), run.run_id.as_str(), run.outcome, run.ended_at_ms.is_some()))
        .collect();
    assert_eq!(
        logged,
        [
            ("a", "run-1", Some(State::Errored), true),
            ("a", "run-2", Some(State::Completed), true),
            ("b", "run-2", None, false),
        ]
    );
    assert!(runs.iter().all(|run| run.dataset == "logs" && run.ended_at_ms.is_none_or(|end| end >= run.started_at_ms)));
    assert!(task(store, "a").await.last_error.is_none(), "a later run clears the error");
}

async fn deleting_a_dataset_removes_everything_of_it(stores: Stores) {
    let store = stores.store.as_ref();
    // More tasks than one DynamoDB batch deletes.
    let names: Vec<String> = (0..30).map(|index| format!("task-{index:02}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    dataset_with_tasks(store, &names).await;
    store.start_task("logs", "task-00", "run-1").await.expect("start");
    store.commit_checkpoint("logs", "task-00", "run-1", &checkpoint("1", 1)).await.expect("commit");
    store.open_dataset("archive", "d", "{}").await.expect("another dataset");
    store.ensure_tasks("archive", &ids(&["kept"])).await.expect("its task");

    store.delete_dataset("logs").await.expect("delete");
    assert_eq!(store.dataset("logs").await.expect("look up"), None);
    assert!(store.tasks("logs").await.expect("tasks").is_empty());
    assert!(store.executions("logs").await.expect("executions").is_empty());
    let gone = store.start_task("logs", "task-00", "run-2").await.expect_err("gone");
    assert!(matches!(gone, StoreError::NotFound(_)), "{gone}");
    let names: Vec<String> = store.datasets().await.expect("list").into_iter().map(|dataset| dataset.name).collect();
    assert_eq!(names, ["archive"]);
    assert_eq!(store.tasks("archive").await.expect("tasks").len(), 1, "other datasets are untouched");

    let fresh = store.open_dataset("logs", "other digest", "{}").await.expect("start over");
    assert_eq!(fresh.state, State::Created);
}

async fn a_missing_task_is_not_found(stores: Stores) {
    let store = stores.store.as_ref();
    dataset_with_tasks(store, &["a"]).await;
    let errors = [
        store.start_task("logs", "z", "run-1").await.map(drop).expect_err("start"),
        store.commit_checkpoint("logs", "z", "run-1", &checkpoint("1", 1)).await.expect_err("commit"),
        store.finish_task("logs", "z", "run-1", &TaskEnd::Completed).await.expect_err("finish"),
    ];
    for error in errors {
        assert!(matches!(&error, StoreError::NotFound(message) if message.contains('z')), "{error:?}");
    }
}

#[test]
fn store_locations_name_a_table_or_a_file() {
    let table = "dynamodb://ferry-tasks.prod_1".parse::<StoreLocation>();
    assert_eq!(table, Ok(StoreLocation::DynamoDb { table: "ferry-tasks.prod_1".to_owned() }));
    assert_eq!(".ferry/ferry.db".parse(), Ok(StoreLocation::Sqlite(PathBuf::from(".ferry/ferry.db"))));
    for bad in ["dynamodb://", "dynamodb://ab", "dynamodb://a/b"] {
        let err = bad.parse::<StoreLocation>().expect_err(bad);
        assert!(err.contains("DynamoDB table"), "{err}");
    }
    assert_eq!(StoreLocation::DynamoDb { table: "t-1".to_owned() }.to_string(), "dynamodb://t-1");
}

#[tokio::test]
async fn a_dynamodb_table_keyed_otherwise_is_not_taken_for_a_store() {
    use aws_sdk_dynamodb::types::{AttributeDefinition, BillingMode, KeySchemaElement, KeyType, ScalarAttributeType};
    let moto = MotoServer::start();
    let client = moto.client().await;
    client
        .create_table()
        .table_name("orders")
        .billing_mode(BillingMode::PayPerRequest)
        .key_schema(KeySchemaElement::builder().attribute_name("id").key_type(KeyType::Hash).build().expect("key"))
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name("id")
                .attribute_type(ScalarAttributeType::S)
                .build()
                .expect("attribute"),
        )
        .send()
        .await
        .expect("create a table of something else");
    let refused = DynamoDbTaskStore::open(client, "orders", LONG_LEASE).await.expect_err("not a task store");
    assert!(matches!(&refused, StoreError::ForeignTable { table } if table == "orders"), "{refused:?}");
    assert!(refused.to_string().contains("a table of ferry's own"), "{refused}");
}

/// `commit_checkpoint` latency, p50 and p99 over 500 commits, for each
/// store: `cargo test -p ferry-task-host --lib commit_latency -- --ignored --nocapture`.
#[tokio::test]
#[ignore = "a measurement, not a check"]
async fn commit_latency() {
    for (name, stores) in [("sqlite (file)", sqlite_stores()), ("dynamodb (moto)", dynamodb_stores().await)] {
        let store = stores.store.as_ref();
        dataset_with_tasks(store, &["a"]).await;
        store.start_task("logs", "a", "run-1").await.expect("start");
        let mut latencies: Vec<Duration> = Vec::new();
        for index in 0..500_u64 {
            let committed = checkpoint(&index.to_string(), index);
            let sent = Instant::now();
            store.commit_checkpoint("logs", "a", "run-1", &committed).await.expect("commit");
            latencies.push(sent.elapsed());
        }
        latencies.sort();
        let at = |quantile: f64| latencies[((latencies.len() - 1) as f64 * quantile).round() as usize];
        println!("{name}: commit_checkpoint over 500 commits: p50 {:?}, p99 {:?}", at(0.5), at(0.99));
    }
}

/// A moto server on a free 127.0.0.1 port, killed and reaped on drop.
struct MotoServer {
    child: Child,
    endpoint: String,
}

impl MotoServer {
    fn start() -> Self {
        let venv = std::env::var_os("FERRY_VENV")
            .map_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.venv"), PathBuf::from);
        let server = venv.join("bin/moto_server");
        assert!(server.is_file(), "{} is missing: tests/run-all.sh installs moto into the venv", server.display());
        // The kernel picks a free port; moto takes it over at once.
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .map(|addr| addr.port())
            .expect("a free port on 127.0.0.1");
        let child = Command::new(&server)
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|err| panic!("cannot start {}: {err}", server.display()));
        let moto = Self { child, endpoint: format!("http://127.0.0.1:{port}") };
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(started.elapsed() < MOTO_START, "moto did not listen on port {port} within {MOTO_START:?}");
            std::thread::sleep(Duration::from_millis(50));
        }
        moto
    }

    async fn client(&self) -> aws_sdk_dynamodb::Client {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .http_client(aws_smithy_http_client::Builder::new().build_http())
            .endpoint_url(&self.endpoint)
            .region(aws_config::Region::new("us-east-1"))
            .credentials_provider(aws_sdk_dynamodb::config::Credentials::new("testing", "testing", None, None, "moto"))
            .load()
            .await;
        aws_sdk_dynamodb::Client::new(&config)
    }
}

impl Drop for MotoServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
