//! Post-trade: the engine's commands and their outcomes in PostgreSQL, off
//! the hot path, plus end-of-day clearing and reconciliation.
//!
//! # The sink
//!
//! [`sink::run`] reads the pipeline's command tap and one output stream
//! (durable commands only, each with exactly its outputs), maps each
//! command to rows with the pure [`rows::Mapper`], and writes them in
//! batches, one transaction per batch ([`writer::Writer`]), on a thread of
//! its own. The database being slow or down never slows the engine: the
//! thread that polls the tap never waits for the database, and what the
//! database thread could not take is written later from the journal (see
//! [`sink`] for the threads, backoff and circuit breaker). Its state is in
//! [`sink::SinkStatus`] for metrics and health: persisted and seen
//! sequence numbers (their difference is the lag), connected, errors,
//! breaker state, commands dropped from the live path and caught up from
//! the journal.
//!
//! **Idempotent by sequence number, resumable**: each transaction checks
//! and moves `sink_progress.last_seq`, so the tables always hold exactly
//! commands `1..=last_seq`; a restarted sink, or one back from an outage,
//! replays the journal from the newest snapshot at or before `last_seq`
//! and goes on with no gap and no duplicate ([`sink::catch_up`] does it at
//! start-up).
//!
//! Wiring it into a server:
//!
//! ```no_run
//! # use std::sync::Arc;
//! # use venue_engine::EngineConfig;
//! # use venue_pipeline::{Pipeline, PipelineConfig};
//! # use venue_posttrade::sink::{self, SinkConfig, SinkStatus};
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let url = "host=127.0.0.1 user=venue dbname=venue";
//! let engine_config = EngineConfig::demo();
//! let mut pipeline_config = PipelineConfig::new("venue-data");
//! pipeline_config.tap_capacity = 1 << 14;
//! pipeline_config.consumers = 1; // the sink's stream (plus the server's own)
//! // Optional: fill the database from the journal before taking orders.
//! // If the database is down, the running sink catches up later anyway.
//! let _ = sink::catch_up(&pipeline_config, &engine_config, url);
//! let (mut pipeline, mut streams, recovery) = Pipeline::start(pipeline_config.clone(), engine_config.clone())?;
//! let (tap, stream) = (pipeline.take_command_tap().expect("tap enabled"), streams.remove(0));
//! let status = Arc::new(SinkStatus::new()); // export it as metrics and health
//! let config = SinkConfig::new(url, pipeline_config, engine_config);
//! let sink_status = status.clone();
//! let sink = std::thread::spawn(move || sink::run(tap, stream, &config, recovery.last_seq, sink_status));
//! // … trade …
//! pipeline.shutdown()?;
//! let exit = sink.join().expect("sink thread");
//! assert!(exit.complete() || status.last_error().is_some()); // else the next start catches up
//! # Ok(()) }
//! ```
//!
//! # Schema
//!
//! `migrations/*.sql`, applied in order by [`schema::migrate`] (each in a
//! transaction, recorded in `schema_migrations`). Every number is a
//! `BIGINT` (or smaller integer), never a float: **amounts** in units of
//! their asset (`10^-decimals`, from `assets`), **prices** in ticks and
//! **quantities** in lots of their instrument (scales in `instruments`:
//! `price = ticks × tick_size / 10^price_decimals`, `quantity = lots ×
//! lot_size / 10^qty_decimals`), **times** in nanoseconds since the Unix
//! epoch (UTC) as the sequencer stamped them.
//!
//! | table | key | holds |
//! |---|---|---|
//! | `venue_config` | one row | the engine configuration's fingerprint and fee account: a database written under another configuration is refused |
//! | `assets`, `instruments` | id | the reference data the integers need (names, decimals, tick and lot sizes) |
//! | `sink_progress` | one row | `last_seq` (and its time): every command up to it is in the database |
//! | `commands` | `seq` | every command: kind, account, instrument, transfer id, `ok`/`rejected` with the reject code and text, output count |
//! | `orders` | `order_id` | every order, accepted or rejected, as entered (side, type, tif, price, stop price, quantity, iceberg, post-only, budget) and kept at its latest status (`new`, `triggered`, `partially_filled`, `filled`, `cancelled`, `expired`, `rejected`), leaves, price and quantity by upserts guarded by `updated_seq` |
//! | `executions` | `seq, idx` | every order event (accepted, rejected, trade as maker or taker, cancelled, expired, triggered, amended, reduced) with quantity, price, leaves, trade id, reason |
//! | `trades` | `instrument, trade_id` (trade ids are per instrument) | price, quantity, base and quote amounts, buyer, seller, their orders and fees, the aggressor side and the maker order |
//! | `postings` | `seq, idx` | double-entry movements of **total** balances (below) |
//! | `transfers` | `transfer_id` | deposits and withdrawals at their latest state (`deposited`, `pending`, `posted`, `voided`) |
//! | `transfer_events` | `seq` | every step of every transfer |
//! | `clearing_runs`, `statements`, `obligations`, `fee_income` | business date, … | end-of-day clearing, below |
//!
//! **Postings.** The sum of `postings.amount` with `seq <= S` per (account,
//! asset) is the engine's total balance (available + held) after command
//! S, to the unit; reconciliation checks exactly that. Per trade: the
//! seller `trade_base −base`, the buyer `+base`; the buyer `trade_quote
//! −notional`, the seller `+notional`; each side's `fee −fee` and the fee
//! account's `fee_income +fee` (zero amounts are not written). A deposit is
//! `deposit +amount`; a posted withdrawal `withdrawal −amount`. A pending
//! withdrawal and its void, like order holds, only move money between
//! available and held inside one account, so they are not postings (they
//! are in `transfers` and `transfer_events`).
//!
//! # Clearing
//!
//! [`clearing::run`] clears one UTC day of command times into the four
//! clearing tables (replacing that day's rows in one transaction) and four
//! CSV files in `OUT/YYYY-MM-DD/`. Files are written atomically, sorted,
//! with `\n` line ends and RFC 4180 quoting where a field needs it, so
//! clearing a complete day again gives byte-identical files and identical
//! rows. Amounts, prices and quantities are rendered as exact decimals with
//! the scales of `assets` and `instruments` (`30000.05`, `0.00120000`),
//! never through a float.
//!
//! `trades.csv`, the trade report, one row per trade in execution order
//! (`seq`, then instrument and trade id):
//!
//! | column | meaning |
//! |---|---|
//! | `trade_time` | execution time, RFC 3339 UTC with microseconds (`2026-11-02T09:00:00.000123Z`; nanoseconds truncated) |
//! | `instrument` | symbol (`BTC-USDT`) |
//! | `trade_id` | the instrument's trade id |
//! | `seq` | sequence number of the command that traded |
//! | `aggressor` | side of the taker, `buy` or `sell` |
//! | `price` | execution price (the maker's), decimal in the quote asset |
//! | `quantity` | executed quantity, decimal in the base asset |
//! | `notional` | price × quantity, decimal in the quote asset |
//! | `buyer`, `seller` | account ids |
//! | `buy_order`, `sell_order` | venue order ids |
//! | `buyer_fee`, `seller_fee` | fees charged to each side, decimal |
//! | `fee_asset` | the asset fees are charged in (the quote asset) |
//!
//! `statements.csv`, per account and asset (sorted by account, then asset
//! id), every movement signed as it moved the balance:
//! `business_date, account, asset, opening, deposits, withdrawals, bought,
//! sold, fees, fee_income, closing, trades`, where `closing = opening +
//! deposits + withdrawals + bought + sold + fees + fee_income`; `bought` is
//! what trades delivered to the account (base bought, quote of sales),
//! `sold` what they took (base sold, quote paid), `trades` the number of
//! trades that moved this balance.
//!
//! `obligations.csv`, net settlement per asset and member (sorted by asset,
//! then account): `business_date, asset, account, direction, amount`, the
//! net of the member's trade and fee postings of the day; `receive`
//! (amount > 0) from the venue or `deliver` (< 0) to it, `flat` at zero.
//!
//! `fee_income.csv`, per asset: `business_date, asset, amount, fees` (fees
//! received and how many).
//!
//! Balancing identity, per asset: **Σ obligations + fee income = 0**
//! (trades only move assets between members; every fee paid is the venue's
//! income).
//!
//! # Reconciliation
//!
//! [`reconcile`] compares the engine's ledger with the database's postings
//! at the engine's sequence number, to the unit, for every (account, asset)
//! either side knows, and fails with every difference named
//! ([`ReconError::Differences`]). [`engine_at`] builds the engine at exactly
//! sequence S from the newest snapshot at or before S and the journal.
//!
//! # Tests
//!
//! The tests run a real PostgreSQL server of their own ([`testing`]): they
//! need the server binaries (Debian package `postgresql`) and fail loudly
//! without them.

pub mod clearing;
mod error;
mod recon;
pub mod rows;
pub mod schema;
pub mod sink;
pub mod testing;
mod time;
pub mod writer;

pub use error::Error;
pub use recon::{Difference, Recon, ReconError, engine_at, reconcile};
pub use time::{rfc3339_micros, utc_date};
