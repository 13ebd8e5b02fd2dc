//! Reading segment files: listing them, walking their records, and the
//! whole-journal scan that recovery and `verify` share.
//!
//! One cursor type validates records for every consumer (the writer's
//! recovery, the reader, `verify`), so a record that one of them accepts is
//! accepted by all. The cursor never trusts a length field beyond the
//! [`MAX_PAYLOAD_LEN`] bound and the bytes actually present in the file.

use std::fs::File;
use std::io::{self, BufReader, Read};
use std::path::{Path, PathBuf};

use crate::error::{CorruptReason, Corruption, JournalError, TornTail, io_err};
use crate::format::{
    MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, RecordHeader, SEGMENT_HEADER_LEN, decode_segment_header,
    parse_segment_file_name, record_crc,
};

/// Read buffer size for walking segments sequentially.
const READ_BUFFER: usize = 256 * 1024;

/// A segment file found in the journal directory.
#[derive(Clone, Debug)]
pub(crate) struct SegmentFile {
    pub path: PathBuf,
    /// The first sequence number, from the file name.
    pub first_seq: u64,
}

/// The segment files of `dir`, in sequence order. Other files are ignored.
pub(crate) fn list_segments(dir: &Path) -> Result<Vec<SegmentFile>, JournalError> {
    let mut segments = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(io_err(dir))? {
        let entry = entry.map_err(io_err(dir))?;
        let name = entry.file_name();
        let Some(first_seq) = name.to_str().and_then(parse_segment_file_name) else {
            continue;
        };
        if !entry.file_type().map_err(io_err(&entry.path()))?.is_file() {
            continue;
        }
        segments.push(SegmentFile { path: entry.path(), first_seq });
    }
    segments.sort_by_key(|s| s.first_seq);
    Ok(segments)
}

/// fsyncs a directory so that file creations, renames and removals in it
/// survive a crash.
pub(crate) fn sync_dir(dir: &Path) -> Result<(), JournalError> {
    File::open(dir).and_then(|d| d.sync_all()).map_err(io_err(dir))
}

/// One step of a [`Cursor`].
pub(crate) enum Step {
    /// A valid record; its payload is in the buffer passed to `step`.
    Record(RecordHeader),
    /// The file ends exactly after the last valid record, or only zeros
    /// follow it (space the writer allocated ahead).
    End,
    /// The bytes at [`Cursor::offset`] are not a valid record.
    Bad(CorruptReason),
}

/// Walks the records of one segment file, checking each.
#[derive(Debug)]
pub(crate) struct Cursor {
    reader: BufReader<File>,
    path: PathBuf,
    /// File length when the cursor was opened; bytes appended later are not read.
    file_len: u64,
    /// End of the last valid record (or of the segment header).
    offset: u64,
    /// The sequence number the next record must carry.
    next_seq: u64,
    /// Valid records seen so far.
    records: u64,
    /// Set once a bad record was found; the cursor then stays there.
    fault: Option<CorruptReason>,
    /// Set once only zeros were found after the last record.
    ended: bool,
}

/// The result of opening a segment file.
pub(crate) enum Opened {
    /// The header is valid; the cursor is positioned at the first record.
    Ok(Cursor),
    /// The header is not valid.
    BadHeader {
        reason: CorruptReason,
        /// Whether this looks like an interrupted creation of the segment
        /// (short or failing its CRC, with no valid record after it), which
        /// recovery may repair when it is the last segment.
        torn: bool,
        file_len: u64,
    },
}

impl Cursor {
    /// Opens `segment` and checks its header.
    pub(crate) fn open(segment: &SegmentFile, payload: &mut Vec<u8>) -> Result<Opened, JournalError> {
        let path = &segment.path;
        let file = File::open(path).map_err(io_err(path))?;
        let file_len = file.metadata().map_err(io_err(path))?.len();
        let mut reader = BufReader::with_capacity(READ_BUFFER, file);
        if file_len < SEGMENT_HEADER_LEN as u64 {
            let reason = CorruptReason::ShortSegmentHeader { len: file_len };
            return Ok(Opened::BadHeader { reason, torn: true, file_len });
        }
        let mut header = [0u8; SEGMENT_HEADER_LEN];
        match reader.read_exact(&mut header) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => {
                // The file shrank since we looked at its length.
                let reason = CorruptReason::ShortSegmentHeader { len: 0 };
                return Ok(Opened::BadHeader { reason, torn: true, file_len });
            }
            Err(e) => return Err(io_err(path)(e)),
        }
        let cursor = Cursor {
            reader,
            path: path.clone(),
            file_len,
            offset: SEGMENT_HEADER_LEN as u64,
            next_seq: segment.first_seq,
            records: 0,
            fault: None,
            ended: false,
        };
        match decode_segment_header(&header) {
            Ok(header_seq) if header_seq == segment.first_seq => Ok(Opened::Ok(cursor)),
            Ok(header_seq) => Ok(Opened::BadHeader {
                reason: CorruptReason::NameMismatch { name_seq: segment.first_seq, header_seq },
                torn: false,
                file_len,
            }),
            Err(reason @ CorruptReason::BadSegmentHeaderCrc { .. }) => {
                // A header that fails its CRC is torn only if nothing was
                // written after it: the writer makes a new segment's header
                // durable before any record goes into it.
                let mut cursor = cursor;
                let records_follow = matches!(cursor.step(payload)?, Step::Record(_));
                let (reason, torn) = if records_follow {
                    (CorruptReason::DamagedHeaderBeforeRecords, false)
                } else {
                    (reason, true)
                };
                Ok(Opened::BadHeader { reason, torn, file_len })
            }
            Err(reason) => Ok(Opened::BadHeader { reason, torn: false, file_len }),
        }
    }

    /// The path of the segment file.
    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// End of the last valid record.
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// Length of the file when the cursor was opened.
    pub(crate) fn file_len(&self) -> u64 {
        self.file_len
    }

    /// The sequence number the next record must carry.
    pub(crate) fn next_seq(&self) -> u64 {
        self.next_seq
    }

    /// Valid records read so far.
    pub(crate) fn records(&self) -> u64 {
        self.records
    }

    /// Reads and checks the next record, leaving its payload in `payload`.
    pub(crate) fn step(&mut self, payload: &mut Vec<u8>) -> Result<Step, JournalError> {
        if let Some(reason) = self.fault {
            return Ok(Step::Bad(reason));
        }
        let step = self.read_record(payload)?;
        match step {
            Step::Record(h) => {
                self.offset += (RECORD_HEADER_LEN as u64) + u64::from(h.len);
                self.next_seq = self.next_seq.wrapping_add(1);
                self.records += 1;
            }
            Step::Bad(reason) => self.fault = Some(reason),
            Step::End => {}
        }
        Ok(step)
    }

    fn read_record(&mut self, payload: &mut Vec<u8>) -> Result<Step, JournalError> {
        let remaining = self.file_len.saturating_sub(self.offset);
        if remaining == 0 || self.ended {
            return Ok(Step::End);
        }
        let short_header = Step::Bad(CorruptReason::ShortRecordHeader { available: remaining });
        let mut head = [0u8; RECORD_HEADER_LEN];
        let present = remaining.min(RECORD_HEADER_LEN as u64) as usize;
        if !self.read_exact(&mut head[..present])? {
            return Ok(short_header);
        }
        if head[..present].iter().all(|&b| b == 0) {
            // No whole record header is zeros (the CRC32C of zeros is not
            // zero): this is where the written records end, if only zeros
            // follow. A record cut within its first bytes can leave zeros
            // too (a length of 0); it is lost either way, as any torn
            // record is.
            let step = self.rest_is_zero(present as u64)?;
            self.ended = matches!(step, Step::End);
            return Ok(step);
        }
        if present < RECORD_HEADER_LEN {
            return Ok(short_header);
        }
        let h = RecordHeader::decode(&head);
        if h.len > MAX_PAYLOAD_LEN {
            return Ok(Step::Bad(CorruptReason::LengthTooLarge { len: h.len }));
        }
        let available = remaining - RECORD_HEADER_LEN as u64;
        let short_payload = Step::Bad(CorruptReason::ShortPayload { len: h.len, available });
        if u64::from(h.len) > available {
            return Ok(short_payload);
        }
        payload.clear();
        payload.resize(h.len as usize, 0);
        if !self.read_exact(payload)? {
            return Ok(short_payload);
        }
        let computed = record_crc(&head, payload);
        if computed != h.crc {
            return Ok(Step::Bad(CorruptReason::BadRecordCrc { stored: h.crc, computed }));
        }
        if h.reserved != 0 {
            return Ok(Step::Bad(CorruptReason::RecordReserved));
        }
        if h.seq != self.next_seq {
            return Ok(Step::Bad(CorruptReason::UnexpectedSeq { expected: self.next_seq, found: h.seq }));
        }
        Ok(Step::Record(h))
    }

    /// After `read` bytes of zeros where a record header should be:
    /// [`Step::End`] if every byte up to the file length seen at open is
    /// zero, otherwise why not.
    fn rest_is_zero(&mut self, read: u64) -> Result<Step, JournalError> {
        let mut at = self.offset + read;
        let mut chunk = [0u8; 4096];
        while at < self.file_len {
            let n = (self.file_len - at).min(chunk.len() as u64) as usize;
            if !self.read_exact(&mut chunk[..n])? {
                // The file shrank since it was opened: nothing more to read.
                break;
            }
            if let Some(i) = chunk[..n].iter().position(|&b| b != 0) {
                return Ok(Step::Bad(CorruptReason::DataAfterEnd { at: at + i as u64 }));
            }
            at += n as u64;
        }
        Ok(Step::End)
    }

    /// `read_exact` that reports a file shorter than expected as `false`.
    fn read_exact(&mut self, buf: &mut [u8]) -> Result<bool, JournalError> {
        match self.reader.read_exact(buf) {
            Ok(()) => Ok(true),
            Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(false),
            Err(e) => Err(io_err(&self.path)(e)),
        }
    }
}

/// What the scan learned about one segment.
#[derive(Clone, Debug)]
pub(crate) struct ScannedSegment {
    pub path: PathBuf,
    pub first_seq: u64,
    pub records: u64,
    /// End of the last valid record (0 when the header is torn).
    pub good_len: u64,
    pub header_ok: bool,
}

/// The result of checking every record of every segment.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// Segment files in the directory.
    pub listed: usize,
    /// Total size of the segment files.
    pub bytes: u64,
    /// Segments checked, in order (all of them unless `corruption` is set).
    pub segments: Vec<ScannedSegment>,
    /// Valid records before any torn tail or corruption.
    pub records: u64,
    pub first_seq: Option<u64>,
    pub last_seq: Option<u64>,
    /// The sequence number the next record would carry, if any segment exists.
    pub next_seq: Option<u64>,
    /// A torn tail at the end of the last segment.
    pub torn: Option<TornTail>,
    /// Damage before the tail; the scan stopped there.
    pub corruption: Option<Corruption>,
}

/// Checks every record of every segment of `dir`. Read-only.
pub(crate) fn scan(dir: &Path) -> Result<Scan, JournalError> {
    let files = list_segments(dir)?;
    let mut scan = Scan { listed: files.len(), ..Scan::default() };
    for file in &files {
        scan.bytes += std::fs::metadata(&file.path).map_err(io_err(&file.path))?.len();
    }
    let mut payload = Vec::new();
    for (index, file) in files.iter().enumerate() {
        let last = index + 1 == files.len();
        let corrupt = |offset, reason| Some(Corruption { segment: file.path.clone(), offset, reason });
        if let Some(expected) = scan.next_seq
            && file.first_seq != expected
        {
            scan.corruption = corrupt(0, CorruptReason::SeqGap { expected, found: file.first_seq });
            return Ok(scan);
        }
        let mut cursor = match Cursor::open(file, &mut payload)? {
            Opened::Ok(cursor) => cursor,
            Opened::BadHeader { reason, torn, file_len } => {
                if last && torn {
                    scan.torn =
                        Some(TornTail { segment: file.path.clone(), offset: 0, reason, bytes: file_len });
                    scan.segments.push(ScannedSegment {
                        path: file.path.clone(),
                        first_seq: file.first_seq,
                        records: 0,
                        good_len: 0,
                        header_ok: false,
                    });
                    scan.next_seq = Some(file.first_seq);
                } else {
                    scan.corruption = corrupt(0, reason);
                }
                return Ok(scan);
            }
        };
        loop {
            match cursor.step(&mut payload)? {
                Step::Record(h) => {
                    scan.records += 1;
                    scan.first_seq.get_or_insert(h.seq);
                    scan.last_seq = Some(h.seq);
                }
                Step::End => break,
                Step::Bad(reason) if last => {
                    let bytes = cursor.file_len() - cursor.offset();
                    scan.torn =
                        Some(TornTail { segment: file.path.clone(), offset: cursor.offset(), reason, bytes });
                    break;
                }
                Step::Bad(reason) => {
                    scan.corruption = corrupt(cursor.offset(), reason);
                    return Ok(scan);
                }
            }
        }
        scan.segments.push(ScannedSegment {
            path: file.path.clone(),
            first_seq: file.first_seq,
            records: cursor.records(),
            good_len: cursor.offset(),
            header_ok: true,
        });
        scan.next_seq = Some(cursor.next_seq());
    }
    Ok(scan)
}
