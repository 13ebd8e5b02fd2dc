//! `venue journal verify`: a read-only health check of a journal directory.
//!
//! It runs the same checks as recovery but never modifies a file, so it is
//! safe on a journal another process is writing (an in-flight record may
//! then show up as a torn tail).

use std::path::Path;

use crate::error::{Corruption, JournalError, TornTail};
use crate::segment::scan;

/// What [`verify`] found.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Segment files in the directory.
    pub segments: usize,
    /// Total size of the segment files in bytes.
    pub bytes: u64,
    /// Valid records (up to any torn tail or corruption).
    pub records: u64,
    /// Sequence number of the first valid record.
    pub first_seq: Option<u64>,
    /// Sequence number of the last valid record.
    pub last_seq: Option<u64>,
    /// A torn tail at the end of the last segment, which
    /// [`Journal::open`](crate::Journal::open) would truncate.
    pub torn: Option<TornTail>,
    /// Damage before the tail, which `Journal::open` would refuse. Records
    /// after it were not checked.
    pub corruption: Option<Corruption>,
}

impl VerifyReport {
    /// Whether the journal has neither a torn tail nor corruption.
    pub fn is_clean(&self) -> bool {
        self.torn.is_none() && self.corruption.is_none()
    }
}

/// Checks every record of the journal in `dir` without modifying anything.
///
/// Damage is reported in the [`VerifyReport`], not as an error; errors are
/// I/O failures (including a missing directory).
pub fn verify(dir: &Path) -> Result<VerifyReport, JournalError> {
    let scan = scan(dir)?;
    Ok(VerifyReport {
        segments: scan.listed,
        bytes: scan.bytes,
        records: scan.records,
        first_seq: scan.first_seq,
        last_seq: scan.last_seq,
        torn: scan.torn,
        corruption: scan.corruption,
    })
}
