//! Commands the book accepts. They are plain `Copy` values: the sequencer
//! journals them and the engine hands them over by reference.

use venue_domain::{
    AccountId, ClientOrderId, InstrumentId, OrderId, OrderKind, Price, Qty, Side, StpGroup, StpMode,
    TimeInForce, Timestamp, TradingStatus,
};

/// A new order. Fields that do not apply to its kind are ignored (a market
/// order's `price`, a non-stop's `stop_price`, a non-GTD's `expire_time`),
/// except those that would change what the client expects to trade: a
/// `display_qty`, `post_only` or `quote_budget` the order cannot honour is
/// refused with `Reject::InvalidOrderCombination`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NewOrder {
    /// Instrument whose book receives the order.
    pub instrument: InstrumentId,
    /// Venue order id from the sequencer; must be new.
    pub order_id: OrderId,
    /// The client's id, unique among the account's live orders on this book.
    pub client_order_id: ClientOrderId,
    /// Owner.
    pub account: AccountId,
    /// Self-trade group; `StpGroup(0)` means the account itself.
    pub stp_group: StpGroup,
    /// Buy or sell.
    pub side: Side,
    /// Limit, market, stop or stop-limit.
    pub kind: OrderKind,
    /// How long it stays active.
    pub tif: TimeInForce,
    /// Limit price (limit and stop-limit).
    pub price: Price,
    /// Trigger price (stop and stop-limit).
    pub stop_price: Price,
    /// Total quantity.
    pub qty: Qty,
    /// Iceberg slice size; `Qty::ZERO` (or the full quantity) for a fully
    /// shown order.
    pub display_qty: Qty,
    /// Refuse the order instead of letting it take liquidity.
    pub post_only: bool,
    /// What to do on meeting an order of the same STP group.
    pub stp: StpMode,
    /// Expiry of a GTD order; must be after the command's time.
    pub expire_time: Timestamp,
    /// Quote budget of a market (or stop) buy in tick×lot units; 0 = none.
    pub quote_budget: i64,
}

impl NewOrder {
    /// A GTC limit order with no client id, no iceberg and the default STP
    /// mode: the common case, for tests and examples.
    pub fn limit(order_id: u64, account: u32, side: Side, price: i64, qty: i64) -> NewOrder {
        NewOrder {
            instrument: InstrumentId(0),
            order_id: OrderId(order_id),
            client_order_id: ClientOrderId::NONE,
            account: AccountId(account),
            stp_group: StpGroup(0),
            side,
            kind: OrderKind::Limit,
            tif: TimeInForce::Gtc,
            price: Price(price),
            stop_price: Price(0),
            qty: Qty(qty),
            display_qty: Qty::ZERO,
            post_only: false,
            stp: StpMode::default(),
            expire_time: Timestamp(0),
            quote_budget: 0,
        }
    }

    /// A market order (time in force IOC) with the default STP mode.
    pub fn market(order_id: u64, account: u32, side: Side, qty: i64) -> NewOrder {
        NewOrder {
            kind: OrderKind::Market,
            tif: TimeInForce::Ioc,
            price: Price(0),
            ..NewOrder::limit(order_id, account, side, 0, qty)
        }
    }
}

/// How a cancel or amend names its order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OrderRef {
    /// By venue order id.
    Id(OrderId),
    /// By the account's client order id (among its live orders).
    Client(AccountId, ClientOrderId),
}

/// Cancel one order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CancelOrder {
    /// Instrument of the order.
    pub instrument: InstrumentId,
    /// Which order.
    pub target: OrderRef,
    /// The requesting account; `None` for an operator. An order of another
    /// account is reported as unknown, so that ids reveal nothing.
    pub account: Option<AccountId>,
}

/// Change the price and/or quantity of a resting limit order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AmendOrder {
    /// Instrument of the order.
    pub instrument: InstrumentId,
    /// Which order.
    pub target: OrderRef,
    /// The requesting account; `None` for an operator.
    pub account: Option<AccountId>,
    /// New limit price.
    pub new_price: Price,
    /// New total quantity (filled quantity included, as FIX `OrderQty` on a
    /// cancel/replace); `None` keeps the current one.
    pub new_qty: Option<Qty>,
    /// New client order id; `ClientOrderId::NONE` keeps the current one.
    pub new_client_order_id: ClientOrderId,
}

/// Everything the matching layer can be asked to do.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Command {
    /// Enter a new order.
    New(NewOrder),
    /// Cancel an order.
    Cancel(CancelOrder),
    /// Amend an order.
    Amend(AmendOrder),
    /// Cancel every order matching the filter (both `None`: every order).
    MassCancel {
        /// Only this instrument.
        instrument: Option<InstrumentId>,
        /// Only this account.
        account: Option<AccountId>,
    },
    /// Change an instrument's trading status.
    SetStatus {
        /// Which instrument.
        instrument: InstrumentId,
        /// The new status.
        status: TradingStatus,
    },
    /// Expire GTD orders whose expiry time is at or before the command's time.
    Expire,
    /// Expire all DAY orders, then GTD orders due at the command's time.
    EndOfSession,
}
