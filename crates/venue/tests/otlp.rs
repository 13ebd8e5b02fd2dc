//! OpenTelemetry export: with `[otlp]` set, every sampled order (REST, gRPC
//! and FIX alike) becomes one
//! trace (a root `order` span and its gateway, engine and journal children)
//! POSTed as OTLP/HTTP JSON to the collector. The collector here is a plain
//! HTTP listener in the test that keeps what it receives; the checks are
//! those of the OTLP JSON mapping (ids in hex of the right length, times as
//! strings of nanoseconds, parents, the resource's service name).

mod common;

use common::*;
use serde_json::Value;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant};
use venue_proto::v1;

/// Accepts POSTs, answers 200, and hands over each JSON body.
fn collector() -> (String, Receiver<(String, Value)>) {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}/v1/traces", listener.local_addr().expect("addr"));
    let (tx, rx) = channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut stream) = stream else { continue };
            let mut reader = BufReader::new(stream.try_clone().expect("clone"));
            let mut request_line = String::new();
            let _ = reader.read_line(&mut request_line);
            let mut length = 0;
            loop {
                let mut line = String::new();
                if reader.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
            }
            let mut body = vec![0; length];
            let _ = reader.read_exact(&mut body);
            let _ = stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{}");
            let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
            let _ = tx.send((request_line.trim().to_owned(), value));
        }
    });
    (url, rx)
}

#[test]
fn sampled_orders_are_exported_as_otlp_traces() {
    let dir = TempDir::new("otlp");
    let (url, received) = collector();
    let config = demo_config_with(&dir.0, "venue.toml", |t| {
        format!("{t}\n[otlp]\nendpoint = \"{url}\"\nsample_one_in = 1\nservice_name = \"venue-test\"\n")
    });
    let venue = Venue::start(&dir.0.join("data"), Some(&config));

    // A REST order and a gRPC order, each traced (one in one).
    let (status, body) = rest_signed(
        venue.public,
        "POST",
        "/api/v3/order",
        BOB,
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.5"),
            ("price", "30000"),
        ],
    );
    assert_eq!(status, 200, "{body}");
    let grpc = venue.grpc.expect("gRPC listener");
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("runtime");
    let result = runtime.block_on(async {
        let channel = tonic::transport::Endpoint::from_shared(format!("http://{grpc}"))
            .expect("url")
            .connect()
            .await
            .expect("connect");
        let order = v1::NewOrderRequest {
            symbol: "BTC-USDT".into(),
            side: v1::Side::Buy as i32,
            r#type: v1::OrderType::Limit as i32,
            time_in_force: v1::TimeInForce::Ioc as i32,
            price: "30000.00".into(),
            quantity: "0.2000".into(),
            ..Default::default()
        };
        v1::order_entry_client::OrderEntryClient::new(channel)
            .submit_order(signed(order, ALICE, "/venue.v1.OrderEntry/SubmitOrder"))
            .await
            .expect("gRPC order")
            .into_inner()
    });
    assert_eq!(result.status, v1::OrderStatus::Filled as i32, "{result:?}");
    drop(runtime); // closes the client's HTTP/2 connection

    // A FIX order: ALICE buys what is left of bob's sell.
    let mut fix = FixClient::connect(venue.fix.expect("FIX listener"), "ALICE");
    fix.send("A", |e| {
        e.uint(98, 0).uint(108, 30).bool(141, true).str(554, "demo-fix-password");
    });
    assert_eq!(fix.recv().get(35), Some("A"), "logon");
    fix.send("D", |e| {
        e.str(11, "otlp-1")
            .str(55, "BTC-USDT")
            .char(54, b'1')
            .timestamp(60, now_ns())
            .str(38, "0.3")
            .char(40, b'2')
            .str(44, "30000")
            .char(59, b'3');
    });
    let report = fix.recv();
    assert_eq!(report.get(35), Some("8"), "{}", report.text());

    // The three traces arrive (batched as the exporter likes).
    let mut spans: Vec<Value> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while spans.iter().filter(|s| s["name"] == "order").count() < 3 {
        let left = deadline.saturating_duration_since(Instant::now());
        let (line, body) =
            received.recv_timeout(left).expect("the collector receives the traces within 20 s");
        assert_eq!(line, "POST /v1/traces HTTP/1.1", "OTLP/HTTP path");
        let resource = &body["resourceSpans"][0];
        let service = &resource["resource"]["attributes"][0];
        assert_eq!(
            (&service["key"], &service["value"]["stringValue"]),
            (&"service.name".into(), &"venue-test".into())
        );
        spans.extend(resource["scopeSpans"][0]["spans"].as_array().expect("spans").iter().cloned());
    }
    let attr = |span: &Value, key: &str| -> Value {
        span["attributes"]
            .as_array()
            .and_then(|a| a.iter().find(|kv| kv["key"] == key))
            .map(|kv| kv["value"].clone())
            .unwrap_or(Value::Null)
    };
    for root in spans.iter().filter(|s| s["name"] == "order") {
        let trace_id = root["traceId"].as_str().expect("traceId");
        assert!(trace_id.len() == 32 && trace_id.bytes().all(|b| b.is_ascii_hexdigit()), "{root}");
        assert_eq!(root["spanId"].as_str().map(str::len), Some(16), "{root}");
        let start: u64 = root["startTimeUnixNano"].as_str().expect("string").parse().expect("ns");
        let end: u64 = root["endTimeUnixNano"].as_str().expect("string").parse().expect("ns");
        assert!(end > start, "the order took time: {root}");
        let children: Vec<&Value> = spans.iter().filter(|s| s["parentSpanId"] == root["spanId"]).collect();
        let names: Vec<&str> = children.iter().filter_map(|s| s["name"].as_str()).collect();
        assert_eq!(
            names,
            ["gateway.decode", "engine.queue_and_apply", "journal.durable_and_answer"],
            "{root}"
        );
        for child in children {
            assert_eq!(child["traceId"], root["traceId"]);
            let s: u64 = child["startTimeUnixNano"].as_str().expect("string").parse().expect("ns");
            let e: u64 = child["endTimeUnixNano"].as_str().expect("string").parse().expect("ns");
            assert!(start <= s && s <= e && e <= end, "child within the root: {child} in {root}");
        }
    }
    let gateways: Vec<Value> =
        spans.iter().filter(|s| s["name"] == "order").map(|s| attr(s, "venue.gateway")).collect();
    for gateway in ["rest", "grpc", "fix"] {
        assert!(gateways.contains(&serde_json::json!({ "stringValue": gateway })), "{gateway}: {gateways:?}");
    }
    let fix_root = spans
        .iter()
        .find(|s| s["name"] == "order" && attr(s, "venue.gateway")["stringValue"] == "fix")
        .expect("the FIX order's trace");
    assert!(attr(fix_root, "venue.seq")["intValue"].as_str().is_some_and(|s| s != "0"), "{fix_root}");
    assert_eq!(attr(fix_root, "venue.symbol")["stringValue"], "BTC-USDT");
    let grpc_root = spans
        .iter()
        .find(|s| s["name"] == "order" && attr(s, "venue.gateway")["stringValue"] == "grpc")
        .expect("the gRPC order's trace");
    assert_eq!(attr(grpc_root, "venue.outcome")["stringValue"], "filled", "{grpc_root}");
    assert_eq!(attr(grpc_root, "venue.side")["stringValue"], "buy");
    assert!(attr(grpc_root, "venue.seq")["intValue"].as_str().is_some_and(|s| s != "0"), "{grpc_root}");

    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}
