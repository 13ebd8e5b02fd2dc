//! The venue's deterministic state machine: pre-trade risk, the order books,
//! and the double-entry ledger, advanced one sequenced command at a time.
//!
//! This crate does no I/O, reads no clock, starts no thread and takes no
//! lock (design rules 1 and 3). The pipeline crate feeds it sequenced
//! commands on its one thread; recovery feeds it the same commands from the
//! journal, and gets the same state, which [`Engine::state_hash`] proves.
//!
//! # Per command
//!
//! A new order goes through **risk**, then the **book**, then **settlement**:
//!
//! 1. Risk checks, in this order, each refusal a typed [`Reject`]: account
//!    exists; its kill switch is off; instrument exists and is open; quantity
//!    and prices on the instrument's grid and bounds; the account's maximum
//!    order quantity; its maximum notional (at the limit price, the stop
//!    price of a stop, the budget of a market buy, or the last trade price of
//!    another market order); the price band (the tighter of the
//!    instrument's and the account's, in basis points around the last trade
//!    price, for limit prices; no band before the first trade); the maximum
//!    number of open orders; the available balance for the hold.
//! 2. **Holds.** A sell holds its base quantity. A limit (or stop-limit) buy
//!    holds `price × qty` plus the fee at the larger of its maker and taker
//!    rates, in quote. A market buy holds its quote budget (in tick×lot
//!    units, converted) plus fee; without a budget it gets one: the largest
//!    notional whose cost with fee fits the available quote. A stop (market)
//!    buy must carry a budget ([`Reject::BudgetRequired`]). Holds move from
//!    available to held before the book sees the order; if the book refuses
//!    it, they move back and nothing else happened.
//! 3. **Settlement** of each trade, as double-entry postings in asset units:
//!    the buyer's held quote pays `notional + buyer fee`; the seller's held
//!    base goes to the buyer's available base; the seller gets `notional −
//!    seller fee` in available quote; both fees go to the fee account.
//!    `notional = price ticks × qty lots × quote units per tick×lot`, exact.
//! 4. **Release.** After every event touching an order, its hold is brought
//!    to exactly what its leaves require, so a fill below the limit price,
//!    a self-trade decrement or an amend down releases the difference at
//!    once; when an order ends (filled, cancelled, expired) the rest of its
//!    hold is released. No hold is left behind and none goes negative.
//!
//! **Fees** are `floor(notional × bps / 10_000)` in the quote asset, per fill,
//! at the rates of the account's tier *when the order was accepted*. Rounding
//! down means a member never pays above the rate, and the per-fill fees of a
//! split order never sum above the fee its hold was sized for
//! (`floor(a) + floor(b) ≤ floor(a + b)`), so a hold always covers its fills.
//!
//! **Transfers** are idempotent by transfer id. A deposit credits available
//! balance. A withdrawal is two-phase, as in TigerBeetle: pending moves the
//! amount to held; post removes it from the venue; void makes it available
//! again.
//!
//! # The ledger invariant
//!
//! Per asset, the sum of every account's available and held balance equals
//! deposits minus posted withdrawals; no balance is negative; every held
//! amount equals the holds of the account's live orders and pending
//! withdrawals. [`Engine::check_ledger`] checks all of it; tests run it after
//! every command.
//!
//! # Determinism
//!
//! Order ids are the command's sequence number. Time comes only from the
//! command. Maps are looked up, never iterated where order matters; the state
//! export lists everything in a canonical order.

mod codec;
mod command;
mod config;
mod engine;
mod state;

pub use codec::DecodeError;
pub use command::{AccountLimits, Command, Output, Sequenced, Settlement, TransferState};
pub use config::{AssetId, AssetSpec, ConfigError, EngineConfig, FeeTier};
pub use engine::{Account, Balance, Engine, LedgerError, OrderHold, Transfer};
pub use state::{EngineState, RestoreError};
#[doc(no_inline)]
pub use venue_domain::Reject;
