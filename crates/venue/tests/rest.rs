//! The REST API with a client that shares no code with the venue: Python's
//! hmac and urllib (`tests/rest/rest_client.py`) sign and send requests the
//! way Binance clients do, against the real `venue serve`; the order history
//! (`allOrders`, `myTrades`), `cancelReplace`, and the user data stream
//! (`tests/rest/user_stream.py`, with `websockets`).

mod common;

use common::*;
use serde_json::Value;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::Command;

/// Status and response head of a GET (for headers the helpers drop).
fn raw_head(addr: SocketAddr, path: &str) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut text = String::new();
    stream.read_to_string(&mut text).expect("read");
    let head = text.split("\r\n\r\n").next().unwrap_or("").to_owned();
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    (status, head)
}

/// Runs `tests/rest/<script>` against `target`; it must exit 0 and print
/// `passed` (the clients install from .ci/run: websockets, ccxt).
fn run_client(script: &str, target: &str, passed: &str) {
    let path = format!("{}/tests/rest/{script}", env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("python3").arg(&path).arg(target).output().expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success() && stdout.contains(passed),
        "{script} failed (its Python packages are installed by .ci/run):\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn signed_rest_client_trades_queries_cancels_and_is_refused_precisely() {
    let data = TempDir::new("rest");
    let venue = Venue::start(&data.0.join("venue"), None);
    run_client("rest_client.py", &format!("http://{}", venue.public), "rest: all checks passed");
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}

#[test]
fn request_weight_beyond_the_limit_is_refused_with_429() {
    let data = TempDir::new("rest-limit");
    let config = demo_config_with(&data.0, "venue.toml", |t| {
        t.replacen("request_weight_per_minute = 6000", "request_weight_per_minute = 30", 1)
    });
    let venue = Venue::start(&data.0.join("venue"), Some(&config));
    // 70 requests of weight 1 against 30 a minute: even if they straddle a
    // minute boundary, at most 60 fit.
    let mut refused = Vec::new();
    for _ in 0..70 {
        let (status, body) = request(venue.public, "GET", "/api/v3/ping", None, None);
        if status != 200 {
            refused.push((status, body));
        }
    }
    assert!(refused.len() >= 10, "{} refused", refused.len());
    for (status, body) in &refused {
        assert!(*status == 429 || *status == 418, "{status} {body}");
        assert!(body.contains("-1003"), "{body}");
    }
    let (status, head) = raw_head(venue.public, "/api/v3/ping");
    assert!(status == 429 || status == 418, "{status}");
    assert!(head.to_ascii_lowercase().contains("retry-after:"), "{head}");
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}

#[test]
fn websocket_depth_diffs_rebuild_the_rest_snapshot_exactly() {
    let data = TempDir::new("ws");
    let venue = Venue::start(&data.0.join("venue"), None);
    run_client("ws_client.py", &venue.public.to_string(), "ws: all checks passed");
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}

#[test]
fn user_data_stream_delivers_execution_reports_and_positions() {
    let data = TempDir::new("user-stream");
    let venue = Venue::start(&data.0.join("venue"), None);
    run_client("user_stream.py", &venue.public.to_string(), "user stream: all checks passed");
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}

#[test]
fn ccxt_binance_client_works_by_changing_the_host() {
    let data = TempDir::new("ccxt");
    let venue = Venue::start(&data.0.join("venue"), None);
    run_client("ccxt_client.py", &format!("http://{}", venue.public), "ccxt: all checks passed");
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}

/// `(lastUpdateId, bids)` of the REST depth of BTCUSDT once `ready` holds
/// (market data follows acknowledgements on its own thread).
fn depth_when(venue: &Venue, what: &str, ready: impl Fn(u64, &Value) -> bool) -> (u64, Value) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (status, body) = request(venue.public, "GET", "/api/v3/depth?symbol=BTCUSDT", None, None);
        let depth: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let id = depth["lastUpdateId"].as_u64().unwrap_or(0);
        if status == 200 && ready(id, &depth["bids"]) {
            return (id, depth["bids"].clone());
        }
        assert!(std::time::Instant::now() < deadline, "expected {what}; last depth: {status} {body}");
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
}

fn rest_bid(venue: &Venue, price: &str) {
    let params = [
        ("symbol", "BTCUSDT"),
        ("side", "BUY"),
        ("type", "LIMIT"),
        ("timeInForce", "GTC"),
        ("quantity", "1"),
        ("price", price),
    ];
    let (status, body) = rest_signed(venue.public, "POST", "/api/v3/order", ALICE, &params);
    assert_eq!(status, 200, "expected alice's bid at {price} accepted: {body}");
}

#[test]
fn book_sequence_numbers_never_go_back_across_a_restart() {
    let data = TempDir::new("rest-restart");
    let dir = data.0.join("venue");
    let venue = Venue::start(&dir, None);
    rest_bid(&venue, "20000");
    rest_bid(&venue, "20001");
    let (before, _) =
        depth_when(&venue, "two bids on the book", |_, bids| bids.as_array().is_some_and(|b| b.len() == 2));
    assert!(before >= 2, "expected two updates before the restart, lastUpdateId {before}");
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");

    // The same data directory: the bids are recovered, and the numbering
    // continues above every number published before.
    let venue = Venue::start(&dir, None);
    let (after, bids) =
        depth_when(&venue, "the recovered book", |_, bids| bids.as_array().is_some_and(|b| b.len() == 2));
    assert!(after >= before, "lastUpdateId went back across the restart: {before} then {after}");
    assert_eq!(bids[0][0], Value::from("20001.00"), "expected the recovered best bid: {bids}");
    rest_bid(&venue, "20002");
    let (next, _) =
        depth_when(&venue, "the third bid", |_, bids| bids.as_array().is_some_and(|b| b.len() == 3));
    assert_eq!(next, after + 1, "expected the next update to carry the next number");
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}
