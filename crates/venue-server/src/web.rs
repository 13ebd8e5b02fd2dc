//! The venue's own live web page at `/` on the public listener: per
//! instrument the order-book ladder, a depth chart, the trade tape, candles,
//! and a small panel of the venue's throughput and latency.
//!
//! The page is a client of the public API like any other, and so a live demo
//! of it: it reads the Binance-shaped REST snapshots (`/api/v3/depth`,
//! `trades`, `klines`, `ticker/24hr`) and keeps them current from one
//! combined WebSocket (`/stream?streams=<s>@depth/<s>@trade/<s>@kline_<i>/<s>@ticker`),
//! keeping the book by Binance's documented snapshot + `U`/`u` diff rules;
//! the panel polls `/metrics`. It has no privileges and no endpoint of its
//! own.
//!
//! Everything is compiled into the binary (`include_bytes!` of
//! `crates/venue-server/web/`, including the vendored charting library,
//! TradingView's `lightweight-charts`; `web/README.md` says which version
//! and how to update it), so the page works on a machine without internet
//! and the build needs neither npm nor network. Files are revalidated
//! (`Cache-Control: no-cache` with a content `ETag`), so a new binary's page
//! is never mixed with an old cached script; the Content-Security-Policy
//! lets the page talk to this venue only.

use axum::Json;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde_json::json;
use sha2::{Digest, Sha256};
use std::sync::OnceLock;

/// One embedded file of the page.
struct Asset {
    /// Name under `/web/` (the page itself is also `/`).
    name: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

/// The page's files. `index.html` refers to the others by these names.
const ASSETS: [Asset; 4] = [
    Asset {
        name: "index.html",
        content_type: "text/html; charset=utf-8",
        body: include_bytes!("../web/index.html"),
    },
    Asset {
        name: "app.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/app.js"),
    },
    Asset {
        name: "style.css",
        content_type: "text/css; charset=utf-8",
        body: include_bytes!("../web/style.css"),
    },
    Asset {
        name: "lightweight-charts.js",
        content_type: "text/javascript; charset=utf-8",
        body: include_bytes!("../web/vendor/lightweight-charts.standalone.production.js"),
    },
];

/// Only this venue, over HTTP(S) and WebSocket (`'self'` covers `ws:`/`wss:`
/// to the same host and port). Inline styles are allowed because the
/// charting library injects a `<style>` for its attribution logo.
const CSP: &str = "default-src 'self'; connect-src 'self'; img-src 'self' data:; \
                   style-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Strong ETags: the first 16 hex digits of each file's SHA-256, computed
/// once on first use.
fn etags() -> &'static [String; 4] {
    static ETAGS: OnceLock<[String; 4]> = OnceLock::new();
    ETAGS.get_or_init(|| {
        std::array::from_fn(|at| {
            let digest = Sha256::digest(ASSETS[at].body);
            format!("\"{}\"", crate::rest::hex(&digest[..8]))
        })
    })
}

fn serve(at: usize, request: &HeaderMap) -> Response {
    let asset = &ASSETS[at];
    let etag = &etags()[at];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|tag| tag.trim() == etag || tag.trim() == "*"));
    let mut response =
        if fresh { StatusCode::NOT_MODIFIED.into_response() } else { asset.body.into_response() };
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(asset.content_type));
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    headers.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    if let Ok(value) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, value);
    }
    if asset.name == "index.html" {
        headers.insert(header::CONTENT_SECURITY_POLICY, HeaderValue::from_static(CSP));
        headers.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    }
    response
}

/// `GET /`: the page. Which instrument it shows is chosen in the page
/// (`/?symbol=ETHUSDT`; the first listed by `exchangeInfo` otherwise).
pub async fn index(request: HeaderMap) -> Response {
    serve(0, &request)
}

/// `GET /web/{file}`: the page's script, style sheet and charting library.
/// Unknown names get the public listener's JSON 404, as any other path.
pub async fn asset(Path(file): Path<String>, request: HeaderMap) -> Response {
    match ASSETS.iter().position(|a| a.name == file) {
        Some(at) => serve(at, &request),
        None => {
            (StatusCode::NOT_FOUND, Json(json!({ "code": -1000, "msg": "No such endpoint on this venue." })))
                .into_response()
        }
    }
}
