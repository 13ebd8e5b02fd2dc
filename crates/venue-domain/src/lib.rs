//! The vocabulary every part of `venue` speaks: prices and quantities as
//! integers on an instrument's grid, identifiers, order attributes and the one
//! rejection enum that names every refusal.
//!
//! This crate deliberately has no dependencies and does no I/O. It holds no
//! floating point anywhere: a price is a count of ticks and a quantity a count
//! of lots (design rule 2). Decimal strings are converted once, at the edge,
//! by [`InstrumentSpec::parse_price`] and [`InstrumentSpec::parse_qty`], which
//! refuse anything that is not exactly on the grid rather than rounding it.

pub mod calendar;
mod decimal;
mod ids;
mod instrument;
mod order;
mod reject;

pub use decimal::{format_scaled, parse_scaled, write_scaled};
pub use ids::{AccountId, ClientOrderId, InstrumentId, OrderId, StpGroup, Timestamp, TradeId};
pub use instrument::{InstrumentSpec, Price, Qty, SpecError, TradingStatus};
pub use order::{CancelReason, OrderKind, Side, StpMode, TimeInForce};
pub use reject::Reject;
