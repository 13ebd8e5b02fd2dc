//! Refusals: every bad command is answered with its typed [`Reject`] and
//! changes nothing.
//!
//! Each refusal is checked twice: on the [`OrderBook`] method itself (it
//! returns `Err(reason)`, emits nothing, and the book compares equal to a
//! clone taken before), and through [`Books::apply`] (the only event is one
//! `Rejected` naming the request, and every book compares equal to before).
//! The book's invariants are checked after every command.

use venue_matching::{
    AccountId, AmendOrder, BookConfig, Books, CancelOrder, ClientOrderId, Command, Event, EventKind,
    InstrumentId, InstrumentSpec, NewOrder, OrderId, OrderKind, OrderRef, Price, Qty, Reject, RequestKind,
    Side, StpMode, TimeInForce, Timestamp, TradingStatus,
};

use Side::{Buy, Sell};

/// Price 0.05 a tick (two decimals), quantity 0.0010 a lot (four
/// decimals); 2 to 1000 lots; 10 to 10 000 ticks.
fn spec(id: u32) -> InstrumentSpec {
    let mut spec = InstrumentSpec::spot(id, &format!("I{id}-USDT"), 2, 4);
    spec.tick_size = 5;
    spec.lot_size = 10;
    spec.min_qty = Qty(2);
    spec.max_qty = Qty(1_000);
    spec.min_price = Price(10);
    spec.max_price = Price(10_000);
    spec
}

struct Venue {
    books: Books,
    now: Timestamp,
}

impl Venue {
    fn new() -> Venue {
        Venue::with(1, BookConfig { max_orders: 1024, ..BookConfig::default() })
    }

    fn with(instruments: u32, config: BookConfig) -> Venue {
        let books = Books::new((0..instruments).map(spec).collect(), config).expect("valid specs");
        Venue { books, now: Timestamp(1_000) }
    }

    fn run(&mut self, command: Command) -> Vec<EventKind> {
        let mut out = Vec::new();
        self.books.apply(&command, self.now, &mut out);
        for book in self.books.iter() {
            book.assert_invariants();
        }
        out.iter().map(|event| event.kind).collect()
    }

    /// Submits an order that must be accepted.
    fn accept(&mut self, order: NewOrder) -> Vec<EventKind> {
        let events = self.run(Command::New(order));
        assert!(
            matches!(events.first(), Some(EventKind::Accepted { .. })),
            "order {:?} not accepted: {events:?}",
            order.order_id
        );
        events
    }

    /// Asserts that `command` is refused with `reason` and changes nothing.
    fn refuse(&mut self, command: Command, reason: Reject) {
        // The book's own method: `Err`, no event, the book as it was.
        let instrument = match command {
            Command::New(order) => Some(order.instrument),
            Command::Cancel(cancel) => Some(cancel.instrument),
            Command::Amend(amend) => Some(amend.instrument),
            _ => None,
        };
        if let Some(book) = instrument.and_then(|id| self.books.book(id)) {
            let mut copy = book.clone();
            let mut out = Vec::new();
            let result = match command {
                Command::New(ref order) => copy.new_order(order, self.now, &mut out),
                Command::Cancel(ref cancel) => copy.cancel(cancel, &mut out),
                Command::Amend(ref amend) => copy.amend(amend, &mut out),
                _ => unreachable!("only orders, cancels and amends go to one book"),
            };
            assert_eq!(result, Err(reason), "{command:?}");
            assert_eq!(out, vec![], "a refused command emitted events");
            assert_eq!(&copy, book, "a refused command changed the book");
        }
        // Through the dispatcher: one `Rejected` event, nothing else.
        let before = self.books.clone();
        let mut out = Vec::new();
        self.books.apply(&command, self.now, &mut out);
        assert_eq!(out, vec![rejection(&command, reason)], "{command:?}");
        assert_eq!(self.books, before, "a refused command changed the books");
        for book in self.books.iter() {
            book.assert_invariants();
        }
    }
}

/// The one event a refused `command` produces.
fn rejection(command: &Command, reason: Reject) -> Event {
    let target_ids = |target: OrderRef| match target {
        OrderRef::Id(id) => (id, ClientOrderId::NONE),
        OrderRef::Client(_, client) => (OrderId(0), client),
    };
    let (instrument, order_id, client_order_id, account, request) = match *command {
        Command::New(order) => {
            (order.instrument, order.order_id, order.client_order_id, order.account, RequestKind::New)
        }
        Command::Cancel(cancel) => {
            let (id, client) = target_ids(cancel.target);
            (cancel.instrument, id, client, cancel.account.unwrap_or_default(), RequestKind::Cancel)
        }
        Command::Amend(amend) => {
            let (id, client) = target_ids(amend.target);
            (amend.instrument, id, client, amend.account.unwrap_or_default(), RequestKind::Amend)
        }
        Command::MassCancel { instrument, account } => (
            instrument.expect("only a mass cancel of one instrument can be refused"),
            OrderId(0),
            ClientOrderId::NONE,
            account.unwrap_or_default(),
            RequestKind::MassCancel,
        ),
        Command::SetStatus { instrument, .. } => {
            (instrument, OrderId(0), ClientOrderId::NONE, AccountId::default(), RequestKind::SetStatus)
        }
        Command::Expire | Command::EndOfSession => unreachable!("time commands are never refused"),
    };
    Event { instrument, kind: EventKind::Rejected { order_id, client_order_id, account, request, reason } }
}

fn limit(id: u64, account: u32, side: Side, price: i64, qty: i64) -> NewOrder {
    NewOrder::limit(id, account, side, price, qty)
}

fn new(order: NewOrder) -> Command {
    Command::New(order)
}

fn cancel(id: u64, account: Option<u32>) -> Command {
    Command::Cancel(CancelOrder {
        instrument: InstrumentId(0),
        target: OrderRef::Id(OrderId(id)),
        account: account.map(AccountId),
    })
}

fn amend(id: u64, account: Option<u32>, price: i64, qty: Option<i64>) -> Command {
    Command::Amend(AmendOrder {
        instrument: InstrumentId(0),
        target: OrderRef::Id(OrderId(id)),
        account: account.map(AccountId),
        new_price: Price(price),
        new_qty: qty.map(Qty),
        new_client_order_id: ClientOrderId::NONE,
    })
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

fn with_tif(order: NewOrder, tif: TimeInForce) -> NewOrder {
    NewOrder { tif, ..order }
}

/// A venue with some resting orders, so that "unchanged" means something.
fn populated() -> Venue {
    let mut v = Venue::new();
    v.accept(limit(1, 1, Buy, 100, 5));
    v.accept(limit(2, 2, Buy, 99, 3));
    v.accept(limit(3, 3, Sell, 105, 4));
    v.accept(NewOrder { display_qty: Qty(2), ..limit(4, 4, Sell, 106, 10) });
    v.accept(stop(5, 1, Buy, 200, 2));
    v
}

// ----------------------------------------------------------------------
// Quantity and price
// ----------------------------------------------------------------------

#[test]
fn zero_quantity_is_rejected() {
    let mut v = populated();
    v.refuse(new(limit(10, 1, Buy, 100, 0)), Reject::QtyNotPositive);
    v.refuse(new(NewOrder::market(11, 1, Sell, 0)), Reject::QtyNotPositive);
    v.refuse(new(stop(12, 1, Buy, 150, 0)), Reject::QtyNotPositive);
    v.refuse(amend(1, None, 100, Some(0)), Reject::QtyNotPositive);
}

#[test]
fn negative_quantity_is_rejected() {
    let mut v = populated();
    v.refuse(new(limit(10, 1, Buy, 100, -1)), Reject::QtyNotPositive);
    v.refuse(new(NewOrder::market(11, 1, Buy, i64::MIN)), Reject::QtyNotPositive);
    v.refuse(amend(1, None, 100, Some(-5)), Reject::QtyNotPositive);
}

#[test]
fn price_outside_instrument_bounds_is_rejected() {
    let mut v = populated();
    for price in [0, -1, i64::MIN, 9, 10_001, i64::MAX] {
        v.refuse(new(limit(10, 1, Buy, price, 2)), Reject::PriceOutOfRange);
        v.refuse(new(limit(10, 1, Sell, price, 2)), Reject::PriceOutOfRange);
        v.refuse(new(stop(11, 1, Buy, price, 2)), Reject::PriceOutOfRange);
        v.refuse(new(stop_limit(12, 1, Buy, 150, price, 2)), Reject::PriceOutOfRange);
        v.refuse(new(stop_limit(13, 1, Buy, price, 150, 2)), Reject::PriceOutOfRange);
        v.refuse(amend(1, None, price, None), Reject::PriceOutOfRange);
    }
    // The bounds themselves are fine, and a market order's price is ignored.
    v.accept(limit(20, 1, Buy, 10, 2));
    v.accept(limit(21, 1, Sell, 10_000, 2));
    v.accept(NewOrder { price: Price(-5), ..NewOrder::market(22, 1, Sell, 2) });
}

#[test]
fn quantity_below_min_or_above_max_is_rejected() {
    let mut v = populated();
    v.refuse(new(limit(10, 1, Buy, 100, 1)), Reject::QtyBelowMin);
    v.refuse(new(limit(10, 1, Buy, 100, 1_001)), Reject::QtyAboveMax);
    v.refuse(new(NewOrder::market(11, 1, Buy, 1)), Reject::QtyBelowMin);
    v.refuse(new(stop(12, 1, Sell, 50, 1_001)), Reject::QtyAboveMax);
    v.refuse(amend(1, None, 100, Some(1)), Reject::QtyBelowMin);
    v.refuse(amend(1, None, 100, Some(1_001)), Reject::QtyAboveMax);
    v.accept(limit(20, 1, Buy, 100, 2));
    v.accept(limit(21, 1, Buy, 100, 1_000));
}

#[test]
fn decimal_strings_off_the_grid_are_refused_before_the_book() {
    // What a gateway does: decimal strings to ticks and lots, then the book.
    let order_from_text = |v: &Venue, id: u64, side: Side, price: &str, qty: &str| {
        let spec = v.books.book(InstrumentId(0)).expect("instrument 0").spec();
        Ok::<_, Reject>(NewOrder {
            post_only: true,
            ..limit(id, 1, side, spec.parse_price(price)?.0, spec.parse_qty(qty)?.0)
        })
    };
    let mut v = populated();
    let before = v.books.clone();
    for (price, qty, reason) in [
        ("100.02", "0.0020", Reject::PriceOffTick),
        ("100.051", "0.0020", Reject::PriceOffTick),
        ("100.05", "0.0025", Reject::QtyOffLot),
        ("100.05", "0.00201", Reject::QtyOffLot),
        ("100.05", "0.0010", Reject::QtyBelowMin),
        ("100.05", "1.0010", Reject::QtyAboveMax),
        ("100.05", "0", Reject::QtyNotPositive),
        ("0.45", "0.0020", Reject::PriceOutOfRange),
        ("500.05", "0.0020", Reject::PriceOutOfRange),
        ("1e2", "0.0020", Reject::MalformedNumber),
    ] {
        assert_eq!(order_from_text(&v, 10, Buy, price, qty), Err(reason), "{price} x {qty}");
    }
    assert_eq!(v.books, before);

    // On the grid the book decides: 5.25 is tick 105, where a post-only buy
    // would take order 3.
    let taking = order_from_text(&v, 10, Buy, "5.25", "0.0020").expect("on the grid");
    assert_eq!((taking.price, taking.qty), (Price(105), Qty(2)));
    v.refuse(new(taking), Reject::PostOnlyWouldTake);
    let resting = order_from_text(&v, 11, Buy, "5.20", "0.0100").expect("on the grid");
    assert_eq!((resting.price, resting.qty), (Price(104), Qty(10)));
    v.accept(resting);
}

// ----------------------------------------------------------------------
// Identity and lifecycle
// ----------------------------------------------------------------------

#[test]
fn unknown_order_id_on_cancel_and_amend_is_rejected() {
    let mut v = populated();
    v.refuse(cancel(99, None), Reject::UnknownOrder);
    v.refuse(cancel(99, Some(1)), Reject::UnknownOrder);
    v.refuse(cancel(0, None), Reject::UnknownOrder);
    v.refuse(amend(99, None, 100, Some(3)), Reject::UnknownOrder);
    v.refuse(amend(99, Some(1), 100, None), Reject::UnknownOrder);
    let by_client = OrderRef::Client(AccountId(1), ClientOrderId(42));
    v.refuse(
        Command::Cancel(CancelOrder {
            instrument: InstrumentId(0),
            target: by_client,
            account: Some(AccountId(1)),
        }),
        Reject::UnknownOrder,
    );
    v.refuse(
        Command::Amend(AmendOrder {
            instrument: InstrumentId(0),
            target: by_client,
            account: None,
            new_price: Price(100),
            new_qty: None,
            new_client_order_id: ClientOrderId::NONE,
        }),
        Reject::UnknownOrder,
    );
}

#[test]
fn id_never_accepted_on_this_book_is_unknown_order() {
    // Order ids come from one sequencer for all instruments, so a book sees
    // gaps. Order 1 is live on instrument 1; a cancel that names it on
    // instrument 0 must not say it is "no longer active".
    let mut v = Venue::with(2, BookConfig { max_orders: 64, ..BookConfig::default() });
    v.accept(NewOrder { instrument: InstrumentId(1), ..limit(1, 1, Buy, 100, 2) });
    v.accept(limit(2, 1, Buy, 100, 2));
    v.refuse(cancel(1, Some(1)), Reject::UnknownOrder);
    v.refuse(amend(1, Some(1), 100, Some(3)), Reject::UnknownOrder);
    // Likewise an id whose order was refused.
    v.refuse(new(limit(3, 1, Buy, 100, 0)), Reject::QtyNotPositive);
    v.accept(limit(4, 1, Buy, 100, 2));
    v.refuse(cancel(3, Some(1)), Reject::UnknownOrder);
}

#[test]
fn cancel_of_another_accounts_order_is_reported_unknown() {
    let mut v = populated();
    v.refuse(cancel(1, Some(2)), Reject::UnknownOrder);
    v.refuse(cancel(5, Some(2)), Reject::UnknownOrder); // a dormant stop
    v.refuse(amend(1, Some(2), 100, Some(3)), Reject::UnknownOrder);
    v.refuse(
        Command::Cancel(CancelOrder {
            instrument: InstrumentId(0),
            target: OrderRef::Client(AccountId(1), ClientOrderId(0)),
            account: Some(AccountId(2)),
        }),
        Reject::UnknownOrder,
    );
    let client = NewOrder { client_order_id: ClientOrderId(7), ..limit(10, 1, Buy, 98, 2) };
    v.accept(client);
    v.refuse(
        Command::Cancel(CancelOrder {
            instrument: InstrumentId(0),
            target: OrderRef::Client(AccountId(1), ClientOrderId(7)),
            account: Some(AccountId(2)),
        }),
        Reject::UnknownOrder,
    );
    // Its owner and the operator can.
    assert!(matches!(v.run(cancel(1, Some(1)))[..], [.., EventKind::Cancelled { .. }]));
    assert!(matches!(v.run(cancel(10, None))[..], [.., EventKind::Cancelled { .. }]));
}

#[test]
fn cancel_of_another_accounts_finished_order_is_reported_unknown() {
    let mut v = populated();
    // Order 3 of account 3 is filled; account 2 probes ids 3 (finished) and
    // 1 (live, account 1): both must look the same, unknown.
    v.accept(limit(10, 9, Buy, 105, 4));
    v.refuse(cancel(1, Some(2)), Reject::UnknownOrder);
    v.refuse(cancel(3, Some(2)), Reject::UnknownOrder);
    v.refuse(amend(3, Some(2), 100, None), Reject::UnknownOrder);
}

#[test]
fn duplicate_client_order_id_for_an_account_is_rejected() {
    let mut v = populated();
    let client = |order: NewOrder, id: u64| NewOrder { client_order_id: ClientOrderId(id), ..order };
    v.accept(client(limit(10, 1, Buy, 98, 2), 7));
    v.refuse(new(client(limit(11, 1, Sell, 120, 2), 7)), Reject::DuplicateClientOrderId);
    v.refuse(new(client(NewOrder::market(11, 1, Sell, 2), 7)), Reject::DuplicateClientOrderId);
    v.refuse(new(client(stop(11, 1, Buy, 150, 2), 7)), Reject::DuplicateClientOrderId);
    // An amend that would take it for another live order of the account.
    v.accept(client(limit(12, 1, Buy, 97, 2), 8));
    v.refuse(
        Command::Amend(AmendOrder {
            instrument: InstrumentId(0),
            target: OrderRef::Id(OrderId(12)),
            account: Some(AccountId(1)),
            new_price: Price(97),
            new_qty: None,
            new_client_order_id: ClientOrderId(7),
        }),
        Reject::DuplicateClientOrderId,
    );
    // The same id for another account is fine, and so is "no id" twice.
    v.accept(client(limit(13, 2, Buy, 98, 2), 7));
    v.accept(limit(14, 1, Buy, 96, 2));
    v.accept(limit(15, 1, Buy, 96, 2));
    // Once the order is gone, its id is free again.
    v.run(cancel(10, None));
    v.accept(client(limit(16, 1, Buy, 98, 2), 7));
}

#[test]
fn duplicate_order_id_is_rejected() {
    let mut v = populated();
    v.refuse(new(limit(1, 1, Buy, 100, 2)), Reject::DuplicateOrderId);
    v.refuse(new(limit(3, 9, Buy, 101, 2)), Reject::DuplicateOrderId);
    v.refuse(new(NewOrder::market(4, 9, Buy, 2)), Reject::DuplicateOrderId);
    v.refuse(new(stop(5, 1, Buy, 150, 2)), Reject::DuplicateOrderId);
}

#[test]
fn the_largest_order_id_is_out_of_range() {
    // u64::MAX marks a free slot of the book's id table; no sequence
    // reaches it, and a command naming it changes nothing.
    let mut v = populated();
    v.refuse(new(limit(u64::MAX, 1, Buy, 100, 2)), Reject::NumberOutOfRange);
    v.refuse(new(NewOrder::market(u64::MAX, 9, Buy, 2)), Reject::NumberOutOfRange);
    v.refuse(cancel(u64::MAX, None), Reject::UnknownOrder);
}

#[test]
fn amend_or_cancel_of_filled_or_cancelled_order_is_unknown() {
    let mut v = populated();
    v.accept(limit(10, 9, Buy, 105, 4)); // fills order 3
    v.run(cancel(2, None));
    v.accept(NewOrder::market(11, 9, Buy, 2)); // never rests
    for id in [3, 2, 10, 11] {
        v.refuse(amend(id, None, 100, Some(4)), Reject::UnknownOrder);
        v.refuse(cancel(id, None), Reject::UnknownOrder);
    }
    v.refuse(amend(3, Some(3), 105, None), Reject::UnknownOrder);
    v.refuse(cancel(2, Some(2)), Reject::UnknownOrder);
}

#[test]
fn amend_of_dormant_stop_is_not_amendable() {
    let mut v = populated();
    v.refuse(amend(5, None, 150, None), Reject::NotAmendable);
    v.refuse(amend(5, Some(1), 200, Some(3)), Reject::NotAmendable);
    v.accept(stop_limit(10, 1, Sell, 50, 40, 2));
    v.refuse(amend(10, None, 41, None), Reject::NotAmendable);
}

#[test]
fn amend_to_quantity_not_above_filled_is_too_low() {
    let mut v = populated();
    // Order 1: 5 lots, 3 filled.
    v.accept(limit(10, 9, Sell, 100, 3));
    assert_eq!(
        v.books.book(InstrumentId(0)).and_then(|b| b.order(OrderId(1))).map(|o| o.leaves),
        Some(Qty(2))
    );
    v.refuse(amend(1, None, 100, Some(3)), Reject::AmendQtyTooLow);
    v.refuse(amend(1, None, 101, Some(2)), Reject::AmendQtyTooLow);
    // 4 leaves one lot.
    assert!(matches!(
        v.run(amend(1, None, 100, Some(4)))[..],
        [EventKind::Amended { leaves: Qty(1), .. }, ..]
    ));

    // Self-trade-decremented quantity counts as done too: order 12 (6 lots)
    // was decremented by 3 against its own order 11.
    v.accept(limit(11, 5, Sell, 104, 3));
    v.accept(NewOrder { stp: StpMode::DecrementAndCancel, ..limit(12, 5, Buy, 104, 6) });
    let order = v.books.book(InstrumentId(0)).and_then(|b| b.order(OrderId(12))).expect("rests");
    assert_eq!((order.qty, order.leaves), (Qty(6), Qty(3)));
    v.refuse(amend(12, Some(5), 104, Some(3)), Reject::AmendQtyTooLow);
}

// ----------------------------------------------------------------------
// Instrument state
// ----------------------------------------------------------------------

#[test]
fn order_for_halted_instrument_is_rejected() {
    let mut v = populated();
    v.run(Command::SetStatus { instrument: InstrumentId(0), status: TradingStatus::Halted });
    v.refuse(new(limit(10, 1, Buy, 100, 2)), Reject::InstrumentHalted);
    v.refuse(new(NewOrder::market(11, 1, Buy, 2)), Reject::InstrumentHalted);
    v.refuse(new(stop(12, 1, Buy, 150, 2)), Reject::InstrumentHalted);
    v.refuse(amend(1, None, 100, Some(3)), Reject::InstrumentHalted);
}

#[test]
fn order_for_closed_instrument_is_rejected() {
    let mut v = populated();
    v.run(Command::SetStatus { instrument: InstrumentId(0), status: TradingStatus::Closed });
    v.refuse(new(limit(10, 1, Buy, 100, 2)), Reject::InstrumentClosed);
    v.refuse(new(with_tif(limit(11, 1, Buy, 100, 2), TimeInForce::Ioc)), Reject::InstrumentClosed);
    v.refuse(amend(1, None, 101, None), Reject::InstrumentClosed);
}

#[test]
fn commands_for_unknown_instrument_are_rejected() {
    let mut v = populated();
    let elsewhere = InstrumentId(7);
    v.refuse(new(NewOrder { instrument: elsewhere, ..limit(10, 1, Buy, 100, 2) }), Reject::UnknownInstrument);
    v.refuse(
        Command::Cancel(CancelOrder {
            instrument: elsewhere,
            target: OrderRef::Id(OrderId(1)),
            account: None,
        }),
        Reject::UnknownInstrument,
    );
    v.refuse(
        Command::Amend(AmendOrder {
            instrument: elsewhere,
            target: OrderRef::Id(OrderId(1)),
            account: Some(AccountId(1)),
            new_price: Price(100),
            new_qty: None,
            new_client_order_id: ClientOrderId::NONE,
        }),
        Reject::UnknownInstrument,
    );
    v.refuse(
        Command::MassCancel { instrument: Some(elsewhere), account: Some(AccountId(1)) },
        Reject::UnknownInstrument,
    );
    v.refuse(
        Command::SetStatus { instrument: elsewhere, status: TradingStatus::Halted },
        Reject::UnknownInstrument,
    );
}

// ----------------------------------------------------------------------
// Order shape
// ----------------------------------------------------------------------

#[test]
fn invalid_iceberg_display_is_rejected() {
    let mut v = populated();
    let display = |order: NewOrder, qty: i64| NewOrder { display_qty: Qty(qty), ..order };
    v.refuse(new(display(limit(10, 1, Buy, 100, 5), 6)), Reject::InvalidDisplayQty);
    v.refuse(new(display(limit(10, 1, Buy, 100, 5), -1)), Reject::InvalidDisplayQty);
    v.refuse(
        new(display(with_tif(limit(10, 1, Buy, 100, 5), TimeInForce::Ioc), 2)),
        Reject::InvalidOrderCombination,
    );
    v.refuse(
        new(display(with_tif(limit(10, 1, Buy, 100, 5), TimeInForce::Fok), 2)),
        Reject::InvalidOrderCombination,
    );
    v.refuse(new(display(NewOrder::market(10, 1, Buy, 5), 2)), Reject::InvalidOrderCombination);
    v.refuse(new(display(stop(10, 1, Buy, 150, 5), 2)), Reject::InvalidOrderCombination);
    // A display of the whole quantity is a plain order, allowed everywhere.
    v.accept(display(with_tif(limit(11, 1, Buy, 90, 5), TimeInForce::Ioc), 5));
    v.accept(display(stop_limit(12, 1, Buy, 150, 150, 5), 2));
}

#[test]
fn post_only_on_ioc_or_market_is_rejected() {
    let mut v = populated();
    let post = |order: NewOrder| NewOrder { post_only: true, ..order };
    v.refuse(
        new(post(with_tif(limit(10, 1, Buy, 90, 2), TimeInForce::Ioc))),
        Reject::InvalidOrderCombination,
    );
    v.refuse(
        new(post(with_tif(limit(10, 1, Buy, 90, 2), TimeInForce::Fok))),
        Reject::InvalidOrderCombination,
    );
    v.refuse(new(post(NewOrder::market(10, 1, Buy, 2))), Reject::InvalidOrderCombination);
    v.refuse(new(post(stop_limit(10, 1, Buy, 150, 150, 2))), Reject::InvalidOrderCombination);
}

#[test]
fn gtd_with_expire_time_not_in_the_future_is_rejected() {
    let mut v = populated();
    let gtd =
        |order: NewOrder, at: u64| NewOrder { tif: TimeInForce::Gtd, expire_time: Timestamp(at), ..order };
    v.refuse(new(gtd(limit(10, 1, Buy, 100, 2), 999)), Reject::InvalidExpireTime);
    v.refuse(new(gtd(limit(10, 1, Buy, 100, 2), 1_000)), Reject::InvalidExpireTime);
    v.refuse(new(gtd(limit(10, 1, Buy, 100, 2), 0)), Reject::InvalidExpireTime);
    v.refuse(new(gtd(stop(10, 1, Buy, 150, 2), 500)), Reject::InvalidExpireTime);
    v.accept(gtd(limit(11, 1, Buy, 100, 2), 1_001));
}

#[test]
fn negative_quote_budget_is_rejected() {
    let mut v = populated();
    v.refuse(new(NewOrder { quote_budget: -1, ..NewOrder::market(10, 1, Buy, 2) }), Reject::InvalidBudget);
    v.refuse(new(NewOrder { quote_budget: i64::MIN, ..stop(10, 1, Buy, 150, 2) }), Reject::InvalidBudget);
}

#[test]
fn quote_budget_on_limit_or_sell_is_rejected() {
    let mut v = populated();
    let budget = |order: NewOrder| NewOrder { quote_budget: 1_000, ..order };
    v.refuse(new(budget(limit(10, 1, Buy, 100, 2))), Reject::InvalidOrderCombination);
    v.refuse(new(budget(stop_limit(10, 1, Buy, 150, 150, 2))), Reject::InvalidOrderCombination);
    v.refuse(new(budget(NewOrder::market(10, 1, Sell, 2))), Reject::InvalidOrderCombination);
    v.refuse(new(budget(stop(10, 1, Sell, 50, 2))), Reject::InvalidOrderCombination);
    v.accept(budget(NewOrder::market(11, 1, Buy, 2)));
}

// ----------------------------------------------------------------------
// Capacity and conditions of the book
// ----------------------------------------------------------------------

#[test]
fn book_full_rejects_orders_that_would_occupy_it_ioc_still_accepted() {
    let mut v = Venue::with(1, BookConfig { max_orders: 3, ..BookConfig::default() });
    v.accept(limit(1, 1, Buy, 100, 10));
    v.accept(limit(2, 2, Buy, 99, 10));
    v.accept(stop(3, 3, Buy, 200, 5));
    v.refuse(new(limit(4, 4, Sell, 105, 2)), Reject::BookFull);
    v.refuse(new(with_tif(limit(4, 4, Sell, 105, 2), TimeInForce::Day)), Reject::BookFull);
    v.refuse(new(stop(4, 4, Sell, 50, 2)), Reject::BookFull);
    v.refuse(new(stop_limit(4, 4, Sell, 50, 50, 2)), Reject::BookFull);
    // Orders that never rest are still accepted.
    let events = v.accept(with_tif(limit(5, 4, Sell, 101, 2), TimeInForce::Ioc));
    assert!(matches!(events[..], [_, EventKind::Cancelled { .. }]));
    let events = v.accept(with_tif(limit(6, 4, Sell, 100, 2), TimeInForce::Ioc));
    assert!(events.iter().any(|e| matches!(e, EventKind::Trade { .. })));
    v.accept(with_tif(limit(7, 4, Sell, 100, 2), TimeInForce::Fok));
    v.accept(NewOrder::market(8, 4, Sell, 2));
    assert_eq!(v.books.book(InstrumentId(0)).map(|b| b.len()), Some(3));
    // Room again after a cancel.
    v.run(cancel(2, None));
    v.accept(limit(9, 4, Sell, 105, 2));
}

#[test]
fn post_only_that_would_take_is_rejected() {
    let mut v = populated();
    let post = |order: NewOrder| NewOrder { post_only: true, ..order };
    v.refuse(new(post(limit(10, 1, Buy, 105, 2))), Reject::PostOnlyWouldTake);
    v.refuse(new(post(limit(10, 1, Buy, 200, 2))), Reject::PostOnlyWouldTake);
    v.refuse(new(post(limit(10, 3, Sell, 100, 2))), Reject::PostOnlyWouldTake);
    v.refuse(
        new(NewOrder { stp: StpMode::Allow, ..post(limit(10, 3, Buy, 105, 2)) }),
        Reject::PostOnlyWouldTake,
    );
    // A resting post-only order cannot be amended into a take either.
    v.accept(post(limit(11, 1, Buy, 104, 2)));
    v.refuse(amend(11, Some(1), 105, None), Reject::PostOnlyWouldTake);
}

#[test]
fn stop_that_would_trigger_immediately_is_rejected() {
    let mut v = populated();
    v.accept(limit(10, 9, Sell, 100, 2)); // trades at 100
    assert_eq!(v.books.book(InstrumentId(0)).and_then(|b| b.last_price()), Some(Price(100)));
    v.refuse(new(stop(11, 1, Buy, 100, 2)), Reject::StopWouldTriggerImmediately);
    v.refuse(new(stop(11, 1, Buy, 95, 2)), Reject::StopWouldTriggerImmediately);
    v.refuse(new(stop_limit(11, 1, Buy, 100, 110, 2)), Reject::StopWouldTriggerImmediately);
    v.refuse(new(stop(11, 1, Sell, 100, 2)), Reject::StopWouldTriggerImmediately);
    v.refuse(new(stop_limit(11, 1, Sell, 101, 90, 2)), Reject::StopWouldTriggerImmediately);
    v.accept(stop(12, 1, Buy, 101, 2));
    v.accept(stop(13, 1, Sell, 99, 2));
}

// ----------------------------------------------------------------------
// Over a long session
// ----------------------------------------------------------------------

/// xorshift64*: a deterministic source of varied commands.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn between(&mut self, low: i64, high: i64) -> i64 {
        low + (self.next() % (high - low + 1) as u64) as i64
    }
}

#[test]
fn no_refusal_ever_changes_anything() {
    let mut rng = Rng(0x0bad_5eed);
    let mut v = Venue::with(2, BookConfig { max_orders: 150, ..BookConfig::default() });
    let (mut refusals, mut accepted) = (0, 0);
    for step in 0..4_000u64 {
        v.now = Timestamp(1_000 + step);
        // Mostly the two known instruments, sometimes an unknown one.
        let instrument = InstrumentId([0, 1, 0, 1, 0, 1, 0, 1, 0, 2][rng.between(0, 9) as usize]);
        let id = OrderId(rng.between(1, step as i64 + 1) as u64);
        let command = match rng.between(0, 9) {
            0..=5 => {
                let mut order = limit(step + 1, rng.between(1, 3) as u32, Buy, rng.between(5, 15) * 10, 2);
                order.instrument = instrument;
                order.side = if rng.between(0, 1) == 0 { Buy } else { Sell };
                order.qty = Qty(rng.between(-1, 20));
                order.display_qty = Qty([0, 0, 0, 0, 0, 0, -1, 1, 3, 30][rng.between(0, 9) as usize]);
                order.client_order_id = ClientOrderId(rng.between(0, 30) as u64);
                order.post_only = rng.between(0, 9) == 0;
                order.quote_budget = [0, 0, 0, 0, 0, 0, 0, 0, 500, -1][rng.between(0, 9) as usize];
                order.stop_price = Price(rng.between(5, 15) * 10);
                order.kind = [
                    OrderKind::Limit,
                    OrderKind::Limit,
                    OrderKind::Market,
                    OrderKind::Stop,
                    OrderKind::StopLimit,
                ][rng.between(0, 4) as usize];
                order.tif = [
                    TimeInForce::Gtc,
                    TimeInForce::Gtc,
                    TimeInForce::Ioc,
                    TimeInForce::Fok,
                    TimeInForce::Gtd,
                    TimeInForce::Day,
                ][rng.between(0, 5) as usize];
                order.expire_time = Timestamp(v.now.0 + rng.between(0, 20) as u64 - 10);
                Command::New(order)
            }
            6 => Command::Cancel(CancelOrder {
                instrument,
                target: OrderRef::Id(id),
                account: Some(AccountId(rng.between(1, 3) as u32)),
            }),
            7 => Command::Amend(AmendOrder {
                instrument,
                target: OrderRef::Id(id),
                account: None,
                new_price: Price(rng.between(0, 15) * 10),
                new_qty: Some(Qty(rng.between(-1, 12))),
                new_client_order_id: ClientOrderId(rng.between(0, 3) as u64),
            }),
            8 => Command::Expire,
            _ => Command::SetStatus {
                instrument,
                status: [
                    TradingStatus::Open,
                    TradingStatus::Open,
                    TradingStatus::Open,
                    TradingStatus::Halted,
                ][rng.between(0, 3) as usize],
            },
        };
        let before = v.books.clone();
        let mut out = Vec::new();
        v.books.apply(&command, v.now, &mut out);
        for book in v.books.iter() {
            book.assert_invariants();
        }
        let refused = out.iter().any(|e| matches!(e.kind, EventKind::Rejected { .. }));
        if refused {
            refusals += 1;
            assert_eq!(out.len(), 1, "a refusal with other events: {command:?} -> {out:?}");
            assert_eq!(v.books, before, "a refusal changed the books: {command:?}");
        } else if matches!(command, Command::New(_)) {
            accepted += 1;
        }
    }
    assert!(refusals > 500 && accepted > 400, "{refusals} refusals, {accepted} accepted orders");
}
