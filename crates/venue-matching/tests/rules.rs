//! The matching rules of `venue-matching`, one test per rule.
//!
//! Each test is named after the rule it checks (the rules are stated in the
//! crate documentation, `src/lib.rs`). Every command goes through
//! [`Books::apply`]; the tests assert the exact order-lifecycle events and
//! book deltas where their order matters, compare the resulting book with
//! [`OrderBook::snapshot`], and check [`OrderBook::assert_invariants`] after
//! every single command.

use std::collections::BTreeMap;

use venue_matching::{
    AccountId, AmendOrder, BookConfig, BookOrder, BookSnapshot, Books, CancelOrder, CancelReason,
    ClientOrderId, Command, Event, EventKind, InstrumentId, InstrumentSpec, NewOrder, OrderBook, OrderId,
    OrderKind, OrderRef, Price, Qty, Reject, RequestKind, Side, StpGroup, StpMode, TimeInForce, Timestamp,
    TradeId, TradingStatus,
};

use Side::{Buy, Sell};

// ----------------------------------------------------------------------
// Harness
// ----------------------------------------------------------------------

/// A venue of one or more books driven through `Books::apply`, checking the
/// invariants of every book after every command.
struct Venue {
    books: Books,
    now: Timestamp,
    out: Vec<Event>,
    /// Every event of every command so far.
    log: Vec<Event>,
}

impl Venue {
    fn new() -> Venue {
        Venue::with_instruments(1)
    }

    fn with_instruments(count: u32) -> Venue {
        let specs = (0..count).map(|id| InstrumentSpec::spot(id, &format!("I{id}-USD"), 2, 4)).collect();
        Venue {
            books: Books::new(specs, BookConfig { max_orders: 1024, ..BookConfig::default() })
                .expect("valid specs"),
            now: Timestamp(1_000),
            out: Vec::new(),
            log: Vec::new(),
        }
    }

    /// Applies one command and returns its events (all instruments).
    fn run(&mut self, command: Command) -> Vec<EventKind> {
        self.out.clear();
        self.books.apply(&command, self.now, &mut self.out);
        for book in self.books.iter() {
            book.assert_invariants();
        }
        self.log.extend_from_slice(&self.out);
        self.out.iter().map(|event| event.kind).collect()
    }

    fn submit(&mut self, order: NewOrder) -> Vec<EventKind> {
        self.run(Command::New(order))
    }

    /// Submits an order that must be accepted.
    fn place(&mut self, order: NewOrder) -> Vec<EventKind> {
        let events = self.submit(order);
        assert!(
            matches!(events.first(), Some(EventKind::Accepted { .. })),
            "order {:?} not accepted: {events:?}",
            order.order_id
        );
        events
    }

    /// Cancel by venue order id, as the operator.
    fn cancel(&mut self, id: u64) -> Vec<EventKind> {
        self.run(Command::Cancel(CancelOrder {
            instrument: InstrumentId(0),
            target: OrderRef::Id(OrderId(id)),
            account: None,
        }))
    }

    /// Amend by venue order id, as the operator.
    fn amend(&mut self, id: u64, price: i64, qty: Option<i64>) -> Vec<EventKind> {
        self.run(Command::Amend(AmendOrder {
            instrument: InstrumentId(0),
            target: OrderRef::Id(OrderId(id)),
            account: None,
            new_price: Price(price),
            new_qty: qty.map(Qty),
            new_client_order_id: ClientOrderId::NONE,
        }))
    }

    fn set_status(&mut self, status: TradingStatus) -> Vec<EventKind> {
        self.run(Command::SetStatus { instrument: InstrumentId(0), status })
    }

    /// Prints one trade at `price` between two bystander accounts (90 and
    /// 91), so that the book has a last trade price.
    fn print_trade_at(&mut self, price: i64, sell_id: u64, buy_id: u64) {
        self.place(limit(sell_id, 90, Sell, price, 1));
        let events = self.place(limit(buy_id, 91, Buy, price, 1));
        assert!(events.iter().any(|e| matches!(e, EventKind::Trade { .. })), "no trade at {price}");
        assert_eq!(self.book().last_price(), Some(Price(price)));
    }

    fn book(&self) -> &OrderBook {
        self.books.book(InstrumentId(0)).expect("instrument 0")
    }

    fn snapshot(&self) -> BookSnapshot {
        self.book().snapshot()
    }
}

// ----------------------------------------------------------------------
// Orders
// ----------------------------------------------------------------------

fn limit(id: u64, account: u32, side: Side, price: i64, qty: i64) -> NewOrder {
    NewOrder::limit(id, account, side, price, qty)
}

fn tif(order: NewOrder, tif: TimeInForce) -> NewOrder {
    NewOrder { tif, ..order }
}

fn market(id: u64, account: u32, side: Side, qty: i64) -> NewOrder {
    NewOrder::market(id, account, side, qty)
}

fn iceberg(id: u64, account: u32, side: Side, price: i64, qty: i64, display: i64) -> NewOrder {
    NewOrder { display_qty: Qty(display), ..limit(id, account, side, price, qty) }
}

fn stop(id: u64, account: u32, side: Side, stop_price: i64, qty: i64) -> NewOrder {
    NewOrder { kind: OrderKind::Stop, stop_price: Price(stop_price), ..limit(id, account, side, 0, qty) }
}

fn stop_limit(id: u64, account: u32, side: Side, stop_price: i64, price: i64, qty: i64) -> NewOrder {
    NewOrder {
        kind: OrderKind::StopLimit,
        stop_price: Price(stop_price),
        ..limit(id, account, side, price, qty)
    }
}

fn gtd(order: NewOrder, expire: u64) -> NewOrder {
    NewOrder { tif: TimeInForce::Gtd, expire_time: Timestamp(expire), ..order }
}

fn stp(order: NewOrder, mode: StpMode) -> NewOrder {
    NewOrder { stp: mode, ..order }
}

// ----------------------------------------------------------------------
// Expected events
// ----------------------------------------------------------------------

fn accepted(id: u64, account: u32, side: Side, kind: OrderKind, price: i64, qty: i64) -> EventKind {
    EventKind::Accepted {
        order_id: OrderId(id),
        client_order_id: ClientOrderId::NONE,
        account: AccountId(account),
        side,
        kind,
        price: Price(price),
        qty: Qty(qty),
    }
}

fn accepted_limit(id: u64, account: u32, side: Side, price: i64, qty: i64) -> EventKind {
    accepted(id, account, side, OrderKind::Limit, price, qty)
}

/// A trade: `(price, qty)`, maker `(id, account, leaves)`, taker `(id,
/// account, leaves)`.
fn trade(
    trade_id: u64,
    (price, qty): (i64, i64),
    (maker, maker_account, maker_leaves): (u64, u32, i64),
    (taker, taker_account, taker_leaves): (u64, u32, i64),
    aggressor: Side,
) -> EventKind {
    EventKind::Trade {
        trade_id: TradeId(trade_id),
        price: Price(price),
        qty: Qty(qty),
        maker_order_id: OrderId(maker),
        taker_order_id: OrderId(taker),
        maker_account: AccountId(maker_account),
        taker_account: AccountId(taker_account),
        maker_leaves: Qty(maker_leaves),
        taker_leaves: Qty(taker_leaves),
        aggressor,
    }
}

fn cancelled(id: u64, account: u32, qty: i64, reason: CancelReason) -> EventKind {
    EventKind::Cancelled { order_id: OrderId(id), account: AccountId(account), qty: Qty(qty), reason }
}

fn expired(id: u64, account: u32, qty: i64) -> EventKind {
    EventKind::Expired { order_id: OrderId(id), account: AccountId(account), qty: Qty(qty) }
}

fn triggered(id: u64, account: u32, last: i64) -> EventKind {
    EventKind::Triggered { order_id: OrderId(id), account: AccountId(account), last_price: Price(last) }
}

/// An amend of an order without a client order id.
fn amended(id: u64, account: u32, price: i64, qty: i64, leaves: i64, priority_kept: bool) -> EventKind {
    amended_as(id, account, price, qty, leaves, priority_kept, ClientOrderId::NONE)
}

fn amended_as(
    id: u64,
    account: u32,
    price: i64,
    qty: i64,
    leaves: i64,
    priority_kept: bool,
    client_order_id: ClientOrderId,
) -> EventKind {
    EventKind::Amended {
        order_id: OrderId(id),
        account: AccountId(account),
        price: Price(price),
        qty: Qty(qty),
        leaves: Qty(leaves),
        priority_kept,
        client_order_id,
    }
}

fn reduced(id: u64, account: u32, qty: i64, leaves: i64) -> EventKind {
    EventKind::Reduced {
        order_id: OrderId(id),
        account: AccountId(account),
        qty: Qty(qty),
        leaves: Qty(leaves),
    }
}

fn rejected(id: u64, account: u32, request: RequestKind, reason: Reject) -> EventKind {
    EventKind::Rejected {
        order_id: OrderId(id),
        client_order_id: ClientOrderId::NONE,
        account: AccountId(account),
        request,
        reason,
    }
}

fn level(side: Side, price: i64, qty: i64, count: u32) -> EventKind {
    EventKind::Level { side, price: Price(price), qty: Qty(qty), count }
}

fn added(id: u64, side: Side, price: i64, qty: i64) -> EventKind {
    EventKind::OrderAdded { order_id: OrderId(id), side, price: Price(price), qty: Qty(qty) }
}

fn modified(id: u64, side: Side, price: i64, qty: i64) -> EventKind {
    EventKind::OrderModified { order_id: OrderId(id), side, price: Price(price), qty: Qty(qty) }
}

fn deleted(id: u64, side: Side, price: i64) -> EventKind {
    EventKind::OrderDeleted { order_id: OrderId(id), side, price: Price(price) }
}

fn is_delta(kind: &EventKind) -> bool {
    matches!(
        kind,
        EventKind::Level { .. }
            | EventKind::OrderAdded { .. }
            | EventKind::OrderModified { .. }
            | EventKind::OrderDeleted { .. }
    )
}

/// The order-lifecycle events (everything but the public book deltas).
fn lifecycle(events: &[EventKind]) -> Vec<EventKind> {
    events.iter().filter(|kind| !is_delta(kind)).copied().collect()
}

/// The public book deltas (L2 and L3), in order.
fn deltas(events: &[EventKind]) -> Vec<EventKind> {
    events.iter().filter(|kind| is_delta(kind)).copied().collect()
}

/// Price and quantity of each trade, in order.
fn fills(events: &[EventKind]) -> Vec<(i64, i64)> {
    events
        .iter()
        .filter_map(|kind| match *kind {
            EventKind::Trade { price, qty, .. } => Some((price.0, qty.0)),
            _ => None,
        })
        .collect()
}

fn trades_of(events: &[Event]) -> Vec<EventKind> {
    events.iter().map(|e| e.kind).filter(|kind| matches!(kind, EventKind::Trade { .. })).collect()
}

// ----------------------------------------------------------------------
// Expected book
// ----------------------------------------------------------------------

/// A fully shown GTC limit order, untouched.
fn resting(id: u64, account: u32, side: Side, price: i64, qty: i64) -> BookOrder {
    BookOrder {
        order_id: OrderId(id),
        client_order_id: ClientOrderId::NONE,
        account: AccountId(account),
        side,
        kind: OrderKind::Limit,
        tif: TimeInForce::Gtc,
        price: Price(price),
        stop_price: Price(0),
        qty: Qty(qty),
        leaves: Qty(qty),
        shown: Qty(qty),
    }
}

fn partly(order: BookOrder, leaves: i64, shown: i64) -> BookOrder {
    BookOrder { leaves: Qty(leaves), shown: Qty(shown), ..order }
}

fn dormant(order: BookOrder, kind: OrderKind, stop_price: i64) -> BookOrder {
    BookOrder { kind, stop_price: Price(stop_price), shown: Qty::ZERO, ..order }
}

fn snap(bids: Vec<BookOrder>, asks: Vec<BookOrder>, last: Option<i64>) -> BookSnapshot {
    BookSnapshot { bids, asks, buy_stops: vec![], sell_stops: vec![], last_price: last.map(Price) }
}

// ----------------------------------------------------------------------
// Price-time priority
// ----------------------------------------------------------------------

#[test]
fn limit_orders_match_best_price_first_then_oldest() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 101, 2));
    v.place(limit(2, 2, Sell, 100, 3));
    v.place(limit(3, 3, Sell, 100, 4));
    v.place(limit(4, 4, Sell, 102, 1));

    let events = v.place(limit(5, 9, Buy, 102, 8));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(5, 9, Buy, 102, 8),
            trade(1, (100, 3), (2, 2, 0), (5, 9, 5), Buy),
            trade(2, (100, 4), (3, 3, 0), (5, 9, 1), Buy),
            trade(3, (101, 1), (1, 1, 1), (5, 9, 0), Buy),
        ]
    );
    assert_eq!(
        v.snapshot(),
        snap(vec![], vec![partly(resting(1, 1, Sell, 101, 2), 1, 1), resting(4, 4, Sell, 102, 1)], Some(101))
    );

    // The same on the bid side: best (highest) price first, then the oldest.
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 99, 2));
    v.place(limit(2, 2, Buy, 100, 3));
    v.place(limit(3, 3, Buy, 100, 4));
    let events = v.place(limit(4, 9, Sell, 99, 8));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(4, 9, Sell, 99, 8),
            trade(1, (100, 3), (2, 2, 0), (4, 9, 5), Sell),
            trade(2, (100, 4), (3, 3, 0), (4, 9, 1), Sell),
            trade(3, (99, 1), (1, 1, 1), (4, 9, 0), Sell),
        ]
    );
    assert_eq!(v.snapshot(), snap(vec![partly(resting(1, 1, Buy, 99, 2), 1, 1)], vec![], Some(99)));
}

#[test]
fn trade_prints_at_maker_price_never_through_the_limit() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 100, 5));
    // A sell limited at 95 takes the 100 bid and prints at 100, the maker's.
    let events = v.place(limit(2, 2, Sell, 95, 3));
    assert_eq!(
        lifecycle(&events),
        vec![accepted_limit(2, 2, Sell, 95, 3), trade(1, (100, 3), (1, 1, 2), (2, 2, 0), Sell)]
    );
    // A sell limited at 101 does not trade with the 100 bid: it rests.
    let events = v.place(limit(3, 3, Sell, 101, 2));
    assert_eq!(lifecycle(&events), vec![accepted_limit(3, 3, Sell, 101, 2)]);
    // A buy limited at 100 does not reach the 101 ask.
    let events = v.place(limit(4, 4, Buy, 100, 1));
    assert_eq!(lifecycle(&events), vec![accepted_limit(4, 4, Buy, 100, 1)]);
    // A buy limited at 105 takes the 101 ask at 101.
    let events = v.place(limit(5, 5, Buy, 105, 1));
    assert_eq!(
        lifecycle(&events),
        vec![accepted_limit(5, 5, Buy, 105, 1), trade(2, (101, 1), (3, 3, 1), (5, 5, 0), Buy)]
    );
    assert_eq!(
        v.snapshot(),
        snap(
            vec![partly(resting(1, 1, Buy, 100, 5), 2, 2), resting(4, 4, Buy, 100, 1)],
            vec![partly(resting(3, 3, Sell, 101, 2), 1, 1)],
            Some(101)
        )
    );
}

#[test]
fn sweep_across_levels_never_fills_through_limit() {
    let mut v = Venue::new();
    for (id, price) in [(1, 100), (2, 101), (3, 102), (4, 103), (5, 104)] {
        v.place(limit(id, 1, Sell, price, 1));
    }
    let events = v.place(limit(6, 2, Buy, 102, 10));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(6, 2, Buy, 102, 10),
            trade(1, (100, 1), (1, 1, 0), (6, 2, 9), Buy),
            trade(2, (101, 1), (2, 1, 0), (6, 2, 8), Buy),
            trade(3, (102, 1), (3, 1, 0), (6, 2, 7), Buy),
        ]
    );
    assert_eq!(
        v.snapshot(),
        snap(
            vec![partly(resting(6, 2, Buy, 102, 10), 7, 7)],
            vec![resting(4, 1, Sell, 103, 1), resting(5, 1, Sell, 104, 1)],
            Some(102)
        )
    );

    // Downwards: a sell limited at 101 sweeps the bids at 103 and 102 only,
    // hidden quantity included, and rests at 101.
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 103, 1));
    v.place(iceberg(2, 1, Buy, 102, 5, 1));
    v.place(limit(3, 1, Buy, 100, 4));
    let events = v.place(limit(4, 2, Sell, 101, 9));
    assert_eq!(fills(&events), [(103, 1), (102, 1), (102, 1), (102, 1), (102, 1), (102, 1)]);
    assert_eq!(
        v.snapshot(),
        snap(vec![resting(3, 1, Buy, 100, 4)], vec![partly(resting(4, 2, Sell, 101, 9), 3, 3)], Some(102))
    );
}

// ----------------------------------------------------------------------
// Market orders
// ----------------------------------------------------------------------

#[test]
fn market_order_never_rests_remainder_cancelled_no_liquidity() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 100, 2));
    v.place(limit(2, 2, Sell, 105, 1));

    let events = v.place(market(3, 3, Buy, 5));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted(3, 3, Buy, OrderKind::Market, 0, 5),
            trade(1, (100, 2), (1, 1, 0), (3, 3, 3), Buy),
            trade(2, (105, 1), (2, 2, 0), (3, 3, 2), Buy),
            cancelled(3, 3, 2, CancelReason::NoLiquidity),
        ]
    );
    assert_eq!(v.snapshot(), snap(vec![], vec![], Some(105)));

    // Against an empty side: nothing trades, nothing rests.
    let events = v.place(market(4, 4, Sell, 4));
    assert_eq!(
        events,
        vec![accepted(4, 4, Sell, OrderKind::Market, 0, 4), cancelled(4, 4, 4, CancelReason::NoLiquidity)]
    );
    // Whatever its time in force.
    for (id, time_in_force) in [(5, TimeInForce::Gtc), (6, TimeInForce::Day)] {
        let events = v.place(tif(market(id, 5, Buy, 1), time_in_force));
        assert_eq!(
            events,
            vec![
                accepted(id, 5, Buy, OrderKind::Market, 0, 1),
                cancelled(id, 5, 1, CancelReason::NoLiquidity)
            ]
        );
    }
    assert_eq!(v.snapshot(), snap(vec![], vec![], Some(105)));
    assert!(v.book().is_empty());
}

#[test]
fn market_buy_stops_at_quote_budget() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 100, 2));
    v.place(limit(2, 2, Sell, 101, 5));

    // 400 buys 2 lots at 100 (200) and 1 at 101 (101); the next lot at 101
    // would exceed the 99 left.
    let events = v.place(NewOrder { quote_budget: 400, ..market(3, 3, Buy, 10) });
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted(3, 3, Buy, OrderKind::Market, 0, 10),
            trade(1, (100, 2), (1, 1, 0), (3, 3, 8), Buy),
            trade(2, (101, 1), (2, 2, 4), (3, 3, 7), Buy),
            cancelled(3, 3, 7, CancelReason::BudgetExhausted),
        ]
    );
    // A budget of exactly two lots buys exactly two lots.
    let events = v.place(NewOrder { quote_budget: 202, ..market(4, 4, Buy, 10) });
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted(4, 4, Buy, OrderKind::Market, 0, 10),
            trade(3, (101, 2), (2, 2, 2), (4, 4, 8), Buy),
            cancelled(4, 4, 8, CancelReason::BudgetExhausted),
        ]
    );
    // A budget too small for one lot buys nothing.
    let before = v.snapshot();
    let events = v.place(NewOrder { quote_budget: 100, ..market(5, 5, Buy, 1) });
    assert_eq!(
        lifecycle(&events),
        vec![accepted(5, 5, Buy, OrderKind::Market, 0, 1), cancelled(5, 5, 1, CancelReason::BudgetExhausted)]
    );
    assert_eq!(v.snapshot(), before);
    assert_eq!(v.snapshot(), snap(vec![], vec![partly(resting(2, 2, Sell, 101, 5), 2, 2)], Some(101)));
}

// ----------------------------------------------------------------------
// Time in force
// ----------------------------------------------------------------------

#[test]
fn ioc_remainder_is_cancelled() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 100, 3));
    v.place(limit(2, 2, Sell, 102, 5));
    let events = v.place(tif(limit(3, 3, Buy, 101, 5), TimeInForce::Ioc));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(3, 3, Buy, 101, 5),
            trade(1, (100, 3), (1, 1, 0), (3, 3, 2), Buy),
            cancelled(3, 3, 2, CancelReason::IocRemainder),
        ]
    );
    // An IOC that cannot trade at all is cancelled whole.
    let events = v.place(tif(limit(4, 4, Sell, 103, 5), TimeInForce::Ioc));
    assert_eq!(
        events,
        vec![accepted_limit(4, 4, Sell, 103, 5), cancelled(4, 4, 5, CancelReason::IocRemainder)]
    );
    assert_eq!(v.snapshot(), snap(vec![], vec![resting(2, 2, Sell, 102, 5)], Some(100)));
}

#[test]
fn fok_fills_entirely_or_leaves_book_untouched() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 100, 3));
    v.place(limit(2, 2, Sell, 101, 3));
    v.place(limit(3, 3, Sell, 102, 10));
    let before = v.snapshot();

    // Seven lots are not available at 101 or better: nothing trades.
    let events = v.place(tif(limit(4, 4, Buy, 101, 7), TimeInForce::Fok));
    assert_eq!(
        events,
        vec![accepted_limit(4, 4, Buy, 101, 7), cancelled(4, 4, 7, CancelReason::FokNotFillable)]
    );
    assert_eq!(v.snapshot(), before);

    // Six are: all of them trade.
    let events = v.place(tif(limit(5, 5, Buy, 101, 6), TimeInForce::Fok));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(5, 5, Buy, 101, 6),
            trade(1, (100, 3), (1, 1, 0), (5, 5, 3), Buy),
            trade(2, (101, 3), (2, 2, 0), (5, 5, 0), Buy),
        ]
    );
    assert_eq!(v.snapshot(), snap(vec![], vec![resting(3, 3, Sell, 102, 10)], Some(101)));

    // A FOK market order likewise.
    let before = v.snapshot();
    let events = v.place(tif(market(6, 6, Buy, 11), TimeInForce::Fok));
    assert_eq!(
        events,
        vec![
            accepted(6, 6, Buy, OrderKind::Market, 0, 11),
            cancelled(6, 6, 11, CancelReason::FokNotFillable)
        ]
    );
    assert_eq!(v.snapshot(), before);
}

#[test]
fn fok_counts_hidden_iceberg_quantity() {
    let mut v = Venue::new();
    v.place(iceberg(1, 1, Sell, 100, 10, 2));
    assert_eq!(v.book().best_ask(), Some((Price(100), Qty(2))));

    // Only 2 are shown but 10 are there: a FOK for 8 fills.
    let events = v.place(tif(limit(2, 2, Buy, 100, 8), TimeInForce::Fok));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(2, 2, Buy, 100, 8),
            trade(1, (100, 2), (1, 1, 8), (2, 2, 6), Buy),
            trade(2, (100, 2), (1, 1, 6), (2, 2, 4), Buy),
            trade(3, (100, 2), (1, 1, 4), (2, 2, 2), Buy),
            trade(4, (100, 2), (1, 1, 2), (2, 2, 0), Buy),
        ]
    );
    assert_eq!(v.snapshot(), snap(vec![], vec![partly(resting(1, 1, Sell, 100, 10), 2, 2)], Some(100)));

    // Only 2 are left: a FOK for 3 does not fill and changes nothing.
    let before = v.snapshot();
    let events = v.place(tif(limit(3, 3, Buy, 100, 3), TimeInForce::Fok));
    assert_eq!(
        events,
        vec![accepted_limit(3, 3, Buy, 100, 3), cancelled(3, 3, 3, CancelReason::FokNotFillable)]
    );
    assert_eq!(v.snapshot(), before);
}

#[test]
fn gtd_expires_at_expire_command_in_time_then_id_order() {
    let mut v = Venue::new();
    v.now = Timestamp(10);
    v.place(gtd(limit(1, 1, Buy, 99, 1), 300));
    v.place(gtd(limit(2, 2, Buy, 98, 2), 200));
    v.place(gtd(limit(3, 3, Sell, 110, 3), 200));
    v.place(gtd(limit(4, 4, Sell, 111, 4), 500));
    v.place(limit(5, 5, Buy, 97, 5));

    // Nothing is due before 200.
    v.now = Timestamp(199);
    assert_eq!(v.run(Command::Expire), vec![]);

    // At 300: those due at 200 (by id), then the one due at 300 ("at or
    // after" its time).
    v.now = Timestamp(300);
    let events = v.run(Command::Expire);
    assert_eq!(lifecycle(&events), vec![expired(2, 2, 2), expired(3, 3, 3), expired(1, 1, 1)]);
    assert_eq!(
        v.snapshot(),
        snap(
            vec![resting(5, 5, Buy, 97, 5)],
            vec![BookOrder { tif: TimeInForce::Gtd, ..resting(4, 4, Sell, 111, 4) }],
            None
        )
    );

    // End of session also expires GTD orders that are due.
    v.now = Timestamp(500);
    let events = v.run(Command::EndOfSession);
    assert_eq!(lifecycle(&events), vec![expired(4, 4, 4)]);
    assert_eq!(v.snapshot(), snap(vec![resting(5, 5, Buy, 97, 5)], vec![], None));
}

#[test]
fn day_orders_expire_at_end_of_session() {
    let mut v = Venue::new();
    v.now = Timestamp(10);
    let day = |order| tif(order, TimeInForce::Day);
    v.place(day(limit(1, 1, Buy, 99, 1)));
    v.place(day(limit(2, 2, Sell, 101, 2)));
    v.place(day(limit(3, 3, Buy, 100, 3)));
    v.place(gtd(limit(4, 4, Buy, 95, 4), 50));
    v.place(gtd(limit(5, 5, Sell, 105, 5), 40));
    v.place(gtd(limit(6, 6, Sell, 106, 6), 1_000));
    v.place(limit(7, 7, Sell, 107, 7));
    v.place(day(stop(8, 8, Buy, 120, 8)));

    // Expire alone does not touch DAY orders.
    v.now = Timestamp(20);
    assert_eq!(v.run(Command::Expire), vec![]);

    // End of session: every DAY order by ascending id (the dormant stop
    // included), then the GTD orders due by (expiry time, id).
    v.now = Timestamp(100);
    let events = v.run(Command::EndOfSession);
    assert_eq!(
        lifecycle(&events),
        vec![
            expired(1, 1, 1),
            expired(2, 2, 2),
            expired(3, 3, 3),
            expired(8, 8, 8),
            expired(5, 5, 5),
            expired(4, 4, 4),
        ]
    );
    assert_eq!(
        v.snapshot(),
        snap(
            vec![],
            vec![
                BookOrder { tif: TimeInForce::Gtd, ..resting(6, 6, Sell, 106, 6) },
                resting(7, 7, Sell, 107, 7)
            ],
            None
        )
    );
}

// ----------------------------------------------------------------------
// Post-only
// ----------------------------------------------------------------------

#[test]
fn post_only_rejected_if_it_would_take() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 100, 1));
    let post = |order: NewOrder| NewOrder { post_only: true, ..order };

    assert_eq!(
        v.submit(post(limit(2, 2, Buy, 100, 1))),
        vec![rejected(2, 2, RequestKind::New, Reject::PostOnlyWouldTake)]
    );
    assert_eq!(
        v.submit(post(limit(3, 2, Buy, 105, 1))),
        vec![rejected(3, 2, RequestKind::New, Reject::PostOnlyWouldTake)]
    );
    // Whatever the self-trade mode, even against the account's own order.
    for (id, mode) in [
        (4, StpMode::Allow),
        (5, StpMode::CancelResting),
        (6, StpMode::CancelIncoming),
        (7, StpMode::CancelBoth),
        (8, StpMode::DecrementAndCancel),
    ] {
        assert_eq!(
            v.submit(stp(post(limit(id, 1, Buy, 100, 1)), mode)),
            vec![rejected(id, 1, RequestKind::New, Reject::PostOnlyWouldTake)]
        );
    }
    // One tick away it rests.
    let events = v.place(post(limit(9, 2, Buy, 99, 1)));
    assert_eq!(events, vec![accepted_limit(9, 2, Buy, 99, 1), added(9, Buy, 99, 1), level(Buy, 99, 1, 1)]);
    assert_eq!(v.snapshot(), snap(vec![resting(9, 2, Buy, 99, 1)], vec![resting(1, 1, Sell, 100, 1)], None));
}

// ----------------------------------------------------------------------
// Stops
// ----------------------------------------------------------------------

#[test]
fn buy_stop_triggers_when_last_trade_reaches_stop() {
    let mut v = Venue::new();
    v.print_trade_at(100, 1, 2);
    let events = v.place(stop(3, 3, Buy, 102, 2));
    assert_eq!(events, vec![accepted(3, 3, Buy, OrderKind::Stop, 0, 2)]);
    assert_eq!(
        v.snapshot(),
        BookSnapshot {
            buy_stops: vec![dormant(resting(3, 3, Buy, 0, 2), OrderKind::Stop, 102)],
            ..snap(vec![], vec![], Some(100))
        }
    );
    v.place(limit(4, 4, Sell, 101, 1));
    v.place(limit(5, 5, Sell, 102, 1));
    v.place(limit(6, 6, Sell, 103, 5));

    // Last 101 < 102: the stop stays dormant.
    let events = v.place(limit(7, 7, Buy, 101, 1));
    assert_eq!(
        lifecycle(&events),
        vec![accepted_limit(7, 7, Buy, 101, 1), trade(2, (101, 1), (4, 4, 0), (7, 7, 0), Buy)]
    );
    assert_eq!(v.snapshot().buy_stops.len(), 1);

    // Last 102 = 102: it triggers and enters as a market order, same id.
    let events = v.place(limit(8, 8, Buy, 102, 1));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(8, 8, Buy, 102, 1),
            trade(3, (102, 1), (5, 5, 0), (8, 8, 0), Buy),
            triggered(3, 3, 102),
            trade(4, (103, 2), (6, 6, 3), (3, 3, 0), Buy),
        ]
    );
    assert_eq!(v.snapshot(), snap(vec![], vec![partly(resting(6, 6, Sell, 103, 5), 3, 3)], Some(103)));

    // Sell stops mirror it: they trigger when the last trade is at or below.
    v.place(stop(9, 3, Sell, 101, 1));
    v.place(limit(10, 1, Buy, 102, 1));
    v.place(limit(11, 1, Buy, 101, 1));
    let events = v.place(limit(12, 2, Sell, 102, 1));
    assert!(!events.iter().any(|e| matches!(e, EventKind::Triggered { .. })));
    let events = v.place(limit(13, 2, Sell, 101, 1));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(13, 2, Sell, 101, 1),
            trade(6, (101, 1), (11, 1, 0), (13, 2, 0), Sell),
            triggered(9, 3, 101),
            cancelled(9, 3, 1, CancelReason::NoLiquidity),
        ]
    );
}

#[test]
fn an_accounts_live_orders_are_its_resting_orders_and_dormant_stops_oldest_first() {
    let mut v = Venue::new();
    v.print_trade_at(100, 1, 2);
    v.place(limit(3, 1, Buy, 99, 5));
    v.place(limit(4, 2, Buy, 99, 5));
    v.place(limit(5, 1, Sell, 105, 2));
    v.place(stop_limit(6, 1, Buy, 103, 104, 1));
    v.place(limit(7, 1, Buy, 98, 1));
    v.cancel(7);
    // A price change loses priority; the listing stays by age.
    v.amend(3, 98, None);
    let book = v.book();
    let listed = book.orders_of(AccountId(1));
    let ids: Vec<u64> = listed.iter().map(|o| o.order_id.0).collect();
    assert_eq!(ids, vec![3, 5, 6]);
    let s = v.snapshot();
    let mut expected: Vec<BookOrder> = [s.bids, s.asks, s.buy_stops, s.sell_stops]
        .concat()
        .into_iter()
        .filter(|o| o.account == AccountId(1))
        .collect();
    expected.sort_by_key(|o| o.order_id);
    assert_eq!(listed, expected, "the same orders as the snapshot holds");
    assert!(listed[2].kind.is_stop() && listed[2].shown == Qty::ZERO, "a dormant stop says so");
    assert!(book.orders_of(AccountId(9)).is_empty());
}

#[test]
fn stop_limit_becomes_limit_at_its_price() {
    let mut v = Venue::new();
    v.print_trade_at(100, 1, 2);
    let events = v.place(stop_limit(3, 3, Buy, 102, 103, 5));
    assert_eq!(events, vec![accepted(3, 3, Buy, OrderKind::StopLimit, 103, 5)]);
    v.place(limit(4, 4, Sell, 102, 1));
    v.place(limit(5, 5, Sell, 103, 2));
    v.place(limit(6, 6, Sell, 104, 5));

    let events = v.place(limit(7, 7, Buy, 102, 1));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(7, 7, Buy, 102, 1),
            trade(2, (102, 1), (4, 4, 0), (7, 7, 0), Buy),
            triggered(3, 3, 102),
            trade(3, (103, 2), (5, 5, 0), (3, 3, 3), Buy),
        ]
    );
    // It trades up to its limit 103, not at 104, and rests there as a limit
    // order with its id.
    assert!(events.contains(&added(3, Buy, 103, 3)));
    // It keeps its stop price for reference (its kind says it is now a limit
    // order).
    let now_limit = BookOrder { stop_price: Price(102), ..partly(resting(3, 3, Buy, 103, 5), 3, 3) };
    assert_eq!(v.snapshot(), snap(vec![now_limit], vec![resting(6, 6, Sell, 104, 5)], Some(103)));
    // It is now an ordinary resting limit order: it can be amended.
    let events = v.amend(3, 103, Some(4));
    assert_eq!(lifecycle(&events), vec![amended(3, 3, 103, 4, 2, true)]);

    // It keeps its time in force: an IOC stop-limit's remainder is cancelled
    // instead of resting, a GTD one still expires.
    v.place(tif(stop_limit(8, 8, Buy, 104, 104, 9), TimeInForce::Ioc));
    v.place(gtd(stop_limit(9, 9, Buy, 104, 101, 1), 5_000));
    let events = v.place(limit(10, 10, Buy, 104, 1));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(10, 10, Buy, 104, 1),
            trade(4, (104, 1), (6, 6, 4), (10, 10, 0), Buy),
            triggered(8, 8, 104),
            trade(5, (104, 4), (6, 6, 0), (8, 8, 5), Buy),
            cancelled(8, 8, 5, CancelReason::IocRemainder),
            triggered(9, 9, 104),
        ]
    );
    assert_eq!(
        v.book().order(OrderId(9)).map(|o| (o.kind, o.tif)),
        Some((OrderKind::Limit, TimeInForce::Gtd))
    );
    v.now = Timestamp(5_000);
    assert_eq!(lifecycle(&v.run(Command::Expire)), vec![expired(9, 9, 1)]);
}

#[test]
fn several_stops_trigger_in_documented_order() {
    let mut v = Venue::new();
    // Before the first trade any stop is accepted. Triggered stop-limits
    // whose limit does not cross rest without trading, so the last price
    // stays 105 and every one of them is triggered by the same price.
    v.place(stop_limit(1, 1, Buy, 104, 50, 1));
    v.place(stop_limit(2, 2, Sell, 107, 200, 1));
    v.place(stop_limit(3, 3, Buy, 103, 51, 1));
    v.place(stop_limit(4, 4, Buy, 104, 52, 1));
    v.place(stop_limit(5, 5, Sell, 106, 201, 1));
    v.place(stop_limit(6, 6, Sell, 107, 202, 1));
    v.place(stop(7, 7, Buy, 106, 1)); // not reached by 105
    v.place(stop_limit(8, 8, Sell, 104, 203, 1)); // not reached by 105

    let snapshot = v.snapshot();
    let ids = |orders: &[BookOrder]| orders.iter().map(|o| o.order_id.0).collect::<Vec<_>>();
    assert_eq!(ids(&snapshot.buy_stops), vec![3, 1, 4, 7], "buy stops: lowest stop first, then id");
    assert_eq!(ids(&snapshot.sell_stops), vec![2, 6, 5, 8], "sell stops: highest stop first, then id");

    v.place(limit(9, 9, Sell, 105, 1));
    let events = v.place(limit(10, 10, Buy, 105, 1));
    // Buy stops in order 3, 1, 4; sell stops 2, 6, 5; between the two heads
    // the smaller id goes first.
    let fired: Vec<EventKind> =
        events.iter().filter(|e| matches!(e, EventKind::Triggered { .. })).copied().collect();
    assert_eq!(
        fired,
        vec![
            triggered(2, 2, 105),
            triggered(3, 3, 105),
            triggered(1, 1, 105),
            triggered(4, 4, 105),
            triggered(6, 6, 105),
            triggered(5, 5, 105),
        ]
    );
    // Each triggered order enters (and here rests) before the next is chosen.
    let entered: Vec<EventKind> = events
        .iter()
        .filter(|e| matches!(e, EventKind::Triggered { .. } | EventKind::OrderAdded { .. }))
        .copied()
        .collect();
    assert_eq!(
        entered,
        vec![
            triggered(2, 2, 105),
            added(2, Sell, 200, 1),
            triggered(3, 3, 105),
            added(3, Buy, 51, 1),
            triggered(1, 1, 105),
            added(1, Buy, 50, 1),
            triggered(4, 4, 105),
            added(4, Buy, 52, 1),
            triggered(6, 6, 105),
            added(6, Sell, 202, 1),
            triggered(5, 5, 105),
            added(5, Sell, 201, 1),
        ]
    );
    let snapshot = v.snapshot();
    assert_eq!(ids(&snapshot.bids), vec![4, 3, 1]);
    assert_eq!(ids(&snapshot.asks), vec![2, 5, 6]);
    assert_eq!(ids(&snapshot.buy_stops), vec![7]);
    assert_eq!(ids(&snapshot.sell_stops), vec![8]);
    assert_eq!(snapshot.last_price, Some(Price(105)));
}

#[test]
fn triggered_stops_can_cascade() {
    let mut v = Venue::new();
    v.print_trade_at(100, 1, 2);
    v.place(stop(3, 3, Buy, 101, 2));
    v.place(stop(4, 4, Buy, 102, 1));
    v.place(stop(5, 5, Buy, 104, 1)); // never reached
    v.place(limit(6, 9, Sell, 101, 2));
    v.place(limit(7, 9, Sell, 102, 2));
    v.place(limit(8, 9, Sell, 103, 5));

    let events = v.place(limit(9, 6, Buy, 101, 1));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(9, 6, Buy, 101, 1),
            trade(2, (101, 1), (6, 9, 1), (9, 6, 0), Buy),
            triggered(3, 3, 101),
            trade(3, (101, 1), (6, 9, 0), (3, 3, 1), Buy),
            trade(4, (102, 1), (7, 9, 1), (3, 3, 0), Buy),
            triggered(4, 4, 102),
            trade(5, (102, 1), (7, 9, 0), (4, 4, 0), Buy),
        ]
    );
    assert_eq!(
        v.snapshot(),
        BookSnapshot {
            buy_stops: vec![dormant(resting(5, 5, Buy, 0, 1), OrderKind::Stop, 104)],
            ..snap(vec![], vec![resting(8, 9, Sell, 103, 5)], Some(102))
        }
    );
}

#[test]
fn stop_that_would_trigger_immediately_is_rejected() {
    let mut v = Venue::new();
    // Before the first trade no stop can trigger: any stop price is fine.
    v.place(stop(1, 1, Buy, 50, 1));
    v.place(stop(2, 1, Sell, 150, 1));
    v.run(Command::MassCancel { instrument: None, account: None });

    v.print_trade_at(100, 3, 4);
    for (id, order) in [
        (5, stop(5, 1, Buy, 100, 1)),
        (6, stop(6, 1, Buy, 99, 1)),
        (7, stop_limit(7, 1, Buy, 100, 101, 1)),
        (8, stop(8, 1, Sell, 100, 1)),
        (9, stop(9, 1, Sell, 101, 1)),
        (10, stop_limit(10, 1, Sell, 100, 99, 1)),
    ] {
        let before = v.books.clone();
        assert_eq!(
            v.submit(order),
            vec![rejected(id, 1, RequestKind::New, Reject::StopWouldTriggerImmediately)]
        );
        assert_eq!(v.books, before);
    }
    v.place(stop(11, 1, Buy, 101, 1));
    v.place(stop(12, 1, Sell, 99, 1));
    assert_eq!(v.book().len(), 2);
}

#[test]
fn stop_limit_is_not_double_filled() {
    let mut v = Venue::new();
    v.print_trade_at(100, 1, 2);
    v.place(stop_limit(3, 3, Buy, 101, 102, 10));
    v.place(limit(4, 4, Sell, 101, 4));
    v.place(limit(5, 5, Sell, 102, 3));
    v.place(limit(6, 6, Sell, 103, 10));

    // Triggered at 101: takes 3 at 101 and 3 at 102, rests 4 at 102.
    v.place(limit(7, 7, Buy, 101, 1));
    assert_eq!(v.book().order(OrderId(3)).map(|o| (o.leaves, o.price)), Some((Qty(4), Price(102))));
    // Later trades above the stop price do not trigger it again.
    let events = v.place(limit(8, 8, Buy, 103, 1));
    assert!(!events.iter().any(|e| matches!(e, EventKind::Triggered { .. })));
    // The rest fills against an incoming sell; the order is then done.
    let events = v.place(limit(9, 9, Sell, 102, 10));
    assert_eq!(
        lifecycle(&events),
        vec![accepted_limit(9, 9, Sell, 102, 10), trade(6, (102, 4), (3, 3, 0), (9, 9, 6), Sell)]
    );
    assert_eq!(v.book().order(OrderId(3)), None);
    v.place(limit(10, 10, Buy, 103, 10));

    // Over the whole session: triggered once, filled exactly its quantity.
    let triggers = v.log.iter().filter(|e| matches!(e.kind, EventKind::Triggered { .. })).count();
    assert_eq!(triggers, 1);
    let fills: Vec<i64> = trades_of(&v.log)
        .iter()
        .filter_map(|kind| match *kind {
            EventKind::Trade { qty, maker_order_id, taker_order_id, .. }
                if maker_order_id == OrderId(3) || taker_order_id == OrderId(3) =>
            {
                Some(qty.0)
            }
            _ => None,
        })
        .collect();
    assert_eq!(fills, vec![3, 3, 4]);
    assert_eq!(fills.iter().sum::<i64>(), 10);
    assert_eq!(
        v.cancel(3),
        vec![EventKind::Rejected {
            order_id: OrderId(3),
            client_order_id: ClientOrderId::NONE,
            account: AccountId(0),
            request: RequestKind::Cancel,
            reason: Reject::UnknownOrder,
        }]
    );
}

// ----------------------------------------------------------------------
// Icebergs
// ----------------------------------------------------------------------

#[test]
fn iceberg_shows_display_qty_and_refreshes_to_back_of_queue() {
    let mut v = Venue::new();
    let events = v.place(iceberg(1, 1, Sell, 100, 10, 3));
    assert_eq!(deltas(&events), vec![added(1, Sell, 100, 3), level(Sell, 100, 3, 1)]);
    v.place(limit(2, 2, Sell, 100, 2));
    assert_eq!(v.book().depth(Sell, 10).collect::<Vec<_>>(), vec![(Price(100), Qty(5), 2)]);

    // The shown slice is used up: a new one goes behind order 2.
    let events = v.place(limit(3, 3, Buy, 100, 3));
    assert_eq!(
        events,
        vec![
            accepted_limit(3, 3, Buy, 100, 3),
            trade(1, (100, 3), (1, 1, 7), (3, 3, 0), Buy),
            deleted(1, Sell, 100),
            added(1, Sell, 100, 3),
            level(Sell, 100, 5, 2),
        ]
    );
    let iceberg_order = resting(1, 1, Sell, 100, 10);
    assert_eq!(
        v.snapshot(),
        snap(vec![], vec![resting(2, 2, Sell, 100, 2), partly(iceberg_order, 7, 3)], Some(100))
    );

    // So the next buyer meets order 2 first.
    let events = v.place(limit(4, 4, Buy, 100, 1));
    assert_eq!(
        events,
        vec![
            accepted_limit(4, 4, Buy, 100, 1),
            trade(2, (100, 1), (2, 2, 1), (4, 4, 0), Buy),
            modified(2, Sell, 100, 1),
            level(Sell, 100, 4, 2),
        ]
    );
    // A partial fill of the shown slice keeps its place and shows the rest.
    let events = v.place(limit(5, 5, Buy, 100, 2));
    assert_eq!(
        events,
        vec![
            accepted_limit(5, 5, Buy, 100, 2),
            trade(3, (100, 1), (2, 2, 0), (5, 5, 1), Buy),
            deleted(2, Sell, 100),
            trade(4, (100, 1), (1, 1, 6), (5, 5, 0), Buy),
            modified(1, Sell, 100, 2),
            level(Sell, 100, 2, 1),
        ]
    );
    // The last slice is min(display, leaves).
    v.place(limit(6, 6, Buy, 100, 5));
    assert_eq!(v.snapshot(), snap(vec![], vec![partly(iceberg_order, 1, 1)], Some(100)));
}

#[test]
fn iceberg_hidden_quantity_still_matches() {
    let mut v = Venue::new();
    v.place(iceberg(1, 1, Sell, 100, 10, 3));
    v.place(limit(2, 2, Sell, 100, 2));
    v.place(limit(7, 7, Sell, 101, 5));

    // 9 lots at 100 while only 5 are shown: the iceberg's hidden quantity
    // trades, after order 2 that was ahead of its refreshed slice.
    let events = v.place(limit(3, 3, Buy, 100, 9));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(3, 3, Buy, 100, 9),
            trade(1, (100, 3), (1, 1, 7), (3, 3, 6), Buy),
            trade(2, (100, 2), (2, 2, 0), (3, 3, 4), Buy),
            trade(3, (100, 3), (1, 1, 4), (3, 3, 1), Buy),
            trade(4, (100, 1), (1, 1, 3), (3, 3, 0), Buy),
        ]
    );
    assert_eq!(
        v.snapshot(),
        snap(
            vec![],
            vec![partly(resting(1, 1, Sell, 100, 10), 3, 2), resting(7, 7, Sell, 101, 5)],
            Some(100)
        )
    );
    // A market order reaches the hidden quantity too, before the next level.
    let events = v.place(market(4, 4, Buy, 4));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted(4, 4, Buy, OrderKind::Market, 0, 4),
            trade(5, (100, 2), (1, 1, 1), (4, 4, 2), Buy),
            trade(6, (100, 1), (1, 1, 0), (4, 4, 1), Buy),
            trade(7, (101, 1), (7, 7, 4), (4, 4, 0), Buy),
        ]
    );
}

// ----------------------------------------------------------------------
// Self-trade prevention
// ----------------------------------------------------------------------

#[test]
fn stp_cancel_resting() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 100, 2));
    v.place(limit(2, 2, Sell, 100, 3));
    v.place(limit(3, 1, Sell, 101, 1));

    let events = v.place(stp(limit(4, 1, Buy, 101, 4), StpMode::CancelResting));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(4, 1, Buy, 101, 4),
            cancelled(1, 1, 2, CancelReason::SelfTradePrevention),
            trade(1, (100, 3), (2, 2, 0), (4, 1, 1), Buy),
            cancelled(3, 1, 1, CancelReason::SelfTradePrevention),
        ]
    );
    assert_eq!(v.snapshot(), snap(vec![partly(resting(4, 1, Buy, 101, 4), 1, 1)], vec![], Some(100)));
    // It is the default mode.
    assert_eq!(StpMode::default(), StpMode::CancelResting);
}

#[test]
fn stp_cancel_incoming() {
    let mut v = Venue::new();
    v.place(limit(1, 2, Sell, 100, 1));
    v.place(limit(2, 1, Sell, 100, 2));
    v.place(limit(3, 3, Sell, 100, 5));

    let events = v.place(stp(limit(4, 1, Buy, 100, 4), StpMode::CancelIncoming));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(4, 1, Buy, 100, 4),
            trade(1, (100, 1), (1, 2, 0), (4, 1, 3), Buy),
            cancelled(4, 1, 3, CancelReason::SelfTradePrevention),
        ]
    );
    assert_eq!(
        v.snapshot(),
        snap(vec![], vec![resting(2, 1, Sell, 100, 2), resting(3, 3, Sell, 100, 5)], Some(100))
    );
}

#[test]
fn stp_cancel_both() {
    let mut v = Venue::new();
    v.place(limit(1, 2, Sell, 100, 1));
    v.place(limit(2, 1, Sell, 100, 2));
    v.place(limit(3, 3, Sell, 100, 5));

    let events = v.place(stp(limit(4, 1, Buy, 100, 4), StpMode::CancelBoth));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(4, 1, Buy, 100, 4),
            trade(1, (100, 1), (1, 2, 0), (4, 1, 3), Buy),
            cancelled(2, 1, 2, CancelReason::SelfTradePrevention),
            cancelled(4, 1, 3, CancelReason::SelfTradePrevention),
        ]
    );
    assert_eq!(v.snapshot(), snap(vec![], vec![resting(3, 3, Sell, 100, 5)], Some(100)));
}

#[test]
fn stp_decrement_and_cancel() {
    // Incoming smaller: the resting iceberg loses hidden quantity first and
    // keeps its place; the incoming order is cancelled; no trade.
    let mut v = Venue::new();
    v.place(iceberg(1, 1, Buy, 100, 10, 4));
    v.place(limit(2, 2, Buy, 100, 5));
    let events = v.place(stp(limit(3, 1, Sell, 100, 7), StpMode::DecrementAndCancel));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(3, 1, Sell, 100, 7),
            reduced(1, 1, 7, 3),
            cancelled(3, 1, 7, CancelReason::SelfTradePrevention),
        ]
    );
    assert!(events.contains(&modified(1, Buy, 100, 3)));
    assert_eq!(
        v.snapshot(),
        snap(vec![partly(resting(1, 1, Buy, 100, 10), 3, 3), resting(2, 2, Buy, 100, 5)], vec![], None)
    );
    // Still first in the queue.
    let events = v.place(limit(4, 3, Sell, 100, 4));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(4, 3, Sell, 100, 4),
            trade(1, (100, 3), (1, 1, 0), (4, 3, 1), Sell),
            trade(2, (100, 1), (2, 2, 4), (4, 3, 0), Sell),
        ]
    );

    // Incoming larger: the resting order is cancelled, the incoming one is
    // reduced and goes on matching.
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 100, 3));
    v.place(limit(2, 2, Sell, 100, 5));
    let events = v.place(stp(limit(3, 1, Buy, 100, 6), StpMode::DecrementAndCancel));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(3, 1, Buy, 100, 6),
            cancelled(1, 1, 3, CancelReason::SelfTradePrevention),
            reduced(3, 1, 3, 3),
            trade(1, (100, 3), (2, 2, 2), (3, 1, 0), Buy),
        ]
    );
    assert_eq!(v.snapshot(), snap(vec![], vec![partly(resting(2, 2, Sell, 100, 5), 2, 2)], Some(100)));

    // Equal: both are cancelled, nothing trades.
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 100, 3));
    let events = v.place(stp(limit(2, 1, Buy, 100, 3), StpMode::DecrementAndCancel));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(2, 1, Buy, 100, 3),
            cancelled(1, 1, 3, CancelReason::SelfTradePrevention),
            cancelled(2, 1, 3, CancelReason::SelfTradePrevention),
        ]
    );
    assert_eq!(v.snapshot(), snap(vec![], vec![], None));
}

#[test]
fn stp_group_spans_accounts() {
    let mut v = Venue::new();
    let group = |order: NewOrder| NewOrder { stp_group: StpGroup(7), ..order };
    v.place(group(limit(1, 1, Sell, 100, 2)));
    let events = v.place(group(limit(2, 2, Buy, 100, 2)));
    assert_eq!(
        lifecycle(&events),
        vec![accepted_limit(2, 2, Buy, 100, 2), cancelled(1, 1, 2, CancelReason::SelfTradePrevention)]
    );
    assert_eq!(v.snapshot(), snap(vec![resting(2, 2, Buy, 100, 2)], vec![], None));
    // An order of account 2 outside the group trades with the group.
    let events = v.place(limit(3, 2, Sell, 100, 1));
    assert_eq!(
        lifecycle(&events),
        vec![accepted_limit(3, 2, Sell, 100, 1), trade(1, (100, 1), (2, 2, 1), (3, 2, 0), Sell)]
    );
    // And so does another account with the same number as the group id.
    let events = v.place(limit(4, 7, Sell, 100, 1));
    assert_eq!(
        lifecycle(&events),
        vec![accepted_limit(4, 7, Sell, 100, 1), trade(2, (100, 1), (2, 2, 0), (4, 7, 0), Sell)]
    );
}

#[test]
fn stp_allow_prints_self_trade() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Sell, 100, 2));
    let events = v.place(stp(limit(2, 1, Buy, 100, 2), StpMode::Allow));
    assert_eq!(
        lifecycle(&events),
        vec![accepted_limit(2, 1, Buy, 100, 2), trade(1, (100, 2), (1, 1, 0), (2, 1, 0), Buy)]
    );
    // The incoming order's mode decides: a resting `Allow` order is still
    // protected from an incoming order of its group with another mode.
    v.place(stp(limit(3, 1, Sell, 100, 2), StpMode::Allow));
    let events = v.place(limit(4, 1, Buy, 100, 2));
    assert_eq!(
        lifecycle(&events),
        vec![accepted_limit(4, 1, Buy, 100, 2), cancelled(3, 1, 2, CancelReason::SelfTradePrevention)]
    );
    assert_eq!(v.snapshot(), snap(vec![resting(4, 1, Buy, 100, 2)], vec![], Some(100)));
}

// ----------------------------------------------------------------------
// Cancel and amend
// ----------------------------------------------------------------------

#[test]
fn cancel_removes_order_and_level() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 100, 2));
    v.place(limit(2, 2, Buy, 100, 3));
    v.place(limit(3, 3, Buy, 99, 1));
    v.place(stop(4, 4, Sell, 90, 1));

    assert_eq!(
        v.cancel(3),
        vec![deleted(3, Buy, 99), level(Buy, 99, 0, 0), cancelled(3, 3, 1, CancelReason::Requested)]
    );
    assert_eq!(v.book().depth(Buy, 10).collect::<Vec<_>>(), vec![(Price(100), Qty(5), 2)]);
    assert_eq!(
        v.cancel(1),
        vec![deleted(1, Buy, 100), level(Buy, 100, 3, 1), cancelled(1, 1, 2, CancelReason::Requested)]
    );
    // By its owner, too.
    let by_owner = Command::Cancel(CancelOrder {
        instrument: InstrumentId(0),
        target: OrderRef::Id(OrderId(2)),
        account: Some(AccountId(2)),
    });
    assert_eq!(
        v.run(by_owner),
        vec![deleted(2, Buy, 100), level(Buy, 100, 0, 0), cancelled(2, 2, 3, CancelReason::Requested)]
    );
    // A dormant stop has no public footprint.
    assert_eq!(v.cancel(4), vec![cancelled(4, 4, 1, CancelReason::Requested)]);
    assert_eq!(v.snapshot(), BookSnapshot::default());
    assert!(v.book().is_empty());
    assert_eq!(v.book().best_bid(), None);
}

#[test]
fn amend_size_decrease_keeps_priority() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 100, 5));
    v.place(limit(2, 2, Buy, 100, 5));

    let events = v.amend(1, 100, Some(3));
    assert_eq!(events, vec![amended(1, 1, 100, 3, 3, true), modified(1, Buy, 100, 3), level(Buy, 100, 8, 2)]);
    assert_eq!(
        v.snapshot(),
        snap(vec![resting(1, 1, Buy, 100, 3), resting(2, 2, Buy, 100, 5)], vec![], None)
    );
    // Still first.
    let events = v.place(limit(3, 3, Sell, 100, 4));
    assert_eq!(
        lifecycle(&events),
        vec![
            accepted_limit(3, 3, Sell, 100, 4),
            trade(1, (100, 3), (1, 1, 0), (3, 3, 1), Sell),
            trade(2, (100, 1), (2, 2, 4), (3, 3, 0), Sell),
        ]
    );

    // The new quantity counts what was filled: 5 with 2 filled, amended to
    // 4, leaves 2 and keeps its place.
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 100, 5));
    v.place(limit(2, 2, Buy, 100, 5));
    v.place(limit(3, 3, Sell, 100, 2));
    let events = v.amend(1, 100, Some(4));
    assert_eq!(events, vec![amended(1, 1, 100, 4, 2, true), modified(1, Buy, 100, 2), level(Buy, 100, 7, 2)]);
    assert_eq!(
        v.snapshot(),
        snap(vec![partly(resting(1, 1, Buy, 100, 4), 2, 2), resting(2, 2, Buy, 100, 5)], vec![], Some(100))
    );
    // The same quantity and price is a no-op that keeps priority.
    let events = v.amend(1, 100, None);
    assert_eq!(lifecycle(&events), vec![amended(1, 1, 100, 4, 2, true)]);
    assert_eq!(v.snapshot().bids[0].order_id, OrderId(1));
}

#[test]
fn amend_price_change_loses_priority() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 100, 5));
    v.place(limit(2, 2, Buy, 100, 5));
    v.place(limit(3, 3, Buy, 101, 5));

    let events = v.amend(1, 101, None);
    assert_eq!(
        events,
        vec![
            deleted(1, Buy, 100),
            level(Buy, 100, 5, 1),
            amended(1, 1, 101, 5, 5, false),
            added(1, Buy, 101, 5),
            level(Buy, 101, 10, 2),
        ]
    );
    assert_eq!(
        v.snapshot(),
        snap(
            vec![resting(3, 3, Buy, 101, 5), resting(1, 1, Buy, 101, 5), resting(2, 2, Buy, 100, 5)],
            vec![],
            None
        )
    );
    // Back to 100: behind order 2 now.
    v.amend(1, 100, None);
    let ids: Vec<u64> = v.snapshot().bids.iter().map(|o| o.order_id.0).collect();
    assert_eq!(ids, vec![3, 2, 1]);
}

#[test]
fn amend_size_increase_loses_priority() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 100, 5));
    v.place(limit(2, 2, Buy, 100, 5));

    let events = v.amend(1, 100, Some(6));
    assert_eq!(
        events,
        vec![
            deleted(1, Buy, 100),
            level(Buy, 100, 5, 1),
            amended(1, 1, 100, 6, 6, false),
            added(1, Buy, 100, 6),
            level(Buy, 100, 11, 2),
        ]
    );
    assert_eq!(
        v.snapshot(),
        snap(vec![resting(2, 2, Buy, 100, 5), resting(1, 1, Buy, 100, 6)], vec![], None)
    );
}

#[test]
fn amend_to_crossing_price_trades() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 99, 5));
    v.place(limit(2, 2, Sell, 101, 3));
    v.place(limit(3, 3, Sell, 102, 3));

    let events = v.amend(1, 101, None);
    assert_eq!(
        lifecycle(&events),
        vec![amended(1, 1, 101, 5, 5, false), trade(1, (101, 3), (2, 2, 0), (1, 1, 2), Buy)]
    );
    assert_eq!(
        v.snapshot(),
        snap(vec![partly(resting(1, 1, Buy, 101, 5), 2, 2)], vec![resting(3, 3, Sell, 102, 3)], Some(101))
    );
    // An amend that trades checks stops like any other command.
    v.place(stop(4, 4, Buy, 102, 1));
    v.place(limit(5, 5, Sell, 103, 1));
    let events = v.amend(1, 102, None);
    assert_eq!(
        lifecycle(&events),
        vec![
            amended(1, 1, 102, 5, 2, false),
            trade(2, (102, 2), (3, 3, 1), (1, 1, 0), Buy),
            triggered(4, 4, 102),
            trade(3, (102, 1), (3, 3, 0), (4, 4, 0), Buy),
        ]
    );
}

#[test]
fn mass_cancel_by_account() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 100, 1));
    v.place(limit(2, 2, Buy, 100, 2));
    v.place(limit(3, 1, Buy, 101, 3));
    v.place(limit(4, 1, Sell, 105, 4));
    v.place(limit(5, 2, Sell, 106, 5));
    v.place(stop(6, 1, Buy, 110, 6));
    v.place(stop(7, 1, Sell, 90, 7));
    v.place(stop(8, 2, Sell, 91, 8));

    let events = v.run(Command::MassCancel { instrument: None, account: Some(AccountId(1)) });
    assert_eq!(
        lifecycle(&events),
        vec![
            cancelled(3, 1, 3, CancelReason::MassCancel),
            cancelled(1, 1, 1, CancelReason::MassCancel),
            cancelled(4, 1, 4, CancelReason::MassCancel),
            cancelled(6, 1, 6, CancelReason::MassCancel),
            cancelled(7, 1, 7, CancelReason::MassCancel),
            EventKind::MassCancelled { account: Some(AccountId(1)), count: 5 },
        ]
    );
    assert_eq!(
        v.snapshot(),
        BookSnapshot {
            sell_stops: vec![dormant(resting(8, 2, Sell, 0, 8), OrderKind::Stop, 91)],
            ..snap(vec![resting(2, 2, Buy, 100, 2)], vec![resting(5, 2, Sell, 106, 5)], None)
        }
    );
}

#[test]
fn mass_cancel_by_instrument_and_everything() {
    let mut v = Venue::with_instruments(2);
    let on = |instrument: u32, order: NewOrder| NewOrder { instrument: InstrumentId(instrument), ..order };
    v.place(on(0, limit(1, 1, Buy, 100, 1)));
    v.place(on(0, limit(2, 2, Sell, 101, 2)));
    v.place(on(1, limit(3, 1, Buy, 100, 3)));
    v.place(on(1, stop(4, 2, Buy, 120, 4)));

    v.out.clear();
    let events = v.run(Command::MassCancel { instrument: Some(InstrumentId(0)), account: None });
    assert_eq!(
        lifecycle(&events),
        vec![
            cancelled(1, 1, 1, CancelReason::MassCancel),
            cancelled(2, 2, 2, CancelReason::MassCancel),
            EventKind::MassCancelled { account: None, count: 2 },
        ]
    );
    assert!(v.out.iter().all(|e| e.instrument == InstrumentId(0)));
    assert!(v.book().is_empty());
    assert_eq!(v.books.book(InstrumentId(1)).map(OrderBook::len), Some(2));

    let events = v.run(Command::MassCancel { instrument: None, account: None });
    assert_eq!(
        lifecycle(&events),
        vec![
            EventKind::MassCancelled { account: None, count: 0 },
            cancelled(3, 1, 3, CancelReason::MassCancel),
            cancelled(4, 2, 4, CancelReason::MassCancel),
            EventKind::MassCancelled { account: None, count: 2 },
        ]
    );
    let tags: Vec<u32> = v.out.iter().filter(|e| !is_delta(&e.kind)).map(|e| e.instrument.0).collect();
    assert_eq!(tags, vec![0, 1, 1, 1]);
    assert!(v.books.iter().all(OrderBook::is_empty));
}

// ----------------------------------------------------------------------
// Trading status
// ----------------------------------------------------------------------

#[test]
fn halted_instrument_rejects_new_orders_accepts_cancels() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 100, 1));
    v.place(limit(2, 2, Buy, 99, 2));
    v.place(gtd(limit(3, 3, Sell, 105, 3), 2_000));
    v.place(limit(4, 4, Sell, 106, 4));
    assert_eq!(
        v.set_status(TradingStatus::Halted),
        vec![EventKind::StatusChanged { status: TradingStatus::Halted }]
    );
    assert_eq!(v.book().status(), TradingStatus::Halted);

    let before = v.books.clone();
    assert_eq!(
        v.submit(limit(5, 5, Buy, 100, 1)),
        vec![rejected(5, 5, RequestKind::New, Reject::InstrumentHalted)]
    );
    assert_eq!(
        v.submit(market(6, 5, Buy, 1)),
        vec![rejected(6, 5, RequestKind::New, Reject::InstrumentHalted)]
    );
    assert_eq!(v.amend(1, 100, Some(2)), vec![rejected(1, 0, RequestKind::Amend, Reject::InstrumentHalted)]);
    assert_eq!(v.books, before);

    // Cancels, mass cancels and expiry still work; resting orders stay.
    assert_eq!(lifecycle(&v.cancel(1)), vec![cancelled(1, 1, 1, CancelReason::Requested)]);
    let events =
        v.run(Command::MassCancel { instrument: Some(InstrumentId(0)), account: Some(AccountId(2)) });
    assert_eq!(
        lifecycle(&events),
        vec![
            cancelled(2, 2, 2, CancelReason::MassCancel),
            EventKind::MassCancelled { account: Some(AccountId(2)), count: 1 }
        ]
    );
    v.now = Timestamp(2_000);
    assert_eq!(lifecycle(&v.run(Command::Expire)), vec![expired(3, 3, 3)]);
    assert_eq!(v.snapshot(), snap(vec![], vec![resting(4, 4, Sell, 106, 4)], None));

    // Reopened, orders are accepted again.
    v.set_status(TradingStatus::Open);
    v.place(limit(7, 5, Buy, 100, 1));
}

#[test]
fn closed_instrument_rejects_amends() {
    let mut v = Venue::new();
    v.place(limit(1, 1, Buy, 100, 5));
    v.place(tif(limit(2, 2, Sell, 105, 2), TimeInForce::Day));
    v.set_status(TradingStatus::Closed);

    let before = v.books.clone();
    assert_eq!(v.amend(1, 100, Some(3)), vec![rejected(1, 0, RequestKind::Amend, Reject::InstrumentClosed)]);
    assert_eq!(v.amend(1, 101, None), vec![rejected(1, 0, RequestKind::Amend, Reject::InstrumentClosed)]);
    assert_eq!(
        v.submit(limit(3, 3, Sell, 101, 1)),
        vec![rejected(3, 3, RequestKind::New, Reject::InstrumentClosed)]
    );
    assert_eq!(v.books, before);

    // End of session and cancels still work.
    assert_eq!(lifecycle(&v.run(Command::EndOfSession)), vec![expired(2, 2, 2)]);
    assert_eq!(lifecycle(&v.cancel(1)), vec![cancelled(1, 1, 5, CancelReason::Requested)]);
    assert!(v.book().is_empty());
}

// ----------------------------------------------------------------------
// Events
// ----------------------------------------------------------------------

/// The public book as rebuilt from L2 `Level` events.
#[derive(Default)]
struct L2Replica {
    levels: BTreeMap<(Side, Price), (Qty, u32)>,
}

impl L2Replica {
    fn apply(&mut self, events: &[EventKind]) {
        for kind in events {
            if let EventKind::Level { side, price, qty, count } = *kind {
                if count == 0 {
                    assert_eq!(qty, Qty::ZERO, "an empty level with quantity");
                    self.levels.remove(&(side, price));
                } else {
                    assert!(qty.0 > 0, "a level with orders but nothing shown");
                    self.levels.insert((side, price), (qty, count));
                }
            }
        }
    }

    fn assert_matches(&self, book: &OrderBook) {
        for side in [Buy, Sell] {
            let mut replica: Vec<(Price, Qty, u32)> = self
                .levels
                .iter()
                .filter(|((s, _), _)| *s == side)
                .map(|(&(_, price), &(qty, count))| (price, qty, count))
                .collect();
            if side == Buy {
                replica.reverse();
            }
            let actual: Vec<_> = book.depth(side, usize::MAX).collect();
            assert_eq!(replica, actual, "{side:?} levels rebuilt from L2 events");
        }
    }
}

/// The shown book as rebuilt from L3 order deltas.
#[derive(Default)]
struct L3Replica {
    levels: BTreeMap<(Side, Price), Vec<(OrderId, Qty)>>,
}

impl L3Replica {
    fn apply(&mut self, events: &[EventKind]) {
        for kind in events {
            match *kind {
                EventKind::OrderAdded { order_id, side, price, qty } => {
                    assert!(qty.0 > 0, "{order_id:?} added with nothing shown");
                    let queue = self.levels.entry((side, price)).or_default();
                    assert!(queue.iter().all(|&(id, _)| id != order_id), "{order_id:?} added twice");
                    queue.push((order_id, qty));
                }
                EventKind::OrderModified { order_id, side, price, qty } => {
                    assert!(qty.0 > 0, "{order_id:?} modified to nothing shown");
                    let queue = self.levels.get_mut(&(side, price)).expect("modified order's level");
                    let entry = queue.iter_mut().find(|(id, _)| *id == order_id).expect("modified order");
                    entry.1 = qty;
                }
                EventKind::OrderDeleted { order_id, side, price } => {
                    let queue = self.levels.get_mut(&(side, price)).expect("deleted order's level");
                    let at = queue.iter().position(|&(id, _)| id == order_id).expect("deleted order");
                    queue.remove(at);
                    if queue.is_empty() {
                        self.levels.remove(&(side, price));
                    }
                }
                _ => {}
            }
        }
    }

    /// The first order of the best level of `side`, with its shown quantity.
    fn head(&self, side: Side) -> Option<(OrderId, Price, Qty)> {
        let mut levels = self.levels.iter().filter(|((s, _), _)| *s == side);
        let best = if side == Buy { levels.next_back() } else { levels.next() };
        best.map(|(&(_, price), queue)| (queue[0].0, price, queue[0].1))
    }

    fn assert_matches(&self, book: &OrderBook) {
        let snapshot = book.snapshot();
        for (side, orders) in [(Buy, &snapshot.bids), (Sell, &snapshot.asks)] {
            let mut levels: Vec<_> = self.levels.iter().filter(|((s, _), _)| *s == side).collect();
            if side == Buy {
                levels.reverse();
            }
            let replica: Vec<(OrderId, Price, Qty)> = levels
                .into_iter()
                .flat_map(|(&(_, price), queue)| queue.iter().map(move |&(id, qty)| (id, price, qty)))
                .collect();
            let actual: Vec<(OrderId, Price, Qty)> =
                orders.iter().map(|o| (o.order_id, o.price, o.shown)).collect();
            assert_eq!(replica, actual, "{side:?} orders rebuilt from L3 events");
        }
    }
}

/// A small deterministic generator (xorshift64*), so that the long scenarios
/// are the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + self.below((high - low + 1) as u64) as i64
    }

    fn chance(&mut self, percent: u64) -> bool {
        self.below(100) < percent
    }
}

/// One of the latest 40 order ids (most of them still live or recently
/// done), so that cancels and amends mostly find their order.
fn recent(rng: &mut Rng, next_id: u64) -> OrderId {
    OrderId(next_id.saturating_sub(rng.below(40)).max(1))
}

/// A long, varied, deterministic session touching every order type, time in
/// force, self-trade mode, amend, cancel, mass cancel, expiry and status.
fn session(seed: u64, commands: usize) -> Vec<(Timestamp, Command)> {
    let mut rng = Rng(seed);
    let mut now = 1_000u64;
    let mut next_id = 1u64;
    // Limit price and quantity of every order generated, by id - 1.
    let mut orders: Vec<(i64, i64)> = Vec::new();
    let mut script = Vec::with_capacity(commands);
    let modes = [
        StpMode::Allow,
        StpMode::CancelResting,
        StpMode::CancelIncoming,
        StpMode::CancelBoth,
        StpMode::DecrementAndCancel,
    ];
    for _ in 0..commands {
        now += rng.below(20);
        let roll = rng.below(100);
        let command = match roll {
            0..=59 => {
                let id = next_id;
                next_id += 1;
                let side = if rng.chance(50) { Buy } else { Sell };
                let account = rng.between(1, 4) as u32;
                let qty = rng.between(1, 10);
                // Buyers mostly below 101, sellers mostly above 99: the book
                // builds depth while the middle keeps trading.
                let price = match side {
                    Buy => rng.between(90, 101),
                    Sell => rng.between(99, 110),
                };
                orders.push((price, qty));
                let mut order = limit(id, account, side, price, qty);
                order.stp = modes[rng.below(5) as usize];
                if rng.chance(10) {
                    order.stp_group = StpGroup(9);
                }
                if rng.chance(30) {
                    order.client_order_id = ClientOrderId(rng.between(1, 5) as u64);
                }
                match rng.below(100) {
                    0..=59 => {}
                    60..=74 => order = NewOrder { kind: OrderKind::Market, tif: TimeInForce::Ioc, ..order },
                    75..=89 => {
                        order = NewOrder {
                            kind: OrderKind::Stop,
                            stop_price: Price(rng.between(95, 105)),
                            ..order
                        }
                    }
                    _ => {
                        order = NewOrder {
                            kind: OrderKind::StopLimit,
                            stop_price: Price(rng.between(95, 105)),
                            ..order
                        }
                    }
                }
                order.tif = match (order.kind, rng.below(100)) {
                    (OrderKind::Market, 0..=79) => TimeInForce::Ioc,
                    (OrderKind::Market, _) => TimeInForce::Fok,
                    (_, 0..=44) => TimeInForce::Gtc,
                    (_, 45..=59) => TimeInForce::Ioc,
                    (_, 60..=69) => TimeInForce::Fok,
                    (_, 70..=84) => TimeInForce::Gtd,
                    _ => TimeInForce::Day,
                };
                if order.tif == TimeInForce::Gtd {
                    order.expire_time = Timestamp(now + rng.below(300) + 1);
                }
                if rng.chance(20) {
                    order.display_qty = Qty(rng.between(1, qty));
                }
                if order.kind == OrderKind::Limit && rng.chance(10) {
                    order.post_only = true;
                }
                if order.side == Buy
                    && !matches!(order.kind, OrderKind::Limit | OrderKind::StopLimit)
                    && rng.chance(25)
                {
                    order.quote_budget = rng.between(90, 1_500);
                }
                Command::New(order)
            }
            60..=71 => Command::Cancel(CancelOrder {
                instrument: InstrumentId(0),
                target: OrderRef::Id(recent(&mut rng, next_id)),
                account: if rng.chance(50) { None } else { Some(AccountId(rng.between(1, 4) as u32)) },
            }),
            72..=89 => {
                let target = recent(&mut rng, next_id);
                let (price, qty) = orders.get(target.0 as usize - 1).copied().unwrap_or((100, 5));
                // Half keep the price (size changes), half move it.
                let new_price = if rng.chance(50) { price } else { price + rng.between(-3, 3) };
                let new_qty = match rng.below(4) {
                    0 => None,
                    1 => Some(Qty(rng.between(1, qty))),
                    _ => Some(Qty(rng.between(1, 12))),
                };
                Command::Amend(AmendOrder {
                    instrument: InstrumentId(0),
                    target: OrderRef::Id(target),
                    account: None,
                    new_price: Price(new_price),
                    new_qty,
                    new_client_order_id: ClientOrderId::NONE,
                })
            }
            90..=93 => Command::Expire,
            94 if rng.chance(30) => Command::EndOfSession,
            95 if rng.chance(50) => Command::MassCancel {
                instrument: if rng.chance(50) { None } else { Some(InstrumentId(0)) },
                account: if rng.chance(70) { Some(AccountId(rng.between(1, 4) as u32)) } else { None },
            },
            96 if rng.chance(25) => {
                Command::SetStatus { instrument: InstrumentId(0), status: TradingStatus::Halted }
            }
            _ => Command::SetStatus { instrument: InstrumentId(0), status: TradingStatus::Open },
        };
        script.push((Timestamp(now), command));
    }
    script
}

#[test]
fn events_l2_levels_report_aggregate_after_each_command() {
    // A command that touches levels reports each with its new aggregate
    // (shown quantity, order count); untouched levels are not reported.
    let mut v = Venue::new();
    assert_eq!(
        deltas(&v.place(limit(1, 1, Sell, 101, 2))),
        vec![added(1, Sell, 101, 2), level(Sell, 101, 2, 1)]
    );
    v.place(iceberg(2, 2, Sell, 101, 10, 4));
    v.place(limit(3, 3, Sell, 102, 5));
    let events = v.place(limit(4, 4, Buy, 102, 9));
    let levels: Vec<EventKind> =
        events.iter().filter(|e| matches!(e, EventKind::Level { .. })).copied().collect();
    // Nine lots take order 1 (2), the iceberg's slice (4) and 3 of its
    // refreshed slice: level 101 is left showing 1 lot of one order, and
    // level 102 was not touched.
    assert_eq!(levels, vec![level(Sell, 101, 1, 1)]);
    assert_eq!(
        v.book().depth(Sell, 10).collect::<Vec<_>>(),
        vec![(Price(101), Qty(1), 1), (Price(102), Qty(5), 1)]
    );

    // Over a long varied session, the L2 events alone rebuild every level.
    let mut v = Venue::new();
    let mut replica = L2Replica::default();
    for (now, command) in session(0x5eed_0001, 3_000) {
        v.now = now;
        let events = v.run(command);
        replica.apply(&events);
        replica.assert_matches(v.book());
    }
    assert!(trades_of(&v.log).len() > 100, "the session should trade a lot");
}

#[test]
fn events_l3_deltas_reconstruct_shown_book() {
    for seed in [0x5eed_0002, 0x5eed_0003, 0x5eed_0004] {
        let mut v = Venue::new();
        let mut replica = L3Replica::default();
        let mut modifications = 0;
        for (now, command) in session(seed, 3_000) {
            v.now = now;
            let events = v.run(command);
            replica.apply(&events);
            replica.assert_matches(v.book());
            modifications += events.iter().filter(|e| matches!(e, EventKind::OrderModified { .. })).count();
        }
        assert!(modifications > 10, "the session should exercise partial fills");
    }
}

#[test]
fn every_trade_takes_the_head_of_the_best_level() {
    // Price-time priority over long sessions: replaying the events in order,
    // each trade's maker is the first order of the best opposite level as
    // the L3 deltas published so far show it, and takes at most its shown
    // slice.
    for seed in [0x5eed_0007, 0x5eed_0008, 0x5eed_0009] {
        let mut v = Venue::new();
        let mut replica = L3Replica::default();
        let mut trades = 0;
        for (now, command) in session(seed, 3_000) {
            v.now = now;
            for kind in v.run(command) {
                if let EventKind::Trade { maker_order_id, price, qty, aggressor, .. } = kind {
                    let head = replica.head(aggressor.opposite());
                    assert_eq!(head.map(|(id, at, _)| (id, at)), Some((maker_order_id, price)), "{kind:?}");
                    assert!(
                        head.is_some_and(|(_, _, shown)| qty <= shown),
                        "{kind:?} beyond the shown slice"
                    );
                    trades += 1;
                }
                replica.apply(&[kind]);
            }
        }
        assert!(trades > 300, "seed {seed:#x}: only {trades} trades");
    }
}

/// What the events say about one live order.
#[derive(Clone, Copy, Debug)]
struct Tracked {
    order: NewOrder,
    /// Current limit price (0 for market and stop orders).
    price: Price,
    qty: i64,
    leaves: i64,
    /// Dormant stop not yet triggered.
    dormant: bool,
}

impl Tracked {
    fn stp_key(&self) -> (bool, u32) {
        if self.order.stp_group.0 == 0 {
            (true, self.order.account.0)
        } else {
            (false, self.order.stp_group.0)
        }
    }
}

#[test]
fn lifecycle_events_account_for_every_lot() {
    // Over long sessions, follow every order through its lifecycle events:
    // the quantities in the events add up, trades print at the maker's price
    // and within the taker's limit, never between orders of one STP group
    // unless the taker allows it, market/IOC/FOK orders never rest, FOK
    // orders fill entirely or leave the public book untouched, and the book
    // holds exactly the orders the events say are live, with their leaves.
    for seed in [0x5eed_000a, 0x5eed_000b, 0x5eed_000c] {
        let mut v = Venue::new();
        let mut live: BTreeMap<OrderId, Tracked> = BTreeMap::new();
        let (mut fok_filled, mut fok_killed) = (0, 0);
        for (now, command) in session(seed, 3_000) {
            v.now = now;
            let public_before = {
                let snapshot = v.snapshot();
                (snapshot.bids, snapshot.asks)
            };
            let events = v.run(command);
            for kind in &events {
                match *kind {
                    EventKind::Accepted { order_id, kind: order_kind, price, qty, side, account, .. } => {
                        let Command::New(order) = command else { panic!("{kind:?} answering {command:?}") };
                        assert_eq!(
                            (order.order_id, order.kind, order.side, order.account, order.qty),
                            (order_id, order_kind, side, account, qty)
                        );
                        let expected_price = if matches!(order.kind, OrderKind::Limit | OrderKind::StopLimit)
                        {
                            order.price
                        } else {
                            Price(0)
                        };
                        assert_eq!(price, expected_price, "{kind:?}");
                        let tracked = Tracked {
                            order,
                            price,
                            qty: qty.0,
                            leaves: qty.0,
                            dormant: order.kind.is_stop(),
                        };
                        assert!(live.insert(order_id, tracked).is_none(), "{order_id:?} accepted while live");
                    }
                    EventKind::Trade {
                        price,
                        qty,
                        maker_order_id,
                        taker_order_id,
                        maker_account,
                        taker_account,
                        maker_leaves,
                        taker_leaves,
                        aggressor,
                        ..
                    } => {
                        assert!(qty.0 > 0, "{kind:?}");
                        let maker = live[&maker_order_id];
                        let taker = live[&taker_order_id];
                        assert!(!maker.dormant && !taker.dormant, "{kind:?} with a dormant stop");
                        assert_eq!((maker.order.side, taker.order.side), (aggressor.opposite(), aggressor));
                        assert_eq!(
                            (maker.order.account, taker.order.account),
                            (maker_account, taker_account)
                        );
                        assert_eq!(price, maker.price, "{kind:?} not at the maker's price");
                        if taker.price.0 != 0 {
                            let within = match aggressor {
                                Buy => price <= taker.price,
                                Sell => price >= taker.price,
                            };
                            assert!(within, "{kind:?} through the taker's limit {:?}", taker.price);
                        }
                        assert!(
                            maker.stp_key() != taker.stp_key() || taker.order.stp == StpMode::Allow,
                            "{kind:?} is a self-trade"
                        );
                        for (id, leaves) in [(maker_order_id, maker_leaves), (taker_order_id, taker_leaves)] {
                            let order = live.get_mut(&id).expect("live");
                            order.leaves -= qty.0;
                            assert_eq!(order.leaves, leaves.0, "{kind:?} leaves of {id:?}");
                            if order.leaves == 0 {
                                live.remove(&id);
                            }
                        }
                    }
                    EventKind::Cancelled { order_id, qty, account, .. } => {
                        let order = live.remove(&order_id).expect("cancelled order was live");
                        assert_eq!((order.leaves, order.order.account), (qty.0, account), "{kind:?}");
                    }
                    EventKind::Expired { order_id, qty, account } => {
                        let order = live.remove(&order_id).expect("expired order was live");
                        assert_eq!((order.leaves, order.order.account), (qty.0, account), "{kind:?}");
                        assert!(matches!(order.order.tif, TimeInForce::Gtd | TimeInForce::Day), "{kind:?}");
                    }
                    EventKind::Reduced { order_id, qty, leaves, .. } => {
                        let order = live.get_mut(&order_id).expect("reduced order is live");
                        order.leaves -= qty.0;
                        assert!(qty.0 > 0 && order.leaves > 0, "{kind:?}");
                        assert_eq!(order.leaves, leaves.0, "{kind:?}");
                    }
                    EventKind::Amended { order_id, price, qty, leaves, .. } => {
                        let order = live.get_mut(&order_id).expect("amended order is live");
                        assert!(!order.dormant, "{kind:?} of a dormant stop");
                        let done = order.qty - order.leaves;
                        assert_eq!(leaves.0, qty.0 - done, "{kind:?}: filled quantity not counted");
                        (order.price, order.qty, order.leaves) = (price, qty.0, leaves.0);
                    }
                    EventKind::Triggered { order_id, last_price, .. } => {
                        let order = live.get_mut(&order_id).expect("triggered order is live");
                        assert!(order.dormant, "{kind:?} twice");
                        order.dormant = false;
                        let reached = match order.order.side {
                            Buy => last_price >= order.order.stop_price,
                            Sell => last_price <= order.order.stop_price,
                        };
                        assert!(reached, "{kind:?} before its stop price {:?}", order.order.stop_price);
                    }
                    _ => {}
                }
            }
            // All or nothing for FOK orders entering now.
            if let Command::New(order) = command
                && order.tif == TimeInForce::Fok
                && !order.kind.is_stop()
                && matches!(events.first(), Some(EventKind::Accepted { .. }))
            {
                let killed = events.iter().any(|e| {
                    matches!(e, EventKind::Cancelled { order_id, reason: CancelReason::FokNotFillable, qty, .. }
                        if *order_id == order.order_id && *qty == order.qty)
                });
                let traded: i64 = events
                    .iter()
                    .filter_map(|e| match *e {
                        EventKind::Trade { taker_order_id, qty, .. } if taker_order_id == order.order_id => {
                            Some(qty.0)
                        }
                        _ => None,
                    })
                    .sum();
                if killed {
                    fok_killed += 1;
                    assert_eq!(events.len(), 2, "a killed FOK changed something: {events:?}");
                    let snapshot = v.snapshot();
                    assert_eq!((snapshot.bids, snapshot.asks), public_before);
                } else {
                    fok_filled += 1;
                    assert_eq!(traded, order.qty.0, "FOK {:?} partly filled: {events:?}", order.order_id);
                }
            }
            // The book holds exactly what the events say is live.
            assert_eq!(v.book().len(), live.len(), "live orders after {command:?}");
            for (&id, tracked) in &live {
                let order = v.book().order(id).unwrap_or_else(|| panic!("{id:?} missing from the book"));
                assert_eq!((order.leaves.0, order.qty.0), (tracked.leaves, tracked.qty), "{id:?}");
                assert!(order.leaves.0 > 0);
                if tracked.dormant {
                    assert_eq!(order.shown, Qty::ZERO, "a dormant stop shows quantity");
                } else {
                    assert_eq!(order.price, tracked.price, "{id:?} price");
                    assert!(tracked.order.tif.may_rest(), "{id:?} ({:?}) rests", tracked.order.tif);
                    assert!(tracked.price.0 != 0, "a market order rests: {id:?}");
                }
            }
        }
        assert!(
            fok_filled > 5 && fok_killed > 5,
            "seed {seed:#x}: FOK {fok_filled} filled, {fok_killed} killed"
        );
    }
}

#[test]
fn trade_ids_increase_by_one() {
    let mut v = Venue::with_instruments(2);
    let on = |instrument: u32, order: NewOrder| NewOrder { instrument: InstrumentId(instrument), ..order };
    v.place(on(0, limit(1, 1, Sell, 100, 3)));
    v.place(on(0, iceberg(2, 1, Sell, 101, 6, 2)));
    v.place(on(1, limit(3, 1, Sell, 100, 3)));
    v.place(on(0, limit(4, 2, Buy, 101, 5)));
    v.place(on(1, market(5, 2, Buy, 2)));
    v.place(on(0, market(6, 2, Buy, 2)));
    v.place(on(1, limit(7, 2, Buy, 100, 1)));

    for (instrument, expected) in [(0, vec![1, 2, 3]), (1, vec![1, 2])] {
        let ids: Vec<u64> = v
            .log
            .iter()
            .filter(|e| e.instrument == InstrumentId(instrument))
            .filter_map(|e| match e.kind {
                EventKind::Trade { trade_id, .. } => Some(trade_id.0),
                _ => None,
            })
            .collect();
        assert_eq!(ids, expected, "trade ids of instrument {instrument}");
    }

    // Over a long session too.
    let mut v = Venue::new();
    for (now, command) in session(0x5eed_0005, 2_000) {
        v.now = now;
        v.run(command);
    }
    let ids: Vec<u64> = trades_of(&v.log)
        .iter()
        .map(|kind| match kind {
            EventKind::Trade { trade_id, .. } => trade_id.0,
            _ => unreachable!(),
        })
        .collect();
    assert!(ids.len() > 100);
    assert!(ids.iter().enumerate().all(|(at, &id)| id == at as u64 + 1), "trade ids are 1, 2, 3, ...");
}

#[test]
fn client_order_id_lookup_for_cancel() {
    let mut v = Venue::new();
    let client = |order: NewOrder, id: u64| NewOrder { client_order_id: ClientOrderId(id), ..order };
    let events = v.place(client(limit(1, 1, Buy, 100, 1), 77));
    assert_eq!(
        events[0],
        EventKind::Accepted {
            order_id: OrderId(1),
            client_order_id: ClientOrderId(77),
            account: AccountId(1),
            side: Buy,
            kind: OrderKind::Limit,
            price: Price(100),
            qty: Qty(1),
        }
    );
    v.place(client(limit(2, 2, Buy, 99, 1), 77)); // same client id, other account
    let by_client = |owner: u32, id: u64, requester: Option<u32>| {
        Command::Cancel(CancelOrder {
            instrument: InstrumentId(0),
            target: OrderRef::Client(AccountId(owner), ClientOrderId(id)),
            account: requester.map(AccountId),
        })
    };
    // Another account cannot reach it through the owner's client id.
    let events = v.run(by_client(1, 77, Some(2)));
    assert_eq!(
        events,
        vec![EventKind::Rejected {
            order_id: OrderId(0),
            client_order_id: ClientOrderId(77),
            account: AccountId(2),
            request: RequestKind::Cancel,
            reason: Reject::UnknownOrder,
        }]
    );
    // The owner can.
    let events = v.run(by_client(1, 77, Some(1)));
    assert_eq!(lifecycle(&events), vec![cancelled(1, 1, 1, CancelReason::Requested)]);
    let other = BookOrder { client_order_id: ClientOrderId(77), ..resting(2, 2, Buy, 99, 1) };
    assert_eq!(v.snapshot(), snap(vec![other], vec![], None));
    // The id is free again once the order is gone.
    v.place(client(limit(3, 1, Sell, 105, 1), 77));
    // An amend can change it; the new one then names the order.
    let events = v.run(Command::Amend(AmendOrder {
        instrument: InstrumentId(0),
        target: OrderRef::Client(AccountId(1), ClientOrderId(77)),
        account: Some(AccountId(1)),
        new_price: Price(105),
        new_qty: None,
        new_client_order_id: ClientOrderId(78),
    }));
    assert_eq!(lifecycle(&events), vec![amended_as(3, 1, 105, 1, 1, true, ClientOrderId(78))]);
    assert_eq!(v.book().order(OrderId(3)).map(|o| o.client_order_id), Some(ClientOrderId(78)));
    let events = v.run(by_client(1, 77, None));
    assert!(matches!(events[..], [EventKind::Rejected { reason: Reject::UnknownOrder, .. }]));
    let events = v.run(by_client(1, 78, None));
    assert_eq!(lifecycle(&events), vec![cancelled(3, 1, 1, CancelReason::Requested)]);
}

#[test]
fn same_commands_produce_same_events_and_book() {
    let script = session(0x5eed_0006, 2_000);
    let run = || {
        let mut v = Venue::new();
        for &(now, command) in &script {
            v.now = now;
            v.run(command);
        }
        (v.log, v.books)
    };
    let (first_events, first_books) = run();
    let (second_events, second_books) = run();
    assert_eq!(first_events, second_events);
    assert_eq!(first_books, second_books);
}

#[test]
fn price_levels_are_found_and_matched_wherever_the_market_drifts() {
    // The book indexes levels near where it trades directly and the rest in
    // a table; a market that walks tens of thousands of ticks must find,
    // join, amend and match every level the same, near or far.
    let mut v = Venue::new();
    let mut id = 0;
    let (mut bids, mut asks) = (Vec::new(), Vec::new());
    // 400 steps leave hundreds of levels behind the window, so it has to
    // follow the touch (the invariant check after every command compares
    // the level index with the ladder).
    for step in 0..400i64 {
        let (bid, ask) = (100_000 + step * 1_500, 800_000 + step * 1_500);
        id += 1;
        v.place(limit(id, 1, Buy, bid, 2));
        bids.push((id, bid));
        id += 1;
        v.place(limit(id, 2, Sell, ask, 2));
        asks.push((id, ask));
        // Join the new best bid, then move to a fresh price next to it.
        id += 1;
        let events = v.place(limit(id, 3, Buy, bid, 1));
        assert!(events.contains(&level(Buy, bid, 3, 2)), "step {step}: {events:?}");
        let events = v.amend(id, bid - 1, None);
        assert!(events.contains(&level(Buy, bid, 2, 1)), "step {step}: {events:?}");
        assert!(events.contains(&level(Buy, bid - 1, 1, 1)), "step {step}: {events:?}");
        v.cancel(id);
    }
    // One buy sweeps every ask, nearest first, the farthest 598,500 ticks up.
    let top = asks.last().map(|&(_, p)| p).expect("asks");
    id += 1;
    let events = v.place(limit(id, 4, Buy, top, 2 * asks.len() as i64));
    assert_eq!(fills(&events), asks.iter().map(|&(_, p)| (p, 2)).collect::<Vec<_>>());
    // The deepest bid, 598,500 ticks below the touch, moves up next to it;
    // a market sell then takes every bid, best first.
    let (deepest, _) = bids[0];
    let best = bids.last().map(|&(_, p)| p).expect("bids");
    v.amend(deepest, best - 1, None);
    id += 1;
    let events = v.place(market(id, 5, Sell, 2 * bids.len() as i64));
    let mut expected: Vec<(i64, i64)> = bids.iter().skip(1).map(|&(_, p)| (p, 2)).rev().collect();
    expected.insert(1, (best - 1, 2));
    assert_eq!(fills(&events), expected);
    assert_eq!(v.snapshot(), snap(vec![], vec![], Some(bids[1].1)));
}
