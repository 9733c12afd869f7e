//! The durable change log of a change-tracking task (issue 5).
//!
//! A subscription's capture appends every change, already encoded, to this log; the Kafka endpoint serves it
//! to stock consumers as a one-partition topic, by offset and by timestamp. The design follows Kafka's own
//! log because consumers expect Kafka's semantics (dense offsets that are never reused, ListOffsets by
//! time, OFFSET_OUT_OF_RANGE below the retention horizon):
//!
//! * **Segments.** The log is a directory of segment files named by the offset of their first record
//!   (`00000000000000000000.log`). Appends go to the last ("active") segment, which rolls over once it would
//!   pass [`LogOptions::segment_bytes`]. Retention deletes whole old segments, so it never rewrites data.
//!   Because the name carries the base offset, an empty active segment still says where the log ends and
//!   offsets survive even when every record has expired.
//! * **Frames.** Each record is one length-prefixed, CRC-checked frame holding its offset, timestamp, key,
//!   value and source position (see the `format` module for the layout).
//! * **Indexes.** A sparse index per segment (one entry every 4 KiB: offset, file position, largest
//!   timestamp so far) serves both lookups by offset and by time. It is kept in memory only and rebuilt by
//!   scanning the segments at [`ChangeLog::open`]; the scan also verifies every CRC.
//!
//! # Crash safety
//!
//! * An [`ChangeLog::append`] call writes its whole batch with one positioned write into one segment (a
//!   batch never spans segments), fsyncs it under [`SyncPolicy::EveryAppend`], and only then publishes the
//!   new end to readers. Readers never read past the published end, so they see a batch entirely or not
//!   at all, and under `EveryAppend` they never see a record that a crash could take back.
//! * The last frame of each batch carries a "batch end" flag. [`ChangeLog::open`] scans the active
//!   segment and cuts it back to the end of the last whole batch whose frames all verify: a write torn at
//!   any byte, a zero-filled or garbage tail, or a flipped bit is removed, and so is the front of a batch
//!   whose end did not make it. What is cut was never acknowledged (append had not returned), and never
//!   published, so no offset a reader saw is reused for a different record.
//! * A roll fsyncs the finished segment and the directory before the next segment receives data, whatever
//!   the sync policy, so only the last segment can ever have a torn tail. Damage anywhere else is
//!   reported as [`LogError::Corrupt`] instead of being cut, because cutting would lose acknowledged data.
//! * Each record carries the source position after it; [`ChangeLog::last_source_position`] is that of the
//!   last record that survived recovery, so capture resumes exactly after it: the log is its own
//!   checkpoint and there is no second file that could disagree with it.
//!
//! # Concurrency
//!
//! One writer, any number of readers. [`ChangeLog`] is the writer (`append` and `enforce_retention` take
//! `&mut self`, so the type system enforces a single writer per handle); [`ChangeLog::reader`] hands out
//! [`LogReader`]s (`Clone + Send + Sync`) for other threads, e.g. the Kafka endpoint's fetch handlers. The
//! shared state (segment list, committed sizes, indexes) sits behind an `RwLock` held only to publish or to
//! take a snapshot; file reads and writes (and the fsync) happen outside it with positioned I/O, so a reader
//! never waits for an fsync. Opening the same directory twice (two writers) is not detected: the engine
//! must own one `ChangeLog` per subscription.
//!
//! # Timestamps
//!
//! Timestamps need not be monotonic (sources commit out of order across transactions, clocks step).
//! [`LogReader::offset_for_time`] returns the first offset, in log order, whose own timestamp is `>=` the
//! target (Kafka's ListOffsets), so a later record with a smaller timestamp is still delivered to a
//! consumer that starts there. Retention judges a segment by its largest timestamp, as Kafka does.

mod error;
mod format;

pub use error::LogError;
pub use format::MAX_FRAME_BYTES;

use format::{RegionReader, Step};
use std::fs::{File, OpenOptions};
use std::ops::Range;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock, RwLockReadGuard, RwLockWriteGuard};

/// One change to append: what the capture hands over.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
    /// The source position just after this change (binlog file:pos / GTID set, LSN...), opaque to the log.
    pub source_position: Vec<u8>,
}

/// One record as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredRecord {
    pub offset: u64,
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Vec<u8>,
}

/// When the writer fsyncs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncPolicy {
    /// fsync after each `append` call, before it returns and before readers see the batch: an
    /// acknowledged batch survives a machine crash.
    EveryAppend,
    /// Never fsync appends (segments are still fsynced when they roll). Survives a process kill (the page
    /// cache keeps the data) but a machine crash may lose the tail, and since readers already saw it, its
    /// offsets would be reused. For tests and benchmarks.
    Never,
}

/// How a log is kept.
#[derive(Debug, Clone)]
pub struct LogOptions {
    /// A segment rolls once the next batch would take it past this size (a batch bigger than this still
    /// goes whole into one fresh segment). Default 64 MiB.
    pub segment_bytes: u64,
    /// Segments whose largest timestamp is older than `now - retention_ms` are deleted by
    /// [`ChangeLog::enforce_retention`]. `None` keeps everything.
    pub retention_ms: Option<i64>,
    pub sync: SyncPolicy,
}

impl Default for LogOptions {
    fn default() -> Self {
        LogOptions {
            segment_bytes: 64 * 1024 * 1024,
            retention_ms: None,
            sync: SyncPolicy::EveryAppend,
        }
    }
}

/// Bytes between two sparse index entries: a lookup scans at most about this much.
const INDEX_INTERVAL: u64 = 4096;
/// Read size when scanning segments at open.
const SCAN_CHUNK: usize = 1 << 20;

#[derive(Debug, Clone, Copy)]
struct IndexEntry {
    offset: u64,
    position: u64,
    /// Largest timestamp of the segment's records up to and including `offset`: monotonic even when
    /// timestamps are not, which makes lookups by time a binary search.
    max_ts: i64,
}

/// Adds an index entry for the record at `position` if the previous entry is far enough behind.
fn note_index(
    index: &mut Vec<IndexEntry>,
    last_pos: &mut Option<u64>,
    offset: u64,
    position: u64,
    max_ts: i64,
) {
    if last_pos.is_none_or(|p| position - p >= INDEX_INTERVAL) {
        index.push(IndexEntry {
            offset,
            position,
            max_ts,
        });
        *last_pos = Some(position);
    }
}

/// A segment as readers see it: only its committed bytes.
#[derive(Debug)]
struct Segment {
    base_offset: u64,
    path: PathBuf,
    /// Shared with the writer (positioned I/O needs no seek state). An open handle keeps a segment
    /// readable by a reader that snapshotted it even if retention unlinks it meanwhile.
    file: Arc<File>,
    /// Committed bytes: readers never read past this.
    size: u64,
    /// One past the last committed offset.
    next_offset: u64,
    index: Vec<IndexEntry>,
    first_ts: Option<i64>,
    max_ts: Option<i64>,
}

impl Segment {
    fn is_empty(&self) -> bool {
        self.next_offset == self.base_offset
    }

    /// File position to start scanning from for `offset`.
    fn position_for_offset(&self, offset: u64) -> u64 {
        let i = self.index.partition_point(|e| e.offset <= offset);
        if i == 0 {
            0
        } else {
            self.index[i - 1].position
        }
    }

    /// File position to start scanning from for the first record with timestamp >= `t`: the last entry
    /// whose running maximum is below `t` (every record up to it is below `t`).
    fn position_for_time(&self, t: i64) -> u64 {
        let i = self.index.partition_point(|e| e.max_ts < t);
        if i == 0 {
            0
        } else {
            self.index[i - 1].position
        }
    }
}

#[derive(Debug)]
struct State {
    /// Ordered by base offset, contiguous, never empty; the last one is the active segment.
    segments: Vec<Segment>,
    last_source_position: Option<Vec<u8>>,
}

impl State {
    fn begin(&self) -> u64 {
        self.segments.first().map_or(0, |s| s.base_offset)
    }
    fn end(&self) -> u64 {
        self.segments.last().map_or(0, |s| s.next_offset)
    }
}

#[derive(Debug)]
struct Shared {
    state: RwLock<State>,
}

impl Shared {
    // A panic while holding the lock cannot leave State half-updated in a way readers could misread (every
    // update is a few field stores after all I/O succeeded), so a poisoned lock is simply taken over.
    fn read(&self) -> RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(PoisonError::into_inner)
    }
    fn write(&self) -> RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The committed part of one segment, taken under the lock and read without it.
struct Slice {
    file: Arc<File>,
    path: PathBuf,
    base_offset: u64,
    start: u64,
    end: u64,
}

/// A read-only handle on a [`ChangeLog`], for other threads. Sees a prefix of the log that only grows at
/// the end (and shrinks at the front with retention), always ending on a batch boundary.
#[derive(Debug, Clone)]
pub struct LogReader {
    shared: Arc<Shared>,
}

impl LogReader {
    /// First offset held (records below it were dropped by retention).
    pub fn begin_offset(&self) -> u64 {
        self.shared.read().begin()
    }

    /// One past the last offset held: the offset the next record will get.
    pub fn end_offset(&self) -> u64 {
        self.shared.read().end()
    }

    /// Timestamp of the first record held.
    pub fn begin_timestamp(&self) -> Option<i64> {
        self.shared.read().segments.iter().find_map(|s| s.first_ts)
    }

    /// Largest timestamp held (the last record's when timestamps are monotonic).
    pub fn end_timestamp(&self) -> Option<i64> {
        self.shared
            .read()
            .segments
            .iter()
            .filter_map(|s| s.max_ts)
            .max()
    }

    /// Source position of the last record held: capture resumes just after it.
    pub fn last_source_position(&self) -> Option<Vec<u8>> {
        self.shared.read().last_source_position.clone()
    }

    /// Records from `from` on, stopping before the encoded frames would exceed `max_bytes`, but always at
    /// least one record when there is one (as Kafka's Fetch does, so a big record cannot stall a
    /// consumer). `from == end_offset()` gives an empty list; below `begin_offset()` or past the end gives
    /// [`LogError::OffsetOutOfRange`].
    pub fn read(&self, from: u64, max_bytes: usize) -> Result<Vec<StoredRecord>, LogError> {
        let slices = {
            let st = self.shared.read();
            let (begin, end) = (st.begin(), st.end());
            if from < begin || from > end {
                return Err(LogError::OffsetOutOfRange {
                    offset: from,
                    begin,
                    end,
                });
            }
            if from == end {
                return Ok(Vec::new());
            }
            let first = st
                .segments
                .partition_point(|s| s.base_offset <= from)
                .saturating_sub(1);
            st.segments[first..]
                .iter()
                .enumerate()
                .filter(|(_, s)| !s.is_empty())
                .map(|(i, s)| Slice {
                    file: Arc::clone(&s.file),
                    path: s.path.clone(),
                    base_offset: s.base_offset,
                    start: if i == 0 {
                        s.position_for_offset(from)
                    } else {
                        0
                    },
                    end: s.size,
                })
                .collect::<Vec<_>>()
        };
        let chunk = max_bytes
            .saturating_add(INDEX_INTERVAL as usize)
            .clamp(64 * 1024, 4 << 20);
        let mut out = Vec::new();
        let mut bytes = 0usize;
        for slice in &slices {
            let mut rr = RegionReader::new(&slice.file, slice.start, slice.end, chunk);
            let mut expected = (slice.start == 0).then_some(slice.base_offset);
            loop {
                match rr.next().map_err(|e| read_error(&slice.path, e))? {
                    Step::End => break,
                    Step::Bad(position, why) => return Err(corrupt(&slice.path, position, why)),
                    Step::Frame(position, f) => {
                        if expected.is_some_and(|x| x != f.offset) {
                            return Err(corrupt(&slice.path, position, "offset out of sequence"));
                        }
                        expected = Some(f.offset + 1);
                        if f.offset < from {
                            continue;
                        }
                        if !out.is_empty() && bytes + f.len > max_bytes {
                            return Ok(out);
                        }
                        bytes += f.len;
                        out.push(StoredRecord {
                            offset: f.offset,
                            timestamp_ms: f.timestamp_ms,
                            key: f.key.map(<[u8]>::to_vec),
                            value: f.value.to_vec(),
                        });
                    }
                }
            }
        }
        Ok(out)
    }

    /// The first offset whose timestamp is `>= timestamp_ms` (Kafka ListOffsets), `None` when no record
    /// held has one. Errors only on I/O failure or corruption: the lookup reads the segment.
    pub fn offset_for_time(&self, timestamp_ms: i64) -> Result<Option<u64>, LogError> {
        let slice = {
            let st = self.shared.read();
            // Every record of an earlier segment is below its segment's maximum, hence below the target.
            let Some(s) = st
                .segments
                .iter()
                .find(|s| s.max_ts.is_some_and(|m| m >= timestamp_ms))
            else {
                return Ok(None);
            };
            Slice {
                file: Arc::clone(&s.file),
                path: s.path.clone(),
                base_offset: s.base_offset,
                start: s.position_for_time(timestamp_ms),
                end: s.size,
            }
        };
        let mut rr = RegionReader::new(&slice.file, slice.start, slice.end, 64 * 1024);
        loop {
            match rr.next().map_err(|e| read_error(&slice.path, e))? {
                Step::Frame(_, f) if f.timestamp_ms >= timestamp_ms => return Ok(Some(f.offset)),
                Step::Frame(..) => {}
                Step::Bad(position, why) => return Err(corrupt(&slice.path, position, why)),
                Step::End => {
                    return Err(corrupt(
                        &slice.path,
                        slice.end,
                        &format!(
                            "segment {} claims a timestamp >= {timestamp_ms} that no record has",
                            slice.base_offset
                        ),
                    ))
                }
            }
        }
    }
}

fn corrupt(path: &Path, position: u64, reason: &str) -> LogError {
    LogError::Corrupt {
        path: path.to_path_buf(),
        position,
        reason: reason.to_string(),
    }
}

fn read_error(path: &Path, e: std::io::Error) -> LogError {
    LogError::io(format!("reading {}", path.display()), e)
}

fn segment_path(dir: &Path, base_offset: u64) -> PathBuf {
    dir.join(format!("{base_offset:020}.log"))
}

fn parse_segment_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(".log")?;
    if digits.len() != 20 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// Makes creations and deletions of segment files durable, in order.
fn sync_dir(dir: &Path) -> Result<(), LogError> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| LogError::io(format!("fsync of directory {}", dir.display()), e))
}

/// What scanning one segment found.
struct Scan {
    segment: Segment,
    /// Bytes in the file (the segment's `size` is what verified, up to the last batch end).
    file_len: u64,
    /// Source position of the last kept record.
    last_source_position: Option<Vec<u8>>,
    /// Where and why the verified part stops short of the file's end.
    bad: Option<(u64, String)>,
    /// The running index state, to continue appending to this segment.
    last_index_pos: Option<u64>,
}

/// Reads a whole segment, verifying every frame and the offset sequence, and rebuilds its index. Keeps
/// only whole batches: everything after the last verified batch end is reported in `bad`.
fn scan_segment(path: &Path, file: Arc<File>, base_offset: u64) -> Result<Scan, LogError> {
    let file_len = file
        .metadata()
        .map_err(|e| LogError::io(format!("stat of {}", path.display()), e))?
        .len();
    let mut index = Vec::new();
    let mut last_index_pos = None;
    let mut expected = base_offset;
    let mut first_ts = None;
    let mut max_ts: Option<i64> = None;
    // State at the last batch end: what survives.
    let mut kept = (0u64, base_offset, None::<i64>, None::<i64>, None::<Vec<u8>>);
    let mut bad = None;
    {
        let mut rr = RegionReader::new(&file, 0, file_len, SCAN_CHUNK);
        loop {
            match rr.next().map_err(|e| read_error(path, e))? {
                Step::End => break,
                Step::Bad(position, why) => {
                    bad = Some((position, why.to_string()));
                    break;
                }
                Step::Frame(position, f) => {
                    if f.offset != expected {
                        bad = Some((
                            position,
                            format!("offset {} where {expected} was expected", f.offset),
                        ));
                        break;
                    }
                    expected += 1;
                    first_ts.get_or_insert(f.timestamp_ms);
                    let m = max_ts.map_or(f.timestamp_ms, |m| m.max(f.timestamp_ms));
                    max_ts = Some(m);
                    note_index(&mut index, &mut last_index_pos, f.offset, position, m);
                    if f.batch_end {
                        kept = (
                            position + f.len as u64,
                            expected,
                            first_ts,
                            max_ts,
                            Some(f.source_position.to_vec()),
                        );
                    }
                }
            }
        }
    }
    let (size, next_offset, first_ts, max_ts, last_source_position) = kept;
    if bad.is_none() && size < file_len {
        bad = Some((size, "batch without its end".to_string()));
    }
    index.retain(|e| e.position < size);
    let last_index_pos = index.last().map(|e| e.position);
    Ok(Scan {
        segment: Segment {
            base_offset,
            path: path.to_path_buf(),
            file,
            size,
            next_offset,
            index,
            first_ts,
            max_ts,
        },
        file_len,
        last_source_position,
        bad,
        last_index_pos,
    })
}

/// The writer of a change log (see the crate documentation for format, crash safety and concurrency).
#[derive(Debug)]
pub struct ChangeLog {
    dir: PathBuf,
    options: LogOptions,
    reader: LogReader,
    /// The active segment, shared with readers (positioned writes need no seek state).
    active: Arc<File>,
    active_size: u64,
    next_offset: u64,
    /// Index state of the active segment, mirrored here so entries are computed before taking the lock.
    last_index_pos: Option<u64>,
    running_max_ts: Option<i64>,
    /// Encoding buffer, reused across appends.
    buf: Vec<u8>,
    poisoned: bool,
}

impl ChangeLog {
    /// Opens (creating if needed) the log in `dir` and recovers it: every segment is scanned and
    /// verified, the active segment's torn or corrupt tail is cut back to the last whole batch, and the
    /// result is fsynced before anything is served. Damage in a sealed segment, or a gap in offsets, is
    /// [`LogError::Corrupt`].
    pub fn open(dir: &Path, options: LogOptions) -> Result<ChangeLog, LogError> {
        if options.segment_bytes == 0 {
            return Err(LogError::InvalidOptions(
                "segment_bytes must be positive".into(),
            ));
        }
        if options.retention_ms.is_some_and(|r| r < 0) {
            return Err(LogError::InvalidOptions(
                "retention_ms must not be negative".into(),
            ));
        }
        std::fs::create_dir_all(dir)
            .map_err(|e| LogError::io(format!("creating {}", dir.display()), e))?;
        let mut bases = Vec::new();
        let entries = std::fs::read_dir(dir)
            .map_err(|e| LogError::io(format!("listing {}", dir.display()), e))?;
        for entry in entries {
            let entry = entry.map_err(|e| LogError::io(format!("listing {}", dir.display()), e))?;
            if let Some(base) = entry.file_name().to_str().and_then(parse_segment_name) {
                bases.push(base);
            }
        }
        bases.sort_unstable();
        if bases.is_empty() {
            let path = segment_path(dir, 0);
            OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
                .map_err(|e| LogError::io(format!("creating {}", path.display()), e))?;
            sync_dir(dir)?;
            bases.push(0);
        }

        let mut segments: Vec<Segment> = Vec::with_capacity(bases.len());
        let mut last_source_position = None;
        let mut active_tail = (None, None);
        let n = bases.len();
        for (i, &base) in bases.iter().enumerate() {
            let path = segment_path(dir, base);
            let is_last = i + 1 == n;
            let file = OpenOptions::new()
                .read(true)
                .write(is_last)
                .open(&path)
                .map_err(|e| LogError::io(format!("opening {}", path.display()), e))?;
            let scan = scan_segment(&path, Arc::new(file), base)?;
            if let Some(prev) = segments.last() {
                if prev.next_offset != base {
                    return Err(corrupt(
                        &path,
                        0,
                        &format!(
                            "segment starts at offset {base} but the previous one ends at {}",
                            prev.next_offset
                        ),
                    ));
                }
            }
            if let Some((position, why)) = &scan.bad {
                if !is_last {
                    return Err(corrupt(&path, *position, why));
                }
                tracing::warn!(
                    segment = %path.display(),
                    kept_bytes = scan.segment.size,
                    dropped_bytes = scan.file_len - scan.segment.size,
                    reason = %why,
                    "change log: cutting a torn tail back to the last whole batch"
                );
                scan.segment
                    .file
                    .set_len(scan.segment.size)
                    .map_err(|e| LogError::io(format!("truncating {}", path.display()), e))?;
            }
            if scan.last_source_position.is_some() {
                last_source_position = scan.last_source_position;
            }
            if is_last {
                // What survived may be only in the page cache (the process died before its fsync): make it
                // durable before readers see it, so a later machine crash cannot take back a served offset.
                scan.segment
                    .file
                    .sync_all()
                    .map_err(|e| LogError::io(format!("fsync of {}", path.display()), e))?;
                active_tail = (scan.last_index_pos, scan.segment.max_ts);
            }
            segments.push(scan.segment);
        }

        let active = segments.last().ok_or_else(|| {
            LogError::InvalidOptions("no segment after opening (unreachable)".into())
        })?;
        let (active_file, active_size, next_offset) =
            (Arc::clone(&active.file), active.size, active.next_offset);
        Ok(ChangeLog {
            dir: dir.to_path_buf(),
            options,
            reader: LogReader {
                shared: Arc::new(Shared {
                    state: RwLock::new(State {
                        segments,
                        last_source_position,
                    }),
                }),
            },
            active: active_file,
            active_size,
            next_offset,
            last_index_pos: active_tail.0,
            running_max_ts: active_tail.1,
            buf: Vec::new(),
            poisoned: false,
        })
    }

    /// A read-only handle for other threads.
    pub fn reader(&self) -> LogReader {
        self.reader.clone()
    }

    /// The directory holding the segments.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Appends `records` as one batch and returns the offsets they got (contiguous from the previous
    /// `end_offset()`). All or nothing: on error nothing was published, and a crash during the call leaves
    /// either the whole batch or none of it after [`ChangeLog::open`]. Under [`SyncPolicy::EveryAppend`]
    /// the batch is durable when this returns.
    pub fn append(&mut self, records: &[Record]) -> Result<Range<u64>, LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        let start = self.next_offset;
        let Some(last) = records.last() else {
            return Ok(start..start);
        };
        let mut batch_len = 0u64;
        for r in records {
            let size = format::frame_size(r.key.as_deref(), &r.value, &r.source_position);
            if size > MAX_FRAME_BYTES {
                return Err(LogError::RecordTooLarge {
                    size,
                    max: MAX_FRAME_BYTES,
                });
            }
            batch_len += size as u64;
        }
        if self.active_size > 0 && self.active_size + batch_len > self.options.segment_bytes {
            self.roll()?;
        }

        self.buf.clear();
        let mut new_entries = Vec::new();
        let mut last_index_pos = self.last_index_pos;
        let mut max_ts = self.running_max_ts;
        for (i, r) in records.iter().enumerate() {
            let position = self.active_size + self.buf.len() as u64;
            let offset = start + i as u64;
            let m = max_ts.map_or(r.timestamp_ms, |m| m.max(r.timestamp_ms));
            max_ts = Some(m);
            note_index(&mut new_entries, &mut last_index_pos, offset, position, m);
            format::encode(
                &mut self.buf,
                offset,
                r.timestamp_ms,
                r.key.as_deref(),
                &r.value,
                &r.source_position,
                i + 1 == records.len(),
            );
        }

        if let Err(e) = self.active.write_all_at(&self.buf, self.active_size) {
            // Take back whatever part landed, so the next append does not leave a hole of garbage before
            // its frames. If even that fails, the tail is unknown until open() recovers it.
            if self.active.set_len(self.active_size).is_err() {
                self.poisoned = true;
            }
            return Err(LogError::io("appending to the change log", e));
        }
        if self.options.sync == SyncPolicy::EveryAppend {
            if let Err(e) = self.active.sync_data() {
                // After a failed fsync the kernel may have dropped the dirty pages: nothing is known about
                // the tail, and retrying the fsync could report success falsely.
                self.poisoned = true;
                return Err(LogError::io("fsync of the change log", e));
            }
        }

        let count = records.len() as u64;
        self.active_size += self.buf.len() as u64;
        self.next_offset += count;
        self.last_index_pos = last_index_pos;
        self.running_max_ts = max_ts;
        {
            let mut st = self.reader.shared.write();
            if let Some(seg) = st.segments.last_mut() {
                seg.size = self.active_size;
                seg.next_offset = self.next_offset;
                seg.index.extend(new_entries);
                seg.first_ts.get_or_insert(records[0].timestamp_ms);
                seg.max_ts = max_ts;
            }
            st.last_source_position = Some(last.source_position.clone());
        }
        if self.buf.capacity() > 16 << 20 {
            self.buf = Vec::new(); // do not keep a huge batch's buffer forever
        }
        Ok(start..self.next_offset)
    }

    /// Seals the active segment and starts a new one at the current end offset.
    fn roll(&mut self) -> Result<(), LogError> {
        let result = self.try_roll();
        if result.is_err() {
            // A half-done roll (file created, directory not synced...) is repaired by open(), not here.
            self.poisoned = true;
        }
        result
    }

    fn try_roll(&mut self) -> Result<(), LogError> {
        // The sealed segment must be durable before a later one holds data, whatever the policy: that is
        // what lets open() treat damage outside the last segment as corruption rather than a torn tail.
        self.active
            .sync_data()
            .map_err(|e| LogError::io("fsync of a sealed change log segment", e))?;
        let base = self.next_offset;
        let path = segment_path(&self.dir, base);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .open(&path)
            .map_err(|e| LogError::io(format!("creating {}", path.display()), e))?;
        sync_dir(&self.dir)?;
        let file = Arc::new(file);
        self.reader.shared.write().segments.push(Segment {
            base_offset: base,
            path,
            file: Arc::clone(&file),
            size: 0,
            next_offset: base,
            index: Vec::new(),
            first_ts: None,
            max_ts: None,
        });
        self.active = file;
        self.active_size = 0;
        self.last_index_pos = None;
        self.running_max_ts = None;
        tracing::debug!(base_offset = base, "change log: rolled to a new segment");
        Ok(())
    }

    /// fsyncs the active segment: a checkpoint for writers using [`SyncPolicy::Never`].
    pub fn sync(&mut self) -> Result<(), LogError> {
        if self.poisoned {
            return Err(LogError::Poisoned);
        }
        if let Err(e) = self.active.sync_data() {
            self.poisoned = true;
            return Err(LogError::io("fsync of the change log", e));
        }
        Ok(())
    }

    /// Deletes the oldest segments whose largest timestamp is older than `now_ms - retention_ms`, oldest
    /// first, stopping at the first one still inside the window, and returns how many records went. Never
    /// deletes the active segment, nor the last segment holding records (so
    /// [`ChangeLog::last_source_position`] always survives and capture can resume).
    pub fn enforce_retention(&mut self, now_ms: i64) -> Result<u64, LogError> {
        let Some(retention) = self.options.retention_ms else {
            return Ok(0);
        };
        let cutoff = now_ms.saturating_sub(retention);
        let removed: Vec<Segment> = {
            let mut st = self.reader.shared.write();
            let n = st.segments.len();
            let active_empty = st.segments.last().is_some_and(Segment::is_empty);
            let limit = if active_empty {
                n.saturating_sub(2)
            } else {
                n.saturating_sub(1)
            };
            let mut cut = 0;
            while cut < limit && st.segments[cut].max_ts.is_some_and(|m| m < cutoff) {
                cut += 1;
            }
            st.segments.drain(..cut).collect()
        };
        let mut dropped = 0;
        for seg in removed {
            dropped += seg.next_offset - seg.base_offset;
            std::fs::remove_file(&seg.path)
                .map_err(|e| LogError::io(format!("deleting {}", seg.path.display()), e))?;
            // One at a time and synced: after a crash the survivors are still a contiguous suffix.
            sync_dir(&self.dir)?;
            tracing::debug!(segment = %seg.path.display(), "change log: segment past retention deleted");
        }
        Ok(dropped)
    }

    /// See [`LogReader::read`].
    pub fn read(&self, from: u64, max_bytes: usize) -> Result<Vec<StoredRecord>, LogError> {
        self.reader.read(from, max_bytes)
    }

    /// See [`LogReader::offset_for_time`].
    pub fn offset_for_time(&self, timestamp_ms: i64) -> Result<Option<u64>, LogError> {
        self.reader.offset_for_time(timestamp_ms)
    }

    /// See [`LogReader::begin_offset`].
    pub fn begin_offset(&self) -> u64 {
        self.reader.begin_offset()
    }

    /// See [`LogReader::end_offset`].
    pub fn end_offset(&self) -> u64 {
        self.next_offset
    }

    /// See [`LogReader::begin_timestamp`].
    pub fn begin_timestamp(&self) -> Option<i64> {
        self.reader.begin_timestamp()
    }

    /// See [`LogReader::end_timestamp`].
    pub fn end_timestamp(&self) -> Option<i64> {
        self.reader.end_timestamp()
    }

    /// See [`LogReader::last_source_position`].
    pub fn last_source_position(&self) -> Option<Vec<u8>> {
        self.reader.last_source_position()
    }
}
