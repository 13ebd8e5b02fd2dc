//! Market data: the one component every transport (REST, WebSocket, FIX,
//! gRPC) takes public data from.
//!
//! It is fed the engine's outbound stream ([`Stamped`] outputs, on its own
//! consumer thread, off the engine thread) and keeps, per instrument, the
//! public book (L2 levels and L3 orders), the quote (L1), the last trades,
//! OHLCV candles and 24-hour statistics. It is pure: no I/O, no thread, no
//! clock (time is the sequencer's, from [`Stamped::time`]), no floating
//! point, and only ordered maps where order shows, so the same stream always
//! gives the same updates and snapshots.
//!
//! # The contract
//!
//! **Book sequence number.** Each instrument has a `u64` book sequence
//! number, 0 at start. All outputs of one engine command (one
//! [`Stamped::seq`]) that change an instrument's public data form **one**
//! [`Update`] carrying the next number (+1); a command that changes nothing
//! public for an instrument (a rejection, a deposit, a dormant stop, a
//! level touched and put back as it was) does not advance it. A command
//! ends at its output marked [`Stamped::last`], at the first output of
//! another command, or at [`MarketData::flush`]; a command touching several
//! instruments (mass cancel, expiry) gives one update per instrument, in
//! instrument order. Every update, and every snapshot, carries the number it
//! is consistent with. Binance's `U`/`u` map onto it: `u` is
//! [`Update::seq`]; `U` is [`Update::first_seq`] on a stream of every update,
//! or [`Update::l2_first_seq`] ([`Update::l3_first_seq`]) on a depth (L3)
//! stream that carries only updates with level changes (L3 events). Either
//! way, consecutive messages of one stream satisfy `U = previous u + 1`.
//!
//! **Snapshots** ([`MarketData::depth`], [`MarketData::l3_snapshot`],
//! [`MarketData::l1`], [`MarketData::trades`], [`MarketData::candles`],
//! [`MarketData::stats_24h`]) are the state after the update with their
//! `seq`, never part of a command: outputs of a command still being
//! collected are not applied until the command ends.
//!
//! **Resynchronisation.** A subscriber buffers the stream, takes a snapshot,
//! drops updates with `u <= snapshot seq`, applies the one with
//! `U <= seq + 1 <= u`, then each following one; an update with
//! `U > seq + 1` means it missed one: it takes a new snapshot.
//! [`BookFollower`] (L2) and [`L3Follower`] implement exactly this and report
//! [`FollowError::Gap`] `{ expected, got }`; transports and the web page
//! mirror them. After a restart of the venue the numbering of every
//! instrument continues from the engine's sequence number
//! ([`MarketData::from_books`]): it never goes back, and a client holding a
//! number from before the restart sees a gap and resynchronises.
//!
//! **Encode once, send to many.** [`MarketData::apply`] hands out each
//! update as an `Arc<Update>`: every subscriber and transport shares the
//! one allocation. Updates are already split into parts (levels, L3 events,
//! trades, quote, candles, status) with per-channel first sequence
//! numbers, so a transport encodes each channel's frame once per update
//! from the parts it needs, without re-deriving anything.
//!
//! **Conflation.** A slow subscriber gets a [`Conflator`]: a bounded queue
//! that, when full, merges updates of the same instrument: levels by their
//! latest state per price, the latest quote, candle and status, events
//! (trades, L3) concatenated. The merged update covers `first_seq..=seq`; a
//! follower fed it ends with exactly the book of an unconflated one.
//!
//! # Example
//!
//! ```
//! use venue_engine::{EngineConfig, Output};
//! use venue_marketdata::{Applied, BookFollower, MarketData, Stamped};
//! use venue_matching::{Event, EventKind, InstrumentId, OrderId, Price, Qty, Side, Timestamp};
//!
//! let mut market = MarketData::new(&EngineConfig::demo().instruments);
//! let btc = InstrumentId(0);
//! // A subscriber starts from a snapshot (here: the empty book at 0).
//! let mut follower = BookFollower::new(&market.depth(btc, None).unwrap());
//!
//! // The book outputs of engine command 42: an order joins the book.
//! let events = [
//!     EventKind::OrderAdded { order_id: OrderId(42), side: Side::Buy, price: Price(100), qty: Qty(5) },
//!     EventKind::Level { side: Side::Buy, price: Price(100), qty: Qty(5), count: 1 },
//! ];
//! let mut updates = Vec::new();
//! for (i, kind) in events.into_iter().enumerate() {
//!     let output = Output::Book(Event { instrument: btc, kind });
//!     let stamped = Stamped { seq: 42, time: Timestamp(0), origin: 0, last: i == 1, output };
//!     market.apply(&stamped, &mut updates);
//! }
//! // One command, one update, book sequence number 1.
//! assert_eq!(updates.len(), 1);
//! assert_eq!((updates[0].seq, updates[0].levels.len(), updates[0].l3.len()), (1, 1, 1));
//! assert_eq!(follower.apply(&updates[0]), Ok(Applied::Applied));
//! assert_eq!(follower.depth(None), market.depth(btc, None).unwrap());
//! ```
//!
//! # Units
//!
//! Prices are [`Price`](venue_domain::Price) ticks and quantities
//! [`Qty`](venue_domain::Qty) lots of the instrument, as in the engine;
//! turning them into decimal strings is the transports' job
//! ([`InstrumentSpec::format_price`](venue_domain::InstrumentSpec::format_price),
//! `format_qty`). L2 quantities are *shown* quantities: iceberg reserves are
//! never public. Candle and statistics volumes are in lots; quote volumes
//! are in tick×lot units (`i128`), i.e. `price ticks × qty lots` summed.
//! Times are [`Timestamp`](venue_domain::Timestamp) nanoseconds since the
//! Unix epoch (UTC).
//!
//! # Candles and statistics
//!
//! Candles (`1s`, `1m`, `5m`, `15m`, `1h`, `1d`) are aligned to multiples of
//! their length since the epoch (UTC), contain the trades whose command time
//! falls in them, and exist only for periods with trades; each update that
//! traded carries the current candle of every interval. A candle closes when
//! the sequencer's time reaches its end: the first command at or after it
//! (any command; on an idle venue the periodic time tick, whose
//! [`Output::Ticked`](venue_engine::Output::Ticked) carries the time) gives
//! the instrument an update with the final candle, closed at the update's
//! time ([`Candle::is_closed`]), which is how a kline stream's `x` becomes
//! true. A closing is a public change: it takes a book sequence number like
//! any other update. The 24-hour
//! statistics use per-minute buckets: the window is the 1440 UTC minutes
//! ending with `now`'s minute, exact at that granularity, O(1) amortised.

mod book;
mod candle;
mod conflate;
mod follow;
mod market;
mod stats;
mod update;

pub use book::L3Order;
pub use candle::{Candle, Interval, Ohlcv};
pub use conflate::{Conflator, Pushed};
pub use follow::{Applied, BookFollower, FollowError, L3Follower};
pub use market::{
    CandlesSnapshot, DepthSnapshot, L1Snapshot, L3Snapshot, MarketData, MarketDataConfig, TradesSnapshot,
};
pub use stats::Stats24h;
pub use update::{Bbo, Interest, L3Event, LevelChange, PriceLevel, PublicTrade, Update};
#[doc(no_inline)]
pub use venue_pipeline::Stamped;
