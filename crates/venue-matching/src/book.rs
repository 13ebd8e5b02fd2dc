//! One instrument's order book: storage, matching loop and order lifecycle.
//!
//! Layout, chosen for the exchange-core mix where most operations touch the
//! few levels nearest the touch:
//!
//! * `nodes`: a pool of fixed-size order records addressed by `u32` handles,
//!   reserved up front for `max_orders`, recycled through an intrusive free
//!   list. Resting orders are linked into their level's FIFO through
//!   `prev`/`next` handles, so removing one from the middle of a queue is
//!   O(1) and copies nothing.
//! * `levels`: a pool of price levels (head, tail, shown and total quantity,
//!   order count), recycled the same way.
//! * one `Ladder` per side: a contiguous array of `(key, level)` sorted
//!   ascending by key, where the key is the price for bids and its negation
//!   for asks, so the best level of either side is the *last* entry (O(1)
//!   best price; popping an emptied best level moves nothing). An existing
//!   level is found through a `LevelIndex`: an array indexed by key over a
//!   window of 4,096 ticks that follows the touch, a hash table beyond it.
//!   A new level's place in the array is found by scanning the eight
//!   entries nearest the touch, then binary-searching the rest.
//! * `ids`: order id → handle, an [`OrderTable`] (open addressing, the id
//!   in its slot): one lookup per cancel or amend, usually one cache line.
//!
//! The incoming order is matched from a local copy; it only takes a pool slot
//! if it rests, so IOC and market orders never touch the pool.

use crate::command::{AmendOrder, CancelOrder, NewOrder, OrderRef};
use crate::event::{Event, EventKind};
use crate::index::{IdMap, LevelIndex, OrderTable, SortedVec, id_map};
use crate::state::{BookState, ImportError, OrderState};
use venue_domain::{
    AccountId, CancelReason, ClientOrderId, InstrumentId, InstrumentSpec, OrderId, OrderKind, Price, Qty,
    Reject, Side, StpMode, TimeInForce, Timestamp, TradeId, TradingStatus,
};

const NIL: u32 = u32::MAX;
/// Budget value meaning "no quote budget".
const NO_BUDGET: i64 = i64::MAX;
/// Entries the tables and indexes start with when not told otherwise: a
/// working size, grown during warm-up.
const WORKING_SIZE: usize = 1 << 12;

/// Sizing of one book. Every bound is explicit (a full pool is a typed
/// rejection, never a reallocation on the order path).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookConfig {
    /// Most live orders (resting plus dormant stops) the book holds.
    pub max_orders: u32,
    /// Live orders the order-id tables are sized for at start (capped at
    /// `max_orders`); beyond it they grow, rehashing on the engine thread,
    /// a pause that grows with the book. Size for the expected peak: a
    /// removed order leaves no tombstone (see [`OrderTable`]), and an
    /// oversized table spreads the live orders over more cache lines. The
    /// default is small because a big table costs a cache miss per lookup
    /// when many books share a machine, and a bigger snapshot copy. The order pool itself is always reserved for
    /// `max_orders`; price-level tables are sized apart (levels are few).
    pub presized_orders: u32,
    /// Touch every page of the order pool when the book is made, so that no
    /// order on the hot path waits for the kernel to map fresh memory (a
    /// page fault costs 1–2 µs on a virtual machine, and a growing book takes
    /// one every 36 orders). It costs `max_orders` × 112 bytes of resident
    /// memory from the start, and a little start-up time; it changes no
    /// outcome. Off by default so that tools and tests making many books
    /// stay light; the venue's configuration turns it on.
    pub prefault: bool,
}

impl Default for BookConfig {
    fn default() -> Self {
        BookConfig { max_orders: 100_000, presized_orders: WORKING_SIZE as u32, prefault: false }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Place {
    /// In the free list.
    Free,
    /// Linked into a price level.
    Resting,
    /// Dormant stop, in a stop index.
    Stop,
    /// Being matched (a triggered stop or an amended order between unlink
    /// and rest); in no list or index but `ids`.
    Active,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Node {
    id: OrderId,
    client_id: ClientOrderId,
    account: AccountId,
    /// Resolved self-trade group: the group id, or the account id tagged
    /// with bit 32 so the two spaces cannot collide.
    stp_key: u64,
    price: Price,
    stop_price: Price,
    /// Total order quantity (changed by amends only).
    qty: Qty,
    /// Remaining quantity; `qty - leaves` is filled or self-trade-reduced.
    leaves: Qty,
    /// Shown slice still resting (`leaves` unless an iceberg).
    shown: Qty,
    /// Iceberg slice size; zero for a fully shown order.
    display: Qty,
    /// Remaining quote budget (tick×lot units) or `NO_BUDGET`.
    budget: i64,
    expire_time: Timestamp,
    prev: u32,
    next: u32,
    level: u32,
    side: Side,
    kind: OrderKind,
    tif: TimeInForce,
    stp: StpMode,
    post_only: bool,
    place: Place,
}

impl Node {
    const FREE: Node = Node {
        id: OrderId(0),
        client_id: ClientOrderId::NONE,
        account: AccountId(0),
        stp_key: 0,
        price: Price(0),
        stop_price: Price(0),
        qty: Qty::ZERO,
        leaves: Qty::ZERO,
        shown: Qty::ZERO,
        display: Qty::ZERO,
        budget: NO_BUDGET,
        expire_time: Timestamp(0),
        prev: NIL,
        next: NIL,
        level: NIL,
        side: Side::Buy,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        stp: StpMode::Allow,
        post_only: false,
        place: Place::Free,
    };

    fn from_new(order: &NewOrder) -> Node {
        let iceberg = order.display_qty.0 > 0 && order.display_qty < order.qty;
        let stp_key = if order.stp_group.0 == 0 {
            (1 << 32) | u64::from(order.account.0)
        } else {
            u64::from(order.stp_group.0)
        };
        Node {
            id: order.order_id,
            client_id: order.client_order_id,
            account: order.account,
            stp_key,
            price: if order.kind == OrderKind::Market || order.kind == OrderKind::Stop {
                Price(0)
            } else {
                order.price
            },
            stop_price: if order.kind.is_stop() { order.stop_price } else { Price(0) },
            qty: order.qty,
            leaves: order.qty,
            shown: Qty::ZERO,
            display: if iceberg { order.display_qty } else { Qty::ZERO },
            budget: if order.quote_budget > 0 { order.quote_budget } else { NO_BUDGET },
            expire_time: order.expire_time,
            side: order.side,
            kind: order.kind,
            tif: order.tif,
            stp: order.stp,
            post_only: order.post_only,
            ..Node::FREE
        }
    }

    fn state(&self) -> OrderState {
        OrderState {
            order_id: self.id,
            client_order_id: self.client_id,
            account: self.account,
            stp_key: self.stp_key,
            side: self.side,
            kind: self.kind,
            tif: self.tif,
            stp: self.stp,
            post_only: self.post_only,
            price: self.price,
            stop_price: self.stop_price,
            qty: self.qty,
            leaves: self.leaves,
            shown: self.shown,
            display: self.display,
            budget: self.budget,
            expire_time: self.expire_time,
        }
    }

    fn from_state(order: &OrderState, place: Place) -> Node {
        Node {
            id: order.order_id,
            client_id: order.client_order_id,
            account: order.account,
            stp_key: order.stp_key,
            price: order.price,
            stop_price: order.stop_price,
            qty: order.qty,
            leaves: order.leaves,
            shown: order.shown,
            display: order.display,
            budget: order.budget,
            expire_time: order.expire_time,
            side: order.side,
            kind: order.kind,
            tif: order.tif,
            stp: order.stp,
            post_only: order.post_only,
            place,
            ..Node::FREE
        }
    }

    fn slice(&self) -> Qty {
        if self.display.0 > 0 { Qty(self.display.0.min(self.leaves.0)) } else { self.leaves }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Level {
    price: Price,
    side: Side,
    head: u32,
    tail: u32,
    /// Sum of shown slices (what L2 publishes).
    shown: i64,
    /// Sum of leaves, hidden included (what FOK can reach).
    total: i64,
    count: u32,
}

/// Price levels of one side, best last. See the module documentation.
#[derive(Debug, PartialEq, Eq)]
struct Ladder {
    entries: Vec<(i64, u32)>,
    /// Key → level for every entry: O(1) lookup of an existing level.
    by_key: LevelIndex,
    /// Emptied levels kept in place (never the last entry): re-using one
    /// when its price comes back costs no array move.
    empty: u32,
}

/// `clone_from` keeps the target's allocations (see [`OrderTable`]).
impl Clone for Ladder {
    fn clone(&self) -> Self {
        Ladder { entries: self.entries.clone(), by_key: self.by_key.clone(), empty: self.empty }
    }

    fn clone_from(&mut self, source: &Self) {
        let Ladder { entries, by_key, empty } = self;
        entries.clone_from(&source.entries);
        by_key.clone_from(&source.by_key);
        *empty = source.empty;
    }
}

impl Ladder {
    const TOUCH_SCAN: usize = 8;

    fn with_capacity(levels: usize) -> Ladder {
        Ladder { entries: Vec::with_capacity(levels), by_key: LevelIndex::with_capacity(levels), empty: 0 }
    }

    fn key(side: Side, price: Price) -> i64 {
        match side {
            Side::Buy => price.0,
            Side::Sell => -price.0,
        }
    }

    /// Where a new level with `key` goes: scans the entries nearest the
    /// touch first, then binary-searches the rest. The key must be absent
    /// (existing levels are found through `by_key`).
    #[inline]
    fn insert_position(&self, key: i64) -> usize {
        let len = self.entries.len();
        let stop = len.saturating_sub(Self::TOUCH_SCAN);
        let mut at = len;
        while at > stop {
            let here = self.entries[at - 1].0;
            debug_assert!(here != key, "level {key} is already in the ladder");
            if here < key {
                return at;
            }
            at -= 1;
        }
        self.entries[..stop].partition_point(|entry| entry.0 < key)
    }

    fn best(&self) -> Option<u32> {
        self.entries.last().map(|entry| entry.1)
    }
}

/// Why matching of an incoming order stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Nothing left to trade against at an acceptable price (or filled).
    Exhausted,
    /// Self-trade prevention cancelled the incoming remainder.
    SelfTrade,
    /// The quote budget cannot buy another lot.
    Budget,
}

/// A live order as the book sees it, for queries, snapshots and tests.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BookOrder {
    /// Venue order id.
    pub order_id: OrderId,
    /// Client order id.
    pub client_order_id: ClientOrderId,
    /// Owner.
    pub account: AccountId,
    /// Side.
    pub side: Side,
    /// Kind (a triggered stop-limit shows as `Limit`).
    pub kind: OrderKind,
    /// Time in force.
    pub tif: TimeInForce,
    /// Limit price (0 for a stop market order).
    pub price: Price,
    /// Stop price (0 unless a stop, dormant or triggered).
    pub stop_price: Price,
    /// Total quantity.
    pub qty: Qty,
    /// Remaining quantity.
    pub leaves: Qty,
    /// Currently shown quantity (0 for a dormant stop).
    pub shown: Qty,
}

/// The whole visible state of a book in priority order: what tests compare
/// against a reference model and what a snapshot for market data starts from.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BookSnapshot {
    /// Resting buy orders: best price first, then time priority.
    pub bids: Vec<BookOrder>,
    /// Resting sell orders: best price first, then time priority.
    pub asks: Vec<BookOrder>,
    /// Dormant buy stops in trigger order.
    pub buy_stops: Vec<BookOrder>,
    /// Dormant sell stops in trigger order.
    pub sell_stops: Vec<BookOrder>,
    /// Price of the last trade, if any.
    pub last_price: Option<Price>,
}

/// The order book of one instrument. See the crate documentation for the
/// rules and the module documentation for the layout.
#[derive(Debug, PartialEq, Eq)]
pub struct OrderBook {
    spec: InstrumentSpec,
    status: TradingStatus,
    max_orders: u32,
    nodes: Vec<Node>,
    free_node: u32,
    levels: Vec<Level>,
    free_level: u32,
    bids: Ladder,
    asks: Ladder,
    ids: OrderTable<u32>,
    client_ids: IdMap<(AccountId, ClientOrderId), u32>,
    /// Dormant stops keyed so that the next to trigger is last:
    /// `(-stop_price, !order_id, handle)` for buys,
    /// `(stop_price, !order_id, handle)` for sells.
    buy_stops: SortedVec<(i64, u64, u32)>,
    sell_stops: SortedVec<(i64, u64, u32)>,
    /// GTD orders as `(!expire_time, !order_id)`: the next to expire is last.
    gtd: SortedVec<(u64, u64)>,
    /// DAY orders as `!order_id`: the lowest id is last.
    day: SortedVec<u64>,
    last_price: Price,
    next_trade_id: u64,
    /// Set when emptied levels outnumber live ones; compaction runs at the
    /// start of the next command.
    compact_due: bool,
}

/// `clone_from` keeps the target's allocations: the engine clones itself
/// into the previous snapshot's copy, so a snapshot of many books copies
/// memory the process already has instead of faulting in fresh pages (for
/// a hundred books, most of the pause).
impl Clone for OrderBook {
    fn clone(&self) -> Self {
        OrderBook {
            spec: self.spec.clone(),
            status: self.status,
            max_orders: self.max_orders,
            nodes: self.nodes.clone(),
            free_node: self.free_node,
            levels: self.levels.clone(),
            free_level: self.free_level,
            bids: self.bids.clone(),
            asks: self.asks.clone(),
            ids: self.ids.clone(),
            client_ids: self.client_ids.clone(),
            buy_stops: self.buy_stops.clone(),
            sell_stops: self.sell_stops.clone(),
            gtd: self.gtd.clone(),
            day: self.day.clone(),
            last_price: self.last_price,
            next_trade_id: self.next_trade_id,
            compact_due: self.compact_due,
        }
    }

    fn clone_from(&mut self, source: &Self) {
        // Every field named: a new one must be added here too.
        let OrderBook {
            spec,
            status,
            max_orders,
            nodes,
            free_node,
            levels,
            free_level,
            bids,
            asks,
            ids,
            client_ids,
            buy_stops,
            sell_stops,
            gtd,
            day,
            last_price,
            next_trade_id,
            compact_due,
        } = self;
        spec.clone_from(&source.spec);
        *status = source.status;
        *max_orders = source.max_orders;
        nodes.clone_from(&source.nodes);
        *free_node = source.free_node;
        levels.clone_from(&source.levels);
        *free_level = source.free_level;
        bids.clone_from(&source.bids);
        asks.clone_from(&source.asks);
        ids.clone_from(&source.ids);
        client_ids.clone_from(&source.client_ids);
        buy_stops.clone_from(&source.buy_stops);
        sell_stops.clone_from(&source.sell_stops);
        gtd.clone_from(&source.gtd);
        day.clone_from(&source.day);
        *last_price = source.last_price;
        *next_trade_id = source.next_trade_id;
        *compact_due = source.compact_due;
    }
}

#[inline]
fn emit(out: &mut Vec<Event>, instrument: InstrumentId, kind: EventKind) {
    out.push(Event { instrument, kind });
}

#[inline]
fn crosses(side: Side, limit: Price, level: Price) -> bool {
    match side {
        Side::Buy => level <= limit,
        Side::Sell => level >= limit,
    }
}

#[inline]
fn stop_reached(side: Side, stop: Price, last: Price) -> bool {
    match side {
        Side::Buy => last >= stop,
        Side::Sell => last <= stop,
    }
}

impl OrderBook {
    /// An empty book for `spec`, with its pools reserved for
    /// `config.max_orders` live orders.
    ///
    /// The spec must pass [`InstrumentSpec::validate`] (as `Books::new`
    /// ensures): its bounds are what keep `price * qty` within `i64`.
    pub fn new(spec: InstrumentSpec, config: BookConfig) -> OrderBook {
        debug_assert_eq!(spec.validate(), Ok(()), "unvalidated instrument spec");
        let max_orders = config.max_orders.min(NIL - 1);
        let reserve = max_orders as usize;
        // Hash tables start at a working size, not at capacity (see
        // `BookConfig::presized_orders`): entries of an oversized table are
        // spread over many more cache lines and pages, and a snapshot clone
        // copies the whole table. They grow, rarely, during warm-up; the
        // node pool is reserved for the full capacity.
        let table = reserve.min(config.presized_orders as usize);
        let level_table = reserve.min(WORKING_SIZE);
        let mut nodes = Vec::with_capacity(reserve);
        if config.prefault {
            // Writing every slot once makes the kernel map every page now;
            // `clear` keeps the memory.
            nodes.resize(reserve, Node::FREE);
            nodes.clear();
        }
        OrderBook {
            status: spec.status,
            spec,
            max_orders,
            nodes,
            free_node: NIL,
            levels: Vec::with_capacity(reserve.min(1 << 16)),
            free_level: NIL,
            bids: Ladder::with_capacity(level_table),
            asks: Ladder::with_capacity(level_table),
            ids: OrderTable::with_capacity(table),
            client_ids: id_map(table.min(1 << 10)),
            buy_stops: SortedVec::with_capacity(reserve.min(WORKING_SIZE)),
            sell_stops: SortedVec::with_capacity(reserve.min(WORKING_SIZE)),
            gtd: SortedVec::with_capacity(reserve.min(WORKING_SIZE)),
            day: SortedVec::with_capacity(reserve.min(WORKING_SIZE)),
            last_price: Price(0),
            next_trade_id: 1,
            compact_due: false,
        }
    }

    /// The instrument this book trades.
    pub fn spec(&self) -> &InstrumentSpec {
        &self.spec
    }

    /// Current trading status.
    pub fn status(&self) -> TradingStatus {
        self.status
    }

    /// Number of live orders (resting and dormant stops).
    pub fn len(&self) -> usize {
        self.ids.len()
    }

    /// Whether the book holds no live order.
    pub fn is_empty(&self) -> bool {
        self.ids.is_empty()
    }

    /// The id the next trade will get: trade ids count up from 1 without
    /// gaps, so a consumer can tell whether a command traded (and how
    /// often) without scanning its events.
    pub fn next_trade_id(&self) -> TradeId {
        TradeId(self.next_trade_id)
    }

    /// Price of the last trade, if there was one.
    pub fn last_price(&self) -> Option<Price> {
        (self.last_price.0 != 0).then_some(self.last_price)
    }

    /// Best bid price and its shown quantity.
    pub fn best_bid(&self) -> Option<(Price, Qty)> {
        self.best(Side::Buy)
    }

    /// Best ask price and its shown quantity.
    pub fn best_ask(&self) -> Option<(Price, Qty)> {
        self.best(Side::Sell)
    }

    fn best(&self, side: Side) -> Option<(Price, Qty)> {
        self.ladder(side).best().map(|at| {
            let level = &self.levels[at as usize];
            (level.price, Qty(level.shown))
        })
    }

    /// Aggregated depth of one side, best first, at most `limit` levels:
    /// `(price, shown quantity, order count)`.
    pub fn depth(&self, side: Side, limit: usize) -> impl Iterator<Item = (Price, Qty, u32)> + '_ {
        self.ladder(side)
            .entries
            .iter()
            .rev()
            .map(|&(_, at)| &self.levels[at as usize])
            .filter(|level| level.count > 0)
            .take(limit)
            .map(|level| (level.price, Qty(level.shown), level.count))
    }

    /// A live order by id.
    pub fn order(&self, order_id: OrderId) -> Option<BookOrder> {
        self.ids.get(order_id).map(|&at| self.view(at))
    }

    /// `account`'s live orders (resting, and dormant stops, whose `kind`
    /// is still a stop), oldest first. Read from the order pool: an
    /// open-orders query runs on the engine thread, and a
    /// [`snapshot`](Self::snapshot) would copy every account's orders to
    /// find one account's.
    pub fn orders_of(&self, account: AccountId) -> Vec<BookOrder> {
        self.live_where(|node_account| node_account == account)
    }

    /// Every live order, oldest first: what a gateway that starts after a
    /// restart must know about the orders placed before it.
    pub fn live_orders(&self) -> Vec<BookOrder> {
        self.live_where(|_| true)
    }

    fn live_where(&self, owner: impl Fn(AccountId) -> bool) -> Vec<BookOrder> {
        let mut found: Vec<BookOrder> = (0..self.nodes.len() as u32)
            .filter(|&at| {
                let node = &self.nodes[at as usize];
                owner(node.account) && matches!(node.place, Place::Resting | Place::Stop)
            })
            .map(|at| self.view(at))
            .collect();
        found.sort_unstable_by_key(|order| order.order_id);
        found
    }

    /// Changes the trading status.
    pub fn set_status(&mut self, status: TradingStatus, out: &mut Vec<Event>) {
        self.status = status;
        emit(out, self.spec.id, EventKind::StatusChanged { status });
    }

    // ------------------------------------------------------------------
    // Commands
    // ------------------------------------------------------------------

    /// Enters a new order. On `Err` nothing changed and nothing was emitted.
    pub fn new_order(
        &mut self,
        order: &NewOrder,
        now: Timestamp,
        out: &mut Vec<Event>,
    ) -> Result<(), Reject> {
        self.validate_new(order, now)?;
        self.compact_ladders();
        let instrument = self.spec.id;
        let node = Node::from_new(order);
        emit(
            out,
            instrument,
            EventKind::Accepted {
                order_id: node.id,
                client_order_id: node.client_id,
                account: node.account,
                side: node.side,
                kind: node.kind,
                price: node.price,
                qty: node.qty,
            },
        );
        if node.kind.is_stop() {
            let at = self.allocate(node);
            self.nodes[at as usize].place = Place::Stop;
            self.stop_index_insert(at);
            return Ok(());
        }
        if self.execute(node, NIL, out) {
            self.run_triggers(out);
        }
        Ok(())
    }

    /// Cancels one live order (resting or dormant stop). Allowed in every
    /// trading status.
    pub fn cancel(&mut self, cancel: &CancelOrder, out: &mut Vec<Event>) -> Result<(), Reject> {
        let at = self.lookup(cancel.target, cancel.account)?;
        self.end_order(at, CancelReason::Requested, out);
        Ok(())
    }

    /// Amends a resting limit order. On `Err` nothing changed.
    pub fn amend(&mut self, amend: &AmendOrder, out: &mut Vec<Event>) -> Result<(), Reject> {
        self.check_trading()?;
        let at = self.lookup(amend.target, amend.account)?;
        // The fields the amend needs, not a copy of the whole node.
        let n = &self.nodes[at as usize];
        if n.place != Place::Resting {
            return Err(Reject::NotAmendable);
        }
        let (id, account, side, price, qty, leaves) = (n.id, n.account, n.side, n.price, n.qty, n.leaves);
        let (client_id, post_only, level) = (n.client_id, n.post_only, n.level);
        // An unchanged size was checked when the order came in.
        let new_qty = match amend.new_qty {
            Some(new_qty) => self.spec.check_qty(new_qty)?,
            None => qty,
        };
        let new_leaves = Qty(new_qty.0 - (qty.0 - leaves.0));
        if new_leaves.0 <= 0 {
            return Err(Reject::AmendQtyTooLow);
        }
        self.spec.check_price(amend.new_price)?;
        let new_client = amend.new_client_order_id;
        let client_changes = new_client.is_some() && new_client != client_id;
        if client_changes && self.client_ids.contains_key(&(account, new_client)) {
            return Err(Reject::DuplicateClientOrderId);
        }
        let price_changes = amend.new_price != price;
        if post_only && price_changes && self.would_cross(side, amend.new_price) {
            return Err(Reject::PostOnlyWouldTake);
        }

        // Every check passed: from here on the amend is applied in full.
        self.compact_ladders();
        let instrument = self.spec.id;
        if client_changes {
            if client_id.is_some() {
                self.client_ids.remove(&(account, client_id));
            }
            self.client_ids.insert((account, new_client), at);
            self.nodes[at as usize].client_id = new_client;
        }
        let keep_priority = !price_changes && new_qty <= qty;
        if keep_priority {
            let n = &mut self.nodes[at as usize];
            n.qty = new_qty;
            n.leaves = new_leaves;
            let new_shown = if n.display.0 > 0 { Qty(n.shown.0.min(new_leaves.0)) } else { new_leaves };
            let shown_delta = n.shown.0 - new_shown.0;
            n.shown = new_shown;
            let lvl = &mut self.levels[level as usize];
            lvl.shown -= shown_delta;
            lvl.total -= leaves.0 - new_leaves.0;
            emit(
                out,
                instrument,
                EventKind::Amended {
                    order_id: id,
                    account,
                    price,
                    qty: new_qty,
                    leaves: new_leaves,
                    priority_kept: true,
                    client_order_id: self.nodes[at as usize].client_id,
                },
            );
            if shown_delta != 0 {
                emit(out, instrument, EventKind::OrderModified { order_id: id, side, price, qty: new_shown });
                self.publish_level(level, out);
            }
            return Ok(());
        }

        self.unlink_resting(at, out);
        let n = &mut self.nodes[at as usize];
        n.price = amend.new_price;
        n.qty = new_qty;
        n.leaves = new_leaves;
        n.place = Place::Active;
        emit(
            out,
            instrument,
            EventKind::Amended {
                order_id: id,
                account,
                price: amend.new_price,
                qty: new_qty,
                leaves: new_leaves,
                priority_kept: false,
                client_order_id: self.nodes[at as usize].client_id,
            },
        );
        if self.would_cross(side, amend.new_price) {
            if self.execute(self.nodes[at as usize], at, out) {
                self.run_triggers(out);
            }
        } else {
            // Nothing to match: relink in place, no copy through `execute`.
            self.link_resting(at, out);
        }
        Ok(())
    }

    /// Cancels every live order of `account` (or every order, for `None`)
    /// and reports how many with a `MassCancelled` event. Order: bids best
    /// first in queue order, then asks, then buy and sell stops in trigger
    /// order.
    pub fn mass_cancel(
        &mut self,
        account: Option<AccountId>,
        reason: CancelReason,
        out: &mut Vec<Event>,
    ) -> u32 {
        let matches = |node: &Node| account.is_none_or(|a| a == node.account);
        let mut count = 0;
        for side in [Side::Buy, Side::Sell] {
            let mut at = self.ladder(side).entries.len();
            while at > 0 {
                at -= 1;
                // Publishing an emptied best level may pop entries behind it.
                let Some(&(_, level)) = self.ladder(side).entries.get(at) else { continue };
                let mut cursor = self.levels[level as usize].head;
                let mut touched = false;
                while cursor != NIL {
                    let node = self.nodes[cursor as usize];
                    if matches(&node) {
                        self.unlink_quiet(cursor, out);
                        self.finish(cursor, node.leaves, reason, out);
                        touched = true;
                        count += 1;
                    }
                    cursor = node.next;
                }
                if touched {
                    self.publish_level(level, out);
                }
            }
        }
        for buys in [true, false] {
            let mut at =
                if buys { self.buy_stops.as_slice().len() } else { self.sell_stops.as_slice().len() };
            while at > 0 {
                at -= 1;
                let index = if buys { &self.buy_stops } else { &self.sell_stops };
                let handle = index.as_slice()[at].2;
                let node = self.nodes[handle as usize];
                if matches(&node) {
                    if buys {
                        self.buy_stops.remove_at(at)
                    } else {
                        self.sell_stops.remove_at(at)
                    };
                    self.nodes[handle as usize].place = Place::Active;
                    self.finish(handle, node.leaves, reason, out);
                    count += 1;
                }
            }
        }
        emit(out, self.spec.id, EventKind::MassCancelled { account, count });
        count
    }

    /// Expires GTD orders whose expiry time is at or before `now`, in
    /// ascending (expiry time, order id) order.
    pub fn expire(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        while let Some(&(expire, id)) = self.gtd.last() {
            if !expire > now.0 {
                break;
            }
            let at = self.ids[OrderId(!id)];
            self.end_order(at, CancelReason::Expired, out);
        }
    }

    /// Expires every DAY order (ascending order id), then GTD orders due at
    /// `now`.
    pub fn end_of_session(&mut self, now: Timestamp, out: &mut Vec<Event>) {
        while let Some(&id) = self.day.last() {
            let at = self.ids[OrderId(!id)];
            self.end_order(at, CancelReason::Expired, out);
        }
        self.expire(now, out);
    }

    // ------------------------------------------------------------------
    // Validation
    // ------------------------------------------------------------------

    fn check_trading(&self) -> Result<(), Reject> {
        match self.status {
            TradingStatus::Open => Ok(()),
            TradingStatus::Halted => Err(Reject::InstrumentHalted),
            TradingStatus::Closed => Err(Reject::InstrumentClosed),
        }
    }

    fn validate_new(&self, order: &NewOrder, now: Timestamp) -> Result<(), Reject> {
        self.check_trading()?;
        self.spec.check_qty(order.qty)?;
        if self.ids.contains_key(order.order_id) {
            return Err(Reject::DuplicateOrderId);
        }
        if order.order_id == OrderTable::<u32>::EMPTY {
            return Err(Reject::NumberOutOfRange);
        }
        if order.client_order_id.is_some()
            && self.client_ids.contains_key(&(order.account, order.client_order_id))
        {
            return Err(Reject::DuplicateClientOrderId);
        }
        let has_limit = matches!(order.kind, OrderKind::Limit | OrderKind::StopLimit);
        if has_limit {
            self.spec.check_price(order.price)?;
        }
        if order.kind.is_stop() {
            self.spec.check_price(order.stop_price)?;
        }
        if order.display_qty.0 < 0 || order.display_qty > order.qty {
            return Err(Reject::InvalidDisplayQty);
        }
        let iceberg = order.display_qty.0 > 0 && order.display_qty < order.qty;
        if iceberg && !(has_limit && order.tif.may_rest()) {
            return Err(Reject::InvalidOrderCombination);
        }
        if order.post_only && !(order.kind == OrderKind::Limit && order.tif.may_rest()) {
            return Err(Reject::InvalidOrderCombination);
        }
        if order.quote_budget < 0 {
            return Err(Reject::InvalidBudget);
        }
        if order.quote_budget > 0 && (has_limit || order.side == Side::Sell) {
            return Err(Reject::InvalidOrderCombination);
        }
        if order.tif == TimeInForce::Gtd && order.kind != OrderKind::Market && order.expire_time <= now {
            return Err(Reject::InvalidExpireTime);
        }
        let may_occupy = order.kind.is_stop() || (order.kind == OrderKind::Limit && order.tif.may_rest());
        if may_occupy && self.ids.len() >= self.max_orders as usize {
            return Err(Reject::BookFull);
        }
        if order.kind.is_stop()
            && self.last_price.0 != 0
            && stop_reached(order.side, order.stop_price, self.last_price)
        {
            return Err(Reject::StopWouldTriggerImmediately);
        }
        if order.post_only && self.would_cross(order.side, order.price) {
            return Err(Reject::PostOnlyWouldTake);
        }
        Ok(())
    }

    #[inline(always)]
    fn would_cross(&self, side: Side, price: Price) -> bool {
        self.ladder(side.opposite())
            .best()
            .is_some_and(|at| crosses(side, price, self.levels[at as usize].price))
    }

    #[inline(always)]
    fn lookup(&self, target: OrderRef, account: Option<AccountId>) -> Result<u32, Reject> {
        let found = match target {
            OrderRef::Id(id) => self.ids.get(id),
            OrderRef::Client(owner, client) => self.client_ids.get(&(owner, client)),
        };
        // Whether an id that is not live was once an order here would need the
        // book to remember every finished order; it does not, so "not live"
        // is `UnknownOrder`. The engine, which sees every instrument and the
        // id sequence, can refine it into `OrderNotActive` (too late).
        match found {
            Some(&at) if account.is_none_or(|a| a == self.nodes[at as usize].account) => Ok(at),
            _ => Err(Reject::UnknownOrder),
        }
    }

    // ------------------------------------------------------------------
    // Matching
    // ------------------------------------------------------------------

    /// Matches an incoming order (new, triggered or re-priced) and rests,
    /// cancels or finishes it. `handle` is its pool slot if it already has
    /// one. Returns whether anything traded.
    fn execute(&mut self, mut taker: Node, handle: u32, out: &mut Vec<Event>) -> bool {
        let trades_before = self.next_trade_id;
        if taker.tif == TimeInForce::Fok && !self.fok_fillable(&taker) {
            self.finish_taker(&taker, handle, CancelReason::FokNotFillable, out);
            return false;
        }
        let end = self.match_incoming(&mut taker, out);
        let traded = self.next_trade_id != trades_before;
        if taker.leaves.0 == 0 {
            if handle != NIL {
                self.release(handle);
            }
            return traded;
        }
        let reason = match end {
            End::SelfTrade => Some(CancelReason::SelfTradePrevention),
            End::Budget => Some(CancelReason::BudgetExhausted),
            End::Exhausted if taker.kind == OrderKind::Market => Some(CancelReason::NoLiquidity),
            End::Exhausted if taker.tif == TimeInForce::Fok => Some(CancelReason::FokNotFillable),
            End::Exhausted if !taker.tif.may_rest() => Some(CancelReason::IocRemainder),
            End::Exhausted => None,
        };
        match reason {
            Some(reason) => self.finish_taker(&taker, handle, reason, out),
            None => self.rest(taker, handle, out),
        }
        traded
    }

    fn finish_taker(&mut self, taker: &Node, handle: u32, reason: CancelReason, out: &mut Vec<Event>) {
        if handle != NIL {
            self.release(handle);
        }
        emit(
            out,
            self.spec.id,
            EventKind::Cancelled { order_id: taker.id, account: taker.account, qty: taker.leaves, reason },
        );
    }

    fn match_incoming(&mut self, taker: &mut Node, out: &mut Vec<Event>) -> End {
        let book_side = taker.side.opposite();
        loop {
            if taker.leaves.0 == 0 {
                return End::Exhausted;
            }
            let Some(level) = self.ladder(book_side).best() else {
                return End::Exhausted;
            };
            let price = self.levels[level as usize].price;
            if taker.kind != OrderKind::Market && !crosses(taker.side, taker.price, price) {
                return End::Exhausted;
            }
            let end = self.match_level(taker, level, out);
            self.publish_level(level, out);
            if let Some(end) = end {
                return end;
            }
        }
    }

    /// Matches against one level until the taker is done or the level is
    /// empty. `Some` means matching must stop for the reason given.
    fn match_level(&mut self, taker: &mut Node, level: u32, out: &mut Vec<Event>) -> Option<End> {
        let instrument = self.spec.id;
        let price = self.levels[level as usize].price;
        loop {
            if taker.leaves.0 == 0 {
                return None;
            }
            let maker_at = self.levels[level as usize].head;
            if maker_at == NIL {
                return None;
            }
            if self.nodes[maker_at as usize].stp_key == taker.stp_key {
                match taker.stp {
                    StpMode::Allow => {}
                    StpMode::CancelResting => {
                        self.end_resting_quiet(maker_at, CancelReason::SelfTradePrevention, out);
                        continue;
                    }
                    StpMode::CancelIncoming => return Some(End::SelfTrade),
                    StpMode::CancelBoth => {
                        self.end_resting_quiet(maker_at, CancelReason::SelfTradePrevention, out);
                        return Some(End::SelfTrade);
                    }
                    StpMode::DecrementAndCancel => {
                        self.decrement(maker_at, taker, out);
                        continue;
                    }
                }
            }

            // The next maker in the queue is read by the next fill, often
            // the next command's: start loading it (a long queue's orders
            // were placed long ago and are cold).
            if let Some(next) = self.nodes.get(self.nodes[maker_at as usize].next as usize) {
                crate::index::prefetch_read(next);
            }
            let maker = &mut self.nodes[maker_at as usize];
            let mut fill = taker.leaves.0.min(maker.shown.0);
            if taker.budget != NO_BUDGET {
                fill = fill.min(taker.budget / price.0);
                if fill == 0 {
                    return Some(End::Budget);
                }
                taker.budget -= fill * price.0;
            }
            maker.leaves.0 -= fill;
            maker.shown.0 -= fill;
            taker.leaves.0 -= fill;
            // The fields the events need, not a copy of the whole node.
            let (maker_id, maker_account, maker_side) = (maker.id, maker.account, maker.side);
            let (maker_leaves, maker_shown) = (maker.leaves, maker.shown);
            let lvl = &mut self.levels[level as usize];
            lvl.shown -= fill;
            lvl.total -= fill;
            self.last_price = price;
            let trade_id = TradeId(self.next_trade_id);
            self.next_trade_id += 1;
            emit(
                out,
                instrument,
                EventKind::Trade {
                    trade_id,
                    price,
                    qty: Qty(fill),
                    maker_order_id: maker_id,
                    taker_order_id: taker.id,
                    maker_account,
                    taker_account: taker.account,
                    maker_leaves,
                    taker_leaves: taker.leaves,
                    aggressor: taker.side,
                },
            );
            if maker_shown.0 > 0 {
                emit(
                    out,
                    instrument,
                    EventKind::OrderModified {
                        order_id: maker_id,
                        side: maker_side,
                        price,
                        qty: maker_shown,
                    },
                );
            } else {
                emit(
                    out,
                    instrument,
                    EventKind::OrderDeleted { order_id: maker_id, side: maker_side, price },
                );
                if maker_leaves.0 > 0 {
                    // Iceberg refresh: a new slice at the back of the queue.
                    let slice = self.nodes[maker_at as usize].slice();
                    self.nodes[maker_at as usize].shown = slice;
                    self.levels[level as usize].shown += slice.0;
                    self.list_remove(level, maker_at);
                    self.list_push_back(level, maker_at);
                    emit(
                        out,
                        instrument,
                        EventKind::OrderAdded { order_id: maker_id, side: maker_side, price, qty: slice },
                    );
                } else {
                    self.list_remove(level, maker_at);
                    self.levels[level as usize].count -= 1;
                    self.release(maker_at);
                }
            }
        }
    }

    /// Decrement-and-cancel between a resting order and the taker of the
    /// same STP group: both lose the smaller leaves, no trade prints.
    fn decrement(&mut self, maker_at: u32, taker: &mut Node, out: &mut Vec<Event>) {
        let instrument = self.spec.id;
        let maker = self.nodes[maker_at as usize];
        let cut = taker.leaves.0.min(maker.leaves.0);
        let hidden = maker.leaves.0 - maker.shown.0;
        let from_shown = cut - cut.min(hidden);
        taker.leaves.0 -= cut;
        if cut == maker.leaves.0 {
            self.end_resting_quiet(maker_at, CancelReason::SelfTradePrevention, out);
        } else {
            let node = &mut self.nodes[maker_at as usize];
            node.leaves.0 -= cut;
            node.shown.0 -= from_shown;
            let (leaves, shown) = (node.leaves, node.shown);
            let level = &mut self.levels[maker.level as usize];
            level.total -= cut;
            level.shown -= from_shown;
            emit(
                out,
                instrument,
                EventKind::Reduced { order_id: maker.id, account: maker.account, qty: Qty(cut), leaves },
            );
            if from_shown > 0 {
                emit(
                    out,
                    instrument,
                    EventKind::OrderModified {
                        order_id: maker.id,
                        side: maker.side,
                        price: maker.price,
                        qty: shown,
                    },
                );
            }
        }
        let kind = if taker.leaves.0 == 0 {
            EventKind::Cancelled {
                order_id: taker.id,
                account: taker.account,
                qty: Qty(cut),
                reason: CancelReason::SelfTradePrevention,
            }
        } else {
            EventKind::Reduced {
                order_id: taker.id,
                account: taker.account,
                qty: Qty(cut),
                leaves: taker.leaves,
            }
        };
        emit(out, instrument, kind);
    }

    /// Whether a FOK order can trade its whole quantity now, counting hidden
    /// quantity and the stops self-trade prevention would impose.
    fn fok_fillable(&self, taker: &Node) -> bool {
        let mut need = taker.leaves.0;
        let mut budget = taker.budget;
        for &(_, level) in self.ladder(taker.side.opposite()).entries.iter().rev() {
            let lvl = &self.levels[level as usize];
            if taker.kind != OrderKind::Market && !crosses(taker.side, taker.price, lvl.price) {
                break;
            }
            let (available, blocked) = self.fok_level_liquidity(taker, lvl);
            let mut take = need.min(available);
            if budget != NO_BUDGET {
                take = take.min(budget / lvl.price.0);
                budget -= take * lvl.price.0;
            }
            need -= take;
            if need == 0 {
                return true;
            }
            if blocked {
                return false;
            }
        }
        false
    }

    /// Liquidity an incoming order can reach at one level, and whether
    /// self-trade prevention stops it there.
    fn fok_level_liquidity(&self, taker: &Node, level: &Level) -> (i64, bool) {
        if taker.stp == StpMode::Allow {
            return (level.total, false);
        }
        let mut before_own = 0;
        let mut others = 0;
        let mut own_seen = false;
        let mut cursor = level.head;
        while cursor != NIL {
            let node = &self.nodes[cursor as usize];
            if node.stp_key == taker.stp_key {
                own_seen = true;
            } else {
                others += node.leaves.0;
                if !own_seen {
                    before_own += node.shown.0;
                }
            }
            cursor = node.next;
        }
        match (taker.stp, own_seen) {
            (_, false) => (level.total, false),
            (StpMode::CancelResting, true) => (others, false),
            (_, true) => (before_own, true),
        }
    }

    /// Stops are checked after every command that traded; see the crate
    /// documentation for the order.
    #[inline(always)]
    fn run_triggers(&mut self, out: &mut Vec<Event>) {
        // Most books hold no stop: the check stays inline, the loop out of line.
        if !(self.buy_stops.is_empty() && self.sell_stops.is_empty()) {
            self.run_triggers_now(out);
        }
    }

    #[inline(never)]
    fn run_triggers_now(&mut self, out: &mut Vec<Event>) {
        loop {
            let last = self.last_price;
            if last.0 == 0 {
                return;
            }
            let buy = self.buy_stops.last().filter(|&&(key, _, _)| last.0 >= -key).copied();
            let sell = self.sell_stops.last().filter(|&&(key, _, _)| last.0 <= key).copied();
            let handle = match (buy, sell) {
                // Keys hold !order_id: the larger key is the smaller id.
                (Some(b), Some(s)) if b.1 > s.1 => self.buy_stops.pop().map(|k| k.2),
                (Some(_), Some(_)) | (None, Some(_)) => self.sell_stops.pop().map(|k| k.2),
                (Some(_), None) => self.buy_stops.pop().map(|k| k.2),
                (None, None) => return,
            };
            let Some(at) = handle else { return };
            let node = &mut self.nodes[at as usize];
            node.kind = if node.kind == OrderKind::Stop { OrderKind::Market } else { OrderKind::Limit };
            node.place = Place::Active;
            let triggered = *node;
            emit(
                out,
                self.spec.id,
                EventKind::Triggered { order_id: triggered.id, account: triggered.account, last_price: last },
            );
            self.execute(triggered, at, out);
        }
    }

    // ------------------------------------------------------------------
    // Storage
    // ------------------------------------------------------------------

    fn ladder(&self, side: Side) -> &Ladder {
        match side {
            Side::Buy => &self.bids,
            Side::Sell => &self.asks,
        }
    }

    fn ladder_mut(&mut self, side: Side) -> &mut Ladder {
        match side {
            Side::Buy => &mut self.bids,
            Side::Sell => &mut self.asks,
        }
    }

    /// Puts a node into the pool and the id maps; returns its handle.
    fn allocate(&mut self, node: Node) -> u32 {
        let at = if self.free_node != NIL {
            let at = self.free_node;
            self.free_node = self.nodes[at as usize].next;
            self.nodes[at as usize] = node;
            at
        } else {
            self.nodes.push(node);
            (self.nodes.len() - 1) as u32
        };
        self.ids.insert(node.id, at);
        if node.client_id.is_some() {
            self.client_ids.insert((node.account, node.client_id), at);
        }
        match node.tif {
            TimeInForce::Gtd => self.gtd.insert((!node.expire_time.0, !node.id.0)),
            TimeInForce::Day => self.day.insert(!node.id.0),
            _ => {}
        }
        at
    }

    /// Removes a node from the maps and indexes and returns it to the pool.
    /// The caller has unlinked it from any level already.
    fn release(&mut self, at: u32) {
        let node = &self.nodes[at as usize];
        let (id, place, tif, client_id, account) =
            (node.id, node.place, node.tif, node.client_id, node.account);
        debug_assert!(place != Place::Free, "double release of {id:?}");
        if place == Place::Stop {
            let (side, stop) = (self.nodes[at as usize].side, self.nodes[at as usize].stop_price);
            let removed = match side {
                Side::Buy => self.buy_stops.remove(&(-stop.0, !id.0, at)),
                Side::Sell => self.sell_stops.remove(&(stop.0, !id.0, at)),
            };
            debug_assert!(removed, "stop {id:?} missing from its index");
        }
        match tif {
            TimeInForce::Gtd => {
                let expire_time = self.nodes[at as usize].expire_time;
                self.gtd.remove(&(!expire_time.0, !id.0));
            }
            TimeInForce::Day => {
                self.day.remove(&!id.0);
            }
            _ => {}
        }
        self.ids.remove(id);
        if client_id.is_some() {
            self.client_ids.remove(&(account, client_id));
        }
        let slot = &mut self.nodes[at as usize];
        slot.place = Place::Free;
        slot.next = self.free_node;
        self.free_node = at;
    }

    fn stop_index_insert(&mut self, at: u32) {
        let node = &self.nodes[at as usize];
        match node.side {
            Side::Buy => self.buy_stops.insert((-node.stop_price.0, !node.id.0, at)),
            Side::Sell => self.sell_stops.insert((node.stop_price.0, !node.id.0, at)),
        }
    }

    /// Rests the remainder of an incoming order at the back of its level.
    fn rest(&mut self, node: Node, handle: u32, out: &mut Vec<Event>) {
        let at = if handle == NIL {
            self.allocate(node)
        } else {
            self.nodes[handle as usize] = node;
            handle
        };
        self.link_resting(at, out);
    }

    /// Links a pooled order at the back of its price level with its first
    /// shown slice, and publishes the level.
    #[inline(always)]
    fn link_resting(&mut self, at: u32, out: &mut Vec<Event>) {
        let node = &mut self.nodes[at as usize];
        node.shown = node.slice();
        node.place = Place::Resting;
        let (id, side, price, shown, leaves) = (node.id, node.side, node.price, node.shown, node.leaves);
        let level = self.level_for(side, price);
        self.list_push_back(level, at);
        let lvl = &mut self.levels[level as usize];
        lvl.shown += shown.0;
        lvl.total += leaves.0;
        lvl.count += 1;
        emit(out, self.spec.id, EventKind::OrderAdded { order_id: id, side, price, qty: shown });
        self.publish_level(level, out);
    }

    /// Ends a live order (resting or dormant) other than by a fill, with all
    /// its events: L3 delete and L2 update if it rested, then the lifecycle
    /// event.
    fn end_order(&mut self, at: u32, reason: CancelReason, out: &mut Vec<Event>) {
        let node = self.nodes[at as usize];
        if node.place == Place::Resting {
            self.unlink_resting(at, out);
        }
        self.finish(at, node.leaves, reason, out);
    }

    /// As [`end_order`](Self::end_order) for a resting order whose level the
    /// caller publishes itself (it is in the middle of matching it).
    fn end_resting_quiet(&mut self, at: u32, reason: CancelReason, out: &mut Vec<Event>) {
        let leaves = self.nodes[at as usize].leaves;
        self.unlink_quiet(at, out);
        self.finish(at, leaves, reason, out);
    }

    /// Releases a node and emits its `Cancelled`/`Expired` event.
    fn finish(&mut self, at: u32, leaves: Qty, reason: CancelReason, out: &mut Vec<Event>) {
        let node = self.nodes[at as usize];
        self.release(at);
        let kind = if reason == CancelReason::Expired {
            EventKind::Expired { order_id: node.id, account: node.account, qty: leaves }
        } else {
            EventKind::Cancelled { order_id: node.id, account: node.account, qty: leaves, reason }
        };
        emit(out, self.spec.id, kind);
    }

    /// Takes a resting order off its level and publishes the level.
    #[inline(always)]
    fn unlink_resting(&mut self, at: u32, out: &mut Vec<Event>) {
        let level = self.nodes[at as usize].level;
        self.unlink_quiet(at, out);
        self.publish_level(level, out);
    }

    /// Takes a resting order off its level (with its L3 delete) without
    /// publishing the level.
    #[inline(always)]
    fn unlink_quiet(&mut self, at: u32, out: &mut Vec<Event>) {
        let node = &mut self.nodes[at as usize];
        node.place = Place::Active;
        let (level, shown, leaves) = (node.level, node.shown.0, node.leaves.0);
        let deleted = EventKind::OrderDeleted { order_id: node.id, side: node.side, price: node.price };
        self.list_remove(level, at);
        let lvl = &mut self.levels[level as usize];
        lvl.shown -= shown;
        lvl.total -= leaves;
        lvl.count -= 1;
        emit(out, self.spec.id, deleted);
    }

    /// Emits a level's L2 state and frees it if it is empty.
    #[inline(always)]
    fn publish_level(&mut self, level: u32, out: &mut Vec<Event>) {
        let lvl = &self.levels[level as usize];
        let (side, price, count) = (lvl.side, lvl.price, lvl.count);
        emit(out, self.spec.id, EventKind::Level { side, price, qty: Qty(lvl.shown), count });
        if count == 0 {
            self.level_emptied(level);
        }
    }

    /// A level lost its last order: kept in place, or dropped if it was the
    /// best (with any emptied levels it uncovers).
    #[inline(always)]
    fn level_emptied(&mut self, level: u32) {
        let lvl = self.levels[level as usize];
        let side = lvl.side;
        debug_assert!(lvl.shown == 0 && lvl.total == 0, "empty level with quantity: {lvl:?}");
        let key = Ladder::key(side, lvl.price);
        let is_best = self.ladder(side).entries.last().is_some_and(|&(last, _)| last == key);
        if !is_best {
            // Keep it in place: removing it would move every entry
            // behind it. `compact_ladders` bounds how many stay.
            let ladder = self.ladder_mut(side);
            ladder.empty += 1;
            let live = ladder.entries.len() as u32 - ladder.empty;
            self.compact_due |= ladder.empty > 2 * live + 1024;
            return;
        }
        self.drop_emptied_best(side, level);
    }

    /// The best level must be non-empty: drops the emptied best `level` and
    /// any emptied levels it uncovers.
    #[inline(never)]
    fn drop_emptied_best(&mut self, side: Side, level: u32) {
        while let Some(&(_, last)) = self.ladder(side).entries.last() {
            if self.levels[last as usize].count > 0 {
                break;
            }
            let ladder = self.ladder_mut(side);
            if let Some((key, _)) = ladder.entries.pop() {
                ladder.by_key.remove(key);
            }
            if last != level {
                ladder.empty -= 1;
            }
            self.levels[last as usize].head = self.free_level;
            self.free_level = last;
        }
    }

    /// Drops emptied levels once they outnumber the live ones (plus slack),
    /// so a drifting market cannot grow the ladders without bound. Runs
    /// between commands only: nothing is iterating a ladder then.
    #[inline]
    fn compact_ladders(&mut self) {
        if self.compact_due {
            self.compact_ladders_now();
        }
    }

    #[cold]
    fn compact_ladders_now(&mut self) {
        self.compact_due = false;
        for side in [Side::Buy, Side::Sell] {
            let ladder = self.ladder(side);
            let live = ladder.entries.len() as u32 - ladder.empty;
            if ladder.empty <= 2 * live + 1024 {
                continue;
            }
            let mut entries = std::mem::take(&mut self.ladder_mut(side).entries);
            let mut by_key = std::mem::take(&mut self.ladder_mut(side).by_key);
            entries.retain(|&(key, level)| {
                let keep = self.levels[level as usize].count > 0;
                if !keep {
                    by_key.remove(key);
                    self.levels[level as usize].head = self.free_level;
                    self.free_level = level;
                }
                keep
            });
            let ladder = self.ladder_mut(side);
            ladder.entries = entries;
            ladder.by_key = by_key;
            ladder.empty = 0;
        }
    }

    #[inline(always)]
    fn level_for(&mut self, side: Side, price: Price) -> u32 {
        let key = Ladder::key(side, price);
        if let Some(level) = self.ladder(side).by_key.get(key) {
            if self.levels[level as usize].count == 0 {
                self.ladder_mut(side).empty -= 1;
            }
            return level;
        }
        self.new_level(side, price, key)
    }

    /// Adds a level for a price the ladder does not hold.
    #[inline(never)]
    fn new_level(&mut self, side: Side, price: Price, key: i64) -> u32 {
        let at = self.ladder(side).insert_position(key);
        let fresh = Level { price, side, head: NIL, tail: NIL, shown: 0, total: 0, count: 0 };
        let level = if self.free_level != NIL {
            let level = self.free_level;
            self.free_level = self.levels[level as usize].head;
            self.levels[level as usize] = fresh;
            level
        } else {
            self.levels.push(fresh);
            (self.levels.len() - 1) as u32
        };
        let ladder = self.ladder_mut(side);
        ladder.entries.insert(at, (key, level));
        ladder.by_key.insert(key, level);
        if let Some(&(touch, _)) = ladder.entries.last()
            && ladder.by_key.drifted(touch)
        {
            ladder.by_key.recentre(touch);
        }
        level
    }

    #[inline(always)]
    fn list_push_back(&mut self, level: u32, at: u32) {
        let tail = self.levels[level as usize].tail;
        let node = &mut self.nodes[at as usize];
        node.level = level;
        node.prev = tail;
        node.next = NIL;
        if tail == NIL {
            self.levels[level as usize].head = at;
        } else {
            self.nodes[tail as usize].next = at;
        }
        self.levels[level as usize].tail = at;
    }

    #[inline(always)]
    fn list_remove(&mut self, level: u32, at: u32) {
        let node = &self.nodes[at as usize];
        let (prev, next) = (node.prev, node.next);
        if prev == NIL {
            self.levels[level as usize].head = next;
        } else {
            self.nodes[prev as usize].next = next;
        }
        if next == NIL {
            self.levels[level as usize].tail = prev;
        } else {
            self.nodes[next as usize].prev = prev;
        }
    }

    // ------------------------------------------------------------------
    // Inspection
    // ------------------------------------------------------------------

    fn view(&self, at: u32) -> BookOrder {
        let n = &self.nodes[at as usize];
        BookOrder {
            order_id: n.id,
            client_order_id: n.client_id,
            account: n.account,
            side: n.side,
            kind: n.kind,
            tif: n.tif,
            price: n.price,
            stop_price: n.stop_price,
            qty: n.qty,
            leaves: n.leaves,
            shown: n.shown,
        }
    }

    /// The quote budget a live order was given (tick × lot units), if it
    /// was placed with one: a gateway that learns the order from the book
    /// reports the budget rather than the quantity that bounds it.
    pub fn quote_budget(&self, order_id: OrderId) -> Option<i64> {
        self.ids.get(order_id).map(|&at| self.nodes[at as usize].budget).filter(|&budget| budget != NO_BUDGET)
    }

    /// Most live orders the book can hold (its configured `max_orders`).
    pub fn capacity(&self) -> usize {
        self.max_orders as usize
    }

    /// Starts loading where a lookup of `order_id` begins (see
    /// [`OrderTable::prefetch`]).
    #[inline]
    pub fn prefetch_order(&self, order_id: OrderId) {
        self.ids.prefetch(order_id);
    }

    /// Looks `order_id` up and starts loading its node, without waiting for
    /// the node: the second stage after [`prefetch_order`](Self::prefetch_order).
    ///
    /// For an amend, the window slots of `new_price` on both ladders are
    /// asked for too: the next stage reads the one of the order's side to
    /// find the level it moves to, and which side that is is in the node
    /// still on its way.
    #[inline]
    pub fn prefetch_node(&self, order_id: OrderId, new_price: Option<Price>) {
        if let Some(node) = self.live_node(order_id) {
            crate::index::prefetch_read(node);
        }
        if let Some(price) = new_price {
            self.bids.by_key.prefetch(Ladder::key(Side::Buy, price));
            self.asks.by_key.prefetch(Ladder::key(Side::Sell, price));
        }
    }

    /// The third stage: the node has arrived, so its level and its queue
    /// neighbours (which a move or cancel unlinks it from) can be asked
    /// for, and the level at `new_price` if the command moves it there.
    #[inline]
    pub fn prefetch_neighbours(&self, order_id: OrderId, new_price: Option<Price>) {
        let Some(node) = self.live_node(order_id) else { return };
        for handle in [node.prev, node.next] {
            if let Some(neighbour) = self.nodes.get(handle as usize) {
                crate::index::prefetch_read(neighbour);
            }
        }
        if let Some(level) = self.levels.get(node.level as usize) {
            crate::index::prefetch_read(level);
        }
        if let Some(price) = new_price
            && let Some(level) = self.ladder(node.side).by_key.get(Ladder::key(node.side, price))
            && let Some(level) = self.levels.get(level as usize)
        {
            crate::index::prefetch_read(level);
        }
    }

    /// The node of a live order, for the prefetch stages (which must not
    /// panic on an id that is gone).
    #[inline(always)]
    fn live_node(&self, order_id: OrderId) -> Option<&Node> {
        self.ids.get(order_id).and_then(|&at| self.nodes.get(at as usize))
    }

    /// Resolves a cancel/amend target to a live order the requester may
    /// touch, without changing anything: lets the engine's risk layer price
    /// an amend before the book applies it.
    pub fn find(&self, target: OrderRef, account: Option<AccountId>) -> Result<BookOrder, Reject> {
        self.lookup(target, account).map(|at| self.view(at))
    }

    /// The logical state of the book (see [`BookState`]). O(orders).
    pub fn export(&self) -> BookState {
        let side_orders = |ladder: &Ladder| {
            let mut orders = Vec::new();
            for &(_, level) in ladder.entries.iter().rev() {
                let mut cursor = self.levels[level as usize].head;
                while cursor != NIL {
                    orders.push(self.nodes[cursor as usize].state());
                    cursor = self.nodes[cursor as usize].next;
                }
            }
            orders
        };
        let stops = |index: &SortedVec<(i64, u64, u32)>| {
            index.as_slice().iter().rev().map(|&(_, _, at)| self.nodes[at as usize].state()).collect()
        };
        BookState {
            status: self.status,
            last_price: self.last_price,
            next_trade_id: self.next_trade_id,
            bids: side_orders(&self.bids),
            asks: side_orders(&self.asks),
            buy_stops: stops(&self.buy_stops),
            sell_stops: stops(&self.sell_stops),
        }
    }

    pub(crate) fn restore_header(&mut self, status: TradingStatus, last_price: Price, next_trade_id: u64) {
        self.status = status;
        self.last_price = last_price;
        self.next_trade_id = next_trade_id;
    }

    fn restore_node(&mut self, order: &OrderState, place: Place) -> Result<u32, ImportError> {
        let clash = self.ids.contains_key(order.order_id)
            || (order.client_order_id.is_some()
                && self.client_ids.contains_key(&(order.account, order.client_order_id)));
        if clash {
            return Err(ImportError::DuplicateId(order.order_id));
        }
        if order.order_id == OrderTable::<u32>::EMPTY {
            return Err(ImportError::BadOrder(order.order_id));
        }
        let node = Node::from_state(order, place);
        Ok(self.allocate(node))
    }

    /// Links an imported resting order at the back of its level with its
    /// recorded shown slice. Emits nothing: a restore is not news.
    pub(crate) fn restore_resting(&mut self, order: &OrderState) -> Result<(), ImportError> {
        let at = self.restore_node(order, Place::Resting)?;
        let level = self.level_for(order.side, order.price);
        self.list_push_back(level, at);
        let lvl = &mut self.levels[level as usize];
        lvl.shown += order.shown.0;
        lvl.total += order.leaves.0;
        lvl.count += 1;
        Ok(())
    }

    pub(crate) fn restore_stop(&mut self, order: &OrderState) -> Result<(), ImportError> {
        let at = self.restore_node(order, Place::Stop)?;
        self.stop_index_insert(at);
        Ok(())
    }

    /// The book in priority order. O(orders); for tests, snapshots and
    /// market-data resynchronisation, not for the order path.
    pub fn snapshot(&self) -> BookSnapshot {
        let side_orders = |ladder: &Ladder| {
            let mut orders = Vec::new();
            for &(_, level) in ladder.entries.iter().rev() {
                let mut cursor = self.levels[level as usize].head;
                while cursor != NIL {
                    orders.push(self.view(cursor));
                    cursor = self.nodes[cursor as usize].next;
                }
            }
            orders
        };
        let stops = |index: &SortedVec<(i64, u64, u32)>| {
            index.as_slice().iter().rev().map(|&(_, _, at)| self.view(at)).collect()
        };
        BookSnapshot {
            bids: side_orders(&self.bids),
            asks: side_orders(&self.asks),
            buy_stops: stops(&self.buy_stops),
            sell_stops: stops(&self.sell_stops),
            last_price: self.last_price(),
        }
    }

    /// Checks every structural invariant and panics with a description of the
    /// first one broken. O(orders): tests call it after every command.
    ///
    /// The book is not crossed; ladders are strictly ordered and hold only
    /// non-empty levels whose aggregates equal the sum of their orders; FIFO
    /// links are consistent both ways; every resting order shows a positive
    /// slice no larger than its leaves (all of it unless an iceberg); the id
    /// maps, stop, GTD and DAY indexes hold exactly the live orders.
    pub fn assert_invariants(&self) {
        if let (Some((bid, _)), Some((ask, _))) = (self.best_bid(), self.best_ask()) {
            assert!(bid < ask, "book crossed: bid {bid:?} >= ask {ask:?}");
        }
        let mut resting = 0usize;
        let mut gtd = 0usize;
        let mut day = 0usize;
        for (side, ladder) in [(Side::Buy, &self.bids), (Side::Sell, &self.asks)] {
            let mut empties = 0;
            if let Some(&(_, best)) = ladder.entries.last() {
                assert!(self.levels[best as usize].count > 0, "{side:?} best level is empty");
            }
            for pair in ladder.entries.windows(2) {
                assert!(pair[0].0 < pair[1].0, "{side:?} ladder out of order: {pair:?}");
            }
            for &(key, level) in &ladder.entries {
                let lvl = &self.levels[level as usize];
                assert_eq!(Ladder::key(side, lvl.price), key, "level price disagrees with its key");
                empties += u32::from(lvl.count == 0);
                let (mut shown, mut total, mut count) = (0, 0, 0);
                let mut prev = NIL;
                let mut cursor = lvl.head;
                while cursor != NIL {
                    let n = &self.nodes[cursor as usize];
                    assert_eq!(n.place, Place::Resting, "{:?} in a level but not resting", n.id);
                    assert_eq!(n.prev, prev, "broken back link at {:?}", n.id);
                    assert_eq!(n.level, level, "{:?} points at another level", n.id);
                    assert_eq!((n.side, n.price), (side, lvl.price), "{:?} on the wrong level", n.id);
                    assert!(
                        n.shown.0 > 0 && n.shown <= n.leaves,
                        "{:?} shows {:?} of {:?}",
                        n.id,
                        n.shown,
                        n.leaves
                    );
                    assert!(n.leaves <= n.qty, "{:?} leaves above quantity", n.id);
                    if n.display.0 == 0 {
                        assert_eq!(n.shown, n.leaves, "fully shown order {:?} hides quantity", n.id);
                    } else {
                        assert!(n.shown <= n.display, "{:?} shows more than its display size", n.id);
                    }
                    assert_eq!(self.ids.get(n.id), Some(&cursor), "{:?} missing from the id map", n.id);
                    gtd += usize::from(n.tif == TimeInForce::Gtd);
                    day += usize::from(n.tif == TimeInForce::Day);
                    shown += n.shown.0;
                    total += n.leaves.0;
                    count += 1;
                    prev = cursor;
                    cursor = n.next;
                }
                assert_eq!(lvl.tail, prev, "tail of level {:?} is not its last order", lvl.price);
                assert_eq!(
                    (lvl.shown, lvl.total, lvl.count),
                    (shown, total, count),
                    "level {:?} aggregates",
                    lvl.price
                );
                resting += count as usize;
            }
            assert_eq!(ladder.empty, empties, "{side:?} empty-level count");
            assert_eq!(ladder.by_key.len(), ladder.entries.len(), "{side:?} level map size");
            for &(key, level) in &ladder.entries {
                assert_eq!(ladder.by_key.get(key), Some(level), "{side:?} level map entry");
            }
        }
        let mut stops = 0usize;
        for (side, index) in [(Side::Buy, &self.buy_stops), (Side::Sell, &self.sell_stops)] {
            for &(_, id, at) in index.as_slice() {
                let n = &self.nodes[at as usize];
                assert_eq!((n.place, n.side, n.id), (Place::Stop, side, OrderId(!id)), "stop index entry");
                assert_eq!(self.ids.get(n.id), Some(&at), "stop {:?} missing from the id map", n.id);
                gtd += usize::from(n.tif == TimeInForce::Gtd);
                day += usize::from(n.tif == TimeInForce::Day);
                stops += 1;
            }
        }
        assert_eq!(self.ids.len(), resting + stops, "id map holds other than the live orders");
        assert_eq!(self.gtd.as_slice().len(), gtd, "GTD index size");
        assert_eq!(self.day.as_slice().len(), day, "DAY index size");
        let with_client =
            self.ids.values().filter(|&&at| self.nodes[at as usize].client_id.is_some()).count();
        assert_eq!(self.client_ids.len(), with_client, "client id map size");
    }
}
