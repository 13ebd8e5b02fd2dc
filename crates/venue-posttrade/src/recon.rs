//! Reconciliation: the engine's ledger against the database, to the unit.
//!
//! The engine's state at sequence number S (from a snapshot at or before S
//! and the journal up to S: [`engine_at`]) gives every account's total
//! balance per asset; the database gives the sum of its postings with
//! `seq <= S`. They must be equal for every (account, asset) either side
//! knows; any difference names the account and asset and fails the run.
//! The database must have persisted S, or the comparison would be unfair.

use crate::Error;
use crate::sink::engine_before;
use postgres::Client;
use std::collections::BTreeMap;
use venue_domain::AccountId;
use venue_engine::{AssetId, Engine, EngineConfig};
use venue_pipeline::PipelineConfig;

/// A clean reconciliation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Recon {
    /// The sequence number compared at.
    pub seq: u64,
    /// Accounts compared.
    pub accounts: usize,
    /// (account, asset) balances compared.
    pub balances: usize,
}

/// One balance on which the engine and the database disagree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Difference {
    /// Account.
    pub account: AccountId,
    /// Asset.
    pub asset: AssetId,
    /// The asset's name (empty for an asset the engine does not know).
    pub asset_name: String,
    /// Total balance (available + held) in the engine, in asset units.
    pub engine: i64,
    /// Sum of the database's postings, in asset units.
    pub database: i64,
}

impl core::fmt::Display for Difference {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(
            f,
            "account {} asset {} ({}): engine {}, database {} (database - engine = {})",
            self.account.0,
            self.asset_name,
            self.asset.0,
            self.engine,
            self.database,
            i128::from(self.database) - i128::from(self.engine)
        )
    }
}

/// Why a reconciliation failed.
#[derive(Debug)]
pub enum ReconError {
    /// The balances differ: every differing (account, asset), sorted.
    Differences {
        /// The sequence number compared at.
        seq: u64,
        /// What differs.
        differences: Vec<Difference>,
    },
    /// The database has not persisted the engine's sequence number yet.
    Behind {
        /// `sink_progress.last_seq`.
        database: u64,
        /// The engine's sequence number.
        engine: u64,
    },
    /// The database could not be read.
    Database(postgres::Error),
}

impl core::fmt::Display for ReconError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ReconError::Differences { seq, differences } => {
                write!(f, "reconciliation at command {seq}: {} balance(s) differ", differences.len())?;
                for difference in differences {
                    write!(f, "\n  {difference}")?;
                }
                Ok(())
            }
            ReconError::Behind { database, engine } => write!(
                f,
                "the database holds commands up to {database}, the engine is at {engine}: catch up first"
            ),
            ReconError::Database(e) => write!(f, "database: {e}"),
        }
    }
}

impl std::error::Error for ReconError {}

impl From<postgres::Error> for ReconError {
    fn from(e: postgres::Error) -> ReconError {
        ReconError::Database(e)
    }
}

/// Compares every balance of `engine` with the database's postings up to
/// `engine.seq()`.
pub fn reconcile(client: &mut Client, engine: &Engine) -> Result<Recon, ReconError> {
    let seq = engine.seq();
    let database = crate::writer::last_seq(client).map_err(|e| match e {
        Error::Database(e) => ReconError::Database(e),
        other => unreachable!("last_seq only fails in the database: {other}"),
    })?;
    if database < seq {
        return Err(ReconError::Behind { database, engine: seq });
    }
    let config = engine.config();
    let state = engine.export();
    // (account, asset) -> (engine, database)
    let mut balances: BTreeMap<(u32, u32), (i64, i64)> = BTreeMap::new();
    for (account, _) in &state.accounts {
        for asset in 0..config.assets.len() as u32 {
            let balance = engine.balance(*account, AssetId(asset));
            balances.insert((account.0, asset), (balance.available + balance.held, 0));
        }
    }
    let rows = client.query(
        "SELECT account, asset, SUM(amount)::BIGINT FROM postings WHERE seq <= $1 GROUP BY account, asset",
        &[&(seq as i64)],
    )?;
    for row in rows {
        let (account, asset, sum): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
        balances.entry((account as u32, asset as u32)).or_insert((0, 0)).1 = sum;
    }
    let differences: Vec<Difference> = balances
        .iter()
        .filter(|(_, (engine, database))| engine != database)
        .map(|(&(account, asset), &(engine, database))| Difference {
            account: AccountId(account),
            asset: AssetId(asset),
            asset_name: config.assets.get(asset as usize).map(|a| a.name.clone()).unwrap_or_default(),
            engine,
            database,
        })
        .collect();
    if !differences.is_empty() {
        return Err(ReconError::Differences { seq, differences });
    }
    Ok(Recon { seq, accounts: state.accounts.len(), balances: balances.len() })
}

/// The engine's state at exactly command `seq`: the newest snapshot at or
/// before it, then the journal up to it.
pub fn engine_at(pipeline: &PipelineConfig, config: &EngineConfig, seq: u64) -> Result<Engine, Error> {
    let mut engine = engine_before(pipeline, config, seq)?;
    venue_pipeline::replay_with(&pipeline.journal_dir(), &mut engine, seq, |_, _| {})?;
    if engine.seq() != seq {
        return Err(Error::JournalShort { reached: engine.seq(), needed: seq });
    }
    Ok(engine)
}
