//! What every gRPC call passes before its service sees it: authentication,
//! rate limits and the deadline.

use super::Caller;
use crate::clock::now_ms;
use crate::rest::Rest;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::middleware::Next;
use axum::response::Response;
use std::sync::Arc;
use std::time::Duration;
use tonic::{Code, Status};
use tonic_types::{ErrorDetails, StatusExt};

/// The largest request message accepted (the order messages are tiny).
const MAX_REQUEST_BYTES: usize = 1 << 20;

/// How a method is guarded.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Guard {
    /// Health and reflection: open to all, unlimited (load balancers and
    /// discovery tools call them).
    Open,
    /// Market data: public, limited per client address.
    Public,
    /// Signed with an API key with the read permission.
    Read,
    /// Signed with an API key with the trade permission; `order` counts
    /// against the order-rate limit.
    Trade { order: bool },
    /// The admin bearer token.
    Admin,
}

fn guard(path: &str) -> Guard {
    let (service, method) = path.trim_start_matches('/').split_once('/').unwrap_or((path, ""));
    match service {
        "venue.v1.OrderEntry" => Guard::Trade { order: method != "OrderSession" },
        "venue.v1.Account" => Guard::Read,
        "venue.v1.MarketData" => Guard::Public,
        "venue.v1.Admin" => Guard::Admin,
        _ => Guard::Open,
    }
}

/// Methods whose answer is a stream: the deadline is the client's to keep.
fn streams_answer(path: &str) -> bool {
    path.ends_with("/OrderSession") || path.ends_with("/StreamAccount") || path.ends_with("/Subscribe")
}

fn answer(status: Status) -> Response {
    status.into_http()
}

fn metadata<'a>(request: &'a Request, name: &str) -> Option<&'a str> {
    request.headers().get(name).and_then(|v| v.to_str().ok())
}

/// `grpc-timeout`: up to 8 digits and a unit (H, M, S, m, u, n).
pub(crate) fn parse_timeout(text: &str) -> Option<Duration> {
    if text.len() < 2 || text.len() > 9 {
        return None;
    }
    let (digits, unit) = text.split_at(text.len() - 1);
    let value: u64 = digits.parse().ok()?;
    Some(match unit {
        "H" => Duration::from_secs(value.saturating_mul(3600)),
        "M" => Duration::from_secs(value.saturating_mul(60)),
        "S" => Duration::from_secs(value),
        "m" => Duration::from_millis(value),
        "u" => Duration::from_micros(value),
        "n" => Duration::from_nanos(value),
        _ => return None,
    })
}

/// The messages of a gRPC request body, concatenated: what the signature
/// covers. Compressed messages are refused (the venue offers no
/// compression).
fn messages(body: &[u8]) -> Result<Vec<u8>, Status> {
    let mut rest = body;
    let mut out = Vec::with_capacity(body.len());
    while !rest.is_empty() {
        if rest.len() < 5 {
            return Err(Status::invalid_argument("truncated gRPC message frame"));
        }
        if rest[0] != 0 {
            return Err(Status::unimplemented("compressed requests are not supported"));
        }
        let len = u32::from_be_bytes([rest[1], rest[2], rest[3], rest[4]]) as usize;
        if rest.len() < 5 + len {
            return Err(Status::invalid_argument("truncated gRPC message frame"));
        }
        out.extend_from_slice(&rest[5..5 + len]);
        rest = &rest[5 + len..];
    }
    Ok(out)
}

pub(super) fn rate_limited(error: crate::rest::RestError) -> Status {
    let mut details = ErrorDetails::with_error_info(
        "RateLimited",
        "venue",
        std::collections::HashMap::from([("code".to_owned(), error.code.to_string())]),
    );
    if let Some(secs) = error.retry_after {
        details.set_retry_info(Some(Duration::from_secs(secs)));
    }
    Status::with_error_details(Code::ResourceExhausted, error.msg, details)
}

/// The middleware: refuses what fails a check with a gRPC status; passes
/// the rest on with the [`Caller`] in its extensions.
pub async fn middleware(State(rest): State<Arc<Rest>>, request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    let guard = guard(&path);
    let request = match check(&rest, guard, &path, request).await {
        Ok(request) => request,
        Err(status) => return answer(status),
    };
    let deadline = metadata(&request, "grpc-timeout").and_then(parse_timeout);
    match deadline {
        Some(limit) if !streams_answer(&path) => match tokio::time::timeout(limit, next.run(request)).await {
            Ok(response) => response,
            Err(_) => answer(Status::deadline_exceeded(
                "deadline passed before the answer: the outcome is unknown; query before retrying",
            )),
        },
        _ => next.run(request).await,
    }
}

async fn check(rest: &Rest, guard: Guard, path: &str, request: Request) -> Result<Request, Status> {
    match guard {
        Guard::Open => Ok(request),
        Guard::Public => {
            let who = request
                .extensions()
                .get::<axum::extract::ConnectInfo<crate::tls::Peer>>()
                .map_or_else(|| "grpc".to_owned(), |peer| peer.0.0.ip().to_string());
            rest.charge(&who, 1, false).map_err(rate_limited)?;
            Ok(request)
        }
        Guard::Admin => {
            let token = metadata(&request, "authorization")
                .and_then(|v| v.strip_prefix("Bearer "))
                .ok_or_else(|| Status::unauthenticated("admin calls need authorization: Bearer <token>"))?;
            if !rest.venue().admin_token_matches(token.as_bytes()) {
                return Err(Status::unauthenticated("wrong admin token"));
            }
            Ok(request)
        }
        Guard::Read | Guard::Trade { .. } => signed(rest, guard, path, request).await,
    }
}

/// The `x-signature` of a signed call: HMAC-SHA256 with the key's secret,
/// in lowercase hex, over the `x-timestamp` text, the method's path and the
/// request message's bytes (none for a stream), in that order. The venue
/// checks it and its clients (the benchmark, the tests) make it with this
/// one function, so the two cannot drift apart.
pub fn signature(secret: &[u8], timestamp: &str, method: &str, message: &[u8]) -> String {
    let mut payload = Vec::with_capacity(timestamp.len() + method.len() + message.len());
    payload.extend_from_slice(timestamp.as_bytes());
    payload.extend_from_slice(method.as_bytes());
    payload.extend_from_slice(message);
    crate::rest::hex(&crate::rest::hmac_sha256(secret, &payload))
}

async fn signed(rest: &Rest, guard: Guard, path: &str, request: Request) -> Result<Request, Status> {
    let key_text =
        metadata(&request, "x-api-key").ok_or_else(|| Status::unauthenticated("missing x-api-key"))?;
    let key = rest.key(key_text).ok_or_else(|| Status::unauthenticated("unknown API key"))?;
    let allowed = match guard {
        Guard::Trade { .. } => key.trade,
        _ => key.read,
    };
    if !allowed {
        return Err(Status::permission_denied(match guard {
            Guard::Trade { .. } => "this API key lacks the trade permission",
            _ => "this API key lacks the read permission",
        }));
    }
    let timestamp_text =
        metadata(&request, "x-timestamp").ok_or_else(|| Status::unauthenticated("missing x-timestamp"))?;
    let timestamp: u64 = timestamp_text
        .parse()
        .map_err(|_| Status::unauthenticated("x-timestamp must be milliseconds since the epoch"))?;
    let window: u64 = match metadata(&request, "x-recv-window") {
        None => 5000,
        Some(text) => {
            text.parse().map_err(|_| Status::invalid_argument("x-recv-window must be an integer"))?
        }
    };
    if window > 60_000 {
        return Err(Status::invalid_argument("x-recv-window must be at most 60000"));
    }
    let now = now_ms();
    if timestamp > now + 1000 || now.saturating_sub(timestamp) > window {
        return Err(Status::unauthenticated("x-timestamp is outside the receive window"));
    }
    let given = metadata(&request, "x-signature")
        .ok_or_else(|| Status::unauthenticated("missing x-signature"))?
        .to_ascii_lowercase();
    let caller = Caller { key: key.key.clone(), account: key.account };
    let secret = key.secret.expose().as_bytes().to_vec();
    let order = matches!(guard, Guard::Trade { order: true });

    let (parts, body) = request.into_parts();
    let (body, message) = if path.ends_with("/OrderSession") {
        // The stream is authenticated when it opens; its messages are not
        // buffered here.
        (body, Vec::new())
    } else {
        let bytes = axum::body::to_bytes(body, MAX_REQUEST_BYTES)
            .await
            .map_err(|_| Status::resource_exhausted("request message too large"))?;
        let message = messages(&bytes)?;
        (Body::from(bytes), message)
    };
    // The timestamp text checked above, read back from the split request
    // (no copy of it was kept across the split).
    let timestamp_text = parts.headers.get("x-timestamp").and_then(|v| v.to_str().ok()).unwrap_or_default();
    let expected = signature(&secret, timestamp_text, path, &message);
    if !crate::config::constant_time_eq(expected.as_bytes(), given.as_bytes()) {
        return Err(Status::unauthenticated("signature does not match"));
    }
    rest.charge(&caller.key, 1, order).map_err(rate_limited)?;
    let mut request = Request::from_parts(parts, body);
    request.extensions_mut().insert(caller);
    Ok(request)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grpc_timeout_units() {
        assert_eq!(parse_timeout("100m"), Some(Duration::from_millis(100)));
        assert_eq!(parse_timeout("2S"), Some(Duration::from_secs(2)));
        assert_eq!(parse_timeout("1H"), Some(Duration::from_secs(3600)));
        assert_eq!(parse_timeout("5u"), Some(Duration::from_micros(5)));
        assert_eq!(parse_timeout("123456789S"), None, "at most 8 digits");
        assert_eq!(parse_timeout("10x"), None);
        assert_eq!(parse_timeout("S"), None);
    }

    #[test]
    fn frames_are_concatenated_and_compression_refused() {
        let mut body = vec![0, 0, 0, 0, 2, b'a', b'b', 0, 0, 0, 0, 1, b'c'];
        assert_eq!(messages(&body).unwrap(), b"abc");
        body[0] = 1;
        assert_eq!(messages(&body).unwrap_err().code(), Code::Unimplemented);
        assert_eq!(messages(&[0, 0, 0, 0, 9, 1]).unwrap_err().code(), Code::InvalidArgument);
        assert!(messages(&[]).unwrap().is_empty());
    }

    #[test]
    fn guards_by_service() {
        assert!(guard("/venue.v1.OrderEntry/SubmitOrder") == Guard::Trade { order: true });
        assert!(guard("/venue.v1.OrderEntry/OrderSession") == Guard::Trade { order: false });
        assert!(guard("/venue.v1.Account/GetBalances") == Guard::Read);
        assert!(guard("/venue.v1.MarketData/Subscribe") == Guard::Public);
        assert!(guard("/venue.v1.Admin/GetStatus") == Guard::Admin);
        assert!(guard("/grpc.health.v1.Health/Check") == Guard::Open);
    }
}
