//! Replay: reading records back in sequence order, across segments.
//!
//! The reader lends each record's payload from one reused buffer, so a replay
//! of millions of records allocates nothing per record. It checks records
//! exactly as recovery does; a torn tail ends the replay cleanly (the writer
//! will truncate it on open), while damage before the tail is an error.

use std::path::Path;

use crate::error::{CorruptReason, Corruption, JournalError, TornTail};
use crate::format::RecordHeader;
use crate::segment::{Cursor, Opened, SegmentFile, Step, list_segments};

/// A record lent by [`JournalReader::next`]; valid until the next call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordRef<'a> {
    /// Sequence number.
    pub seq: u64,
    /// Sequencer timestamp (ns).
    pub time: u64,
    /// Record kind, chosen by the writer.
    pub kind: u16,
    /// The payload bytes.
    pub payload: &'a [u8],
}

impl RecordRef<'_> {
    /// An owned copy.
    pub fn to_record(&self) -> Record {
        Record { seq: self.seq, time: self.time, kind: self.kind, payload: self.payload.to_vec() }
    }
}

/// An owned record.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Record {
    /// Sequence number.
    pub seq: u64,
    /// Sequencer timestamp (ns).
    pub time: u64,
    /// Record kind, chosen by the writer.
    pub kind: u16,
    /// The payload bytes.
    pub payload: Vec<u8>,
}

/// Opens the journal in `dir` for reading the records with sequence numbers
/// `from_seq` and above.
///
/// Segments that end before `from_seq` are skipped without being read. If
/// the journal's first record is above `from_seq` (older segments were
/// removed after a snapshot), reading starts at that record: a caller that
/// needs `from_seq` itself must check the first record's `seq`.
///
/// The set of segments is fixed when the reader is created; reading a
/// journal that a writer is appending to may end at a record being written,
/// reported as a torn tail.
pub fn read(dir: &Path, from_seq: u64) -> Result<JournalReader, JournalError> {
    let segments = list_segments(dir)?;
    // The last segment whose first record is at or before `from_seq`: every
    // earlier one ends before the next one starts, hence before `from_seq`.
    let start = segments.iter().rposition(|s| s.first_seq <= from_seq).unwrap_or(0);
    Ok(JournalReader {
        segments,
        index: start,
        cursor: None,
        from_seq,
        payload: Vec::new(),
        expected_first: None,
        last_seq: None,
        torn: None,
        done: false,
    })
}

/// Reads records in sequence order; see [`read`].
#[derive(Debug)]
pub struct JournalReader {
    segments: Vec<SegmentFile>,
    /// The next segment to open.
    index: usize,
    cursor: Option<Cursor>,
    from_seq: u64,
    payload: Vec<u8>,
    /// The first seq the next segment must start with.
    expected_first: Option<u64>,
    last_seq: Option<u64>,
    torn: Option<TornTail>,
    done: bool,
}

impl JournalReader {
    /// The next record, or `None` at the end of the journal (or at a torn
    /// tail, see [`torn_tail`](JournalReader::torn_tail)).
    ///
    /// Damage before the tail of the last segment is a
    /// [`JournalError::Corrupt`]; after any error the reader returns `None`.
    #[allow(clippy::should_implement_trait)] // lends from `self`, which `Iterator` cannot
    pub fn next(&mut self) -> Result<Option<RecordRef<'_>>, JournalError> {
        match self.advance() {
            Ok(Some(h)) => {
                self.last_seq = Some(h.seq);
                Ok(Some(RecordRef { seq: h.seq, time: h.time, kind: h.kind, payload: &self.payload }))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                self.cursor = None;
                Err(e)
            }
        }
    }

    /// Moves to the next record at or above `from_seq`, leaving its payload
    /// in `self.payload`.
    fn advance(&mut self) -> Result<Option<RecordHeader>, JournalError> {
        loop {
            if self.done {
                return Ok(None);
            }
            let last = self.index == self.segments.len();
            let Some(cursor) = self.cursor.as_mut() else {
                if self.open_next()? {
                    continue;
                }
                return Ok(None);
            };
            match cursor.step(&mut self.payload)? {
                Step::Record(h) if h.seq < self.from_seq => {}
                Step::Record(h) => return Ok(Some(h)),
                Step::End => {
                    self.expected_first = Some(cursor.next_seq());
                    self.cursor = None;
                }
                Step::Bad(reason) => {
                    let (segment, offset) = (cursor.path().to_path_buf(), cursor.offset());
                    if last {
                        let bytes = cursor.file_len() - offset;
                        self.torn = Some(TornTail { segment, offset, reason, bytes });
                        return Ok(None);
                    }
                    return Err(JournalError::Corrupt(Corruption { segment, offset, reason }));
                }
            }
        }
    }

    /// Opens the next segment; `false` when there is none or its header is
    /// torn (the end of the journal).
    fn open_next(&mut self) -> Result<bool, JournalError> {
        let Some(segment) = self.segments.get(self.index) else {
            return Ok(false);
        };
        self.index += 1;
        let last = self.index == self.segments.len();
        let corrupt =
            |reason| JournalError::Corrupt(Corruption { segment: segment.path.clone(), offset: 0, reason });
        if let Some(expected) = self.expected_first
            && segment.first_seq != expected
        {
            return Err(corrupt(CorruptReason::SeqGap { expected, found: segment.first_seq }));
        }
        match Cursor::open(segment, &mut self.payload)? {
            Opened::Ok(cursor) => {
                self.cursor = Some(cursor);
                Ok(true)
            }
            Opened::BadHeader { reason, torn: true, file_len } if last => {
                self.torn =
                    Some(TornTail { segment: segment.path.clone(), offset: 0, reason, bytes: file_len });
                Ok(false)
            }
            Opened::BadHeader { reason, .. } => Err(corrupt(reason)),
        }
    }

    /// The torn tail at which reading stopped, if it did.
    pub fn torn_tail(&self) -> Option<&TornTail> {
        self.torn.as_ref()
    }

    /// Sequence number of the last record returned, if any.
    pub fn last_seq(&self) -> Option<u64> {
        self.last_seq
    }
}
