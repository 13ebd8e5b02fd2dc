//! The crate's one error type: what can stop a write, a catch-up or a
//! clearing run. Reconciliation has its own ([`crate::ReconError`]), because
//! a difference is a finding, not a failure to run.

use venue_pipeline::PipelineError;

/// Why a post-trade operation did not complete.
#[derive(Debug)]
pub enum Error {
    /// The database refused or lost the connection. The sink retries.
    Database(postgres::Error),
    /// The journal or a snapshot could not be read or replayed.
    Pipeline(PipelineError),
    /// A file could not be written (clearing CSV) or read (snapshot).
    Io(std::io::Error),
    /// A batch does not continue the database: rows for `expected` would be
    /// missing. The sink answers by catching up from the journal.
    Gap {
        /// The next sequence number the database needs.
        expected: u64,
        /// The first sequence number of the batch.
        found: u64,
    },
    /// The journal ends before a sequence number that must be in it.
    JournalShort {
        /// Where the replay stopped.
        reached: u64,
        /// What was needed.
        needed: u64,
    },
    /// The database's last command is not this journal's command of the
    /// same sequence number (the journal does not reach it, or its time
    /// differs): the database belongs to another data directory, or the
    /// journal lost records.
    ForeignDatabase {
        /// `sink_progress.last_seq`.
        seq: u64,
        /// That command's time in the database.
        database_time: Option<i64>,
        /// Its time in the journal, if the journal has it.
        journal_time: Option<u64>,
    },
    /// The database was written under another engine configuration
    /// (instruments, assets, tiers): its rows would be read with the wrong
    /// meaning, so nothing is written.
    ConfigMismatch,
    /// The database's schema is newer than this build, or a migration failed
    /// its checks.
    Schema(String),
    /// A clearing date that is not a UTC calendar day from 1970 on.
    InvalidDate(String),
    /// The engine configuration is unusable, or a snapshot does not restore.
    Engine(String),
}

impl core::fmt::Display for Error {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Error::Database(e) => write!(f, "database: {e}"),
            Error::Pipeline(e) => write!(f, "journal: {e}"),
            Error::Io(e) => write!(f, "{e}"),
            Error::Gap { expected, found } => {
                write!(f, "batch starts at command {found} but the database needs {expected} next")
            }
            Error::JournalShort { reached, needed } => {
                write!(f, "the journal ends at command {reached}, before command {needed}")
            }
            Error::ForeignDatabase { seq, database_time, journal_time } => write!(
                f,
                "the database's last command {seq} (time {database_time:?}) is not the journal's \
                 (time {journal_time:?}): the database belongs to another data directory, or the journal \
                 lost records"
            ),
            Error::ConfigMismatch => f.write_str(
                "the database was written under another engine configuration (fingerprint differs)",
            ),
            Error::Schema(why) => write!(f, "schema: {why}"),
            Error::InvalidDate(why) => write!(f, "date: {why}"),
            Error::Engine(why) => write!(f, "engine: {why}"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Database(e) => Some(e),
            Error::Pipeline(e) => Some(e),
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<postgres::Error> for Error {
    fn from(e: postgres::Error) -> Error {
        Error::Database(e)
    }
}

impl From<PipelineError> for Error {
    fn from(e: PipelineError) -> Error {
        Error::Pipeline(e)
    }
}

impl From<std::io::Error> for Error {
    fn from(e: std::io::Error) -> Error {
        Error::Io(e)
    }
}
