//! `venue bench grpc`: order round trip over gRPC, unary calls and the
//! bidirectional order session, beside the FIX round trip measured in the
//! same run against the same in-process venue.
//!
//! Every client is one account with its own HTTP/2 connection (and its own
//! FIX session for the FIX figure), sending the same small IOC buys far
//! below any price (accepted, then cancelled: the gateway, rings, risk and
//! journal are measured, not matching), open loop at the offered rate:
//! latency runs from the moment a request was planned, so a client that
//! falls behind is charged for it. Unary calls are each signed (HMAC over
//! the message, as the contract requires) and run concurrently; the session
//! is signed once and pipelines its requests.

use crate::fix_bench::{FixBenchOptions, InProcess, RunResult};
use hdrhistogram::Histogram;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tonic::transport::{Channel, Endpoint};
use v1::order_entry_client::OrderEntryClient;
use venue_proto::v1;

const FIRST_ACCOUNT: u32 = 100;

fn key(client: usize) -> (String, String) {
    (format!("benchkey{client:08}0000000000"), format!("benchsecret{client:08}"))
}

fn order() -> v1::NewOrderRequest {
    v1::NewOrderRequest {
        symbol: "BTC-USDT".into(),
        side: v1::Side::Buy as i32,
        r#type: v1::OrderType::Limit as i32,
        time_in_force: v1::TimeInForce::Ioc as i32,
        price: "0.01".into(),
        quantity: "0.0001".into(),
        ..Default::default()
    }
}

/// The three metadata entries of a signed call.
fn sign<T>(request: &mut tonic::Request<T>, client: usize, method: &str, body: &[u8]) {
    let (key, secret) = key(client);
    let ts = venue_server::clock::now_ms().to_string();
    let signature = venue_server::grpc::auth::signature(secret.as_bytes(), &ts, method, body);
    let metadata = request.metadata_mut();
    metadata.insert("x-api-key", key.parse().expect("ascii"));
    metadata.insert("x-timestamp", ts.parse().expect("ascii"));
    metadata.insert("x-signature", signature.parse().expect("ascii"));
}

fn histogram() -> Histogram<u64> {
    Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds")
}

async fn channels(addr: SocketAddr, sessions: usize) -> Result<Vec<Channel>, String> {
    let mut out = Vec::new();
    for _ in 0..sessions {
        let endpoint =
            Endpoint::from_shared(format!("http://{addr}")).map_err(|e| e.to_string())?.tcp_nodelay(true);
        out.push(endpoint.connect().await.map_err(|e| format!("connect {addr}: {e}"))?);
    }
    Ok(out)
}

/// Sleeps this (OS) thread until `origin + at_ns`. The schedule runs on a
/// plain thread rather than tokio's timer, whose millisecond granularity
/// would be charged to the venue as latency.
fn sleep_until(origin: Instant, at_ns: u64) {
    let now = origin.elapsed().as_nanos() as u64;
    if at_ns > now {
        std::thread::sleep(Duration::from_nanos(at_ns - now));
    }
}

/// Unary SubmitOrder calls at `rate`, open loop: each call is spawned on the
/// client runtime at its planned time.
fn unary(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    sessions: usize,
    rate: u64,
    seconds: f64,
) -> Result<RunResult, String> {
    let channels = runtime.block_on(channels(addr, sessions))?;
    let body = prost::Message::encode_to_vec(&order());
    let warmup = seconds / 5.0;
    let count = ((warmup + seconds) * rate as f64) as u64;
    let measured_from = (warmup * rate as f64) as u64;
    let latency = Arc::new(Mutex::new(histogram()));
    let (answered, finished) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let interval_ns = 1e9 / rate as f64;
    let origin = Instant::now();
    let start_ns = 1_000_000u64;
    let mut sent = 0;
    for k in 0..count {
        let due_ns = start_ns + (k as f64 * interval_ns) as u64;
        sleep_until(origin, due_ns);
        let client = (k % sessions as u64) as usize;
        let mut grpc = OrderEntryClient::new(channels[client].clone());
        let (latency, answered, finished, body) =
            (latency.clone(), answered.clone(), finished.clone(), body.clone());
        let measured = k >= measured_from;
        sent += u64::from(measured);
        runtime.spawn(async move {
            let mut request = tonic::Request::new(order());
            sign(&mut request, client, "/venue.v1.OrderEntry/SubmitOrder", &body);
            let ok = grpc.submit_order(request).await.is_ok();
            if ok && measured {
                let elapsed = (origin.elapsed().as_nanos() as u64).saturating_sub(due_ns);
                let _ = latency.lock().expect("histogram").record(elapsed.max(1));
                answered.fetch_add(1, Ordering::Relaxed);
            }
            finished.fetch_add(1, Ordering::Relaxed);
        });
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while finished.load(Ordering::Relaxed) < count && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
    }
    let latency = latency.lock().expect("histogram").clone();
    Ok(RunResult { target: "grpc unary", rate, sent, answered: answered.load(Ordering::Relaxed), latency })
}

/// One OrderSession per client, requests pipelined at `rate` overall.
fn streaming(
    runtime: &tokio::runtime::Runtime,
    addr: SocketAddr,
    sessions: usize,
    rate: u64,
    seconds: f64,
) -> Result<RunResult, String> {
    let channels = runtime.block_on(channels(addr, sessions))?;
    let warmup = seconds / 5.0;
    let count = ((warmup + seconds) * rate as f64) as u64;
    let measured_from = (warmup * rate as f64) as u64;
    let origin = Instant::now();
    let planned: Arc<Vec<AtomicU64>> = Arc::new((0..count).map(|_| AtomicU64::new(0)).collect());
    let mut senders = Vec::new();
    let mut readers = Vec::new();
    for (client, channel) in channels.into_iter().enumerate() {
        let (tx, rx) = tokio::sync::mpsc::channel::<v1::SessionRequest>(1 << 16);
        let mut request = tonic::Request::new(tokio_stream::wrappers::ReceiverStream::new(rx));
        sign(&mut request, client, "/venue.v1.OrderEntry/OrderSession", &[]);
        let mut answers = runtime
            .block_on(OrderEntryClient::new(channel).order_session(request))
            .map_err(|e| format!("order session: {e}"))?
            .into_inner();
        let planned = planned.clone();
        readers.push(runtime.spawn(async move {
            let mut latency = histogram();
            let mut answered = 0u64;
            while let Ok(Some(answer)) = answers.message().await {
                let k = answer.request_id;
                let ok = matches!(answer.response, Some(v1::session_response::Response::Order(_)));
                let Some(slot) = planned.get(k as usize) else { continue };
                let at = slot.swap(0, Ordering::Relaxed);
                if ok && at != 0 && k >= measured_from {
                    let now = origin.elapsed().as_nanos() as u64;
                    let _ = latency.record(now.saturating_sub(at).max(1));
                    answered += 1;
                }
            }
            (latency, answered)
        }));
        senders.push(tx);
    }
    let interval_ns = 1e9 / rate as f64;
    let start_ns = origin.elapsed().as_nanos() as u64 + 1_000_000;
    let mut sent = 0;
    for k in 0..count {
        let due = start_ns + (k as f64 * interval_ns) as u64;
        sleep_until(origin, due);
        planned[k as usize].store(due.max(1), Ordering::Relaxed);
        let request = v1::SessionRequest {
            request_id: k,
            request: Some(v1::session_request::Request::NewOrder(order())),
        };
        if senders[(k % sessions as u64) as usize].blocking_send(request).is_err() {
            return Err("an order session ended early".into());
        }
        sent += u64::from(k >= measured_from);
    }
    // Closing the request streams ends the sessions once answered.
    drop(senders);
    let mut latency = histogram();
    let mut answered = 0;
    for reader in readers {
        if let Ok(Ok((h, n))) =
            runtime.block_on(async { tokio::time::timeout(Duration::from_secs(30), reader).await })
        {
            latency.add(&h).map_err(|e| format!("{e:?}"))?;
            answered += n;
        }
    }
    Ok(RunResult { target: "grpc stream", rate, sent, answered, latency })
}

/// Runs, for each rate: FIX, gRPC unary, gRPC streaming.
pub fn run(options: &FixBenchOptions, progress: &mut dyn FnMut(&str)) -> Result<Vec<RunResult>, String> {
    let sessions = options.sessions;
    let venue = InProcess::start(options, |text| {
        *text = text.replacen("orders_per_10s = 100", "orders_per_10s = 1000000000", 1).replacen(
            "request_weight_per_minute = 6000",
            "request_weight_per_minute = 1000000000",
            1,
        );
        for client in 0..sessions {
            let (key, secret) = key(client);
            let account = FIRST_ACCOUNT + client as u32;
            text.push_str(&format!(
                "\n[[api_keys]]\nkey = \"{key}\"\nsecret = {{ value = \"{secret}\" }}\naccount = {account}\n"
            ));
        }
    })?;
    let fix = venue.endpoints.fix.ok_or("no FIX listener")?;
    let grpc = venue.endpoints.grpc.ok_or("no gRPC listener")?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    let mut results = Vec::new();
    for &rate in &options.rates {
        progress(&format!("FIX at {rate} orders/s"));
        results.push(crate::fix_bench::drive(fix, true, sessions, rate, options.seconds, "fix")?);
        progress(&format!("gRPC unary at {rate} orders/s"));
        results.push(unary(&runtime, grpc, sessions, rate, options.seconds)?);
        progress(&format!("gRPC streaming at {rate} orders/s"));
        results.push(streaming(&runtime, grpc, sessions, rate, options.seconds)?);
    }
    drop(runtime);
    venue.stop()?;
    Ok(results)
}

/// The results as a Markdown table with each p99 over FIX's at that rate.
pub fn to_markdown(results: &[RunResult], options: &FixBenchOptions) -> String {
    let head = format!(
        "{} clients (accounts), each with its own connection; durability `{}`; latency in µs from the planned \
         send time to the order's first answer (ExecutionReport, OrderResult or SessionResponse).\n\n\
         | offered orders/s | transport | sent | answered | p50 | p99 | p99.9 | max | p99 / FIX p99 |\n\
         |---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        options.sessions, options.durability
    );
    crate::fix_bench::table(head, results, 3)
}
