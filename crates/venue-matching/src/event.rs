//! What the book tells the world. Events are small `Copy` values; the
//! largest (a trade) is 80 bytes with its instrument.

use venue_domain::{
    AccountId, CancelReason, ClientOrderId, InstrumentId, OrderId, OrderKind, Price, Qty, Reject, Side,
    TradeId,
};

/// One event, tagged with the instrument whose book produced it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Event {
    /// The book that produced it.
    pub instrument: InstrumentId,
    /// What happened.
    pub kind: EventKind,
}

/// Which request a rejection answers, so gateways can choose the right reply
/// (FIX ExecutionReport vs OrderCancelReject, for example).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestKind {
    /// A new order.
    New,
    /// A cancel.
    Cancel,
    /// An amend (cancel/replace).
    Amend,
    /// A mass cancel.
    MassCancel,
    /// An instrument status change.
    SetStatus,
}

impl RequestKind {
    /// Its stable snake_case name in records (the audit log, the
    /// post-trade database): part of their format, so never renamed.
    pub const fn name(self) -> &'static str {
        match self {
            RequestKind::New => "new",
            RequestKind::Cancel => "cancel",
            RequestKind::Amend => "amend",
            RequestKind::MassCancel => "mass_cancel",
            RequestKind::SetStatus => "set_status",
        }
    }
}

/// What happened. Order lifecycle first, then public book deltas.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventKind {
    /// A new order passed validation and is live (it may trade at once).
    Accepted {
        /// Venue order id.
        order_id: OrderId,
        /// Client's id, echoed.
        client_order_id: ClientOrderId,
        /// Owner.
        account: AccountId,
        /// Side.
        side: Side,
        /// Kind.
        kind: OrderKind,
        /// Limit price (0 for market and stop orders).
        price: Price,
        /// Total quantity.
        qty: Qty,
    },
    /// A request was refused; nothing else changed.
    Rejected {
        /// The order the request named (new or existing), if any.
        order_id: OrderId,
        /// The client's id from the request, if any.
        client_order_id: ClientOrderId,
        /// The requesting account, if any.
        account: AccountId,
        /// The kind of request refused.
        request: RequestKind,
        /// Why.
        reason: Reject,
    },
    /// One match between a resting (maker) and an incoming (taker) order.
    /// A side whose leaves reach zero is filled by this trade.
    Trade {
        /// Per-instrument trade id, increasing by one.
        trade_id: TradeId,
        /// Execution price: always the maker's price.
        price: Price,
        /// Executed quantity.
        qty: Qty,
        /// Resting order.
        maker_order_id: OrderId,
        /// Incoming order.
        taker_order_id: OrderId,
        /// Maker's account.
        maker_account: AccountId,
        /// Taker's account.
        taker_account: AccountId,
        /// Maker's remaining quantity after this trade.
        maker_leaves: Qty,
        /// Taker's remaining quantity after this trade.
        taker_leaves: Qty,
        /// Side of the taker.
        aggressor: Side,
    },
    /// A live order ended without being filled; `qty` is what was left.
    Cancelled {
        /// Order.
        order_id: OrderId,
        /// Owner.
        account: AccountId,
        /// Leaves quantity removed.
        qty: Qty,
        /// Why.
        reason: CancelReason,
    },
    /// A GTD or DAY order reached its expiry; `qty` is what was left.
    Expired {
        /// Order.
        order_id: OrderId,
        /// Owner.
        account: AccountId,
        /// Leaves quantity removed.
        qty: Qty,
    },
    /// A stop order's condition was met; it now enters the book.
    Triggered {
        /// Order.
        order_id: OrderId,
        /// Owner.
        account: AccountId,
        /// The last trade price that triggered it.
        last_price: Price,
    },
    /// An amend was applied.
    Amended {
        /// Order.
        order_id: OrderId,
        /// Owner.
        account: AccountId,
        /// New limit price.
        price: Price,
        /// New total quantity.
        qty: Qty,
        /// New leaves quantity.
        leaves: Qty,
        /// Whether the order kept its place in the queue.
        priority_kept: bool,
        /// The order's client order id after the amend (a cancel/replace
        /// may give it a new one), so that views keyed by it follow.
        client_order_id: ClientOrderId,
    },
    /// Self-trade prevention (decrement) reduced a live order without a
    /// trade and the order is still live.
    Reduced {
        /// Order.
        order_id: OrderId,
        /// Owner.
        account: AccountId,
        /// Quantity removed.
        qty: Qty,
        /// Leaves quantity after the reduction.
        leaves: Qty,
    },
    /// Answer to a mass cancel: how many orders it cancelled on this book.
    MassCancelled {
        /// The account filter, if any.
        account: Option<AccountId>,
        /// Orders cancelled.
        count: u32,
    },
    /// The instrument's trading status changed.
    StatusChanged {
        /// The new status.
        status: venue_domain::TradingStatus,
    },
    /// L2: a price level's new aggregate after a command touched it.
    /// `qty == 0` (and `count == 0`) means the level is gone.
    Level {
        /// Side of the level.
        side: Side,
        /// Price of the level.
        price: Price,
        /// Sum of shown quantities.
        qty: Qty,
        /// Number of orders.
        count: u32,
    },
    /// L3: an order's shown slice joined the back of its level.
    OrderAdded {
        /// Order.
        order_id: OrderId,
        /// Side.
        side: Side,
        /// Price.
        price: Price,
        /// Shown quantity.
        qty: Qty,
    },
    /// L3: an order's shown quantity changed in place (partial fill, size
    /// decrease, decrement); it keeps its place.
    OrderModified {
        /// Order.
        order_id: OrderId,
        /// Side.
        side: Side,
        /// Price.
        price: Price,
        /// New shown quantity (> 0).
        qty: Qty,
    },
    /// L3: an order left the shown book (filled, cancelled, expired, moved,
    /// or an iceberg slice used up before its refresh is added again).
    OrderDeleted {
        /// Order.
        order_id: OrderId,
        /// Side.
        side: Side,
        /// Price.
        price: Price,
    },
}
