//! WebSocket market streams in Binance's shape: raw streams at
//! `/ws/<stream>` (the event itself) and combined streams at
//! `/stream?streams=a/b` (`{"stream": name, "data": event}`), with live
//! `SUBSCRIBE`, `UNSUBSCRIBE` and `LIST_SUBSCRIPTIONS`.
//!
//! Streams: `<symbol>@depth` and `@depth@100ms` (diffs: `U`/`u` follow
//! Binance's rules, so a client syncs from a REST `depth` snapshot exactly),
//! `@depth5`/`@depth10`/`@depth20` (partial books), `@trade`, `@aggTrade`
//! (one per trade), `@bookTicker`, `@ticker`, `@kline_<interval>`.
//!
//! One hub task reads the market-data updates (shared `Arc`s from the one
//! market-data component) and encodes each stream's event once per update,
//! for every subscriber of it. Each connection has a bounded queue: a
//! subscriber that falls behind is disconnected with a clear close reason
//! (it resynchronises from a snapshot) and never slows the venue or other
//! subscribers.

use crate::rest::{Rest, rest_symbol};
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::response::Response;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{broadcast, mpsc};
use venue_domain::{InstrumentId, InstrumentSpec, Side};
use venue_marketdata::{Interval, Update};

/// Frames a connection may have queued before it is cut off as too slow.
const QUEUE: usize = 4096;
/// Streams one connection may hold.
const MAX_STREAMS: usize = 1024;
/// Keepalive ping period.
const PING: Duration = Duration::from_secs(20);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Depth,
    Partial(usize),
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
        let kind = match rest.strip_suffix("@100ms").or(rest.strip_suffix("@1000ms")).unwrap_or(rest) {
            "depth" => Kind::Depth,
            "depth5" => Kind::Partial(5),
            "depth10" => Kind::Partial(10),
            "depth20" => Kind::Partial(20),
            "trade" => Kind::Trade,
            "aggTrade" => Kind::AggTrade,
            "bookTicker" => Kind::BookTicker,
            "ticker" => Kind::Ticker,
            other => Kind::Kline(Interval::from_name(other.strip_prefix("kline_")?)?),
        };
        Some(Stream { instrument: spec.id, kind })
    }

    /// Feeds every update to the subscribers until the market data stops.
    pub async fn run(self: Arc<WsHub>, mut updates: broadcast::Receiver<Arc<Update>>) {
        loop {
            match updates.recv().await {
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
        let Some(spec) = self.rest.specs().get(update.instrument.0 as usize).cloned() else { return };
        // Each stream's frames are encoded once per update (raw), and wrapped
        // once per stream name for combined subscribers.
        let mut encoded: Vec<(Kind, Vec<Utf8Bytes>)> = Vec::new();
        let mut wrapped: BTreeMap<String, Vec<Utf8Bytes>> = BTreeMap::new();
        let conns = self.lock();
        for conn in conns.values() {
            if conn.overflowed.load(Ordering::Relaxed) {
                continue;
            }
            for (name, stream) in &conn.streams {
                if stream.instrument != update.instrument {
                    continue;
                }
                let at = match encoded.iter().position(|(k, _)| *k == stream.kind) {
                    Some(at) => at,
                    None => {
                        let frames = self
                            .encode(&spec, stream.kind, update)
                            .into_iter()
                            .map(Utf8Bytes::from)
                            .collect();
                        encoded.push((stream.kind, frames));
                        encoded.len() - 1
                    }
                };
                let frames = if conn.combined {
                    wrapped
                        .entry(name.clone())
                        .or_insert_with(|| {
                            let wrap = |raw: &Utf8Bytes| {
                                Utf8Bytes::from(format!(
                                    "{{\"stream\":\"{name}\",\"data\":{}}}",
                                    raw.as_str()
                                ))
                            };
                            encoded[at].1.iter().map(wrap).collect()
                        })
                        .clone()
                } else {
                    encoded[at].1.clone()
                };
                for frame in frames {
                    if conn.tx.try_send(frame).is_err() {
                        conn.overflowed.store(true, Ordering::Relaxed);
                        break;
                    }
                }
            }
        }
    }

    fn encode(&self, spec: &InstrumentSpec, kind: Kind, update: &Update) -> Vec<String> {
        let symbol = rest_symbol(spec);
        let event_time = ms(update.time.0);
        let level = |price, qty| json!([spec.format_price(price), spec.format_qty(qty)]);
        match kind {
            Kind::Depth if update.has_l2() => {
                let side = |side: Side| -> Vec<Value> {
                    update.levels.iter().filter(|l| l.side == side).map(|l| level(l.price, l.qty)).collect()
                };
                let (first, last) = update.l2_range();
                vec![json!({ "e": "depthUpdate", "E": event_time, "s": symbol, "U": first, "u": last, "b": side(Side::Buy), "a": side(Side::Sell) }).to_string()]
            }
            Kind::Partial(n) if update.has_l2() => {
                let Some(depth) = self.rest.market().lock().depth(spec.id, Some(n)) else {
                    return Vec::new();
                };
                let side = |levels: &[venue_marketdata::PriceLevel]| -> Vec<Value> {
                    levels.iter().map(|l| level(l.price, l.qty)).collect()
                };
                vec![json!({ "lastUpdateId": depth.seq, "bids": side(&depth.bids), "asks": side(&depth.asks) }).to_string()]
            }
            Kind::Trade => update
                .trades
                .iter()
                .map(|t| {
                    json!({
                        "e": "trade", "E": event_time, "s": symbol, "t": t.trade_id.0,
                        "p": spec.format_price(t.price), "q": spec.format_qty(t.qty),
                        "T": ms(t.time.0), "m": t.aggressor == Side::Sell, "M": true,
                    })
                    .to_string()
                })
                .collect(),
            Kind::AggTrade => update
                .trades
                .iter()
                .map(|t| {
                    json!({
                        "e": "aggTrade", "E": event_time, "s": symbol, "a": t.trade_id.0,
                        "p": spec.format_price(t.price), "q": spec.format_qty(t.qty),
                        "f": t.trade_id.0, "l": t.trade_id.0,
                        "T": ms(t.time.0), "m": t.aggressor == Side::Sell, "M": true,
                    })
                    .to_string()
                })
                .collect(),
            Kind::BookTicker => match update.bbo {
                Some(bbo) => {
                    let px = |l: Option<venue_marketdata::PriceLevel>| {
                        l.map_or("0".to_owned(), |l| spec.format_price(l.price))
                    };
                    let qty = |l: Option<venue_marketdata::PriceLevel>| {
                        l.map_or("0".to_owned(), |l| spec.format_qty(l.qty))
                    };
                    vec![json!({ "u": update.seq, "s": symbol, "b": px(bbo.bid), "B": qty(bbo.bid), "a": px(bbo.ask), "A": qty(bbo.ask) }).to_string()]
                }
                None => Vec::new(),
            },
            Kind::Ticker if !update.trades.is_empty() => {
                let Some(ticker) = self.rest.ticker_json(spec, update.time) else { return Vec::new() };
                let get = |name: &str| ticker.get(name).cloned().unwrap_or(Value::Null);
                vec![json!({
                    "e": "24hrTicker", "E": event_time, "s": symbol,
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
                        "e": "kline", "E": event_time, "s": symbol,
                        "k": {
                            "t": ms(c.open_time.0), "T": ms(c.end_time().0).saturating_sub(1), "s": symbol,
                            "i": interval.name(), "f": o.first_trade_id.0, "L": o.last_trade_id.0,
                            "o": spec.format_price(o.open), "c": spec.format_price(o.close),
                            "h": spec.format_price(o.high), "l": spec.format_price(o.low),
                            "v": spec.format_qty(o.volume), "n": o.trades, "x": false,
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

/// Clients send only small control messages (SUBSCRIBE...): anything
/// larger than this is refused by the WebSocket layer before it is buffered.
const MAX_INBOUND: usize = 16 << 10;

fn limited(upgrade: WebSocketUpgrade) -> WebSocketUpgrade {
    upgrade.max_message_size(MAX_INBOUND).max_frame_size(MAX_INBOUND)
}

/// `/ws/<stream>` (several joined by `/`).
pub async fn raw(
    State(hub): State<Arc<WsHub>>,
    Path(streams): Path<String>,
    upgrade: WebSocketUpgrade,
) -> Response {
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
                if socket.send(Message::Text(frame)).await.is_err() {
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
