//! Appending lines to the audit file and continuing its chain after a
//! restart.

use std::fmt;
use std::fs::{File, OpenOptions, TryLockError};
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::Path;

use venue_domain::Timestamp;
use venue_engine::{Command, Output};

use crate::line::{GENESIS_HASH, HASH_KEY, check_line, hash_hex};
use crate::render::write_body;
use crate::{LineProblem, MaskPolicy};

/// How a line starts; a torn tail with no complete line before it must start
/// like this, or the file is not an audit log and is left alone.
const LINE_START: &[u8] = b"{\"seq\":";

/// Bytes read per step when looking for the last line from the end.
const TAIL_CHUNK: u64 = 64 * 1024;

/// Why the audit writer refused to open or to write. Carried inside the
/// `io::Error` the writer returns (see [`io::Error::get_ref`]), so callers
/// that only log errors need nothing more and callers that react can match.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriterError {
    /// Another writer holds the file's lock: two writers would fork the chain.
    Locked,
    /// The file's last complete line fails its own checks, so the chain
    /// cannot be continued from it.
    LastLineDamaged(LineProblem),
    /// The file does not start like an audit log; it is left untouched rather
    /// than truncated.
    NotAnAuditLog,
    /// The seq does not follow the last audited one by exactly one: such a
    /// line would make [`verify`](crate::verify()) fail.
    SeqNotNext {
        /// The last seq in the file.
        previous: u64,
        /// The seq offered.
        found: u64,
    },
    /// An earlier write failed and may have left part of a line; nothing more
    /// is written until the file is reopened (which cuts that part away).
    Failed,
}

impl fmt::Display for WriterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            WriterError::Locked => {
                f.write_str("another process or writer has the audit log open for writing")
            }
            WriterError::LastLineDamaged(problem) => {
                write!(f, "the audit log's last line is damaged: {problem}; run verify on it")
            }
            WriterError::NotAnAuditLog => {
                f.write_str("the file is not an audit log (it does not start with {\"seq\":); left untouched")
            }
            WriterError::SeqNotNext { previous, found } => {
                write!(f, "seq {found} does not follow the last audited seq {previous}")
            }
            WriterError::Failed => {
                f.write_str("an earlier write to the audit log failed; reopen it before writing again")
            }
        }
    }
}

impl std::error::Error for WriterError {}

impl WriterError {
    fn into_io(self) -> io::Error {
        let kind = match self {
            WriterError::Locked => io::ErrorKind::ResourceBusy,
            WriterError::LastLineDamaged(_) | WriterError::NotAnAuditLog => io::ErrorKind::InvalidData,
            WriterError::SeqNotNext { .. } => io::ErrorKind::InvalidInput,
            WriterError::Failed => io::ErrorKind::Other,
        };
        io::Error::new(kind, self)
    }
}

/// The single writer of an audit file.
///
/// Lines are buffered: [`flush`](AuditWriter::flush) hands them to the OS,
/// [`sync`](AuditWriter::sync) makes them durable. The audit log trails the
/// journal, which is the durable record; after a crash the venue re-audits
/// from the journal every command after [`last_seq`](AuditWriter::last_seq).
pub struct AuditWriter {
    out: BufWriter<File>,
    policy: MaskPolicy,
    last_seq: Option<u64>,
    last_hash: String,
    truncated_bytes: u64,
    failed: bool,
    /// Reused for every line, so appending allocates only while it grows.
    line: String,
    /// Length of the file with the buffered lines.
    len: u64,
    /// Where the last [`start_writeback`](AuditWriter::start_writeback)
    /// ended: the next one covers only what was written since.
    written_back: u64,
}

impl AuditWriter {
    /// Opens (or creates) the audit file at `path` for appending, takes its
    /// writer lock, and continues the chain from its last line.
    ///
    /// An incomplete last line (no newline: a crash mid-write) is cut away
    /// first and its size reported by
    /// [`truncated_bytes`](AuditWriter::truncated_bytes); the journal still
    /// has that command. The last complete line must pass its own checks
    /// (JSON, fields, hash); the rest of the file is not read, so open costs
    /// the same whatever the file's size. Use [`verify`](crate::verify()) to
    /// check the whole chain.
    pub fn open(path: impl AsRef<Path>, policy: MaskPolicy) -> io::Result<AuditWriter> {
        let file = OpenOptions::new().read(true).append(true).create(true).open(path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(TryLockError::WouldBlock) => return Err(WriterError::Locked.into_io()),
            Err(TryLockError::Error(err)) => return Err(err),
        }
        let len = file.metadata()?.len();
        let (last_seq, last_hash, complete_len) = match last_newline_before(&file, len)? {
            Some(end) => {
                let start = last_newline_before(&file, end)?.map_or(0, |newline| newline + 1);
                let line = read_range(&file, start, end)?;
                let checked =
                    check_line(&line).map_err(|problem| WriterError::LastLineDamaged(problem).into_io())?;
                (Some(checked.seq), checked.hash, end + 1)
            }
            None => {
                let head = read_range(&file, 0, len.min(LINE_START.len() as u64))?;
                if !LINE_START.starts_with(&head) {
                    return Err(WriterError::NotAnAuditLog.into_io());
                }
                (None, GENESIS_HASH.to_owned(), 0)
            }
        };
        let truncated_bytes = len - complete_len;
        if truncated_bytes > 0 {
            file.set_len(complete_len)?;
            file.sync_data()?;
        }
        Ok(AuditWriter {
            out: BufWriter::new(file),
            policy,
            last_seq,
            last_hash,
            truncated_bytes,
            failed: false,
            line: String::new(),
            len: complete_len,
            written_back: complete_len,
        })
    }

    /// Seq of the last command in the file (buffered lines included), so the
    /// venue knows where to resume auditing after a restart; `None` if the
    /// file is empty.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }

    /// Hash of the last line (64 zeros if none), in lowercase hex: publish or
    /// store it elsewhere as an anchor, since it vouches for every line
    /// before it and is what reveals lines cut from the end.
    pub fn last_hash(&self) -> &str {
        &self.last_hash
    }

    /// Bytes of an incomplete last line that [`open`](AuditWriter::open) cut
    /// away, so the venue can log that a crash interrupted a write.
    pub fn truncated_bytes(&self) -> u64 {
        self.truncated_bytes
    }

    /// Appends the line for command `seq` and what it produced. The first
    /// line of an empty file may have any seq; every later one must be the
    /// previous seq plus one, or nothing is written.
    pub fn append(
        &mut self,
        seq: u64,
        time: Timestamp,
        origin: u64,
        command: &Command,
        outcome: &[Output],
    ) -> io::Result<()> {
        if self.failed {
            return Err(WriterError::Failed.into_io());
        }
        if let Some(previous) = self.last_seq
            && previous.checked_add(1) != Some(seq)
        {
            return Err(WriterError::SeqNotNext { previous, found: seq }.into_io());
        }
        self.line.clear();
        write_body(&mut self.line, seq, time, origin, command, outcome, &self.policy);
        self.line.push_str(",\"prev\":\"");
        self.line.push_str(&self.last_hash);
        self.line.push('"');
        let hash = hash_hex(self.line.as_bytes());
        self.line.push_str(HASH_KEY);
        self.line.push_str(&hash);
        self.line.push_str("\"}\n");
        if let Err(err) = self.out.write_all(self.line.as_bytes()) {
            self.failed = true;
            return Err(err);
        }
        self.len += self.line.len() as u64;
        self.last_seq = Some(seq);
        self.last_hash = hash;
        Ok(())
    }

    /// Hands buffered lines to the OS: they survive a crash of the process,
    /// not of the machine.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.failed {
            return Err(WriterError::Failed.into_io());
        }
        self.out.flush().inspect_err(|_| self.failed = true)
    }

    /// Flushes and asks the operating system to start writing the lines to
    /// disk now, without waiting for it, and to drop them from its cache
    /// (nobody reads them back): a later [`sync`](Self::sync) then has
    /// little left to write, and the writes are spread out instead of
    /// arriving at the disk in one burst.
    ///
    /// Only the lines written since the last call are covered: the cost of
    /// a call does not grow with the file.
    pub fn start_writeback(&mut self) -> io::Result<()> {
        self.flush()?;
        let Some(len) = std::num::NonZeroU64::new(self.len - self.written_back) else { return Ok(()) };
        rustix::fs::fadvise(self.out.get_ref(), self.written_back, Some(len), rustix::fs::Advice::DontNeed)
            .map_err(io::Error::from)
            .inspect_err(|_| self.failed = true)?;
        self.written_back = self.len;
        Ok(())
    }

    /// Flushes and waits until the lines are on disk: they survive a power
    /// loss.
    pub fn sync(&mut self) -> io::Result<()> {
        self.flush()?;
        self.out.get_ref().sync_data().inspect_err(|_| self.failed = true)
    }
}

/// Position of the last `\n` in `file[..end]`, read backwards in chunks.
fn last_newline_before(mut file: &File, end: u64) -> io::Result<Option<u64>> {
    let mut chunk = Vec::new();
    let mut chunk_end = end;
    while chunk_end > 0 {
        let chunk_start = chunk_end.saturating_sub(TAIL_CHUNK);
        chunk.resize((chunk_end - chunk_start) as usize, 0);
        file.seek(SeekFrom::Start(chunk_start))?;
        file.read_exact(&mut chunk)?;
        if let Some(at) = chunk.iter().rposition(|&b| b == b'\n') {
            return Ok(Some(chunk_start + at as u64));
        }
        chunk_end = chunk_start;
    }
    Ok(None)
}

/// The bytes `file[start..end]`.
fn read_range(mut file: &File, start: u64, end: u64) -> io::Result<Vec<u8>> {
    let len = usize::try_from(end - start).map_err(|_| io::Error::from(io::ErrorKind::OutOfMemory))?;
    let mut bytes = vec![0; len];
    file.seek(SeekFrom::Start(start))?;
    file.read_exact(&mut bytes)?;
    Ok(bytes)
}
