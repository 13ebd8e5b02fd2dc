//! One real `venue serve` on its built-in demo configuration, and every way
//! in: health, metrics and the admin API over HTTP, then one trade story told
//! across all four trading protocols against the same running venue.
//!
//! 1. A WebSocket client (`tests/all_protocols/ws_trade.py`, Python's
//!    `websockets`: there is no Rust WebSocket client in the tree)
//!    subscribes to `btcusdt@trade` before anything trades.
//! 2. REST (Binance shape, HMAC-signed): bob rests a sell of 1 BTC at 30000.
//! 3. FIX 4.4 over raw TCP (`venue-fix`'s encoder, framer and parser): the
//!    ALICE session logs on, buys 0.25 at 30000, gets the fill, logs out.
//! 4. The WebSocket client saw exactly that trade.
//! 5. gRPC (`venue-proto`'s Rust client over tonic): the book shows the
//!    0.75 left of bob's order, the trade is listed, alice takes the rest
//!    with an IOC order, rests a bid and cancels it.
//! 6. REST and admin show the balances all of that produced; `/metrics`
//!    counted the orders, trades and the cancel; SIGTERM stops it cleanly.

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use venue_proto::v1;

const FIX_PASSWORD: &str = "demo-fix-password";
/// How long any one answer may take before the test fails.
const WAIT: Duration = Duration::from_secs(15);

/// Polls `probe` until it answers `Ok`, for at most [`WAIT`]. Market data is
/// kept by its own thread from the durable outputs, apart from the thread
/// that answers orders, so a book query right after an order's answer may
/// not show it yet.
fn eventually<T>(what: &str, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + WAIT;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(last) if Instant::now() >= deadline => {
                panic!("expected {what} within {WAIT:?}; last seen: {last}")
            }
            Err(_) => std::thread::sleep(Duration::from_millis(2)),
        }
    }
}

// --- REST -------------------------------------------------------------------

/// `(free, locked)` of `asset` in a REST `/api/v3/account` answer.
fn rest_balance(account: &Value, asset: &str) -> (String, String) {
    let entry = account["balances"]
        .as_array()
        .unwrap_or_else(|| panic!("expected a balances array in {account}"))
        .iter()
        .find(|b| b["asset"] == asset)
        .unwrap_or_else(|| panic!("expected a {asset} balance in {account}"));
    (entry["free"].as_str().expect("free").to_owned(), entry["locked"].as_str().expect("locked").to_owned())
}

// --- FIX --------------------------------------------------------------------

// --- gRPC -------------------------------------------------------------------

fn levels(levels: &[v1::Level]) -> Levels<'_> {
    levels.iter().map(|l| (l.price.as_str(), l.quantity.as_str(), l.orders)).collect()
}

type Levels<'a> = Vec<(&'a str, &'a str, u32)>;

/// GetBook until it shows exactly `bids` and `asks` (see [`eventually`]).
async fn book_eventually(
    market: &mut v1::market_data_client::MarketDataClient<Channel>,
    bids: Levels<'_>,
    asks: Levels<'_>,
    what: &str,
) -> v1::BookSnapshot {
    let deadline = Instant::now() + WAIT;
    loop {
        let book = market
            .get_book(v1::GetBookRequest { symbol: "BTC-USDT".into(), depth: 10 })
            .await
            .expect("expected GetBook to answer")
            .into_inner();
        if (levels(&book.bids), levels(&book.asks)) == (bids.clone(), asks.clone()) {
            return book;
        }
        assert!(
            Instant::now() < deadline,
            "expected {what} (bids {bids:?}, asks {asks:?}) from GetBook within {WAIT:?}; last seen: {book:?}"
        );
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
}

// --- WebSocket --------------------------------------------------------------

/// The Python WebSocket client, with its stdout lines on a channel.
struct WsClient {
    child: Child,
    lines: Receiver<String>,
}

impl WsClient {
    /// Starts it on `stream` and waits until the venue has the subscription.
    fn subscribe(public: SocketAddr, stream: &str) -> WsClient {
        let script = format!("{}/tests/all_protocols/ws_trade.py", env!("CARGO_MANIFEST_DIR"));
        let mut child = Command::new("python3")
            .arg(&script)
            .arg(public.to_string())
            .arg(stream)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("python3 runs (the websockets package is installed by .ci/run)");
        let stdout = BufReader::new(child.stdout.take().expect("stdout"));
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut client = WsClient { child, lines };
        let line = client.line();
        assert_eq!(line, "ready", "expected the WebSocket client to report its subscription");
        client
    }

    fn line(&mut self) -> String {
        self.lines.recv_timeout(WAIT).unwrap_or_else(|_| {
            let _ = self.child.kill();
            panic!("expected a line from ws_trade.py within {WAIT:?} (is Python's websockets installed?)")
        })
    }
}

impl Drop for WsClient {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

// --- the test ---------------------------------------------------------------

#[test]
fn health_metrics_admin_and_a_round_trip_through_every_protocol() {
    let started = Instant::now();
    let data = TempDir::new("all-protocols");
    let venue = Venue::start(&data.0.join("venue"), None);
    let fix_addr = venue.fix.expect("expected the demo configuration to print a FIX endpoint");
    let grpc_addr = venue.grpc.expect("expected the demo configuration to print a gRPC endpoint");

    // Health.
    for path in ["/health/live", "/health/ready"] {
        let (status, body) = venue.public("GET", path);
        assert_eq!(status, 200, "expected 200 from {path}, got {status}: {body}");
    }

    // Metrics before any order.
    let (status, before) = venue.public("GET", "/metrics");
    assert_eq!(status, 200, "expected 200 from /metrics");
    for name in [
        "venue_commands_applied_total",
        "venue_journal_durable_seq",
        "venue_journal_commits_total",
        "venue_inbound_capacity",
        "venue_orders_accepted_total",
        "venue_trades_total",
        "venue_orders_cancelled_total",
        "venue_transfers_total",
        "venue_audit_lines_total",
        "venue_request_latency_seconds",
        "venue_http_responses_total",
    ] {
        assert!(before.contains(&format!("# TYPE {name} ")), "expected metric {name} in /metrics:\n{before}");
    }
    assert_eq!(metric(&before, "venue_ready"), 1.0, "expected venue_ready 1 once ready");
    assert!(
        metric(&before, "venue_transfers_total") >= 9.0,
        "expected the 9 demo deposits counted as transfers"
    );
    assert!(
        before.contains("venue_http_responses_total{listener=\"public\",status=\"200\"}"),
        "expected the health answers counted under listener=\"public\",status=\"200\":\n{before}"
    );
    let accepted0 = metric(&before, "venue_orders_accepted_total");
    let trades0 = metric(&before, "venue_trades_total");
    let cancelled0 = metric(&before, "venue_orders_cancelled_total");

    // 1. WebSocket: subscribed before anything trades.
    let mut ws = WsClient::subscribe(venue.public, "btcusdt@trade");

    // 2. REST: bob rests a sell of 1 BTC at 30000.
    let (status, sell) = rest_signed(
        venue.public,
        "POST",
        "/api/v3/order",
        BOB,
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "1"),
            ("price", "30000"),
            ("newClientOrderId", "bob-rest-1"),
        ],
    );
    assert_eq!(status, 200, "expected bob's signed REST order accepted, got {status}: {sell}");
    assert_eq!(
        (&sell["status"], &sell["clientOrderId"], &sell["side"], &sell["executedQty"]),
        (&Value::from("NEW"), &Value::from("bob-rest-1"), &Value::from("SELL"), &Value::from("0.0000")),
        "expected bob's sell to rest untouched: {sell}"
    );
    let bob_order_id =
        sell["orderId"].as_u64().unwrap_or_else(|| panic!("expected a numeric orderId: {sell}"));
    eventually("bob's ask alone on the REST book", || {
        let (status, depth) =
            request(venue.public, "GET", "/api/v3/depth?symbol=BTCUSDT&limit=5", None, None);
        let depth: Value = serde_json::from_str(&depth).unwrap_or(Value::Null);
        let want = serde_json::json!({"bids": [], "asks": [["30000.00", "1.0000"]]});
        if status == 200 && depth["bids"] == want["bids"] && depth["asks"] == want["asks"] {
            Ok(())
        } else {
            Err(format!("{status} {depth}"))
        }
    });

    // 3. FIX: ALICE logs on, buys 0.25 at 30000 and is filled by bob's order.
    let mut fix = FixClient::connect(fix_addr, "ALICE");
    fix.send("A", |e| {
        e.uint(98, 0).uint(108, 30).bool(141, true).str(554, FIX_PASSWORD);
    });
    let logon = fix.recv();
    assert_eq!(logon.get(35), Some("A"), "expected a Logon answer, got {}", logon.text());
    fix.send("D", |e| {
        e.str(11, "alice-fix-1")
            .str(55, "BTC-USDT")
            .char(54, b'1')
            .timestamp(60, now_ns())
            .str(38, "0.25")
            .char(40, b'2')
            .str(44, "30000")
            .char(59, b'1');
    });
    let mut reports = Vec::new();
    let fill = loop {
        let report = fix.recv();
        assert_eq!(report.get(35), Some("8"), "expected only ExecutionReports, got {}", report.text());
        assert_eq!(
            report.get(11),
            Some("alice-fix-1"),
            "expected reports for our ClOrdID: {}",
            report.text()
        );
        let is_fill = report.get(150) == Some("F");
        reports.push(report.text());
        if is_fill {
            break report;
        }
        assert!(reports.len() < 5, "expected a fill (150=F) among the first reports, got {reports:#?}");
    };
    assert_eq!(
        (fill.get(31), fill.get(32), fill.get(39), fill.get(14), fill.get(54), fill.get(55), fill.get(1)),
        (Some("30000.00"), Some("0.2500"), Some("2"), Some("0.2500"), Some("1"), Some("BTC-USDT"), Some("1")),
        "expected a full fill of 0.25 at 30000.00 for account 1: {}",
        fill.text()
    );
    assert_eq!(fill.get(151), Some("0.0000"), "expected nothing left: {}", fill.text());
    fix.send("5", |_| {});
    let logout = fix.recv();
    assert_eq!(
        logout.get(35),
        Some("5"),
        "expected the Logout answered with a Logout, got {}",
        logout.text()
    );

    // 4. WebSocket: the trade event.
    let line = ws.line();
    let event: Value = serde_json::from_str(
        line.strip_prefix("event ")
            .unwrap_or_else(|| panic!("expected an 'event <JSON>' line from ws_trade.py, got {line}")),
    )
    .expect("the WebSocket event is JSON");
    assert_eq!(
        (&event["e"], &event["s"], &event["p"], &event["q"], &event["m"]),
        (
            &Value::from("trade"),
            &Value::from("BTCUSDT"),
            &Value::from("30000.00"),
            &Value::from("0.2500"),
            &Value::from(false)
        ),
        "expected the FIX buy's trade (buyer is the taker) on btcusdt@trade: {event}"
    );
    let ws_status = ws.child.wait().expect("ws_trade.py exits");
    assert!(ws_status.success(), "expected ws_trade.py to exit 0, got {ws_status}");

    // 5. gRPC: book, trades, an IOC that takes the rest, a bid and its cancel.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("tokio runtime");
    runtime.block_on(async {
        let channel: Channel = Endpoint::from_shared(format!("http://{grpc_addr}"))
            .expect("endpoint")
            .connect_timeout(WAIT)
            .timeout(WAIT)
            .connect()
            .await
            .expect("expected to connect to the gRPC listener");
        let mut market = v1::market_data_client::MarketDataClient::new(channel.clone());
        let mut orders = v1::order_entry_client::OrderEntryClient::new(channel.clone());
        let mut admin = v1::admin_client::AdminClient::new(channel);
        book_eventually(
            &mut market,
            vec![],
            vec![("30000.00", "0.7500", 1)],
            "the 0.75 left of bob's ask alone",
        )
        .await;
        let trades = market
            .get_trades(v1::GetTradesRequest { symbol: "BTCUSDT".into(), limit: 10 })
            .await
            .expect("expected GetTrades to answer (with the REST spelling of the symbol)")
            .into_inner();
        assert_eq!(trades.trades.len(), 1, "expected exactly the FIX trade: {trades:?}");
        let trade = &trades.trades[0];
        assert_eq!(
            (trade.price.as_str(), trade.quantity.as_str(), trade.aggressor),
            ("30000.00", "0.2500", v1::Side::Buy as i32),
            "expected the FIX buy's trade: {trade:?}"
        );
        assert_eq!(
            trade.trade_id,
            event["t"].as_u64().expect("trade id on the WebSocket"),
            "expected gRPC and WebSocket to name the same trade id"
        );

        const SUBMIT: &str = "/venue.v1.OrderEntry/SubmitOrder";
        let ioc = v1::NewOrderRequest {
            symbol: "BTC-USDT".into(),
            side: v1::Side::Buy as i32,
            r#type: v1::OrderType::Limit as i32,
            time_in_force: v1::TimeInForce::Ioc as i32,
            price: "30000.00".into(),
            quantity: "0.75".into(),
            client_order_id: "alice-grpc-ioc".into(),
            ..Default::default()
        };
        let taken = orders
            .submit_order(signed(ioc, ALICE, SUBMIT))
            .await
            .expect("expected alice's signed IOC accepted")
            .into_inner();
        assert_eq!(
            (
                taken.status,
                taken.client_order_id.as_str(),
                taken.executed_quantity.as_str(),
                taken.leaves_quantity.as_str()
            ),
            (v1::OrderStatus::Filled as i32, "alice-grpc-ioc", "0.7500", "0.0000"),
            "expected the IOC filled in full: {taken:?}"
        );
        let fills: Vec<_> = taken
            .fills
            .iter()
            .map(|f| (f.price.as_str(), f.quantity.as_str(), f.fee.as_str(), f.maker))
            .collect();
        assert_eq!(
            fills,
            vec![("30000.00", "0.7500", "11.25000000", false)],
            "expected one taker fill at 30000 with the 5 bps taker fee: {taken:?}"
        );

        let bid = v1::NewOrderRequest {
            symbol: "BTC-USDT".into(),
            side: v1::Side::Buy as i32,
            r#type: v1::OrderType::Limit as i32,
            time_in_force: v1::TimeInForce::Gtc as i32,
            price: "29000".into(),
            quantity: "0.1".into(),
            client_order_id: "alice-grpc-bid".into(),
            ..Default::default()
        };
        let resting = orders
            .submit_order(signed(bid, ALICE, SUBMIT))
            .await
            .expect("expected alice's signed GTC bid accepted")
            .into_inner();
        assert_eq!(
            (resting.status, resting.leaves_quantity.as_str(), resting.fills.len()),
            (v1::OrderStatus::New as i32, "0.1000", 0),
            "expected the bid to rest untouched: {resting:?}"
        );
        book_eventually(
            &mut market,
            vec![("29000.00", "0.1000", 1)],
            vec![],
            "alice's bid alone once bob's ask is taken",
        )
        .await;
        let cancel = v1::CancelOrderRequest {
            symbol: "BTC-USDT".into(),
            order: Some(v1::OrderRef { id: Some(v1::order_ref::Id::OrderId(resting.order_id)) }),
        };
        let cancelled = orders
            .cancel_order(signed(cancel, ALICE, "/venue.v1.OrderEntry/CancelOrder"))
            .await
            .expect("expected alice's cancel accepted")
            .into_inner();
        assert_eq!(
            (cancelled.order_id, cancelled.cancelled_quantity.as_str()),
            (resting.order_id, "0.1000"),
            "expected the whole bid cancelled: {cancelled:?}"
        );
        assert!(cancelled.seq > resting.seq, "expected the cancel sequenced after the order: {cancelled:?}");

        let mut status = tonic::Request::new(v1::VenueStatusRequest {});
        status.metadata_mut().insert("authorization", format!("Bearer {TOKEN}").parse().expect("ascii"));
        let status = admin
            .get_status(status)
            .await
            .expect("expected gRPC Admin/GetStatus with the token")
            .into_inner();
        assert!(
            status.durable_seq >= cancelled.seq,
            "expected everything answered to be durable: {status:?} vs cancel seq {}",
            cancelled.seq
        );
        let refused = admin
            .get_status(v1::VenueStatusRequest {})
            .await
            .expect_err("expected gRPC Admin/GetStatus without a token refused");
        assert_eq!(refused.code(), tonic::Code::Unauthenticated, "expected UNAUTHENTICATED without a token");
    });
    drop(runtime);

    // 6. The balances all of that produced: bob sold 1 BTC at 30000 as maker
    // (2 bps: 1.50 + 4.50 USDT), alice bought it as taker (5 bps: 3.75 + 11.25).
    let (status, bob) = rest_signed(venue.public, "GET", "/api/v3/account", BOB, &[]);
    assert_eq!(status, 200, "expected bob's signed account query answered: {bob}");
    assert_eq!(
        rest_balance(&bob, "BTC"),
        ("99.00000000".to_owned(), "0.00000000".to_owned()),
        "expected bob's BTC down by the 1 BTC sold: {bob}"
    );
    assert_eq!(
        rest_balance(&bob, "USDT"),
        ("10029994.00000000".to_owned(), "0.00000000".to_owned()),
        "expected bob's USDT up by 30000 less 6 of maker fees: {bob}"
    );
    let (status, filled) = rest_signed(
        venue.public,
        "GET",
        "/api/v3/order",
        BOB,
        &[("symbol", "BTCUSDT"), ("orderId", &bob_order_id.to_string())],
    );
    assert_eq!(
        (status, &filled["status"], &filled["executedQty"], &filled["cummulativeQuoteQty"]),
        (200, &Value::from("FILLED"), &Value::from("1.0000"), &Value::from("30000.000000")),
        "expected bob's order, filled across FIX and gRPC, to answer FILLED from the order history: {filled}"
    );

    // Admin: alice's account with the token, and refused without it.
    let (status, alice) = venue.admin("GET", "/admin/v1/accounts/1", None);
    assert_eq!(status, 200, "expected GET /admin/v1/accounts/1 with the token to answer 200: {alice}");
    assert_eq!(
        balance(&alice, "BTC"),
        ("101.00000000".to_owned(), "0.00000000".to_owned()),
        "expected alice's BTC up by the 1 BTC bought over FIX and gRPC: {alice}"
    );
    assert_eq!(
        balance(&alice, "USDT"),
        ("9969985.00000000".to_owned(), "0.00000000".to_owned()),
        "expected alice's USDT down by 30000 and 15 of taker fees, nothing held after the cancel: {alice}"
    );
    let (status, refused) = venue.admin_with(None, "GET", "/admin/v1/accounts/1", None);
    assert_eq!(status, 401, "expected 401 for the admin API without a token: {refused}");
    let (status, refused) = venue.admin_with(Some("wrong-token"), "GET", "/admin/v1/accounts/1", None);
    assert_eq!(status, 401, "expected 401 for the admin API with a wrong token: {refused}");

    // Metrics after: 4 orders (REST, FIX, 2 gRPC), 2 trades, 1 cancel.
    let (status, after) = venue.public("GET", "/metrics");
    assert_eq!(status, 200, "expected 200 from /metrics");
    assert_eq!(
        metric(&after, "venue_orders_accepted_total") - accepted0,
        4.0,
        "expected 4 more accepted orders (REST, FIX, gRPC IOC, gRPC GTC)"
    );
    assert_eq!(metric(&after, "venue_trades_total") - trades0, 2.0, "expected 2 more trades (FIX, gRPC)");
    assert_eq!(
        metric(&after, "venue_orders_cancelled_total") - cancelled0,
        1.0,
        "expected 1 more cancel (the gRPC bid)"
    );
    assert!(
        metric(&after, "venue_journal_durable_seq") > metric(&before, "venue_journal_durable_seq"),
        "expected the durable sequence number to advance"
    );
    // Latency per stage: every stage these orders went through was timed.
    for (name, what) in [
        ("venue_fix_inbound_seconds_count", "FIX inbound handling"),
        ("venue_engine_batch_seconds_count", "engine batches"),
        ("venue_journal_commit_seconds_count", "journal commits"),
        ("venue_publish_seconds_count", "market-data publishing"),
        ("venue_request_latency_seconds_count", "end-to-end requests"),
    ] {
        assert!(metric(&after, name) > metric(&before, name), "expected {what} timed ({name} to grow)");
    }

    // SIGTERM: a clean stop.
    let (status, log) = venue.terminate();
    assert!(status.success(), "expected exit 0 after SIGTERM, got {status}:\n{log}");
    assert!(log.contains("stopped cleanly"), "expected a 'stopped cleanly' log line after SIGTERM:\n{log}");
    let complaints: Vec<&str> = log
        .lines()
        .filter(|l| l.contains("\"level\":\"WARN\"") || l.contains("\"level\":\"ERROR\""))
        .collect();
    assert!(
        complaints.is_empty(),
        "expected no warnings or errors in the venue's log, got:\n{}",
        complaints.join("\n")
    );
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "expected the whole test well under 60 s: {:?}",
        started.elapsed()
    );
}
