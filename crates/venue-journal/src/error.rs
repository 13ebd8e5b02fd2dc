//! What can go wrong, as types.
//!
//! [`CorruptReason`] says what is wrong with bytes on disk; [`Corruption`]
//! says where. Whether a given corruption is a torn tail (repaired by
//! truncation) or damaged history (a hard error) is decided by *where* it is,
//! not by the reason alone; see the crate docs.

use std::fmt;
use std::io;
use std::path::PathBuf;

/// Why bytes on disk are not a valid segment header or record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorruptReason {
    /// The segment file is shorter than a segment header.
    ShortSegmentHeader {
        /// Length of the file.
        len: u64,
    },
    /// The segment header's CRC does not match its contents.
    BadSegmentHeaderCrc {
        /// CRC stored in the header.
        stored: u32,
        /// CRC computed over the header.
        computed: u32,
    },
    /// The segment header has a valid CRC but not the journal's magic bytes:
    /// this is not a journal segment.
    BadMagic,
    /// The segment was written in a format version this build cannot read.
    UnsupportedVersion {
        /// The version found.
        version: u16,
    },
    /// A reserved field of a segment header is not zero.
    SegmentHeaderReserved,
    /// The first sequence number in the segment header differs from the one
    /// in the file name.
    NameMismatch {
        /// Sequence number in the file name.
        name_seq: u64,
        /// Sequence number in the header.
        header_seq: u64,
    },
    /// The segment header is damaged but a valid record follows it, so the
    /// damage is not a torn write of a new segment.
    DamagedHeaderBeforeRecords,
    /// Fewer bytes than a record header remain in the file.
    ShortRecordHeader {
        /// Bytes remaining.
        available: u64,
    },
    /// The record's length field exceeds [`MAX_PAYLOAD_LEN`](crate::MAX_PAYLOAD_LEN).
    LengthTooLarge {
        /// The length found.
        len: u32,
    },
    /// Fewer payload bytes remain in the file than the record's length says.
    ShortPayload {
        /// The length the record claims.
        len: u32,
        /// Payload bytes remaining.
        available: u64,
    },
    /// The record's CRC does not match its contents.
    BadRecordCrc {
        /// CRC stored in the record.
        stored: u32,
        /// CRC computed over the record.
        computed: u32,
    },
    /// A reserved field of a record is not zero.
    RecordReserved,
    /// Where a record header of zeros says the segment's records end (the
    /// rest is space the writer allocated ahead), a byte that is not zero
    /// follows: records were being written there.
    DataAfterEnd {
        /// Offset of the first byte that is not zero.
        at: u64,
    },
    /// A record's sequence number is not the previous one plus one.
    UnexpectedSeq {
        /// The sequence number that should be here.
        expected: u64,
        /// The sequence number found.
        found: u64,
    },
    /// A segment does not start where the previous one ended: records are
    /// missing between them.
    SeqGap {
        /// The first sequence number the segment should hold.
        expected: u64,
        /// The first sequence number it holds.
        found: u64,
    },
}

impl fmt::Display for CorruptReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            CorruptReason::ShortSegmentHeader { len } => {
                write!(f, "segment file is {len} bytes, shorter than its header")
            }
            CorruptReason::BadSegmentHeaderCrc { stored, computed } => {
                write!(f, "segment header crc mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            CorruptReason::BadMagic => f.write_str("not a journal segment (bad magic)"),
            CorruptReason::UnsupportedVersion { version } => {
                write!(f, "unsupported journal format version {version}")
            }
            CorruptReason::SegmentHeaderReserved => f.write_str("segment header reserved field is not zero"),
            CorruptReason::NameMismatch { name_seq, header_seq } => {
                write!(f, "segment file name says first seq {name_seq}, header says {header_seq}")
            }
            CorruptReason::DamagedHeaderBeforeRecords => {
                f.write_str("segment header is damaged but valid records follow it")
            }
            CorruptReason::ShortRecordHeader { available } => {
                write!(f, "torn record header ({available} bytes left)")
            }
            CorruptReason::LengthTooLarge { len } => {
                write!(f, "record length {len} exceeds the maximum {}", crate::MAX_PAYLOAD_LEN)
            }
            CorruptReason::ShortPayload { len, available } => {
                write!(f, "torn record payload ({available} of {len} bytes)")
            }
            CorruptReason::BadRecordCrc { stored, computed } => {
                write!(f, "record crc mismatch (stored {stored:#010x}, computed {computed:#010x})")
            }
            CorruptReason::RecordReserved => f.write_str("record reserved field is not zero"),
            CorruptReason::DataAfterEnd { at } => {
                write!(f, "a record header of zeros is followed by data at offset {at}")
            }
            CorruptReason::UnexpectedSeq { expected, found } => {
                write!(f, "record seq {found} where {expected} was expected")
            }
            CorruptReason::SeqGap { expected, found } => {
                write!(f, "segment starts at seq {found} but the previous one ended before {expected}")
            }
        }
    }
}

/// A place in the journal where the bytes are not valid, and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Corruption {
    /// The segment file.
    pub segment: PathBuf,
    /// Byte offset in that file where the first invalid header or record
    /// starts (the end of the last valid one).
    pub offset: u64,
    /// What is wrong there.
    pub reason: CorruptReason,
}

impl fmt::Display for Corruption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at offset {}: {}", self.segment.display(), self.offset, self.reason)
    }
}

/// A torn tail: invalid bytes at the end of the last segment, left by a
/// write that a crash interrupted. Never part of a record reported durable.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// The (last) segment file.
    pub segment: PathBuf,
    /// Byte offset where the valid part of the file ends. 0 when the segment
    /// header itself is torn.
    pub offset: u64,
    /// What is wrong at `offset`.
    pub reason: CorruptReason,
    /// Bytes from `offset` to the end of the file: what recovery discards.
    pub bytes: u64,
}

impl fmt::Display for TornTail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "torn tail in {} at offset {} ({} bytes): {}",
            self.segment.display(),
            self.offset,
            self.bytes,
            self.reason
        )
    }
}

/// An operation on the journal failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum JournalError {
    /// A file system operation failed.
    Io {
        /// The file or directory it was applied to.
        path: PathBuf,
        /// The operating system's error.
        source: io::Error,
    },
    /// Records that precede the tail are damaged or missing. The journal is
    /// not opened: silently dropping history would lose acknowledged commands.
    Corrupt(Corruption),
    /// Another [`Journal`](crate::Journal) (in this or another process) has
    /// the directory open for writing.
    Locked {
        /// The lock file.
        path: PathBuf,
    },
    /// An appended record does not carry the next sequence number. Nothing
    /// was appended.
    SeqMismatch {
        /// The sequence number the next record must carry.
        expected: u64,
        /// The sequence number given.
        got: u64,
    },
    /// Sequence number `u64::MAX` cannot be appended: no record could follow it.
    SeqExhausted,
    /// The payload is longer than [`MAX_PAYLOAD_LEN`](crate::MAX_PAYLOAD_LEN).
    /// Nothing was appended.
    PayloadTooLarge {
        /// Length of the payload.
        len: usize,
        /// The maximum.
        max: u32,
    },
    /// The uncommitted batch would exceed
    /// [`JournalOptions::max_batch_bytes`](crate::JournalOptions::max_batch_bytes).
    /// Nothing was appended; commit, then append again.
    BatchFull {
        /// Bytes already buffered.
        pending: usize,
        /// The limit.
        limit: usize,
    },
    /// The options cannot work.
    InvalidOptions {
        /// What is wrong with them.
        reason: &'static str,
    },
    /// An earlier write or sync failed, so what is on disk after the last
    /// durable record is unknown. The journal refuses further work; reopen it
    /// to recover from the files.
    Poisoned,
}

impl fmt::Display for JournalError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            JournalError::Io { path, source } => write!(f, "journal i/o on {}: {source}", path.display()),
            JournalError::Corrupt(c) => write!(f, "journal corrupt: {c}"),
            JournalError::Locked { path } => {
                write!(f, "journal is already open for writing (lock {} is held)", path.display())
            }
            JournalError::SeqMismatch { expected, got } => {
                write!(f, "journal append of seq {got}, expected {expected}")
            }
            JournalError::SeqExhausted => f.write_str("journal sequence numbers exhausted"),
            JournalError::PayloadTooLarge { len, max } => {
                write!(f, "journal payload of {len} bytes exceeds the maximum {max}")
            }
            JournalError::BatchFull { pending, limit } => {
                write!(f, "journal batch full ({pending} bytes pending, limit {limit}): commit first")
            }
            JournalError::InvalidOptions { reason } => write!(f, "invalid journal options: {reason}"),
            JournalError::Poisoned => {
                f.write_str("journal failed earlier (write or sync error) and must be reopened")
            }
        }
    }
}

impl std::error::Error for JournalError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            JournalError::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Maps an I/O error on `path` into a [`JournalError::Io`].
pub(crate) fn io_err(path: &std::path::Path) -> impl FnOnce(io::Error) -> JournalError + '_ {
    move |source| JournalError::Io { path: path.to_path_buf(), source }
}
