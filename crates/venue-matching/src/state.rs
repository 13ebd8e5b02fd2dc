//! The logical state of a book, for engine snapshots and state hashes.
//!
//! A snapshot must survive a restart and a new binary, so it records what an
//! order *is* (every attribute that can change a future fill), in priority
//! order, and never how the pools happen to be laid out. Two books with the
//! same [`BookState`] behave identically from then on, whatever their
//! history: that is what lets "snapshot + journal tail" prove itself equal to
//! a full replay.

use crate::book::{BookConfig, OrderBook};
use venue_domain::{
    AccountId, ClientOrderId, OrderId, OrderKind, Price, Qty, Side, StpMode, TimeInForce, Timestamp,
    TradingStatus,
};

/// Every attribute of a live order that can influence matching.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderState {
    /// Venue order id.
    pub order_id: OrderId,
    /// Client order id (`NONE` if none).
    pub client_order_id: ClientOrderId,
    /// Owner.
    pub account: AccountId,
    /// Resolved self-trade key: a group id, or the account tagged with bit 32.
    pub stp_key: u64,
    /// Side.
    pub side: Side,
    /// Kind (a triggered stop-limit is `Limit`, a triggered stop `Market`).
    pub kind: OrderKind,
    /// Time in force.
    pub tif: TimeInForce,
    /// Self-trade prevention mode.
    pub stp: StpMode,
    /// Post-only flag as entered.
    pub post_only: bool,
    /// Limit price (0 for market and stop-market).
    pub price: Price,
    /// Stop price (0 unless a stop).
    pub stop_price: Price,
    /// Total quantity.
    pub qty: Qty,
    /// Remaining quantity.
    pub leaves: Qty,
    /// Shown slice while resting (0 for a dormant stop).
    pub shown: Qty,
    /// Iceberg slice size (0 if fully shown).
    pub display: Qty,
    /// Remaining quote budget in tick×lot units; `i64::MAX` means none.
    pub budget: i64,
    /// GTD expiry.
    pub expire_time: Timestamp,
}

/// A whole book, logically: what [`OrderBook::export`] produces and
/// [`OrderBook::import`] rebuilds.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookState {
    /// Trading status.
    pub status: TradingStatus,
    /// Last trade price in ticks (0 before the first trade).
    pub last_price: Price,
    /// Next trade id to assign.
    pub next_trade_id: u64,
    /// Resting bids, best price first, then time priority.
    pub bids: Vec<OrderState>,
    /// Resting asks, best price first, then time priority.
    pub asks: Vec<OrderState>,
    /// Dormant buy stops in trigger order.
    pub buy_stops: Vec<OrderState>,
    /// Dormant sell stops in trigger order.
    pub sell_stops: Vec<OrderState>,
}

/// Why a [`BookState`] cannot be loaded into a book (a snapshot from another
/// configuration, or a damaged one that passed its checksum).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ImportError {
    /// More live orders than the configured `max_orders`.
    TooManyOrders,
    /// An order id or client order id appears twice.
    DuplicateId(OrderId),
    /// An order is inconsistent (side list, quantities, kind, ordering).
    BadOrder(OrderId),
}

impl core::fmt::Display for ImportError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            ImportError::TooManyOrders => f.write_str("more live orders than the book's capacity"),
            ImportError::DuplicateId(id) => write!(f, "order id {} appears twice", id.0),
            ImportError::BadOrder(id) => write!(f, "order {} is inconsistent", id.0),
        }
    }
}

impl std::error::Error for ImportError {}

impl BookState {
    /// Number of live orders (resting and dormant).
    pub fn len(&self) -> usize {
        self.bids.len() + self.asks.len() + self.buy_stops.len() + self.sell_stops.len()
    }

    /// Whether the book holds no live order.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl OrderBook {
    /// Rebuilds a book from its logical state, for recovery from a snapshot.
    /// Orders are linked in the given order, so priority is preserved; the
    /// result exports to an equal state.
    pub fn import(
        spec: venue_domain::InstrumentSpec,
        config: BookConfig,
        state: &BookState,
    ) -> Result<OrderBook, ImportError> {
        let mut book = OrderBook::new(spec, config);
        if state.len() > book.capacity() {
            return Err(ImportError::TooManyOrders);
        }
        book.restore_header(state.status, state.last_price, state.next_trade_id);
        for (side, orders) in [(Side::Buy, &state.bids), (Side::Sell, &state.asks)] {
            let mut previous: Option<Price> = None;
            for order in orders {
                let better_or_same = |p: Price| match side {
                    Side::Buy => order.price <= p,
                    Side::Sell => order.price >= p,
                };
                let ordered = previous.is_none_or(better_or_same);
                let shaped = order.side == side
                    && !order.kind.is_stop()
                    && order.kind != OrderKind::Market
                    && order.shown.0 > 0
                    && order.shown <= order.leaves
                    && order.leaves <= order.qty
                    && (order.display.0 > 0 || order.shown == order.leaves)
                    && (order.display.0 == 0 || order.shown <= order.display)
                    && order.price.0 > 0;
                if !ordered || !shaped {
                    return Err(ImportError::BadOrder(order.order_id));
                }
                previous = Some(order.price);
                book.restore_resting(order)?;
            }
        }
        for (side, stops) in [(Side::Buy, &state.buy_stops), (Side::Sell, &state.sell_stops)] {
            for order in stops {
                let shaped = order.side == side
                    && order.kind.is_stop()
                    && order.shown.0 == 0
                    && order.leaves.0 > 0
                    && order.leaves <= order.qty;
                if !shaped {
                    return Err(ImportError::BadOrder(order.order_id));
                }
                book.restore_stop(order)?;
            }
        }
        Ok(book)
    }
}
