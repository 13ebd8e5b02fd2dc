//! The gRPC gateway (`venue.v1`, `proto/venue/v1/venue.proto`) for strategy
//! and back-office services: order entry (unary and a bidirectional order
//! session), the account stream and queries, market data from the shared
//! market-data component, admin, plus gRPC health checking and server
//! reflection.
//!
//! It is served by the same HTTP stack as REST (axum over hyper, HTTP/2
//! with prior knowledge or ALPN `h2` under TLS), on its own listener, so it
//! shares the TLS listener and its handshake rules. An axum middleware in
//! front of the tonic services does what every call needs before decoding:
//! authentication (API key + HMAC signature over timestamp, method and the
//! request message, see the `.proto`), the REST rate limits of the key (or
//! of the client's address for public market data), and the call's
//! `grpc-timeout` deadline.

mod account;
pub mod auth;
mod market;
mod orders;

use crate::rest::Rest;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::watch;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};
use venue_domain::{InstrumentSpec, Reject, Side};
use venue_proto::v1;

/// What the gRPC services share.
pub struct Grpc {
    rest: Arc<Rest>,
    market: Arc<crate::market::MarketFeed>,
    stop: watch::Receiver<bool>,
}

/// The authenticated caller, put in the request's extensions by the
/// middleware.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The API key.
    pub key: String,
    /// The account the key trades for.
    pub account: venue_domain::AccountId,
}

/// The gRPC routes: venue.v1 services, health and reflection, behind the
/// authentication and rate-limit middleware.
pub fn routes(
    rest: Arc<Rest>,
    market: Arc<crate::market::MarketFeed>,
    stop: watch::Receiver<bool>,
) -> Result<axum::Router, String> {
    let grpc = Arc::new(Grpc { rest: rest.clone(), market, stop });
    let (health_reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(venue_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()
        .map_err(|e| format!("grpc reflection: {e}"))?;
    let reflection_alpha = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(venue_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1alpha()
        .map_err(|e| format!("grpc reflection: {e}"))?;
    // Every service is served as long as the process runs; the health
    // service's own `""` entry already reports SERVING.
    tokio::spawn(async move {
        for name in ["venue.v1.OrderEntry", "venue.v1.Account", "venue.v1.MarketData", "venue.v1.Admin"] {
            health_reporter.set_service_status(name, tonic_health::ServingStatus::Serving).await;
        }
    });
    let routes = tonic::service::Routes::new(health)
        .add_service(reflection)
        .add_service(reflection_alpha)
        .add_service(v1::order_entry_server::OrderEntryServer::from_arc(grpc.clone()))
        .add_service(v1::account_server::AccountServer::from_arc(grpc.clone()))
        .add_service(v1::market_data_server::MarketDataServer::from_arc(grpc.clone()))
        .add_service(v1::admin_server::AdminServer::from_arc(grpc));
    Ok(routes.into_axum_router().layer(axum::middleware::from_fn_with_state(rest, auth::middleware)))
}

/// A refusal with the richer error model: `google.rpc.ErrorInfo` in domain
/// "venue" carrying the rejection's name and numeric code.
fn refusal(code: Code, reason: &str, numeric: u16, message: impl Into<String>) -> Status {
    let metadata = std::collections::HashMap::from([("code".to_owned(), numeric.to_string())]);
    Status::with_error_details(code, message, ErrorDetails::with_error_info(reason, "venue", metadata))
}

/// The status code for an engine or grid refusal.
fn code_of(reject: Reject) -> Code {
    match reject {
        Reject::UnknownInstrument | Reject::UnknownOrder | Reject::UnknownAccount | Reject::UnknownAsset => {
            Code::NotFound
        }
        Reject::Backpressure | Reject::RateLimited => Code::ResourceExhausted,
        Reject::Unauthorized => Code::PermissionDenied,
        r if r.code() < 200 => Code::InvalidArgument,
        _ => Code::FailedPrecondition,
    }
}

/// The status for a typed refusal.
fn rejected(reject: Reject) -> Status {
    refusal(code_of(reject), &format!("{reject:?}"), reject.code(), reject.as_str())
}

/// A field that is missing or malformed (not an engine rule).
fn invalid(field: &str, why: impl std::fmt::Display) -> Status {
    refusal(Code::InvalidArgument, "InvalidField", 0, format!("{field}: {why}"))
}

/// A decimal field on the grid, named in the refusal.
fn parse_field<T>(field: &str, text: &str, parse: impl Fn(&str) -> Result<T, Reject>) -> Result<T, Status> {
    if text.is_empty() {
        return Err(invalid(field, "required"));
    }
    parse(text).map_err(|reject| {
        refusal(
            code_of(reject),
            &format!("{reject:?}"),
            reject.code(),
            format!("{field}: {}", reject.as_str()),
        )
    })
}

/// Why a request got no answer, as a status.
fn request_error(error: crate::router::RequestError) -> Status {
    use crate::router::RequestError;
    match error {
        RequestError::Refused(reject) => rejected(reject),
        RequestError::Timeout => Status::deadline_exceeded(
            "no answer in time: the command may still have been applied; query before retrying",
        ),
        RequestError::Stopped => Status::unavailable("the venue is stopping; the outcome is unknown"),
    }
}

impl Grpc {
    fn venue(&self) -> &Arc<crate::venue::Venue> {
        self.rest.venue()
    }

    /// The instrument named `symbol` ("BTC-USDT" or "BTCUSDT").
    fn instrument(&self, symbol: &str) -> Result<&InstrumentSpec, Status> {
        if symbol.is_empty() {
            return Err(invalid("symbol", "required"));
        }
        crate::rest::find_instrument(self.rest.specs(), symbol).ok_or_else(|| {
            refusal(
                Code::NotFound,
                "UnknownSymbol",
                Reject::UnknownInstrument.code(),
                format!("unknown symbol {symbol:?}"),
            )
        })
    }

    fn spec(&self, id: venue_domain::InstrumentId) -> Option<&InstrumentSpec> {
        self.rest.specs().get(id.0 as usize)
    }

    fn timeout(&self) -> Duration {
        self.venue().request_timeout
    }

    /// Decimal text of an amount of the asset named `name`.
    fn amount(&self, asset: &str, units: i64) -> String {
        venue_domain::format_scaled(units, self.rest.asset_decimals(asset))
    }
}

/// The caller put in by the middleware (always there for authenticated
/// services; a missing one is a wiring bug answered as unauthenticated).
fn caller<T>(request: &tonic::Request<T>) -> Result<Caller, Status> {
    request.extensions().get::<Caller>().cloned().ok_or_else(|| Status::unauthenticated("no API key"))
}

fn side_of(side: Side) -> i32 {
    match side {
        Side::Buy => v1::Side::Buy as i32,
        Side::Sell => v1::Side::Sell as i32,
    }
}

fn status_text(status: venue_domain::TradingStatus) -> &'static str {
    match status {
        venue_domain::TradingStatus::Open => "TRADING",
        venue_domain::TradingStatus::Halted => "HALT",
        venue_domain::TradingStatus::Closed => "BREAK",
    }
}

fn time_ns(time: venue_domain::Timestamp) -> i64 {
    i64::try_from(time.0).unwrap_or(i64::MAX)
}
