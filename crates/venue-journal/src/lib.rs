//! The command journal: the durable, ordered record of every sequenced
//! command, from which the engine's state is rebuilt (design rules 5 and 6).
//!
//! The journal knows records, not commands: a payload is opaque bytes that
//! the engine encodes. What the journal guarantees:
//!
//! * **Nothing reported durable is lost.** [`Journal::commit`] writes the
//!   buffered records and, under [`Durability::Always`], `fdatasync`s them
//!   before it returns; only records up to [`Journal::durable_seq`] may be
//!   acknowledged to clients.
//! * **Nothing damaged is trusted.** Every record carries a CRC32C and its
//!   sequence number. On open, every record of every segment is checked. A
//!   torn tail (what a crash leaves in the middle of a write) is truncated;
//!   damage anywhere else is a hard [`JournalError::Corrupt`], because
//!   silently dropping history would drop acknowledged commands.
//! * **Sequence numbers are contiguous** across the whole journal: every
//!   record's `seq` is the previous one plus one, checked on append and on
//!   read.
//! * **One writer.** [`Journal::open`] takes an exclusive lock on the file
//!   `LOCK` in the directory; readers ([`read`], [`verify`]) take none.
//!
//! # Use
//!
//! ```no_run
//! # use venue_journal::*;
//! # fn main() -> Result<(), JournalError> {
//! let dir = std::path::Path::new("data/journal");
//! let (mut journal, report) = Journal::open(dir, JournalOptions::default())?;
//! // Replay first: the state is a function of the records.
//! let mut reader = venue_journal::read(dir, 1)?;
//! while let Some(record) = reader.next()? {
//!     let _ = (record.seq, record.time, record.kind, record.payload);
//! }
//! // Then the sequencer loop: append a batch, commit once, acknowledge.
//! let seq = journal.next_seq();
//! journal.append(seq, 1_700_000_000_000_000_000, 1, b"encoded command")?;
//! let info = journal.commit()?;
//! assert_eq!(info.durable_seq, Some(seq));
//! # let _ = report;
//! # Ok(())
//! # }
//! ```
//!
//! # Format, version 1
//!
//! All integers are little-endian. A journal is a directory of **segment
//! files** named `{first_seq:020}.journal`: the sequence number of the
//! segment's first record in twenty zero-padded decimal digits, so that name
//! order is sequence order. Other files in the directory (such as `LOCK`) are
//! ignored.
//!
//! Each segment starts with a 32-byte **segment header**:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 8 | magic `b"VENUEJNL"` |
//! | 8 | 2 | format version `u16` = 1 |
//! | 10 | 2 | reserved `u16` = 0 |
//! | 12 | 4 | reserved `u32` = 0 |
//! | 16 | 8 | `first_seq` `u64`, equal to the one in the file name |
//! | 24 | 4 | reserved `u32` = 0 |
//! | 28 | 4 | CRC32C `u32` of bytes 0..28 |
//!
//! **Records** follow back to back until the end of the file, each a 28-byte
//! record header and its payload:
//!
//! | offset | size | field |
//! |---:|---:|---|
//! | 0 | 4 | `len` `u32`: payload length, at most [`MAX_PAYLOAD_LEN`] (1 MiB) |
//! | 4 | 4 | `crc` `u32`: CRC32C of bytes 0..4, then bytes 8..28, then the payload |
//! | 8 | 8 | `seq` `u64`: sequence number |
//! | 16 | 8 | `time` `u64`: sequencer timestamp, nanoseconds |
//! | 24 | 2 | `kind` `u16`: record kind, chosen by the writer |
//! | 26 | 2 | reserved `u16` = 0 |
//! | 28 | `len` | payload |
//!
//! That is, the CRC covers every byte of the record except itself. A record's
//! `seq` is the previous record's plus one; the first record of a segment has
//! the segment's `first_seq`, and a segment's `first_seq` is one more than the
//! last `seq` of the segment before it. The first segment of a journal may
//! start at any sequence number ([`JournalOptions::first_seq`], or later,
//! once [`Journal::remove_segments_before`] deleted older segments).
//!
//! After the last record, a segment may hold zeros up to the end of its file:
//! space the writer allocated ahead ([`PREALLOCATE_BYTES`] at a time), so
//! that a commit does not change the file's size and its `fdatasync` has no
//! file-system metadata to write. A record header of zeros (or fewer than 28
//! bytes of zeros at the end of the file) therefore ends a segment's records
//! when every byte after it is zero; a byte that is not zero after it is a
//! bad record ([`CorruptReason::DataAfterEnd`]). No record header is all
//! zeros: the CRC32C of zeros is not zero. Only the last segment keeps its
//! zeros: a segment is cut to its last record before the next one is
//! created. (Readers from before this rule take the zeros for a torn tail;
//! their writer cut them off, losing no record.)
//!
//! # Writing
//!
//! [`Journal::append`] encodes into a memory buffer; [`Journal::commit`]
//! writes the buffer with one `write` per segment touched (into the zeros
//! allocated ahead, extending them by [`PREALLOCATE_BYTES`] when they run
//! out and the policy syncs) and then applies the [`Durability`] policy
//! (group commit: one `fdatasync` per batch). When
//! a segment holds at least [`JournalOptions::segment_bytes`], the next
//! record starts a new segment: the old segment is synced, the new file is
//! created with its header, and file and directory are synced, all before
//! any record is written into it (skipped under [`Durability::Never`]).
//! A failed write or sync poisons the [`Journal`]; reopen it to recover.
//!
//! # Recovery
//!
//! [`Journal::open`] checks each record: the header fits in the file, `len`
//! is at most [`MAX_PAYLOAD_LEN`], the payload fits in the file, the CRC
//! matches, the reserved field is zero and `seq` is the expected one. The
//! first record failing a check in the **last** segment starts a torn tail:
//! the file is truncated to the end of the record before it and synced, and
//! the [`OpenReport`] says what was discarded (zeros after the last record
//! are not a torn tail: they stay, and the writer writes into them). A last
//! segment whose header is shorter than 32 bytes or fails its CRC, with no
//! valid record after it, was being created when the crash hit: its header
//! is written again. Everything else is [`JournalError::Corrupt`] and nothing
//! is modified: a failing record in an earlier segment, a gap between
//! segments, a header with a good CRC but a wrong magic, version or name, or
//! a damaged header followed by valid records. Because a segment is durable before the next one is created,
//! a crash can only tear the last segment.
//!
//! Damage inside the last segment that is *not* at its end (media
//! corruption) cannot be told apart from a torn write by the bytes alone and
//! is truncated as a torn tail; [`verify`] reports it without modifying
//! anything, for an operator to look at before the writer opens the journal.

mod error;
mod format;
mod reader;
mod segment;
mod verify;
mod writer;

pub use error::{CorruptReason, Corruption, JournalError, TornTail};
pub use format::{
    FORMAT_VERSION, MAGIC, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, SEGMENT_HEADER_LEN, SEGMENT_SUFFIX,
    parse_segment_file_name, segment_file_name,
};
pub use reader::{JournalReader, Record, RecordRef, read};
pub use verify::{VerifyReport, verify};
pub use writer::{
    CommitInfo, Durability, Journal, JournalOptions, LOCK_FILE_NAME, OpenReport, PREALLOCATE_BYTES,
};
