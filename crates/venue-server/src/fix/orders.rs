//! FIX order entry ↔ engine commands and events, for one session.
//!
//! Inbound: NewOrderSingle (D), OrderCancelRequest (F),
//! OrderCancelReplaceRequest (G) and OrderMassCancelRequest (q) become
//! engine commands; OrderStatusRequest (H) is answered from the desk's own
//! view. A field the venue cannot honour is refused here, before the
//! engine, with the same reply the engine's refusal would get.
//!
//! Outbound: engine events become ExecutionReports (8), OrderCancelRejects
//! (9) and OrderMassCancelReports (r). The engine's events carry ids and
//! quantities but not a FIX client's text ClOrdIDs, cumulative quantity or
//! average price, so the desk keeps, per live order of its account, what
//! the reports need.
//!
//! Request context: the session's commands are answered in order, each by
//! a run of outputs ending with the one marked `last`, so the desk keeps
//! its submitted requests in a queue and the head is the request the
//! current outputs answer.
//!
//! ClOrdIDs are text in FIX and a `u64` in the engine: the desk hashes the
//! text (FNV-1a) and keeps the text in the venue's registry
//! ([`crate::names`]), shared with REST and gRPC and kept across restarts.
//! Two live orders of an account whose ClOrdIDs hash alike are refused as
//! duplicates (odds 1 in 2^64).
//!
//! Orders the desk did not see accepted (placed before the venue started,
//! or while the session's feed was lost) it learns from the engine's books
//! with [`OrderDesk::seed`]. The books know their fills only as a
//! quantity; the prices come from what the desk last knew: the session's
//! stored reports at start ([`OrderDesk::recall`]), its own view after a
//! lost feed. Fills it never saw priced count in CumQty, not in AvgPx (6).
//!
//! Ended orders are remembered (the last [`MAX_ENDED`]) so that a cancel or
//! replace that arrives after its order ended is refused as "too late"
//! (CxlRejReason 0) with the order's final status, and a status request
//! still finds it.

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use venue_domain::{
    AccountId, CancelReason, ClientOrderId, InstrumentId, InstrumentSpec, OrderId, OrderKind, Price, Qty,
    Reject, Side, StpGroup, StpMode, TimeInForce, Timestamp,
};
use venue_engine::{Command, Output};
use venue_fix::Fields;
use venue_matching::{AmendOrder, BookOrder, CancelOrder, EventKind, NewOrder, OrderRef, RequestKind};
use venue_pipeline::Stamped;

/// One outbound application message: its type and body fields in any
/// order (the encoder sorts them).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Reply {
    /// MsgType (35).
    pub msg_type: &'static str,
    /// Body fields.
    pub fields: Vec<(u32, Value)>,
    /// Repeating groups: count tag and the fields of each entry (the
    /// encoder puts them in dictionary order).
    pub groups: Vec<(u32, Vec<EntryFields>)>,
}

/// The fields of one message part (a body or a group entry).
pub type EntryFields = Vec<(u32, String)>;

/// A body field's value as the desk computed it. The encoder formats it
/// straight into the message, so an ExecutionReport costs no string per
/// field (numbers, prices and times were a dozen small allocations per
/// report, a large part of the gateway's own CPU per order).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// Fixed text (enumerated values, reasons).
    Static(&'static str),
    /// Shared text kept by the desk (ClOrdIDs, symbols): cloned by count.
    Shared(Arc<str>),
    /// Text made for this message.
    Owned(String),
    /// A non-negative integer (ids, account).
    Uint(u64),
    /// A decimal from a scaled integer: value and number of decimals (see
    /// [`venue_fix::Encoder::scaled`]).
    Scaled(i64, u8),
    /// One character (ExecType, OrdStatus, OrdType).
    Char(u8),
    /// A UTCTimestamp with milliseconds, from nanoseconds since the epoch.
    Time(u64),
    /// An ExecID: `{seq}-{index}`, or `{seq}-{index}-{trade}` for a fill.
    ExecId {
        /// Sequence number of the command whose output this is.
        seq: u64,
        /// Replies already made from that command's outputs.
        index: u64,
        /// The trade, for a fill.
        trade: Option<u64>,
    },
}

impl From<&'static str> for Value {
    fn from(text: &'static str) -> Value {
        Value::Static(text)
    }
}

impl From<String> for Value {
    fn from(text: String) -> Value {
        Value::Owned(text)
    }
}

impl From<Arc<str>> for Value {
    fn from(text: Arc<str>) -> Value {
        Value::Shared(text)
    }
}

impl From<&Arc<str>> for Value {
    fn from(text: &Arc<str>) -> Value {
        Value::Shared(text.clone())
    }
}

impl Value {
    /// Adds this value as `tag` to the message being encoded.
    pub fn encode(&self, tag: u32, enc: &mut venue_fix::Encoder) {
        match self {
            Value::Static(text) => enc.str(tag, text),
            Value::Shared(text) => enc.str(tag, text),
            Value::Owned(text) => enc.str(tag, text),
            Value::Uint(value) => enc.uint(tag, *value),
            Value::Scaled(value, decimals) => enc.scaled(tag, *value, *decimals),
            Value::Char(value) => enc.char(tag, *value),
            Value::Time(ns) => enc.timestamp(tag, *ns),
            Value::ExecId { seq, index, trade } => {
                let mut buf = [0u8; 64];
                let len = exec_id(&mut buf, *seq, *index, *trade);
                enc.bytes(tag, &buf[..len])
            }
        };
    }
}

impl std::fmt::Display for Value {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Value::Static(text) => f.write_str(text),
            Value::Shared(text) => f.write_str(text),
            Value::Owned(text) => f.write_str(text),
            Value::Uint(value) => write!(f, "{value}"),
            Value::Scaled(value, decimals) => f.write_str(&venue_domain::format_scaled(*value, *decimals)),
            Value::Char(value) => write!(f, "{}", *value as char),
            Value::Time(ns) => f.write_str(&timestamp(*ns)),
            Value::ExecId { seq, index, trade } => {
                let mut buf = [0u8; 64];
                let len = exec_id(&mut buf, *seq, *index, *trade);
                f.write_str(std::str::from_utf8(&buf[..len]).map_err(|_| std::fmt::Error)?)
            }
        }
    }
}

/// Writes an ExecID into `buf` (64 bytes hold three `u64`s and two
/// dashes); returns its length.
fn exec_id(buf: &mut [u8; 64], seq: u64, index: u64, trade: Option<u64>) -> usize {
    use std::io::Write;
    let mut cursor = std::io::Cursor::new(&mut buf[..]);
    let _ = match trade {
        Some(trade) => write!(cursor, "{seq}-{index}-{trade}"),
        None => write!(cursor, "{seq}-{index}"),
    };
    cursor.position() as usize
}

impl Reply {
    /// An empty message of `msg_type`.
    pub fn new(msg_type: &'static str) -> Reply {
        Reply { msg_type, fields: Vec::with_capacity(20), groups: Vec::new() }
    }
    /// Adds a body field.
    pub fn set(&mut self, tag: u32, value: impl Into<Value>) -> &mut Reply {
        self.fields.push((tag, value.into()));
        self
    }
    /// The value of `tag` as it will be written, for tests and logs.
    pub fn get(&self, tag: u32) -> Option<String> {
        self.fields.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.to_string())
    }
}

/// What to do with an inbound application message.
#[derive(Debug)]
pub enum Inbound {
    /// Submit this command (the desk queued its request context).
    Submit(Command),
    /// Answer at once; nothing goes to the engine.
    Answer(Reply),
    /// Not an order-entry message (the session answers it).
    NotMine,
}

#[derive(Debug)]
enum Pending {
    New { cl: Arc<str>, side: Side, cash: i64 },
    Cancel { cl: Arc<str>, orig: Arc<str> },
    Amend { cl: Arc<str>, orig: Arc<str> },
    Mass { cl: Arc<str>, request_type: u8, symbol: Option<String>, affected: u64, rejected: Option<Reject> },
}

#[derive(Clone, Debug)]
struct OrderInfo {
    cl: Arc<str>,
    orig: Option<Arc<str>>,
    instrument: InstrumentId,
    side: Side,
    ord_type: u8,
    price: Price,
    qty: Qty,
    leaves: Qty,
    cum: i64,
    /// Σ price × qty of fills, in ticks × lots.
    notional: i128,
    /// Quantity filled before the desk learnt of the order (from the
    /// books, after a restart): its prices are unknown, so AvgPx leaves it
    /// out.
    unpriced: i64,
    /// The quote budget (CashOrderQty) of an order placed with one, in
    /// tick × lot units; 0 for an order placed by quantity; -1 for one
    /// placed with a budget the desk was not told (over another gateway).
    cash: i64,
    status: u8,
    /// The engine sequence the desk's view reflects for an order learnt
    /// from the books: its outputs up to there are already counted.
    since: u64,
}

impl OrderInfo {
    /// Whether the client knows the order as `cl`: its ClOrdID now, or the
    /// one it had before its last cancel or replace request.
    fn named(&self, cl: &str) -> bool {
        *self.cl == *cl || self.orig.as_deref() == Some(cl)
    }
}

/// A reply with its Text (58) replaced: for refusals the gateway decides
/// whose engine reason would mislead.
fn with_text(mut reply: Reply, text: &'static str) -> Reply {
    match reply.fields.iter_mut().find(|(tag, _)| *tag == 58) {
        Some(field) => field.1 = Value::Static(text),
        None => {
            reply.set(58, text);
        }
    }
    reply
}

/// Ended orders a desk remembers, for "too late to cancel" and status
/// requests: about 150 bytes each.
pub const MAX_ENDED: usize = 4096;

/// The live orders the engine holds, read on its thread at sequence `seq`.
pub struct LiveOrders {
    /// The last command the read reflects.
    pub seq: u64,
    /// Each live order with its instrument and the quote budget it was
    /// placed with (0 if by quantity).
    pub orders: Vec<(InstrumentId, BookOrder, i64)>,
}

/// One session's order-entry state.
pub struct OrderDesk {
    account: AccountId,
    instruments: Arc<Vec<InstrumentSpec>>,
    /// Each instrument's symbol by id, shared by the reports that name it.
    symbols: Vec<Arc<str>>,
    orders: BTreeMap<OrderId, OrderInfo>,
    /// The last [`MAX_ENDED`] orders that ended, by id.
    ended: BTreeMap<OrderId, OrderInfo>,
    names: Arc<crate::names::ClientNames>,
    pending: VecDeque<Pending>,
    /// The latest fill of a budget order, held until the order's next
    /// event tells whether it was the last.
    held: Option<HeldFill>,
    /// Orders as the session's stored reports left them, while they are
    /// read at start ([`recall`](Self::recall)).
    recalled: BTreeMap<OrderId, Recalled>,
    /// Live orders as last known (from the stored reports, or before a
    /// lost feed): their fill prices for [`seed`](Self::seed), whose
    /// books know quantities only.
    known: BTreeMap<OrderId, OrderInfo>,
}

/// One order as the stored reports tell it: its last report, and the
/// fills reported with their prices.
struct Recalled {
    info: OrderInfo,
    notional: i128,
    priced: i64,
}

/// A budget order's fill whose report waits for the next event of the
/// order. A budget order (CashOrderQty) is bounded by the instrument's
/// maximum quantity, so its fills leave quantity open; when the engine then
/// ends it for having spent its budget, the fill was the order's last, and
/// it is reported as such (ExecType F, OrdStatus 2 Filled, LeavesQty 0),
/// as REST and gRPC call it FILLED, instead of a partial fill followed by
/// a cancel.
struct HeldFill {
    order_id: OrderId,
    exec: Exec,
    time: u64,
    seq: u64,
}

/// FNV-1a of a ClOrdID: the engine's `ClientOrderId` (0 is "none", so it
/// maps to 1).
pub fn client_id(text: &str) -> ClientOrderId {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for &byte in text.as_bytes() {
        hash ^= u64::from(byte);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    ClientOrderId(hash.max(1))
}

/// OrdRejReason (103) for an engine refusal.
fn ord_rej_reason(reject: Reject) -> &'static str {
    match reject {
        Reject::UnknownInstrument => "1",
        Reject::InstrumentHalted | Reject::InstrumentClosed => "2",
        Reject::InsufficientBalance
        | Reject::MaxOrderQtyExceeded
        | Reject::MaxNotionalExceeded
        | Reject::PriceBandExceeded
        | Reject::TooManyOpenOrders => "3",
        Reject::DuplicateClientOrderId | Reject::DuplicateOrderId => "6",
        Reject::InvalidOrderCombination => "11",
        Reject::QtyNotPositive | Reject::QtyOffLot | Reject::QtyBelowMin | Reject::QtyAboveMax => "13",
        Reject::UnknownAccount | Reject::Unauthorized => "15",
        Reject::KillSwitchActive => "0",
        _ => "99",
    }
}

/// CxlRejReason (102) for an engine refusal.
fn cxl_rej_reason(reject: Reject) -> &'static str {
    match reject {
        Reject::OrderNotActive => "0",
        Reject::UnknownOrder => "1",
        Reject::DuplicateClientOrderId => "6",
        _ => "99",
    }
}

fn cancel_text(reason: CancelReason) -> &'static str {
    reason.as_str()
}

/// A refusal decided before the engine: reason text and OrdRejReason.
struct Refusal(&'static str, String);

impl Refusal {
    fn of(reject: Reject) -> Refusal {
        Refusal(ord_rej_reason(reject), reject.as_str().to_owned())
    }
    fn unsupported(what: String) -> Refusal {
        Refusal("11", what)
    }
    fn other(what: String) -> Refusal {
        Refusal("99", what)
    }
}

/// YYYYMMDD → ns at the end of that day (UTC), for ExpireDate (432).
fn end_of_date(text: &str) -> Option<u64> {
    if text.len() != 8 || !text.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let probe = format!("{text}-23:59:59.999");
    venue_fix::time::parse_utc_timestamp(probe.as_bytes()).ok()
}

impl OrderDesk {
    /// A desk for `account`'s orders.
    pub fn new(
        account: AccountId,
        instruments: Arc<Vec<InstrumentSpec>>,
        names: Arc<crate::names::ClientNames>,
    ) -> OrderDesk {
        OrderDesk {
            account,
            symbols: instruments.iter().map(|s| Arc::from(s.symbol.as_str())).collect(),
            instruments,
            orders: BTreeMap::new(),
            ended: BTreeMap::new(),
            names,
            pending: VecDeque::new(),
            held: None,
            recalled: BTreeMap::new(),
            known: BTreeMap::new(),
        }
    }

    /// Reads one message the session stored before the venue (re)started,
    /// oldest first. ExecutionReports tell each order's last state and the
    /// prices of its fills, which the engine's books do not keep: with them
    /// an order that ended before a restart is "too late" rather than
    /// unknown, and a live order's AvgPx counts its earlier fills. Call
    /// [`recalled`](Self::recalled) after the last.
    pub fn recall(&mut self, msg: &venue_fix::Message<'_>) {
        // Status answers (ExecType I) are left out: one for an unknown
        // order echoes whatever OrderID the client asked about.
        if msg.msg_type() != b"8" || msg.value(150) == Some(b"I") {
            return;
        }
        let Some(order_id) = msg.get_str(37).ok().and_then(|id| id.parse().ok()).map(OrderId) else { return };
        let Ok(symbol) = msg.get_str(55) else { return };
        let Some(at) = self.symbols.iter().position(|s| **s == *symbol) else { return };
        let spec = &self.instruments[at];
        // The desk's own reports: on the grid, but zero quantities too.
        let units = |tag, decimals, step: i64| {
            let units = venue_domain::parse_scaled(msg.get_str(tag).ok()?, decimals).ok()?;
            (units >= 0 && units % step == 0).then(|| units / step)
        };
        let qty = |tag| units(tag, spec.qty_decimals, spec.lot_size).map(Qty);
        let price = |tag| units(tag, spec.price_decimals, spec.tick_size).map(Price);
        let (Some(leaves), Some(cum), Ok(cl)) = (qty(151), qty(14), msg.get_str(11)) else { return };
        let byte = |tag| msg.value(tag).and_then(|v| v.first().copied()).unwrap_or(b'0');
        let info = OrderInfo {
            cl: Arc::from(cl),
            orig: msg.get_str(41).ok().map(Arc::from),
            instrument: InstrumentId(at as u32),
            side: if byte(54) == b'1' { Side::Buy } else { Side::Sell },
            ord_type: byte(40),
            price: price(44).unwrap_or(Price(0)),
            qty: qty(38).unwrap_or(Qty(cum.0 + leaves.0)),
            leaves,
            cum: cum.0,
            notional: 0,
            unpriced: 0,
            cash: msg.get_str(152).ok().and_then(|text| spec.parse_quote_budget(text).ok()).unwrap_or(0),
            status: byte(39),
            since: 0,
        };
        let fill = match (byte(150), price(31), qty(32)) {
            (b'F', Some(px), Some(q)) => Some((i128::from(px.0) * i128::from(q.0), q.0)),
            _ => None,
        };
        let entry =
            self.recalled.entry(order_id).or_insert(Recalled { info: info.clone(), notional: 0, priced: 0 });
        entry.info = info;
        if let Some((notional, qty)) = fill {
            entry.notional += notional;
            entry.priced += qty;
        }
    }

    /// Ends [`recall`](Self::recall): orders whose last report ended them
    /// join the ended orders; the others wait for [`seed`](Self::seed).
    pub fn recalled(&mut self) {
        for (order_id, recalled) in std::mem::take(&mut self.recalled) {
            let mut info = recalled.info;
            // More priced fills than filled quantity: reports of two
            // orders under one id (a store older than the journal), so
            // none of their prices is trusted.
            (info.notional, info.unpriced) = if recalled.priced <= info.cum {
                (recalled.notional, info.cum - recalled.priced)
            } else {
                (0, info.cum)
            };
            if matches!(info.status, b'2' | b'3' | b'4' | b'8' | b'C') {
                self.ended.insert(order_id, info);
            } else {
                self.known.insert(order_id, info);
            }
        }
        while self.ended.len() > MAX_ENDED {
            self.ended.pop_first();
        }
    }

    /// Learns the account's live orders the desk does not know from the
    /// engine's books, read at `live.seq`. Outputs up to that sequence that
    /// reach the desk afterwards are already counted for those orders and
    /// are skipped.
    pub fn seed(&mut self, live: &LiveOrders) {
        for (instrument, order, budget) in &live.orders {
            if order.account != self.account || self.orders.contains_key(&order.order_id) {
                continue;
            }
            let cum = order.qty.0 - order.leaves.0;
            let known = self.known.remove(&order.order_id);
            let cl = self
                .names
                .get(order.client_order_id)
                .or_else(|| known.as_ref().map(|k| k.cl.clone()))
                .unwrap_or_else(|| Arc::from(order.order_id.0.to_string()));
            // Fills the desk saw with their prices; any since (a lost
            // feed) count without.
            let (notional, priced) = match &known {
                Some(k) if k.cum - k.unpriced <= cum => (k.notional, k.cum - k.unpriced),
                _ => (0, 0),
            };
            self.orders.insert(
                order.order_id,
                OrderInfo {
                    cl,
                    orig: known.and_then(|k| k.orig),
                    instrument: *instrument,
                    side: order.side,
                    ord_type: ord_type(order.kind),
                    price: order.price,
                    qty: order.qty,
                    leaves: order.leaves,
                    cum,
                    notional,
                    unpriced: cum - priced,
                    cash: *budget,
                    status: if cum > 0 { b'1' } else { b'0' },
                    since: live.seq,
                },
            );
        }
        self.known.clear();
    }

    /// Forgets the requests in flight and the live orders, for a session
    /// whose feed was lost: their outputs will not come. The orders are
    /// learnt again with [`seed`](Self::seed). A fill held back is
    /// reported into `out` as a partial one (what ended the order, if
    /// anything, was lost with the feed).
    pub fn reset(&mut self, out: &mut Vec<Reply>) {
        self.release_held(false, out);
        self.pending.clear();
        self.known = std::mem::take(&mut self.orders);
    }

    /// Reports the held fill: as the order's last (`filled`), which ends
    /// the order, or as a partial fill.
    fn release_held(&mut self, filled: bool, out: &mut Vec<Reply>) {
        let Some(held) = self.held.take() else { return };
        let Some(info) = self.orders.get_mut(&held.order_id) else { return };
        if filled {
            info.leaves = Qty(0);
            info.status = b'2';
        }
        let info = info.clone();
        out.push(self.report(held.order_id, &info, b'F', &held.exec, held.time, ""));
        if filled {
            self.end(held.order_id);
        }
    }

    /// Whether an output at `seq` for `order_id` is already counted in the
    /// desk's view (the order was learnt from the books after it).
    fn counted(&self, order_id: OrderId, seq: u64) -> bool {
        self.orders.get(&order_id).is_some_and(|o| seq <= o.since)
    }

    fn spec(&self, instrument: InstrumentId) -> Option<&InstrumentSpec> {
        self.instruments.get(instrument.0 as usize)
    }

    /// Symbol (55) of an instrument: empty (and so refused by the encoder)
    /// for one the desk does not know, as before.
    fn symbol(&self, instrument: InstrumentId) -> Value {
        self.symbols.get(instrument.0 as usize).map_or(Value::Static(""), Value::from)
    }

    fn symbol_id(&self, symbol: &str) -> Option<InstrumentId> {
        self.instruments.iter().find(|s| s.symbol == symbol).map(|s| s.id)
    }

    /// Translates an application message (already validated by the session
    /// layer against the dictionary).
    pub fn on_message(&mut self, msg_type: &[u8], fields: &Fields<'_>, now_ns: u64) -> Inbound {
        match msg_type {
            b"D" => self.new_order(fields, now_ns),
            b"F" => self.cancel(fields),
            b"G" => self.replace(fields),
            b"H" => Inbound::Answer(self.status(fields, now_ns)),
            b"q" => self.mass_cancel(fields, now_ns),
            _ => Inbound::NotMine,
        }
    }

    fn text(fields: &Fields<'_>, tag: u32) -> Option<String> {
        fields.get_str(tag).ok().filter(|s| !s.is_empty()).map(str::to_owned)
    }

    /// A text field as the replies echo it: bytes that are not UTF-8 are
    /// shown with replacement characters (such an id is refused, but the
    /// refusal must still name it).
    fn shared(fields: &Fields<'_>, tag: u32) -> Arc<str> {
        fields.get(tag).map_or_else(|| Arc::from(""), |field| Arc::from(String::from_utf8_lossy(field.value)))
    }

    /// Refuses ClOrdID and OrigClOrdID values that are not UTF-8 text: the
    /// venue could not give them back as sent.
    fn check_ids(fields: &Fields<'_>) -> Result<(), &'static str> {
        for (tag, text) in
            [(11, "ClOrdID (11) must be UTF-8 text"), (41, "OrigClOrdID (41) must be UTF-8 text")]
        {
            if fields.get(tag).is_some_and(|field| std::str::from_utf8(field.value).is_err()) {
                return Err(text);
            }
        }
        Ok(())
    }

    fn check_account(&self, fields: &Fields<'_>) -> Result<(), Refusal> {
        match fields.get_str(1) {
            Ok(account) if account != self.account.0.to_string() => {
                Err(Refusal("15", format!("account {account:?} is not this session's account")))
            }
            _ => Ok(()),
        }
    }

    fn new_order(&mut self, f: &Fields<'_>, now_ns: u64) -> Inbound {
        let cl = Self::shared(f, 11);
        match self.build_new(f, &cl) {
            Ok(order) => {
                self.names.remember(order.client_order_id, cl.clone());
                self.pending.push_back(Pending::New { cl, side: order.side, cash: order.quote_budget });
                Inbound::Submit(Command::NewOrder(order))
            }
            Err(refusal) => Inbound::Answer(self.reject_new(f, &cl, refusal, now_ns)),
        }
    }

    fn build_new(&self, f: &Fields<'_>, cl: &str) -> Result<NewOrder, Refusal> {
        Self::check_ids(f).map_err(|text| Refusal::other(text.into()))?;
        if cl.is_empty() {
            return Err(Refusal::other("ClOrdID (11) is required".into()));
        }
        self.check_account(f)?;
        let symbol = f.get_str(55).map_err(|_| Refusal::other("Symbol (55) is required".into()))?;
        let instrument = self.symbol_id(symbol).ok_or_else(|| Refusal::of(Reject::UnknownInstrument))?;
        let spec = self.spec(instrument).expect("instrument exists");
        let side = match f.get_char(54) {
            Ok(b'1') => Side::Buy,
            Ok(b'2') => Side::Sell,
            _ => return Err(Refusal::unsupported("Side (54) must be 1 (buy) or 2 (sell)".into())),
        };
        let kind = match f.get_char(40) {
            Ok(b'1') => OrderKind::Market,
            Ok(b'2') => OrderKind::Limit,
            Ok(b'3') => OrderKind::Stop,
            Ok(b'4') => OrderKind::StopLimit,
            _ => return Err(Refusal::unsupported("OrdType (40) must be 1, 2, 3 or 4".into())),
        };
        // A market or stop-market buy may give a budget in the quote asset
        // (CashOrderQty) instead of a quantity: it buys as much as that
        // buys, and a stop-market buy needs one (nothing else bounds what it
        // spends once triggered).
        let (qty, quote_budget) = match (f.get_decimal(38), f.get_decimal(152)) {
            (Ok(text), Err(_)) => (spec.parse_qty(text).map_err(Refusal::of)?, 0),
            (Err(_), Ok(text))
                if matches!(kind, OrderKind::Market | OrderKind::Stop) && side == Side::Buy =>
            {
                (spec.max_qty, spec.parse_quote_budget(text).map_err(Refusal::of)?)
            }
            (Err(_), Ok(_)) => {
                return Err(Refusal::unsupported(
                    "CashOrderQty (152) is for market and stop-market buys only".into(),
                ));
            }
            (Ok(_), Ok(_)) => {
                return Err(Refusal::other("OrderQty (38) and CashOrderQty (152) exclude each other".into()));
            }
            (Err(_), Err(_)) => {
                return Err(Refusal("13", "OrderQty (38) or CashOrderQty (152) is required".into()));
            }
        };
        let price = if matches!(kind, OrderKind::Limit | OrderKind::StopLimit) {
            let text = f
                .get_decimal(44)
                .map_err(|_| Refusal::other("Price (44) is required for this OrdType".into()))?;
            spec.parse_price(text).map_err(Refusal::of)?
        } else {
            Price(0)
        };
        let stop_price = if kind.is_stop() {
            let text = f
                .get_decimal(99)
                .map_err(|_| Refusal::other("StopPx (99) is required for this OrdType".into()))?;
            spec.parse_price(text).map_err(Refusal::of)?
        } else {
            Price(0)
        };
        let tif = match f.get_char(59).unwrap_or(b'0') {
            b'0' => TimeInForce::Day,
            b'1' => TimeInForce::Gtc,
            b'3' => TimeInForce::Ioc,
            b'4' => TimeInForce::Fok,
            b'6' => TimeInForce::Gtd,
            other => {
                return Err(Refusal::unsupported(format!(
                    "TimeInForce (59) {} is not supported",
                    other as char
                )));
            }
        };
        let expire_time = if tif == TimeInForce::Gtd {
            match (f.get_timestamp_ns(126), f.get_str(432)) {
                (Ok(ns), _) => ns,
                (_, Ok(date)) => end_of_date(date)
                    .ok_or_else(|| Refusal::other("ExpireDate (432) is not a date".into()))?,
                _ => return Err(Refusal::of(Reject::InvalidExpireTime)),
            }
        } else {
            0
        };
        let post_only = f.get_str(18).is_ok_and(|inst| inst.split(' ').any(|i| i == "6"));
        let display_qty = match f.get_decimal(111) {
            Ok(text) => spec.parse_qty(text).map_err(|_| Refusal::of(Reject::InvalidDisplayQty))?,
            Err(_) => Qty::ZERO,
        };
        Ok(NewOrder {
            instrument,
            order_id: OrderId(0),
            client_order_id: client_id(cl),
            account: self.account,
            stp_group: StpGroup(0),
            side,
            kind,
            tif,
            price,
            stop_price,
            qty,
            display_qty,
            post_only,
            stp: StpMode::default(),
            expire_time: Timestamp(expire_time),
            quote_budget,
        })
    }

    fn order_ref(&self, f: &Fields<'_>) -> Option<(OrderRef, Arc<str>)> {
        let orig = Self::shared(f, 41);
        if !orig.is_empty() {
            return Some((OrderRef::Client(self.account, client_id(&orig)), orig));
        }
        let id = f.get_u64(37).ok()?;
        let orig = self.orders.get(&OrderId(id)).map_or_else(|| Arc::from(""), |o| o.cl.clone());
        Some((OrderRef::Id(OrderId(id)), orig))
    }

    fn cancel(&mut self, f: &Fields<'_>) -> Inbound {
        let cl = Self::shared(f, 11);
        if let Err(text) = Self::check_ids(f) {
            let r = self.cancel_reject(&cl, &Self::shared(f, 41), None, '1', Reject::InvalidOrderCombination);
            return Inbound::Answer(with_text(r, text));
        }
        let instrument = f.get_str(55).ok().and_then(|s| self.symbol_id(s));
        let (Some((target, orig)), Some(instrument)) = (self.order_ref(f), instrument) else {
            let orig = Self::shared(f, 41);
            return Inbound::Answer(self.cancel_reject(&cl, &orig, None, '1', Reject::UnknownOrder));
        };
        self.pending.push_back(Pending::Cancel { cl, orig });
        Inbound::Submit(Command::Cancel(CancelOrder { instrument, target, account: Some(self.account) }))
    }

    fn replace(&mut self, f: &Fields<'_>) -> Inbound {
        let cl = Self::shared(f, 11);
        if let Err(text) = Self::check_ids(f) {
            let r = self.cancel_reject(&cl, &Self::shared(f, 41), None, '2', Reject::InvalidOrderCombination);
            return Inbound::Answer(with_text(r, text));
        }
        let instrument = f.get_str(55).ok().and_then(|s| self.symbol_id(s));
        let (Some((target, orig)), Some(instrument)) = (self.order_ref(f), instrument) else {
            let orig = Self::shared(f, 41);
            return Inbound::Answer(self.cancel_reject(&cl, &orig, None, '2', Reject::UnknownOrder));
        };
        // The engine amends price and quantity; a replace that would turn a
        // buy into a sell is refused rather than carried out as something
        // else than asked.
        let known = match target {
            OrderRef::Id(id) => self.orders.get_key_value(&id),
            OrderRef::Client(..) => self.orders.iter().find(|(_, o)| o.cl == orig),
        };
        let side = match f.get_char(54) {
            Ok(b'1') => Some(Side::Buy),
            Ok(b'2') => Some(Side::Sell),
            Err(_) => None,
            Ok(_) => {
                let r = self.cancel_reject(&cl, &orig, None, '2', Reject::InvalidOrderCombination);
                return Inbound::Answer(with_text(r, "Side (54) must be 1 (buy) or 2 (sell)"));
            }
        };
        if let (Some((&id, order)), Some(side)) = (known, side)
            && order.side != side
        {
            let r = self.cancel_reject(&cl, &orig, Some(id), '2', Reject::NotAmendable);
            return Inbound::Answer(with_text(
                r,
                "Side (54) cannot change on a replace: cancel and send a new order",
            ));
        }
        let spec = self.spec(instrument).expect("instrument exists");
        let price = match f.get_decimal(44).map(|t| spec.parse_price(t)) {
            Ok(Ok(price)) => price,
            Ok(Err(reject)) => return Inbound::Answer(self.cancel_reject(&cl, &orig, None, '2', reject)),
            Err(_) => match self.orders.values().find(|o| o.cl == orig) {
                Some(order) => order.price,
                None => {
                    return Inbound::Answer(self.cancel_reject(&cl, &orig, None, '2', Reject::UnknownOrder));
                }
            },
        };
        let new_qty = match f.get_decimal(38).map(|t| spec.parse_qty(t)) {
            Ok(Ok(qty)) => Some(qty),
            Ok(Err(reject)) => return Inbound::Answer(self.cancel_reject(&cl, &orig, None, '2', reject)),
            Err(_) => None,
        };
        let new_client_order_id = if cl.is_empty() { ClientOrderId::NONE } else { client_id(&cl) };
        self.names.remember(new_client_order_id, cl.clone());
        self.pending.push_back(Pending::Amend { cl, orig });
        Inbound::Submit(Command::Amend(AmendOrder {
            instrument,
            target,
            account: Some(self.account),
            new_price: price,
            new_qty,
            new_client_order_id,
        }))
    }

    fn mass_cancel(&mut self, f: &Fields<'_>, now_ns: u64) -> Inbound {
        let cl = Self::shared(f, 11);
        let request_type = f.get_char(530).unwrap_or(b'7');
        let symbol = Self::text(f, 55);
        let instrument = match (request_type, &symbol) {
            (b'7', _) => None,
            (b'1', Some(symbol)) => match self.symbol_id(symbol) {
                Some(id) => Some(id),
                None => {
                    let reply = self.mass_report(
                        &cl,
                        request_type,
                        Some(symbol),
                        0,
                        Some(Reject::UnknownInstrument),
                        now_ns,
                    );
                    return Inbound::Answer(reply);
                }
            },
            _ => {
                return Inbound::Answer(self.mass_report(
                    &cl,
                    request_type,
                    symbol.as_deref(),
                    0,
                    Some(Reject::InvalidOrderCombination),
                    now_ns,
                ));
            }
        };
        self.pending.push_back(Pending::Mass { cl, request_type, symbol, affected: 0, rejected: None });
        Inbound::Submit(Command::MassCancel { instrument, account: Some(self.account) })
    }

    fn status(&self, f: &Fields<'_>, now_ns: u64) -> Reply {
        let by_id = f.get_u64(37).ok().and_then(|id| {
            self.orders.get_key_value(&OrderId(id)).or_else(|| self.ended.get_key_value(&OrderId(id)))
        });
        let found = by_id.or_else(|| {
            let cl = Self::text(f, 11)?;
            self.orders
                .iter()
                .find(|(_, o)| o.named(&cl))
                .or_else(|| self.ended.iter().rev().find(|(_, o)| o.named(&cl)))
        });
        // Every ExecutionReport carries an ExecID (17): a report without one
        // cannot be encoded, and the request would go unanswered.
        let exec_id = Value::Owned(format!("status-{now_ns}"));
        match found {
            Some((&id, info)) => {
                let exec = Exec { id: exec_id, ..Exec::default() };
                self.report(id, info, b'I', &exec, now_ns, "status")
            }
            None => {
                let mut r = Reply::new("8");
                r.set(37, f.get_str(37).unwrap_or("NONE").to_owned())
                    .set(11, Self::shared(f, 11))
                    .set(17, exec_id)
                    .set(150, "I")
                    .set(39, "8")
                    .set(54, f.get_str(54).unwrap_or("1").to_owned())
                    .set(55, f.get_str(55).unwrap_or("").to_owned())
                    .set(151, "0")
                    .set(14, "0")
                    .set(6, "0")
                    .set(58, "unknown order");
                r.set(60, timestamp(now_ns));
                r
            }
        }
    }

    fn reject_new(&self, f: &Fields<'_>, cl: &Arc<str>, refusal: Refusal, now_ns: u64) -> Reply {
        let mut r = Reply::new("8");
        r.set(37, "NONE")
            .set(11, cl)
            .set(17, format!("rej-{now_ns}-{}", self.pending.len()))
            .set(150, "8")
            .set(39, "8")
            .set(103, refusal.0)
            .set(58, refusal.1)
            .set(54, f.get_str(54).unwrap_or("1").to_owned())
            .set(55, f.get_str(55).unwrap_or("?").to_owned())
            .set(38, f.get_decimal(38).unwrap_or("0").to_owned())
            .set(151, "0")
            .set(14, "0")
            .set(6, "0")
            .set(60, timestamp(now_ns));
        r
    }

    fn cancel_reject(
        &self,
        cl: &Arc<str>,
        orig: &Arc<str>,
        order: Option<OrderId>,
        response_to: char,
        reject: Reject,
    ) -> Reply {
        let info = order.and_then(|id| self.orders.get(&id).or_else(|| self.ended.get(&id)));
        let mut r = Reply::new("9");
        r.set(37, order.map_or("NONE".to_owned(), |id| id.0.to_string()))
            .set(11, cl)
            .set(41, orig)
            .set(39, info.map_or("8".to_owned(), |i| (i.status as char).to_string()))
            .set(434, response_to.to_string())
            .set(102, cxl_rej_reason(reject))
            .set(
                58,
                if reject == Reject::OrderNotActive {
                    "too late to cancel: the order has ended"
                } else {
                    reject.as_str()
                },
            );
        r
    }

    fn mass_report(
        &self,
        cl: &Arc<str>,
        request_type: u8,
        symbol: Option<&str>,
        affected: u64,
        rejected: Option<Reject>,
        now_ns: u64,
    ) -> Reply {
        let mut r = Reply::new("r");
        r.set(11, cl)
            .set(37, format!("mass-{now_ns}"))
            .set(530, (request_type as char).to_string())
            .set(531, if rejected.is_some() { "0".to_owned() } else { (request_type as char).to_string() });
        if let Some(reject) = rejected {
            r.set(532, if reject == Reject::UnknownInstrument { "1" } else { "99" }).set(58, reject.as_str());
        } else {
            r.set(533, affected.to_string());
        }
        if let Some(symbol) = symbol {
            r.set(55, symbol.to_owned());
        }
        r
    }

    /// The reply to a command the pipeline refused before sequencing (the
    /// venue is busy or stopping): it drops the request just queued.
    pub fn refused(&mut self, command: &Command, reject: Reject, now_ns: u64) -> Reply {
        match (self.pending.pop_back(), command) {
            (Some(Pending::New { cl, .. }), Command::NewOrder(order)) => {
                let spec = self.spec(order.instrument);
                let mut r = Reply::new("8");
                r.set(37, "NONE")
                    .set(11, cl)
                    .set(17, format!("busy-{now_ns}"))
                    .set(150, "8")
                    .set(39, "8")
                    .set(103, ord_rej_reason(reject))
                    .set(58, reject.as_str())
                    .set(54, if order.side == Side::Buy { "1" } else { "2" })
                    .set(55, spec.map_or_else(String::new, |s| s.symbol.clone()))
                    .set(38, spec.map_or_else(|| order.qty.0.to_string(), |s| s.format_qty(order.qty)))
                    .set(151, "0")
                    .set(14, "0")
                    .set(6, "0")
                    .set(60, timestamp(now_ns));
                r
            }
            (Some(Pending::Cancel { cl, orig }), _) => self.cancel_reject(&cl, &orig, None, '1', reject),
            (Some(Pending::Amend { cl, orig }), _) => self.cancel_reject(&cl, &orig, None, '2', reject),
            (Some(Pending::Mass { cl, request_type, symbol, .. }), _) => {
                self.mass_report(&cl, request_type, symbol.as_deref(), 0, Some(reject), now_ns)
            }
            _ => {
                let mut r = Reply::new("j");
                r.set(380, "4").set(58, reject.as_str());
                r
            }
        }
    }

    /// Turns one durable engine output into the session's replies.
    /// `mine` is the session's origin: outputs of its own commands close
    /// its pending requests in order.
    pub fn on_output(&mut self, stamped: &Stamped, mine: u64, out: &mut Vec<Reply>) {
        let own = stamped.origin == mine;
        let time = stamped.time.0;
        let exec_base = stamped.seq;
        if self.held.as_ref().is_some_and(|held| held.seq != stamped.seq) {
            self.release_held(false, out);
        }
        if let Output::Book(event) = stamped.output {
            self.on_event(event.instrument, event.kind, own, time, exec_base, out);
        }
        if stamped.last {
            self.release_held(false, out);
        }
        if own && stamped.last {
            if let Some(Pending::Mass { cl, request_type, symbol, affected, rejected }) = self.pending.front()
            {
                let reply =
                    self.mass_report(cl, *request_type, symbol.as_deref(), *affected, *rejected, time);
                out.push(reply);
            }
            self.pending.pop_front();
        }
    }

    fn exec_id(seq: u64, out: &[Reply]) -> Value {
        Value::ExecId { seq, index: out.len() as u64, trade: None }
    }

    #[allow(clippy::too_many_arguments)]
    fn on_event(
        &mut self,
        instrument: InstrumentId,
        kind: EventKind,
        own: bool,
        time: u64,
        seq: u64,
        out: &mut Vec<Reply>,
    ) {
        let me = self.account;
        if let Some(held) = self.held.as_ref().map(|held| held.order_id) {
            match kind {
                EventKind::Cancelled { order_id, reason: CancelReason::BudgetExhausted, .. }
                    if order_id == held =>
                {
                    self.release_held(true, out);
                    return;
                }
                EventKind::Trade { maker_order_id: a, taker_order_id: b, .. } if a == held || b == held => {
                    self.release_held(false, out);
                }
                EventKind::Cancelled { order_id, .. }
                | EventKind::Expired { order_id, .. }
                | EventKind::Triggered { order_id, .. }
                | EventKind::Amended { order_id, .. }
                | EventKind::Reduced { order_id, .. }
                    if order_id == held =>
                {
                    self.release_held(false, out);
                }
                _ => {}
            }
        }
        match kind {
            EventKind::Accepted { order_id, client_order_id, account, side, kind, price, qty }
                if account == me && !self.counted(order_id, seq) =>
            {
                let (cl, cash) = match (own, self.pending.front()) {
                    (true, Some(Pending::New { cl, cash, .. })) => (cl.clone(), *cash),
                    _ => {
                        // Every gateway bounds a budget order by the
                        // instrument's maximum quantity; its OrderQty would
                        // be that bound, not what the client asked.
                        let by_budget = matches!(kind, OrderKind::Market | OrderKind::Stop)
                            && side == Side::Buy
                            && self.spec(instrument).is_some_and(|s| s.max_qty == qty);
                        let cl = self
                            .names
                            .get(client_order_id)
                            .unwrap_or_else(|| Arc::from(order_id.0.to_string()));
                        (cl, if by_budget { -1 } else { 0 })
                    }
                };
                let info = OrderInfo {
                    cl,
                    orig: None,
                    instrument,
                    side,
                    ord_type: ord_type(kind),
                    price,
                    qty,
                    leaves: qty,
                    cum: 0,
                    notional: 0,
                    unpriced: 0,
                    cash,
                    status: b'0',
                    since: 0,
                };
                let exec = Exec { id: Self::exec_id(seq, out), ..Exec::default() };
                out.push(self.report(order_id, &info, b'0', &exec, time, ""));
                self.orders.insert(order_id, info);
            }
            EventKind::Rejected { order_id, account, request, reason, .. } if account == me && own => {
                match (request, self.pending.front()) {
                    (RequestKind::New, Some(Pending::New { cl, side, .. })) => {
                        let mut r = Reply::new("8");
                        r.set(37, order_id.0.to_string())
                            .set(11, cl.clone())
                            .set(17, Self::exec_id(seq, out))
                            .set(150, "8")
                            .set(39, "8")
                            .set(103, ord_rej_reason(reason))
                            .set(58, reason.as_str())
                            .set(1, me.0.to_string())
                            .set(151, "0")
                            .set(14, "0")
                            .set(6, "0")
                            .set(60, timestamp(time));
                        if let Some(spec) = self.spec(instrument) {
                            r.set(55, spec.symbol.clone());
                        }
                        r.set(54, if *side == Side::Buy { "1" } else { "2" });
                        out.push(r);
                    }
                    (RequestKind::Cancel, Some(Pending::Cancel { cl, orig })) => {
                        out.push(self.refuse_cancel(cl, orig, order_id, '1', reason));
                    }
                    (RequestKind::Amend, Some(Pending::Amend { cl, orig })) => {
                        out.push(self.refuse_cancel(cl, orig, order_id, '2', reason));
                    }
                    (RequestKind::MassCancel, Some(Pending::Mass { .. })) => {
                        if let Some(Pending::Mass { rejected, .. }) = self.pending.front_mut() {
                            *rejected = Some(reason);
                        }
                    }
                    _ => {}
                }
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
                for (account, order_id, leaves, side) in [
                    (maker_account, maker_order_id, maker_leaves, aggressor.opposite()),
                    (taker_account, taker_order_id, taker_leaves, aggressor),
                ] {
                    if account != me || self.counted(order_id, seq) {
                        continue;
                    }
                    let info = self.orders.entry(order_id).or_insert_with(|| OrderInfo {
                        cl: Arc::from(order_id.0.to_string()),
                        orig: None,
                        instrument,
                        side,
                        ord_type: b'2',
                        price,
                        qty: Qty(qty.0 + leaves.0),
                        leaves,
                        cum: 0,
                        notional: 0,
                        unpriced: 0,
                        cash: 0,
                        status: b'0',
                        since: 0,
                    });
                    info.cum += qty.0;
                    info.notional += i128::from(price.0) * i128::from(qty.0);
                    info.leaves = leaves;
                    info.status = if leaves.0 == 0 { b'2' } else { b'1' };
                    let info = info.clone();
                    let exec = Exec {
                        id: Value::ExecId { seq, index: out.len() as u64, trade: Some(trade_id.0) },
                        last: Some((price, qty)),
                    };
                    if info.cash != 0 && order_id == taker_order_id && leaves.0 > 0 {
                        self.release_held(false, out);
                        self.held = Some(HeldFill { order_id, exec, time, seq });
                        continue;
                    }
                    out.push(self.report(order_id, &info, b'F', &exec, time, ""));
                    if leaves.0 == 0 {
                        self.end(order_id);
                    }
                }
            }
            EventKind::Cancelled { order_id, account, reason, .. }
                if account == me && !self.counted(order_id, seq) =>
            {
                self.finish(order_id, b'4', own, time, seq, cancel_text(reason), out);
            }
            EventKind::Expired { order_id, account, .. } if account == me && !self.counted(order_id, seq) => {
                self.finish(order_id, b'C', own, time, seq, "expired", out);
            }
            EventKind::Triggered { order_id, account, .. }
                if account == me && !self.counted(order_id, seq) =>
            {
                if let Some(info) = self.orders.get(&order_id).cloned() {
                    let exec = Exec { id: Self::exec_id(seq, out), ..Exec::default() };
                    out.push(self.report(order_id, &info, b'L', &exec, time, "stop triggered"));
                }
            }
            EventKind::Amended { order_id, account, price, qty, leaves, .. }
                if account == me && !self.counted(order_id, seq) =>
            {
                let new_cl = match (own, self.pending.front()) {
                    (true, Some(Pending::Amend { cl, orig })) if !cl.is_empty() => {
                        Some((cl.clone(), orig.clone()))
                    }
                    _ => None,
                };
                if let Some(info) = self.orders.get_mut(&order_id) {
                    if let Some((cl, orig)) = new_cl {
                        info.orig = Some(orig);
                        info.cl = cl;
                    }
                    info.price = price;
                    info.qty = qty;
                    info.leaves = leaves;
                    let info = info.clone();
                    let exec = Exec { id: Self::exec_id(seq, out), ..Exec::default() };
                    out.push(self.report(order_id, &info, b'5', &exec, time, ""));
                }
            }
            EventKind::Reduced { order_id, account, qty, leaves }
                if account == me && !self.counted(order_id, seq) =>
            {
                if let Some(info) = self.orders.get_mut(&order_id) {
                    info.qty = Qty(info.qty.0 - qty.0);
                    info.leaves = leaves;
                    let info = info.clone();
                    let exec = Exec { id: Self::exec_id(seq, out), ..Exec::default() };
                    out.push(self.report(
                        order_id,
                        &info,
                        b'D',
                        &exec,
                        time,
                        "reduced by self-trade prevention",
                    ));
                }
            }
            EventKind::MassCancelled { count, .. } if own => {
                if let Some(Pending::Mass { affected, .. }) = self.pending.front_mut() {
                    *affected += u64::from(count);
                }
            }
            _ => {}
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn finish(
        &mut self,
        order_id: OrderId,
        status: u8,
        own: bool,
        time: u64,
        seq: u64,
        text: &'static str,
        out: &mut Vec<Reply>,
    ) {
        let Some(info) = self.orders.get_mut(&order_id) else { return };
        if let (true, b'4', Some(Pending::Cancel { cl, orig })) = (own, status, self.pending.front())
            && !cl.is_empty()
        {
            info.orig = Some(orig.clone());
            info.cl = cl.clone();
        }
        info.leaves = Qty(0);
        info.status = status;
        let info = info.clone();
        let exec = Exec { id: Self::exec_id(seq, out), ..Exec::default() };
        out.push(self.report(order_id, &info, status, &exec, time, text));
        self.end(order_id);
    }

    /// Moves an order that ended to the ended orders, forgetting the
    /// oldest beyond [`MAX_ENDED`].
    fn end(&mut self, order_id: OrderId) {
        if let Some(info) = self.orders.remove(&order_id) {
            self.ended.insert(order_id, info);
            if self.ended.len() > MAX_ENDED {
                self.ended.pop_first();
            }
        }
    }

    /// The ended order a refused cancel or replace meant: by the engine's
    /// id if it named one, else by the ClOrdID the client gave.
    fn ended_order(&self, order_id: OrderId, orig: &str) -> Option<OrderId> {
        if self.ended.contains_key(&order_id) {
            return Some(order_id);
        }
        if orig.is_empty() {
            return None;
        }
        self.ended.iter().rev().find(|(_, o)| o.named(orig)).map(|(&id, _)| id)
    }

    /// The OrderCancelReject for a cancel or replace the engine refused: an
    /// order that has ended is "too late" (CxlRejReason 0) with its final
    /// status, not unknown.
    fn refuse_cancel(
        &self,
        cl: &Arc<str>,
        orig: &Arc<str>,
        order_id: OrderId,
        response_to: char,
        reason: Reject,
    ) -> Reply {
        if matches!(reason, Reject::UnknownOrder | Reject::OrderNotActive)
            && let Some(ended) = self.ended_order(order_id, orig)
        {
            return self.cancel_reject(cl, orig, Some(ended), response_to, Reject::OrderNotActive);
        }
        let known = self.orders.contains_key(&order_id).then_some(order_id);
        self.cancel_reject(cl, orig, known, response_to, reason)
    }

    fn report(
        &self,
        order_id: OrderId,
        info: &OrderInfo,
        exec_type: u8,
        exec: &Exec,
        time: u64,
        text: &'static str,
    ) -> Reply {
        let spec = self.spec(info.instrument);
        let qty = |q: i64| {
            spec.map_or(Value::Scaled(q, 0), |s| Value::Scaled(q.saturating_mul(s.lot_size), s.qty_decimals))
        };
        let price = |p: Price| {
            spec.map_or(Value::Scaled(p.0, 0), |s| {
                Value::Scaled(p.0.saturating_mul(s.tick_size), s.price_decimals)
            })
        };
        // Ascending tag order, the order on the wire (the encoder then
        // has nothing to sort).
        let mut r = Reply::new("8");
        r.set(1, Value::Uint(u64::from(self.account.0)))
            .set(6, avg_px(spec, info))
            .set(11, &info.cl)
            .set(14, qty(info.cum))
            .set(17, exec.id.clone());
        if let Some((last_px, last_qty)) = exec.last {
            r.set(31, price(last_px)).set(32, qty(last_qty.0));
        }
        r.set(37, Value::Uint(order_id.0));
        // An order placed with a budget reports the budget, not the
        // quantity the engine bounds it with (the instrument's maximum).
        if info.cash == 0 {
            r.set(38, qty(info.qty.0));
        }
        r.set(39, Value::Char(info.status)).set(40, Value::Char(info.ord_type));
        if let Some(orig) = &info.orig {
            r.set(41, orig);
        }
        if matches!(info.ord_type, b'2' | b'4') {
            r.set(44, price(info.price));
        }
        r.set(54, if info.side == Side::Buy { "1" } else { "2" }).set(55, self.symbol(info.instrument));
        if !text.is_empty() {
            r.set(58, text);
        }
        r.set(60, Value::Time(time)).set(150, Value::Char(exec_type)).set(151, qty(info.leaves.0));
        if info.cash > 0
            && let Some(s) = spec
        {
            let units = info.cash.saturating_mul(s.tick_size).saturating_mul(s.lot_size);
            r.set(152, Value::Scaled(units, s.price_decimals + s.qty_decimals));
        }
        r
    }
}

struct Exec {
    id: Value,
    last: Option<(Price, Qty)>,
}

impl Default for Exec {
    fn default() -> Exec {
        Exec { id: Value::Static(""), last: None }
    }
}

/// OrdType (40) of an engine order kind.
fn ord_type(kind: OrderKind) -> u8 {
    match kind {
        OrderKind::Market => b'1',
        OrderKind::Limit => b'2',
        OrderKind::Stop => b'3',
        OrderKind::StopLimit => b'4',
    }
}

fn timestamp(ns: u64) -> String {
    String::from_utf8_lossy(&venue_fix::time::format_utc_timestamp_millis(ns)).into_owned()
}

/// Average fill price, exact to four decimals beyond the price grid
/// (truncated), computed in integers.
fn avg_px(spec: Option<&InstrumentSpec>, info: &OrderInfo) -> Value {
    let Some(spec) = spec else { return Value::Static("0") };
    let priced = info.cum - info.unpriced;
    if priced <= 0 {
        return Value::Static("0");
    }
    let units = info.notional * i128::from(spec.tick_size) * 10_000 / i128::from(priced);
    Value::Scaled(i64::try_from(units).unwrap_or(i64::MAX), spec.price_decimals + 4)
}
