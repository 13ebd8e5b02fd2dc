//! The order book and its matching rules, in one place.
//!
//! This crate is the deterministic core of `venue`'s matching: it depends on
//! no runtime, network, file or clock. Time arrives as an argument (stamped by
//! the sequencer on each command); the same commands in the same order always
//! produce the same events and the same book (design rule 1). It does not know
//! about balances, holds or risk limits (the engine crate does) nor about
//! protocols (the gateways do).
//!
//! # The rules
//!
//! * **Price-time priority.** An incoming order trades against the best
//!   opposite price first and, within a price level, against the order that
//!   has been at that level the longest. Every trade prints at the resting
//!   (maker) order's price; a limit order never trades through its limit.
//! * **Market orders** trade at any price and never rest; a remainder is
//!   cancelled with [`CancelReason::NoLiquidity`]. A market buy may carry a
//!   quote budget (in tick×lot units): it stops when the next lot would
//!   exceed it and the remainder is cancelled with
//!   [`CancelReason::BudgetExhausted`].
//! * **Time in force.** GTC rests until cancelled; IOC trades what it can and
//!   the remainder is cancelled ([`CancelReason::IocRemainder`]); FOK trades
//!   its whole quantity at once (against visible *and* hidden liquidity) or
//!   nothing, in which case it is cancelled ([`CancelReason::FokNotFillable`])
//!   and the book is untouched; GTD expires at its expiry time when an
//!   [`Command::Expire`] (or end of session) at or after that time arrives;
//!   DAY expires at [`Command::EndOfSession`]. Expiry runs in a deterministic
//!   order: DAY orders by ascending order id, then GTD orders by ascending
//!   (expiry time, order id).
//! * **Post-only** limit orders are rejected ([`Reject::PostOnlyWouldTake`])
//!   if they would trade on arrival, whatever the self-trade mode.
//! * **Stop and stop-limit** orders are dormant until the last trade price
//!   reaches the stop price (buy: last ≥ stop; sell: last ≤ stop), then enter
//!   as a market or limit order with their time in force and keep their order
//!   id. A stop that the last trade price has already reached is rejected
//!   ([`Reject::StopWouldTriggerImmediately`]); before the first trade no stop
//!   can trigger. Triggers are checked after every command that traded, one
//!   stop at a time, each matching fully before the next is chosen: among buy
//!   stops the lowest stop price first, among sell stops the highest, ties by
//!   ascending order id; when both a buy and a sell stop are triggered the one
//!   with the smaller order id goes first. Triggered orders can trigger more.
//! * **Iceberg** orders show `display_qty` at a time. When the shown slice is
//!   used up and hidden quantity remains, a new slice of
//!   `min(display_qty, leaves)` is shown *at the back* of the level's queue;
//!   an incoming order keeps matching at that level, so hidden quantity still
//!   trades, after every order that was ahead of the refreshed slice.
//! * **Self-trade prevention.** Orders of the same STP group (by default the
//!   account) never trade with each other unless the incoming order's mode is
//!   [`StpMode::Allow`]. The incoming order's mode decides what happens on
//!   meeting a resting order of its own group: cancel the resting order and go
//!   on; cancel the incoming remainder and stop; cancel both and stop; or
//!   decrement both by the smaller leaves quantity without a trade (the
//!   resting order loses hidden quantity before shown quantity and keeps its
//!   place; whichever reaches zero is cancelled, and the incoming order goes
//!   on if it has quantity left).
//! * **Cancel** works in every trading status. **Amend** changes price and/or
//!   total quantity of a resting limit order: a quantity decrease at the same
//!   price keeps queue priority; a price change or a quantity increase loses
//!   it (the order goes to the back of its new level and may trade if it now
//!   crosses). The new quantity counts what was already filled: it must exceed
//!   filled (and self-trade-decremented) quantity. **Mass cancel** removes all
//!   orders of an account and/or instrument, dormant stops included.
//! * **Trading status.** `Halted` and `Closed` refuse new orders and amends
//!   but accept cancels, mass cancels and expiry.
//! * **Refusals** return a [`Reject`] and change nothing: no event but the
//!   `Rejected` one, and the book is exactly as before.
//!
//! # Events
//!
//! Commands report what they did as events, appended to a caller-owned `Vec<Event>`
//! (cleared and reused by the caller, so no allocation once warmed up). The
//! order lifecycle events (`Accepted`, `Rejected`, `Trade`, `Cancelled`,
//! `Expired`, `Triggered`, `Amended`, `Reduced`) say what happened to orders;
//! the book deltas say what the public book now looks like: `Level` gives the
//! new aggregate (shown quantity, order count) of one price level after a
//! command touched it (for L2), and `OrderAdded`/`OrderModified`/
//! `OrderDeleted` give order-by-order changes of the shown book (for L3). The
//! deltas alone reconstruct the public book exactly.
//!
//! # Cost
//!
//! O(1) best price, O(1) cancel and amend by order id (one hash lookup),
//! O(1) to find an existing price level (an array index near the touch),
//! O(log levels) to create one (binary search in a
//! contiguous array ordered with the touch at its end, so inserting near the
//! touch moves few entries), orders in a pre-sized pool linked into intrusive
//! FIFO queues per level. Nothing allocates per operation once the pool, the
//! maps and the caller's event vector have reached their working size.

mod book;
mod books;
mod command;
mod event;
mod index;
mod state;

pub use book::{BookConfig, BookOrder, BookSnapshot, OrderBook};
pub use books::{Books, BooksError};
pub use command::{AmendOrder, CancelOrder, Command, NewOrder, OrderRef};
pub use event::{Event, EventKind, RequestKind};
pub use index::{IdMap, OrderTable, id_map};
pub use state::{BookState, ImportError, OrderState};
#[doc(no_inline)]
pub use venue_domain::{
    AccountId, ClientOrderId, InstrumentId, InstrumentSpec, OrderId, OrderKind, Price, Qty, Side, StpGroup,
    StpMode, TimeInForce, Timestamp, TradeId, TradingStatus,
};
pub use venue_domain::{CancelReason, Reject};
