//! Differential tests of the order book against a deliberately simple
//! reference model written from the crate's public contract only (the crate
//! documentation, the command and event types, the domain types).
//!
//! The model keeps live orders in a plain `Vec` and finds everything by linear
//! scans: the best counter-order is the minimum of `(price, arrival sequence)`
//! over the opposite side, an iceberg refresh simply takes a new arrival
//! sequence number, stops are chosen by scanning for the documented trigger
//! order. Random command streams are applied to [`Books::apply`] and to the
//! model; after every command the test compares lifecycle events, the
//! snapshot, the book's own invariants, quantity conservation, and the L2/L3
//! deltas replayed on their own.
//!
//! # Where the documentation leaves a choice open
//!
//! * Validation precedence is not documented. The model computes *every*
//!   rejection that applies; when more than one does, the book must reject
//!   with one of them (same request fields), and nothing may change.
//! * Whether `BookFull` also refuses orders that can never rest (IOC, FOK,
//!   market) is not documented: when the model's pool is full and such an
//!   order arrives, either `Rejected(BookFull)` or normal processing passes
//!   (the book, as probed, always processes them).
//! * Some combinations the docs do not classify are never generated: market
//!   orders with a time in force other than IOC/FOK, a market or stop order
//!   whose display quantity equals its quantity, an amend whose new client
//!   order id equals the order's current one.
//! * Everything else the docs only imply is decided as listed on [`Model`]
//!   (`RESOLVED`); several of those were probed against the book first.

use std::collections::{BTreeMap, HashMap};
use std::fmt::Write as _;
use std::panic::{AssertUnwindSafe, catch_unwind};

use proptest::prelude::*;
use proptest::test_runner::TestCaseError;
use venue_matching::{
    AccountId, AmendOrder, BookConfig, BookOrder, BookSnapshot, Books, CancelOrder, CancelReason,
    ClientOrderId, Command, Event, EventKind, InstrumentId, InstrumentSpec, NewOrder, OrderBook, OrderId,
    OrderKind, OrderRef, Price, Qty, Reject, RequestKind, Side, StpGroup, StpMode, TimeInForce, Timestamp,
    TradeId, TradingStatus,
};

const INSTR: InstrumentId = InstrumentId(0);
const BAD_INSTR: InstrumentId = InstrumentId(1);
const MAX_ORDERS: u32 = 64;
const MAX_QTY: i64 = 1000;
const MAX_PRICE: i64 = 1000;
const START_TIME: u64 = 1_000;

fn spec() -> InstrumentSpec {
    let mut spec = InstrumentSpec::spot(0, "TST-USD", 2, 0);
    spec.min_qty = Qty(2);
    spec.max_qty = Qty(MAX_QTY);
    spec.max_price = Price(MAX_PRICE);
    spec
}

/// The model's books pre-fault their pools (the venue's setting), the rule
/// tests' books do not: both must behave the same.
fn new_books() -> Books {
    Books::new(vec![spec()], BookConfig { max_orders: MAX_ORDERS, prefault: true, ..BookConfig::default() })
        .expect("valid spec")
}

fn book(books: &Books) -> &OrderBook {
    books.book(INSTR).expect("instrument 0")
}

// ---------------------------------------------------------------------------
// The reference model
// ---------------------------------------------------------------------------

/// Resolved self-trade group: explicit groups and accounts never collide.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Group {
    Account(u32),
    Shared(u32),
}

fn group_of(account: AccountId, group: StpGroup) -> Group {
    if group.0 == 0 { Group::Account(account.0) } else { Group::Shared(group.0) }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    /// In a price level (or, transiently, being matched as a taker).
    Active,
    /// A stop waiting for its trigger.
    Dormant,
}

#[derive(Clone, Debug)]
struct MOrder {
    id: u64,
    cid: u64,
    account: u32,
    group: Group,
    side: Side,
    /// `Stop`/`StopLimit` while dormant; `Market`/`Limit` once active.
    kind: OrderKind,
    tif: TimeInForce,
    /// Limit price; 0 for market and stop-market orders.
    price: i64,
    /// Stop price of a stop or stop-limit (kept after the trigger), else 0.
    stop_price: i64,
    qty: i64,
    leaves: i64,
    shown: i64,
    /// Iceberg slice; 0 for a fully shown order.
    display: i64,
    expire: u64,
    budget: Option<i64>,
    stp: StpMode,
    post_only: bool,
    /// Arrival sequence at its level: smaller is earlier.
    seq: u64,
    state: State,
}

impl MOrder {
    fn limit(&self) -> Option<i64> {
        if self.kind == OrderKind::Market { None } else { Some(self.price) }
    }

    fn slice(&self) -> i64 {
        if self.display > 0 { self.display.min(self.leaves) } else { self.leaves }
    }

    fn view(&self) -> BookOrder {
        BookOrder {
            order_id: OrderId(self.id),
            client_order_id: ClientOrderId(self.cid),
            account: AccountId(self.account),
            side: self.side,
            kind: self.kind,
            tif: self.tif,
            price: Price(self.price),
            stop_price: Price(self.stop_price),
            qty: Qty(self.qty),
            leaves: Qty(self.leaves),
            shown: Qty(if self.state == State::Dormant { 0 } else { self.shown }),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum End {
    /// Filled, or nothing (more) to trade against.
    Done,
    /// Self-trade prevention stopped the taker.
    Stp,
    /// The quote budget cannot buy the next lot.
    Budget,
}

/// What the model expects from one command.
#[derive(Clone, Debug, Default)]
struct Expected {
    /// Lifecycle events, in order.
    events: Vec<Event>,
    /// When the command is refused: every rejection that applies. With more
    /// than one the documented contract does not say which comes first.
    reject_set: Vec<Reject>,
    /// The order cannot rest but the pool is full: `BookFull` is also fine.
    bookfull_optional: bool,
}

/// The reference model of one book.
///
/// RESOLVED (the docs imply but do not spell these out; the model follows
/// the reading given here):
/// * trade ids start at 1 and increase by one per trade;
/// * `Accepted.price` is the limit price of limit and stop-limit orders and 0
///   for market and stop orders;
/// * a triggered stop-limit that rests shows `kind: Limit` and keeps its stop
///   price (documented on `BookOrder` since 8002e3b);
/// * a cancel by an operator (`account: None`) reports `CancelReason::Requested`;
/// * on decrement-and-cancel the resting order's event comes before the
///   incoming order's; the incoming order, when it survives, gets a `Reduced`
///   event too (it is live);
/// * cancel-both emits the resting order's `Cancelled` before the incoming;
/// * a quote budget is checked when about to trade with a non-self order (a
///   resting order of the own STP group is handled by STP first);
/// * FOK fillability is decided by a dry run of the real matching: the FOK
///   order is fillable when the dry run *trades* its whole quantity, so
///   liquidity removed by STP cancel-resting does not count, STP
///   cancel-incoming/both stops the count, and quantity that
///   decrement-and-cancel would remove is not traded (so a FOK with that mode
///   is refused as soon as it would meet its own group before being filled);
/// * an amend that keeps priority keeps the iceberg's current shown slice,
///   capped at the new leaves; an amend that loses priority shows a new slice;
/// * a client-order-id reference only finds live orders;
/// * a dormant GTD/DAY stop expires like a resting order;
/// * a stop order takes any time in force: it is dormant like any stop and,
///   once triggered, a market order with that time in force (FOK: all or
///   nothing; otherwise never rests, remainder `NoLiquidity`);
/// * a market FOK buy counts its quote budget when deciding fillability;
/// * a stop-limit may be an iceberg (GTC/GTD/DAY) and rests as one;
/// * an amend of a post-only order to a price at which it would trade is
///   refused with `PostOnlyWouldTake`.
#[derive(Clone, Debug)]
struct Model {
    /// Live orders: resting and dormant stops, in no particular order.
    orders: Vec<MOrder>,
    /// Every order ever accepted, (id, account): the resolver picks dead
    /// orders from it as cancel and amend targets.
    ever: Vec<(u64, u32)>,
    status: TradingStatus,
    last: Option<i64>,
    next_trade: u64,
    next_seq: u64,
}

fn lifecycle(kind: EventKind) -> Event {
    Event { instrument: INSTR, kind }
}

fn crosses(taker: Side, limit: Option<i64>, maker_price: i64) -> bool {
    match (taker, limit) {
        (_, None) => true,
        (Side::Buy, Some(limit)) => maker_price <= limit,
        (Side::Sell, Some(limit)) => maker_price >= limit,
    }
}

fn check_qty(qty: i64) -> Option<Reject> {
    spec().check_qty(Qty(qty)).err()
}

fn check_price(price: i64) -> Option<Reject> {
    spec().check_price(Price(price)).err()
}

impl Model {
    fn new() -> Model {
        Model {
            orders: Vec::new(),
            ever: Vec::new(),
            status: TradingStatus::Open,
            last: None,
            next_trade: 1,
            next_seq: 0,
        }
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn live(&self, id: u64) -> Option<usize> {
        self.orders.iter().position(|o| o.id == id)
    }

    fn cid_in_use(&self, account: u32, cid: u64, except: Option<u64>) -> bool {
        cid != 0 && self.orders.iter().any(|o| o.account == account && o.cid == cid && Some(o.id) != except)
    }

    /// Index of the resting order an incoming order on `side` would meet
    /// first: best price, then earliest arrival.
    fn best_maker(&self, side: Side, limit: Option<i64>) -> Option<usize> {
        let opposite = side.opposite();
        self.orders
            .iter()
            .enumerate()
            .filter(|(_, o)| o.state == State::Active && o.side == opposite && crosses(side, limit, o.price))
            .min_by_key(|(_, o)| (if opposite == Side::Sell { o.price } else { -o.price }, o.seq))
            .map(|(i, _)| i)
    }

    fn resting(&self, side: Side) -> Vec<&MOrder> {
        let mut v: Vec<&MOrder> =
            self.orders.iter().filter(|o| o.state == State::Active && o.side == side).collect();
        v.sort_by_key(|o| (if side == Side::Sell { o.price } else { -o.price }, o.seq));
        v
    }

    fn stops(&self, side: Side) -> Vec<&MOrder> {
        let mut v: Vec<&MOrder> =
            self.orders.iter().filter(|o| o.state == State::Dormant && o.side == side).collect();
        v.sort_by_key(|o| (if side == Side::Buy { o.stop_price } else { -o.stop_price }, o.id));
        v
    }

    fn snapshot(&self) -> BookSnapshot {
        BookSnapshot {
            bids: self.resting(Side::Buy).into_iter().map(MOrder::view).collect(),
            asks: self.resting(Side::Sell).into_iter().map(MOrder::view).collect(),
            buy_stops: self.stops(Side::Buy).into_iter().map(MOrder::view).collect(),
            sell_stops: self.stops(Side::Sell).into_iter().map(MOrder::view).collect(),
            last_price: self.last.map(Price),
        }
    }

    fn stop_reached(&self, side: Side, stop: i64) -> bool {
        match (self.last, side) {
            (None, _) => false,
            (Some(last), Side::Buy) => last >= stop,
            (Some(last), Side::Sell) => last <= stop,
        }
    }

    // --- commands -----------------------------------------------------------

    fn apply(&mut self, cmd: &Command, now: Timestamp) -> Expected {
        let mut exp = Expected::default();
        let mut out = Vec::new();
        match *cmd {
            Command::New(ref o) => {
                let mut rejects = Vec::new();
                if o.instrument != INSTR {
                    rejects.push(Reject::UnknownInstrument);
                } else {
                    let (set, optional) = self.new_rejects(o, now);
                    rejects = set;
                    exp.bookfull_optional = optional;
                }
                if rejects.is_empty() {
                    self.new_order(o, &mut out);
                } else {
                    out.push(EventKind::Rejected {
                        order_id: o.order_id,
                        client_order_id: o.client_order_id,
                        account: o.account,
                        request: RequestKind::New,
                        reason: rejects[0],
                    });
                    exp.reject_set = rejects;
                }
            }
            Command::Cancel(ref c) => {
                let found = if c.instrument == INSTR {
                    self.lookup(c.target, c.account)
                } else {
                    Err(Reject::UnknownInstrument)
                };
                match found {
                    Ok(i) => {
                        let o = self.orders.remove(i);
                        out.push(EventKind::Cancelled {
                            order_id: OrderId(o.id),
                            account: AccountId(o.account),
                            qty: Qty(o.leaves),
                            reason: CancelReason::Requested,
                        });
                    }
                    Err(reason) => {
                        let (order_id, client_order_id) = ref_ids(c.target);
                        out.push(EventKind::Rejected {
                            order_id,
                            client_order_id,
                            account: c.account.unwrap_or_default(),
                            request: RequestKind::Cancel,
                            reason,
                        });
                        exp.reject_set = vec![reason];
                    }
                }
            }
            Command::Amend(ref a) => {
                let (rejects, found) = if a.instrument == INSTR {
                    self.amend_rejects(a)
                } else {
                    (vec![Reject::UnknownInstrument], None)
                };
                match (rejects.is_empty(), found) {
                    (true, Some(i)) => self.amend(i, a, &mut out),
                    _ => {
                        let (order_id, client_order_id) = ref_ids(a.target);
                        out.push(EventKind::Rejected {
                            order_id,
                            client_order_id,
                            account: a.account.unwrap_or_default(),
                            request: RequestKind::Amend,
                            reason: rejects[0],
                        });
                        exp.reject_set = rejects;
                    }
                }
            }
            Command::MassCancel { instrument, account } => {
                if instrument.is_some_and(|i| i != INSTR) {
                    out.push(EventKind::Rejected {
                        order_id: OrderId(0),
                        client_order_id: ClientOrderId::NONE,
                        account: account.unwrap_or_default(),
                        request: RequestKind::MassCancel,
                        reason: Reject::UnknownInstrument,
                    });
                    exp.reject_set = vec![Reject::UnknownInstrument];
                } else {
                    self.mass_cancel(account, &mut out);
                }
            }
            Command::SetStatus { instrument, status } => {
                if instrument == INSTR {
                    self.status = status;
                    out.push(EventKind::StatusChanged { status });
                } else {
                    out.push(EventKind::Rejected {
                        order_id: OrderId(0),
                        client_order_id: ClientOrderId::NONE,
                        account: AccountId::default(),
                        request: RequestKind::SetStatus,
                        reason: Reject::UnknownInstrument,
                    });
                    exp.reject_set = vec![Reject::UnknownInstrument];
                }
            }
            Command::Expire => self.expire_gtd(now.0, &mut out),
            Command::EndOfSession => {
                let mut day: Vec<u64> =
                    self.orders.iter().filter(|o| o.tif == TimeInForce::Day).map(|o| o.id).collect();
                day.sort_unstable();
                for id in day {
                    self.expire_one(id, &mut out);
                }
                self.expire_gtd(now.0, &mut out);
            }
        }
        let instrument = match *cmd {
            Command::New(ref o) if o.instrument != INSTR => o.instrument,
            Command::Cancel(ref c) if c.instrument != INSTR => c.instrument,
            Command::Amend(ref a) if a.instrument != INSTR => a.instrument,
            Command::MassCancel { instrument: Some(i), .. } if i != INSTR => i,
            Command::SetStatus { instrument, .. } if instrument != INSTR => instrument,
            _ => INSTR,
        };
        exp.events = out.into_iter().map(|kind| Event { instrument, kind }).collect();
        exp
    }

    /// Every documented rejection that applies to a new order, and whether
    /// `BookFull` is an acceptable (undocumented) outcome besides acceptance.
    fn new_rejects(&self, o: &NewOrder, now: Timestamp) -> (Vec<Reject>, bool) {
        let mut r = Vec::new();
        match self.status {
            TradingStatus::Open => {}
            TradingStatus::Halted => r.push(Reject::InstrumentHalted),
            TradingStatus::Closed => r.push(Reject::InstrumentClosed),
        }
        if self.live(o.order_id.0).is_some() {
            r.push(Reject::DuplicateOrderId);
        }
        if self.cid_in_use(o.account.0, o.client_order_id.0, None) {
            r.push(Reject::DuplicateClientOrderId);
        }
        r.extend(check_qty(o.qty.0));
        if matches!(o.kind, OrderKind::Limit | OrderKind::StopLimit) {
            r.extend(check_price(o.price.0));
        }
        if o.kind.is_stop() {
            r.extend(check_price(o.stop_price.0));
        }
        let display = o.display_qty.0;
        if display != 0 && (display < 0 || display > o.qty.0) {
            r.push(Reject::InvalidDisplayQty);
        }
        let iceberg = display > 0 && display < o.qty.0;
        let takes_only = matches!(o.tif, TimeInForce::Ioc | TimeInForce::Fok);
        // A display quantity, post-only flag or quote budget the order cannot
        // honour is InvalidOrderCombination (documented on `NewOrder` since
        // d73c091): an iceberg must be able to rest as a limit order, post-only
        // needs a resting limit order, a budget a market or stop buy.
        let market_like = matches!(o.kind, OrderKind::Market | OrderKind::Stop);
        let post_only_bad = o.post_only && (o.kind != OrderKind::Limit || takes_only);
        let iceberg_bad = iceberg && (takes_only || market_like);
        let budget_bad = o.quote_budget != 0 && !(market_like && o.side == Side::Buy);
        if post_only_bad || iceberg_bad || budget_bad {
            r.push(Reject::InvalidOrderCombination);
        }
        if o.quote_budget < 0 {
            // Not positive. On an order that cannot carry a budget at all,
            // its precedence over InvalidOrderCombination is open.
            r.push(Reject::InvalidBudget);
        }
        if o.tif == TimeInForce::Gtd && o.expire_time <= now {
            r.push(Reject::InvalidExpireTime);
        }
        if o.kind.is_stop() && self.stop_reached(o.side, o.stop_price.0) {
            r.push(Reject::StopWouldTriggerImmediately);
        }
        if o.post_only && o.kind == OrderKind::Limit && self.best_maker(o.side, Some(o.price.0)).is_some() {
            r.push(Reject::PostOnlyWouldTake);
        }
        let mut optional = false;
        if self.orders.len() >= MAX_ORDERS as usize {
            let may_need_slot = o.kind.is_stop() || (o.kind == OrderKind::Limit && o.tif.may_rest());
            if may_need_slot {
                r.push(Reject::BookFull);
            } else {
                optional = true;
            }
        }
        (r, optional)
    }

    fn new_order(&mut self, o: &NewOrder, out: &mut Vec<EventKind>) {
        let is_stop = o.kind.is_stop();
        let price = match o.kind {
            OrderKind::Limit | OrderKind::StopLimit => o.price.0,
            OrderKind::Market | OrderKind::Stop => 0,
        };
        let display = o.display_qty.0;
        let market_like = matches!(o.kind, OrderKind::Market | OrderKind::Stop);
        let order = MOrder {
            id: o.order_id.0,
            cid: o.client_order_id.0,
            account: o.account.0,
            group: group_of(o.account, o.stp_group),
            side: o.side,
            kind: o.kind,
            tif: o.tif,
            price,
            stop_price: if is_stop { o.stop_price.0 } else { 0 },
            qty: o.qty.0,
            leaves: o.qty.0,
            shown: 0,
            display: if display > 0 && display < o.qty.0 { display } else { 0 },
            expire: if o.tif == TimeInForce::Gtd { o.expire_time.0 } else { 0 },
            budget: (market_like && o.side == Side::Buy && o.quote_budget > 0).then_some(o.quote_budget),
            stp: o.stp,
            post_only: o.post_only,
            seq: 0,
            state: if is_stop { State::Dormant } else { State::Active },
        };
        self.ever.push((order.id, order.account));
        out.push(EventKind::Accepted {
            order_id: o.order_id,
            client_order_id: o.client_order_id,
            account: o.account,
            side: o.side,
            kind: o.kind,
            price: Price(price),
            qty: o.qty,
        });
        if is_stop {
            self.orders.push(order);
        } else if self.execute(order, out) {
            self.run_triggers(out);
        }
    }

    /// Matches an incoming order (new, triggered or amended), then rests or
    /// cancels its remainder. Returns whether anything traded.
    fn execute(&mut self, mut taker: MOrder, out: &mut Vec<EventKind>) -> bool {
        if taker.tif == TimeInForce::Fok {
            let mut probe = self.clone();
            let mut probe_taker = taker.clone();
            let mut probe_events = Vec::new();
            probe.match_taker(&mut probe_taker, &mut probe_events);
            let traded: i64 = probe_events
                .iter()
                .map(|e| if let EventKind::Trade { qty, .. } = e { qty.0 } else { 0 })
                .sum();
            if traded != taker.leaves {
                out.push(EventKind::Cancelled {
                    order_id: OrderId(taker.id),
                    account: AccountId(taker.account),
                    qty: Qty(taker.leaves),
                    reason: CancelReason::FokNotFillable,
                });
                return false;
            }
        }
        let (end, traded, gone) = self.match_taker(&mut taker, out);
        if gone || taker.leaves == 0 {
            return traded;
        }
        let reason = match end {
            End::Stp => Some(CancelReason::SelfTradePrevention),
            End::Budget => Some(CancelReason::BudgetExhausted),
            End::Done if taker.kind == OrderKind::Market => Some(CancelReason::NoLiquidity),
            End::Done if !taker.tif.may_rest() => Some(CancelReason::IocRemainder),
            End::Done => None,
        };
        match reason {
            Some(reason) => out.push(EventKind::Cancelled {
                order_id: OrderId(taker.id),
                account: AccountId(taker.account),
                qty: Qty(taker.leaves),
                reason,
            }),
            None => {
                taker.shown = taker.slice();
                taker.seq = self.seq();
                taker.state = State::Active;
                self.orders.push(taker);
            }
        }
        traded
    }

    /// The matching loop. Returns (why it stopped, whether anything traded,
    /// whether the taker was cancelled by a decrement to zero).
    fn match_taker(&mut self, taker: &mut MOrder, out: &mut Vec<EventKind>) -> (End, bool, bool) {
        let mut traded = false;
        loop {
            if taker.leaves == 0 {
                return (End::Done, traded, false);
            }
            let Some(i) = self.best_maker(taker.side, taker.limit()) else {
                return (End::Done, traded, false);
            };
            if self.orders[i].group == taker.group && taker.stp != StpMode::Allow {
                match taker.stp {
                    StpMode::CancelResting => self.cancel_stp(i, out),
                    StpMode::CancelIncoming => return (End::Stp, traded, false),
                    StpMode::CancelBoth => {
                        self.cancel_stp(i, out);
                        return (End::Stp, traded, false);
                    }
                    StpMode::DecrementAndCancel => {
                        let maker = &mut self.orders[i];
                        let d = maker.leaves.min(taker.leaves);
                        let hidden = maker.leaves - maker.shown;
                        maker.shown -= (d - hidden).max(0);
                        maker.leaves -= d;
                        if maker.leaves == 0 {
                            let maker = self.orders.remove(i);
                            out.push(EventKind::Cancelled {
                                order_id: OrderId(maker.id),
                                account: AccountId(maker.account),
                                qty: Qty(d),
                                reason: CancelReason::SelfTradePrevention,
                            });
                        } else {
                            out.push(EventKind::Reduced {
                                order_id: OrderId(maker.id),
                                account: AccountId(maker.account),
                                qty: Qty(d),
                                leaves: Qty(maker.leaves),
                            });
                        }
                        taker.leaves -= d;
                        if taker.leaves == 0 {
                            out.push(EventKind::Cancelled {
                                order_id: OrderId(taker.id),
                                account: AccountId(taker.account),
                                qty: Qty(d),
                                reason: CancelReason::SelfTradePrevention,
                            });
                            return (End::Done, traded, true);
                        }
                        out.push(EventKind::Reduced {
                            order_id: OrderId(taker.id),
                            account: AccountId(taker.account),
                            qty: Qty(d),
                            leaves: Qty(taker.leaves),
                        });
                    }
                    StpMode::Allow => unreachable!(),
                }
                continue;
            }
            let price = self.orders[i].price;
            let mut qty = self.orders[i].shown.min(taker.leaves);
            if let Some(budget) = taker.budget {
                let affordable = budget / price;
                if affordable == 0 {
                    return (End::Budget, traded, false);
                }
                qty = qty.min(affordable);
                taker.budget = Some(budget - qty * price);
            }
            let trade_id = self.next_trade;
            self.next_trade += 1;
            let maker = &mut self.orders[i];
            maker.shown -= qty;
            maker.leaves -= qty;
            taker.leaves -= qty;
            out.push(EventKind::Trade {
                trade_id: TradeId(trade_id),
                price: Price(price),
                qty: Qty(qty),
                maker_order_id: OrderId(maker.id),
                taker_order_id: OrderId(taker.id),
                maker_account: AccountId(maker.account),
                taker_account: AccountId(taker.account),
                maker_leaves: Qty(maker.leaves),
                taker_leaves: Qty(taker.leaves),
                aggressor: taker.side,
            });
            self.last = Some(price);
            traded = true;
            if self.orders[i].leaves == 0 {
                self.orders.remove(i);
            } else if self.orders[i].shown == 0 {
                // Iceberg refresh: a new slice at the back of the level.
                let seq = self.seq();
                let maker = &mut self.orders[i];
                maker.shown = maker.slice();
                maker.seq = seq;
            }
        }
    }

    fn cancel_stp(&mut self, i: usize, out: &mut Vec<EventKind>) {
        let maker = self.orders.remove(i);
        out.push(EventKind::Cancelled {
            order_id: OrderId(maker.id),
            account: AccountId(maker.account),
            qty: Qty(maker.leaves),
            reason: CancelReason::SelfTradePrevention,
        });
    }

    fn run_triggers(&mut self, out: &mut Vec<EventKind>) {
        while let Some(last) = self.last {
            let triggered = |side: Side| {
                self.orders
                    .iter()
                    .enumerate()
                    .filter(move |(_, o)| o.state == State::Dormant && o.side == side)
                    .filter(|(_, o)| self.stop_reached(o.side, o.stop_price))
            };
            let buy = triggered(Side::Buy).min_by_key(|(_, o)| (o.stop_price, o.id));
            let sell = triggered(Side::Sell).min_by_key(|(_, o)| (-o.stop_price, o.id));
            let i = match (buy, sell) {
                (Some((b, bo)), Some((s, so))) => {
                    if bo.id < so.id {
                        b
                    } else {
                        s
                    }
                }
                (Some((b, _)), None) => b,
                (None, Some((s, _))) => s,
                (None, None) => return,
            };
            let mut o = self.orders.remove(i);
            out.push(EventKind::Triggered {
                order_id: OrderId(o.id),
                account: AccountId(o.account),
                last_price: Price(last),
            });
            o.kind = if o.kind == OrderKind::Stop { OrderKind::Market } else { OrderKind::Limit };
            o.state = State::Active;
            self.execute(o, out);
        }
    }

    /// The live order a cancel or amend names. Anything else is
    /// `UnknownOrder`: never accepted, another account's, or no longer live
    /// (`OrderNotActive` is for layers that remember finished orders).
    fn lookup(&self, target: OrderRef, account: Option<AccountId>) -> Result<usize, Reject> {
        let found = match target {
            OrderRef::Id(id) => self.live(id.0),
            OrderRef::Client(owner, cid) => {
                self.orders.iter().position(|o| cid.is_some() && o.account == owner.0 && o.cid == cid.0)
            }
        };
        match found {
            Some(i) if account.is_none_or(|a| a.0 == self.orders[i].account) => Ok(i),
            _ => Err(Reject::UnknownOrder),
        }
    }

    fn amend_rejects(&self, a: &AmendOrder) -> (Vec<Reject>, Option<usize>) {
        let mut r = Vec::new();
        match self.status {
            TradingStatus::Open => {}
            TradingStatus::Halted => r.push(Reject::InstrumentHalted),
            TradingStatus::Closed => r.push(Reject::InstrumentClosed),
        }
        let found = self.lookup(a.target, a.account);
        match found {
            Err(e) => r.push(e),
            Ok(i) => {
                let o = &self.orders[i];
                if o.state == State::Dormant {
                    r.push(Reject::NotAmendable);
                }
                if a.new_qty.is_some_and(|q| q.0 <= o.qty - o.leaves) {
                    r.push(Reject::AmendQtyTooLow);
                }
                if self.cid_in_use(o.account, a.new_client_order_id.0, Some(o.id)) {
                    r.push(Reject::DuplicateClientOrderId);
                }
                // RESOLVED as the book does: a post-only order may not be
                // amended to a price at which it would trade.
                if o.post_only
                    && o.state == State::Active
                    && self.best_maker(o.side, Some(a.new_price.0)).is_some()
                {
                    r.push(Reject::PostOnlyWouldTake);
                }
            }
        }
        r.extend(check_price(a.new_price.0));
        if let Some(q) = a.new_qty {
            r.extend(check_qty(q.0));
        }
        (r, found.ok())
    }

    fn amend(&mut self, i: usize, a: &AmendOrder, out: &mut Vec<EventKind>) {
        let mut o = self.orders[i].clone();
        let new_qty = a.new_qty.map_or(o.qty, |q| q.0);
        let new_leaves = new_qty - (o.qty - o.leaves);
        let keep = a.new_price.0 == o.price && new_qty <= o.qty;
        if a.new_client_order_id.is_some() {
            o.cid = a.new_client_order_id.0;
        }
        out.push(EventKind::Amended {
            order_id: OrderId(o.id),
            account: AccountId(o.account),
            price: a.new_price,
            qty: Qty(new_qty),
            leaves: Qty(new_leaves),
            priority_kept: keep,
            client_order_id: ClientOrderId(o.cid),
        });
        o.qty = new_qty;
        o.leaves = new_leaves;
        o.price = a.new_price.0;
        if keep {
            o.shown = o.shown.min(new_leaves);
            self.orders[i] = o;
        } else {
            self.orders.remove(i);
            if self.execute(o, out) {
                self.run_triggers(out);
            }
        }
    }

    fn mass_cancel(&mut self, account: Option<AccountId>, out: &mut Vec<EventKind>) {
        let ids: Vec<u64> = [
            self.resting(Side::Buy),
            self.resting(Side::Sell),
            self.stops(Side::Buy),
            self.stops(Side::Sell),
        ]
        .into_iter()
        .flatten()
        .filter(|o| account.is_none_or(|a| a.0 == o.account))
        .map(|o| o.id)
        .collect();
        for &id in &ids {
            let i = self.live(id).expect("live");
            let o = self.orders.remove(i);
            out.push(EventKind::Cancelled {
                order_id: OrderId(o.id),
                account: AccountId(o.account),
                qty: Qty(o.leaves),
                reason: CancelReason::MassCancel,
            });
        }
        out.push(EventKind::MassCancelled { account, count: ids.len() as u32 });
    }

    fn expire_one(&mut self, id: u64, out: &mut Vec<EventKind>) {
        let i = self.live(id).expect("live");
        let o = self.orders.remove(i);
        out.push(EventKind::Expired {
            order_id: OrderId(o.id),
            account: AccountId(o.account),
            qty: Qty(o.leaves),
        });
    }

    fn expire_gtd(&mut self, now: u64, out: &mut Vec<EventKind>) {
        let mut due: Vec<(u64, u64)> = self
            .orders
            .iter()
            .filter(|o| o.tif == TimeInForce::Gtd && o.expire <= now)
            .map(|o| (o.expire, o.id))
            .collect();
        due.sort_unstable();
        for (_, id) in due {
            self.expire_one(id, out);
        }
    }
}

fn ref_ids(target: OrderRef) -> (OrderId, ClientOrderId) {
    match target {
        OrderRef::Id(id) => (id, ClientOrderId::NONE),
        OrderRef::Client(_, cid) => (OrderId(0), cid),
    }
}

// ---------------------------------------------------------------------------
// Random command streams
// ---------------------------------------------------------------------------

/// A new order before it is fitted to the current state.
#[derive(Clone, Debug)]
struct RawNew {
    passive: bool,
    budget_anywhere: bool,
    fresh_id: bool,
    account: u32,
    group: u32,
    buy: bool,
    kind: u8,
    tif: u8,
    price: i64,
    stop: i64,
    qty: i64,
    display: i64,
    post_only: bool,
    stp: u8,
    expire: i64,
    budget: i64,
    cid: u64,
    bad_instrument: bool,
}

/// An abstract operation; targets are picked against the model's state.
#[derive(Clone, Debug)]
enum Op {
    New(RawNew),
    Cancel { target: u8, pick: usize, by_client: bool, who: u8, bad_instrument: bool },
    Amend { target: u8, pick: usize, by_client: bool, who: u8, price: i64, qty: Option<i64>, cid: u64 },
    MassCancel { scope: u8, account: Option<u32> },
    SetStatus { sel: u8, bad_instrument: bool },
    Expire,
    EndOfSession,
}

fn price_strategy() -> impl Strategy<Value = i64> {
    // Mostly a narrow band; now and then a wide one, so that many levels are
    // created and emptied (the book compacts emptied levels).
    prop_oneof![60 => 95i64..=105, 4 => 60i64..=140, 1 => Just(0i64), 1 => Just(MAX_PRICE + 1)]
}

/// A new order; `busy` favours passive resting limit orders.
fn raw_new(busy: bool) -> impl Strategy<Value = RawNew> {
    let (limit_weight, other_weight, resting_weight) = if busy { (30, 2, 8) } else { (6, 4, 7) };
    let a = (
        (prop::bool::weighted(if busy { 0.95 } else { 0.67 }), prop::bool::weighted(0.05)),
        prop::bool::weighted(0.97),
        1u32..=4,
        prop_oneof![3 => Just(0u32), 1 => 1u32..=2],
        any::<bool>(),
        prop_oneof![limit_weight => 0u8..=5, other_weight => 6u8..=9],
        prop_oneof![resting_weight => prop_oneof![6 => Just(0u8), 1 => Just(7), 1 => Just(8)], 3 => 4u8..=6],
        price_strategy(),
        price_strategy(),
    );
    let b = (
        prop_oneof![60 => 1i64..=20, 1 => Just(0i64), 1 => Just(-3i64), 1 => Just(MAX_QTY + 1)],
        prop_oneof![12 => Just(0i64), 6 => 1i64..=8, 1 => Just(-1i64), 2 => 15i64..=25],
        prop::bool::weighted(0.1),
        0u8..5,
        prop_oneof![8 => 1i64..=8, 1 => Just(0i64), 1 => Just(-1i64)],
        prop_oneof![3 => Just(0i64), 2 => 50i64..=1500, 1 => Just(-5i64)],
        prop_oneof![3 => Just(0u64), 1 => 1u64..=6],
        prop::bool::weighted(0.01),
    );
    (a, b).prop_map(
        |(
            ((passive, budget_anywhere), fresh_id, account, group, buy, kind, tif, price, stop),
            (qty, display, post_only, stp, expire, budget, cid, bad_instrument),
        )| RawNew {
            passive,
            budget_anywhere,
            fresh_id,
            account,
            group,
            buy,
            kind,
            tif,
            price,
            stop,
            qty,
            display,
            post_only,
            stp,
            expire,
            budget,
            cid,
            bad_instrument,
        },
    )
}

/// One operation; `busy` streams mostly add orders, so the pool fills up.
fn op_strategy(busy: bool) -> impl Strategy<Value = Op> {
    let w = |normal: u32, busy_weight: u32| if busy { busy_weight } else { normal };
    prop_oneof![
        w(60, 90) => raw_new(busy).prop_map(Op::New),
        w(10, 2) => (0u8..10, any::<usize>(), prop::bool::weighted(0.3), 0u8..10, prop::bool::weighted(0.02))
            .prop_map(|(target, pick, by_client, who, bad_instrument)| Op::Cancel {
                target, pick, by_client, who, bad_instrument
            }),
        w(14, 4) => (
            0u8..10,
            any::<usize>(),
            prop::bool::weighted(0.3),
            0u8..10,
            prop_oneof![4 => Just(0i64), 3 => -3i64..=3, 1 => Just(i64::MIN)],
            prop_oneof![2 => Just(None), 3 => (-10i64..=10).prop_map(Some)],
            prop_oneof![5 => Just(0u64), 1 => 1u64..=6],
        )
            .prop_map(|(target, pick, by_client, who, price, qty, cid)| Op::Amend {
                target, pick, by_client, who, price, qty, cid
            }),
        w(1, 0) => (0u8..10, prop_oneof![1 => Just(None), 2 => (1u32..=4).prop_map(Some)])
            .prop_map(|(scope, account)| Op::MassCancel { scope, account }),
        w(6, 3) => (0u8..10, prop::bool::weighted(0.05))
            .prop_map(|(sel, bad_instrument)| Op::SetStatus { sel, bad_instrument }),
        w(4, 2) => Just(Op::Expire),
        w(1, 0) => Just(Op::EndOfSession),
    ]
}

type Stream = Vec<(u8, Op)>;

fn ops(busy: bool, len: std::ops::RangeInclusive<usize>) -> impl Strategy<Value = Stream> {
    let advance = prop_oneof![3 => Just(0u8), 2 => Just(1u8), 1 => 2u8..=3];
    prop::collection::vec((advance, op_strategy(busy)), len)
}

/// 50 to 300 commands; one stream in four has a busy middle part that
/// fills the book to its capacity.
fn stream_strategy() -> impl Strategy<Value = Stream> {
    prop_oneof![
        3 => ops(false, 50..=300),
        1 => (ops(false, 0..=40), ops(true, 160..=220), ops(false, 0..=40)).prop_map(|(mut a, b, c)| {
            a.extend(b);
            a.extend(c);
            a
        }),
    ]
}

/// Turns abstract operations into concrete commands, using the model to pick
/// targets (live, dead, rejected or unknown orders) and to steer clear of
/// undocumented combinations.
struct Resolver {
    model: Model,
    now: u64,
    next_id: u64,
    rejected_ids: Vec<u64>,
}

impl Resolver {
    fn new() -> Resolver {
        Resolver { model: Model::new(), now: START_TIME, next_id: 1, rejected_ids: Vec::new() }
    }

    fn resolve(&mut self, advance: u8, op: &Op) -> Command {
        self.now += u64::from(advance);
        match op {
            Op::New(raw) => Command::New(self.resolve_new(raw)),
            &Op::Cancel { target, pick, by_client, who, bad_instrument } => {
                let (target, account) = self.target(target, pick, by_client, who);
                let instrument = if bad_instrument { BAD_INSTR } else { INSTR };
                Command::Cancel(CancelOrder { instrument, target, account })
            }
            &Op::Amend { target, pick, by_client, who, price, qty, cid } => {
                let (order_ref, account) = self.target(target, pick, by_client, who);
                let current = match order_ref {
                    OrderRef::Id(id) => self.model.live(id.0),
                    OrderRef::Client(owner, cid) => self
                        .model
                        .orders
                        .iter()
                        .position(|o| cid.is_some() && o.account == owner.0 && o.cid == cid.0),
                }
                .map(|i| self.model.orders[i].clone());
                let (base_price, base_qty, own_cid) =
                    current.as_ref().map_or((100, 10, 0), |o| (o.price.max(95), o.qty, o.cid));
                let new_price = if price == i64::MIN { 0 } else { base_price + price };
                let new_client_order_id = ClientOrderId(if cid == own_cid { 0 } else { cid });
                Command::Amend(AmendOrder {
                    instrument: INSTR,
                    target: order_ref,
                    account,
                    new_price: Price(new_price),
                    new_qty: qty.map(|d| Qty(base_qty + d)),
                    new_client_order_id,
                })
            }
            &Op::MassCancel { scope, account } => Command::MassCancel {
                instrument: match scope {
                    0..=6 => Some(INSTR),
                    7..=8 => None,
                    _ => Some(BAD_INSTR),
                },
                account: account.map(AccountId),
            },
            &Op::SetStatus { sel, bad_instrument } => {
                // Short halts: most status changes while halted resume.
                let status = match (self.model.status, sel) {
                    (TradingStatus::Open, 0) => TradingStatus::Halted,
                    (TradingStatus::Open, 1) => TradingStatus::Closed,
                    (TradingStatus::Open, _) => TradingStatus::Open,
                    (_, 9) => TradingStatus::Halted,
                    _ => TradingStatus::Open,
                };
                let instrument = if bad_instrument { BAD_INSTR } else { INSTR };
                Command::SetStatus { instrument, status }
            }
            Op::Expire => Command::Expire,
            Op::EndOfSession => Command::EndOfSession,
        }
    }

    fn resolve_new(&mut self, raw: &RawNew) -> NewOrder {
        let live: Vec<u64> = self.model.orders.iter().map(|o| o.id).collect();
        let order_id = if raw.fresh_id || live.is_empty() {
            let id = self.next_id;
            self.next_id += 1;
            id
        } else {
            live[raw.qty.unsigned_abs() as usize % live.len()]
        };
        let kind = match raw.kind {
            0..=5 => OrderKind::Limit,
            6..=7 => OrderKind::Market,
            8 => OrderKind::Stop,
            _ => OrderKind::StopLimit,
        };
        let mut tif = match raw.tif {
            0..=3 => TimeInForce::Gtc,
            4..=5 => TimeInForce::Ioc,
            6 => TimeInForce::Fok,
            7 => TimeInForce::Gtd,
            _ => TimeInForce::Day,
        };
        let side = if raw.buy { Side::Buy } else { Side::Sell };
        // Two limit orders in three are passive (buys 95..=99, sells
        // 101..=105) so that the book fills up to its capacity now and then.
        let mut price = raw.price;
        if kind == OrderKind::Limit && (95..=105).contains(&price) && raw.passive {
            price = if raw.buy { 95 + (price - 95) * 4 / 10 } else { 101 + (price - 95) * 4 / 10 };
        }
        let mut display = raw.display;
        let post_only = raw.post_only;
        let mut budget = raw.budget;
        // Steer clear of what neither the docs nor `RESOLVED` notes cover:
        // market orders are IOC or FOK; a market or stop order whose display
        // quantity equals its quantity ("fully shown", but of an order that
        // never shows) is not generated. Budgets mostly go to the orders that
        // can use them.
        if kind == OrderKind::Market && tif != TimeInForce::Fok {
            tif = TimeInForce::Ioc;
        }
        if matches!(kind, OrderKind::Market | OrderKind::Stop) && display == raw.qty {
            display = 0;
        }
        let budget_applies = matches!(kind, OrderKind::Market | OrderKind::Stop) && side == Side::Buy;
        if !budget_applies && !raw.budget_anywhere {
            budget = 0;
        }
        let expire_time = match raw.expire {
            -1 => 0,
            d => self.now + d as u64,
        };
        NewOrder {
            instrument: if raw.bad_instrument { BAD_INSTR } else { INSTR },
            order_id: OrderId(order_id),
            client_order_id: ClientOrderId(raw.cid),
            account: AccountId(raw.account),
            stp_group: StpGroup(raw.group),
            side,
            kind,
            tif,
            price: Price(price),
            stop_price: Price(raw.stop),
            qty: Qty(raw.qty),
            display_qty: Qty(display),
            post_only,
            stp: match raw.stp {
                0 => StpMode::Allow,
                1 => StpMode::CancelResting,
                2 => StpMode::CancelIncoming,
                3 => StpMode::CancelBoth,
                _ => StpMode::DecrementAndCancel,
            },
            expire_time: Timestamp(expire_time),
            quote_budget: budget,
        }
    }

    /// Picks the order a cancel or amend names, and the requesting account.
    fn target(&self, target: u8, pick: usize, by_client: bool, who: u8) -> (OrderRef, Option<AccountId>) {
        let m = &self.model;
        let mut resting: Vec<&MOrder> = m.orders.iter().filter(|o| o.state == State::Active).collect();
        resting.sort_by_key(|o| o.id);
        let mut stops: Vec<&MOrder> = m.orders.iter().filter(|o| o.state == State::Dormant).collect();
        stops.sort_by_key(|o| o.id);
        let dead: Vec<(u64, u32)> = m.ever.iter().copied().filter(|e| m.live(e.0).is_none()).collect();
        let chosen: Option<(u64, u32, u64)> = match target {
            0..=5 if !resting.is_empty() => {
                let o = resting[pick % resting.len()];
                Some((o.id, o.account, o.cid))
            }
            6 if !stops.is_empty() => {
                let o = stops[pick % stops.len()];
                Some((o.id, o.account, o.cid))
            }
            7 if !dead.is_empty() => {
                let (id, account) = dead[pick % dead.len()];
                Some((id, account, 0))
            }
            8 if !self.rejected_ids.is_empty() => {
                Some((self.rejected_ids[pick % self.rejected_ids.len()], 1 + (pick % 4) as u32, 0))
            }
            _ => None,
        };
        let (id, owner, cid) = chosen.unwrap_or((self.next_id + 1000, 1 + (pick % 4) as u32, 0));
        let account = match who {
            0..=6 => Some(AccountId(owner)),
            7..=8 => None,
            _ => Some(AccountId(owner % 4 + 1)),
        };
        let order_ref = if by_client {
            // An unknown client id when the order has none (or is not live).
            let cid = if cid != 0 && m.live(id).is_some() { cid } else { 77 };
            OrderRef::Client(AccountId(owner), ClientOrderId(cid))
        } else {
            OrderRef::Id(OrderId(id))
        };
        (order_ref, account)
    }

    /// Feeds the outcome of a command back into the resolver's model.
    fn applied(&mut self, cmd: &Command, exp: &Expected, book_refused_full: bool) {
        if let Command::New(o) = cmd
            && (!exp.reject_set.is_empty() || book_refused_full)
            && self.model.live(o.order_id.0).is_none()
            && !self.model.ever.iter().any(|e| e.0 == o.order_id.0)
        {
            self.rejected_ids.push(o.order_id.0);
        }
    }
}

// ---------------------------------------------------------------------------
// Checks independent of the model
// ---------------------------------------------------------------------------

fn is_lifecycle(kind: &EventKind) -> bool {
    !matches!(
        kind,
        EventKind::Level { .. }
            | EventKind::OrderAdded { .. }
            | EventKind::OrderModified { .. }
            | EventKind::OrderDeleted { .. }
    )
}

/// Per-order quantity accounting and per-trade checks, from events.
#[derive(Default)]
struct Tracker {
    /// qty, filled, ended (cancelled/expired), reduced.
    orders: BTreeMap<u64, [i64; 4]>,
    /// side, limit (None = market), STP group, STP mode.
    terms: HashMap<u64, (Side, Option<i64>, Group, StpMode)>,
    maker_filled: i64,
    taker_filled: i64,
}

impl Tracker {
    fn observe(&mut self, cmd: &Command, events: &[Event]) -> Result<(), String> {
        for e in events {
            match e.kind {
                EventKind::Accepted { order_id, qty, .. } => {
                    self.orders.insert(order_id.0, [qty.0, 0, 0, 0]);
                    if let Command::New(o) = cmd {
                        let limit = match o.kind {
                            OrderKind::Limit | OrderKind::StopLimit => Some(o.price.0),
                            _ => None,
                        };
                        self.terms
                            .insert(order_id.0, (o.side, limit, group_of(o.account, o.stp_group), o.stp));
                    }
                }
                EventKind::Amended { order_id, price, qty, .. } => {
                    self.entry(order_id.0)?[0] = qty.0;
                    if let Some(t) = self.terms.get_mut(&order_id.0) {
                        t.1 = Some(price.0);
                    }
                }
                EventKind::Trade { price, qty, maker_order_id, taker_order_id, aggressor, .. } => {
                    self.entry(maker_order_id.0)?[1] += qty.0;
                    self.entry(taker_order_id.0)?[1] += qty.0;
                    self.maker_filled += qty.0;
                    self.taker_filled += qty.0;
                    let maker = self.terms[&maker_order_id.0];
                    let taker = self.terms[&taker_order_id.0];
                    if maker.1 != Some(price.0) {
                        return Err(format!("trade {e:?} not at the maker's price {:?}", maker.1));
                    }
                    if aggressor != taker.0 || maker.0 == taker.0 {
                        return Err(format!("trade {e:?}: wrong sides"));
                    }
                    if let Some(limit) = taker.1
                        && !crosses(taker.0, Some(limit), price.0)
                    {
                        return Err(format!("trade {e:?} through the taker's limit {limit}"));
                    }
                    if maker.2 == taker.2 && taker.3 != StpMode::Allow {
                        return Err(format!("self-trade {e:?} with taker mode {:?}", taker.3));
                    }
                }
                EventKind::Cancelled { order_id, qty, .. } | EventKind::Expired { order_id, qty, .. } => {
                    self.entry(order_id.0)?[2] += qty.0;
                }
                EventKind::Reduced { order_id, qty, .. } => self.entry(order_id.0)?[3] += qty.0,
                _ => {}
            }
        }
        Ok(())
    }

    fn entry(&mut self, id: u64) -> Result<&mut [i64; 4], String> {
        self.orders.get_mut(&id).ok_or_else(|| format!("event for order {id} that was never accepted"))
    }

    fn check(&self, book: &OrderBook) -> Result<(), String> {
        for (&id, &[qty, filled, ended, reduced]) in &self.orders {
            let leaves = book.order(OrderId(id)).map_or(0, |o| o.leaves.0);
            if qty != filled + ended + reduced + leaves {
                return Err(format!(
                    "order {id}: qty {qty} != filled {filled} + cancelled/expired {ended} + reduced {reduced} + leaves {leaves}"
                ));
            }
        }
        if self.maker_filled != self.taker_filled {
            return Err(format!("maker fills {} != taker fills {}", self.maker_filled, self.taker_filled));
        }
        Ok(())
    }
}

/// The shown book rebuilt from L3 deltas and the depth rebuilt from L2.
#[derive(Default)]
struct Replay {
    l3: BTreeMap<(Side, i64), Vec<(u64, i64)>>,
    l2: BTreeMap<(Side, i64), (i64, u32)>,
}

impl Replay {
    fn apply(&mut self, events: &[Event]) -> Result<(), String> {
        for e in events {
            if e.instrument != INSTR && !matches!(e.kind, EventKind::Rejected { .. }) {
                return Err(format!("event for the wrong instrument: {e:?}"));
            }
            match e.kind {
                EventKind::OrderAdded { order_id, side, price, qty } => {
                    if self.l3.values().flatten().any(|&(id, _)| id == order_id.0) {
                        return Err(format!("{e:?}: order already shown"));
                    }
                    self.l3.entry((side, price.0)).or_default().push((order_id.0, qty.0));
                }
                EventKind::OrderModified { order_id, side, price, qty } => {
                    let slot = self
                        .l3
                        .get_mut(&(side, price.0))
                        .and_then(|level| level.iter_mut().find(|(id, _)| *id == order_id.0))
                        .ok_or_else(|| format!("{e:?}: order not shown there"))?;
                    slot.1 = qty.0;
                }
                EventKind::OrderDeleted { order_id, side, price } => {
                    let level =
                        self.l3.get_mut(&(side, price.0)).ok_or_else(|| format!("{e:?}: no such level"))?;
                    let at = level
                        .iter()
                        .position(|&(id, _)| id == order_id.0)
                        .ok_or_else(|| format!("{e:?}: order not shown there"))?;
                    level.remove(at);
                    if level.is_empty() {
                        self.l3.remove(&(side, price.0));
                    }
                }
                EventKind::Level { side, price, qty, count } => {
                    if qty.0 == 0 || count == 0 {
                        if qty.0 != 0 || count != 0 {
                            return Err(format!("{e:?}: half-empty level"));
                        }
                        self.l2.remove(&(side, price.0));
                    } else {
                        self.l2.insert((side, price.0), (qty.0, count));
                    }
                }
                _ => {}
            }
        }
        Ok(())
    }

    fn check(&self, book: &OrderBook, snap: &BookSnapshot) -> Result<(), String> {
        for (side, orders) in [(Side::Buy, &snap.bids), (Side::Sell, &snap.asks)] {
            // Levels best first: bids by descending price, asks ascending.
            let mut replayed: Vec<(u64, i64, i64)> = Vec::new();
            let levels = self.l3.iter().filter(|(k, _)| k.0 == side);
            let levels: Vec<_> = if side == Side::Buy { levels.rev().collect() } else { levels.collect() };
            for (&(_, price), queue) in levels {
                replayed.extend(queue.iter().map(|&(id, shown)| (id, price, shown)));
            }
            let shown: Vec<(u64, i64, i64)> =
                orders.iter().map(|o| (o.order_id.0, o.price.0, o.shown.0)).collect();
            if replayed != shown {
                return Err(format!("L3 replay {side:?}: {replayed:?}\nsnapshot: {shown:?}"));
            }
            let mut l2: Vec<(Price, Qty, u32)> = self
                .l2
                .iter()
                .filter(|(k, _)| k.0 == side)
                .map(|(k, &(q, c))| (Price(k.1), Qty(q), c))
                .collect();
            if side == Side::Buy {
                l2.reverse();
            }
            let depth: Vec<(Price, Qty, u32)> = book.depth(side, usize::MAX).collect();
            if l2 != depth {
                return Err(format!("L2 replay {side:?}: {l2:?}\ndepth: {depth:?}"));
            }
            let mut aggregated: Vec<(Price, Qty, u32)> = Vec::new();
            for o in orders {
                match aggregated.last_mut() {
                    Some(last) if last.0 == o.price => {
                        last.1.0 += o.shown.0;
                        last.2 += 1;
                    }
                    _ => aggregated.push((o.price, o.shown, 1)),
                }
            }
            if aggregated != depth {
                return Err(format!("depth {depth:?} disagrees with the snapshot {aggregated:?}"));
            }
        }
        Ok(())
    }
}

fn check_snapshot_self_consistent(book: &OrderBook, snap: &BookSnapshot) -> Result<(), String> {
    if let (Some(bid), Some(ask)) = (snap.bids.first(), snap.asks.first())
        && bid.price >= ask.price
    {
        return Err(format!("crossed book: bid {bid:?} ask {ask:?}"));
    }
    let all = snap.bids.iter().chain(&snap.asks).chain(&snap.buy_stops).chain(&snap.sell_stops);
    let mut count = 0;
    for o in all {
        count += 1;
        if book.order(o.order_id) != Some(*o) {
            return Err(format!(
                "order({:?}) = {:?} but the snapshot has {o:?}",
                o.order_id,
                book.order(o.order_id)
            ));
        }
    }
    for (side, best) in [(Side::Buy, book.best_bid()), (Side::Sell, book.best_ask())] {
        let top = book.depth(side, 1).next().map(|(price, qty, _)| (price, qty));
        if best != top {
            return Err(format!("best {side:?} {best:?} but the top of the depth is {top:?}"));
        }
    }
    if count != book.len() || book.last_price() != snap.last_price {
        return Err(format!(
            "len {} / last price {:?} disagree with the snapshot",
            book.len(),
            book.last_price()
        ));
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// The harness
// ---------------------------------------------------------------------------

struct Harness {
    books: Books,
    resolver: Resolver,
    tracker: Tracker,
    replay: Replay,
    log: Vec<(u64, Command)>,
    events: Vec<Event>,
}

impl Harness {
    fn new() -> Harness {
        Harness {
            books: new_books(),
            resolver: Resolver::new(),
            tracker: Tracker::default(),
            replay: Replay::default(),
            log: Vec::new(),
            events: Vec::new(),
        }
    }

    fn fail(&self, what: &str, book_events: &[Event], model_events: &[Event]) -> TestCaseError {
        let mut msg = format!("{what}\n--- commands (time, command) ---\n");
        for (t, c) in &self.log {
            let _ = writeln!(msg, "{t}: {c:?}");
        }
        let _ = writeln!(msg, "--- book lifecycle events of the last command ---");
        for e in book_events {
            let _ = writeln!(msg, "{:?}", e.kind);
        }
        let _ = writeln!(msg, "--- model events of the last command ---");
        for e in model_events {
            let _ = writeln!(msg, "{:?}", e.kind);
        }
        TestCaseError::fail(msg)
    }

    fn step(&mut self, advance: u8, op: &Op) -> Result<(), TestCaseError> {
        let cmd = self.resolver.resolve(advance, op);
        let now = Timestamp(self.resolver.now);
        self.log.push((now.0, cmd));
        self.events.clear();
        self.books.apply(&cmd, now, &mut self.events);
        let events = std::mem::take(&mut self.events);
        let book_life: Vec<Event> = events.iter().copied().filter(|e| is_lifecycle(&e.kind)).collect();

        let before = self.resolver.model.clone();
        let exp = self.resolver.model.apply(&cmd, now);
        let refused_full = exp.bookfull_optional
            && matches!(
                book_life.as_slice(),
                [Event { kind: EventKind::Rejected { reason: Reject::BookFull, .. }, .. }]
            );
        if refused_full {
            // Undocumented: a non-resting order refused because the pool is full.
            self.resolver.model = before;
            let Command::New(o) = cmd else { unreachable!() };
            let expected = [lifecycle(EventKind::Rejected {
                order_id: o.order_id,
                client_order_id: o.client_order_id,
                account: o.account,
                request: RequestKind::New,
                reason: Reject::BookFull,
            })];
            if book_life != expected {
                return Err(self.fail("BookFull rejection with wrong fields", &book_life, &expected));
            }
        } else if exp.reject_set.len() > 1 {
            // Precedence undocumented: any of the applicable reasons will do.
            let ok = match (book_life.as_slice(), exp.events.as_slice()) {
                (
                    [
                        Event {
                            instrument: bi,
                            kind: EventKind::Rejected { order_id, client_order_id, account, request, reason },
                        },
                    ],
                    [
                        Event {
                            instrument: mi,
                            kind:
                                EventKind::Rejected {
                                    order_id: mo,
                                    client_order_id: mc,
                                    account: ma,
                                    request: mr,
                                    ..
                                },
                        },
                    ],
                ) => {
                    bi == mi
                        && order_id == mo
                        && client_order_id == mc
                        && account == ma
                        && request == mr
                        && exp.reject_set.contains(reason)
                }
                _ => false,
            };
            if !ok || events.len() != 1 {
                let what = format!("expected a rejection with one of {:?}", exp.reject_set);
                return Err(self.fail(&what, &events, &exp.events));
            }
        } else if book_life != exp.events {
            return Err(self.fail("lifecycle events differ", &book_life, &exp.events));
        }
        if !exp.reject_set.is_empty() && events.len() != 1 {
            return Err(self.fail("a refusal emitted more than its Rejected event", &events, &exp.events));
        }
        self.resolver.applied(&cmd, &exp, refused_full);

        let book = book(&self.books);
        if let Err(panic) = catch_unwind(AssertUnwindSafe(|| book.assert_invariants())) {
            let text = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_default();
            return Err(self.fail(&format!("assert_invariants: {text}"), &book_life, &exp.events));
        }
        let snap = book.snapshot();
        let model_snap = self.resolver.model.snapshot();
        if snap != model_snap {
            let what = format!("snapshots differ\nbook:\n{}model:\n{}", show(&snap), show(&model_snap));
            return Err(self.fail(&what, &book_life, &exp.events));
        }
        if book.status() != self.resolver.model.status {
            return Err(self.fail("trading status differs", &book_life, &exp.events));
        }
        let checks = self
            .tracker
            .observe(&cmd, &book_life)
            .and_then(|()| self.tracker.check(book))
            .and_then(|()| check_snapshot_self_consistent(book, &snap))
            .and_then(|()| self.replay.apply(&events))
            .and_then(|()| self.replay.check(book, &snap));
        if let Err(what) = checks {
            return Err(self.fail(&what, &events, &exp.events));
        }
        Ok(())
    }
}

fn show(snap: &BookSnapshot) -> String {
    let mut text = String::new();
    for (name, orders) in [
        ("bids", &snap.bids),
        ("asks", &snap.asks),
        ("buy stops", &snap.buy_stops),
        ("sell stops", &snap.sell_stops),
    ] {
        let _ = writeln!(text, "  {name}:");
        for o in orders {
            let _ = writeln!(text, "    {o:?}");
        }
    }
    let _ = writeln!(text, "  last price: {:?}", snap.last_price);
    text
}

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(256);
    ProptestConfig { cases, failure_persistence: None, ..ProptestConfig::default() }
}

proptest! {
    #![proptest_config(config())]

    /// The book and the reference model agree after every command.
    #[test]
    fn book_matches_reference_model(stream in stream_strategy()) {
        let mut harness = Harness::new();
        for (advance, op) in &stream {
            harness.step(*advance, op)?;
        }
    }

    /// The same commands on two fresh books give the same events and books.
    #[test]
    fn book_is_deterministic(stream in stream_strategy()) {
        let mut resolver = Resolver::new();
        let (mut a, mut b) = (new_books(), new_books());
        let (mut ea, mut eb) = (Vec::new(), Vec::new());
        for (advance, op) in &stream {
            let cmd = resolver.resolve(*advance, op);
            let now = Timestamp(resolver.now);
            ea.clear();
            eb.clear();
            a.apply(&cmd, now, &mut ea);
            b.apply(&cmd, now, &mut eb);
            prop_assert_eq!(&ea, &eb, "events differ after {:?}", cmd);
            prop_assert!(a == b, "books differ after {:?}", cmd);
            let exp = resolver.model.apply(&cmd, now);
            resolver.applied(&cmd, &exp, false);
        }
        prop_assert_eq!(book(&a), book(&b));
    }
}

/// A smoke test of the model itself on a hand-written scenario, so that a
/// broken model cannot pass the differential test by accident of the book.
#[test]
fn model_smoke() {
    let mut model = Model::new();
    let now = Timestamp(START_TIME);
    let mut ask = NewOrder::limit(1, 1, Side::Sell, 100, 10);
    ask.display_qty = Qty(4);
    let _ = model.apply(&Command::New(ask), now);
    let _ = model.apply(&Command::New(NewOrder::limit(2, 2, Side::Sell, 100, 3)), now);
    let exp = model.apply(&Command::New(NewOrder::limit(3, 3, Side::Buy, 100, 9)), now);
    let trades: Vec<(u64, i64)> = exp
        .events
        .iter()
        .filter_map(|e| match e.kind {
            EventKind::Trade { maker_order_id, qty, .. } => Some((maker_order_id.0, qty.0)),
            _ => None,
        })
        .collect();
    // 4 from the iceberg's slice, 3 from order 2, then the refreshed slice.
    assert_eq!(trades, vec![(1, 4), (2, 3), (1, 2)]);
    let snap = model.snapshot();
    assert_eq!(snap.asks.len(), 1);
    assert_eq!((snap.asks[0].leaves, snap.asks[0].shown), (Qty(4), Qty(2)));
}

// ---------------------------------------------------------------------------
// Coverage of the generator
// ---------------------------------------------------------------------------

/// The generator reaches every documented outcome: each rejection the book
/// can give, every cancel reason, triggers, decrements, amends both ways,
/// iceberg refreshes and a full pool. Guards the differential test against a
/// generator that silently stops exercising something.
#[test]
fn generator_covers_every_outcome() {
    use proptest::strategy::ValueTree;
    use proptest::test_runner::TestRunner;
    let mut runner = TestRunner::deterministic();
    let mut seen: BTreeMap<String, usize> = BTreeMap::new();
    for _ in 0..256 {
        let stream = stream_strategy().new_tree(&mut runner).expect("stream").current();
        let mut resolver = Resolver::new();
        let mut books = new_books();
        let mut out = Vec::new();
        for (advance, op) in &stream {
            let cmd = resolver.resolve(*advance, op);
            let now = Timestamp(resolver.now);
            out.clear();
            books.apply(&cmd, now, &mut out);
            let exp = resolver.model.apply(&cmd, now);
            resolver.applied(&cmd, &exp, false);
            for (at, e) in out.iter().enumerate() {
                let key = match e.kind {
                    EventKind::Rejected { request, reason, .. } => format!("Rejected {request:?} {reason:?}"),
                    EventKind::Cancelled { reason, .. } => format!("Cancelled {reason:?}"),
                    EventKind::Amended { priority_kept, .. } => format!("Amended kept={priority_kept}"),
                    EventKind::Accepted { kind, .. } => format!("Accepted {kind:?}"),
                    EventKind::Trade { maker_order_id, .. } => {
                        let refreshed = out[..at].iter().any(|p| {
                            matches!(p.kind, EventKind::OrderAdded { order_id, .. } if order_id == maker_order_id)
                        });
                        if refreshed { "Trade with a refreshed iceberg slice" } else { "Trade" }.to_owned()
                    }
                    EventKind::Triggered { .. } => "Triggered".to_owned(),
                    EventKind::Reduced { .. } => "Reduced".to_owned(),
                    EventKind::Expired { .. } => "Expired".to_owned(),
                    EventKind::MassCancelled { .. } => "MassCancelled".to_owned(),
                    EventKind::StatusChanged { status } => format!("StatusChanged {status:?}"),
                    _ => continue,
                };
                *seen.entry(key).or_default() += 1;
            }
        }
    }
    let mut wanted: Vec<String> = [
        "Accepted Limit",
        "Accepted Market",
        "Accepted Stop",
        "Accepted StopLimit",
        "Amended kept=true",
        "Amended kept=false",
        "Trade",
        "Trade with a refreshed iceberg slice",
        "Triggered",
        "Reduced",
        "Expired",
        "MassCancelled",
        "StatusChanged Open",
        "StatusChanged Halted",
        "StatusChanged Closed",
        "Rejected Cancel UnknownOrder",
        "Rejected Cancel UnknownInstrument",
        "Rejected Amend NotAmendable",
        "Rejected Amend AmendQtyTooLow",
        "Rejected Amend DuplicateClientOrderId",
        "Rejected Amend PostOnlyWouldTake",
        "Rejected Amend PriceOutOfRange",
        "Rejected Amend InstrumentHalted",
        "Rejected Amend InstrumentClosed",
        "Rejected MassCancel UnknownInstrument",
        "Rejected SetStatus UnknownInstrument",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    for reason in [
        "InstrumentHalted",
        "InstrumentClosed",
        "UnknownInstrument",
        "DuplicateOrderId",
        "DuplicateClientOrderId",
        "QtyNotPositive",
        "QtyBelowMin",
        "QtyAboveMax",
        "PriceOutOfRange",
        "InvalidDisplayQty",
        "InvalidOrderCombination",
        "InvalidBudget",
        "InvalidExpireTime",
        "StopWouldTriggerImmediately",
        "PostOnlyWouldTake",
        "BookFull",
    ] {
        wanted.push(format!("Rejected New {reason}"));
    }
    for reason in [
        "Requested",
        "MassCancel",
        "IocRemainder",
        "FokNotFillable",
        "NoLiquidity",
        "BudgetExhausted",
        "SelfTradePrevention",
    ] {
        wanted.push(format!("Cancelled {reason}"));
    }
    let missing: Vec<&String> = wanted.iter().filter(|k| !seen.contains_key(*k)).collect();
    assert!(missing.is_empty(), "never generated: {missing:?}\nseen: {seen:#?}");
}
