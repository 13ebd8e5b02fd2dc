//! OpenTelemetry traces of orders, exported with OTLP/HTTP (JSON encoding)
//! to a collector: one trace per sampled order, from the gateway receiving
//! it to its durable answer.
//!
//! Nothing here runs on the engine thread. A gateway notes three instants of
//! a sampled order (received, decoded and checked, answered) and
//! the engine's stamp of its command (sequence number and sequencer time,
//! from the answer); [`Tracer::record`] hands that to a bounded queue
//! (dropped and counted when full, never waited on) and the exporter thread
//! turns batches into OTLP JSON and POSTs them. Sampling is one order in
//! `sample_one_in`, by count, so it is deterministic and costs one atomic
//! increment per order.
//!
//! Each trace has a root span `order` (received → answered) with the
//! gateway, symbol, side, account, outcome and sequence number as
//! attributes, and three children: `gateway.decode` (received → decoded:
//! parsing, authentication, validation), `engine.queue_and_apply`
//! (decoded → the sequencer's stamp: the hand-off to the inbound ring, time
//! in it and up to the engine taking it), and `journal.durable_and_answer` (stamp →
//! answered: journal write and fsync, router, reply). The sequencer stamp
//! is wall time anchored once at start-up, so the split between the last two
//! is as good as the two clocks' agreement (the same host: microseconds).
//!
//! The encoding is OTLP's JSON mapping of `ExportTraceServiceRequest`
//! (trace and span ids as hex, times as decimal strings of nanoseconds):
//! written by hand, as it is a few dozen lines, rather than pulling in the
//! OpenTelemetry SDK and its own runtime.

use crate::clock::now_ns;
use serde_json::{Value, json};
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream, ToSocketAddrs};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Traces waiting for the exporter; beyond this they are dropped.
const QUEUE: usize = 4096;
/// Traces per export request at most.
const BATCH: usize = 512;

/// Where and how much to trace.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OtlpSettings {
    /// The collector's OTLP/HTTP traces URL (`http://host:4318/v1/traces`).
    pub endpoint: String,
    /// Trace one order in this many (1: every order).
    pub sample_one_in: u64,
    /// `service.name` of the exported resource.
    pub service_name: String,
}

/// One sampled order's path through the venue, in ns since the epoch.
#[derive(Clone, Debug)]
pub struct OrderTrace {
    /// Which gateway: "grpc", "rest", "fix".
    pub gateway: &'static str,
    /// Instrument symbol.
    pub symbol: String,
    /// "buy" or "sell".
    pub side: &'static str,
    /// The account.
    pub account: u32,
    /// The gateway has the request.
    pub received: u64,
    /// Decoded, authenticated and checked; handed to the router at once, so
    /// the engine's span starts here (it includes the hand-off to the
    /// inbound ring, which no gateway stamps separately).
    pub decoded: u64,
    /// Sequence number the sequencer gave the command (0 if none).
    pub seq: u64,
    /// The sequencer's time stamp of the command (0 if none).
    pub sequenced: u64,
    /// The answer went out.
    pub answered: u64,
    /// "accepted", "filled", "rejected: …", "timeout"…
    pub outcome: String,
    /// Whether the order failed (refused, timed out, the venue stopping):
    /// the span's error status, set by the gateway that knows, not read
    /// back from the outcome's wording.
    pub error: bool,
}

/// Samples orders and queues their traces for export. Cheap to share.
pub struct Tracer {
    sample_one_in: u64,
    orders: AtomicU64,
    queue: std::sync::mpsc::SyncSender<OrderTrace>,
    /// Traces dropped because the queue was full.
    pub dropped: AtomicU64,
    /// Traces the collector accepted.
    pub exported: AtomicU64,
    /// Export requests that failed.
    pub failed: AtomicU64,
}

impl Tracer {
    /// Starts the exporter thread; `None` in the settings gives a tracer
    /// that never samples.
    pub fn start(settings: Option<&OtlpSettings>) -> Result<Arc<Tracer>, String> {
        let (tx, rx) = std::sync::mpsc::sync_channel(QUEUE);
        let tracer = Arc::new(Tracer {
            sample_one_in: settings.map_or(0, |s| s.sample_one_in.max(1)),
            orders: AtomicU64::new(0),
            queue: tx,
            dropped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        });
        if let Some(settings) = settings {
            let target = Target::parse(&settings.endpoint)?;
            let (service, exporter) = (settings.service_name.clone(), tracer.clone());
            std::thread::Builder::new()
                .name("venue-otlp".into())
                .spawn(move || export_loop(&rx, &target, &service, &exporter))
                .map_err(|e| format!("cannot start the OTLP exporter: {e}"))?;
        }
        Ok(tracer)
    }

    /// Whether tracing is on at all: lets a gateway skip even reading the
    /// clock for orders when it is off.
    pub fn enabled(&self) -> bool {
        self.sample_one_in > 0
    }

    /// Whether to trace the next order (one in `sample_one_in`).
    pub fn sample(&self) -> bool {
        self.sample_one_in > 0
            && self.orders.fetch_add(1, Ordering::Relaxed).is_multiple_of(self.sample_one_in)
    }

    /// Queues a finished trace; never waits.
    pub fn record(&self, trace: OrderTrace) {
        if self.queue.try_send(trace).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// A parsed `http://host:port/path`.
struct Target {
    host: String,
    addr: SocketAddr,
    path: String,
}

impl Target {
    fn parse(url: &str) -> Result<Target, String> {
        let rest = url
            .strip_prefix("http://")
            .ok_or_else(|| format!("tracing.otlp_endpoint {url:?}: only http:// collectors are supported"))?;
        let (authority, path) = match rest.find('/') {
            Some(at) => (&rest[..at], &rest[at..]),
            None => (rest, "/"),
        };
        let addr = authority
            .to_socket_addrs()
            .map_err(|e| format!("tracing.otlp_endpoint {url:?}: {e}"))?
            .next()
            .ok_or_else(|| format!("tracing.otlp_endpoint {url:?}: no address"))?;
        Ok(Target { host: authority.to_owned(), addr, path: path.to_owned() })
    }
}

fn export_loop(rx: &std::sync::mpsc::Receiver<OrderTrace>, target: &Target, service: &str, tracer: &Tracer) {
    let mut batch = Vec::with_capacity(BATCH);
    let mut ids = IdSource::new();
    loop {
        match rx.recv_timeout(Duration::from_millis(200)) {
            Ok(trace) => batch.push(trace),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {}
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                if !batch.is_empty() {
                    send(target, &encode(service, &batch, &mut ids), tracer, batch.len());
                }
                return;
            }
        }
        while batch.len() < BATCH
            && let Ok(trace) = rx.try_recv()
        {
            batch.push(trace);
        }
        if !batch.is_empty() {
            send(target, &encode(service, &batch, &mut ids), tracer, batch.len());
            batch.clear();
        }
    }
}

fn send(target: &Target, body: &[u8], tracer: &Tracer, traces: usize) {
    let result = (|| -> std::io::Result<u16> {
        let mut stream = TcpStream::connect_timeout(&target.addr, Duration::from_secs(2))?;
        stream.set_read_timeout(Some(Duration::from_secs(5)))?;
        write!(
            stream,
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
             Connection: close\r\n\r\n",
            target.path,
            target.host,
            body.len()
        )?;
        stream.write_all(body)?;
        let mut head = [0u8; 64];
        let n = stream.read(&mut head)?;
        let status = std::str::from_utf8(&head[..n])
            .ok()
            .and_then(|h| h.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .unwrap_or(0);
        Ok(status)
    })();
    match result {
        Ok(200..=299) => {
            tracer.exported.fetch_add(traces as u64, Ordering::Relaxed);
        }
        Ok(status) => {
            tracer.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(status, "OTLP collector refused a batch of traces");
        }
        Err(e) => {
            tracer.failed.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(error = %e, "OTLP export failed");
        }
    }
}

/// Trace and span ids: unique per process run (a start-up seed mixed with
/// a counter, through SplitMix64), which is what OTLP asks of them.
struct IdSource {
    state: u64,
}

impl IdSource {
    fn new() -> IdSource {
        IdSource { state: now_ns() ^ (u64::from(std::process::id()) << 32) }
    }

    fn next(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        (z ^ (z >> 31)).max(1)
    }
}

fn attr(key: &str, value: Value) -> Value {
    let value = match value {
        Value::Number(n) => json!({ "intValue": n.to_string() }),
        Value::String(s) => json!({ "stringValue": s }),
        other => json!({ "stringValue": other.to_string() }),
    };
    json!({ "key": key, "value": value })
}

/// The `ExportTraceServiceRequest` JSON of a batch.
fn encode(service: &str, traces: &[OrderTrace], ids: &mut IdSource) -> Vec<u8> {
    let mut spans = Vec::with_capacity(traces.len() * 4);
    for t in traces {
        let trace_id = format!("{:016x}{:016x}", ids.next(), ids.next());
        let root = format!("{:016x}", ids.next());
        let error = t.error;
        spans.push(json!({
            "traceId": trace_id,
            "spanId": root,
            "name": "order",
            "kind": 2,
            "startTimeUnixNano": t.received.to_string(),
            "endTimeUnixNano": t.answered.max(t.received).to_string(),
            "attributes": [
                attr("venue.gateway", json!(t.gateway)),
                attr("venue.symbol", json!(t.symbol)),
                attr("venue.side", json!(t.side)),
                attr("venue.account", json!(t.account)),
                attr("venue.seq", json!(t.seq)),
                attr("venue.outcome", json!(t.outcome)),
            ],
            "status": { "code": if error { 2 } else { 1 } },
        }));
        let sequenced = if t.sequenced == 0 {
            t.decoded
        } else {
            t.sequenced.clamp(t.decoded, t.answered.max(t.decoded))
        };
        for (name, start, end) in [
            ("gateway.decode", t.received, t.decoded),
            ("engine.queue_and_apply", t.decoded, sequenced),
            ("journal.durable_and_answer", sequenced, t.answered),
        ] {
            spans.push(json!({
                "traceId": trace_id,
                "spanId": format!("{:016x}", ids.next()),
                "parentSpanId": root,
                "name": name,
                "kind": 1,
                "startTimeUnixNano": start.to_string(),
                "endTimeUnixNano": end.max(start).to_string(),
            }));
        }
    }
    let request = json!({
        "resourceSpans": [{
            "resource": { "attributes": [attr("service.name", json!(service))] },
            "scopeSpans": [{ "scope": { "name": "venue", "version": env!("CARGO_PKG_VERSION") }, "spans": spans }],
        }],
    });
    serde_json::to_vec(&request).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_and_encoding() {
        let target = Target::parse("http://127.0.0.1:4318/v1/traces").expect("valid");
        assert_eq!((target.host.as_str(), target.path.as_str()), ("127.0.0.1:4318", "/v1/traces"));
        assert!(Target::parse("https://collector:4318/v1/traces").is_err());
        let trace = OrderTrace {
            gateway: "grpc",
            symbol: "BTC-USDT".into(),
            side: "buy",
            account: 1,
            received: 1_000,
            decoded: 1_100,
            seq: 7,
            sequenced: 1_300,
            answered: 2_000,
            outcome: "filled".into(),
            error: false,
        };
        let body: Value =
            serde_json::from_slice(&encode("venue", std::slice::from_ref(&trace), &mut IdSource::new()))
                .expect("json");
        let spans = body["resourceSpans"][0]["scopeSpans"][0]["spans"].as_array().expect("spans");
        assert_eq!(spans.len(), 4);
        let root = &spans[0];
        assert_eq!(root["traceId"].as_str().map(str::len), Some(32));
        assert_eq!(root["spanId"].as_str().map(str::len), Some(16));
        assert_eq!(root["startTimeUnixNano"], "1000");
        assert!(
            spans[1..].iter().all(|s| s["parentSpanId"] == root["spanId"] && s["traceId"] == root["traceId"])
        );
        assert_eq!(spans[2]["name"], "engine.queue_and_apply");
        assert_eq!(
            (spans[2]["startTimeUnixNano"].as_str(), spans[2]["endTimeUnixNano"].as_str()),
            (Some("1100"), Some("1300"))
        );
        assert_eq!(root["status"]["code"], 1, "a filled order is not an error");
        // Whatever the outcome's wording (gRPC names its own codes), the
        // gateway's flag decides the error status.
        let failed = OrderTrace { outcome: "DeadlineExceeded: no answer".into(), error: true, ..trace };
        let body: Value =
            serde_json::from_slice(&encode("venue", &[failed], &mut IdSource::new())).expect("json");
        assert_eq!(body["resourceSpans"][0]["scopeSpans"][0]["spans"][0]["status"]["code"], 2);
    }

    #[test]
    fn sampling_is_one_in_n() {
        let tracer = Tracer::start(None).expect("no exporter");
        assert!(!(0..100).any(|_| tracer.sample()), "no settings: never");
        let tracer = Tracer {
            sample_one_in: 10,
            orders: AtomicU64::new(0),
            queue: std::sync::mpsc::sync_channel(1).0,
            dropped: AtomicU64::new(0),
            exported: AtomicU64::new(0),
            failed: AtomicU64::new(0),
        };
        assert_eq!((0..100).filter(|_| tracer.sample()).count(), 10);
    }
}
