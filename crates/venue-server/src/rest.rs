//! The REST API in the shape of Binance's spot API (`/api/v3`), for the
//! part the venue implements, so that clients written for it (ccxt, bots)
//! work by changing the base URL.
//!
//! - Symbols are the base and quote asset names joined (`BTCUSDT`); the
//!   venue's own spelling (`BTC-USDT`) is accepted too.
//! - Numbers are decimal strings on the instrument's grid, refused (never
//!   rounded) when off it.
//! - Signed endpoints: `X-MBX-APIKEY` names the key; `signature` is the hex
//!   HMAC-SHA256, under the key's secret, of the query string followed by
//!   the body, without the `signature` parameter itself; `timestamp`
//!   (ms) must be within `recvWindow` (default 5000, at most 60000) of the
//!   venue's clock and at most 1 s ahead of it. A key touches only its own
//!   account.
//! - Errors are `{"code": <Binance code>, "msg": "..."}` with the HTTP
//!   status Binance uses: -1021 timestamp outside recvWindow, -1022 bad
//!   signature, -2014 bad API-key format, -2015 unknown key or permission,
//!   -1100..-1106 parameter errors, -1121 invalid symbol, -1013 filter
//!   failure, -2010 order rejected, -2011 cancel rejected, -2013 no such
//!   order, -1125 no such listen key, -1145 cancelRestrictions, -2021 and
//!   -2022 cancelReplace (partly) failed, with Binance's `data` member,
//!   -1003 too many requests (429; 418 once a client keeps going).
//! - Limits: request weight per key (per IP when unsigned) per minute and
//!   orders per key per 10 s, reported in `X-MBX-USED-WEIGHT-1M` and
//!   `X-MBX-ORDER-COUNT-10S`.
//!
//! Orders are answered from the engine's durable outputs (ACK, RESULT or
//! FULL). Ended orders and trades (`GET order`, `allOrders`, `myTrades`)
//! come from the router's per-account history
//! ([`crate::history`]), which the router updates before it answers
//! a command; live orders the history does not keep are read from the
//! engine at a command boundary. `order/cancelReplace` is a cancel then a
//! new order, two engine commands: not atomic, as on Binance. User data
//! stream listen keys are issued here and streamed by [`crate::ws`].

use crate::clock::{now_ms, now_ns};
use crate::config::{ApiKeySettings, RestLimits};
use crate::history::{OrderRecord, Query, Status};
use crate::venue::Venue;
use axum::body::Bytes;
use axum::extract::{ConnectInfo, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use venue_domain::{
    AccountId, ClientOrderId, InstrumentId, InstrumentSpec, OrderId, OrderKind, Price, Qty, Reject, Side,
    StpGroup, StpMode, TimeInForce, Timestamp, TradingStatus,
};
use venue_engine::{Command, Output};
use venue_matching::{BookOrder, CancelOrder, EventKind, NewOrder, OrderRef};

/// HMAC-SHA256 (RFC 2104), written out over `sha2` rather than adding a
/// crate for twenty lines.
pub fn hmac_sha256(key: &[u8], message: &[u8]) -> [u8; 32] {
    let mut block = [0u8; 64];
    if key.len() > 64 {
        block[..32].copy_from_slice(&Sha256::digest(key));
    } else {
        block[..key.len()].copy_from_slice(key);
    }
    let mut inner = Sha256::new();
    inner.update(block.map(|b| b ^ 0x36));
    inner.update(message);
    let mut outer = Sha256::new();
    outer.update(block.map(|b| b ^ 0x5c));
    outer.update(inner.finalize());
    outer.finalize().into()
}

/// Lower-case hex, in one allocation (every signed request computes one).
///
/// ```
/// assert_eq!(venue_server::rest::hex(&[0x00, 0xab, 0x7f, 0xff]), "00ab7fff");
/// ```
pub fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for &b in bytes {
        out.push(char::from(DIGITS[usize::from(b >> 4)]));
        out.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    out
}

/// A REST error as Binance clients expect it.
#[derive(Debug)]
pub struct RestError {
    pub(crate) status: StatusCode,
    pub(crate) code: i32,
    pub(crate) msg: String,
    pub(crate) retry_after: Option<u64>,
    /// Binance's `data` member (cancelReplace's outcome of each half).
    pub(crate) data: Option<Value>,
}

impl RestError {
    fn new(status: StatusCode, code: i32, msg: impl Into<String>) -> RestError {
        RestError { status, code, msg: msg.into(), retry_after: None, data: None }
    }
    fn bad(code: i32, msg: impl Into<String>) -> RestError {
        RestError::new(StatusCode::BAD_REQUEST, code, msg)
    }
    fn unavailable() -> RestError {
        RestError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            -1001,
            "Internal error; unable to process your request. Please try again.",
        )
    }
    fn mandatory(name: &str) -> RestError {
        RestError::bad(
            -1102,
            format!("Mandatory parameter '{name}' was not sent, was empty/null, or malformed."),
        )
    }
    fn bad_param(name: &str, why: impl core::fmt::Display) -> RestError {
        RestError::bad(-1100, format!("Illegal characters found in parameter '{name}': {why}."))
    }
    fn filter(reject: Reject) -> RestError {
        RestError::bad(-1013, format!("Filter failure: {}", reject.as_str()))
    }
}

impl IntoResponse for RestError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "msg": self.msg });
        if let Some(data) = self.data {
            body["data"] = data;
        }
        let mut response = (self.status, Json(body)).into_response();
        if let Some(seconds) = self.retry_after
            && let Ok(value) = HeaderValue::from_str(&seconds.to_string())
        {
            response.headers_mut().insert("retry-after", value);
        }
        response
    }
}

type RestResult = Result<Response, RestError>;

/// The usage headers (`X-MBX-USED-WEIGHT-1M`...) to put on an answer.
type UsageHeaders = Vec<(&'static str, String)>;

/// Request parameters from the query string and a form body.
struct Params(Vec<(String, String)>);

fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut at = 0;
    while at < bytes.len() {
        match bytes[at] {
            b'+' => out.push(b' '),
            b'%' => {
                let hex = bytes.get(at + 1..at + 3)?;
                out.push(u8::from_str_radix(std::str::from_utf8(hex).ok()?, 16).ok()?);
                at += 2;
            }
            b => out.push(b),
        }
        at += 1;
    }
    String::from_utf8(out).ok()
}

impl Params {
    fn parse(parts: &[&str]) -> Result<Params, RestError> {
        let mut pairs = Vec::new();
        for part in parts {
            for pair in part.split('&').filter(|p| !p.is_empty()) {
                let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
                let (Some(name), Some(value)) = (percent_decode(name), percent_decode(value)) else {
                    return Err(RestError::bad(-1100, "Illegal characters found in a parameter."));
                };
                if pairs.iter().any(|(n, _): &(String, String)| *n == name) {
                    return Err(RestError::bad(-1101, format!("Duplicate values for parameter '{name}'.")));
                }
                pairs.push((name, value));
            }
        }
        Ok(Params(pairs))
    }

    fn get(&self, name: &str) -> Option<&str> {
        self.0.iter().find(|(n, _)| n == name).map(|(_, v)| v.as_str()).filter(|v| !v.is_empty())
    }

    fn need(&self, name: &str) -> Result<&str, RestError> {
        self.get(name).ok_or_else(|| RestError::mandatory(name))
    }

    fn u64(&self, name: &str) -> Result<Option<u64>, RestError> {
        self.get(name)
            .map(|v| v.parse::<u64>().map_err(|_| RestError::bad_param(name, "not a whole number")))
            .transpose()
    }
}

#[derive(Default)]
struct Window {
    minute: u64,
    weight: u32,
    ten_s: u64,
    orders: u32,
    strikes: u32,
}

/// Shared by the REST handlers.
pub struct Rest {
    venue: Arc<Venue>,
    market: Arc<crate::market::MarketFeed>,
    keys: Vec<ApiKeySettings>,
    limits: RestLimits,
    windows: Mutex<BTreeMap<String, Window>>,
    /// The user data streams' listen keys.
    listen_keys: crate::ws::ListenKeys,
}

/// Most parts an iceberg may be cut into, `ceil(quantity / icebergQty)`:
/// the `ICEBERG_PARTS` filter exchangeInfo advertises. Tiny slices turn one
/// taker into thousands of trades.
const ICEBERG_PARTS: i64 = 1000;

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// Who is calling, once authenticated.
struct Caller<'a> {
    key: &'a ApiKeySettings,
    params: Params,
}

impl Rest {
    /// The REST state over a running venue.
    pub fn new(
        venue: Arc<Venue>,
        keys: Vec<ApiKeySettings>,
        limits: RestLimits,
        market: Arc<crate::market::MarketFeed>,
    ) -> Arc<Rest> {
        Arc::new(Rest {
            venue,
            market,
            keys,
            limits,
            windows: Mutex::new(BTreeMap::new()),
            listen_keys: crate::ws::ListenKeys::default(),
        })
    }

    /// Counts `weight` (and an order if `order`) against `who`; refuses
    /// beyond the limits. Returns the headers to report usage.
    pub(crate) fn charge(&self, who: &str, weight: u32, order: bool) -> Result<UsageHeaders, RestError> {
        let now = now_ms();
        let mut windows = lock(&self.windows);
        // The key's text is copied only the first time it is seen.
        if !windows.contains_key(who) {
            windows.insert(who.to_owned(), Window::default());
        }
        let Some(window) = windows.get_mut(who) else { unreachable!("inserted above") };
        if window.minute != now / 60_000 {
            (window.minute, window.weight) = (now / 60_000, 0);
        }
        if window.ten_s != now / 10_000 {
            (window.ten_s, window.orders) = (now / 10_000, 0);
        }
        window.weight = window.weight.saturating_add(weight);
        if order {
            window.orders = window.orders.saturating_add(1);
        }
        let over_weight = window.weight > self.limits.request_weight_per_minute;
        let over_orders = order && window.orders > self.limits.orders_per_10s;
        if over_weight || over_orders {
            window.strikes = window.strikes.saturating_add(1);
            let retry = if over_weight { 60 - (now / 1000) % 60 } else { 10 - (now / 1000) % 10 };
            let (status, msg) = if window.strikes > 10 {
                (StatusCode::IM_A_TEAPOT, "Way too many requests; IP banned for a while.".to_owned())
            } else if over_weight {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too much request weight used; current limit is {} request weight per 1 MINUTE.",
                        self.limits.request_weight_per_minute
                    ),
                )
            } else {
                (
                    StatusCode::TOO_MANY_REQUESTS,
                    format!(
                        "Too many new orders; current limit is {} orders per 10 SECOND.",
                        self.limits.orders_per_10s
                    ),
                )
            };
            return Err(RestError {
                status,
                code: if over_weight { -1003 } else { -1015 },
                msg: format!("{msg} Retry after {retry} s."),
                retry_after: Some(retry),
                data: None,
            });
        }
        window.strikes = 0;
        let mut headers = vec![("x-mbx-used-weight-1m", window.weight.to_string())];
        if order {
            headers.push(("x-mbx-order-count-10s", window.orders.to_string()));
        }
        Ok(headers)
    }

    /// The API key named by `X-MBX-APIKEY`, if it has the permission.
    fn api_key(&self, headers: &HeaderMap, trade: bool) -> Result<&ApiKeySettings, RestError> {
        let key = headers
            .get("x-mbx-apikey")
            .and_then(|v| v.to_str().ok())
            .filter(|k| !k.is_empty() && k.bytes().all(|b| b.is_ascii_alphanumeric()))
            .ok_or_else(|| RestError::new(StatusCode::UNAUTHORIZED, -2014, "API-key format invalid."))?;
        let key = self
            .keys
            .iter()
            .find(|k| k.key == key)
            .filter(|k| if trade { k.trade } else { k.read })
            .ok_or_else(|| {
                RestError::new(
                    StatusCode::UNAUTHORIZED,
                    -2015,
                    "Invalid API-key, IP, or permissions for action.",
                )
            })?;
        Ok(key)
    }

    /// Checks key, permission, signature and timestamp.
    fn authenticate(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        body: &Bytes,
        trade: bool,
    ) -> Result<Caller<'_>, RestError> {
        let key = self.api_key(headers, trade)?;
        let query = uri.query().unwrap_or("");
        let body =
            std::str::from_utf8(body).map_err(|_| RestError::bad(-1100, "The request body is not UTF-8."))?;
        let params = Params::parse(&[query, body])?;
        let signature = params.need("signature")?.to_ascii_lowercase();
        // The signed payload: query string then body, without `signature`.
        let strip = |part: &str| {
            part.split('&').filter(|p| !p.starts_with("signature=")).collect::<Vec<_>>().join("&")
        };
        let payload = format!("{}{}", strip(query), strip(body));
        let expected = hex(&hmac_sha256(key.secret.expose().as_bytes(), payload.as_bytes()));
        if !crate::config::constant_time_eq(expected.as_bytes(), signature.as_bytes()) {
            return Err(RestError::bad(-1022, "Signature for this request is not valid."));
        }
        let timestamp = params.u64("timestamp")?.ok_or_else(|| RestError::mandatory("timestamp"))?;
        let window = params.u64("recvWindow")?.unwrap_or(5000);
        if window > 60_000 {
            return Err(RestError::bad(-1131, "recvWindow must be less than 60000."));
        }
        let now = now_ms();
        if timestamp > now + 1000 || now.saturating_sub(timestamp) > window {
            return Err(RestError::bad(-1021, "Timestamp for this request is outside of the recvWindow."));
        }
        Ok(Caller { key, params })
    }

    /// A USER_STREAM endpoint's caller: the key alone (`read` permission),
    /// as Binance asks; a request that is signed anyway is checked as any
    /// signed one (signature, timestamp, recvWindow).
    fn authenticate_key(
        &self,
        headers: &HeaderMap,
        uri: &Uri,
        body: &Bytes,
    ) -> Result<Caller<'_>, RestError> {
        let key = self.api_key(headers, false)?;
        let body_text =
            std::str::from_utf8(body).map_err(|_| RestError::bad(-1100, "The request body is not UTF-8."))?;
        let params = Params::parse(&[uri.query().unwrap_or(""), body_text])?;
        if params.get("signature").is_some() {
            return self.authenticate(headers, uri, body, false);
        }
        Ok(Caller { key, params })
    }

    /// The listen keys of the user data streams (the WebSocket side checks
    /// them on connect and while streaming).
    pub(crate) fn listen_keys(&self) -> &crate::ws::ListenKeys {
        &self.listen_keys
    }

    /// The API key named `key`, if configured (gRPC shares the keys).
    pub(crate) fn key(&self, key: &str) -> Option<&ApiKeySettings> {
        self.keys.iter().find(|k| k.key == key)
    }

    /// The venue the handlers act on.
    pub(crate) fn venue(&self) -> &Arc<Venue> {
        &self.venue
    }

    /// The instruments, by id.
    pub fn specs(&self) -> &[InstrumentSpec] {
        &self.venue.engine.instruments
    }

    /// The market data.
    pub fn market(&self) -> &crate::market::MarketFeed {
        &self.market
    }

    fn instrument(&self, symbol: &str) -> Result<&InstrumentSpec, RestError> {
        find_instrument(&self.venue.engine.instruments, symbol)
            .ok_or_else(|| RestError::bad(-1121, "Invalid symbol."))
    }

    /// Decimal places of the asset named `name` (8 if unknown).
    pub(crate) fn asset_decimals(&self, name: &str) -> u8 {
        self.venue.engine.assets.iter().find(|a| a.name == name).map_or(8, |a| a.decimals)
    }

    /// Keeps a client order id's text (see [`crate::names`]): call it
    /// before submitting the order.
    pub(crate) fn remember(&self, id: ClientOrderId, text: &str) {
        self.venue.names.remember(id, text);
    }

    /// The client order id text an answer shows for `order`.
    pub(crate) fn name(&self, id: ClientOrderId, order: OrderId) -> String {
        self.venue.names.name(id, order)
    }
}

/// Binance's spelling of a symbol: base and quote joined.
pub fn rest_symbol(spec: &InstrumentSpec) -> String {
    format!("{}{}", spec.base_asset, spec.quote_asset)
}

/// The instrument a client names, by the venue's symbol ("BTC-USDT") or the
/// Binance one ("BTCUSDT"): the one lookup every gateway uses, without
/// building a string per candidate.
pub fn find_instrument<'a>(specs: &'a [InstrumentSpec], symbol: &str) -> Option<&'a InstrumentSpec> {
    specs.iter().find(|s| {
        s.symbol == symbol
            || symbol.strip_prefix(s.base_asset.as_str()).is_some_and(|rest| rest == s.quote_asset)
    })
}

fn with_headers(body: Value, headers: UsageHeaders) -> Response {
    let mut response = Json(body).into_response();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_str(&value) {
            response.headers_mut().insert(name, value);
        }
    }
    response
}

/// The `/api/v3` routes.
pub fn routes(rest: Arc<Rest>) -> Router {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route("/api/v3/time", get(time))
        .route("/api/v3/exchangeInfo", get(exchange_info))
        .route("/api/v3/depth", get(depth))
        .route("/api/v3/trades", get(trades))
        .route("/api/v3/aggTrades", get(agg_trades))
        .route("/api/v3/klines", get(klines))
        .route("/api/v3/ticker/24hr", get(ticker_24hr))
        .route("/api/v3/ticker/price", get(ticker_price))
        .route("/api/v3/ticker/bookTicker", get(book_ticker))
        .route("/api/v3/account", get(account))
        .route("/api/v3/order", get(query_order).post(new_order).delete(cancel_order))
        .route("/api/v3/order/cancelReplace", post(cancel_replace))
        .route("/api/v3/openOrders", get(open_orders).delete(cancel_open_orders))
        .route("/api/v3/allOrders", get(all_orders))
        .route("/api/v3/myTrades", get(my_trades))
        .route(
            "/api/v3/userDataStream",
            post(start_user_stream).put(keepalive_user_stream).delete(close_user_stream),
        )
        .with_state(rest)
}

async fn ping(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
) -> RestResult {
    let headers = rest.charge(&peer.ip().to_string(), 1, false)?;
    Ok(with_headers(json!({}), headers))
}

async fn time(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
) -> RestResult {
    let headers = rest.charge(&peer.ip().to_string(), 1, false)?;
    Ok(with_headers(json!({ "serverTime": now_ms() }), headers))
}

fn status_name(status: TradingStatus) -> &'static str {
    match status {
        TradingStatus::Open => "TRADING",
        TradingStatus::Halted => "HALT",
        TradingStatus::Closed => "BREAK",
    }
}

async fn exchange_info(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
) -> RestResult {
    let headers = rest.charge(&peer.ip().to_string(), 20, false)?;
    let count = rest.venue.engine.instruments.len();
    let statuses = rest
        .venue
        .router
        .query(
            &rest.venue.monitor,
            move |engine: &venue_engine::Engine| {
                (0..count)
                    .map(|at| {
                        engine
                            .books()
                            .book(InstrumentId(at as u32))
                            .map_or(TradingStatus::Closed, |b| b.status())
                    })
                    .collect::<Vec<_>>()
            },
            rest.venue.request_timeout,
        )
        .await
        .map_err(|_| RestError::unavailable())?;
    let engine = &rest.venue.engine;
    let symbols: Vec<Value> = engine
        .instruments
        .iter()
        .zip(statuses)
        .map(|(spec, status)| {
            let decimals = |name: &str| engine.assets.iter().find(|a| a.name == name).map_or(8, |a| a.decimals);
            json!({
                "symbol": rest_symbol(spec),
                "status": status_name(status),
                "baseAsset": spec.base_asset,
                "baseAssetPrecision": decimals(&spec.base_asset),
                "quoteAsset": spec.quote_asset,
                "quotePrecision": decimals(&spec.quote_asset),
                "quoteAssetPrecision": decimals(&spec.quote_asset),
                "baseCommissionPrecision": decimals(&spec.base_asset),
                "quoteCommissionPrecision": decimals(&spec.quote_asset),
                "orderTypes": ["LIMIT", "LIMIT_MAKER", "MARKET", "STOP_LOSS", "STOP_LOSS_LIMIT"],
                "icebergAllowed": true,
                "ocoAllowed": false,
                "otoAllowed": false,
                "quoteOrderQtyMarketAllowed": true,
                "allowTrailingStop": false,
                "cancelReplaceAllowed": true,
                "isSpotTradingAllowed": true,
                "isMarginTradingAllowed": false,
                "filters": [
                    {
                        "filterType": "PRICE_FILTER",
                        "minPrice": spec.format_price(spec.min_price),
                        "maxPrice": spec.format_price(spec.max_price),
                        "tickSize": spec.format_price(Price(1)),
                    },
                    {
                        "filterType": "LOT_SIZE",
                        "minQty": spec.format_qty(spec.min_qty),
                        "maxQty": spec.format_qty(spec.max_qty),
                        "stepSize": spec.format_qty(Qty(1)),
                    },
                    {
                        "filterType": "MARKET_LOT_SIZE",
                        "minQty": spec.format_qty(spec.min_qty),
                        "maxQty": spec.format_qty(spec.max_qty),
                        "stepSize": spec.format_qty(Qty(1)),
                    },
                    { "filterType": "NOTIONAL", "minNotional": "0", "applyMinToMarket": false, "maxNotional": "9000000000000", "applyMaxToMarket": false, "avgPriceMins": 0 },
                    { "filterType": "ICEBERG_PARTS", "limit": ICEBERG_PARTS },
                ],
                "permissions": ["SPOT"],
                "permissionSets": [["SPOT"]],
                "defaultSelfTradePreventionMode": "EXPIRE_MAKER",
                "allowedSelfTradePreventionModes": ["NONE", "EXPIRE_TAKER", "EXPIRE_MAKER", "EXPIRE_BOTH", "DECREMENT"],
            })
        })
        .collect();
    let body = json!({
        "timezone": "UTC",
        "serverTime": now_ms(),
        "rateLimits": [
            { "rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": rest.limits.request_weight_per_minute },
            { "rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": rest.limits.orders_per_10s },
        ],
        "exchangeFilters": [],
        "symbols": symbols,
    });
    Ok(with_headers(body, headers))
}

async fn account(State(rest): State<Arc<Rest>>, headers: HeaderMap, uri: Uri, body: Bytes) -> RestResult {
    let caller = rest.authenticate(&headers, &uri, &body, false)?;
    let usage = rest.charge(&caller.key.key, 20, false)?;
    let account = caller.key.account;
    let assets = rest.venue.engine.assets.len();
    let tiers = rest.venue.engine.fee_tiers.clone();
    let (info, balances) = rest
        .venue
        .router
        .query(
            &rest.venue.monitor,
            move |engine: &venue_engine::Engine| {
                let info = engine.account(account).copied();
                let balances: Vec<_> =
                    (0..assets).map(|at| engine.balance(account, venue_engine::AssetId(at as u32))).collect();
                (info, balances)
            },
            rest.venue.request_timeout,
        )
        .await
        .map_err(|_| RestError::unavailable())?;
    let info = info.ok_or_else(|| {
        RestError::new(StatusCode::UNAUTHORIZED, -2015, "Invalid API-key, IP, or permissions for action.")
    })?;
    let tier = tiers.get(usize::from(info.tier)).copied().unwrap_or_default();
    let rate = |bps: u16| venue_domain::format_scaled(i64::from(bps), 4);
    let balances: Vec<Value> = balances
        .iter()
        .enumerate()
        .map(|(at, b)| {
            let asset = &rest.venue.engine.assets[at];
            json!({
                "asset": asset.name,
                "free": venue_domain::format_scaled(b.available, asset.decimals),
                "locked": venue_domain::format_scaled(b.held, asset.decimals),
            })
        })
        .collect();
    let body = json!({
        "makerCommission": tier.maker_bps,
        "takerCommission": tier.taker_bps,
        "buyerCommission": 0,
        "sellerCommission": 0,
        "commissionRates": { "maker": rate(tier.maker_bps), "taker": rate(tier.taker_bps), "buyer": "0.0000", "seller": "0.0000" },
        "canTrade": caller.key.trade && !info.kill_switch,
        "canWithdraw": false,
        "canDeposit": false,
        "brokered": false,
        "requireSelfTradePrevention": false,
        "preventSor": false,
        "updateTime": now_ms(),
        "accountType": "SPOT",
        "balances": balances,
        "permissions": ["SPOT"],
        "uid": account.0,
    });
    Ok(with_headers(body, usage))
}

pub(crate) fn side_name(side: Side) -> &'static str {
    if side == Side::Buy { "BUY" } else { "SELL" }
}

pub(crate) fn tif_name(tif: TimeInForce) -> &'static str {
    match tif {
        TimeInForce::Gtc | TimeInForce::Day | TimeInForce::Gtd => "GTC",
        TimeInForce::Ioc => "IOC",
        TimeInForce::Fok => "FOK",
    }
}

pub(crate) fn type_name(kind: OrderKind, post_only: bool) -> &'static str {
    match (kind, post_only) {
        (OrderKind::Limit, true) => "LIMIT_MAKER",
        (OrderKind::Limit, false) => "LIMIT",
        (OrderKind::Market, _) => "MARKET",
        (OrderKind::Stop, _) => "STOP_LOSS",
        (OrderKind::StopLimit, _) => "STOP_LOSS_LIMIT",
    }
}

/// Binance's name of a self-trade prevention mode; `NONE` when unknown
/// (an order placed through FIX or gRPC: the engine's events do not say).
pub(crate) fn stp_name(stp: Option<StpMode>) -> &'static str {
    match stp {
        Some(StpMode::CancelIncoming) => "EXPIRE_TAKER",
        Some(StpMode::CancelResting) => "EXPIRE_MAKER",
        Some(StpMode::CancelBoth) => "EXPIRE_BOTH",
        Some(StpMode::DecrementAndCancel) => "DECREMENT",
        Some(StpMode::Allow) | None => "NONE",
    }
}

/// Builds the engine order from Binance parameters.
fn build_order(
    spec: &InstrumentSpec,
    account: AccountId,
    p: &Params,
    client: ClientOrderId,
) -> Result<(NewOrder, &'static str), RestError> {
    let side = match p.need("side")? {
        "BUY" => Side::Buy,
        "SELL" => Side::Sell,
        other => {
            return Err(RestError::bad(
                -1100,
                format!(
                    "Illegal characters found in parameter 'side'; legal range is 'BUY, SELL' (got {other:?})."
                ),
            ));
        }
    };
    let type_text = p.need("type")?;
    let (kind, post_only) = match type_text {
        "LIMIT" => (OrderKind::Limit, false),
        "LIMIT_MAKER" => (OrderKind::Limit, true),
        "MARKET" => (OrderKind::Market, false),
        "STOP_LOSS" => (OrderKind::Stop, false),
        "STOP_LOSS_LIMIT" => (OrderKind::StopLimit, false),
        "TAKE_PROFIT" | "TAKE_PROFIT_LIMIT" => {
            return Err(RestError::bad(
                -1013,
                "Filter failure: TAKE_PROFIT orders are not supported by this venue.",
            ));
        }
        _ => return Err(RestError::bad(-1116, "Invalid orderType.")),
    };
    let has_limit = matches!(kind, OrderKind::Limit | OrderKind::StopLimit);
    let tif = match (p.get("timeInForce"), has_limit && !post_only) {
        (Some("GTC"), true) => TimeInForce::Gtc,
        (Some("IOC"), true) => TimeInForce::Ioc,
        (Some("FOK"), true) => TimeInForce::Fok,
        (None, true) => return Err(RestError::mandatory("timeInForce")),
        (Some(_), true) => return Err(RestError::bad(-1115, "Invalid timeInForce.")),
        (Some(_), false) => {
            return Err(RestError::bad(-1106, "Parameter 'timeInForce' sent when not required."));
        }
        (None, false) => {
            if kind == OrderKind::Market {
                TimeInForce::Ioc
            } else {
                TimeInForce::Gtc
            }
        }
    };
    let price = if has_limit {
        spec.parse_price(p.need("price")?).map_err(RestError::filter)?
    } else if p.get("price").is_some() {
        return Err(RestError::bad(-1106, "Parameter 'price' sent when not required."));
    } else {
        Price(0)
    };
    let stop_price = if kind.is_stop() {
        spec.parse_price(p.need("stopPrice")?).map_err(RestError::filter)?
    } else {
        Price(0)
    };
    let mut quote_budget = 0;
    let qty = match (p.get("quantity"), p.get("quoteOrderQty")) {
        (Some(q), None) => spec.parse_qty(q).map_err(RestError::filter)?,
        // A market buy spends at most the budget; so does a stop-market buy
        // once triggered, and it is the only way to give one its hold.
        (None, Some(quote)) if matches!(kind, OrderKind::Market | OrderKind::Stop) && side == Side::Buy => {
            // The budget in tick×lot units; quantity up to the maximum.
            quote_budget = spec.parse_quote_budget(quote).map_err(RestError::filter)?;
            spec.max_qty
        }
        (None, Some(_)) => {
            return Err(RestError::bad(
                -1013,
                "Filter failure: quoteOrderQty is for MARKET and STOP_LOSS BUY orders only.",
            ));
        }
        (Some(_), Some(_)) => {
            return Err(RestError::bad(-1106, "Parameter 'quoteOrderQty' sent when not required."));
        }
        (None, None) => return Err(RestError::mandatory("quantity")),
    };
    let display_qty = match p.get("icebergQty") {
        Some(q) => spec.parse_qty(q).map_err(RestError::filter)?,
        None => Qty::ZERO,
    };
    // ceil(qty / display) without overflow: here qty > display > 0.
    if display_qty.0 > 0 && display_qty < qty && (qty.0 - 1) / display_qty.0 + 1 > ICEBERG_PARTS {
        return Err(RestError::bad(-1013, "Filter failure: ICEBERG_PARTS"));
    }
    let stp = match p.get("selfTradePreventionMode").unwrap_or("EXPIRE_MAKER") {
        "NONE" => StpMode::Allow,
        "EXPIRE_TAKER" => StpMode::CancelIncoming,
        "EXPIRE_MAKER" => StpMode::CancelResting,
        "EXPIRE_BOTH" => StpMode::CancelBoth,
        "DECREMENT" => StpMode::DecrementAndCancel,
        _ => {
            return Err(RestError::bad(
                -1100,
                "Illegal characters found in parameter 'selfTradePreventionMode'.",
            ));
        }
    };
    let order = NewOrder {
        instrument: spec.id,
        order_id: OrderId(0),
        client_order_id: client,
        account,
        stp_group: StpGroup(0),
        side,
        kind,
        tif,
        price,
        stop_price,
        qty,
        display_qty,
        post_only,
        stp,
        expire_time: Timestamp(0),
        quote_budget,
    };
    Ok((order, if matches!(kind, OrderKind::Limit | OrderKind::Market) { "FULL" } else { "ACK" }))
}

/// A new order whose parameters passed every check, ready to submit.
struct Prepared {
    order: NewOrder,
    resp_type: &'static str,
    client_text: Option<String>,
}

fn valid_client_id(text: &str) -> bool {
    text.len() <= 36 && text.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.:/".contains(&b))
}

fn bad_client_id(name: &str) -> RestError {
    RestError::bad(
        -1100,
        format!(
            "Illegal characters found in parameter '{name}'; legal range is '^[\\.A-Z\\:/a-z0-9_-]{{1,36}}$'."
        ),
    )
}

/// Checks a new order's parameters: everything that can be refused before
/// the engine sees the order (cancelReplace checks them before cancelling).
fn prepare_order(spec: &InstrumentSpec, account: AccountId, p: &Params) -> Result<Prepared, RestError> {
    let client_text = p.get("newClientOrderId").map(str::to_owned);
    if client_text.as_deref().is_some_and(|c| !valid_client_id(c)) {
        return Err(bad_client_id("newClientOrderId"));
    }
    let client = client_text.as_deref().map_or(ClientOrderId::NONE, crate::fix::orders::client_id);
    let (order, default_resp) = build_order(spec, account, p, client)?;
    let resp_type = match p.get("newOrderRespType").unwrap_or(default_resp) {
        "ACK" => "ACK",
        "RESULT" => "RESULT",
        "FULL" => "FULL",
        _ => return Err(RestError::bad(-1100, "Illegal characters found in parameter 'newOrderRespType'.")),
    };
    Ok(Prepared { order, resp_type, client_text })
}

/// Binance's code for "sent, outcome unknown".
const UNKNOWN_OUTCOME: i32 = -1007;

/// The answer when the engine did not answer in time: the outcome is unknown.
fn unknown_outcome() -> RestError {
    RestError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        UNKNOWN_OUTCOME,
        "Timeout waiting for response from backend server. Send status unknown; execution status unknown.",
    )
}

/// A request the router could not complete: refused at the door (the
/// inbound ring was full: certainly not done) or without an answer
/// (unknown outcome).
fn request_failed(error: crate::router::RequestError) -> RestError {
    match error {
        crate::router::RequestError::Refused(_) => RestError::new(
            StatusCode::SERVICE_UNAVAILABLE,
            -1008,
            "Server is currently overloaded with other requests. Please try again in a few minutes.",
        ),
        _ => unknown_outcome(),
    }
}

/// Submits a checked order and builds its answer (ACK, RESULT or FULL).
async fn submit_order(rest: &Rest, spec: &InstrumentSpec, prepared: Prepared) -> Result<Value, RestError> {
    let Prepared { order, resp_type, client_text } = prepared;
    let client = order.client_order_id;
    if let Some(text) = &client_text {
        rest.remember(client, text);
    }
    // What the engine's events will not say (time in force, post-only...),
    // for the order's history record.
    let history = rest.venue.router.history();
    // Registered under the request's origin before it is submitted, so the
    // record is matched to this request whatever else is in flight.
    let mut origin = 0;
    let register = |o| {
        origin = o;
        history.expect(&order, o, Timestamp(now_ns()));
    };
    let answer = match rest.venue.router.start_with(Command::NewOrder(order), register) {
        Ok(pending) => pending.wait(rest.venue.request_timeout).await,
        Err(error) => Err(error),
    };
    let outputs = match answer {
        Ok(answer) => answer.outputs,
        Err(error) => {
            if matches!(error, crate::router::RequestError::Refused(_)) {
                history.forget(order.account, origin);
            }
            return Err(request_failed(error));
        }
    };
    let quote_asset = spec.quote_asset.clone();
    let mut order_id = None;
    let (mut executed, mut quote_units, mut status) = (0i64, 0i128, Status::New);
    let mut fills = Vec::new();
    let mut fees: BTreeMap<u64, i64> = BTreeMap::new();
    for output in &outputs {
        match output {
            Output::Book(event) => match event.kind {
                EventKind::Accepted { order_id: id, .. } => order_id = Some(id),
                EventKind::Rejected { reason, .. } => {
                    history.forget(order.account, origin);
                    return Err(RestError::bad(-2010, reason.as_str()));
                }
                EventKind::Trade { trade_id, price, qty, taker_order_id, taker_leaves, .. }
                    if Some(taker_order_id) == order_id =>
                {
                    executed += qty.0;
                    quote_units += i128::from(price.0) * i128::from(qty.0);
                    status = if taker_leaves.0 == 0 { Status::Filled } else { Status::PartiallyFilled };
                    fills.push((trade_id.0, price, qty));
                }
                EventKind::Cancelled { order_id: id, reason, .. } if Some(id) == order_id => {
                    status = Status::after_cancel(reason, Qty(executed));
                }
                _ => {}
            },
            Output::Settlement(s)
                if Some(if order.side == Side::Buy { s.buy_order } else { s.sell_order }) == order_id =>
            {
                let fee = if order.side == Side::Buy { s.buyer_fee } else { s.seller_fee };
                fees.insert(s.trade_id.0, fee);
            }
            _ => {}
        }
    }
    let order_id = order_id.ok_or_else(|| {
        RestError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            -1001,
            "Internal error; the order was not acknowledged.",
        )
    })?;
    let quote_decimals = rest.asset_decimals(&quote_asset);
    let mut body = json!({
        "symbol": rest_symbol(spec),
        "orderId": order_id.0,
        "orderListId": -1,
        "clientOrderId": rest.name(client, order_id),
        "transactTime": now_ms(),
    });
    if resp_type != "ACK" {
        body["price"] = json!(spec.format_price(order.price));
        body["origQty"] =
            json!(spec.format_qty(if order.quote_budget > 0 { Qty(executed) } else { order.qty }));
        body["executedQty"] = json!(spec.format_qty(Qty(executed)));
        body["origQuoteOrderQty"] = json!(quote_text(spec, i128::from(order.quote_budget)));
        body["cummulativeQuoteQty"] = json!(quote_text(spec, quote_units));
        body["status"] = json!(status.as_str());
        body["timeInForce"] = json!(tif_name(order.tif));
        body["type"] = json!(type_name(order.kind, order.post_only));
        body["side"] = json!(side_name(order.side));
        body["workingTime"] = json!(now_ms());
        body["selfTradePreventionMode"] = json!(stp_name(Some(order.stp)));
        if order.kind.is_stop() {
            body["stopPrice"] = json!(spec.format_price(order.stop_price));
        }
    }
    if resp_type == "FULL" {
        let fills: Vec<Value> = fills
            .iter()
            .map(|&(trade_id, price, qty)| {
                json!({
                    "price": spec.format_price(price),
                    "qty": spec.format_qty(qty),
                    "commission": venue_domain::format_scaled(fees.get(&trade_id).copied().unwrap_or(0), quote_decimals),
                    "commissionAsset": quote_asset,
                    "tradeId": trade_id,
                })
            })
            .collect();
        body["fills"] = json!(fills);
    }
    Ok(body)
}

async fn new_order(State(rest): State<Arc<Rest>>, headers: HeaderMap, uri: Uri, body: Bytes) -> RestResult {
    let tracer = rest.venue.tracer.clone();
    let received = if tracer.sample() { now_ns() } else { 0 };
    let caller = rest.authenticate(&headers, &uri, &body, true)?;
    let usage = rest.charge(&caller.key.key, 1, true)?;
    let spec = rest.instrument(caller.params.need("symbol")?)?.clone();
    let prepared = prepare_order(&spec, caller.key.account, &caller.params)?;
    let decoded = if received > 0 { now_ns() } else { 0 };
    let side = if caller.params.get("side") == Some("BUY") { "buy" } else { "sell" };
    let result = submit_order(&rest, &spec, prepared).await;
    if received > 0 {
        // The REST answer carries no sequencer stamp: the trace splits the
        // gateway from everything after submission, not engine from journal.
        tracer.record(crate::otlp::OrderTrace {
            gateway: "rest",
            symbol: spec.symbol.clone(),
            side,
            account: caller.key.account.0,
            received,
            decoded,
            seq: 0,
            sequenced: 0,
            answered: now_ns(),
            outcome: match &result {
                Ok(body) => body["status"].as_str().unwrap_or("accepted").to_ascii_lowercase(),
                Err(e) => format!("rejected: {}", e.msg),
            },
            error: result.is_err(),
        });
    }
    Ok(with_headers(result?, usage))
}

/// An order as `GET order`, `openOrders` and `allOrders` answer it (and
/// cancels, with the cancel's own fields added).
fn order_json(rest: &Rest, spec: &InstrumentSpec, order: &OrderRecord) -> Value {
    let orig_qty = if order.quote_budget > 0 { order.executed } else { order.qty };
    // Binance marks a quote total it cannot tell with a negative value.
    let cumulative = if order.quote < 0 { "-1".to_owned() } else { quote_text(spec, order.quote) };
    json!({
        "symbol": rest_symbol(spec),
        "orderId": order.order_id.0,
        "orderListId": -1,
        "clientOrderId": rest.name(order.client_order_id, order.order_id),
        "price": spec.format_price(order.price),
        "origQty": spec.format_qty(orig_qty),
        "executedQty": spec.format_qty(order.executed),
        "cummulativeQuoteQty": cumulative,
        "status": order.status.as_str(),
        "timeInForce": tif_name(order.tif),
        "type": type_name(order.kind, order.post_only),
        "side": side_name(order.side),
        "stopPrice": spec.format_price(order.stop_price),
        "icebergQty": spec.format_qty(order.display_qty),
        "time": ms(order.time),
        "updateTime": ms(order.update_time),
        "isWorking": order.working_time.is_some(),
        "workingTime": order.working_time.map_or(-1, |t| ms(t) as i64),
        "origQuoteOrderQty": quote_text(spec, i128::from(order.quote_budget)),
        "selfTradePreventionMode": stp_name(order.stp),
    })
}

/// A live order as the engine holds it, for one the history does not keep
/// (placed before the venue started, or evicted): times unknown (0), and
/// the quote executed unknown (-1, as Binance marks it) once it traded.
fn book_record(instrument: InstrumentId, account: AccountId, order: &BookOrder) -> OrderRecord {
    let executed = Qty(order.qty.0 - order.leaves.0);
    OrderRecord {
        instrument,
        order_id: order.order_id,
        client_order_id: order.client_order_id,
        account,
        side: order.side,
        kind: order.kind,
        tif: order.tif,
        post_only: false,
        stop_price: order.stop_price,
        display_qty: Qty::ZERO,
        stp: None,
        quote_budget: 0,
        price: order.price,
        qty: order.qty,
        executed,
        prevented: Qty::ZERO,
        quote: if executed.0 > 0 { -1 } else { 0 },
        status: if executed.0 > 0 { Status::PartiallyFilled } else { Status::New },
        time: Timestamp(0),
        update_time: Timestamp(0),
        working_time: (!order.kind.is_stop()).then_some(Timestamp(0)),
        complete: false,
    }
}

fn target(p: &Params, account: AccountId) -> Result<OrderRef, RestError> {
    match (p.u64("orderId")?, p.get("origClientOrderId")) {
        (Some(id), _) => Ok(OrderRef::Id(OrderId(id))),
        (None, Some(text)) => Ok(OrderRef::Client(account, crate::fix::orders::client_id(text))),
        (None, None) => Err(RestError::bad(
            -1102,
            "Param 'origClientOrderId' or 'orderId' must be sent, but both were empty/null!",
        )),
    }
}

/// The order `target` names, as the history keeps it.
fn kept(rest: &Rest, account: AccountId, instrument: InstrumentId, target: OrderRef) -> Option<OrderRecord> {
    let history = rest.venue.router.history();
    match target {
        OrderRef::Id(id) => history.order(account, instrument, id),
        OrderRef::Client(_, client) => history.order_by_client(account, instrument, client),
    }
}

/// The live order `target` names, as the engine holds it.
async fn live_order(
    rest: &Rest,
    account: AccountId,
    instrument: InstrumentId,
    target: OrderRef,
) -> Result<Option<BookOrder>, RestError> {
    rest.venue
        .router
        .query(
            &rest.venue.monitor,
            move |engine: &venue_engine::Engine| {
                engine.books().book(instrument).and_then(|b| b.find(target, Some(account)).ok())
            },
            rest.venue.request_timeout,
        )
        .await
        .map_err(|_| RestError::unavailable())
}

async fn query_order(State(rest): State<Arc<Rest>>, headers: HeaderMap, uri: Uri, body: Bytes) -> RestResult {
    let caller = rest.authenticate(&headers, &uri, &body, false)?;
    let usage = rest.charge(&caller.key.key, 4, false)?;
    let spec = rest.instrument(caller.params.need("symbol")?)?.clone();
    let account = caller.key.account;
    let target = target(&caller.params, account)?;
    // Live or ended, the history has it unless it predates the venue's
    // start or was evicted; then the engine has it if it is still live.
    let known = kept(&rest, account, spec.id, target);
    if let Some(order) = known.filter(|o| o.complete) {
        return Ok(with_headers(order_json(&rest, &spec, &order), usage));
    }
    match (live_order(&rest, account, spec.id, target).await?, known) {
        (Some(order), _) => {
            Ok(with_headers(order_json(&rest, &spec, &book_record(spec.id, account, &order)), usage))
        }
        (None, Some(order)) => Ok(with_headers(order_json(&rest, &spec, &order), usage)),
        (None, None) => Err(RestError::bad(-2013, "Order does not exist.")),
    }
}

/// Cancels the order `target` names and builds Binance's cancel answer;
/// `new_client` names the cancel itself.
async fn cancel(
    rest: &Rest,
    spec: &InstrumentSpec,
    account: AccountId,
    target: OrderRef,
    orig_client: Option<&str>,
    new_client: Option<&str>,
) -> Result<Value, RestError> {
    let instrument = spec.id;
    // The order as it stands, for the answer, when the history cannot give it.
    let before = if kept(rest, account, instrument, target).is_some_and(|o| o.complete) {
        None
    } else {
        live_order(rest, account, instrument, target).await.ok().flatten()
    };
    let outputs = rest
        .venue
        .router
        .execute(
            Command::Cancel(CancelOrder { instrument, target, account: Some(account) }),
            rest.venue.request_timeout,
        )
        .await
        .map_err(request_failed)?;
    for output in &outputs {
        let Output::Book(event) = output else { continue };
        match event.kind {
            EventKind::Rejected { reason, .. } => {
                let msg = if reason == Reject::UnknownOrder {
                    "Unknown order sent.".to_owned()
                } else {
                    reason.as_str().to_owned()
                };
                return Err(RestError::bad(-2011, msg));
            }
            EventKind::Cancelled { order_id, .. } => {
                // The router recorded the cancel before answering it.
                let record = rest
                    .venue
                    .router
                    .history()
                    .order(account, instrument, order_id)
                    .filter(|o| o.complete)
                    .or_else(|| {
                        before.filter(|o| o.order_id == order_id).map(|o| OrderRecord {
                            status: Status::Canceled,
                            ..book_record(instrument, account, &o)
                        })
                    });
                let mut body = match record {
                    Some(order) => order_json(rest, spec, &order),
                    None => {
                        json!({ "symbol": rest_symbol(spec), "orderId": order_id.0, "orderListId": -1, "executedQty": "0" })
                    }
                };
                let original = match body.get("clientOrderId").and_then(Value::as_str) {
                    Some(text) => text.to_owned(),
                    None => orig_client.map_or_else(|| format!("venue-{}", order_id.0), str::to_owned),
                };
                body["origClientOrderId"] = json!(original);
                body["clientOrderId"] =
                    json!(new_client.map_or_else(|| format!("cancel-{}", order_id.0), str::to_owned));
                body["status"] = json!("CANCELED");
                body["transactTime"] = json!(now_ms());
                return Ok(body);
            }
            _ => {}
        }
    }
    Err(RestError::bad(-2011, "Unknown order sent."))
}

async fn cancel_order(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> RestResult {
    let caller = rest.authenticate(&headers, &uri, &body, true)?;
    let usage = rest.charge(&caller.key.key, 1, false)?;
    let p = &caller.params;
    let spec = rest.instrument(p.need("symbol")?)?.clone();
    let account = caller.key.account;
    let target = target(p, account)?;
    let body =
        cancel(&rest, &spec, account, target, p.get("origClientOrderId"), p.get("newClientOrderId")).await?;
    Ok(with_headers(body, usage))
}

/// An error as cancelReplace reports each half of its outcome.
fn error_json(error: &RestError) -> Value {
    json!({ "code": error.code, "msg": error.msg })
}

/// Cancel an order, then place a new one on the same instrument: two engine
/// commands, not one atomic step (as on Binance, the cancelled order may
/// trade before it is cancelled, and the book may change between the two).
/// The new order's parameters are checked before anything is cancelled.
async fn cancel_replace(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> RestResult {
    let caller = rest.authenticate(&headers, &uri, &body, true)?;
    let usage = rest.charge(&caller.key.key, 1, true)?;
    let p = &caller.params;
    let spec = rest.instrument(p.need("symbol")?)?.clone();
    let account = caller.key.account;
    let allow_failure = match p.need("cancelReplaceMode")? {
        "STOP_ON_FAILURE" => false,
        "ALLOW_FAILURE" => true,
        _ => {
            return Err(RestError::bad(
                -1100,
                "Illegal characters found in parameter 'cancelReplaceMode'; legal range is 'STOP_ON_FAILURE, ALLOW_FAILURE'.",
            ));
        }
    };
    if p.get("cancelRestrictions").is_some() {
        return Err(RestError::bad(-1145, "Invalid cancelRestrictions: not supported by this venue."));
    }
    let target = match (p.u64("cancelOrderId")?, p.get("cancelOrigClientOrderId")) {
        (Some(id), _) => OrderRef::Id(OrderId(id)),
        (None, Some(text)) => OrderRef::Client(account, crate::fix::orders::client_id(text)),
        (None, None) => {
            return Err(RestError::bad(
                -1102,
                "Param 'cancelOrigClientOrderId' or 'cancelOrderId' must be sent, but both were empty/null!",
            ));
        }
    };
    let cancel_client = p.get("cancelNewClientOrderId");
    if cancel_client.is_some_and(|c| !valid_client_id(c)) {
        return Err(bad_client_id("cancelNewClientOrderId"));
    }
    let prepared = prepare_order(&spec, account, p)?;
    let outcome = |status: StatusCode, code: i32, msg: &str, data: Value| RestError {
        data: Some(data),
        ..RestError::new(status, code, msg)
    };
    // An unknown outcome (timeout) of either half is reported as such; a
    // half refused as overloaded certainly did not happen: a FAILURE half.
    let cancelled =
        match cancel(&rest, &spec, account, target, p.get("cancelOrigClientOrderId"), cancel_client).await {
            Err(error) if error.code == UNKNOWN_OUTCOME => return Err(error),
            other => other,
        };
    if let Err(error) = &cancelled
        && !allow_failure
    {
        let data = json!({
            "cancelResult": "FAILURE",
            "newOrderResult": "NOT_ATTEMPTED",
            "cancelResponse": error_json(error),
            "newOrderResponse": Value::Null,
        });
        return Err(outcome(StatusCode::BAD_REQUEST, -2022, "Order cancel-replace failed.", data));
    }
    let placed = match submit_order(&rest, &spec, prepared).await {
        Err(error) if error.code == UNKNOWN_OUTCOME => return Err(error),
        other => other,
    };
    let half = |result: &Result<Value, RestError>| match result {
        Ok(answer) => ("SUCCESS", answer.clone()),
        Err(error) => ("FAILURE", error_json(error)),
    };
    let ((cancel_result, cancel_response), (new_result, new_response)) = (half(&cancelled), half(&placed));
    let data = json!({
        "cancelResult": cancel_result,
        "newOrderResult": new_result,
        "cancelResponse": cancel_response,
        "newOrderResponse": new_response,
    });
    match (cancelled.is_ok(), placed.is_ok()) {
        (true, true) => Ok(with_headers(data, usage)),
        (true, false) => {
            Err(outcome(StatusCode::BAD_REQUEST, -2021, "Order cancel-replace partially failed.", data))
        }
        (false, true) => {
            Err(outcome(StatusCode::CONFLICT, -2021, "Order cancel-replace partially failed.", data))
        }
        (false, false) => Err(outcome(StatusCode::BAD_REQUEST, -2022, "Order cancel-replace failed.", data)),
    }
}

async fn open_orders(State(rest): State<Arc<Rest>>, headers: HeaderMap, uri: Uri, body: Bytes) -> RestResult {
    let caller = rest.authenticate(&headers, &uri, &body, false)?;
    let symbol = caller.params.get("symbol");
    let usage = rest.charge(&caller.key.key, if symbol.is_some() { 6 } else { 80 }, false)?;
    let specs: Vec<InstrumentSpec> = match symbol {
        Some(symbol) => vec![rest.instrument(symbol)?.clone()],
        None => rest.venue.engine.instruments.clone(),
    };
    let account = caller.key.account;
    let orders = live_orders(&rest, account, specs.iter().map(|s| s.id).collect()).await?;
    let history = rest.venue.router.history();
    let list: Vec<Value> = orders
        .iter()
        .filter_map(|(id, order)| {
            let spec = specs.iter().find(|s| s.id == *id)?;
            // The history's record has what the engine does not (times,
            // quote executed); the engine's is used when it has no record.
            let record = history
                .order(account, *id, order.order_id)
                .filter(|o| o.complete && o.status.is_live())
                .unwrap_or_else(|| book_record(*id, account, order));
            Some(order_json(&rest, spec, &record))
        })
        .collect();
    Ok(with_headers(json!(list), usage))
}

/// `account`'s live orders on the books `ids`, oldest first per book, read
/// on the engine thread: a scan of those books' order pools, hence the
/// weight of the endpoints that ask.
async fn live_orders(
    rest: &Rest,
    account: AccountId,
    ids: Vec<InstrumentId>,
) -> Result<Vec<(InstrumentId, BookOrder)>, RestError> {
    rest.venue
        .router
        .query(
            &rest.venue.monitor,
            move |engine: &venue_engine::Engine| {
                let mut found = Vec::new();
                for id in ids {
                    if let Some(book) = engine.books().book(id) {
                        found.extend(book.orders_of(account).into_iter().map(|o| (id, o)));
                    }
                }
                found
            },
            Duration::from_secs(10),
        )
        .await
        .map_err(|_| RestError::unavailable())
}

/// The part of the history `allOrders` and `myTrades` ask for.
fn query(p: &Params, instrument: InstrumentId, from: &str) -> Result<Query, RestError> {
    Ok(Query {
        instrument,
        from_id: p.u64(from)?,
        order_id: None,
        start_ms: p.u64("startTime")?,
        end_ms: p.u64("endTime")?,
        limit: limit(p, 500, 1000)?,
    })
}

/// Every order of the account on an instrument, live or ended, from the
/// history (the last [`crate::history::MAX_ORDERS`] orders), plus
/// live orders it does not keep.
async fn all_orders(State(rest): State<Arc<Rest>>, headers: HeaderMap, uri: Uri, body: Bytes) -> RestResult {
    let caller = rest.authenticate(&headers, &uri, &body, false)?;
    let usage = rest.charge(&caller.key.key, 20, false)?;
    let p = &caller.params;
    let spec = rest.instrument(p.need("symbol")?)?.clone();
    let window = query(p, spec.id, "orderId")?;
    let account = caller.key.account;
    let mut orders = rest.venue.router.history().orders(account, &window);
    // Live orders placed before the venue started (or evicted) are only in
    // the engine; their time is unknown, so a time window leaves them out.
    if window.start_ms.is_none() && window.end_ms.is_none() {
        for (_, order) in live_orders(&rest, account, vec![spec.id]).await? {
            let wanted = window.from_id.is_none_or(|from| order.order_id.0 >= from);
            if wanted && !orders.iter().any(|o| o.order_id == order.order_id) {
                orders.push(book_record(spec.id, account, &order));
            }
        }
        orders.sort_by_key(|o| o.order_id);
        let excess = orders.len().saturating_sub(window.limit);
        if window.from_id.is_some() {
            orders.truncate(window.limit);
        } else {
            orders.drain(..excess);
        }
    }
    let list: Vec<Value> = orders.iter().map(|o| order_json(&rest, &spec, o)).collect();
    Ok(with_headers(json!(list), usage))
}

/// The account's trades on an instrument, from the history (the last
/// [`crate::history::MAX_TRADES`]).
async fn my_trades(State(rest): State<Arc<Rest>>, headers: HeaderMap, uri: Uri, body: Bytes) -> RestResult {
    let caller = rest.authenticate(&headers, &uri, &body, false)?;
    let p = &caller.params;
    let order_id = p.u64("orderId")?.map(OrderId);
    let usage = rest.charge(&caller.key.key, if order_id.is_some() { 5 } else { 20 }, false)?;
    let spec = rest.instrument(p.need("symbol")?)?.clone();
    let window = Query { order_id, ..query(p, spec.id, "fromId")? };
    let trades = rest.venue.router.history().trades(caller.key.account, &window);
    let decimals = rest.asset_decimals(&spec.quote_asset);
    let list: Vec<Value> = trades
        .iter()
        .map(|t| {
            json!({
                "symbol": rest_symbol(&spec),
                "id": t.trade_id.0,
                "orderId": t.order_id.0,
                "orderListId": -1,
                "price": spec.format_price(t.price),
                "qty": spec.format_qty(t.qty),
                "quoteQty": quote_text(&spec, i128::from(t.price.0) * i128::from(t.qty.0)),
                "commission": venue_domain::format_scaled(t.commission, decimals),
                "commissionAsset": spec.quote_asset,
                "time": ms(t.time),
                "isBuyer": t.is_buyer,
                "isMaker": t.is_maker,
                "isBestMatch": true,
            })
        })
        .collect();
    Ok(with_headers(json!(list), usage))
}

fn no_listen_key() -> RestError {
    RestError::bad(-1125, "This listenKey does not exist.")
}

/// Starts a user data stream: a listen key for `/ws/<listenKey>`, valid
/// for 60 minutes after its last keepalive. An account has one key at a
/// time: while it is valid, asking again returns it, extended.
async fn start_user_stream(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> RestResult {
    let caller = rest.authenticate_key(&headers, &uri, &body)?;
    let usage = rest.charge(&caller.key.key, 2, false)?;
    let key = rest.listen_keys.open(caller.key.account, Instant::now()).ok_or_else(RestError::unavailable)?;
    Ok(with_headers(json!({ "listenKey": key }), usage))
}

async fn keepalive_user_stream(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> RestResult {
    let caller = rest.authenticate_key(&headers, &uri, &body)?;
    let usage = rest.charge(&caller.key.key, 2, false)?;
    let key = caller.params.need("listenKey")?;
    if !rest.listen_keys.keepalive(key, caller.key.account, Instant::now()) {
        return Err(no_listen_key());
    }
    Ok(with_headers(json!({}), usage))
}

/// Closes a user data stream: its key stops working and its connections close.
async fn close_user_stream(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> RestResult {
    let caller = rest.authenticate_key(&headers, &uri, &body)?;
    let usage = rest.charge(&caller.key.key, 2, false)?;
    let key = caller.params.need("listenKey")?;
    if !rest.listen_keys.close(key, caller.key.account) {
        return Err(no_listen_key());
    }
    Ok(with_headers(json!({}), usage))
}

async fn cancel_open_orders(
    State(rest): State<Arc<Rest>>,
    headers: HeaderMap,
    uri: Uri,
    body: Bytes,
) -> RestResult {
    let caller = rest.authenticate(&headers, &uri, &body, true)?;
    let usage = rest.charge(&caller.key.key, 1, false)?;
    let spec = rest.instrument(caller.params.need("symbol")?)?.clone();
    let account = caller.key.account;
    let outputs = rest
        .venue
        .router
        .execute(
            Command::MassCancel { instrument: Some(spec.id), account: Some(account) },
            rest.venue.request_timeout,
        )
        .await
        .map_err(request_failed)?;
    let cancelled: Vec<Value> = outputs
        .iter()
        .filter_map(|o| match o {
            Output::Book(event) => match event.kind {
                EventKind::Cancelled { order_id, .. } => Some(json!({
                    "symbol": rest_symbol(&spec),
                    "orderId": order_id.0,
                    "orderListId": -1,
                    "status": "CANCELED",
                })),
                _ => None,
            },
            _ => None,
        })
        .collect();
    Ok(with_headers(json!(cancelled), usage))
}

// ---- market data -------------------------------------------------------------

fn public_params(uri: &Uri) -> Result<Params, RestError> {
    Params::parse(&[uri.query().unwrap_or("")])
}

fn limit(p: &Params, default: usize, max: usize) -> Result<usize, RestError> {
    match p.u64("limit")? {
        None => Ok(default),
        Some(n) if n >= 1 && n as usize <= max => Ok(n as usize),
        Some(_) => Err(RestError::bad(
            -1100,
            format!("Illegal characters found in parameter 'limit'; legal range is '1' to '{max}'."),
        )),
    }
}

fn levels(spec: &InstrumentSpec, levels: &[venue_marketdata::PriceLevel]) -> Vec<[String; 2]> {
    levels.iter().map(|l| [spec.format_price(l.price), spec.format_qty(l.qty)]).collect()
}

async fn depth(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
    uri: Uri,
) -> RestResult {
    let p = public_params(&uri)?;
    let limit = limit(&p, 100, 5000)?;
    let weight = match limit {
        0..=100 => 5,
        101..=500 => 25,
        501..=1000 => 50,
        _ => 250,
    };
    let headers = rest.charge(&peer.ip().to_string(), weight, false)?;
    let spec = rest.instrument(p.need("symbol")?)?.clone();
    let snapshot = rest
        .market
        .lock()
        .depth(spec.id, Some(limit))
        .ok_or_else(|| RestError::bad(-1121, "Invalid symbol."))?;
    let body = json!({
        "lastUpdateId": snapshot.seq,
        "bids": levels(&spec, &snapshot.bids),
        "asks": levels(&spec, &snapshot.asks),
    });
    Ok(with_headers(body, headers))
}

/// A quote amount in tick×lot units as a decimal string.
pub fn quote_text(spec: &InstrumentSpec, tick_lots: i128) -> String {
    let units = tick_lots * i128::from(spec.tick_size) * i128::from(spec.lot_size);
    venue_domain::format_scaled(
        i64::try_from(units).unwrap_or(i64::MAX),
        spec.price_decimals + spec.qty_decimals,
    )
}

fn ms(time: Timestamp) -> u64 {
    time.0 / 1_000_000
}

async fn trades(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
    uri: Uri,
) -> RestResult {
    let (spec, snapshot, headers) = recent_trades(&rest, peer, &uri, 25)?;
    let list: Vec<Value> = snapshot
        .trades
        .iter()
        .map(|t| {
            json!({
                "id": t.trade_id.0,
                "price": spec.format_price(t.price),
                "qty": spec.format_qty(t.qty),
                "quoteQty": quote_text(&spec, i128::from(t.price.0) * i128::from(t.qty.0)),
                "time": ms(t.time),
                "isBuyerMaker": t.aggressor == Side::Sell,
                "isBestMatch": true,
            })
        })
        .collect();
    Ok(with_headers(json!(list), headers))
}

/// The recent trades `trades` and `aggTrades` list, after the usual
/// parameter checks and the request weight.
fn recent_trades(
    rest: &Rest,
    peer: std::net::SocketAddr,
    uri: &Uri,
    weight: u32,
) -> Result<(InstrumentSpec, venue_marketdata::TradesSnapshot, UsageHeaders), RestError> {
    let p = public_params(uri)?;
    let limit = limit(&p, 500, 1000)?;
    let headers = rest.charge(&peer.ip().to_string(), weight, false)?;
    let spec = rest.instrument(p.need("symbol")?)?.clone();
    let snapshot =
        rest.market.lock().trades(spec.id, limit).ok_or_else(|| RestError::bad(-1121, "Invalid symbol."))?;
    Ok((spec, snapshot, headers))
}

/// Aggregate trades: every trade is its own aggregate here (one price per
/// taker order and maker is not merged), so `f == l == a`.
async fn agg_trades(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
    uri: Uri,
) -> RestResult {
    let (spec, snapshot, headers) = recent_trades(&rest, peer, &uri, 2)?;
    let list: Vec<Value> = snapshot
        .trades
        .iter()
        .map(|t| {
            json!({
                "a": t.trade_id.0,
                "p": spec.format_price(t.price),
                "q": spec.format_qty(t.qty),
                "f": t.trade_id.0,
                "l": t.trade_id.0,
                "T": ms(t.time),
                "m": t.aggressor == Side::Sell,
                "M": true,
            })
        })
        .collect();
    Ok(with_headers(json!(list), headers))
}

async fn klines(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
    uri: Uri,
) -> RestResult {
    let p = public_params(&uri)?;
    let limit = limit(&p, 500, 1000)?;
    let headers = rest.charge(&peer.ip().to_string(), 2, false)?;
    let spec = rest.instrument(p.need("symbol")?)?.clone();
    let interval = venue_marketdata::Interval::from_name(p.need("interval")?)
        .ok_or_else(|| RestError::bad(-1120, "Invalid interval."))?;
    let snapshot = rest
        .market
        .lock()
        .candles(spec.id, interval, limit)
        .ok_or_else(|| RestError::bad(-1121, "Invalid symbol."))?;
    let list: Vec<Value> = snapshot
        .candles
        .iter()
        .map(|c| {
            let o = &c.ohlcv;
            json!([
                ms(c.open_time),
                spec.format_price(o.open),
                spec.format_price(o.high),
                spec.format_price(o.low),
                spec.format_price(o.close),
                spec.format_qty(o.volume),
                ms(c.end_time()).saturating_sub(1),
                quote_text(&spec, o.quote_volume),
                o.trades,
                "0",
                "0",
                "0"
            ])
        })
        .collect();
    Ok(with_headers(json!(list), headers))
}

fn symbols_asked(rest: &Rest, p: &Params) -> Result<Vec<InstrumentSpec>, RestError> {
    match p.get("symbol") {
        Some(symbol) => Ok(vec![rest.instrument(symbol)?.clone()]),
        None => Ok(rest.venue.engine.instruments.clone()),
    }
}

fn one_or_list(p: &Params, mut items: Vec<Value>) -> Value {
    if p.get("symbol").is_some() { items.pop().unwrap_or(Value::Null) } else { json!(items) }
}

impl Rest {
    /// The 24h ticker of one instrument at `now`, as REST `ticker/24hr`
    /// answers it (the WebSocket ticker renames its fields).
    pub fn ticker_json(&self, spec: &InstrumentSpec, now: Timestamp) -> Option<Value> {
        let market = self.market.lock();
        let stats = market.stats_24h(spec.id, now)?;
        let l1 = market.l1(spec.id)?;
        drop(market);
        let price = |p: Price| spec.format_price(p);
        let (bid, ask) = (l1.bbo.bid, l1.bbo.ask);
        let mut item = json!({
            "symbol": rest_symbol(spec),
            "bidPrice": bid.map_or("0".into(), |l| price(l.price)),
            "bidQty": bid.map_or("0".into(), |l| spec.format_qty(l.qty)),
            "askPrice": ask.map_or("0".into(), |l| price(l.price)),
            "askQty": ask.map_or("0".into(), |l| spec.format_qty(l.qty)),
            "openTime": ms(stats.window_start),
            "closeTime": ms(stats.window_end).saturating_sub(1),
        });
        match stats.summary {
            Some(o) => {
                let change = o.close.0 - o.open.0;
                // Percent with three decimals, truncated, in integers.
                let percent = i128::from(change) * 100_000 / i128::from(o.open.0.max(1));
                let weighted =
                    if o.volume.0 > 0 { o.quote_volume * 10_000 / i128::from(o.volume.0) } else { 0 };
                let weighted_units = weighted * i128::from(spec.tick_size);
                item["priceChange"] =
                    json!(venue_domain::format_scaled(change * spec.tick_size, spec.price_decimals));
                item["priceChangePercent"] =
                    json!(venue_domain::format_scaled(i64::try_from(percent).unwrap_or(0), 3));
                item["weightedAvgPrice"] = json!(venue_domain::format_scaled(
                    i64::try_from(weighted_units).unwrap_or(0),
                    spec.price_decimals + 4
                ));
                item["prevClosePrice"] = json!(price(o.open));
                item["lastPrice"] = json!(price(o.close));
                item["lastQty"] = json!(l1.last_trade.map_or("0".into(), |t| spec.format_qty(t.qty)));
                item["openPrice"] = json!(price(o.open));
                item["highPrice"] = json!(price(o.high));
                item["lowPrice"] = json!(price(o.low));
                item["volume"] = json!(spec.format_qty(o.volume));
                item["quoteVolume"] = json!(quote_text(spec, o.quote_volume));
                item["firstId"] = json!(o.first_trade_id.0);
                item["lastId"] = json!(o.last_trade_id.0);
                item["count"] = json!(o.trades);
            }
            None => {
                let last = l1.last_trade.map_or("0".into(), |t| price(t.price));
                for (name, value) in [
                    ("priceChange", "0".to_owned()),
                    ("priceChangePercent", "0.000".to_owned()),
                    ("weightedAvgPrice", "0".to_owned()),
                    ("prevClosePrice", last.clone()),
                    ("lastPrice", last.clone()),
                    ("lastQty", "0".to_owned()),
                    ("openPrice", last.clone()),
                    ("highPrice", last.clone()),
                    ("lowPrice", last),
                    ("volume", "0".to_owned()),
                    ("quoteVolume", "0".to_owned()),
                ] {
                    item[name] = json!(value);
                }
                item["firstId"] = json!(-1);
                item["lastId"] = json!(-1);
                item["count"] = json!(0);
            }
        }
        Some(item)
    }
}

async fn ticker_24hr(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
    uri: Uri,
) -> RestResult {
    let p = public_params(&uri)?;
    let headers =
        rest.charge(&peer.ip().to_string(), if p.get("symbol").is_some() { 2 } else { 80 }, false)?;
    let specs = symbols_asked(&rest, &p)?;
    let now = Timestamp(now_ns());
    let items: Vec<Value> = specs.iter().filter_map(|spec| rest.ticker_json(spec, now)).collect();
    Ok(with_headers(one_or_list(&p, items), headers))
}

/// `ticker/price` and `ticker/bookTicker`: one object per instrument
/// asked for, built from its L1.
async fn l1_ticker(
    rest: &Rest,
    peer: std::net::SocketAddr,
    uri: &Uri,
    item: impl Fn(&InstrumentSpec, &venue_marketdata::L1Snapshot) -> Value,
) -> RestResult {
    let p = public_params(uri)?;
    let headers =
        rest.charge(&peer.ip().to_string(), if p.get("symbol").is_some() { 2 } else { 4 }, false)?;
    let specs = symbols_asked(rest, &p)?;
    let market = rest.market.lock();
    let items: Vec<Value> =
        specs.iter().filter_map(|spec| market.l1(spec.id).map(|l1| item(spec, &l1))).collect();
    drop(market);
    Ok(with_headers(one_or_list(&p, items), headers))
}

async fn ticker_price(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
    uri: Uri,
) -> RestResult {
    l1_ticker(&rest, peer, &uri, |spec, l1| {
        json!({
            "symbol": rest_symbol(spec),
            "price": l1.last_trade.map_or("0".into(), |t| spec.format_price(t.price)),
        })
    })
    .await
}

async fn book_ticker(
    State(rest): State<Arc<Rest>>,
    ConnectInfo(crate::tls::Peer(peer)): ConnectInfo<crate::tls::Peer>,
    uri: Uri,
) -> RestResult {
    l1_ticker(&rest, peer, &uri, |spec, l1| {
        let (bid, ask) = (l1.bbo.bid, l1.bbo.ask);
        json!({
            "symbol": rest_symbol(spec),
            "bidPrice": bid.map_or("0".into(), |l| spec.format_price(l.price)),
            "bidQty": bid.map_or("0".into(), |l| spec.format_qty(l.qty)),
            "askPrice": ask.map_or("0".into(), |l| spec.format_price(l.price)),
            "askQty": ask.map_or("0".into(), |l| spec.format_qty(l.qty)),
        })
    })
    .await
}
