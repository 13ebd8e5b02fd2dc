//! The single writer: recovery on open, buffered appends, group commit and
//! segment rollover.
//!
//! `append` only encodes into a reusable buffer (no syscall, no allocation
//! once warm), so the sequencer can append a whole batch and then pay for one
//! `write` and at most one `fdatasync` in `commit`. Only what `commit` reports
//! as durable may be acknowledged (design rule 5).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::Write;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::error::{JournalError, TornTail, io_err};
use crate::format::{
    MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, encode_record, encode_segment_header,
    segment_file_name,
};
use crate::segment::{list_segments, scan, sync_dir};

/// Name of the lock file that keeps a second writer out of the directory.
pub const LOCK_FILE_NAME: &str = "LOCK";

/// How far ahead of its records the current segment is filled with zeros
/// when the policy syncs. A commit that writes inside space already
/// allocated does not change the file's size, so its `fdatasync` writes
/// the data alone, without a file-system journal commit for the size
/// (about 95 µs instead of 145 µs per sync on the benchmark machine). The
/// commit that extends the space pays for writing this many zeros once
/// (about 1 ms).
pub const PREALLOCATE_BYTES: u64 = 1 << 20;

/// Zeros to extend a segment with.
static ZEROS: [u8; 64 * 1024] = [0; 64 * 1024];

/// When committed records are forced to stable storage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum Durability {
    /// `fdatasync` on every [`Journal::commit`] that wrote something: a
    /// committed record is durable when `commit` returns.
    #[default]
    Always,
    /// `fdatasync` on a commit when the last sync is at least this long ago.
    /// Records committed in between are durable only after a later sync, so
    /// the caller must keep calling [`Journal::commit`] (an empty commit is
    /// fine) while [`Journal::durable_seq`] lags behind, or call
    /// [`Journal::sync`].
    Interval(Duration),
    /// Never `fsync` (tests, benchmarks). Records count as durable once
    /// written to the operating system: they survive a crash of the process
    /// but not of the machine.
    Never,
}

/// How a [`Journal`] is opened.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct JournalOptions {
    /// When commits are synced. Default [`Durability::Always`].
    pub durability: Durability,
    /// A segment is closed and a new one started, at a record boundary, once
    /// the segment file holds at least this many bytes. Default 256 MiB.
    pub segment_bytes: u64,
    /// Sequence number of the first record of a journal that has no
    /// segments yet. Ignored when the journal exists. Default 1.
    pub first_seq: u64,
    /// Upper bound on the bytes buffered by [`Journal::append`] before a
    /// [`Journal::commit`]; must fit at least one record of the largest
    /// payload. Default 64 MiB.
    pub max_batch_bytes: usize,
}

impl Default for JournalOptions {
    fn default() -> JournalOptions {
        JournalOptions {
            durability: Durability::Always,
            segment_bytes: 256 * 1024 * 1024,
            first_seq: 1,
            max_batch_bytes: 64 * 1024 * 1024,
        }
    }
}

impl JournalOptions {
    fn validate(&self) -> Result<(), JournalError> {
        if self.max_batch_bytes < RECORD_HEADER_LEN + MAX_PAYLOAD_LEN as usize {
            return Err(JournalError::InvalidOptions {
                reason: "max_batch_bytes must fit one record of the maximum payload length",
            });
        }
        Ok(())
    }

    fn syncs(&self) -> bool {
        self.durability != Durability::Never
    }
}

/// What [`Journal::open`] found and repaired.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenReport {
    /// Segment files in the journal after recovery.
    pub segments: usize,
    /// Valid records in the journal.
    pub records: u64,
    /// Sequence number of the first record, if any.
    pub first_seq: Option<u64>,
    /// Sequence number of the last record, if any.
    pub last_seq: Option<u64>,
    /// The sequence number the next appended record must carry.
    pub next_seq: u64,
    /// Bytes of torn tail that recovery discarded (0 when the tail was clean).
    pub truncated_bytes: u64,
    /// The torn tail that was discarded, if any.
    pub torn: Option<TornTail>,
    /// Whether the journal was empty and its first segment was created now.
    pub created: bool,
}

/// What a [`Journal::commit`] achieved.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CommitInfo {
    /// The last sequence number written to the files (all records appended
    /// so far), if any.
    pub written_seq: Option<u64>,
    /// The last sequence number that is durable under the policy. Only
    /// records up to here may be acknowledged.
    pub durable_seq: Option<u64>,
    /// Whether this commit called `fdatasync`.
    pub synced: bool,
}

/// The writing end of a journal directory. At most one exists per directory
/// (a lock file enforces it, across processes too).
///
/// Records appended but not committed when the journal is dropped are lost;
/// they were never reported durable.
#[derive(Debug)]
pub struct Journal {
    dir: PathBuf,
    options: JournalOptions,
    /// Held (locked) for the lifetime of the journal.
    _lock: File,
    /// The current (last) segment.
    file: File,
    segment_path: PathBuf,
    /// End of the records written to the current segment: where the next
    /// write goes.
    file_pos: u64,
    /// Length of the current segment's file: `file_pos` and then zeros
    /// (see [`PREALLOCATE_BYTES`]).
    allocated: u64,
    /// Encoded records not yet written.
    buf: Vec<u8>,
    /// `(offset in buf, first seq)` where a new segment must begin.
    splits: Vec<(usize, u64)>,
    /// Length of the segment the next appended record goes into, counting
    /// buffered records.
    tail_len: u64,
    /// Records in that segment, counting buffered records.
    tail_records: u64,
    next_seq: u64,
    written_seq: Option<u64>,
    durable_seq: Option<u64>,
    last_sync: Instant,
    poisoned: bool,
}

impl Journal {
    /// Opens (creating if needed) the journal in `dir` for writing, after
    /// checking every record and truncating a torn tail.
    ///
    /// Fails with [`JournalError::Corrupt`] when anything but the tail of the
    /// last segment is damaged, or segments do not follow each other without
    /// gaps; nothing is modified then. Unless the policy is
    /// [`Durability::Never`], everything recovered is synced before this
    /// returns, so [`durable_seq`](Journal::durable_seq) starts at the last
    /// recovered record.
    pub fn open(dir: &Path, options: JournalOptions) -> Result<(Journal, OpenReport), JournalError> {
        options.validate()?;
        let syncs = options.syncs();
        if !dir.is_dir() {
            std::fs::create_dir_all(dir).map_err(io_err(dir))?;
            if syncs && let Some(parent) = dir.parent() {
                let parent = if parent.as_os_str().is_empty() { Path::new(".") } else { parent };
                sync_dir(parent)?;
            }
        }
        let lock = lock_dir(dir)?;
        let scan = scan(dir)?;
        if let Some(corruption) = scan.corruption {
            return Err(JournalError::Corrupt(corruption));
        }
        let mut truncated_bytes = 0;
        let (file, segment_path, tail_len, allocated, tail_records, next_seq, created) =
            match scan.segments.last() {
                None => {
                    let (file, path) = create_segment(dir, options.first_seq, syncs)?;
                    let len = SEGMENT_HEADER_LEN as u64;
                    (file, path, len, len, 0, options.first_seq, true)
                }
                Some(last) => {
                    let path = &last.path;
                    let mut file = OpenOptions::new().write(true).open(path).map_err(io_err(path))?;
                    let len = if !last.header_ok {
                        // A torn segment header with nothing after it: the segment
                        // was being created. Write it again.
                        truncated_bytes = scan.torn.as_ref().map_or(0, |t| t.bytes);
                        file.set_len(0).map_err(io_err(path))?;
                        file.write_all(&encode_segment_header(last.first_seq)).map_err(io_err(path))?;
                        SEGMENT_HEADER_LEN as u64
                    } else {
                        if let Some(torn) = &scan.torn {
                            truncated_bytes = torn.bytes;
                            file.set_len(last.good_len).map_err(io_err(path))?;
                        }
                        last.good_len
                    };
                    // Zeros allocated ahead of the records (a clean end) stay.
                    let allocated = file.metadata().map_err(io_err(path))?.len().max(len);
                    if syncs {
                        // Also makes durable what a crash under a lax policy left
                        // only in the page cache: it is about to be built upon.
                        file.sync_all().map_err(io_err(path))?;
                    }
                    let next = scan.next_seq.unwrap_or(last.first_seq);
                    (file, path.clone(), len, allocated, last.records, next, false)
                }
            };
        if syncs {
            sync_dir(dir)?;
        }
        let report = OpenReport {
            segments: scan.segments.len().max(1),
            records: scan.records,
            first_seq: scan.first_seq,
            last_seq: scan.last_seq,
            next_seq,
            truncated_bytes,
            torn: scan.torn,
            created,
        };
        let journal = Journal {
            dir: dir.to_path_buf(),
            options,
            _lock: lock,
            file,
            segment_path,
            file_pos: tail_len,
            allocated,
            buf: Vec::with_capacity(64 * 1024),
            splits: Vec::new(),
            tail_len,
            tail_records,
            next_seq,
            written_seq: scan.last_seq,
            durable_seq: scan.last_seq,
            last_sync: Instant::now(),
            poisoned: false,
        };
        Ok((journal, report))
    }

    /// Buffers one record. Nothing is written until [`commit`](Journal::commit).
    ///
    /// `seq` must be exactly [`next_seq`](Journal::next_seq); `time` is the
    /// sequencer's timestamp (ns) and `kind` a tag the engine chooses. On
    /// error nothing is buffered. Makes no syscall and, once the buffer has
    /// grown to the working batch size, no allocation.
    pub fn append(&mut self, seq: u64, time: u64, kind: u16, payload: &[u8]) -> Result<(), JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        if seq != self.next_seq {
            return Err(JournalError::SeqMismatch { expected: self.next_seq, got: seq });
        }
        let Some(next) = seq.checked_add(1) else {
            return Err(JournalError::SeqExhausted);
        };
        if payload.len() > MAX_PAYLOAD_LEN as usize {
            return Err(JournalError::PayloadTooLarge { len: payload.len(), max: MAX_PAYLOAD_LEN });
        }
        let record_len = RECORD_HEADER_LEN + payload.len();
        if self.buf.len() + record_len > self.options.max_batch_bytes {
            return Err(JournalError::BatchFull {
                pending: self.buf.len(),
                limit: self.options.max_batch_bytes,
            });
        }
        if self.tail_records > 0 && self.tail_len >= self.options.segment_bytes {
            self.splits.push((self.buf.len(), seq));
            self.tail_len = SEGMENT_HEADER_LEN as u64;
            self.tail_records = 0;
        }
        encode_record(&mut self.buf, seq, time, kind, payload);
        self.tail_len += record_len as u64;
        self.tail_records += 1;
        self.next_seq = next;
        Ok(())
    }

    /// Writes the buffered records and applies the durability policy.
    ///
    /// An empty commit still syncs when the policy says a sync is due, so
    /// calling it periodically bounds how long records stay non-durable under
    /// [`Durability::Interval`]. If writing or syncing fails the journal is
    /// [poisoned](JournalError::Poisoned): reopen it.
    pub fn commit(&mut self) -> Result<CommitInfo, JournalError> {
        self.guarded(false)
    }

    /// Like [`commit`](Journal::commit), but always syncs, whatever the policy.
    pub fn sync(&mut self) -> Result<CommitInfo, JournalError> {
        self.guarded(true)
    }

    fn guarded(&mut self, force_sync: bool) -> Result<CommitInfo, JournalError> {
        if self.poisoned {
            return Err(JournalError::Poisoned);
        }
        let result = self.write_and_sync(force_sync);
        if result.is_err() {
            self.poisoned = true;
        }
        result
    }

    fn write_and_sync(&mut self, force_sync: bool) -> Result<CommitInfo, JournalError> {
        let mut start = 0;
        for i in 0..self.splits.len() {
            let (end, first_seq) = self.splits[i];
            self.write_range(start, end)?;
            self.written_seq = first_seq.checked_sub(1);
            self.roll_over(first_seq)?;
            start = end;
        }
        self.write_range(start, self.buf.len())?;
        if !self.buf.is_empty() {
            self.written_seq = self.next_seq.checked_sub(1);
        }
        self.buf.clear();
        self.splits.clear();

        let due = match self.options.durability {
            _ if force_sync => true,
            Durability::Never => {
                self.durable_seq = self.written_seq;
                false
            }
            Durability::Always => self.durable_seq != self.written_seq,
            Durability::Interval(every) => {
                self.durable_seq != self.written_seq && self.last_sync.elapsed() >= every
            }
        };
        if due {
            self.sync_current()?;
        }
        Ok(CommitInfo { written_seq: self.written_seq, durable_seq: self.durable_seq, synced: due })
    }

    fn write_range(&mut self, start: usize, end: usize) -> Result<(), JournalError> {
        if start == end {
            return Ok(());
        }
        let path = &self.segment_path;
        self.file.write_all_at(&self.buf[start..end], self.file_pos).map_err(io_err(path))?;
        self.file_pos += (end - start) as u64;
        if self.file_pos > self.allocated {
            // Appended beyond the zeros: the file grew to here.
            self.allocated = self.file_pos;
        }
        if self.options.syncs() && self.file_pos + RECORD_HEADER_LEN as u64 > self.allocated {
            // Zeros up to the next multiple of PREALLOCATE_BYTES past the
            // records (at least a record header's worth), synced with them.
            let target = (self.file_pos + RECORD_HEADER_LEN as u64).next_multiple_of(PREALLOCATE_BYTES);
            while self.allocated < target {
                let n = (target - self.allocated).min(ZEROS.len() as u64) as usize;
                self.file.write_all_at(&ZEROS[..n], self.allocated).map_err(io_err(path))?;
                self.allocated += n as u64;
            }
        }
        Ok(())
    }

    fn sync_current(&mut self) -> Result<(), JournalError> {
        self.file.sync_data().map_err(io_err(&self.segment_path))?;
        self.durable_seq = self.written_seq;
        self.last_sync = Instant::now();
        Ok(())
    }

    /// Closes the current segment (durably, unless the policy is `Never`)
    /// and makes a new one starting at `first_seq` the current segment.
    fn roll_over(&mut self, first_seq: u64) -> Result<(), JournalError> {
        let syncs = self.options.syncs();
        if self.allocated > self.file_pos {
            // A closed segment ends at its last record: only the last one
            // may have zeros after its records.
            self.file.set_len(self.file_pos).map_err(io_err(&self.segment_path))?;
        }
        if syncs {
            // A later segment exists only once every earlier one is complete
            // on disk, so damage before the last segment is never a torn write.
            self.sync_current()?;
        }
        let (file, path) = create_segment(&self.dir, first_seq, syncs)?;
        self.file = file;
        self.segment_path = path;
        self.file_pos = SEGMENT_HEADER_LEN as u64;
        self.allocated = self.file_pos;
        Ok(())
    }

    /// Deletes whole segments all of whose records have sequence numbers
    /// below `seq` (for example, after a snapshot at `seq - 1` is durable).
    /// The current segment is never deleted. Returns how many were deleted.
    pub fn remove_segments_before(&mut self, seq: u64) -> Result<usize, JournalError> {
        let segments = list_segments(&self.dir)?;
        let mut removed = 0;
        for pair in segments.windows(2) {
            let (segment, next) = (&pair[0], &pair[1]);
            if next.first_seq > seq || segment.path == self.segment_path {
                break;
            }
            std::fs::remove_file(&segment.path).map_err(io_err(&segment.path))?;
            removed += 1;
        }
        if removed > 0 && self.options.syncs() {
            sync_dir(&self.dir)?;
        }
        Ok(removed)
    }

    /// The sequence number the next appended record must carry.
    pub fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// The last sequence number written to the files by a commit, if any.
    pub fn written_seq(&self) -> Option<u64> {
        self.written_seq
    }

    /// The last sequence number known durable under the policy (with
    /// [`Durability::Never`], the same as [`written_seq`](Journal::written_seq)).
    pub fn durable_seq(&self) -> Option<u64> {
        self.durable_seq
    }

    /// Bytes appended but not yet committed.
    pub fn pending_bytes(&self) -> usize {
        self.buf.len()
    }

    /// The journal directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The options the journal was opened with.
    pub fn options(&self) -> &JournalOptions {
        &self.options
    }
}

/// Takes the exclusive writer lock of `dir`.
fn lock_dir(dir: &Path) -> Result<File, JournalError> {
    let path = dir.join(LOCK_FILE_NAME);
    let file =
        OpenOptions::new().create(true).truncate(false).write(true).open(&path).map_err(io_err(&path))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(TryLockError::WouldBlock) => Err(JournalError::Locked { path }),
        Err(TryLockError::Error(source)) => Err(JournalError::Io { path, source }),
    }
}

/// Creates the segment file for `first_seq` with its header, durably when
/// `syncs`.
fn create_segment(dir: &Path, first_seq: u64, syncs: bool) -> Result<(File, PathBuf), JournalError> {
    let path = dir.join(segment_file_name(first_seq));
    let mut file = OpenOptions::new().write(true).create_new(true).open(&path).map_err(io_err(&path))?;
    file.write_all(&encode_segment_header(first_seq)).map_err(io_err(&path))?;
    if syncs {
        file.sync_all().map_err(io_err(&path))?;
        sync_dir(dir)?;
    }
    Ok((file, path))
}
