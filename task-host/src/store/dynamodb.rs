//! The task store in one DynamoDB table, for runs of a dataset spread over
//! many machines: every worker points `--store dynamodb://TABLE` at the
//! same table, and task ownership keeps two of them off the same task.
//!
//! The table's key is `pk` (partition, string) and `sk` (sort, string);
//! it is created on first use, billed per request. Its items:
//!
//! | item | pk | sk |
//! | --- | --- | --- |
//! | a dataset | `DATASETS` | the dataset's name |
//! | a task | `DATASET#<dataset>` | `TASK#<task id>` |
//! | an execution | `DATASET#<dataset>` | `EXEC#<start ms, 15 digits>#<task id>#<run id>` |
//!
//! Datasets share one partition so `datasets list` is one Query, not a
//! Scan of every task. Each dataset's tasks and executions share its
//! partition, so reading them is one Query and forgetting the dataset
//! deletes one partition. A task's key is its id alone, so starting a
//! task and committing its checkpoints need no read first (finishing
//! reads the task once, for its open execution's key); manifest order is
//! the task's `manifest_ordinal` attribute, and [`TaskStore::tasks`] sorts
//! the Query's answer by it. Executions sort by their start time.
//!
//! Every write that the contract guards is one conditional write:
//! creating a dataset (only if absent; the existing digest is compared on
//! failure), creating a task (only if absent), taking ownership (no owner,
//! the same run or an expired lease; or, in a second try, the very owner
//! just read, when its `owner_process` is a dead process of this machine,
//! see `holder`), committing a checkpoint (this run owns the task; the
//! checkpoint, the counters and the lease renewal in one UpdateItem) and
//! finishing a task (this run owns it). Starting and finishing also write
//! the execution, in one transaction with the task. All reads are
//! strongly consistent, so a worker sees every write that completed
//! before it read.
//!
//! Attribute names all hold an underscore (`task_state`, `owner_run`), so
//! none is a DynamoDB reserved word and expressions name them directly.

use std::collections::{HashMap, HashSet};
use std::str::FromStr;
use std::time::Duration;

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::client::Waiters;
use aws_sdk_dynamodb::error::{BuildError, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::create_table::CreateTableError;
use aws_sdk_dynamodb::operation::describe_table::DescribeTableError;
use aws_sdk_dynamodb::operation::put_item::PutItemError;
use aws_sdk_dynamodb::operation::put_item::builders::PutItemFluentBuilder;
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, DeleteRequest, KeySchemaElement, KeyType, Put,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TableDescription, TableStatus, TransactWriteItem, Update,
    WriteRequest,
};
use aws_smithy_runtime_api::client::orchestrator::HttpResponse;
use aws_smithy_types::error::display::DisplayErrorContext;
use futures::StreamExt;

use super::{
    Checkpoint, DatasetRecord, ExecutionRecord, Lease, Progress, State, StoreError, TaskEnd, TaskRecord, TaskStore,
    holder, millis, now_ms,
};
use crate::aws::service_error;
use crate::sources::SourceError;

type Item = HashMap<String, AttributeValue>;

/// The partition holding every dataset's item.
const DATASETS_PARTITION: &str = "DATASETS";
const TASK_PREFIX: &str = "TASK#";
const EXECUTION_PREFIX: &str = "EXEC#";

/// Most deletes one BatchWriteItem takes (DynamoDB's limit).
const BATCH_WRITE_LIMIT: usize = 25;
/// BatchWriteItem calls per chunk while DynamoDB leaves items unprocessed
/// (it does when throttled), with a pause doubling from
/// `UNPROCESSED_FIRST_PAUSE` between them.
const UNPROCESSED_ATTEMPTS: u32 = 8;
const UNPROCESSED_FIRST_PAUSE: Duration = Duration::from_millis(50);
/// Task creations in flight at once: a manifest of thousands of objects
/// is created in seconds without throttling a new on-demand table.
const TASK_CREATIONS_IN_FLIGHT: usize = 16;
/// The part of a starting task's update that takes ownership.
const TAKE: &str = "SET task_state = :processing, owner_run = :run, lease_until_ms = :lease, \
                    open_execution = :execution, updated_at_ms = :now";
/// The part of a finishing task's update that releases ownership.
const RELEASE: &str = "REMOVE owner_run, owner_process, lease_until_ms, open_execution";
/// How long a new table may take to become ACTIVE (seconds on AWS).
const TABLE_CREATION_WAIT: Duration = Duration::from_secs(300);

/// A task store in one DynamoDB table.
#[derive(Debug, Clone)]
pub struct DynamoDbTaskStore {
    client: Client,
    table: String,
    /// How long a start or a commit keeps the task owned.
    lease: Duration,
    /// This process, as written next to the tasks it owns (see
    /// [`super::holder`]).
    holder: Option<String>,
}

impl DynamoDbTaskStore {
    /// The store in `table`, created when missing. Starts and commits keep
    /// a task owned for `lease` (see [`super::DEFAULT_LEASE`]).
    pub async fn open(client: Client, table: &str, lease: Duration) -> Result<Self, StoreError> {
        let holder = holder::this_process().map(str::to_owned);
        let store = Self { client, table: table.to_owned(), lease, holder };
        store.ensure_table().await?;
        Ok(store)
    }

    /// The same store, taking tasks as if it were `holder`.
    #[cfg(test)]
    pub(super) fn with_holder(mut self, holder: Option<String>) -> Self {
        self.holder = holder;
        self
    }

    async fn ensure_table(&self) -> Result<(), StoreError> {
        let described = self.client.describe_table().table_name(&self.table).send().await;
        let status = match described {
            Ok(output) => match output.table {
                Some(description) => {
                    self.check_key_schema(&description)?;
                    description.table_status
                }
                None => None,
            },
            Err(err) if err.as_service_error().is_some_and(DescribeTableError::is_resource_not_found_exception) => {
                self.create_table().await?
            }
            Err(err) => return Err(service("describing the task store table", &self.table, err)),
        };
        if status == Some(TableStatus::Active) {
            return Ok(());
        }
        self.client.wait_until_table_exists().table_name(&self.table).wait(TABLE_CREATION_WAIT).await.map_err(
            |err| StoreError::CreateTable {
                table: self.table.clone(),
                message: format!("it did not become ACTIVE: {}", DisplayErrorContext(&err)),
            },
        )?;
        Ok(())
    }

    /// Creates the table; another worker creating it at the same time is
    /// fine. Returns the new table's status.
    async fn create_table(&self) -> Result<Option<TableStatus>, StoreError> {
        let mut request = self.client.create_table().table_name(&self.table).billing_mode(BillingMode::PayPerRequest);
        for (name, key_type) in [("pk", KeyType::Hash), ("sk", KeyType::Range)] {
            request = request
                .key_schema(built(KeySchemaElement::builder().attribute_name(name).key_type(key_type).build())?)
                .attribute_definitions(built(
                    AttributeDefinition::builder().attribute_name(name).attribute_type(ScalarAttributeType::S).build(),
                )?);
        }
        match request.send().await {
            Ok(output) => Ok(output.table_description.and_then(|table| table.table_status)),
            Err(err) if err.as_service_error().is_some_and(CreateTableError::is_resource_in_use_exception) => Ok(None),
            Err(err) => Err(StoreError::CreateTable { table: self.table.clone(), message: error_text(&err) }),
        }
    }

    fn check_key_schema(&self, table: &TableDescription) -> Result<(), StoreError> {
        let keys: Vec<(&str, &KeyType)> =
            table.key_schema().iter().map(|key| (key.attribute_name(), key.key_type())).collect();
        let strings = table.attribute_definitions().iter().all(|definition| {
            !matches!(definition.attribute_name(), "pk" | "sk")
                || definition.attribute_type() == &ScalarAttributeType::S
        });
        if keys == [("pk", &KeyType::Hash), ("sk", &KeyType::Range)] && strings {
            Ok(())
        } else {
            Err(StoreError::ForeignTable { table: self.table.clone() })
        }
    }

    fn task_key(dataset: &str, task_id: &str) -> Item {
        HashMap::from([
            ("pk".to_owned(), text(&dataset_partition(dataset))),
            ("sk".to_owned(), text(&format!("{TASK_PREFIX}{task_id}"))),
        ])
    }

    fn dataset_key(name: &str) -> Item {
        HashMap::from([("pk".to_owned(), text(DATASETS_PARTITION)), ("sk".to_owned(), text(name))])
    }

    fn task_resource(&self, dataset: &str, task_id: &str) -> String {
        format!("task {task_id} of dataset {dataset} in table {}", self.table)
    }

    /// A put of `item` that writes only while no item has its key: the
    /// first writer wins, and a later one learns it came second.
    fn put_new(&self, item: Item) -> PutItemFluentBuilder {
        self.client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .condition_expression("attribute_not_exists(pk)")
    }

    async fn get(&self, operation: &'static str, resource: &str, key: Item) -> Result<Option<Item>, StoreError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(key))
            .consistent_read(true)
            .send()
            .await
            .map_err(|err| service(operation, resource, err))?;
        Ok(output.item)
    }

    /// Every item of partition `pk` (whose sort key starts with `prefix`,
    /// when given) in sort key order; only `projection`'s attributes when
    /// given.
    async fn query(&self, pk: &str, prefix: Option<&str>, projection: Option<&str>) -> Result<Vec<Item>, StoreError> {
        let mut items = Vec::new();
        let mut start = None;
        loop {
            let mut request = self
                .client
                .query()
                .table_name(&self.table)
                .consistent_read(true)
                .expression_attribute_values(":pk", text(pk))
                .set_projection_expression(projection.map(str::to_owned))
                .set_exclusive_start_key(start);
            request = match prefix {
                Some(prefix) => request
                    .key_condition_expression("pk = :pk AND begins_with(sk, :prefix)")
                    .expression_attribute_values(":prefix", text(prefix)),
                None => request.key_condition_expression("pk = :pk"),
            };
            let page = request.send().await.map_err(|err| service("reading the task store", pk, err))?;
            items.extend(page.items.unwrap_or_default());
            start = page.last_evaluated_key.filter(|key| !key.is_empty());
            if start.is_none() {
                return Ok(items);
            }
        }
    }

    /// Why a write guarded by ownership failed: `checked` is the item the
    /// condition saw, when DynamoDB returned it.
    async fn not_owned(&self, dataset: &str, task_id: &str, checked: Option<Item>) -> StoreError {
        let item = match checked {
            Some(item) => Some(item),
            None => {
                let resource = self.task_resource(dataset, task_id);
                match self.get("reading a task", &resource, Self::task_key(dataset, task_id)).await {
                    Ok(item) => item,
                    Err(err) => return err,
                }
            }
        };
        match item {
            Some(item) => StoreError::NotOwner {
                dataset: dataset.to_owned(),
                task: task_id.to_owned(),
                owner: optional_text(&item, "owner_run"),
            },
            None => missing_task(dataset, task_id),
        }
    }

    /// Deletes `keys`, 25 to a call, calling again for what DynamoDB
    /// leaves unprocessed.
    async fn delete_items(&self, keys: Vec<Item>, resource: &str) -> Result<(), StoreError> {
        for chunk in keys.chunks(BATCH_WRITE_LIMIT) {
            let mut requests = chunk
                .iter()
                .map(|key| {
                    let delete = built(DeleteRequest::builder().set_key(Some(key.clone())).build())?;
                    Ok(WriteRequest::builder().delete_request(delete).build())
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            let mut pause = UNPROCESSED_FIRST_PAUSE;
            for attempt in 1..=UNPROCESSED_ATTEMPTS {
                let output = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, requests)
                    .send()
                    .await
                    .map_err(|err| service("deleting a dataset", resource, err))?;
                requests = output.unprocessed_items.and_then(|mut left| left.remove(&self.table)).unwrap_or_default();
                if requests.is_empty() {
                    break;
                }
                if attempt == UNPROCESSED_ATTEMPTS {
                    return Err(StoreError::Service(SourceError::Service {
                        operation: "deleting a dataset",
                        resource: resource.to_owned(),
                        message: format!(
                            "DynamoDB left {} items unprocessed after {UNPROCESSED_ATTEMPTS} attempts (throttled)",
                            requests.len()
                        ),
                        retryable: true,
                    }));
                }
                tokio::time::sleep(pause).await;
                pause *= 2;
            }
        }
        Ok(())
    }

    /// Makes `run_id` the task's owner and logs the execution, in one
    /// transaction, when the task is free, already the run's, past its
    /// lease, or owned by `dead_owner` (a run and its holder).
    async fn take_task(
        &self,
        dataset: &str,
        task_id: &str,
        run_id: &str,
        dead_owner: Option<&(String, String)>,
    ) -> Result<Written, StoreError> {
        let now = now_ms();
        let execution = format!("{EXECUTION_PREFIX}{now:015}#{task_id}#{run_id}");
        let mut condition = "attribute_exists(pk) AND (attribute_not_exists(owner_run) OR owner_run = :run \
                             OR lease_until_ms < :now"
            .to_owned();
        let mut take = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::task_key(dataset, task_id)))
            .expression_attribute_values(":processing", text(State::Processing.as_str()))
            .expression_attribute_values(":run", text(run_id))
            .expression_attribute_values(":lease", number(now.saturating_add(millis(self.lease))))
            .expression_attribute_values(":execution", text(&execution))
            .expression_attribute_values(":now", number(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        if let Some((owner, holder)) = dead_owner {
            condition.push_str(" OR (owner_run = :dead_run AND owner_process = :dead_process)");
            take = take
                .expression_attribute_values(":dead_run", text(owner))
                .expression_attribute_values(":dead_process", text(holder));
        }
        condition.push(')');
        take = match &self.holder {
            Some(holder) => take
                .update_expression(format!("{TAKE}, owner_process = :process REMOVE last_error"))
                .expression_attribute_values(":process", text(holder)),
            None => take.update_expression(format!("{TAKE} REMOVE last_error, owner_process")),
        };
        let log = built(
            Put::builder()
                .table_name(&self.table)
                .set_item(Some(HashMap::from([
                    ("pk".to_owned(), text(&dataset_partition(dataset))),
                    ("sk".to_owned(), text(&execution)),
                    ("task_id".to_owned(), text(task_id)),
                    ("run_id".to_owned(), text(run_id)),
                    ("started_at_ms".to_owned(), number(now)),
                ])))
                .condition_expression("attribute_not_exists(pk)")
                .build(),
        )?;
        let written = self
            .client
            .transact_write_items()
            .transact_items(
                TransactWriteItem::builder().update(built(take.condition_expression(condition).build())?).build(),
            )
            .transact_items(TransactWriteItem::builder().put(log).build())
            .send()
            .await;
        transaction_failure("starting a task", &self.task_resource(dataset, task_id), written)
    }

    async fn create_task(&self, dataset: &str, task_id: &str, ordinal: usize, now: i64) -> Result<(), StoreError> {
        let mut item = Self::task_key(dataset, task_id);
        item.extend([
            ("task_id".to_owned(), text(task_id)),
            ("manifest_ordinal".to_owned(), number(ordinal)),
            ("task_state".to_owned(), text(State::Created.as_str())),
            ("processed_count".to_owned(), number(0)),
            ("errored_count".to_owned(), number(0)),
            ("skipped_count".to_owned(), number(0)),
            ("updated_at_ms".to_owned(), number(now)),
        ]);
        let created = self.put_new(item).send().await;
        // Another run of the dataset created it first: it is kept.
        condition_failure("creating a task", &self.task_resource(dataset, task_id), created).map(drop)
    }
}

#[async_trait::async_trait]
impl TaskStore for DynamoDbTaskStore {
    async fn open_dataset(
        &self,
        name: &str,
        config_digest: &str,
        config_json: &str,
    ) -> Result<DatasetRecord, StoreError> {
        let now = now_ms();
        let record = DatasetRecord {
            name: name.to_owned(),
            state: State::Created,
            config_digest: config_digest.to_owned(),
            config_json: config_json.to_owned(),
            created_at_ms: now,
            updated_at_ms: now,
        };
        let mut item = Self::dataset_key(name);
        item.extend([
            ("dataset_name".to_owned(), text(name)),
            ("dataset_state".to_owned(), text(record.state.as_str())),
            ("config_digest".to_owned(), text(config_digest)),
            ("config_json".to_owned(), text(config_json)),
            ("created_at_ms".to_owned(), number(now)),
            ("updated_at_ms".to_owned(), number(now)),
        ]);
        let created = self
            .put_new(item)
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let resource = format!("dataset {name} in table {}", self.table);
        let existing = match condition_failure("creating a dataset", &resource, created)? {
            Written::Done => return Ok(record),
            Written::ConditionFailed(Some(item)) => item,
            Written::ConditionFailed(None) => self
                .get("reading a dataset", &resource, Self::dataset_key(name))
                .await?
                .ok_or_else(|| StoreError::NotFound(format!("no dataset named {name}")))?,
        };
        let existing = dataset_from_item(&existing)?;
        if existing.config_digest != config_digest {
            return Err(StoreError::ConfigChanged { name: name.to_owned() });
        }
        Ok(existing)
    }

    async fn delete_dataset(&self, name: &str) -> Result<(), StoreError> {
        let resource = format!("dataset {name} in table {}", self.table);
        let keys = self.query(&dataset_partition(name), None, Some("pk, sk")).await?;
        self.delete_items(keys, &resource).await?;
        // The dataset goes last: a delete that stopped half way is found
        // and finished by the next one.
        self.client
            .delete_item()
            .table_name(&self.table)
            .set_key(Some(Self::dataset_key(name)))
            .send()
            .await
            .map_err(|err| service("deleting a dataset", &resource, err))?;
        Ok(())
    }

    async fn set_dataset_state(&self, name: &str, state: State) -> Result<(), StoreError> {
        let updated = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::dataset_key(name)))
            .update_expression("SET dataset_state = :state, updated_at_ms = :now")
            .condition_expression("attribute_exists(pk)")
            .expression_attribute_values(":state", text(state.as_str()))
            .expression_attribute_values(":now", number(now_ms()))
            .send()
            .await;
        let resource = format!("dataset {name} in table {}", self.table);
        match condition_failure("setting a dataset's state", &resource, updated)? {
            Written::Done => Ok(()),
            Written::ConditionFailed(_) => Err(StoreError::NotFound(format!("no dataset named {name}"))),
        }
    }

    async fn dataset(&self, name: &str) -> Result<Option<DatasetRecord>, StoreError> {
        let resource = format!("dataset {name} in table {}", self.table);
        let item = self.get("reading a dataset", &resource, Self::dataset_key(name)).await?;
        item.as_ref().map(dataset_from_item).transpose()
    }

    async fn datasets(&self) -> Result<Vec<DatasetRecord>, StoreError> {
        self.query(DATASETS_PARTITION, None, None).await?.iter().map(dataset_from_item).collect()
    }

    async fn ensure_tasks(&self, dataset: &str, task_ids: &[String]) -> Result<(), StoreError> {
        let known: HashSet<String> = self
            .query(&dataset_partition(dataset), Some(TASK_PREFIX), Some("task_id"))
            .await?
            .iter()
            .map(|item| required_text(item, "task_id"))
            .collect::<Result<_, _>>()?;
        let mut planned = HashSet::new();
        let missing: Vec<(usize, String)> = task_ids
            .iter()
            .enumerate()
            .filter(|(_, id)| !known.contains(id.as_str()) && planned.insert(id.as_str()))
            .map(|(ordinal, id)| (ordinal, id.clone()))
            .collect();
        let now = now_ms();
        let mut created = futures::stream::iter(missing)
            .map(|(ordinal, task_id)| async move { self.create_task(dataset, &task_id, ordinal, now).await })
            .buffer_unordered(TASK_CREATIONS_IN_FLIGHT);
        while let Some(result) = created.next().await {
            result?;
        }
        Ok(())
    }

    async fn tasks(&self, dataset: &str) -> Result<Vec<TaskRecord>, StoreError> {
        let items = self.query(&dataset_partition(dataset), Some(TASK_PREFIX), None).await?;
        let mut tasks = items.iter().map(|item| task_from_item(dataset, item)).collect::<Result<Vec<_>, _>>()?;
        tasks.sort_by(|a, b| (a.ordinal, &a.task_id).cmp(&(b.ordinal, &b.task_id)));
        Ok(tasks)
    }

    async fn start_task(&self, dataset: &str, task_id: &str, run_id: &str) -> Result<TaskRecord, StoreError> {
        let mut dead_owner = None;
        while let Written::ConditionFailed(checked) =
            self.take_task(dataset, task_id, run_id, dead_owner.as_ref()).await?
        {
            // Once more when the owner was a process of this machine that died.
            let gone = checked
                .as_ref()
                .and_then(|item| optional_text(item, "owner_run").zip(optional_text(item, "owner_process")))
                .filter(|(_, holder)| dead_owner.is_none() && holder::is_gone(holder));
            if gone.is_none() {
                return Err(self.not_owned(dataset, task_id, checked).await);
            }
            dead_owner = gone;
        }
        let resource = self.task_resource(dataset, task_id);
        let item = self.get("reading a task", &resource, Self::task_key(dataset, task_id)).await?;
        task_from_item(dataset, &item.ok_or_else(|| missing_task(dataset, task_id))?)
    }

    async fn commit_checkpoint(
        &self,
        dataset: &str,
        task_id: &str,
        run_id: &str,
        checkpoint: &Checkpoint,
    ) -> Result<(), StoreError> {
        let now = now_ms();
        let progress = checkpoint.progress;
        let committed = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(Self::task_key(dataset, task_id)))
            .update_expression(
                "SET source_checkpoint = :source, sink_checkpoint = :sink, processed_count = :processed, \
                 errored_count = :errored, skipped_count = :skipped, updated_at_ms = :now, lease_until_ms = :lease",
            )
            .condition_expression("owner_run = :run")
            .expression_attribute_values(":source", text(&checkpoint.source))
            .expression_attribute_values(":sink", text(&checkpoint.sink))
            .expression_attribute_values(":processed", number(progress.processed))
            .expression_attribute_values(":errored", number(progress.errored))
            .expression_attribute_values(":skipped", number(progress.skipped))
            .expression_attribute_values(":now", number(now))
            .expression_attribute_values(":lease", number(now.saturating_add(millis(self.lease))))
            .expression_attribute_values(":run", text(run_id))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld)
            .send()
            .await;
        let resource = self.task_resource(dataset, task_id);
        match condition_failure("committing a checkpoint", &resource, committed)? {
            Written::Done => Ok(()),
            Written::ConditionFailed(checked) => Err(self.not_owned(dataset, task_id, checked).await),
        }
    }

    async fn finish_task(&self, dataset: &str, task_id: &str, run_id: &str, end: &TaskEnd) -> Result<(), StoreError> {
        let resource = self.task_resource(dataset, task_id);
        // The open execution's key is on the task; reading it first also
        // tells a run that lost the task why, without writing anything.
        let task = self.get("reading a task", &resource, Self::task_key(dataset, task_id)).await?;
        let Some(task) = task else { return Err(missing_task(dataset, task_id)) };
        if optional_text(&task, "owner_run").as_deref() != Some(run_id) {
            return Err(self.not_owned(dataset, task_id, Some(task)).await);
        }
        let now = now_ms();
        let (state, error) = end.state_and_error();
        let mut release = Update::builder()
            .table_name(&self.table)
            .set_key(Some(Self::task_key(dataset, task_id)))
            .condition_expression("owner_run = :run")
            .expression_attribute_values(":run", text(run_id))
            .expression_attribute_values(":state", text(state.as_str()))
            .expression_attribute_values(":now", number(now))
            .return_values_on_condition_check_failure(ReturnValuesOnConditionCheckFailure::AllOld);
        release = match error {
            Some(message) => release
                .update_expression(format!(
                    "SET task_state = :state, updated_at_ms = :now, last_error = :error {RELEASE}"
                ))
                .expression_attribute_values(":error", text(message)),
            None => release
                .update_expression(format!("SET task_state = :state, updated_at_ms = :now {RELEASE}, last_error")),
        };
        let mut transaction = self
            .client
            .transact_write_items()
            .transact_items(TransactWriteItem::builder().update(built(release.build())?).build());
        if let Some(execution) = optional_text(&task, "open_execution") {
            let close = Update::builder()
                .table_name(&self.table)
                .key("pk", text(&dataset_partition(dataset)))
                .key("sk", text(&execution))
                .update_expression("SET ended_at_ms = :now, outcome_state = :state")
                .condition_expression("attribute_exists(pk)")
                .expression_attribute_values(":now", number(now))
                .expression_attribute_values(":state", text(state.as_str()));
            transaction =
                transaction.transact_items(TransactWriteItem::builder().update(built(close.build())?).build());
        }
        let written = transaction.send().await;
        match transaction_failure("finishing a task", &resource, written)? {
            Written::Done => Ok(()),
            Written::ConditionFailed(checked) => Err(self.not_owned(dataset, task_id, checked).await),
        }
    }

    async fn executions(&self, dataset: &str) -> Result<Vec<ExecutionRecord>, StoreError> {
        let items = self.query(&dataset_partition(dataset), Some(EXECUTION_PREFIX), None).await?;
        items.iter().map(|item| execution_from_item(dataset, item)).collect()
    }
}

/// How a conditional write went, when DynamoDB answered.
enum Written {
    Done,
    /// The condition did not hold; the item it was checked against, when
    /// there was one and DynamoDB returned it.
    ConditionFailed(Option<Item>),
}

/// The errors of the operations that write with a condition.
trait ConditionCheck {
    /// The item checked, when the error is a failed condition.
    fn failed_condition(&self) -> Option<Option<&Item>>;
}

impl ConditionCheck for PutItemError {
    fn failed_condition(&self) -> Option<Option<&Item>> {
        match self {
            PutItemError::ConditionalCheckFailedException(failed) => Some(failed.item()),
            _ => None,
        }
    }
}

impl ConditionCheck for UpdateItemError {
    fn failed_condition(&self) -> Option<Option<&Item>> {
        match self {
            UpdateItemError::ConditionalCheckFailedException(failed) => Some(failed.item()),
            _ => None,
        }
    }
}

/// A conditional write's result: done, its condition failed, or another
/// error.
fn condition_failure<T, E>(
    operation: &'static str,
    resource: &str,
    result: Result<T, SdkError<E, HttpResponse>>,
) -> Result<Written, StoreError>
where
    E: ConditionCheck + ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    match result {
        Ok(_) => Ok(Written::Done),
        Err(err) => match err.as_service_error().and_then(ConditionCheck::failed_condition) {
            Some(checked) => Ok(Written::ConditionFailed(checked.cloned())),
            None => Err(service(operation, resource, err)),
        },
    }
}

/// Cancellation codes of a transaction that a retry can get past.
const TRANSIENT_CANCELLATIONS: &[&str] = &["TransactionConflict", "ThrottlingError", "ProvisionedThroughputExceeded"];

/// A transaction's result, its first item (the task) deciding whether
/// its condition failed.
fn transaction_failure<T>(
    operation: &'static str,
    resource: &str,
    result: Result<T, SdkError<TransactWriteItemsError, HttpResponse>>,
) -> Result<Written, StoreError> {
    let err = match result {
        Ok(_) => return Ok(Written::Done),
        Err(err) => err,
    };
    let Some(TransactWriteItemsError::TransactionCanceledException(cancelled)) = err.as_service_error() else {
        return Err(service(operation, resource, err));
    };
    let reasons = cancelled.cancellation_reasons();
    if let Some(task) = reasons.first().filter(|reason| reason.code() == Some("ConditionalCheckFailed")) {
        return Ok(Written::ConditionFailed(task.item().cloned()));
    }
    let codes: Vec<&str> = reasons.iter().filter_map(|reason| reason.code()).filter(|code| *code != "None").collect();
    Err(StoreError::Service(SourceError::Service {
        operation,
        resource: resource.to_owned(),
        message: format!("transaction cancelled: {}", codes.join(", ")),
        retryable: codes.iter().any(|code| TRANSIENT_CANCELLATIONS.contains(code)),
    }))
}

fn service<E>(operation: &'static str, resource: &str, err: SdkError<E, HttpResponse>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
{
    StoreError::Service(service_error(operation, resource, err))
}

fn error_text<E, R>(err: &SdkError<E, R>) -> String
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match (err.code(), err.message()) {
        (Some(code), Some(message)) => format!("{code}: {message}"),
        _ => DisplayErrorContext(err).to_string(),
    }
}

/// A request whose required fields this module always sets.
fn built<T>(request: Result<T, BuildError>) -> Result<T, StoreError> {
    request.map_err(|err| StoreError::Internal(format!("cannot build a DynamoDB request: {err}")))
}

fn missing_task(dataset: &str, task_id: &str) -> StoreError {
    StoreError::NotFound(format!("no task {task_id} in dataset {dataset}"))
}

fn dataset_partition(name: &str) -> String {
    format!("DATASET#{name}")
}

fn text(value: &str) -> AttributeValue {
    AttributeValue::S(value.to_owned())
}

fn number(value: impl ToString + Copy) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

fn optional_text(item: &Item, name: &str) -> Option<String> {
    item.get(name).and_then(|value| value.as_s().ok()).cloned()
}

fn required_text(item: &Item, name: &str) -> Result<String, StoreError> {
    optional_text(item, name).ok_or_else(|| corrupt(item, &format!("no string attribute {name}")))
}

fn optional_number<T: FromStr>(item: &Item, name: &str) -> Result<Option<T>, StoreError> {
    match item.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_n()
            .ok()
            .and_then(|digits| digits.parse().ok())
            .map(Some)
            .ok_or_else(|| corrupt(item, &format!("attribute {name} is not a number in range"))),
    }
}

fn required_number<T: FromStr>(item: &Item, name: &str) -> Result<T, StoreError> {
    optional_number(item, name)?.ok_or_else(|| corrupt(item, &format!("no number attribute {name}")))
}

fn corrupt(item: &Item, problem: &str) -> StoreError {
    let key = |name: &str| optional_text(item, name).unwrap_or_default();
    StoreError::Corrupt(format!("the item {} / {} has {problem}", key("pk"), key("sk")))
}

fn dataset_from_item(item: &Item) -> Result<DatasetRecord, StoreError> {
    Ok(DatasetRecord {
        name: required_text(item, "dataset_name")?,
        state: required_text(item, "dataset_state")?.parse()?,
        config_digest: required_text(item, "config_digest")?,
        config_json: required_text(item, "config_json")?,
        created_at_ms: required_number(item, "created_at_ms")?,
        updated_at_ms: required_number(item, "updated_at_ms")?,
    })
}

fn task_from_item(dataset: &str, item: &Item) -> Result<TaskRecord, StoreError> {
    let progress = Progress {
        processed: required_number(item, "processed_count")?,
        errored: required_number(item, "errored_count")?,
        skipped: required_number(item, "skipped_count")?,
    };
    let checkpoint = optional_text(item, "source_checkpoint").map(|source| Checkpoint {
        source,
        sink: optional_text(item, "sink_checkpoint").unwrap_or_default(),
        progress,
    });
    let owner = match optional_text(item, "owner_run") {
        Some(run_id) => Some(Lease { run_id, expires_at_ms: required_number(item, "lease_until_ms")? }),
        None => None,
    };
    Ok(TaskRecord {
        dataset: dataset.to_owned(),
        task_id: required_text(item, "task_id")?,
        ordinal: required_number(item, "manifest_ordinal")?,
        state: required_text(item, "task_state")?.parse()?,
        progress,
        checkpoint,
        last_error: optional_text(item, "last_error"),
        updated_at_ms: required_number(item, "updated_at_ms")?,
        owner,
    })
}

fn execution_from_item(dataset: &str, item: &Item) -> Result<ExecutionRecord, StoreError> {
    Ok(ExecutionRecord {
        dataset: dataset.to_owned(),
        task_id: required_text(item, "task_id")?,
        run_id: required_text(item, "run_id")?,
        started_at_ms: required_number(item, "started_at_ms")?,
        ended_at_ms: optional_number(item, "ended_at_ms")?,
        outcome: optional_text(item, "outcome_state").map(|state| state.parse()).transpose()?,
    })
}
