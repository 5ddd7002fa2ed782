//! Streams read shard by shard, as the Kinesis and DynamoDB Streams sources
//! do: the tasks, where each starts, how a shard is read and when its task
//! ends. Each source supplies a [`ShardApi`] (its shard iterators and
//! pages); everything else is here.
//!
//! - Tasks: one per shard the stream lists, parents first. A shard whose
//!   parent (or, after a merge, adjacent parent) is listed waits for it,
//!   since the parent holds the older records of the same keys; a parent
//!   past the stream's retention is not listed and not waited for.
//! - Start: after the checkpoint, the sequence number of the last record
//!   whose outcome is durable. Without one, a shard with a listed parent
//!   starts at its oldest record (its parent was read to its end, so
//!   nothing before it is missed or repeated); any other shard at its
//!   oldest record (`Earliest`) or at the records added from the moment it
//!   opens (`Latest`). A checkpoint needs a record: a shard opened at
//!   `Latest` whose run ends before any record arrives opens at the latest
//!   again in the next run.
//! - Pages and batches: each read asks for a full page (the service's
//!   most records per call), whatever the batch size, and keeps the
//!   page's records until batches have handed them all out; only then is
//!   the next page read. A shard's reader thus holds at most one page,
//!   which the service bounds in bytes too.
//! - Order and checkpoints: records are handed out in shard order; a
//!   batch's checkpoint is its last record's sequence number, so a task
//!   stopped part way through a page resumes right after the last batch
//!   made durable. Sequence numbers are opaque strings, never parsed
//!   (emulators use small integers); only `record_key` relies on their
//!   being decimal.
//! - End: a shard that is closed (no next iterator) and whose records are
//!   all handed out ends its task for good, and its children may start.
//!   With `StopWhenNoData`, once every record read is handed out, a page
//!   that is empty at the shard's tip ends the task until the next run,
//!   which resumes from the checkpoint. With `Continuous` the reader
//!   polls, waiting longer while the shard stays idle, until the run
//!   stops it or the shard closes.
//! - Rate: at most one page read per shard every 200 ms (Kinesis allows
//!   five a second per shard); batches cut from a page already read do not
//!   wait. An idle shard is read every 200 ms at first, then ever less
//!   often, down to once a minute. An iterator that expires while the
//!   pipeline is busy is taken again after the last record read.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use ferry_proto::pb;
use serde_json::{Map, Value};
use tokio::time::Instant;

use super::{
    OpenContext, OpenedSource, RecordOrigin, RecordSource, SourceBatch, SourceError, SourceItem, SourceRecord, TaskUnit,
};
use crate::config::{StreamRead, StreamStart, StreamStop};

/// A shard as the stream lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ListedShard {
    pub id: String,
    /// Its parent and, for a merge, the adjacent parent.
    pub parents: Vec<String>,
}

/// Where a shard iterator starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ShardPosition {
    /// The oldest record the shard holds (`TRIM_HORIZON`).
    Oldest,
    /// Records added after the iterator is taken (`LATEST`).
    Latest,
    /// The record after this sequence number (`AFTER_SEQUENCE_NUMBER`).
    After(String),
}

impl ShardPosition {
    /// Where a task opened at `checkpoint` starts (see the module
    /// documentation).
    pub fn opening(checkpoint: Option<&str>, start: StreamStart, has_listed_parent: bool) -> Self {
        match (checkpoint, start) {
            (Some(sequence_number), _) => Self::After(sequence_number.to_owned()),
            (None, _) if has_listed_parent => Self::Oldest,
            (None, StreamStart::Earliest) => Self::Oldest,
            (None, StreamStart::Latest) => Self::Latest,
        }
    }
}

/// One record read from a shard.
#[derive(Debug, Clone)]
pub struct ShardRecord {
    pub sequence_number: String,
    pub record: SourceRecord,
    /// Bytes of the record's data, counted against a batch's byte limit.
    pub bytes: usize,
}

/// One page of a shard.
#[derive(Debug, Clone)]
pub struct ShardPage {
    pub records: Vec<ShardRecord>,
    /// `None` once the shard is closed and this page holds its last
    /// records.
    pub next_iterator: Option<String>,
    /// Whether the shard holds records past this page (Kinesis's
    /// `MillisBehindLatest` above 0): an empty page that is behind says
    /// nothing about being caught up, so the reader reads on at once.
    pub behind_latest: bool,
}

/// What reading a page gave.
#[derive(Debug, Clone)]
pub enum PageRead {
    Page(ShardPage),
    /// The iterator is too old (`ExpiredIteratorException`).
    IteratorExpired,
}

/// A shard as its service's API serves it.
#[async_trait]
pub trait ShardApi: Clone + Send + Sync + std::fmt::Debug + 'static {
    /// The handler function every record is sent to.
    const FUNCTION: pb::Function;
    /// Records each page read asks for: the most a page may hold. The
    /// service also bounds a page's bytes, so the records a reader keeps
    /// (one page at most) stay bounded however large the batches.
    const MAX_PAGE_RECORDS: usize;

    /// The shard as error messages name it.
    fn resource(&self) -> String;

    /// A shard iterator at `position`.
    async fn iterator(&self, position: &ShardPosition) -> Result<String, SourceError>;

    /// The page at `iterator`, at most `limit` records.
    async fn page(&self, iterator: &str, limit: usize) -> Result<PageRead, SourceError>;
}

/// The tasks of a stream's `shards`, by shard id, parents first; `api`
/// serves a shard by id.
pub fn shard_units<A: ShardApi>(
    shards: Vec<ListedShard>,
    read: &StreamRead,
    api: impl Fn(&str) -> A,
) -> Vec<(String, Arc<dyn TaskUnit>)> {
    parents_first(shards)
        .into_iter()
        .map(|shard| {
            let unit = ShardUnit { api: api(&shard.id), parents: shard.parents, start: read.start, stop: read.stop };
            (shard.id, Arc::new(unit) as Arc<dyn TaskUnit>)
        })
        .collect()
}

/// One shard: the unit of a shard task.
#[derive(Debug)]
struct ShardUnit<A> {
    api: A,
    /// Listed parents, read first.
    parents: Vec<String>,
    start: StreamStart,
    stop: StreamStop,
}

#[async_trait]
impl<A: ShardApi> TaskUnit for ShardUnit<A> {
    async fn open(&self, checkpoint: Option<&str>, _context: &OpenContext) -> Result<OpenedSource, SourceError> {
        let position = ShardPosition::opening(checkpoint, self.start, !self.parents.is_empty());
        Ok(OpenedSource {
            function: A::FUNCTION,
            records: Box::new(ShardReader::new(self.api.clone(), position, self.stop, Pacing::default())),
            acknowledger: None,
            clear_errors_from: Some(first_key_after(checkpoint)),
        })
    }

    fn waits_for(&self) -> Vec<String> {
        self.parents.clone()
    }
}

/// `shards` reordered so that every shard comes after its parents, each
/// with its parents narrowed to those listed before it; otherwise in the
/// order listed. (Parents are always older than their children, so
/// dropping a parent listed after its child only happens for a lineage
/// that loops, which no stream has; it keeps such a task from waiting
/// forever.)
fn parents_first(shards: Vec<ListedShard>) -> Vec<ListedShard> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        New,
        /// Its parents are being placed.
        Open,
        Placed,
    }
    let index: HashMap<&str, usize> = shards.iter().enumerate().map(|(at, shard)| (shard.id.as_str(), at)).collect();
    let mut marks = vec![Mark::New; shards.len()];
    let mut order = Vec::with_capacity(shards.len());
    for first in 0..shards.len() {
        // Depth first with an explicit stack: a lineage can be thousands
        // of shards long. `true` means "its parents are placed: place it".
        let mut stack = vec![(first, false)];
        while let Some((at, parents_placed)) = stack.pop() {
            match (marks[at], parents_placed) {
                (Mark::Placed, _) | (Mark::Open, false) => {}
                (_, true) => {
                    marks[at] = Mark::Placed;
                    order.push(at);
                }
                (Mark::New, false) => {
                    marks[at] = Mark::Open;
                    stack.push((at, true));
                    let parents = shards[at].parents.iter().filter_map(|parent| index.get(parent.as_str()));
                    stack.extend(parents.rev().map(|&parent| (parent, false)));
                }
            }
        }
    }
    let mut placed_at = vec![0; shards.len()];
    for (position, &at) in order.iter().enumerate() {
        placed_at[at] = position;
    }
    let kept: Vec<Vec<bool>> = shards
        .iter()
        .enumerate()
        .map(|(at, shard)| {
            let placed_before =
                |parent: &String| index.get(parent.as_str()).is_some_and(|&p| placed_at[p] < placed_at[at]);
            shard.parents.iter().map(placed_before).collect()
        })
        .collect();
    let mut slots: Vec<Option<ListedShard>> = shards.into_iter().map(Some).collect();
    order
        .iter()
        .filter_map(|&at| {
            let mut shard = slots[at].take()?;
            let parents = std::mem::take(&mut shard.parents).into_iter().zip(&kept[at]);
            shard.parents = parents.filter(|(_, keep)| **keep).map(|(parent, _)| parent).collect();
            Some(shard)
        })
        .collect()
}

/// A record's key within its shard's task (it names the record's error
/// document). Sequence numbers are decimal strings without leading zeros,
/// of up to 129 digits, so putting the digit count first makes keys sort
/// as the numbers do, without parsing them: `001-7` < `002-10`.
fn record_key(sequence_number: &str) -> String {
    format!("{:03}-{sequence_number}", sequence_number.len())
}

/// The key from which a task opened at `checkpoint` clears its error
/// documents: every record after the checkpoint's is read again. The
/// checkpoint's own key with anything appended sorts after it and before
/// the key of any later record, which differs from it in a digit. Without
/// a checkpoint, every error document of the task goes.
fn first_key_after(checkpoint: Option<&str>) -> String {
    checkpoint.map(|sequence_number| format!("{}.", record_key(sequence_number))).unwrap_or_default()
}

/// Where a record came from, as its error document shows it.
pub fn record_origin(stream_arn: &str, shard_id: &str, sequence_number: &str) -> RecordOrigin {
    let mut fields = Map::new();
    fields.insert("streamArn".to_owned(), Value::from(stream_arn));
    fields.insert("shardId".to_owned(), Value::from(shard_id));
    fields.insert("sequenceNumber".to_owned(), Value::from(sequence_number));
    RecordOrigin { key: record_key(sequence_number), fields }
}

/// How often a shard is read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Pacing {
    /// Shortest time between the starts of two page reads.
    min_read_interval: Duration,
    /// Wait after the first page that finds an idle shard (`Continuous`);
    /// it doubles with each further one.
    first_idle_wait: Duration,
    /// Longest wait between two reads of an idle shard.
    max_idle_wait: Duration,
}

impl Default for Pacing {
    fn default() -> Self {
        Self {
            // Kinesis allows five GetRecords a second per shard.
            min_read_interval: Duration::from_millis(200),
            first_idle_wait: Duration::from_millis(200),
            max_idle_wait: Duration::from_secs(60),
        }
    }
}

/// Reads one shard from a position on (see the module documentation).
#[derive(Debug)]
struct ShardReader<A> {
    api: A,
    stop: StreamStop,
    pacing: Pacing,
    /// Where a new iterator starts: the opening position, then after the
    /// last record read.
    position: ShardPosition,
    /// The iterator for the next page; `None` before the first page and
    /// after one expired.
    iterator: Option<String>,
    /// Records of the last page read that are not handed out yet.
    pending: VecDeque<ShardRecord>,
    /// The shard is closed and every record of it was read (some may
    /// still be pending).
    closed: bool,
    idle_wait: Duration,
    last_read: Option<Instant>,
}

impl<A: ShardApi> ShardReader<A> {
    fn new(api: A, position: ShardPosition, stop: StreamStop, pacing: Pacing) -> Self {
        Self {
            api,
            stop,
            pacing,
            position,
            iterator: None,
            pending: VecDeque::new(),
            closed: false,
            idle_wait: pacing.first_idle_wait,
            last_read: None,
        }
    }

    /// The next batch from the records read: at least one record, at most
    /// `max_records`, and no more than `max_bytes` unless a single record
    /// is larger.
    fn take_batch(&mut self, max_records: usize, max_bytes: usize) -> Option<SourceBatch> {
        let mut items = Vec::new();
        let mut bytes = 0;
        let mut checkpoint = None;
        while items.len() < max_records.max(1) {
            let Some(next) = self.pending.front() else { break };
            if !items.is_empty() && bytes + next.bytes > max_bytes {
                break;
            }
            let Some(next) = self.pending.pop_front() else { break };
            bytes += next.bytes;
            checkpoint = Some(next.sequence_number);
            items.push(SourceItem::Record(next.record));
        }
        checkpoint.map(|checkpoint| SourceBatch { items, checkpoint, acks: Vec::new() })
    }

    /// Reads the next full page, taking a new iterator when there is none
    /// or the last one expired. An iterator that expires before its first
    /// use fails the read rather than loop.
    async fn read_page(&mut self) -> Result<ShardPage, SourceError> {
        let mut renewed = false;
        loop {
            let iterator = match self.iterator.take() {
                Some(iterator) => iterator,
                None => {
                    renewed = true;
                    self.api.iterator(&self.position).await?
                }
            };
            if let Some(last_read) = self.last_read {
                tokio::time::sleep_until(last_read + self.pacing.min_read_interval).await;
            }
            self.last_read = Some(Instant::now());
            match self.api.page(&iterator, A::MAX_PAGE_RECORDS).await? {
                PageRead::Page(page) => return Ok(page),
                PageRead::IteratorExpired if !renewed => {}
                PageRead::IteratorExpired => {
                    return Err(SourceError::Service {
                        operation: "GetRecords",
                        resource: self.api.resource(),
                        message: "ExpiredIteratorException: a shard iterator expired before its first use".to_owned(),
                        retryable: true,
                    });
                }
            }
        }
    }
}

#[async_trait]
impl<A: ShardApi> RecordSource for ShardReader<A> {
    async fn next_batch(&mut self, max_records: usize, max_bytes: usize) -> Result<Option<SourceBatch>, SourceError> {
        loop {
            if let Some(batch) = self.take_batch(max_records, max_bytes) {
                return Ok(Some(batch));
            }
            if self.closed {
                return Ok(None);
            }
            let page = self.read_page().await?;
            self.closed = page.next_iterator.is_none();
            self.iterator = page.next_iterator;
            if let Some(last) = page.records.last() {
                self.position = ShardPosition::After(last.sequence_number.clone());
                self.pending.extend(page.records);
                self.idle_wait = self.pacing.first_idle_wait;
                continue;
            }
            if self.closed || page.behind_latest {
                continue;
            }
            match self.stop {
                StreamStop::WhenNoData => return Ok(None),
                StreamStop::Continuous => {
                    tokio::time::sleep(self.idle_wait).await;
                    self.idle_wait = (self.idle_wait * 2).min(self.pacing.max_idle_wait);
                }
            }
        }
    }

    fn finished(&self) -> bool {
        self.closed && self.pending.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use bytes::Bytes;
    use futures::FutureExt;
    use proptest::prelude::*;

    use super::*;
    use crate::sinks::task_file_stem;

    fn listed(id: &str, parents: &[&str]) -> ListedShard {
        ListedShard { id: id.to_owned(), parents: parents.iter().map(|&parent| parent.to_owned()).collect() }
    }

    #[test]
    fn children_come_after_their_listed_parents() {
        // c merges a and b; a is split from gone (past retention); d is a
        // child of c.
        let ordered = parents_first(vec![
            listed("d", &["c"]),
            listed("c", &["a", "b"]),
            listed("b", &[]),
            listed("a", &["gone"]),
        ]);
        assert_eq!(ordered, [listed("a", &[]), listed("b", &[]), listed("c", &["a", "b"]), listed("d", &["c"])]);
    }

    #[test]
    fn a_looping_lineage_cannot_make_a_task_wait_forever() {
        let ordered = parents_first(vec![listed("a", &["b"]), listed("b", &["a"])]);
        assert_eq!(ordered, [listed("b", &[]), listed("a", &["b"])]);
    }

    /// A stream's lineage: shard i may have parents among shards 0..i, as
    /// parents are older than their children; listed in any order.
    fn lineage() -> impl Strategy<Value = Vec<ListedShard>> {
        proptest::collection::vec(proptest::collection::vec(any::<prop::sample::Index>(), 0..=2), 1..40)
            .prop_map(|chosen| {
                chosen
                    .iter()
                    .enumerate()
                    .map(|(at, parents)| ListedShard {
                        id: format!("s{at}"),
                        parents: match at {
                            0 => Vec::new(),
                            _ => parents.iter().map(|parent| format!("s{}", parent.index(at))).collect(),
                        },
                    })
                    .collect::<Vec<_>>()
            })
            .prop_shuffle()
    }

    proptest! {
        #[test]
        fn every_listed_parent_comes_first(shards in lineage()) {
            let ordered = parents_first(shards.clone());
            prop_assert_eq!(ordered.len(), shards.len());
            for (position, shard) in ordered.iter().enumerate() {
                let original = shards.iter().find(|listed| listed.id == shard.id).expect("listed");
                prop_assert_eq!(&shard.parents, &original.parents);
                for parent in &shard.parents {
                    prop_assert!(ordered[..position].iter().any(|earlier| &earlier.id == parent));
                }
            }
        }

        #[test]
        fn keys_sort_as_sequence_numbers(a in any::<u128>(), b in any::<u128>()) {
            let (key_a, key_b) = (task_file_stem(&record_key(&a.to_string())), task_file_stem(&record_key(&b.to_string())));
            prop_assert_eq!(key_a.cmp(&key_b), a.cmp(&b));
            // Clearing after a checkpoint at a keeps a's error document and
            // clears b's when b comes after a.
            let from = task_file_stem(&first_key_after(Some(&a.to_string())));
            prop_assert!(key_a < from);
            prop_assert_eq!(key_b >= from, b > a);
        }
    }

    #[test]
    fn opening_positions() {
        use StreamStart::{Earliest, Latest};
        assert_eq!(ShardPosition::opening(Some("7"), Latest, true), ShardPosition::After("7".to_owned()));
        assert_eq!(ShardPosition::opening(None, Earliest, false), ShardPosition::Oldest);
        assert_eq!(ShardPosition::opening(None, Latest, false), ShardPosition::Latest);
        assert_eq!(ShardPosition::opening(None, Latest, true), ShardPosition::Oldest);
    }

    /// A shard that answers from a script and logs what it was asked.
    #[derive(Debug, Clone, Default)]
    struct ScriptedShard {
        script: Arc<Mutex<VecDeque<PageRead>>>,
        iterators_taken: Arc<Mutex<Vec<ShardPosition>>>,
        /// The record limit of each page read.
        limits_asked: Arc<Mutex<Vec<usize>>>,
    }

    #[async_trait]
    impl ShardApi for ScriptedShard {
        const FUNCTION: pb::Function = pb::Function::KinesisRecordReaderParseMessage;
        const MAX_PAGE_RECORDS: usize = 10_000;

        fn resource(&self) -> String {
            "scripted shard".to_owned()
        }

        async fn iterator(&self, position: &ShardPosition) -> Result<String, SourceError> {
            let mut taken = self.iterators_taken.lock().expect("lock");
            taken.push(position.clone());
            Ok(format!("iterator {}", taken.len()))
        }

        async fn page(&self, _iterator: &str, limit: usize) -> Result<PageRead, SourceError> {
            self.limits_asked.lock().expect("lock").push(limit);
            Ok(self.script.lock().expect("lock").pop_front().expect("the script has a page for every read"))
        }
    }

    fn record(sequence_number: u32, bytes: usize) -> ShardRecord {
        let sequence_number = sequence_number.to_string();
        let data = Bytes::from(vec![b'x'; bytes]);
        let args = pb::KinesisRecordArgs {
            sequence_number: sequence_number.clone(),
            data: data.clone(),
            ..pb::KinesisRecordArgs::default()
        };
        ShardRecord {
            record: SourceRecord {
                args: pb::call::Args::KinesisRecord(args),
                origin: record_origin("arn", "shard", &sequence_number),
                payload: data,
            },
            sequence_number,
            bytes,
        }
    }

    fn page(sequence_numbers: std::ops::Range<u32>, more: bool, behind_latest: bool) -> PageRead {
        PageRead::Page(ShardPage {
            records: sequence_numbers.map(|sequence_number| record(sequence_number, 10)).collect(),
            next_iterator: more.then(|| "next".to_owned()),
            behind_latest,
        })
    }

    /// Waits short enough for tests to read idle shards quickly.
    const FAST: Pacing = Pacing {
        min_read_interval: Duration::from_millis(1),
        first_idle_wait: Duration::from_millis(1),
        max_idle_wait: Duration::from_millis(4),
    };

    fn reader(
        script: Vec<PageRead>,
        position: ShardPosition,
        stop: StreamStop,
    ) -> (ShardReader<ScriptedShard>, ScriptedShard) {
        paced_reader(script, position, stop, FAST)
    }

    fn paced_reader(
        script: Vec<PageRead>,
        position: ShardPosition,
        stop: StreamStop,
        pacing: Pacing,
    ) -> (ShardReader<ScriptedShard>, ScriptedShard) {
        let shard = ScriptedShard { script: Arc::new(Mutex::new(script.into())), ..ScriptedShard::default() };
        (ShardReader::new(shard.clone(), position, stop, pacing), shard)
    }

    /// A batch's sequence numbers and checkpoint.
    fn shown(batch: SourceBatch) -> (Vec<String>, String) {
        let numbers = batch
            .items
            .iter()
            .map(|item| match item {
                SourceItem::Record(record) => record.origin.fields["sequenceNumber"].as_str().expect("text").to_owned(),
                other => panic!("not a record: {other:?}"),
            })
            .collect();
        (numbers, batch.checkpoint)
    }

    /// Drains the reader: each batch's sequence numbers and checkpoint.
    async fn drain(
        reader: &mut ShardReader<ScriptedShard>,
        max_records: usize,
        max_bytes: usize,
    ) -> Vec<(Vec<String>, String)> {
        let mut batches = Vec::new();
        while let Some(batch) = reader.next_batch(max_records, max_bytes).await.expect("a batch") {
            batches.push(shown(batch));
        }
        batches
    }

    fn numbers(range: std::ops::Range<u32>) -> Vec<String> {
        range.map(|number| number.to_string()).collect()
    }

    #[tokio::test]
    async fn a_closed_shard_is_read_to_its_end_and_finished() {
        let (mut reader, shard) = reader(
            vec![page(1..4, true, true), page(4..4, true, true), page(4..6, false, false)],
            ShardPosition::Oldest,
            StreamStop::WhenNoData,
        );
        let batches = drain(&mut reader, 2, 1000).await;
        assert_eq!(
            batches,
            [(numbers(1..3), "2".to_owned()), (numbers(3..4), "3".to_owned()), (numbers(4..6), "5".to_owned())]
        );
        assert!(reader.finished());
        assert_eq!(*shard.iterators_taken.lock().expect("lock"), [ShardPosition::Oldest]);
    }

    #[tokio::test]
    async fn caught_up_ends_the_run_but_not_the_shard() {
        // An empty page behind the tip is read past; one at the tip ends.
        let (mut reader, _) = reader(
            vec![page(1..3, true, true), page(3..3, true, true), page(3..4, true, false), page(4..4, true, false)],
            ShardPosition::After("0".to_owned()),
            StreamStop::WhenNoData,
        );
        let batches = drain(&mut reader, 10, 1000).await;
        assert_eq!(batches, [(numbers(1..3), "2".to_owned()), (numbers(3..4), "3".to_owned())]);
        assert!(!reader.finished());
    }

    #[tokio::test]
    async fn continuous_reading_waits_out_idle_pages() {
        let mut script = vec![page(1..2, true, false)];
        script.extend((0..5).map(|_| page(2..2, true, false)));
        script.push(page(2..3, true, false));
        script.push(page(3..3, false, false));
        let (mut reader, _) = reader(script, ShardPosition::Latest, StreamStop::Continuous);
        let batches = drain(&mut reader, 10, 1000).await;
        assert_eq!(batches, [(numbers(1..2), "1".to_owned()), (numbers(2..3), "2".to_owned())]);
        assert!(reader.finished());
    }

    #[tokio::test]
    async fn batches_stop_at_the_byte_limit_unless_one_record_is_larger() {
        let records = vec![record(1, 40), record(2, 40), record(3, 100), record(4, 10)];
        let script = vec![PageRead::Page(ShardPage { records, next_iterator: None, behind_latest: false })];
        let (mut reader, _) = reader(script, ShardPosition::Oldest, StreamStop::WhenNoData);
        let batches = drain(&mut reader, 10, 90).await;
        assert_eq!(
            batches,
            [(numbers(1..3), "2".to_owned()), (numbers(3..4), "3".to_owned()), (numbers(4..5), "4".to_owned())]
        );
    }

    #[tokio::test]
    async fn an_expired_iterator_is_taken_again_after_the_last_record_read() {
        let (mut reader, shard) = reader(
            vec![page(1..3, true, true), PageRead::IteratorExpired, page(3..4, false, false)],
            ShardPosition::Latest,
            StreamStop::WhenNoData,
        );
        let batches = drain(&mut reader, 10, 1000).await;
        assert_eq!(batches, [(numbers(1..3), "2".to_owned()), (numbers(3..4), "3".to_owned())]);
        assert_eq!(
            *shard.iterators_taken.lock().expect("lock"),
            [ShardPosition::Latest, ShardPosition::After("2".to_owned())]
        );
    }

    #[tokio::test]
    async fn an_iterator_expiring_at_once_fails_the_read() {
        let (mut reader, _) = reader(vec![PageRead::IteratorExpired], ShardPosition::Oldest, StreamStop::WhenNoData);
        let err = reader.next_batch(10, 1000).await.expect_err("the read fails");
        assert!(err.is_retryable(), "{err}");
    }

    #[tokio::test]
    async fn a_page_larger_than_a_batch_is_handed_out_in_batches_checkpointed_at_their_last_record() {
        // One page at the shard's tip, then an empty read there: caught up
        // only once the page is handed out.
        let (mut first_run, shard) = reader(
            vec![page(1..9, true, false), page(9..9, true, false)],
            ShardPosition::Oldest,
            StreamStop::WhenNoData,
        );
        let batches = drain(&mut first_run, 3, 1000).await;
        assert_eq!(
            batches,
            [(numbers(1..4), "3".to_owned()), (numbers(4..7), "6".to_owned()), (numbers(7..9), "8".to_owned())]
        );
        assert!(!first_run.finished());
        // Every read asks for a full page, whatever the batch size.
        assert_eq!(*shard.limits_asked.lock().expect("lock"), [ScriptedShard::MAX_PAGE_RECORDS; 2]);

        // A run that made only the first batch durable resumes right after
        // its last record, in the middle of the page.
        let position = ShardPosition::opening(Some(&batches[0].1), StreamStart::Earliest, false);
        let (mut resumed, shard) =
            reader(vec![page(4..9, true, false), page(9..9, true, false)], position, StreamStop::WhenNoData);
        assert_eq!(drain(&mut resumed, 5, 1000).await, [(numbers(4..9), "8".to_owned())]);
        assert_eq!(*shard.iterators_taken.lock().expect("lock"), [ShardPosition::After("3".to_owned())]);
    }

    #[tokio::test]
    async fn a_closed_shard_ends_only_once_its_last_page_is_handed_out() {
        // The script holds one page: a second read would panic.
        let (mut reader, shard) = reader(vec![page(1..8, false, false)], ShardPosition::Oldest, StreamStop::WhenNoData);
        let first = reader.next_batch(3, 1000).await.expect("a read").expect("a batch");
        assert_eq!(shown(first), (numbers(1..4), "3".to_owned()));
        assert!(!reader.finished(), "records of the last page are still to be handed out");
        assert_eq!(
            drain(&mut reader, 3, 1000).await,
            [(numbers(4..7), "6".to_owned()), (numbers(7..8), "7".to_owned())]
        );
        assert!(reader.finished());
        assert_eq!(shard.limits_asked.lock().expect("lock").len(), 1);
    }

    #[tokio::test]
    async fn batches_from_a_page_read_do_not_wait_for_the_next_read() {
        // Reads at most once an hour: polled once, a batch cut from the
        // page read is ready, and the read after it is still waiting.
        let hourly = Pacing { min_read_interval: Duration::from_secs(3600), ..FAST };
        let (mut reader, shard) =
            paced_reader(vec![page(1..7, true, true)], ShardPosition::Oldest, StreamStop::Continuous, hourly);
        for expected in [(numbers(1..4), "3".to_owned()), (numbers(4..7), "6".to_owned())] {
            let batch = reader.next_batch(3, 1000).now_or_never().expect("ready at once").expect("a read");
            assert_eq!(shown(batch.expect("a batch")), expected);
        }
        assert!(reader.next_batch(3, 1000).now_or_never().is_none(), "the next read waits out the pacing");
        assert_eq!(shard.limits_asked.lock().expect("lock").len(), 1);
    }
}
