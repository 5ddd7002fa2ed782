//! Cuts a byte stream into records with a start hint and an end hint (the
//! "SingleFileParser" semantics of the LetsData service).
//!
//! # Contract
//!
//! The cutter reads any [`Read`] (a file, possibly gzip-decoded upstream) and
//! repeats the following from a cursor `c`, which starts at the `position`
//! given to [`RecordCutter::new`]:
//!
//! 1. **Start.** [`RecordHint::Pattern`]`(p)`: the record starts at the first
//!    occurrence of `p` at or after `c`; the bytes before it are skipped. With
//!    no further occurrence the stream is done and trailing bytes are skipped.
//!    [`RecordHint::Offset`]`(k)`: the record starts at `c + k`; if the stream
//!    ends at or before that point, it is done.
//! 2. **End.** `Pattern(q)`: the record ends just after the first occurrence
//!    of `q` that begins at or after the end of the start pattern (for an
//!    offset start: at or after the start), so `q` is part of the record. If
//!    the stream ends first, the rest of the stream from the start is the
//!    final record, so a JSON-lines file without a trailing newline still
//!    yields its last line. `Offset(n)`: the record is the `n` bytes from its
//!    start; a final record cut short by the end of the stream is returned as
//!    it is.
//! 3. The cursor moves to the end of the record, which is what
//!    [`RecordCutter::position`] reports: the resume point for a checkpoint.
//!    Skipped bytes never move it, so resuming re-skips them identically.
//!
//! Occurrences are leftmost-first and never rescanned, so self-overlapping
//! patterns (`"aa"` in `"aaa"`) match where a search over the whole stream
//! would.
//!
//! A record longer than [`CutterLimits::max_record_bytes`] is never buffered
//! whole: once what has been buffered of it passes the limit the cutter only
//! scans for its end and yields [`Cut::Oversized`] with its full length.
//! Memory therefore stays within about `max_record_bytes` plus two read
//! chunks.
//!
//! Records that lie inside one read chunk are zero-copy slices of that chunk;
//! records that span chunks are copied into a buffer of their own. Either way
//! the [`Bytes`] handed out keep their backing buffer alive, so a caller that
//! holds many small records from different chunks holds those chunks too.
//!
//! Each read fills a whole chunk (short reads are retried until it is full or
//! the stream ends); `ErrorKind::Interrupted` is retried. Any other read error
//! is returned without losing state: the bytes read before it are kept, and
//! calling [`RecordCutter::next_cut`] again retries the read. The end of the
//! stream is sticky: once a read returns 0 the reader is not read again.
//!
//! Empty patterns, a zero end offset (which would cut empty records forever)
//! and a zero read chunk are rejected by [`RecordCutter::new`] with a
//! [`CutterConfigError`] rather than a panic; config validation should have
//! caught them earlier.
//!
//! The hints may change between records ([`RecordCutter::set_hints`]): a
//! state machine reader picks each record's hints from the record before
//! it. The new hints apply from the cursor on, exactly as if a cutter had
//! been created there with them, which is also how such a reader resumes.

use std::fmt;
use std::io::{self, Read};
use std::mem;

use bytes::{Bytes, BytesMut};
use memchr::memmem::Finder;

/// Where a record starts or ends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordHint {
    /// A literal byte pattern; must be non-empty.
    Pattern(Vec<u8>),
    /// A byte count: for a start, bytes skipped after the previous record;
    /// for an end, the record length (at least 1).
    Offset(u64),
}

/// Bounds on the cutter's memory use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CutterLimits {
    /// Longest record returned with its bytes; longer ones become
    /// [`Cut::Oversized`].
    pub max_record_bytes: usize,
    /// Size of each read from the underlying reader; must be non-zero.
    pub read_chunk_bytes: usize,
}

impl Default for CutterLimits {
    fn default() -> Self {
        Self { max_record_bytes: 16 * 1024 * 1024, read_chunk_bytes: 1024 * 1024 }
    }
}

/// One record cut from the stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Cut {
    /// A whole record; `offset` is the stream position of its first byte.
    Record { offset: u64, bytes: Bytes },
    /// A record longer than `max_record_bytes`; its bytes were discarded.
    Oversized { offset: u64, length: u64 },
}

impl Cut {
    /// Stream position of the record's first byte.
    pub fn offset(&self) -> u64 {
        match self {
            Cut::Record { offset, .. } | Cut::Oversized { offset, .. } => *offset,
        }
    }

    /// Stream position just after the record's last byte.
    pub fn end(&self) -> u64 {
        match self {
            Cut::Record { offset, bytes } => offset + bytes.len() as u64,
            Cut::Oversized { offset, length } => offset + length,
        }
    }
}

/// Hints or limits the cutter cannot work with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum CutterConfigError {
    #[error("the record start pattern is empty")]
    EmptyStartPattern,
    #[error("the record end pattern is empty")]
    EmptyEndPattern,
    #[error("the record end offset is 0, so every record would be empty")]
    ZeroEndOffset,
    #[error("read_chunk_bytes is 0, so the stream could never be read")]
    ZeroReadChunk,
    /// A read failed part way into a record and the bytes the new hints
    /// would search from may be gone; the cutter keeps its hints.
    #[error("the record hints can only change between records, and a failed read left the cutter inside one")]
    HintsMidRecord,
}

#[derive(Debug)]
enum Matcher {
    // Boxed: a finder is a few hundred bytes, an offset is eight.
    Pattern(Box<Finder<'static>>),
    Offset(u64),
}

impl Matcher {
    fn new(hint: RecordHint, empty: CutterConfigError) -> Result<Self, CutterConfigError> {
        match hint {
            RecordHint::Pattern(p) if p.is_empty() => Err(empty),
            RecordHint::Pattern(p) => Ok(Matcher::Pattern(Box::new(Finder::new(&p).into_owned()))),
            RecordHint::Offset(k) => Ok(Matcher::Offset(k)),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    /// Looking for the next record's start. For a pattern, `from` is the first
    /// position where an occurrence may still begin.
    Seek {
        from: u64,
    },
    /// Inside a record whose bytes are being kept; its end pattern may still
    /// begin at `from`.
    Keep {
        start: u64,
        from: u64,
    },
    /// Inside a record known to be oversized; only its end is wanted.
    Skip {
        start: u64,
        from: u64,
    },
    Done,
}

/// Outcome of a search over the bytes read so far.
enum Step {
    Found(u64),
    /// Not in the data yet; the search resumes at this position, and nothing
    /// before it is needed for the search.
    NotYet(u64),
}

/// Cuts records out of a reader; see the module docs for the contract.
pub struct RecordCutter<R> {
    reader: R,
    start: Matcher,
    end: Matcher,
    limits: CutterLimits,
    /// Stream position just after the last cut.
    cursor: u64,
    phase: Phase,
    /// Latest chunk read, frozen so records inside it can be handed out as
    /// slices without copying.
    chunk: Bytes,
    chunk_start: u64,
    /// Bytes from earlier chunks that are still needed (the part of a record
    /// read so far, or the tail where a pattern may straddle into `chunk`).
    /// They immediately precede `chunk` in the stream.
    carry: Vec<u8>,
    eof: bool,
}

impl<R> fmt::Debug for RecordCutter<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RecordCutter")
            .field("start", &self.start)
            .field("end", &self.end)
            .field("limits", &self.limits)
            .field("position", &self.cursor)
            .field("phase", &self.phase)
            .field("chunk_start", &self.chunk_start)
            .field("chunk_len", &self.chunk.len())
            .field("carry_len", &self.carry.len())
            .field("eof", &self.eof)
            .finish_non_exhaustive()
    }
}

impl<R: Read> RecordCutter<R> {
    /// `position` is the stream offset of the reader's first byte (non-zero
    /// when resuming from a checkpoint; the caller has already skipped or
    /// seeked there).
    pub fn new(
        reader: R,
        position: u64,
        start: RecordHint,
        end: RecordHint,
        limits: CutterLimits,
    ) -> Result<Self, CutterConfigError> {
        if limits.read_chunk_bytes == 0 {
            return Err(CutterConfigError::ZeroReadChunk);
        }
        if end == RecordHint::Offset(0) {
            return Err(CutterConfigError::ZeroEndOffset);
        }
        Ok(Self {
            reader,
            start: Matcher::new(start, CutterConfigError::EmptyStartPattern)?,
            end: Matcher::new(end, CutterConfigError::EmptyEndPattern)?,
            limits,
            cursor: position,
            phase: Phase::Seek { from: position },
            chunk: Bytes::new(),
            chunk_start: position,
            carry: Vec::new(),
            eof: false,
        })
    }

    /// Replaces the hints for the records after the cursor, as if a new
    /// cutter started there with them. Hints are checked as by
    /// [`RecordCutter::new`]. Only between records: before the first cut,
    /// after a cut, or once the stream is done (the end is final, so new
    /// hints cut nothing more); after a failed read the cutter may be inside
    /// a record and refuses with [`CutterConfigError::HintsMidRecord`].
    pub fn set_hints(&mut self, start: RecordHint, end: RecordHint) -> Result<(), CutterConfigError> {
        match self.phase {
            Phase::Seek { from } if from == self.cursor => {}
            Phase::Done => {}
            Phase::Seek { .. } | Phase::Keep { .. } | Phase::Skip { .. } => {
                return Err(CutterConfigError::HintsMidRecord);
            }
        }
        if end == RecordHint::Offset(0) {
            return Err(CutterConfigError::ZeroEndOffset);
        }
        let start = Matcher::new(start, CutterConfigError::EmptyStartPattern)?;
        self.end = Matcher::new(end, CutterConfigError::EmptyEndPattern)?;
        self.start = start;
        Ok(())
    }

    /// Stream position just after the last cut returned (the resume point for
    /// a checkpoint); before any cut, the start position.
    pub fn position(&self) -> u64 {
        self.cursor
    }

    /// Next record, or `Ok(None)` at the end of the stream.
    pub fn next_cut(&mut self) -> io::Result<Option<Cut>> {
        loop {
            match self.phase {
                Phase::Done => return Ok(None),
                Phase::Seek { from } => match self.find_start(from) {
                    Step::Found(start) => {
                        let from = match &self.start {
                            Matcher::Pattern(p) => start + p.needle().len() as u64,
                            Matcher::Offset(_) => start,
                        };
                        self.phase = Phase::Keep { start, from };
                    }
                    Step::NotYet(_) if self.eof => self.phase = Phase::Done,
                    Step::NotYet(from) => {
                        self.phase = Phase::Seek { from };
                        self.fill(from)?;
                    }
                },
                Phase::Keep { start, from } => match self.find_end(start, from) {
                    Step::Found(end) => return Ok(Some(self.cut(start, end))),
                    Step::NotYet(from) => {
                        let avail_end = self.avail_end();
                        if self.eof {
                            if avail_end > start {
                                return Ok(Some(self.cut(start, avail_end)));
                            }
                            self.phase = Phase::Done;
                        } else if avail_end - start > self.limits.max_record_bytes as u64 {
                            // Even if the stream ended right here the record
                            // would be too long, so stop keeping its bytes.
                            self.phase = Phase::Skip { start, from };
                            self.fill(from)?;
                        } else {
                            self.phase = Phase::Keep { start, from };
                            self.fill(start)?;
                        }
                    }
                },
                Phase::Skip { start, from } => match self.find_end(start, from) {
                    Step::Found(end) => return Ok(Some(self.cut(start, end))),
                    Step::NotYet(_) if self.eof => {
                        let avail_end = self.avail_end();
                        return Ok(Some(self.cut(start, avail_end)));
                    }
                    Step::NotYet(from) => {
                        self.phase = Phase::Skip { start, from };
                        self.fill(from)?;
                    }
                },
            }
        }
    }

    fn avail_end(&self) -> u64 {
        self.chunk_start + self.chunk.len() as u64
    }

    fn carry_start(&self) -> u64 {
        self.chunk_start - self.carry.len() as u64
    }

    fn find_start(&self, from: u64) -> Step {
        match &self.start {
            Matcher::Pattern(p) => self.find_pattern(p, from),
            Matcher::Offset(k) => {
                // The cursor does not move while seeking, so the target is
                // recomputed rather than stored.
                let start = self.cursor.saturating_add(*k);
                if start < self.avail_end() { Step::Found(start) } else { Step::NotYet(self.avail_end()) }
            }
        }
    }

    fn find_end(&self, start: u64, from: u64) -> Step {
        match &self.end {
            Matcher::Pattern(q) => match self.find_pattern(q, from) {
                Step::Found(at) => Step::Found(at + q.needle().len() as u64),
                not_yet => not_yet,
            },
            Matcher::Offset(n) => {
                let end = start.saturating_add(*n);
                if end <= self.avail_end() { Step::Found(end) } else { Step::NotYet(self.avail_end()) }
            }
        }
    }

    /// Leftmost occurrence of the finder's needle beginning at or after
    /// `from` within `carry` followed by `chunk`.
    fn find_pattern(&self, finder: &Finder<'_>, from: u64) -> Step {
        let m = finder.needle().len();
        let avail_end = self.avail_end();
        // An occurrence not found now must end past the data, so it begins
        // no earlier than the last m - 1 bytes.
        let not_yet = Step::NotYet(from.max(avail_end.saturating_sub(m as u64 - 1)));
        if from < self.chunk_start {
            let carry_start = self.carry_start();
            let head = &self.carry[from.saturating_sub(carry_start) as usize..];
            if let Some(i) = finder.find(head) {
                return Step::Found(from + i as u64);
            }
            // Occurrences straddling into the chunk are found in a small
            // seam so the chunk itself never has to be copied.
            let tail_from = head.len().saturating_sub(m - 1);
            let tail = &head[tail_from..];
            let mut seam = Vec::with_capacity(tail.len() + m - 1);
            seam.extend_from_slice(tail);
            seam.extend_from_slice(&self.chunk[..self.chunk.len().min(m - 1)]);
            if let Some(i) = finder.find(&seam).filter(|&i| i < tail.len()) {
                return Step::Found(from + (tail_from + i) as u64);
            }
        }
        let off = from.saturating_sub(self.chunk_start) as usize;
        match self.chunk.get(off..).and_then(|hay| finder.find(hay)) {
            Some(i) => Step::Found(self.chunk_start + (off + i) as u64),
            None => not_yet,
        }
    }

    /// Returns the record `[start, end)` and moves the cursor past it.
    fn cut(&mut self, start: u64, end: u64) -> Cut {
        debug_assert!(start < end && end <= self.avail_end());
        self.cursor = end;
        self.phase = Phase::Seek { from: end };
        let length = end - start;
        let carry_start = self.carry_start();
        let cut = if length > self.limits.max_record_bytes as u64 {
            Cut::Oversized { offset: start, length }
        } else if start >= self.chunk_start {
            let begin = (start - self.chunk_start) as usize;
            let end = (end - self.chunk_start) as usize;
            Cut::Record { offset: start, bytes: self.chunk.slice(begin..end) }
        } else if end <= self.chunk_start {
            // Only a record shorter than a straddling start pattern (an
            // offset end) can lie wholly in the carry; it is tiny.
            let begin = (start - carry_start) as usize;
            let end = (end - carry_start) as usize;
            Cut::Record { offset: start, bytes: Bytes::copy_from_slice(&self.carry[begin..end]) }
        } else {
            let chunk_end = (end - self.chunk_start) as usize;
            let mut record = mem::take(&mut self.carry);
            // At most a straddling start pattern's lead-in precedes the
            // record in the carry, so this shift is small.
            record.drain(..(start - carry_start) as usize);
            record.reserve_exact(chunk_end);
            record.extend_from_slice(&self.chunk[..chunk_end]);
            Cut::Record { offset: start, bytes: Bytes::from(record) }
        };
        // The next search starts at `end`; nothing before it is needed.
        let consumed = (end.saturating_sub(self.carry_start()) as usize).min(self.carry.len());
        self.carry.drain(..consumed);
        cut
    }

    /// Reads the next chunk, keeping the bytes from `keep_from` on of the
    /// current data. State is left consistent if the read fails.
    fn fill(&mut self, keep_from: u64) -> io::Result<()> {
        debug_assert!(!self.eof);
        let size = self.limits.read_chunk_bytes;
        let mut buf = BytesMut::zeroed(size);
        let mut filled = 0;
        let mut failure = None;
        while filled < size {
            match self.reader.read(&mut buf[filled..]) {
                Ok(0) => {
                    self.eof = true;
                    break;
                }
                Ok(n) => filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    failure = Some(e);
                    break;
                }
            }
        }
        // Retiring only when data arrived keeps a record that ends at the end
        // of the stream a zero-copy slice of the last chunk.
        if filled > 0 {
            buf.truncate(filled);
            self.retire(keep_from);
            self.chunk = buf.freeze();
        }
        match failure {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// Moves the still-needed bytes of the current chunk into the carry.
    fn retire(&mut self, keep_from: u64) {
        let carry_start = self.carry_start();
        let drop = (keep_from.saturating_sub(carry_start) as usize).min(self.carry.len());
        self.carry.drain(..drop);
        let chunk_from = (keep_from.saturating_sub(self.chunk_start) as usize).min(self.chunk.len());
        let kept = &self.chunk[chunk_from..];
        let need = self.carry.len() + kept.len();
        if need > self.carry.capacity() {
            // Grow geometrically for long records, but never past the record
            // limit: a carry that would exceed it is dropped instead.
            let target = need.max((self.carry.capacity() * 2).min(self.limits.max_record_bytes));
            self.carry.reserve_exact(target - self.carry.len());
        }
        self.carry.extend_from_slice(kept);
        self.chunk_start = self.avail_end();
        self.chunk = Bytes::new();
    }
}

impl<R: Read> Iterator for RecordCutter<R> {
    type Item = io::Result<Cut>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_cut().transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn limits(max_record_bytes: usize, read_chunk_bytes: usize) -> CutterLimits {
        CutterLimits { max_record_bytes, read_chunk_bytes }
    }

    fn pat(p: &str) -> RecordHint {
        RecordHint::Pattern(p.as_bytes().to_vec())
    }

    fn cut_all_at(data: &[u8], position: u64, start: &RecordHint, end: &RecordHint, limits: CutterLimits) -> Vec<Cut> {
        RecordCutter::new(data, position, start.clone(), end.clone(), limits)
            .expect("valid config")
            .collect::<io::Result<Vec<_>>>()
            .expect("in-memory reads do not fail")
    }

    fn cut_all(data: &[u8], start: &RecordHint, end: &RecordHint, limits: CutterLimits) -> Vec<Cut> {
        cut_all_at(data, 0, start, end, limits)
    }

    fn rec(offset: u64, bytes: &str) -> Cut {
        Cut::Record { offset, bytes: Bytes::copy_from_slice(bytes.as_bytes()) }
    }

    /// The contract computed naively over the whole buffer.
    fn reference(data: &[u8], position: usize, start: &RecordHint, end: &RecordHint, max: usize) -> Vec<Cut> {
        fn find(data: &[u8], from: usize, p: &[u8]) -> Option<usize> {
            data.get(from..)?.windows(p.len()).position(|w| w == p).map(|i| from + i)
        }
        let mut out = Vec::new();
        let mut c = position;
        loop {
            let (s, search_from) = match start {
                RecordHint::Pattern(p) => match find(data, c, p) {
                    Some(s) => (s, s + p.len()),
                    None => break,
                },
                RecordHint::Offset(k) => {
                    let s = c + *k as usize;
                    if s >= data.len() {
                        break;
                    }
                    (s, s)
                }
            };
            let e = match end {
                RecordHint::Pattern(q) => find(data, search_from, q).map_or(data.len(), |i| i + q.len()),
                RecordHint::Offset(n) => (s + *n as usize).min(data.len()),
            };
            out.push(if e - s > max {
                Cut::Oversized { offset: s as u64, length: (e - s) as u64 }
            } else {
                Cut::Record { offset: s as u64, bytes: Bytes::copy_from_slice(&data[s..e]) }
            });
            c = e;
        }
        out
    }

    /// Returns short reads following `schedule`; a 0 entry yields one
    /// `Interrupted` error before the next read.
    struct ChoppyReader<'a> {
        data: &'a [u8],
        schedule: Vec<usize>,
        step: usize,
        interrupted: bool,
    }

    impl<'a> ChoppyReader<'a> {
        fn new(data: &'a [u8], schedule: Vec<usize>) -> Self {
            Self { data, schedule, step: 0, interrupted: false }
        }
    }

    impl Read for ChoppyReader<'_> {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let want = self.schedule[self.step % self.schedule.len()];
            if want == 0 && !self.interrupted {
                self.interrupted = true;
                return Err(io::ErrorKind::Interrupted.into());
            }
            self.interrupted = false;
            self.step += 1;
            let n = want.max(1).min(buf.len()).min(self.data.len());
            buf[..n].copy_from_slice(&self.data[..n]);
            self.data = &self.data[n..];
            Ok(n)
        }
    }

    /// Cuts with positions: each cut paired with `position()` after it.
    fn cut_choppy(
        data: &[u8],
        position: u64,
        schedule: Vec<usize>,
        start: &RecordHint,
        end: &RecordHint,
        limits: CutterLimits,
    ) -> Vec<(Cut, u64)> {
        let reader = ChoppyReader::new(data, schedule);
        let mut cutter = RecordCutter::new(reader, position, start.clone(), end.clone(), limits).expect("valid config");
        assert_eq!(cutter.position(), position);
        let mut out = Vec::new();
        while let Some(cut) = cutter.next_cut().expect("choppy reads do not fail") {
            out.push((cut, cutter.position()));
        }
        out
    }

    #[test]
    fn json_lines_with_trailing_newline() {
        let data = b"{\"a\":1}\n{\"b\":2}\n\n{}\n";
        let cuts = cut_all(data, &RecordHint::Offset(0), &pat("\n"), CutterLimits::default());
        assert_eq!(cuts, vec![rec(0, "{\"a\":1}\n"), rec(8, "{\"b\":2}\n"), rec(16, "\n"), rec(17, "{}\n")]);
    }

    #[test]
    fn json_lines_without_trailing_newline() {
        let data = b"{\"a\":1}\n{\"b\":2}";
        let mut cutter = RecordCutter::new(&data[..], 0, RecordHint::Offset(0), pat("\n"), CutterLimits::default())
            .expect("valid config");
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(0, "{\"a\":1}\n")));
        assert_eq!(cutter.position(), 8);
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(8, "{\"b\":2}")));
        assert_eq!(cutter.position(), 15);
        assert_eq!(cutter.next_cut().expect("read"), None);
        assert_eq!(cutter.next_cut().expect("read"), None);
        assert_eq!(cutter.position(), 15);
    }

    #[test]
    fn empty_stream_yields_nothing() {
        for start in [RecordHint::Offset(0), pat("<")] {
            for end in [pat("\n"), RecordHint::Offset(4)] {
                let mut cutter =
                    RecordCutter::new(&b""[..], 7, start.clone(), end, CutterLimits::default()).expect("valid config");
                assert_eq!(cutter.position(), 7);
                assert_eq!(cutter.next_cut().expect("read"), None);
                assert_eq!(cutter.position(), 7);
            }
        }
    }

    #[test]
    fn start_pattern_skips_garbage_before_and_after_records() {
        let data = b"junk<r>1</r>noise<r>2</r>tail<r";
        let cuts = cut_all(data, &pat("<r>"), &pat("</r>"), CutterLimits::default());
        assert_eq!(cuts, vec![rec(4, "<r>1</r>"), rec(17, "<r>2</r>")]);

        let mut cutter =
            RecordCutter::new(&data[..], 0, pat("<r>"), pat("</r>"), CutterLimits::default()).expect("valid config");
        while cutter.next_cut().expect("read").is_some() {}
        // Trailing bytes are skipped without moving the resume point.
        assert_eq!(cutter.position(), 25);
    }

    #[test]
    fn end_pattern_search_starts_after_the_start_pattern() {
        // The start pattern contains the end pattern; it must not end the
        // record at once.
        let data = b"xx\nrec\nyy";
        let cuts = cut_all(data, &pat("x\n"), &pat("\n"), CutterLimits::default());
        assert_eq!(cuts, vec![rec(1, "x\nrec\n")]);
    }

    #[test]
    fn warc_like_records() {
        let r1 = "WARC-Type: conversion\r\nWARC-Target-URI: a\r\n\r\nbody one\n\r\n\r\n";
        let r2 = "WARC-Type: conversion\r\nWARC-Target-URI: b\r\n\r\nbody two\n\r\n\r\n";
        let data = format!("WARC/1.0\r\nWARC-Type: warcinfo\r\n\r\ninfo\n\r\n\r\nWARC/1.0\r\n{r1}WARC/1.0\r\n{r2}");
        let first = data.find(r1).expect("r1 present") as u64;
        let second = data.find(r2).expect("r2 present") as u64;
        let expected = vec![rec(first, r1), rec(second, r2)];
        for chunk in [1, 5, 16, 1 << 20] {
            let cuts =
                cut_all(data.as_bytes(), &pat("WARC-Type: conversion"), &pat("\n\r\n\r\n"), limits(1 << 20, chunk));
            assert_eq!(cuts, expected, "chunk {chunk}");
        }
    }

    #[test]
    fn offset_start_zero_with_pattern_end() {
        let data = b"a;bb;;ccc";
        let cuts = cut_all(data, &RecordHint::Offset(0), &pat(";"), CutterLimits::default());
        assert_eq!(cuts, vec![rec(0, "a;"), rec(2, "bb;"), rec(5, ";"), rec(6, "ccc")]);
    }

    #[test]
    fn offset_start_skips_bytes_before_each_record() {
        let data = b"##a;##bb;#";
        let cuts = cut_all(data, &RecordHint::Offset(2), &pat(";"), CutterLimits::default());
        // After "bb;" only one byte is left, so the stream ends before the
        // next start.
        assert_eq!(cuts, vec![rec(2, "a;"), rec(6, "bb;")]);
        let cuts = cut_all(b"##a;##", &RecordHint::Offset(2), &pat(";"), CutterLimits::default());
        assert_eq!(cuts, vec![rec(2, "a;")]);
    }

    #[test]
    fn fixed_size_records_with_short_final_record() {
        let data = b"aaaabbbbccccdd";
        for chunk in [1, 3, 4, 64] {
            let cuts = cut_all(data, &RecordHint::Offset(0), &RecordHint::Offset(4), limits(1024, chunk));
            assert_eq!(cuts, vec![rec(0, "aaaa"), rec(4, "bbbb"), rec(8, "cccc"), rec(12, "dd")], "chunk {chunk}");
        }
        let cuts = cut_all(b"aaaabbbb", &RecordHint::Offset(0), &RecordHint::Offset(4), limits(1024, 3));
        assert_eq!(cuts, vec![rec(0, "aaaa"), rec(4, "bbbb")]);
    }

    #[test]
    fn resume_from_record_boundary_matches_full_run() {
        let data = b"pre<r>one</r>gap<r>two</r><r>three</r>x<r>four";
        let (start, end) = (pat("<r>"), pat("</r>"));
        let mut full =
            RecordCutter::new(&data[..], 0, start.clone(), end.clone(), limits(1024, 5)).expect("valid config");
        let mut boundaries = vec![(0, 0)];
        let mut cuts = Vec::new();
        while let Some(cut) = full.next_cut().expect("read") {
            cuts.push(cut);
            boundaries.push((cuts.len(), full.position()));
        }
        assert_eq!(cuts.len(), 4);
        for (done, position) in boundaries {
            let tail = &data[position as usize..];
            let resumed = cut_all_at(tail, position, &start, &end, limits(1024, 5));
            assert_eq!(resumed, cuts[done..], "resume at {position}");
        }
    }

    #[test]
    fn oversized_record_in_the_middle_is_skipped() {
        let big = "x".repeat(100);
        let data = format!("a\n{big}\nb\ncc\n");
        for chunk in [1, 7, 32, 1024] {
            let cuts = cut_all(data.as_bytes(), &RecordHint::Offset(0), &pat("\n"), limits(10, chunk));
            assert_eq!(
                cuts,
                vec![rec(0, "a\n"), Cut::Oversized { offset: 2, length: 101 }, rec(103, "b\n"), rec(105, "cc\n"),],
                "chunk {chunk}"
            );
        }
        // An oversized final record without its end pattern.
        let cuts = cut_all(format!("a\n{big}").as_bytes(), &RecordHint::Offset(0), &pat("\n"), limits(10, 8));
        assert_eq!(cuts, vec![rec(0, "a\n"), Cut::Oversized { offset: 2, length: 100 }]);
        // Fixed-size records longer than the limit.
        let cuts = cut_all(big.as_bytes(), &RecordHint::Offset(0), &RecordHint::Offset(40), limits(30, 8));
        assert_eq!(
            cuts,
            vec![
                Cut::Oversized { offset: 0, length: 40 },
                Cut::Oversized { offset: 40, length: 40 },
                rec(80, &big[80..]),
            ]
        );
    }

    #[test]
    fn record_exactly_at_the_limit_is_kept() {
        // The unterminated final record is exactly max_record_bytes long:
        // the cutter must not give up on it before seeing the end of the
        // stream.
        for chunk in [1, 2, 3, 4, 5, 9] {
            let cuts = cut_all(b"abcd\n12345", &RecordHint::Offset(0), &pat("\n"), limits(5, chunk));
            assert_eq!(cuts, vec![rec(0, "abcd\n"), rec(5, "12345")], "chunk {chunk}");
            let cuts = cut_all(b"123456", &RecordHint::Offset(0), &RecordHint::Offset(9), limits(6, chunk));
            assert_eq!(cuts, vec![rec(0, "123456")], "chunk {chunk}");
        }
    }

    #[test]
    fn pattern_split_across_tiny_chunks() {
        let data = b"--BEGIN--alpha--END----BEGIN--beta--END--";
        let expected = vec![rec(0, "--BEGIN--alpha--END--"), rec(21, "--BEGIN--beta--END--")];
        for chunk in [1, 2, 3] {
            let cuts = cut_all(data, &pat("--BEGIN--"), &pat("--END--"), limits(1024, chunk));
            assert_eq!(cuts, expected, "chunk {chunk}");
        }
        let expected = vec![rec(0, "ab\r\n"), rec(4, "\r\n"), rec(6, "c\r\n")];
        for chunk in [1, 2, 3] {
            let cuts = cut_all(b"ab\r\n\r\nc\r\n", &RecordHint::Offset(0), &pat("\r\n"), limits(1024, chunk));
            assert_eq!(cuts, expected, "chunk {chunk}");
        }
    }

    #[test]
    fn record_shorter_than_a_straddling_start_pattern() {
        // With chunks of 1 to 4 bytes the start pattern straddles a chunk
        // boundary and the whole record lies in the carried-over bytes.
        for chunk in 1..=5 {
            let cuts = cut_all(b"xx<abc>yy<abc>", &pat("<abc>"), &RecordHint::Offset(2), limits(1024, chunk));
            assert_eq!(cuts, vec![rec(2, "<a"), rec(9, "<a")], "chunk {chunk}");
        }
    }

    #[test]
    fn records_inside_one_chunk_are_zero_copy_slices() {
        let data = b"one\ntwo\nthree\n";
        let cuts = cut_all(data, &RecordHint::Offset(0), &pat("\n"), CutterLimits::default());
        let slices: Vec<&Bytes> = cuts
            .iter()
            .map(|cut| match cut {
                Cut::Record { bytes, .. } => bytes,
                Cut::Oversized { .. } => panic!("unexpected oversized cut"),
            })
            .collect();
        for pair in slices.windows(2) {
            assert_eq!(pair[0].as_ptr().wrapping_add(pair[0].len()), pair[1].as_ptr());
        }
    }

    #[test]
    fn iterator_matches_next_cut() {
        let data = b"a\nb\nc";
        let cutter = RecordCutter::new(&data[..], 0, RecordHint::Offset(0), pat("\n"), CutterLimits::default())
            .expect("valid config");
        let ends: Vec<u64> = cutter.map(|cut| cut.expect("read").end()).collect();
        assert_eq!(ends, vec![2, 4, 5]);
    }

    /// Length-prefixed records: a 2-digit length, then that many bytes.
    /// Each record's hints come from the record before, as a state machine
    /// reader's do.
    #[test]
    fn hints_change_between_records() {
        let data = b"03abc00\n02de";
        for chunk in 1..=13 {
            let mut cutter =
                RecordCutter::new(&data[..], 0, RecordHint::Offset(0), RecordHint::Offset(2), limits(1024, chunk))
                    .expect("valid config");
            let mut cuts = Vec::new();
            while let Some(cut) = cutter.next_cut().expect("read") {
                let next_end = match &cut {
                    // A length: the body is that long, or up to the next
                    // newline when the length is 0.
                    Cut::Record { bytes, .. } if bytes.len() == 2 && bytes[0].is_ascii_digit() => {
                        match std::str::from_utf8(bytes).expect("digits").parse::<u64>().expect("a length") {
                            0 => pat("\n"),
                            length => RecordHint::Offset(length),
                        }
                    }
                    _ => RecordHint::Offset(2),
                };
                cutter.set_hints(RecordHint::Offset(0), next_end).expect("between records");
                cuts.push(cut);
            }
            assert_eq!(
                cuts,
                vec![rec(0, "03"), rec(2, "abc"), rec(5, "00"), rec(7, "\n"), rec(8, "02"), rec(10, "de")],
                "chunk {chunk}"
            );
            // The end is final.
            cutter.set_hints(RecordHint::Offset(0), RecordHint::Offset(1)).expect("done");
            assert_eq!(cutter.next_cut().expect("read"), None);
        }
    }

    #[test]
    fn unusable_or_mid_record_hint_changes_are_refused_and_change_nothing() {
        let mut cutter = RecordCutter::new(&b"a\nb\nc\n"[..], 0, RecordHint::Offset(0), pat("\n"), limits(1024, 1))
            .expect("valid config");
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(0, "a\n")));
        assert_eq!(
            cutter.set_hints(RecordHint::Pattern(Vec::new()), RecordHint::Offset(1)),
            Err(CutterConfigError::EmptyStartPattern)
        );
        assert_eq!(
            cutter.set_hints(RecordHint::Offset(0), RecordHint::Offset(0)),
            Err(CutterConfigError::ZeroEndOffset)
        );
        assert_eq!(
            cutter.set_hints(RecordHint::Offset(0), RecordHint::Pattern(Vec::new())),
            Err(CutterConfigError::EmptyEndPattern)
        );
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(2, "b\n")));

        // A read that fails inside a record leaves the cutter there.
        let reader = FailingOnce {
            first: io::Cursor::new(b"ok\npart".to_vec()),
            failed: false,
            rest: io::Cursor::new(b"ial\nnext\n".to_vec()),
        };
        let mut cutter =
            RecordCutter::new(reader, 0, RecordHint::Offset(0), pat("\n"), limits(1024, 4)).expect("valid config");
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(0, "ok\n")));
        cutter.next_cut().expect_err("the reader fails");
        assert_eq!(
            cutter.set_hints(RecordHint::Offset(0), RecordHint::Offset(1)),
            Err(CutterConfigError::HintsMidRecord)
        );
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(3, "partial\n")));
        cutter.set_hints(RecordHint::Offset(0), RecordHint::Offset(1)).expect("between records again");
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(11, "n")));

        // So does one that fails while a start pattern is being searched
        // for: the bytes searched already are gone.
        let reader = FailingOnce {
            first: io::Cursor::new(b"skipped ".to_vec()),
            failed: false,
            rest: io::Cursor::new(b"<r>x".to_vec()),
        };
        let mut cutter =
            RecordCutter::new(reader, 0, pat("<r>"), RecordHint::Offset(2), limits(1024, 8)).expect("valid config");
        cutter.next_cut().expect_err("the reader fails");
        assert_eq!(
            cutter.set_hints(RecordHint::Offset(0), RecordHint::Offset(1)),
            Err(CutterConfigError::HintsMidRecord)
        );
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(8, "<r")));
    }

    #[test]
    fn invalid_config_is_rejected() {
        let new = |start: RecordHint, end: RecordHint, limits: CutterLimits| {
            RecordCutter::new(&b""[..], 0, start, end, limits).map(|_| ())
        };
        let ok = CutterLimits::default();
        assert_eq!(new(RecordHint::Pattern(Vec::new()), pat("\n"), ok), Err(CutterConfigError::EmptyStartPattern));
        assert_eq!(
            new(RecordHint::Offset(0), RecordHint::Pattern(Vec::new()), ok),
            Err(CutterConfigError::EmptyEndPattern)
        );
        assert_eq!(new(RecordHint::Offset(0), RecordHint::Offset(0), ok), Err(CutterConfigError::ZeroEndOffset));
        assert_eq!(new(RecordHint::Offset(0), pat("\n"), limits(10, 0)), Err(CutterConfigError::ZeroReadChunk));
        assert_eq!(new(RecordHint::Offset(0), pat("\n"), ok), Ok(()));
    }

    /// Yields `first`, fails once, then yields `rest`.
    struct FailingOnce {
        first: io::Cursor<Vec<u8>>,
        failed: bool,
        rest: io::Cursor<Vec<u8>>,
    }

    impl Read for FailingOnce {
        fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
            let n = self.first.read(buf)?;
            if n > 0 {
                return Ok(n);
            }
            if !self.failed {
                self.failed = true;
                return Err(io::Error::other("disk on fire"));
            }
            self.rest.read(buf)
        }
    }

    #[test]
    fn read_error_mid_record_is_retryable_and_memory_stays_bounded() {
        let mut first = b"ok\n".to_vec();
        first.extend(std::iter::repeat_n(b'x', 100_000));
        let reader =
            FailingOnce { first: io::Cursor::new(first), failed: false, rest: io::Cursor::new(b"xx\nnext\n".to_vec()) };
        let max = 1000;
        let chunk = 256;
        let mut cutter =
            RecordCutter::new(reader, 0, RecordHint::Offset(0), pat("\n"), limits(max, chunk)).expect("valid config");
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(0, "ok\n")));
        let err = cutter.next_cut().expect_err("the reader fails");
        assert_eq!(err.to_string(), "disk on fire");
        assert!(cutter.carry.capacity() <= max, "carry {}", cutter.carry.capacity());
        assert!(cutter.chunk.len() <= chunk);
        assert_eq!(cutter.position(), 3);
        assert_eq!(cutter.next_cut().expect("read"), Some(Cut::Oversized { offset: 3, length: 100_003 }));
        assert_eq!(cutter.next_cut().expect("read"), Some(rec(100_006, "next\n")));
        assert_eq!(cutter.next_cut().expect("read"), None);
    }

    const ALPHABET: &[u8] = b"ab\r\n";

    fn hint(
        alphabet: &'static [u8],
        max_pattern: usize,
        max_offset: u64,
        min_offset: u64,
    ) -> impl Strategy<Value = RecordHint> {
        prop_oneof![
            prop::collection::vec(prop::sample::select(alphabet), 1..=max_pattern).prop_map(RecordHint::Pattern),
            (min_offset..=max_offset).prop_map(RecordHint::Offset),
        ]
    }

    fn schedule() -> impl Strategy<Value = Vec<usize>> {
        prop::collection::vec(0usize..=9, 1..12)
    }

    fn assert_consistent(data: &[u8], position: u64, cuts: &[(Cut, u64)]) {
        let mut previous_end = position;
        for (cut, after) in cuts {
            assert!(cut.offset() >= previous_end);
            assert_eq!(cut.end(), *after);
            if let Cut::Record { offset, bytes } = cut {
                let at = *offset as usize;
                assert_eq!(&data[at..at + bytes.len()], &bytes[..]);
            }
            previous_end = *after;
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(512))]

        #[test]
        fn delimited_records_round_trip(
            records in prop::collection::vec(prop::collection::vec(prop::sample::select(b"abx\r\n".as_slice()), 0..12), 0..12),
            delim in prop::collection::vec(prop::sample::select(b"ab\r\n".as_slice()), 1..=4),
            trailing in any::<bool>(),
            chunk in 1usize..64,
            schedule in schedule(),
        ) {
            // Make every record end at its own delimiter: where a record would
            // let the delimiter occur early (inside it, or overlapping into
            // the delimiter as "a" + "aa" does), blank out its delimiter bytes.
            let records: Vec<Vec<u8>> = records
                .into_iter()
                .filter(|r| !r.is_empty())
                .map(|r| {
                    let mut whole = r.clone();
                    whole.extend_from_slice(&delim);
                    let first = whole.windows(delim.len()).position(|w| w == delim.as_slice());
                    if first == Some(r.len()) {
                        r
                    } else {
                        r.iter().map(|b| if delim.contains(b) { b'x' } else { *b }).collect()
                    }
                })
                .collect();
            let mut data = Vec::new();
            let mut expected = Vec::new();
            for (i, r) in records.iter().enumerate() {
                let offset = data.len() as u64;
                data.extend_from_slice(r);
                if trailing || i + 1 < records.len() {
                    data.extend_from_slice(&delim);
                }
                expected.push(Cut::Record { offset, bytes: Bytes::copy_from_slice(&data[offset as usize..]) });
            }
            let cuts = cut_choppy(&data, 0, schedule, &RecordHint::Offset(0), &RecordHint::Pattern(delim), limits(1 << 20, chunk));
            assert_consistent(&data, 0, &cuts);
            let concatenated: Vec<u8> = cuts
                .iter()
                .flat_map(|(cut, _)| match cut {
                    Cut::Record { bytes, .. } => bytes.to_vec(),
                    Cut::Oversized { .. } => Vec::new(),
                })
                .collect();
            prop_assert_eq!(&concatenated, &data);
            let cuts: Vec<Cut> = cuts.into_iter().map(|(cut, _)| cut).collect();
            prop_assert_eq!(cuts, expected);
        }

        #[test]
        fn matches_reference_on_random_streams(
            data in prop::collection::vec(prop::sample::select(ALPHABET), 0..300),
            start in hint(ALPHABET, 3, 4, 0),
            end in hint(ALPHABET, 4, 10, 1),
            max in prop_oneof![0usize..40, Just(usize::MAX)],
            chunk in 1usize..64,
            schedule in schedule(),
        ) {
            let cuts = cut_choppy(&data, 0, schedule, &start, &end, limits(max, chunk));
            assert_consistent(&data, 0, &cuts);
            let cuts: Vec<Cut> = cuts.into_iter().map(|(cut, _)| cut).collect();
            prop_assert_eq!(cuts, reference(&data, 0, &start, &end, max));
        }

        #[test]
        fn resume_from_every_position_matches_full_run(
            data in prop::collection::vec(prop::sample::select(ALPHABET), 0..200),
            start in hint(ALPHABET, 3, 3, 0),
            end in hint(ALPHABET, 3, 8, 1),
            max in prop_oneof![0usize..30, Just(usize::MAX)],
            chunk in 1usize..64,
            schedule in schedule(),
        ) {
            let full = cut_choppy(&data, 0, schedule.clone(), &start, &end, limits(max, chunk));
            let positions = std::iter::once(0).chain(full.iter().map(|(_, p)| *p));
            for (done, position) in positions.enumerate() {
                let tail = &data[position as usize..];
                let resumed = cut_choppy(tail, position, schedule.clone(), &start, &end, limits(max, chunk));
                assert_consistent(&data, position, &resumed);
                prop_assert_eq!(&resumed[..], &full[done..], "resume at {}", position);
                let reference_tail: Vec<Cut> = resumed.into_iter().map(|(cut, _)| cut).collect();
                prop_assert_eq!(reference_tail, reference(&data, position as usize, &start, &end, max));
            }
        }

        #[test]
        fn changing_hints_at_every_record_cuts_as_a_fresh_cutter_would(
            data in prop::collection::vec(prop::sample::select(ALPHABET), 0..200),
            hints in prop::collection::vec((hint(ALPHABET, 3, 3, 0), hint(ALPHABET, 3, 8, 1)), 1..6),
            max in prop_oneof![0usize..30, Just(usize::MAX)],
            chunk in 1usize..64,
            schedule in schedule(),
        ) {
            let (start, end) = hints[0].clone();
            let reader = ChoppyReader::new(&data, schedule);
            let mut cutter = RecordCutter::new(reader, 0, start.clone(), end.clone(), limits(max, chunk))
                .expect("valid config");
            let mut expected = reference(&data, 0, &start, &end, max).into_iter().next();
            for step in 1.. {
                let cut = cutter.next_cut().expect("choppy reads do not fail");
                prop_assert_eq!(&cut, &expected, "step {}", step);
                let Some(cut) = cut else { break };
                prop_assert_eq!(cutter.position(), cut.end());
                let (start, end) = hints[step % hints.len()].clone();
                cutter.set_hints(start.clone(), end.clone()).expect("between records");
                expected = reference(&data, cut.end() as usize, &start, &end, max).into_iter().next();
            }
        }
    }
}
