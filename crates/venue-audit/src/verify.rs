//! Checking a whole audit file: every line on its own, then the chain.

use std::fmt;
use std::fs::File;
use std::io::{self, BufRead, BufReader};
use std::path::Path;

use crate::line::{GENESIS_HASH, check_line};

/// What a successful verification proves about the file, and what it cannot:
/// lines removed from the end leave a shorter, valid chain, so `last_seq` and
/// `last_hash` are reported for comparison with the journal or with an
/// anchor kept elsewhere.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VerifyReport {
    /// Number of lines (audited commands) in the file.
    pub lines: u64,
    /// Seq of the first line; `None` for an empty file.
    pub first_seq: Option<u64>,
    /// Seq of the last line; `None` for an empty file.
    pub last_seq: Option<u64>,
    /// Hash of the last line in lowercase hex (64 zeros for an empty file):
    /// the value to anchor, because it vouches for every line before it.
    pub last_hash: String,
}

impl fmt::Display for VerifyReport {
    /// One line for an operator's terminal.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (self.first_seq, self.last_seq) {
            (Some(first), Some(last)) => write!(
                f,
                "{} lines, seq {first} to {last}, chain intact, last hash {}",
                self.lines, self.last_hash
            ),
            _ => write!(f, "empty audit log"),
        }
    }
}

/// Why one line failed verification. Each names the likely tampering, since
/// the operator reading it has to decide what to investigate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LineProblem {
    /// Not a JSON object (or not UTF-8).
    NotJson,
    /// A field of the format is missing, has the wrong type, or (for `hash`)
    /// is not the last field spelled exactly as the writer spells it.
    BadField(&'static str),
    /// The line's content does not hash to its `hash`: it was edited.
    HashMismatch,
    /// The line's `prev` is not the previous line's `hash` (or, on the first
    /// line, not 64 zeros): a line was removed or inserted before it, or
    /// lines were reordered.
    PrevMismatch,
    /// The seq does not follow the previous line's seq by exactly one.
    SeqNotNext {
        /// The previous line's seq.
        previous: u64,
        /// This line's seq.
        found: u64,
    },
    /// The file does not end with a newline: the last line is incomplete.
    TornLastLine,
}

impl fmt::Display for LineProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LineProblem::NotJson => {
                f.write_str("not a JSON object (the line was damaged or is not an audit record)")
            }
            LineProblem::BadField(field) => write!(
                f,
                "field \"{field}\" is missing or malformed (the line was edited or is not an audit record)"
            ),
            LineProblem::HashMismatch => f.write_str("hash does not match its content (the line was edited)"),
            LineProblem::PrevMismatch => f.write_str(
                "prev does not match the previous line's hash \
                 (a line was removed or inserted before this one, or lines were reordered)",
            ),
            LineProblem::SeqNotNext { previous, found } => write!(
                f,
                "seq {found} does not follow the previous line's seq {previous} \
                 (a line was removed, inserted or moved)"
            ),
            LineProblem::TornLastLine => f.write_str(
                "the last line is incomplete, it has no newline \
                 (a crash during a write, or the file was cut short)",
            ),
        }
    }
}

/// Why verification failed.
#[derive(Debug)]
pub enum VerifyError {
    /// The file could not be read.
    Io(io::Error),
    /// A line failed a check; lines before it are intact.
    Line {
        /// 1-based line number.
        line: u64,
        /// What is wrong with it.
        problem: LineProblem,
    },
    /// The chain is intact but does not end where the caller knows it must
    /// ([`verify_against`]).
    EndMismatch {
        /// Where the caller says the log ends.
        expected_last_seq: u64,
        /// Where it does end; `None` if it is empty.
        found_last_seq: Option<u64>,
    },
}

impl fmt::Display for VerifyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerifyError::Io(err) => write!(f, "cannot read the audit log: {err}"),
            VerifyError::Line { line, problem } => write!(f, "line {line}: {problem}"),
            VerifyError::EndMismatch { expected_last_seq, found_last_seq: Some(found) } => write!(
                f,
                "the audit log ends at seq {found} but should end at seq {expected_last_seq} \
                 (lines were removed from its end, or it is not in step with the journal)"
            ),
            VerifyError::EndMismatch { expected_last_seq, found_last_seq: None } => write!(
                f,
                "the audit log is empty but should end at seq {expected_last_seq} \
                 (its lines were removed, or it is not in step with the journal)"
            ),
        }
    }
}

impl std::error::Error for VerifyError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            VerifyError::Io(err) => Some(err),
            _ => None,
        }
    }
}

impl From<io::Error> for VerifyError {
    fn from(err: io::Error) -> VerifyError {
        VerifyError::Io(err)
    }
}

/// Checks every line of the audit file at `path` and the chain that links
/// them; stops at the first bad line.
///
/// Reads the file once, one line in memory at a time, and takes no lock: it
/// can run while the venue appends (it then checks a prefix, and may report
/// the line being written as torn).
pub fn verify(path: impl AsRef<Path>) -> Result<VerifyReport, VerifyError> {
    let mut reader = BufReader::new(File::open(path)?);
    let mut buf = Vec::new();
    let mut report =
        VerifyReport { lines: 0, first_seq: None, last_seq: None, last_hash: GENESIS_HASH.to_owned() };
    loop {
        buf.clear();
        if reader.read_until(b'\n', &mut buf)? == 0 {
            return Ok(report);
        }
        let line = report.lines + 1;
        let fail = |problem| VerifyError::Line { line, problem };
        let Some(content) = buf.strip_suffix(b"\n") else {
            return Err(fail(LineProblem::TornLastLine));
        };
        let checked = check_line(content).map_err(fail)?;
        if checked.prev != report.last_hash {
            return Err(fail(LineProblem::PrevMismatch));
        }
        if let Some(previous) = report.last_seq
            && previous.checked_add(1) != Some(checked.seq)
        {
            return Err(fail(LineProblem::SeqNotNext { previous, found: checked.seq }));
        }
        report.lines = line;
        report.first_seq = report.first_seq.or(Some(checked.seq));
        report.last_seq = Some(checked.seq);
        report.last_hash = checked.hash;
    }
}

/// [`verify()`], and also that the log ends at `expected_last_seq` (the
/// journal's last command, once the venue has audited everything): the one
/// check that catches lines removed from the end of the file.
pub fn verify_against(path: impl AsRef<Path>, expected_last_seq: u64) -> Result<VerifyReport, VerifyError> {
    let report = verify(path)?;
    if report.last_seq != Some(expected_last_seq) {
        return Err(VerifyError::EndMismatch { expected_last_seq, found_last_seq: report.last_seq });
    }
    Ok(report)
}
