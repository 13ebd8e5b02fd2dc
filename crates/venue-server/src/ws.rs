//! WebSocket market streams in Binance's shape: raw streams at
//! `/ws/<stream>` (the event itself) and combined streams at
//! `/stream?streams=a/b` (`{"stream": name, "data": event}`), with live
//! `SUBSCRIBE`, `UNSUBSCRIBE` and `LIST_SUBSCRIPTIONS`.
//!
//! Streams: `<symbol>@depth` and `@depth@100ms` (diffs: `U`/`u` follow
//! Binance's rules, so a client syncs from a REST `depth` snapshot exactly),
//! `@depth5`/`@depth10`/`@depth20` (partial books: the top levels pushed
//! every second, or every 100 ms with `@100ms`, changed or not, as Binance
//! does), `@trade`, `@aggTrade` (one per trade), `@bookTicker`, `@ticker`,
//! `@kline_<interval>` (`x` true on a candle's last message, once its period
//! has ended by the sequencer's time).
//!
//! One hub task reads the market-data updates (shared `Arc`s from the one
//! market-data component) and encodes each stream's event once per update,
//! for every subscriber of it. Each connection has a bounded queue: a
//! subscriber that falls behind is disconnected with a clear close reason
//! (it resynchronises from a snapshot) and never slows the venue or other
//! subscribers.
//!
//! User data streams: `/ws/<listenKey>` (a key from REST `POST
//! /api/v3/userDataStream`) streams one account's events in Binance's
//! shapes: `executionReport` for every order event, `balanceUpdate` for a
//! deposit or withdrawal, `outboundAccountPosition` (the balances of the
//! assets the events touched, read from the engine once per batch of
//! events) after them, and `listenKeyExpired` when the key lapses (60
//! minutes after its last keepalive), after which the connection closes;
//! closing the key (`DELETE`) closes its connections too. The events come
//! from the router's order history ([`crate::history`]), so each
//! report shows the order exactly as it stood after its event.

use crate::clock::now_ms;
use crate::history::{ExecType, OrderEvent, UserEvent, UserFeed};
use crate::rest::{Rest, quote_text, rest_symbol, side_name, stp_name, tif_name, type_name};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use futures_util::SinkExt;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{broadcast, mpsc};
use venue_domain::{AccountId, InstrumentId, InstrumentSpec, Qty, Side};
use venue_engine::AssetId;
use venue_marketdata::{Interval, Update};

/// Frames a connection may have queued before it is cut off as too slow.
const QUEUE: usize = 4096;
/// Streams one connection may hold.
const MAX_STREAMS: usize = 1024;
/// Keepalive ping period.
const PING: Duration = Duration::from_secs(20);
/// The partial book streams' timer: `@100ms` streams push on every tick,
/// the others on every tenth.
const PARTIAL_TICK: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Depth,
    /// Top `levels`, pushed on the hub's timer every `every` of its ticks.
    Partial {
        levels: usize,
        every: u32,
    },
    Trade,
    AggTrade,
    BookTicker,
    Ticker,
    Kline(Interval),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Stream {
    instrument: InstrumentId,
    kind: Kind,
}

struct Conn {
    tx: mpsc::Sender<Utf8Bytes>,
    combined: bool,
    streams: BTreeMap<String, Stream>,
    overflowed: Arc<AtomicBool>,
}

/// The subscribers and the task that feeds them.
pub struct WsHub {
    rest: Arc<Rest>,
    conns: Mutex<BTreeMap<u64, Conn>>,
    next: AtomicU64,
}

fn ms(nanos: u64) -> u64 {
    nanos / 1_000_000
}

impl WsHub {
    /// A hub over the REST state (instruments, market data); `run` feeds it.
    pub fn new(rest: Arc<Rest>) -> Arc<WsHub> {
        Arc::new(WsHub { rest, conns: Mutex::new(BTreeMap::new()), next: AtomicU64::new(1) })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Conn>> {
        self.conns.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Parses a stream name (`btcusdt@depth@100ms`).
    fn parse(&self, name: &str) -> Option<Stream> {
        let (symbol, rest) = name.split_once('@')?;
        let spec = self.rest.specs().iter().find(|s| rest_symbol(s).eq_ignore_ascii_case(symbol))?;
        let (rest, every) = match (rest.strip_suffix("@100ms"), rest.strip_suffix("@1000ms")) {
            (Some(fast), _) => (fast, 1),
            (None, Some(slow)) => (slow, 10),
            (None, None) => (rest, 10),
        };
        let kind = match rest {
            "depth" => Kind::Depth,
            "depth5" => Kind::Partial { levels: 5, every },
            "depth10" => Kind::Partial { levels: 10, every },
            "depth20" => Kind::Partial { levels: 20, every },
            "trade" => Kind::Trade,
            "aggTrade" => Kind::AggTrade,
            "bookTicker" => Kind::BookTicker,
            "ticker" => Kind::Ticker,
            other => Kind::Kline(Interval::from_name(other.strip_prefix("kline_")?)?),
        };
        Some(Stream { instrument: spec.id, kind })
    }

    /// Feeds every update to the subscribers, and the partial books on
    /// their timer, until the market data stops.
    pub async fn run(self: Arc<WsHub>, mut updates: broadcast::Receiver<Arc<Update>>) {
        let mut timer = tokio::time::interval(PARTIAL_TICK);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut ticks = 0u32;
        loop {
            let received = tokio::select! {
                received = updates.recv() => received,
                _ = timer.tick() => {
                    self.publish_partials(ticks);
                    ticks = ticks.wrapping_add(1);
                    continue;
                }
            };
            match received {
                Ok(update) => self.publish(&update),
                Err(broadcast::error::RecvError::Lagged(missed)) => {
                    // Every stream has a hole: everyone resynchronises.
                    tracing::error!(
                        missed,
                        "WebSocket hub fell behind market data: closing every subscriber"
                    );
                    for conn in self.lock().values() {
                        conn.overflowed.store(true, Ordering::Relaxed);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    }

    fn publish(&self, update: &Update) {
        let Some(spec) = self.rest.specs().get(update.instrument.0 as usize) else { return };
        let conns = self.lock();
        // Each stream's frames are encoded once per update (raw), and wrapped
        // once per stream name for combined subscribers; every subscriber
        // gets shared buffers (a reference count, no copy, no allocation).
        // Few distinct kinds and names per update: linear lookups.
        let mut encoded: Vec<(Kind, Vec<Utf8Bytes>)> = Vec::new();
        let mut wrapped: Vec<(&str, Vec<Utf8Bytes>)> = Vec::new();
        for conn in conns.values() {
            if conn.overflowed.load(Ordering::Relaxed) {
                continue;
            }
            'streams: for (name, stream) in &conn.streams {
                // Partial books go out on their timer, not per update.
                if stream.instrument != update.instrument || matches!(stream.kind, Kind::Partial { .. }) {
                    continue;
                }
                let at = match encoded.iter().position(|(k, _)| *k == stream.kind) {
                    Some(at) => at,
                    None => {
                        let frames =
                            self.encode(spec, stream.kind, update).into_iter().map(Utf8Bytes::from).collect();
                        encoded.push((stream.kind, frames));
                        encoded.len() - 1
                    }
                };
                let frames = if conn.combined {
                    let w = match wrapped.iter().position(|(n, _)| *n == name.as_str()) {
                        Some(w) => w,
                        None => {
                            let frames = encoded[at].1.iter().map(|raw| wrap_combined(name, raw)).collect();
                            wrapped.push((name.as_str(), frames));
                            wrapped.len() - 1
                        }
                    };
                    &wrapped[w].1
                } else {
                    &encoded[at].1
                };
                for frame in frames {
                    if conn.tx.try_send(frame.clone()).is_err() {
                        conn.overflowed.store(true, Ordering::Relaxed);
                        break 'streams;
                    }
                }
            }
        }
    }

    /// Pushes the partial books due at timer tick `tick`: each book is
    /// taken and encoded once per instrument and depth, whoever asks.
    fn publish_partials(&self, tick: u32) {
        let mut encoded: BTreeMap<(InstrumentId, usize), Option<Utf8Bytes>> = BTreeMap::new();
        let conns = self.lock();
        for conn in conns.values() {
            if conn.overflowed.load(Ordering::Relaxed) {
                continue;
            }
            for (name, stream) in &conn.streams {
                let Kind::Partial { levels, every } = stream.kind else { continue };
                if !tick.is_multiple_of(every) {
                    continue;
                }
                let raw = encoded
                    .entry((stream.instrument, levels))
                    .or_insert_with(|| self.encode_partial(stream.instrument, levels))
                    .clone();
                let Some(raw) = raw else { continue };
                let frame = if conn.combined { wrap_combined(name, &raw) } else { raw };
                if conn.tx.try_send(frame).is_err() {
                    conn.overflowed.store(true, Ordering::Relaxed);
                    break;
                }
            }
        }
    }

    /// `{"lastUpdateId", "bids", "asks"}`: the top `levels` of the book now.
    fn encode_partial(&self, instrument: InstrumentId, levels: usize) -> Option<Utf8Bytes> {
        let spec = self.rest.specs().get(instrument.0 as usize)?;
        let depth = self.rest.market().lock().depth(instrument, Some(levels))?;
        let mut out = String::with_capacity(64 + 32 * (depth.bids.len() + depth.asks.len()));
        out.push_str("{\"lastUpdateId\":");
        out.push_str(&depth.seq.to_string());
        for (name, side) in [(",\"bids\":[", &depth.bids), ("],\"asks\":[", &depth.asks)] {
            out.push_str(name);
            for (i, level) in side.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_level(&mut out, spec, level.price, level.qty);
            }
        }
        out.push_str("]}");
        Some(Utf8Bytes::from(out))
    }

    fn encode(&self, spec: &InstrumentSpec, kind: Kind, update: &Update) -> Vec<String> {
        // The value-tree encoders' symbol; the per-update hot ones (depth,
        // trades) write theirs in place.
        let symbol = || rest_symbol(spec);
        let event_time = ms(update.time.0);
        match kind {
            Kind::Depth => encode_depth_update(spec, update).into_iter().collect(),
            Kind::Trade => update.trades.iter().map(|t| encode_trade(spec, update, t, false)).collect(),
            Kind::AggTrade => update.trades.iter().map(|t| encode_trade(spec, update, t, true)).collect(),
            Kind::BookTicker => match update.bbo {
                Some(bbo) => {
                    let px = |l: Option<venue_marketdata::PriceLevel>| {
                        l.map_or("0".to_owned(), |l| spec.format_price(l.price))
                    };
                    let qty = |l: Option<venue_marketdata::PriceLevel>| {
                        l.map_or("0".to_owned(), |l| spec.format_qty(l.qty))
                    };
                    vec![json!({ "u": update.seq, "s": symbol(), "b": px(bbo.bid), "B": qty(bbo.bid), "a": px(bbo.ask), "A": qty(bbo.ask) }).to_string()]
                }
                None => Vec::new(),
            },
            Kind::Ticker if !update.trades.is_empty() => {
                let Some(ticker) = self.rest.ticker_json(spec, update.time) else { return Vec::new() };
                let get = |name: &str| ticker.get(name).cloned().unwrap_or(Value::Null);
                vec![json!({
                    "e": "24hrTicker", "E": event_time, "s": symbol(),
                    "p": get("priceChange"), "P": get("priceChangePercent"), "w": get("weightedAvgPrice"),
                    "x": get("prevClosePrice"), "c": get("lastPrice"), "Q": get("lastQty"),
                    "b": get("bidPrice"), "B": get("bidQty"), "a": get("askPrice"), "A": get("askQty"),
                    "o": get("openPrice"), "h": get("highPrice"), "l": get("lowPrice"),
                    "v": get("volume"), "q": get("quoteVolume"), "O": get("openTime"), "C": get("closeTime"),
                    "F": get("firstId"), "L": get("lastId"), "n": get("count"),
                })
                .to_string()]
            }
            Kind::Kline(interval) => update
                .candles
                .iter()
                .filter(|c| c.interval == interval)
                .map(|c| {
                    let o = &c.ohlcv;
                    json!({
                        "e": "kline", "E": event_time, "s": symbol(),
                        "k": {
                            "t": ms(c.open_time.0), "T": ms(c.end_time().0).saturating_sub(1), "s": symbol(),
                            "i": interval.name(), "f": o.first_trade_id.0, "L": o.last_trade_id.0,
                            "o": spec.format_price(o.open), "c": spec.format_price(o.close),
                            "h": spec.format_price(o.high), "l": spec.format_price(o.low),
                            "v": spec.format_qty(o.volume), "n": o.trades, "x": c.is_closed(update.time),
                            "q": crate::rest::quote_text(spec, o.quote_volume), "V": "0", "Q": "0", "B": "0",
                        }
                    })
                    .to_string()
                })
                .collect(),
            _ => Vec::new(),
        }
    }
}

/// A combined stream's frame: `{"stream": name, "data": raw}`.
fn wrap_combined(name: &str, raw: &Utf8Bytes) -> Utf8Bytes {
    Utf8Bytes::from(format!("{{\"stream\":\"{name}\",\"data\":{}}}", raw.as_str()))
}

/// Appends `text` escaped for the inside of a JSON string.
fn push_json_chars(out: &mut String, text: &str) {
    use std::fmt::Write;
    for c in text.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if u32::from(c) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", u32::from(c));
            }
            c => out.push(c),
        }
    }
}

/// The Binance symbol (`BTCUSDT`) as a JSON string.
fn push_symbol(out: &mut String, spec: &InstrumentSpec) {
    out.push('"');
    push_json_chars(out, &spec.base_asset);
    push_json_chars(out, &spec.quote_asset);
    out.push('"');
}

/// `["price","qty"]` of one level.
fn push_level(out: &mut String, spec: &InstrumentSpec, price: venue_domain::Price, qty: Qty) {
    out.push_str("[\"");
    spec.write_price(out, price);
    out.push_str("\",\"");
    spec.write_qty(out, qty);
    out.push_str("\"]");
}

/// A `<symbol>@depth` event (`depthUpdate`, Binance's field order), if the
/// update changed levels. Built in one buffer: no value tree, no string per
/// field, since it is encoded for every update (once, for all subscribers).
pub fn encode_depth_update(spec: &InstrumentSpec, update: &Update) -> Option<String> {
    use std::fmt::Write;
    if !update.has_l2() {
        return None;
    }
    let (first, last) = update.l2_range();
    let mut out = String::with_capacity(96 + 32 * update.levels.len());
    let _ = write!(out, "{{\"e\":\"depthUpdate\",\"E\":{},\"s\":", ms(update.time.0));
    push_symbol(&mut out, spec);
    let _ = write!(out, ",\"U\":{first},\"u\":{last}");
    for (name, side) in [(",\"b\":[", Side::Buy), ("],\"a\":[", Side::Sell)] {
        out.push_str(name);
        for (i, level) in update.levels.iter().filter(|l| l.side == side).enumerate() {
            if i > 0 {
                out.push(',');
            }
            push_level(&mut out, spec, level.price, level.qty);
        }
    }
    out.push_str("]}");
    Some(out)
}

/// A `<symbol>@trade` event (`trade`), or with `aggregate` a
/// `<symbol>@aggTrade` one (`aggTrade`: each trade is its own aggregate).
pub fn encode_trade(
    spec: &InstrumentSpec,
    update: &Update,
    trade: &venue_marketdata::PublicTrade,
    aggregate: bool,
) -> String {
    use std::fmt::Write;
    let mut out = String::with_capacity(160);
    let kind = if aggregate { "aggTrade" } else { "trade" };
    let _ = write!(out, "{{\"e\":\"{kind}\",\"E\":{},\"s\":", ms(update.time.0));
    push_symbol(&mut out, spec);
    let id = trade.trade_id.0;
    let _ = if aggregate { write!(out, ",\"a\":{id}") } else { write!(out, ",\"t\":{id}") };
    out.push_str(",\"p\":\"");
    spec.write_price(&mut out, trade.price);
    out.push_str("\",\"q\":\"");
    spec.write_qty(&mut out, trade.qty);
    out.push('"');
    if aggregate {
        let _ = write!(out, ",\"f\":{id},\"l\":{id}");
    }
    let maker_buys = trade.aggressor == Side::Sell;
    let _ = write!(out, ",\"T\":{},\"m\":{maker_buys},\"M\":true}}", ms(trade.time.0));
    out
}

/// Clients send only small control messages (SUBSCRIBE...): anything
/// larger than this is refused by the WebSocket layer before it is buffered.
const MAX_INBOUND: usize = 16 << 10;

/// Frames written to one subscriber with a single flush at most.
const WRITE_BATCH: usize = 256;

fn limited(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    // Inbound messages are small requests: a small read buffer (the
    // library zero-fills it before every read attempt).
    upgrade.max_message_size(MAX_INBOUND).max_frame_size(MAX_INBOUND).read_buffer_size(4 << 10)
}

/// `/ws/<stream>` (several joined by `/`), or `/ws/<listenKey>`.
pub async fn raw(
    State(hub): State<Arc<WsHub>>,
    Path(streams): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
    // A listen key is 60 letters and digits; a stream name always has '@'.
    if streams.len() == LISTEN_KEY_LEN && streams.bytes().all(|b| b.is_ascii_alphanumeric()) {
        return user_stream(hub, streams, upgrade);
    }
    let names: Vec<String> = streams.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect();
    limited(upgrade).on_upgrade(move |socket| connection(hub, socket, names, false))
}

/// `/stream?streams=a/b`.
pub async fn combined(
    State(hub): State<Arc<WsHub>>,
    Query(query): Query<BTreeMap<String, String>>,
    upgrade: WebSocketUpgrade,
) -> Response {
    let names: Vec<String> = query
        .get("streams")
        .map(|s| s.split('/').filter(|s| !s.is_empty()).map(str::to_owned).collect())
        .unwrap_or_default();
    limited(upgrade).on_upgrade(move |socket| connection(hub, socket, names, true))
}

fn error(id: &Value, code: i32, msg: &str) -> String {
    json!({ "error": { "code": code, "msg": msg }, "id": id }).to_string()
}

async fn connection(hub: Arc<WsHub>, mut socket: WebSocket, names: Vec<String>, combined: bool) {
    let id = hub.next.fetch_add(1, Ordering::Relaxed);
    let (tx, mut rx) = mpsc::channel(QUEUE);
    let overflowed = Arc::new(AtomicBool::new(false));
    let mut streams = BTreeMap::new();
    for name in names.iter().take(MAX_STREAMS) {
        match hub.parse(name) {
            Some(stream) => {
                streams.insert(name.clone(), stream);
            }
            None => {
                let _ = socket
                    .send(Message::Close(Some(CloseFrame {
                        code: 1008,
                        reason: Utf8Bytes::from(format!("unknown stream {name:?}")),
                    })))
                    .await;
                return;
            }
        }
    }
    hub.lock().insert(id, Conn { tx, combined, streams, overflowed: overflowed.clone() });
    let mut ping = tokio::time::interval(PING);
    ping.tick().await;
    let mut check = tokio::time::interval(Duration::from_millis(100));
    loop {
        tokio::select! {
            frame = rx.recv() => {
                let Some(frame) = frame else { break };
                // Whatever else is already queued goes out in the same
                // write: a subscriber that is behind costs one syscall per
                // batch, not one per frame.
                let mut ok = socket.feed(Message::Text(frame)).await.is_ok();
                let mut batched = 1;
                while ok && batched < WRITE_BATCH && let Ok(more) = rx.try_recv() {
                    ok = socket.feed(Message::Text(more)).await.is_ok();
                    batched += 1;
                }
                if !ok || socket.flush().await.is_err() {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Text(text))) => {
                    let reply = request(&hub, id, text.as_str());
                    if socket.send(Message::Text(Utf8Bytes::from(reply))).await.is_err() {
                        break;
                    }
                }
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            _ = check.tick() => {
                if overflowed.load(Ordering::Relaxed) {
                    let reason = "slow consumer: fell behind the stream; resynchronise from a REST snapshot";
                    let _ = socket.send(Message::Close(Some(CloseFrame { code: 1008, reason: Utf8Bytes::from_static(reason) }))).await;
                    break;
                }
            }
        }
    }
    hub.lock().remove(&id);
}

/// A live method: SUBSCRIBE, UNSUBSCRIBE, LIST_SUBSCRIPTIONS.
fn request(hub: &WsHub, conn: u64, text: &str) -> String {
    let Ok(value) = serde_json::from_str::<Value>(text) else {
        return error(&Value::Null, 3, "Invalid JSON: expected an object with method, params and id");
    };
    let id = value.get("id").cloned().unwrap_or(Value::Null);
    if !(id.is_null() || id.is_u64() || id.is_i64() || id.is_string()) {
        return error(&id, 1, "Invalid value type: expected an integer or a string for 'id'");
    }
    let params: Vec<String> = match value.get("params") {
        None => Vec::new(),
        Some(Value::Array(items)) if items.iter().all(Value::is_string) => {
            items.iter().filter_map(|v| v.as_str().map(str::to_owned)).collect()
        }
        Some(_) => return error(&id, 2, "Invalid request: 'params' must be a list of stream names"),
    };
    let mut conns = hub.lock();
    let Some(entry) = conns.get_mut(&conn) else { return error(&id, 0, "connection closing") };
    match value.get("method").and_then(Value::as_str) {
        Some("SUBSCRIBE") => {
            let mut parsed = Vec::new();
            for name in &params {
                match hub.parse(name) {
                    Some(stream) => parsed.push((name.clone(), stream)),
                    None => return error(&id, 2, &format!("Invalid request: unknown stream {name:?}")),
                }
            }
            if entry.streams.len() + parsed.len() > MAX_STREAMS {
                return error(&id, 2, "Invalid request: too many streams on one connection (1024 at most)");
            }
            entry.streams.extend(parsed);
            json!({ "result": Value::Null, "id": id }).to_string()
        }
        Some("UNSUBSCRIBE") => {
            for name in &params {
                entry.streams.remove(name);
            }
            json!({ "result": Value::Null, "id": id }).to_string()
        }
        Some("LIST_SUBSCRIPTIONS") => {
            let names: Vec<&String> = entry.streams.keys().collect();
            json!({ "result": names, "id": id }).to_string()
        }
        _ => error(&id, 2, "Invalid request: method must be SUBSCRIBE, UNSUBSCRIBE or LIST_SUBSCRIPTIONS"),
    }
}

// ---- user data streams --------------------------------------------------------

/// Length of a listen key (letters and digits), as Binance's.
pub const LISTEN_KEY_LEN: usize = 60;
/// How long a listen key stays valid after it is created or kept alive.
pub const LISTEN_KEY_TTL: Duration = Duration::from_secs(60 * 60);
/// Events a user stream connection may have waiting before it is cut off.
const USER_QUEUE: usize = 4096;
/// How often a user stream checks its key (expired, closed).
const KEY_CHECK: Duration = Duration::from_secs(1);

/// What a listen key is worth now.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyState {
    /// Valid, for this account.
    Valid(AccountId),
    /// Lapsed without a keepalive.
    Expired,
    /// Never issued, or closed.
    Unknown,
}

/// The user data streams' listen keys: one per account at a time (while it
/// is valid, asking again returns it), so there are at most as many as
/// accounts; an expired key is kept (so its streams can say so) until its
/// account asks for a new one.
#[derive(Default)]
pub struct ListenKeys {
    keys: Mutex<HashMap<String, (AccountId, Instant)>>,
}

/// 60 random letters and digits from the operating system's generator.
fn random_key() -> Option<String> {
    const ALPHABET: &[u8; 62] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let random = rustls::crypto::ring::default_provider().secure_random;
    let mut key = String::with_capacity(LISTEN_KEY_LEN);
    let mut bytes = [0u8; 64];
    while key.len() < LISTEN_KEY_LEN {
        random.fill(&mut bytes).ok()?;
        // 248 = 4 × 62: taking bytes below it keeps every character equally likely.
        for byte in bytes.iter().filter(|&&b| b < 248).take(LISTEN_KEY_LEN - key.len()) {
            key.push(char::from(ALPHABET[usize::from(byte % 62)]));
        }
    }
    Some(key)
}

impl ListenKeys {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (AccountId, Instant)>> {
        self.keys.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The account's valid key, extended, or a new one (its expired key is
    /// dropped). `None` if the system's random generator failed.
    pub fn open(&self, account: AccountId, now: Instant) -> Option<String> {
        let mut keys = self.lock();
        if let Some((key, entry)) =
            keys.iter_mut().find(|(_, (owner, until))| *owner == account && *until > now)
        {
            entry.1 = now + LISTEN_KEY_TTL;
            return Some(key.clone());
        }
        keys.retain(|_, (owner, _)| *owner != account);
        let key = random_key()?;
        keys.insert(key.clone(), (account, now + LISTEN_KEY_TTL));
        Some(key)
    }

    /// Extends `account`'s valid key `key`; false if it is not one.
    pub fn keepalive(&self, key: &str, account: AccountId, now: Instant) -> bool {
        match self.lock().get_mut(key) {
            Some((owner, until)) if *owner == account && *until > now => {
                *until = now + LISTEN_KEY_TTL;
                true
            }
            _ => false,
        }
    }

    /// Closes `account`'s key `key` (valid or expired); false if it is not one.
    pub fn close(&self, key: &str, account: AccountId) -> bool {
        let mut keys = self.lock();
        if keys.get(key).is_some_and(|(owner, _)| *owner == account) {
            keys.remove(key);
            true
        } else {
            false
        }
    }

    /// What `key` is worth at `now`.
    pub fn state(&self, key: &str, now: Instant) -> KeyState {
        match self.lock().get(key) {
            Some((account, until)) if *until > now => KeyState::Valid(*account),
            Some(_) => KeyState::Expired,
            None => KeyState::Unknown,
        }
    }
}

/// `/ws/<listenKey>`: subscribed before the upgrade is answered, so no
/// event after the client sees the connection open is missed; an unknown,
/// closed or expired key is refused with a close frame (1008) naming it.
fn user_stream(hub: Arc<WsHub>, key: String, upgrade: WebSocketUpgrade) -> Response {
    let feed = match hub.rest.listen_keys().state(&key, Instant::now()) {
        KeyState::Valid(account) => {
            Some((account, hub.rest.venue().router.history().subscribe(account, USER_QUEUE)))
        }
        KeyState::Expired | KeyState::Unknown => None,
    };
    limited(upgrade).on_upgrade(move |mut socket| async move {
        match feed {
            Some((account, feed)) => user_connection(hub, socket, key, account, feed).await,
            None => {
                let reason = Utf8Bytes::from_static("This listenKey does not exist.");
                let _ = socket.send(Message::Close(Some(CloseFrame { code: 1008, reason }))).await;
            }
        }
    })
}

async fn close(socket: &mut WebSocket, code: u16, reason: &'static str) {
    let _ =
        socket.send(Message::Close(Some(CloseFrame { code, reason: Utf8Bytes::from_static(reason) }))).await;
}

async fn user_connection(
    hub: Arc<WsHub>,
    mut socket: WebSocket,
    key: String,
    account: AccountId,
    mut feed: UserFeed,
) {
    let mut ping = tokio::time::interval(PING);
    ping.tick().await;
    let mut check = tokio::time::interval(KEY_CHECK);
    loop {
        tokio::select! {
            event = feed.rx.recv() => {
                // The venue stopped.
                let Some(event) = event else { break };
                let mut batch = vec![event];
                while batch.len() < 1024 && let Ok(event) = feed.rx.try_recv() {
                    batch.push(event);
                }
                if !send_batch(&hub, &mut socket, account, &batch).await {
                    break;
                }
            }
            incoming = socket.recv() => match incoming {
                Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break,
                // A user stream takes no requests.
                Some(Ok(_)) => {}
            },
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break;
                }
            }
            _ = check.tick() => {
                if feed.overflowed.load(Ordering::Relaxed) {
                    close(&mut socket, 1008, "slow consumer: fell behind the user data stream; resynchronise from REST").await;
                    break;
                }
                match hub.rest.listen_keys().state(&key, Instant::now()) {
                    KeyState::Valid(owner) if owner == account => {}
                    KeyState::Expired => {
                        let event = json!({ "e": "listenKeyExpired", "E": now_ms(), "listenKey": key });
                        let _ = socket.send(Message::Text(Utf8Bytes::from(event.to_string()))).await;
                        close(&mut socket, 1000, "listenKey expired").await;
                        break;
                    }
                    _ => {
                        close(&mut socket, 1000, "listenKey closed").await;
                        break;
                    }
                }
            }
        }
    }
}

/// The assets of an instrument (base, quote), as engine asset ids.
fn assets_of(hub: &WsHub, spec: &InstrumentSpec) -> [Option<AssetId>; 2] {
    let engine = &hub.rest.venue().engine;
    let id = |name: &str| engine.assets.iter().position(|a| a.name == name).map(|at| AssetId(at as u32));
    [id(&spec.base_asset), id(&spec.quote_asset)]
}

/// Sends a batch of events, then the balances of the assets they touched
/// (one engine read for the batch). False once the connection is gone.
async fn send_batch(hub: &WsHub, socket: &mut WebSocket, account: AccountId, batch: &[UserEvent]) -> bool {
    let now = now_ms();
    let mut assets: Vec<AssetId> = Vec::new();
    let mut last = 0;
    for event in batch {
        let frame = match event {
            UserEvent::Order(order) => {
                let Some(spec) = hub.rest.specs().get(order.order.instrument.0 as usize) else { continue };
                assets.extend(assets_of(hub, spec).into_iter().flatten());
                last = last.max(ms(order.time.0));
                Some(execution_report(hub, spec, order, now))
            }
            UserEvent::Transfer { asset, delta, time } => {
                assets.push(*asset);
                last = last.max(ms(time.0));
                let engine = &hub.rest.venue().engine;
                engine.assets.get(asset.0 as usize).filter(|_| *delta != 0).map(|spec| {
                    json!({
                        "e": "balanceUpdate", "E": now, "a": spec.name,
                        "d": venue_domain::format_scaled(*delta, spec.decimals), "T": ms(time.0),
                    })
                })
            }
        };
        if let Some(frame) = frame
            && socket.send(Message::Text(Utf8Bytes::from(frame.to_string()))).await.is_err()
        {
            return false;
        }
    }
    assets.sort_by_key(|a| a.0);
    assets.dedup();
    if assets.is_empty() {
        return true;
    }
    let venue = hub.rest.venue();
    let wanted = assets.clone();
    let read = move |engine: &venue_engine::Engine| {
        wanted.iter().map(|&asset| engine.balance(account, asset)).collect::<Vec<_>>()
    };
    // Balances as they stand now (at least as recent as the events).
    let Ok(balances) = venue.router.query(&venue.monitor, read, venue.request_timeout).await else {
        return true;
    };
    let list: Vec<Value> = assets
        .iter()
        .zip(balances)
        .filter_map(|(asset, balance)| {
            let spec = venue.engine.assets.get(asset.0 as usize)?;
            Some(json!({
                "a": spec.name,
                "f": venue_domain::format_scaled(balance.available, spec.decimals),
                "l": venue_domain::format_scaled(balance.held, spec.decimals),
            }))
        })
        .collect();
    let position = json!({ "e": "outboundAccountPosition", "E": now_ms(), "u": last, "B": list });
    socket.send(Message::Text(Utf8Bytes::from(position.to_string()))).await.is_ok()
}

/// Binance's `executionReport` for one order event.
fn execution_report(hub: &WsHub, spec: &InstrumentSpec, event: &OrderEvent, now: u64) -> Value {
    let rest = &hub.rest;
    let order = &event.order;
    let name = rest.name(order.client_order_id, order.order_id);
    let orig_qty = if order.quote_budget > 0 { order.executed } else { order.qty };
    let fill = event.fill;
    let quote_decimals = rest.asset_decimals(&spec.quote_asset);
    let mut report = json!({
        "e": "executionReport",
        "E": now,
        "s": rest_symbol(spec),
        "c": name,
        "S": side_name(order.side),
        "o": type_name(order.kind, order.post_only),
        "f": tif_name(order.tif),
        "q": spec.format_qty(orig_qty),
        "p": spec.format_price(order.price),
        "P": spec.format_price(order.stop_price),
        "F": spec.format_qty(order.display_qty),
        "g": -1,
        "C": if event.exec == ExecType::Canceled { name.as_str() } else { "" },
        "x": event.exec.as_str(),
        "X": order.status.as_str(),
        "r": "NONE",
        "i": order.order_id.0,
        "l": spec.format_qty(fill.map_or(Qty::ZERO, |f| f.qty)),
        "z": spec.format_qty(order.executed),
        "L": spec.format_price(fill.map_or(venue_domain::Price(0), |f| f.price)),
        "n": fill.map_or_else(|| "0".to_owned(), |f| venue_domain::format_scaled(f.commission, quote_decimals)),
        "N": fill.map(|_| spec.quote_asset.clone()),
        "T": ms(event.time.0),
        "t": fill.map_or(-1, |f| f.trade_id.0 as i64),
        "I": event.id,
        "w": order.on_book(),
        "m": fill.is_some_and(|f| f.is_maker),
        "M": false,
        "O": ms(order.time.0),
        "Z": quote_text(spec, order.quote.max(0)),
        "Y": quote_text(spec, fill.map_or(0, |f| i128::from(f.price.0) * i128::from(f.qty.0))),
        "Q": quote_text(spec, i128::from(order.quote_budget)),
        "V": stp_name(order.stp),
    });
    if let Some(working) = order.working_time {
        report["W"] = json!(ms(working.0));
    }
    report
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames_have_binance_shapes_and_escape_what_json_needs() {
        use venue_domain::{InstrumentId, OrderId, Price, Timestamp, TradeId};
        use venue_marketdata::{LevelChange, PublicTrade};
        let spec = InstrumentSpec::spot(0, "BTC-USDT", 2, 4);
        let trade = PublicTrade {
            trade_id: TradeId(3),
            price: Price(101),
            qty: Qty(5),
            aggressor: Side::Buy,
            time: Timestamp(1_500_000_000),
            maker_order_id: OrderId(1),
            taker_order_id: OrderId(2),
        };
        let update = Update {
            instrument: InstrumentId(0),
            first_seq: 7,
            seq: 7,
            l2_first_seq: 5,
            l3_first_seq: 7,
            time: Timestamp(2_500_000_000),
            levels: vec![
                LevelChange { side: Side::Buy, price: Price(100), qty: Qty(20_000), count: 1 },
                LevelChange { side: Side::Buy, price: Price(99), qty: Qty(1), count: 1 },
                LevelChange { side: Side::Sell, price: Price(101), qty: Qty(0), count: 0 },
            ],
            l3: Vec::new(),
            trades: vec![trade],
            bbo: None,
            candles: Vec::new(),
            status: None,
        };
        let depth = encode_depth_update(&spec, &update).expect("levels changed");
        assert_eq!(
            depth,
            r#"{"e":"depthUpdate","E":2500,"s":"BTCUSDT","U":5,"u":7,"b":[["1.00","2.0000"],["0.99","0.0001"]],"a":[["1.01","0.0000"]]}"#
        );
        let no_levels = Update { levels: Vec::new(), ..update.clone() };
        assert_eq!(encode_depth_update(&spec, &no_levels), None, "no depth frame without level changes");
        assert_eq!(
            encode_trade(&spec, &update, &trade, false),
            r#"{"e":"trade","E":2500,"s":"BTCUSDT","t":3,"p":"1.01","q":"0.0005","T":1500,"m":false,"M":true}"#
        );
        let sold = PublicTrade { aggressor: Side::Sell, ..trade };
        let agg: Value = serde_json::from_str(&encode_trade(&spec, &update, &sold, true)).expect("JSON");
        assert_eq!(
            agg,
            json!({"e": "aggTrade", "E": 2500, "s": "BTCUSDT", "a": 3, "p": "1.01", "q": "0.0005",
                   "f": 3, "l": 3, "T": 1500, "m": true, "M": true})
        );
        // Whatever an operator names an asset, the frame stays valid JSON.
        let odd = InstrumentSpec { base_asset: "A\"B\\".into(), quote_asset: "\u{1}Q".into(), ..spec };
        let frame: Value = serde_json::from_str(&encode_trade(&odd, &update, &trade, false)).expect("JSON");
        assert_eq!(frame["s"], "A\"B\\\u{1}Q");
    }

    #[test]
    fn listen_keys_are_random_per_account_kept_alive_and_expire() {
        let keys = ListenKeys::default();
        let (alice, bob) = (AccountId(1), AccountId(2));
        let t0 = Instant::now();
        let key = keys.open(alice, t0).expect("random");
        assert!(key.len() == LISTEN_KEY_LEN && key.bytes().all(|b| b.is_ascii_alphanumeric()), "{key}");
        // One key per account while valid; another account gets its own.
        assert_eq!(keys.open(alice, t0 + Duration::from_secs(60)).as_deref(), Some(key.as_str()));
        let bobs = keys.open(bob, t0).expect("random");
        assert_ne!(bobs, key);
        assert_eq!(keys.state(&key, t0), KeyState::Valid(alice));
        // Another account's key is not theirs to keep alive or close.
        assert!(!keys.keepalive(&bobs, alice, t0));
        assert!(!keys.close(&bobs, alice));
        // A keepalive moves the expiry to an hour after it.
        let later = t0 + Duration::from_secs(50 * 60);
        assert!(keys.keepalive(&key, alice, later));
        assert_eq!(keys.state(&key, later + Duration::from_secs(59 * 60)), KeyState::Valid(alice));
        let lapsed = later + LISTEN_KEY_TTL;
        assert_eq!(keys.state(&key, lapsed), KeyState::Expired);
        assert!(!keys.keepalive(&key, alice, lapsed));
        // After expiry the account gets a new key; the old one is gone.
        let fresh = keys.open(alice, lapsed).expect("random");
        assert_ne!(fresh, key);
        assert_eq!(keys.state(&key, lapsed), KeyState::Unknown);
        assert!(keys.close(&fresh, alice));
        assert_eq!(keys.state(&fresh, lapsed), KeyState::Unknown);
        assert!(!keys.close(&fresh, alice));
        assert_eq!(keys.state("nosuchkey", t0), KeyState::Unknown);
    }
}
