//! The HTTP faces: public (health, metrics) and admin (operator commands
//! behind their own bearer token, on their own listener).
//!
//! Every error is a JSON body `{"code": "...", "msg": "..."}` with an HTTP
//! status that says whose fault it is; an engine refusal also carries
//! `reject`, the refusal's stable numeric code. Request bodies are parsed
//! here rather than by framework extractors so that a malformed body gets
//! the same JSON error shape as everything else.

use crate::metrics::reject_name;
use crate::router::RequestError;
use crate::venue::Venue;
use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, Path, Request, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};
use venue_domain::{AccountId, InstrumentId, Reject, TradingStatus};
use venue_engine::{AccountLimits, AssetId, Command, Output, Transfer, TransferState};
use venue_matching::EventKind;

/// An error answer: status, a stable code clients can switch on, and a
/// message for people.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    code: String,
    msg: String,
    reject: Option<u16>,
}

impl ApiError {
    /// An error that is not an engine refusal.
    pub fn new(status: StatusCode, code: &str, msg: impl Into<String>) -> ApiError {
        ApiError { status, code: code.to_owned(), msg: msg.into(), reject: None }
    }

    fn bad_request(msg: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "BAD_REQUEST", msg)
    }

    /// An engine refusal: the status says which kind of fault it is.
    pub fn rejected(reject: Reject) -> ApiError {
        let status = match reject {
            Reject::UnknownAccount
            | Reject::UnknownAsset
            | Reject::UnknownInstrument
            | Reject::UnknownTransfer
            | Reject::UnknownOrder => StatusCode::NOT_FOUND,
            Reject::DuplicateTransfer | Reject::DuplicateClientOrderId | Reject::TransferNotPending => {
                StatusCode::CONFLICT
            }
            Reject::Backpressure => StatusCode::SERVICE_UNAVAILABLE,
            Reject::RateLimited => StatusCode::TOO_MANY_REQUESTS,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError {
            status,
            code: screaming(&reject_name(reject)),
            msg: reject.as_str().to_owned(),
            reject: Some(reject.code()),
        }
    }
}

impl From<RequestError> for ApiError {
    fn from(error: RequestError) -> ApiError {
        match error {
            RequestError::Refused(reject) => ApiError::rejected(reject),
            RequestError::Timeout => ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "OUTCOME_UNKNOWN",
                "no answer in time; the command may still apply: check before retrying",
            ),
            RequestError::Stopped => ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "OUTCOME_UNKNOWN",
                "the venue stopped before answering; check after restart before retrying",
            ),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut body = json!({ "code": self.code, "msg": self.msg });
        if let Some(reject) = self.reject {
            body["reject"] = json!(reject);
        }
        (self.status, Json(body)).into_response()
    }
}

/// `InsufficientBalance` → `INSUFFICIENT_BALANCE`.
fn screaming(camel: &str) -> String {
    let mut out = String::with_capacity(camel.len() + 8);
    for (at, c) in camel.chars().enumerate() {
        if c.is_ascii_uppercase() && at > 0 {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
    }
    out
}

type ApiResult = Result<Json<Value>, ApiError>;

/// Whether the framework answered by itself (an oversized body, a method
/// the path does not take) with a body that is not our JSON error.
fn framework_error(response: &Response) -> Option<StatusCode> {
    let status = response.status();
    let json = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    (matches!(status, StatusCode::PAYLOAD_TOO_LARGE | StatusCode::METHOD_NOT_ALLOWED) && !json)
        .then_some(status)
}

async fn count_public(State(venue): State<Arc<Venue>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(status) = framework_error(&response) {
        // Binance clients parse every error as {"code": int, "msg": ...}.
        let msg = if status == StatusCode::PAYLOAD_TOO_LARGE {
            "Request body too large (64 KiB at most)."
        } else {
            "Method not allowed on this endpoint."
        };
        let allow = response.headers().get(header::ALLOW).cloned();
        response = (status, Json(json!({ "code": -1000, "msg": msg }))).into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    venue.metrics.count_http("public", response.status().as_u16());
    response
}

async fn count_admin(State(venue): State<Arc<Venue>>, request: Request, next: Next) -> Response {
    let mut response = next.run(request).await;
    if let Some(status) = framework_error(&response) {
        let (code, msg) = if status == StatusCode::PAYLOAD_TOO_LARGE {
            ("PAYLOAD_TOO_LARGE", "request body too large (64 KiB at most)")
        } else {
            ("METHOD_NOT_ALLOWED", "method not allowed on this endpoint")
        };
        let allow = response.headers().get(header::ALLOW).cloned();
        response = ApiError::new(status, code, msg).into_response();
        if let Some(allow) = allow {
            response.headers_mut().insert(header::ALLOW, allow);
        }
    }
    venue.metrics.count_http("admin", response.status().as_u16());
    response
}

/// Health and metrics (what load balancers and Prometheus scrape), the
/// REST API and its OpenAPI document (`/openapi.json`).
pub fn public(venue: Arc<Venue>, rest: Arc<crate::rest::Rest>, hub: Arc<crate::ws::WsHub>) -> Router {
    Router::new()
        .route("/health/live", get(live))
        .route("/health/ready", get(ready))
        .route("/metrics", get(metrics))
        .route("/openapi.json", get(openapi))
        .route("/", get(crate::web::index))
        .route("/web/{file}", get(crate::web::asset))
        .with_state(venue.clone())
        .merge(crate::rest::routes(rest))
        .merge(
            Router::new()
                .route("/ws/{*streams}", get(crate::ws::raw))
                .route("/stream", get(crate::ws::combined))
                .with_state(hub),
        )
        .fallback(public_not_found)
        .layer(middleware::from_fn_with_state(venue, count_public))
        .layer(DefaultBodyLimit::max(64 << 10))
}

/// Operator commands, behind the admin token.
pub fn admin(venue: Arc<Venue>) -> Router {
    Router::new()
        .route("/admin/v1/status", get(status))
        .route("/admin/v1/instruments/{symbol}/{action}", post(set_status))
        .route("/admin/v1/accounts/{id}", put(set_account).get(get_account))
        .route("/admin/v1/accounts/{id}/kill-switch", post(kill_switch))
        .route("/admin/v1/cancel-all", post(cancel_all))
        .route("/admin/v1/deposits", post(deposit))
        .route("/admin/v1/withdrawals", post(withdraw))
        .route("/admin/v1/withdrawals/{id}/{action}", post(withdraw_finish))
        .route("/admin/v1/transfers/{id}", get(get_transfer))
        .route("/admin/v1/snapshot", post(snapshot))
        .route("/admin/v1/ledger/check", post(ledger_check))
        .route("/admin/v1/reload", post(reload))
        .route("/health/live", get(live))
        .fallback(not_found)
        .layer(middleware::from_fn_with_state(venue.clone(), authenticate))
        .layer(middleware::from_fn_with_state(venue.clone(), count_admin))
        .layer(DefaultBodyLimit::max(64 << 10))
        .with_state(venue)
}

/// The public listener speaks to Binance clients, whose error parsing
/// expects a numeric code.
async fn public_not_found() -> (StatusCode, Json<Value>) {
    (StatusCode::NOT_FOUND, Json(json!({ "code": -1000, "msg": "No such endpoint on this venue." })))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "no such endpoint")
}

async fn authenticate(
    State(venue): State<Arc<Venue>>,
    headers: HeaderMap,
    request: Request,
    next: Next,
) -> Response {
    if request.uri().path() == "/health/live" {
        return next.run(request).await;
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "UNAUTHENTICATED",
            "missing Authorization: Bearer <token>",
        )
        .into_response();
    };
    let token = value.as_bytes().strip_prefix(b"Bearer ").unwrap_or(b"");
    if !venue.admin_token_matches(token) {
        return ApiError::new(StatusCode::UNAUTHORIZED, "UNAUTHENTICATED", "wrong admin token")
            .into_response();
    }
    next.run(request).await
}

async fn live() -> Json<Value> {
    Json(json!({ "status": "live" }))
}

async fn ready(State(venue): State<Arc<Venue>>) -> (StatusCode, Json<Value>) {
    let stats = venue.monitor.stats();
    let (ok, why) = if stats.journal_failed.load(Ordering::Relaxed) {
        (false, "journal failed")
    } else if stats.ledger_broken.load(Ordering::Relaxed) {
        (false, "ledger invariant broken")
    } else if venue.metrics.audit_errors.load(Ordering::Relaxed) > 0 {
        (false, "audit log failed")
    } else if venue.monitor.stopped() {
        (false, "stopping")
    } else if !venue.metrics.ready.load(Ordering::Acquire) {
        (false, "starting")
    } else {
        (true, "ready")
    };
    let status = if ok { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    let mut body = json!({ "status": why, "seq": stats.applied.load(Ordering::Relaxed) });
    // The post-trade database is reported, not required: trading goes on
    // while it is down or behind, and the sink catches up.
    if let Some((sink, max_lag)) = venue.metrics.posttrade.get() {
        body["posttrade"] = json!({
            "connected": sink.connected(),
            "persisted_seq": sink.persisted_seq(),
            "lag": sink.lag(),
            "healthy": sink.healthy(*max_lag),
            "last_error": sink.last_error(),
        });
    }
    (status, Json(body))
}

/// The OpenAPI document of the REST API (`rest::routes`), kept true by
/// `crates/venue/tests/openapi.rs`.
async fn openapi() -> Response {
    ([(header::CONTENT_TYPE, "application/json")], include_str!("openapi.json")).into_response()
}

async fn metrics(State(venue): State<Arc<Venue>>) -> Response {
    let text = venue.metrics.render(venue.monitor.stats(), venue.router.queued(), venue.inbound_capacity);
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], text).into_response()
}

fn body<T: for<'de> Deserialize<'de>>(bytes: &Bytes) -> Result<T, ApiError> {
    serde_json::from_slice(bytes).map_err(|e| ApiError::bad_request(format!("request body: {e}")))
}

fn account_id(text: &str) -> Result<AccountId, ApiError> {
    text.parse::<u32>()
        .map(AccountId)
        .map_err(|_| ApiError::bad_request(format!("account id {text:?} is not a number")))
}

/// The single refusal among a command's outputs, if it was refused.
fn refusal(outputs: &[Output]) -> Option<Reject> {
    outputs.iter().find_map(|o| match o {
        Output::CommandRejected { reason } => Some(*reason),
        Output::Book(event) => match event.kind {
            EventKind::Rejected { reason, .. } => Some(reason),
            _ => None,
        },
        _ => None,
    })
}

impl Venue {
    /// Runs an admin command and returns its outputs, or the refusal.
    async fn run(&self, command: Command) -> Result<Vec<Output>, ApiError> {
        let outputs = self.router.execute(command, self.request_timeout).await?;
        match refusal(&outputs) {
            Some(reject) => Err(ApiError::rejected(reject)),
            None => Ok(outputs),
        }
    }

    fn instrument(&self, symbol: &str) -> Result<InstrumentId, ApiError> {
        self.engine
            .instruments
            .iter()
            .find(|spec| spec.symbol == symbol)
            .map(|spec| spec.id)
            .ok_or_else(|| ApiError::rejected(Reject::UnknownInstrument))
    }

    fn asset(&self, name: &str) -> Result<AssetId, ApiError> {
        self.engine.asset(name).ok_or_else(|| ApiError::rejected(Reject::UnknownAsset))
    }

    fn format_amount(&self, asset: AssetId, amount: i64) -> String {
        let decimals = self.engine.assets.get(asset.0 as usize).map_or(0, |a| a.decimals);
        venue_domain::format_scaled(amount, decimals)
    }
}

async fn status(State(venue): State<Arc<Venue>>) -> Json<Value> {
    let s = venue.monitor.stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    Json(json!({
        "applied_seq": load(&s.applied),
        "written_seq": load(&s.written),
        "durable_seq": load(&s.durable),
        "journal_commits": load(&s.commits),
        "snapshots": load(&s.snapshots),
        "last_snapshot_seq": load(&s.last_snapshot_seq),
        "journal_failed": s.journal_failed.load(Ordering::Relaxed),
        "ledger_broken": s.ledger_broken.load(Ordering::Relaxed),
        "ready": venue.metrics.ready.load(Ordering::Relaxed),
        "instruments": venue.engine.instruments.iter().map(|i| i.symbol.clone()).collect::<Vec<_>>(),
    }))
}

async fn set_status(
    State(venue): State<Arc<Venue>>,
    Path((symbol, action)): Path<(String, String)>,
) -> ApiResult {
    let status = match action.as_str() {
        "halt" => TradingStatus::Halted,
        "resume" => TradingStatus::Open,
        "close" => TradingStatus::Closed,
        _ => {
            return Err(ApiError::new(
                StatusCode::NOT_FOUND,
                "NOT_FOUND",
                "action must be halt, resume or close",
            ));
        }
    };
    let instrument = venue.instrument(&symbol)?;
    venue.run(Command::SetStatus { instrument, status }).await?;
    Ok(Json(json!({ "symbol": symbol, "status": crate::venue::status_name(status) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AccountBody {
    tier: u16,
    #[serde(default)]
    limits: LimitsBody,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct LimitsBody {
    #[serde(default)]
    max_order_qty: i64,
    #[serde(default)]
    max_notional: i64,
    #[serde(default)]
    max_open_orders: u32,
    #[serde(default)]
    price_band_bps: u32,
}

async fn set_account(State(venue): State<Arc<Venue>>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let account = account_id(&id)?;
    let req: AccountBody = body(&bytes)?;
    let l = req.limits;
    if l.max_order_qty < 0 || l.max_notional < 0 {
        return Err(ApiError::bad_request("limits must not be negative (0 means no limit)"));
    }
    let limits = AccountLimits {
        max_order_qty: l.max_order_qty,
        max_notional: l.max_notional,
        max_open_orders: l.max_open_orders,
        price_band_bps: l.price_band_bps,
    };
    venue.run(Command::SetAccount { account, tier: req.tier, limits }).await?;
    Ok(Json(json!({ "account": account.0, "tier": req.tier })))
}

async fn get_account(State(venue): State<Arc<Venue>>, Path(id): Path<String>) -> ApiResult {
    let account = account_id(&id)?;
    let assets = venue.engine.assets.len();
    let read = move |engine: &venue_engine::Engine| {
        let info = engine.account(account).copied();
        let balances: Vec<_> = (0..assets).map(|at| engine.balance(account, AssetId(at as u32))).collect();
        (info, balances)
    };
    let (info, balances) = venue.router.query(&venue.monitor, read, venue.request_timeout).await?;
    let info = info.ok_or_else(|| ApiError::rejected(Reject::UnknownAccount))?;
    let balances: Vec<Value> = balances
        .iter()
        .enumerate()
        .map(|(at, b)| {
            let asset = AssetId(at as u32);
            json!({
                "asset": venue.engine.assets[at].name,
                "available": venue.format_amount(asset, b.available),
                "held": venue.format_amount(asset, b.held),
            })
        })
        .collect();
    let l = info.limits;
    Ok(Json(json!({
        "account": account.0,
        "tier": info.tier,
        "kill_switch": info.kill_switch,
        "open_orders": info.open_orders,
        "limits": {
            "max_order_qty": l.max_order_qty,
            "max_notional": l.max_notional,
            "max_open_orders": l.max_open_orders,
            "price_band_bps": l.price_band_bps,
        },
        "balances": balances,
    })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct KillBody {
    on: bool,
}

async fn kill_switch(State(venue): State<Arc<Venue>>, Path(id): Path<String>, bytes: Bytes) -> ApiResult {
    let account = account_id(&id)?;
    let req: KillBody = body(&bytes)?;
    let outputs = venue.run(Command::KillSwitch { account, on: req.on }).await?;
    let cancelled = outputs
        .iter()
        .filter(|o| matches!(o, Output::Book(e) if matches!(e.kind, EventKind::Cancelled { .. })))
        .count();
    Ok(Json(json!({ "account": account.0, "on": req.on, "cancelled": cancelled })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CancelAllBody {
    #[serde(default)]
    account: Option<u32>,
    #[serde(default)]
    symbol: Option<String>,
}

async fn cancel_all(State(venue): State<Arc<Venue>>, bytes: Bytes) -> ApiResult {
    let req: CancelAllBody = body(&bytes)?;
    if req.account.is_none() && req.symbol.is_none() {
        return Err(ApiError::bad_request(
            "give an account, a symbol or both (cancelling every order on the venue is not offered here)",
        ));
    }
    let instrument = req.symbol.as_deref().map(|s| venue.instrument(s)).transpose()?;
    let account = req.account.map(AccountId);
    let outputs = venue.run(Command::MassCancel { instrument, account }).await?;
    let cancelled: u64 = outputs
        .iter()
        .map(|o| match o {
            Output::Book(e) => match e.kind {
                EventKind::MassCancelled { count, .. } => u64::from(count),
                _ => 0,
            },
            _ => 0,
        })
        .sum();
    Ok(Json(json!({ "cancelled": cancelled })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct TransferBody {
    transfer_id: u64,
    account: u32,
    asset: String,
    amount: String,
}

fn transfer_json(venue: &Venue, outputs: &[Output]) -> Value {
    outputs
        .iter()
        .find_map(|o| match *o {
            Output::Transfer { transfer_id, account, asset, amount, state } => {
                Some(one_transfer_json(venue, transfer_id, &Transfer { account, asset, amount, state }))
            }
            _ => None,
        })
        .unwrap_or(Value::Null)
}

fn one_transfer_json(venue: &Venue, transfer_id: u64, t: &Transfer) -> Value {
    json!({
        "transfer_id": transfer_id,
        "account": t.account.0,
        "asset": venue.engine.assets.get(t.asset.0 as usize).map(|a| a.name.clone()),
        "amount": venue.format_amount(t.asset, t.amount),
        "state": match t.state {
            TransferState::Deposited => "deposited",
            TransferState::Pending => "pending",
            TransferState::Posted => "posted",
            TransferState::Voided => "voided",
        },
    })
}

/// The transfer `transfer_id` names, as of a durable command.
async fn find_transfer(venue: &Venue, transfer_id: u64) -> Result<Option<Transfer>, ApiError> {
    let read = move |engine: &venue_engine::Engine| engine.transfer(transfer_id).copied();
    Ok(venue.router.query(&venue.monitor, read, venue.request_timeout).await?)
}

async fn get_transfer(State(venue): State<Arc<Venue>>, Path(id): Path<String>) -> ApiResult {
    let transfer_id = id
        .parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("transfer id {id:?} is not a number")))?;
    match find_transfer(&venue, transfer_id).await? {
        Some(t) => Ok(Json(one_transfer_json(&venue, transfer_id, &t))),
        None => Err(ApiError::rejected(Reject::UnknownTransfer)),
    }
}

/// Runs a deposit or a withdrawal's first phase. Transfer ids make them
/// idempotent: the same request again (a retry after a timeout or a lost
/// answer) changes nothing and is answered with the transfer as it stands
/// now, marked `"replayed": true`; a different request under an id already
/// used is refused (409) with what the id holds.
async fn run_transfer(venue: &Venue, bytes: &Bytes, deposit: bool) -> ApiResult {
    let (transfer_id, asked) = transfer_request(venue, bytes, deposit)?;
    let Transfer { account, asset, amount, .. } = asked;
    let command = if deposit {
        Command::Deposit { transfer_id, account, asset, amount }
    } else {
        Command::WithdrawPending { transfer_id, account, asset, amount }
    };
    match venue.run(command).await {
        Ok(outputs) => Ok(Json(transfer_json(venue, &outputs))),
        Err(error) if error.reject == Some(Reject::DuplicateTransfer.code()) => {
            let Some(held) = find_transfer(venue, transfer_id).await? else { return Err(error) };
            let same_kind = (held.state == TransferState::Deposited) == deposit;
            if same_kind
                && (held.account, held.asset, held.amount) == (asked.account, asked.asset, asked.amount)
            {
                let mut answer = one_transfer_json(venue, transfer_id, &held);
                answer["replayed"] = json!(true);
                return Ok(Json(answer));
            }
            Err(ApiError {
                msg: format!(
                    "transfer id {transfer_id} is already used by a different transfer: {}",
                    one_transfer_json(venue, transfer_id, &held)
                ),
                ..error
            })
        }
        Err(error) => Err(error),
    }
}

/// The transfer a deposit or withdrawal body asks for: its id and what it
/// should hold once applied (a withdrawal's first phase leaves it pending).
fn transfer_request(venue: &Venue, bytes: &Bytes, deposit: bool) -> Result<(u64, Transfer), ApiError> {
    let req: TransferBody = body(bytes)?;
    let asset = venue.asset(&req.asset)?;
    let decimals = venue.engine.assets[asset.0 as usize].decimals;
    let amount = venue_domain::parse_scaled(&req.amount, decimals).map_err(|reject| ApiError {
        msg: format!("amount {:?}: {reject} (at most {decimals} decimals)", req.amount),
        ..ApiError::rejected(reject)
    })?;
    let state = if deposit { TransferState::Deposited } else { TransferState::Pending };
    Ok((req.transfer_id, Transfer { account: AccountId(req.account), asset, amount, state }))
}

async fn deposit(State(venue): State<Arc<Venue>>, bytes: Bytes) -> ApiResult {
    run_transfer(&venue, &bytes, true).await
}

async fn withdraw(State(venue): State<Arc<Venue>>, bytes: Bytes) -> ApiResult {
    run_transfer(&venue, &bytes, false).await
}

async fn withdraw_finish(
    State(venue): State<Arc<Venue>>,
    Path((id, action)): Path<(String, String)>,
) -> ApiResult {
    let transfer_id = id
        .parse::<u64>()
        .map_err(|_| ApiError::bad_request(format!("transfer id {id:?} is not a number")))?;
    let command = match action.as_str() {
        "post" => Command::WithdrawPost { transfer_id },
        "void" => Command::WithdrawVoid { transfer_id },
        _ => return Err(ApiError::new(StatusCode::NOT_FOUND, "NOT_FOUND", "action must be post or void")),
    };
    let outputs = venue.run(command).await?;
    Ok(Json(transfer_json(&venue, &outputs)))
}

/// Asks for a snapshot and waits until one newer than the request is
/// written (the snapshot thread checks the ledger first) or the ledger is
/// found broken.
async fn wait_snapshot(venue: &Venue) -> Result<(u64, bool), ApiError> {
    let stats = venue.monitor.stats();
    let before = stats.snapshots.load(Ordering::Acquire);
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut asked = Instant::now() - Duration::from_secs(1);
    loop {
        if stats.ledger_broken.load(Ordering::Acquire) {
            return Ok((stats.applied.load(Ordering::Relaxed), false));
        }
        if stats.snapshots.load(Ordering::Acquire) > before {
            return Ok((stats.last_snapshot_seq.load(Ordering::Acquire), true));
        }
        if Instant::now() > deadline {
            return Err(ApiError::new(
                StatusCode::GATEWAY_TIMEOUT,
                "TIMEOUT",
                "no snapshot written within 60 s",
            ));
        }
        // A request made while a snapshot is being written is skipped, so
        // ask again now and then.
        if asked.elapsed() > Duration::from_millis(200) {
            venue.monitor.request_snapshot();
            asked = Instant::now();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

async fn snapshot(State(venue): State<Arc<Venue>>) -> ApiResult {
    match wait_snapshot(&venue).await? {
        (seq, true) => Ok(Json(json!({ "seq": seq }))),
        (_, false) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "LEDGER_BROKEN",
            "the ledger invariant is broken; no snapshot written",
        )),
    }
}

async fn ledger_check(State(venue): State<Arc<Venue>>) -> ApiResult {
    match wait_snapshot(&venue).await? {
        (seq, true) => Ok(Json(json!({ "ok": true, "seq": seq }))),
        (seq, false) => Err(ApiError::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "LEDGER_BROKEN",
            format!("the ledger invariant does not hold (applied seq {seq}); stop trading and investigate"),
        )),
    }
}

async fn reload(State(venue): State<Arc<Venue>>) -> ApiResult {
    let report = venue.reload().await?;
    Ok(Json(report))
}
