//! Per-account order and trade history, and the account events the user
//! data stream sends, built on the router thread from the engine's durable
//! outputs.
//!
//! The engine forgets an order the moment it ends, so REST `allOrders`,
//! `myTrades` and `GET order` for a filled or cancelled order need a record
//! kept beside it. The router feeds every output to [`History::record`]
//! before it answers the command's waiter, so a client that got an order's
//! answer finds the order here at once. The work per output is O(1) (a
//! hash lookup and a push), and memory is bounded per account: the last
//! [`MAX_ORDERS`] orders and [`MAX_TRADES`] trades, oldest evicted first.
//!
//! What the outputs do not carry (time in force, post-only, stop price,
//! iceberg size, STP mode, quote budget) a gateway registers with
//! [`History::expect`] before it submits an order; orders nobody registered
//! (FIX, gRPC) show what the outputs tell: GTC unless an IOC or FOK end
//! gave them away, LIMIT rather than LIMIT_MAKER, no stop price.
//!
//! The history lives in memory: after a restart it starts empty (the
//! post-trade database keeps everything), and an order placed before the
//! start is known from its first fill after it, with what that fill tells.
//!
//! Account events (an order accepted, traded, cancelled, expired, amended;
//! a deposit or withdrawal) go to the subscribers of that account
//! ([`History::subscribe`]) as [`UserEvent`]s carrying the order as it stood
//! right after the event, which is what Binance's `executionReport` needs.
//! A trade's event is sent with its settlement (the output right after the
//! trade), which carries the commission.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use venue_domain::{
    AccountId, CancelReason, ClientOrderId, InstrumentId, OrderId, OrderKind, Price, Qty, Side, StpMode,
    TimeInForce, Timestamp, TradeId,
};
use venue_engine::{AssetId, Output, Settlement, TransferState};
use venue_matching::{EventKind, NewOrder};
use venue_pipeline::Stamped;

use crate::outlet::Outlet;

/// Orders kept per account: at most about 230 bytes each with their two
/// indexes, 2.3 MB per account.
pub const MAX_ORDERS: usize = 10_000;
/// Trades kept per account: at most 64 bytes each, 0.64 MB per account.
pub const MAX_TRADES: usize = 10_000;
/// Registered placements awaiting their order's acceptance, per account:
/// more than a client can have in flight; the oldest go first.
const MAX_PENDING: usize = 256;
/// A registration older than this (sequencer time) is stale: its request
/// timed out and its order, if it ever comes, is treated as unregistered.
const PENDING_TTL_NS: u64 = 60 * 1_000_000_000;

/// An order's state, as Binance names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Live, nothing executed.
    New,
    /// Live, partly executed.
    PartiallyFilled,
    /// Executed in full (or a quote-budget market order that spent its budget).
    Filled,
    /// Cancelled by its owner, an operator, a mass cancel or the kill switch.
    Canceled,
    /// Ended by its own rules: IOC/FOK remainder, no liquidity, GTD/DAY expiry.
    Expired,
    /// Removed by self-trade prevention.
    ExpiredInMatch,
}

impl Status {
    /// Binance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::New => "NEW",
            Status::PartiallyFilled => "PARTIALLY_FILLED",
            Status::Filled => "FILLED",
            Status::Canceled => "CANCELED",
            Status::Expired => "EXPIRED",
            Status::ExpiredInMatch => "EXPIRED_IN_MATCH",
        }
    }

    /// Whether the order can still trade.
    pub fn is_live(self) -> bool {
        matches!(self, Status::New | Status::PartiallyFilled)
    }

    /// The status of an order ended by `reason` with `executed` done:
    /// shared by the history and the REST order answer so they agree.
    pub fn after_cancel(reason: CancelReason, executed: Qty) -> Status {
        match reason {
            CancelReason::Requested
            | CancelReason::MassCancel
            | CancelReason::Disconnect
            | CancelReason::KillSwitch
            | CancelReason::Operator => Status::Canceled,
            CancelReason::SelfTradePrevention => Status::ExpiredInMatch,
            CancelReason::BudgetExhausted if executed.0 > 0 => Status::Filled,
            CancelReason::BudgetExhausted
            | CancelReason::IocRemainder
            | CancelReason::FokNotFillable
            | CancelReason::NoLiquidity
            | CancelReason::Expired => Status::Expired,
        }
    }
}

/// What happened to an order, as Binance's `executionReport` `x` names it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecType {
    /// Accepted.
    New,
    /// A fill.
    Trade,
    /// Cancelled.
    Canceled,
    /// Ended by its own rules (or a quote budget spent).
    Expired,
    /// Amended (price or quantity).
    Replaced,
    /// Self-trade prevention removed or reduced it.
    TradePrevention,
}

impl ExecType {
    /// Binance's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ExecType::New => "NEW",
            ExecType::Trade => "TRADE",
            ExecType::Canceled => "CANCELED",
            ExecType::Expired => "EXPIRED",
            ExecType::Replaced => "REPLACED",
            ExecType::TradePrevention => "TRADE_PREVENTION",
        }
    }
}

/// One order as the history knows it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderRecord {
    /// Its book.
    pub instrument: InstrumentId,
    /// Venue order id.
    pub order_id: OrderId,
    /// The client's id (its text is the gateway's to keep).
    pub client_order_id: ClientOrderId,
    /// Owner.
    pub account: AccountId,
    /// Side.
    pub side: Side,
    /// Kind as placed (a triggered stop stays a stop).
    pub kind: OrderKind,
    /// Time in force (registered, or inferred: see the module docs).
    pub tif: TimeInForce,
    /// A post-only (LIMIT_MAKER) order.
    pub post_only: bool,
    /// Trigger price of a stop (0 otherwise or when unknown).
    pub stop_price: Price,
    /// Displayed size of an iceberg (0 otherwise or when unknown).
    pub display_qty: Qty,
    /// Self-trade prevention mode, when registered.
    pub stp: Option<StpMode>,
    /// Quote budget of a market buy by amount (tick×lot units), else 0.
    pub quote_budget: i64,
    /// Limit price (0 for market and stop-market orders).
    pub price: Price,
    /// Total quantity.
    pub qty: Qty,
    /// Executed by trades.
    pub executed: Qty,
    /// Removed without a trade by self-trade prevention (decrement).
    pub prevented: Qty,
    /// Sum of price × quantity over the fills, in tick×lot units.
    pub quote: i128,
    /// Current state.
    pub status: Status,
    /// When it was accepted (0 when not seen).
    pub time: Timestamp,
    /// When it last changed.
    pub update_time: Timestamp,
    /// When it started working (`None` while a stop is dormant).
    pub working_time: Option<Timestamp>,
    /// Seen from its acceptance: false for an order first seen by a fill
    /// (placed before the venue started, or evicted and seen again), whose
    /// quantities before that are unknown.
    pub complete: bool,
}

impl OrderRecord {
    /// What remains to execute (nothing once it ended).
    pub fn leaves(&self) -> Qty {
        if !self.status.is_live() {
            return Qty::ZERO;
        }
        Qty((self.qty.0 - self.executed.0 - self.prevented.0).max(0))
    }

    /// Whether it rests on the book (Binance's `w`): live, working, and of a
    /// kind that rests.
    pub fn on_book(&self) -> bool {
        self.status.is_live()
            && self.working_time.is_some()
            && matches!(self.kind, OrderKind::Limit | OrderKind::StopLimit)
            && !matches!(self.tif, TimeInForce::Ioc | TimeInForce::Fok)
    }
}

/// One of an account's trades.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TradeRecord {
    /// Its book.
    pub instrument: InstrumentId,
    /// Per-instrument trade id.
    pub trade_id: TradeId,
    /// The account's order in it.
    pub order_id: OrderId,
    /// Price.
    pub price: Price,
    /// Quantity.
    pub qty: Qty,
    /// The account's fee, in quote asset units (set by the settlement).
    pub commission: i64,
    /// When.
    pub time: Timestamp,
    /// The account bought.
    pub is_buyer: bool,
    /// The account's order was resting.
    pub is_maker: bool,
}

/// An order event for the user data stream: the order as it stood right
/// after the event.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OrderEvent {
    /// What happened.
    pub exec: ExecType,
    /// The order after it.
    pub order: OrderRecord,
    /// The fill, for [`ExecType::Trade`].
    pub fill: Option<TradeRecord>,
    /// Transaction time (the command's sequencer time).
    pub time: Timestamp,
    /// Unique, increasing id of this event (Binance's execution id `I`).
    pub id: u64,
}

/// An event of one account, for its user data stream subscribers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[expect(
    clippy::large_enum_variant,
    reason = "sent by value through a bounded channel whose slots hold the largest variant anyway; \
              boxing would allocate on the router thread for every event"
)]
pub enum UserEvent {
    /// An order changed.
    Order(OrderEvent),
    /// A deposit or withdrawal step changed a balance of `asset`; `delta`
    /// is the change of the total (0 when only free and locked moved).
    Transfer {
        /// The asset.
        asset: AssetId,
        /// Change of the total balance, in asset units.
        delta: i64,
        /// When.
        time: Timestamp,
    },
}

/// A gateway's knowledge of an order it is about to submit.
#[derive(Clone, Copy, Debug)]
struct Pending {
    /// The router origin of the request that submits the order.
    origin: u64,
    registered: u64,
    instrument: InstrumentId,
    tif: TimeInForce,
    post_only: bool,
    stop_price: Price,
    display_qty: Qty,
    stp: StpMode,
    quote_budget: i64,
}

#[derive(Default)]
struct AccountHistory {
    orders: VecDeque<OrderRecord>,
    /// Position in `orders` of `orders[0]` counted from the first order ever
    /// kept, so that indexes survive evictions at the front.
    first: u64,
    by_id: HashMap<OrderId, u64>,
    by_client: HashMap<(InstrumentId, ClientOrderId), OrderId>,
    trades: VecDeque<TradeRecord>,
    pending: VecDeque<Pending>,
}

impl AccountHistory {
    fn get(&self, order_id: OrderId) -> Option<&OrderRecord> {
        let at = *self.by_id.get(&order_id)?;
        self.orders.get((at - self.first) as usize)
    }

    fn get_mut(&mut self, order_id: OrderId) -> Option<&mut OrderRecord> {
        let at = *self.by_id.get(&order_id)?;
        self.orders.get_mut((at - self.first) as usize)
    }

    fn push_order(&mut self, record: OrderRecord) {
        if self.orders.len() >= MAX_ORDERS
            && let Some(old) = self.orders.pop_front()
        {
            self.first += 1;
            self.by_id.remove(&old.order_id);
            let key = (old.instrument, old.client_order_id);
            if self.by_client.get(&key) == Some(&old.order_id) {
                self.by_client.remove(&key);
            }
        }
        let at = self.first + self.orders.len() as u64;
        self.by_id.insert(record.order_id, at);
        if record.client_order_id.is_some() {
            self.by_client.insert((record.instrument, record.client_order_id), record.order_id);
        }
        self.orders.push_back(record);
    }

    /// Files an order under the client order id a cancel/replace gave it,
    /// in place of the one it had.
    fn rename(&mut self, order_id: OrderId, client_order_id: ClientOrderId) {
        let Some(order) = self.get_mut(order_id) else { return };
        if !client_order_id.is_some() || order.client_order_id == client_order_id {
            return;
        }
        let old = (order.instrument, order.client_order_id);
        order.client_order_id = client_order_id;
        let new = (order.instrument, client_order_id);
        if self.by_client.get(&old) == Some(&order_id) {
            self.by_client.remove(&old);
        }
        self.by_client.insert(new, order_id);
    }

    fn push_trade(&mut self, trade: TradeRecord) {
        if self.trades.len() >= MAX_TRADES {
            self.trades.pop_front();
        }
        self.trades.push_back(trade);
    }

    /// The registration of the request (router origin) whose order was
    /// accepted, taken out; stale ones at the front are dropped on the way.
    /// Matching by origin, never by the order's fields: two identical
    /// orders in flight cannot swap their settings.
    fn take_pending(&mut self, instrument: InstrumentId, origin: u64, now: u64) -> Option<Pending> {
        while self.pending.front().is_some_and(|p| now.saturating_sub(p.registered) > PENDING_TTL_NS) {
            self.pending.pop_front();
        }
        let at = self.pending.iter().position(|p| p.origin == origin && p.instrument == instrument)?;
        self.pending.remove(at)
    }
}

/// The fields of an `Accepted` event.
struct Accepted {
    order_id: OrderId,
    client_order_id: ClientOrderId,
    side: Side,
    kind: OrderKind,
    price: Price,
    qty: Qty,
}

struct Subscriber {
    id: u64,
    account: AccountId,
    outlet: Outlet<UserEvent>,
}

/// What [`History::orders`] and [`History::trades`] select: one instrument,
/// optionally from an id or a time on, up to a time, at most `limit`.
/// With a starting point the first `limit` matches are returned, without
/// one the last `limit`; always oldest first.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Query {
    /// The instrument.
    pub instrument: InstrumentId,
    /// Orders from this order id on (`allOrders` `orderId`), or trades from
    /// this trade id on (`myTrades` `fromId`).
    pub from_id: Option<u64>,
    /// Trades of this order only (`myTrades` `orderId`).
    pub order_id: Option<OrderId>,
    /// From this time on, in ms (inclusive).
    pub start_ms: Option<u64>,
    /// Up to this time, in ms (inclusive).
    pub end_ms: Option<u64>,
    /// At most this many.
    pub limit: usize,
}

impl Query {
    fn select<T: Copy>(&self, items: &VecDeque<T>, keep: impl Fn(&T) -> bool) -> Vec<T> {
        let from_start = self.from_id.is_some() || self.start_ms.is_some();
        let mut out: Vec<T> = if from_start {
            items.iter().filter(|item| keep(item)).take(self.limit).copied().collect()
        } else {
            items.iter().rev().filter(|item| keep(item)).take(self.limit).copied().collect()
        };
        if !from_start {
            out.reverse();
        }
        out
    }

    fn in_time(&self, time: Timestamp) -> bool {
        let ms = time.0 / 1_000_000;
        self.start_ms.is_none_or(|start| ms >= start) && self.end_ms.is_none_or(|end| ms <= end)
    }
}

/// A user data stream's feed: the account's [`UserEvent`]s in order.
/// Dropping it unsubscribes.
pub struct UserFeed {
    /// The events.
    pub rx: tokio::sync::mpsc::Receiver<UserEvent>,
    /// Set when the feed could not keep up and lost events: the stream must
    /// close (its client resynchronises from REST).
    pub overflowed: Arc<AtomicBool>,
    id: u64,
    history: Arc<History>,
}

impl Drop for UserFeed {
    fn drop(&mut self) {
        let mut subs = lock(&self.history.subscribers);
        subs.retain(|s| s.id != self.id);
        self.history.subscribed.store(subs.len(), Ordering::Relaxed);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves its data consistent between statements
    // (pushes, pops, field stores), so a poisoned lock is still usable.
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// The order and trade history of every account, and the account event
/// subscribers. One per router.
#[derive(Default)]
pub struct History {
    accounts: Mutex<HashMap<AccountId, Arc<Mutex<AccountHistory>>>>,
    subscribers: Mutex<Vec<Subscriber>>,
    /// Number of subscribers, read without the lock on every output.
    subscribed: AtomicUsize,
    next_subscriber: AtomicU64,
    next_event: AtomicU64,
}

impl History {
    /// An empty history.
    pub fn new() -> Arc<History> {
        Arc::new(History::default())
    }

    fn account(&self, account: AccountId) -> Arc<Mutex<AccountHistory>> {
        lock(&self.accounts).entry(account).or_default().clone()
    }

    fn existing(&self, account: AccountId) -> Option<Arc<Mutex<AccountHistory>>> {
        lock(&self.accounts).get(&account).cloned()
    }

    /// Registers what a gateway knows of `order` before submitting it
    /// under the router origin `origin` (see [`Router::start_with`]), so
    /// that its record shows it once accepted. [`History::forget`] drops it
    /// should the order be refused.
    ///
    /// [`Router::start_with`]: crate::router::Router::start_with
    pub fn expect(&self, order: &NewOrder, origin: u64, now: Timestamp) {
        let iceberg = order.display_qty.0 > 0 && order.display_qty < order.qty;
        let pending = Pending {
            origin,
            registered: now.0,
            instrument: order.instrument,
            tif: order.tif,
            post_only: order.post_only,
            stop_price: if order.kind.is_stop() { order.stop_price } else { Price(0) },
            display_qty: if iceberg { order.display_qty } else { Qty::ZERO },
            stp: order.stp,
            quote_budget: order.quote_budget.max(0),
        };
        let account = self.account(order.account);
        let mut account = lock(&account);
        if account.pending.len() >= MAX_PENDING {
            account.pending.pop_front();
        }
        account.pending.push_back(pending);
    }

    /// Drops the registration made under `origin`: its order will not be
    /// accepted.
    pub fn forget(&self, account: AccountId, origin: u64) {
        if let Some(account) = self.existing(account) {
            lock(&account).pending.retain(|p| p.origin != origin);
        }
    }

    /// Opens a feed of `account`'s events; `capacity` bounds what may wait
    /// unread, beyond which the feed is marked overflowed (the router never
    /// waits for it).
    pub fn subscribe(self: &Arc<History>, account: AccountId, capacity: usize) -> UserFeed {
        let id = self.next_subscriber.fetch_add(1, Ordering::Relaxed);
        let (outlet, rx, overflowed) = Outlet::new(capacity);
        let mut subs = lock(&self.subscribers);
        subs.push(Subscriber { id, account, outlet });
        self.subscribed.store(subs.len(), Ordering::Relaxed);
        UserFeed { rx, overflowed, id, history: self.clone() }
    }

    /// Closes every feed (the venue stopped).
    pub fn close_feeds(&self) {
        let mut subs = lock(&self.subscribers);
        subs.clear();
        self.subscribed.store(0, Ordering::Relaxed);
    }

    fn publish(&self, account: AccountId, event: UserEvent) {
        for sub in lock(&self.subscribers).iter().filter(|s| s.account == account) {
            sub.outlet.offer(event);
        }
    }

    fn order_event(&self, exec: ExecType, order: OrderRecord, fill: Option<TradeRecord>, time: Timestamp) {
        if self.subscribed.load(Ordering::Relaxed) == 0 {
            return;
        }
        let id = self.next_event.fetch_add(1, Ordering::Relaxed);
        self.publish(order.account, UserEvent::Order(OrderEvent { exec, order, fill, time, id }));
    }

    /// Takes one durable output into the history (called by the router
    /// thread for every output, in order, before the command is answered).
    pub fn record(&self, stamped: &Stamped) {
        let time = stamped.time;
        match stamped.output {
            Output::Book(event) => match event.kind {
                EventKind::Accepted { order_id, client_order_id, account, side, kind, price, qty } => {
                    let accepted = Accepted { order_id, client_order_id, side, kind, price, qty };
                    self.accepted(event.instrument, account, &accepted, stamped.origin, time);
                }
                EventKind::Trade {
                    trade_id,
                    price,
                    qty,
                    maker_order_id,
                    taker_order_id,
                    maker_account,
                    taker_account,
                    maker_leaves,
                    taker_leaves,
                    aggressor,
                } => {
                    let fill = TradeRecord {
                        instrument: event.instrument,
                        trade_id,
                        order_id: maker_order_id,
                        price,
                        qty,
                        commission: 0,
                        time,
                        is_buyer: aggressor == Side::Sell,
                        is_maker: true,
                    };
                    self.filled(maker_account, fill, maker_leaves);
                    let taker = TradeRecord {
                        order_id: taker_order_id,
                        is_buyer: aggressor == Side::Buy,
                        is_maker: false,
                        ..fill
                    };
                    self.filled(taker_account, taker, taker_leaves);
                }
                EventKind::Cancelled { order_id, account, reason, .. } => {
                    let exec = match Status::after_cancel(reason, Qty::ZERO) {
                        Status::ExpiredInMatch => ExecType::TradePrevention,
                        Status::Canceled => ExecType::Canceled,
                        _ => ExecType::Expired,
                    };
                    self.changed(account, order_id, time, exec, |order| {
                        order.status = Status::after_cancel(reason, order.executed);
                        match reason {
                            CancelReason::IocRemainder => order.tif = TimeInForce::Ioc,
                            CancelReason::FokNotFillable => order.tif = TimeInForce::Fok,
                            CancelReason::BudgetExhausted if order.executed.0 > 0 => {
                                order.qty = order.executed
                            }
                            _ => {}
                        }
                    });
                }
                EventKind::Expired { order_id, account, .. } => {
                    self.changed(account, order_id, time, ExecType::Expired, |order| {
                        order.status = Status::Expired;
                    });
                }
                EventKind::Triggered { order_id, account, .. } => {
                    if let Some(history) = self.existing(account)
                        && let Some(order) = lock(&history).get_mut(order_id)
                    {
                        (order.working_time, order.update_time) = (Some(time), time);
                    }
                }
                EventKind::Amended { order_id, account, price, qty, client_order_id, .. } => {
                    if let Some(history) = self.existing(account) {
                        lock(&history).rename(order_id, client_order_id);
                    }
                    self.changed(account, order_id, time, ExecType::Replaced, |order| {
                        (order.price, order.qty) = (price, qty);
                    });
                }
                EventKind::Reduced { order_id, account, qty, .. } => {
                    self.changed(account, order_id, time, ExecType::TradePrevention, |order| {
                        order.prevented.0 += qty.0;
                    });
                }
                _ => {}
            },
            Output::Settlement(settlement) => self.settled(&settlement),
            Output::Transfer { account, asset, amount, state, .. }
                if self.subscribed.load(Ordering::Relaxed) > 0 =>
            {
                let delta = match state {
                    TransferState::Deposited => amount,
                    TransferState::Posted => -amount,
                    TransferState::Pending | TransferState::Voided => 0,
                };
                self.publish(account, UserEvent::Transfer { asset, delta, time });
            }
            _ => {}
        }
    }

    fn accepted(
        &self,
        instrument: InstrumentId,
        account: AccountId,
        accepted: &Accepted,
        origin: u64,
        time: Timestamp,
    ) {
        let history = self.account(account);
        let mut history = lock(&history);
        let pending = history.take_pending(instrument, origin, time.0);
        let record = OrderRecord {
            instrument,
            order_id: accepted.order_id,
            client_order_id: accepted.client_order_id,
            account,
            side: accepted.side,
            kind: accepted.kind,
            tif: pending.map_or(TimeInForce::Gtc, |p| p.tif),
            post_only: pending.is_some_and(|p| p.post_only),
            stop_price: pending.map_or(Price(0), |p| p.stop_price),
            display_qty: pending.map_or(Qty::ZERO, |p| p.display_qty),
            stp: pending.map(|p| p.stp),
            quote_budget: pending.map_or(0, |p| p.quote_budget),
            price: accepted.price,
            qty: accepted.qty,
            executed: Qty::ZERO,
            prevented: Qty::ZERO,
            quote: 0,
            status: Status::New,
            time,
            update_time: time,
            working_time: (!accepted.kind.is_stop()).then_some(time),
            complete: true,
        };
        history.push_order(record);
        drop(history);
        self.order_event(ExecType::New, record, None, time);
    }

    /// A fill of one side: the order's record (created from the fill if the
    /// order was never seen) and the account's trade. Its event waits for
    /// the settlement, which carries the commission.
    fn filled(&self, account: AccountId, fill: TradeRecord, leaves: Qty) {
        let history = self.account(account);
        let mut history = lock(&history);
        let status = if leaves.0 == 0 { Status::Filled } else { Status::PartiallyFilled };
        let notional = i128::from(fill.price.0) * i128::from(fill.qty.0);
        match history.get_mut(fill.order_id) {
            Some(order) => {
                order.executed.0 += fill.qty.0;
                order.quote += notional;
                order.status = status;
                order.update_time = fill.time;
                if order.working_time.is_none() {
                    order.working_time = Some(fill.time);
                }
            }
            None => history.push_order(OrderRecord {
                instrument: fill.instrument,
                order_id: fill.order_id,
                client_order_id: ClientOrderId::NONE,
                account,
                side: if fill.is_buyer { Side::Buy } else { Side::Sell },
                kind: OrderKind::Limit,
                tif: TimeInForce::Gtc,
                post_only: false,
                stop_price: Price(0),
                display_qty: Qty::ZERO,
                stp: None,
                quote_budget: 0,
                price: if fill.is_maker { fill.price } else { Price(0) },
                qty: Qty(fill.qty.0 + leaves.0),
                executed: fill.qty,
                prevented: Qty::ZERO,
                quote: notional,
                status,
                time: Timestamp(0),
                update_time: fill.time,
                working_time: Some(fill.time),
                complete: false,
            }),
        }
        history.push_trade(fill);
    }

    fn settled(&self, settlement: &Settlement) {
        let sides = [
            (settlement.buyer, true, settlement.buy_order, settlement.buyer_fee),
            (settlement.seller, false, settlement.sell_order, settlement.seller_fee),
        ];
        for (account, is_buyer, order_id, fee) in sides {
            let Some(history) = self.existing(account) else { continue };
            let mut history = lock(&history);
            // The trade was pushed by the output just before this one.
            let Some(trade) = history.trades.iter_mut().rev().take(4).find(|t| {
                t.instrument == settlement.instrument
                    && t.trade_id == settlement.trade_id
                    && t.is_buyer == is_buyer
                    && t.order_id == order_id
            }) else {
                continue;
            };
            trade.commission = fee;
            let trade = *trade;
            let order = history.get(order_id).copied();
            drop(history);
            if let Some(order) = order {
                self.order_event(ExecType::Trade, order, Some(trade), trade.time);
            }
        }
    }

    /// Applies `change` to a known order and publishes `exec` with the result.
    fn changed(
        &self,
        account: AccountId,
        order_id: OrderId,
        time: Timestamp,
        exec: ExecType,
        change: impl FnOnce(&mut OrderRecord),
    ) {
        let Some(history) = self.existing(account) else { return };
        let mut history = lock(&history);
        let Some(order) = history.get_mut(order_id) else { return };
        change(order);
        order.update_time = time;
        let order = *order;
        drop(history);
        self.order_event(exec, order, None, time);
    }

    /// The order `order_id` of `account` on `instrument`, if kept.
    pub fn order(
        &self,
        account: AccountId,
        instrument: InstrumentId,
        order_id: OrderId,
    ) -> Option<OrderRecord> {
        let history = self.existing(account)?;
        let history = lock(&history);
        history.get(order_id).filter(|o| o.instrument == instrument).copied()
    }

    /// The latest kept order of `account` on `instrument` with the client id
    /// `client` (client ids are unique among live orders only).
    pub fn order_by_client(
        &self,
        account: AccountId,
        instrument: InstrumentId,
        client: ClientOrderId,
    ) -> Option<OrderRecord> {
        let history = self.existing(account)?;
        let history = lock(&history);
        let order_id = *history.by_client.get(&(instrument, client))?;
        history.get(order_id).copied()
    }

    /// `account`'s orders in `window` (by order id and acceptance time),
    /// oldest first.
    pub fn orders(&self, account: AccountId, window: &Query) -> Vec<OrderRecord> {
        let Some(history) = self.existing(account) else { return Vec::new() };
        let history = lock(&history);
        window.select(&history.orders, |o| {
            o.instrument == window.instrument
                && window.from_id.is_none_or(|from| o.order_id.0 >= from)
                && window.in_time(o.time)
        })
    }

    /// `account`'s trades in `window`, oldest first.
    pub fn trades(&self, account: AccountId, window: &Query) -> Vec<TradeRecord> {
        let Some(history) = self.existing(account) else { return Vec::new() };
        let history = lock(&history);
        window.select(&history.trades, |t| {
            t.instrument == window.instrument
                && window.from_id.is_none_or(|from| t.trade_id.0 >= from)
                && window.order_id.is_none_or(|id| t.order_id == id)
                && window.in_time(t.time)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use venue_matching::Event;

    const ALICE: AccountId = AccountId(1);
    const BOB: AccountId = AccountId(2);
    const BTC: InstrumentId = InstrumentId(0);

    fn stamped(seq: u64, output: Output) -> Stamped {
        Stamped { seq, time: Timestamp(seq * 1_000_000), origin: 0, last: true, output }
    }

    fn book(seq: u64, kind: EventKind) -> Stamped {
        stamped(seq, Output::Book(Event { instrument: BTC, kind }))
    }

    fn accepted(seq: u64, account: AccountId, side: Side, price: i64, qty: i64) -> Stamped {
        book(
            seq,
            EventKind::Accepted {
                order_id: OrderId(seq),
                client_order_id: ClientOrderId(seq * 7),
                account,
                side,
                kind: OrderKind::Limit,
                price: Price(price),
                qty: Qty(qty),
            },
        )
    }

    /// A trade of `qty` at `price` between maker `(order, account, leaves)`
    /// and taker, followed by its settlement with fees 3 (maker) and 5.
    fn trade(
        history: &History,
        seq: u64,
        trade_id: u64,
        maker: (u64, AccountId, i64),
        taker: (u64, AccountId, i64),
        aggressor: Side,
        (price, qty): (i64, i64),
    ) {
        history.record(&book(
            seq,
            EventKind::Trade {
                trade_id: TradeId(trade_id),
                price: Price(price),
                qty: Qty(qty),
                maker_order_id: OrderId(maker.0),
                taker_order_id: OrderId(taker.0),
                maker_account: maker.1,
                taker_account: taker.1,
                maker_leaves: Qty(maker.2),
                taker_leaves: Qty(taker.2),
                aggressor,
            },
        ));
        let (buy, sell) = if aggressor == Side::Buy { (taker, maker) } else { (maker, taker) };
        let (buyer_fee, seller_fee) = if aggressor == Side::Buy { (5, 3) } else { (3, 5) };
        history.record(&stamped(
            seq,
            Output::Settlement(Settlement {
                instrument: BTC,
                trade_id: TradeId(trade_id),
                buyer: buy.1,
                seller: sell.1,
                buy_order: OrderId(buy.0),
                sell_order: OrderId(sell.0),
                base: qty,
                quote: price * qty,
                buyer_fee,
                seller_fee,
            }),
        ));
    }

    fn all(limit: usize) -> Query {
        Query { instrument: BTC, from_id: None, order_id: None, start_ms: None, end_ms: None, limit }
    }

    #[test]
    fn fills_and_cancels_end_orders_with_their_final_state_and_trades_carry_the_commission() {
        let history = History::new();
        history.record(&accepted(1, BOB, Side::Sell, 300, 10));
        history.record(&accepted(2, ALICE, Side::Buy, 300, 4));
        trade(&history, 2, 1, (1, BOB, 6), (2, ALICE, 0), Side::Buy, (300, 4));
        history.record(&book(
            3,
            EventKind::Cancelled {
                order_id: OrderId(1),
                account: BOB,
                qty: Qty(6),
                reason: CancelReason::Requested,
            },
        ));

        let alice = history.order(ALICE, BTC, OrderId(2)).expect("alice's order kept");
        assert_eq!((alice.status, alice.executed, alice.quote), (Status::Filled, Qty(4), 1200));
        let bob = history.order_by_client(BOB, BTC, ClientOrderId(7)).expect("bob's order by client id");
        assert_eq!((bob.status, bob.executed, bob.leaves()), (Status::Canceled, Qty(4), Qty(0)));
        assert_eq!(bob.update_time, Timestamp(3_000_000));
        // Another account's order is not found under this one.
        assert_eq!(history.order(ALICE, BTC, OrderId(1)), None);
        assert_eq!(history.order(BOB, InstrumentId(1), OrderId(1)), None);

        let trades = history.trades(ALICE, &all(10));
        assert_eq!(trades.len(), 1);
        assert_eq!((trades[0].commission, trades[0].is_buyer, trades[0].is_maker), (5, true, false));
        let trades = history.trades(BOB, &all(10));
        assert_eq!((trades[0].commission, trades[0].is_buyer, trades[0].is_maker), (3, false, true));
    }

    #[test]
    fn windows_take_the_latest_or_the_first_from_a_starting_point() {
        let history = History::new();
        for seq in 1..=5 {
            history.record(&accepted(seq, ALICE, Side::Buy, 100, 1));
        }
        let ids = |w: Query| history.orders(ALICE, &w).iter().map(|o| o.order_id.0).collect::<Vec<_>>();
        assert_eq!(ids(all(2)), [4, 5]);
        assert_eq!(ids(Query { from_id: Some(2), ..all(2) }), [2, 3]);
        assert_eq!(ids(Query { start_ms: Some(3), ..all(10) }), [3, 4, 5]);
        assert_eq!(ids(Query { end_ms: Some(2), ..all(10) }), [1, 2]);
        assert_eq!(ids(Query { instrument: InstrumentId(1), ..all(10) }), Vec::<u64>::new());
    }

    #[test]
    fn memory_is_bounded_per_account_and_the_oldest_go_first() {
        let history = History::new();
        let total = MAX_ORDERS as u64 + 5;
        for seq in 1..=total {
            history.record(&accepted(seq, ALICE, Side::Sell, 100, 1));
            history.record(&accepted(seq + total, BOB, Side::Buy, 100, 1));
            trade(&history, seq + total, seq, (seq, ALICE, 0), (seq + total, BOB, 0), Side::Buy, (100, 1));
        }
        let orders = history.orders(ALICE, &all(usize::MAX));
        assert_eq!(orders.len(), MAX_ORDERS);
        assert_eq!(orders[0].order_id, OrderId(6));
        assert_eq!(history.order(ALICE, BTC, OrderId(5)), None);
        assert_eq!(history.order_by_client(ALICE, BTC, ClientOrderId(5 * 7)), None);
        assert_eq!(history.order(ALICE, BTC, OrderId(6)).map(|o| o.status), Some(Status::Filled));
        assert_eq!(history.trades(ALICE, &all(usize::MAX)).len(), MAX_TRADES);
        let guard = lock(&history.accounts);
        let alice = lock(&guard[&ALICE]);
        assert_eq!((alice.by_id.len(), alice.by_client.len()), (MAX_ORDERS, MAX_ORDERS));
    }

    #[test]
    fn a_registered_placement_fills_in_what_the_outputs_do_not_carry() {
        let history = History::new();
        let mut order = NewOrder::limit(0, ALICE.0, Side::Buy, 100, 3);
        order.tif = TimeInForce::Ioc;
        order.client_order_id = ClientOrderId(14);
        order.stp = StpMode::CancelBoth;
        history.expect(&order, 70, Timestamp(0));
        // A refused registration is forgotten and matches nothing.
        let mut other = order;
        other.post_only = true;
        history.expect(&other, 71, Timestamp(0));
        history.forget(ALICE, 71);
        history.record(&Stamped { origin: 70, ..accepted(2, ALICE, Side::Buy, 100, 3) });
        let record = history.order(ALICE, BTC, OrderId(2)).expect("kept");
        assert_eq!(
            (record.tif, record.stp, record.post_only),
            (TimeInForce::Ioc, Some(StpMode::CancelBoth), false)
        );
        assert!(lock(&history.existing(ALICE).expect("alice")).pending.is_empty());
        // Unregistered: defaults, and an IOC end gives the time in force away.
        history.record(&accepted(3, ALICE, Side::Buy, 100, 3));
        history.record(&book(
            4,
            EventKind::Cancelled {
                order_id: OrderId(3),
                account: ALICE,
                qty: Qty(3),
                reason: CancelReason::IocRemainder,
            },
        ));
        let record = history.order(ALICE, BTC, OrderId(3)).expect("kept");
        assert_eq!((record.tif, record.stp, record.status), (TimeInForce::Ioc, None, Status::Expired));
    }

    #[test]
    fn identical_orders_in_flight_keep_their_own_settings_whatever_order_they_are_accepted_in() {
        let history = History::new();
        let gtc = NewOrder::limit(0, ALICE.0, Side::Buy, 100, 3);
        let ioc = NewOrder { tif: TimeInForce::Ioc, post_only: true, stp: StpMode::CancelBoth, ..gtc };
        history.expect(&gtc, 80, Timestamp(0));
        history.expect(&ioc, 81, Timestamp(0));
        // The same side, kind, price and quantity: only the origin tells
        // them apart. The second registered is sequenced first.
        history.record(&Stamped { origin: 81, ..accepted(3, ALICE, Side::Buy, 100, 3) });
        history.record(&Stamped { origin: 80, ..accepted(4, ALICE, Side::Buy, 100, 3) });
        let first = history.order(ALICE, BTC, OrderId(3)).expect("kept");
        let second = history.order(ALICE, BTC, OrderId(4)).expect("kept");
        assert_eq!(
            (first.tif, first.post_only, first.stp),
            (TimeInForce::Ioc, true, Some(StpMode::CancelBoth))
        );
        assert_eq!((second.tif, second.post_only, second.stp), (TimeInForce::Gtc, false, Some(gtc.stp)));
    }

    #[test]
    fn subscribers_get_their_account_events_with_the_order_as_it_stood() {
        let history = History::new();
        let mut alice = history.subscribe(ALICE, 16);
        let mut bob = history.subscribe(BOB, 1);
        history.record(&accepted(1, BOB, Side::Sell, 300, 10));
        history.record(&accepted(2, ALICE, Side::Buy, 300, 4));
        trade(&history, 2, 1, (1, BOB, 6), (2, ALICE, 0), Side::Buy, (300, 4));
        history.record(&stamped(
            3,
            Output::Transfer {
                transfer_id: 1,
                account: ALICE,
                asset: AssetId(1),
                amount: 50,
                state: TransferState::Deposited,
            },
        ));
        let mut events = Vec::new();
        while let Ok(event) = alice.rx.try_recv() {
            events.push(event);
        }
        let UserEvent::Order(new) = events[0] else { panic!("{events:?}") };
        assert_eq!((new.exec, new.order.status, new.order.executed), (ExecType::New, Status::New, Qty(0)));
        let UserEvent::Order(fill) = events[1] else { panic!("{events:?}") };
        assert_eq!((fill.exec, fill.order.status), (ExecType::Trade, Status::Filled));
        assert_eq!(fill.fill.map(|f| (f.qty, f.commission, f.is_maker)), Some((Qty(4), 5, false)));
        assert!(fill.id > new.id);
        assert_eq!(
            events[2],
            UserEvent::Transfer { asset: AssetId(1), delta: 50, time: Timestamp(3_000_000) }
        );
        assert_eq!(events.len(), 3);
        // Bob's feed held one event: the second overflowed it.
        assert!(bob.rx.try_recv().is_ok());
        assert!(bob.overflowed.load(Ordering::Relaxed));
        drop(alice);
        drop(bob);
        assert_eq!(history.subscribed.load(Ordering::Relaxed), 0);
    }

    #[test]
    fn records_stay_small_enough_for_the_documented_memory_bound() {
        // MAX_ORDERS and MAX_TRADES promise about 3 MB per account.
        assert!(std::mem::size_of::<OrderRecord>() <= 160, "{}", std::mem::size_of::<OrderRecord>());
        assert!(std::mem::size_of::<TradeRecord>() <= 64, "{}", std::mem::size_of::<TradeRecord>());
    }

    #[test]
    fn an_order_first_seen_by_a_fill_is_kept_as_far_as_known() {
        let history = History::new();
        history.record(&accepted(5, ALICE, Side::Buy, 300, 4));
        trade(&history, 5, 1, (1, BOB, 2), (5, ALICE, 0), Side::Buy, (300, 4));
        let bob = history.order(BOB, BTC, OrderId(1)).expect("created from the fill");
        assert_eq!((bob.side, bob.price, bob.qty, bob.executed), (Side::Sell, Price(300), Qty(6), Qty(4)));
        assert!(!bob.complete);
        assert_eq!(history.trades(BOB, &all(10))[0].commission, 3);
    }
}
