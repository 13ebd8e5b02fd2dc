//! `venue bench fix`: NewOrderSingle → first ExecutionReport round trip over
//! loopback, against a plain TCP echo of the same messages in the same run.
//!
//! The venue runs in this process (`venue_server::serve_with`) on its demo
//! configuration (journal, audit log and all), with one FIX session per
//! client connection. Each client sends at a fixed offered rate, open loop:
//! a message's latency runs from the moment it was *planned* to be sent, so
//! a client that falls behind is charged for it (no coordinated omission).
//! The orders are small IOC buys far below any price, so every order is
//! accepted and cancelled and the book stays empty: what is measured is the
//! gateway, the rings, risk, the journal and back, not matching.
//!
//! The baseline sends the identical bytes to a TCP echo server (one thread
//! per connection) and times the echo: what loopback and the client cost
//! by themselves.

use hdrhistogram::Histogram;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};
use venue_fix::{Dictionary, Encoder, FrameResult, Framer, Parser};
use venue_server::config::{self, FixSessionSettings};

/// What to run.
pub struct FixBenchOptions {
    /// Offered rates, messages per second over all connections.
    pub rates: Vec<u64>,
    /// Client connections (FIX sessions).
    pub sessions: usize,
    /// Measured seconds per rate (after a warm-up of a fifth of it).
    pub seconds: f64,
    /// Journal durability of the venue.
    pub durability: String,
}

/// One measured run.
pub struct RunResult {
    /// "venue" or "echo".
    pub target: &'static str,
    /// Offered rate.
    pub rate: u64,
    /// Messages sent in the measured window.
    pub sent: u64,
    /// Of those, answered.
    pub answered: u64,
    /// Round-trip latency, ns.
    pub latency: Histogram<u64>,
}

const SYMBOL: &str = "BTC-USDT";
const FIRST_ACCOUNT: u32 = 100;

fn now_ns(origin: Instant) -> u64 {
    origin.elapsed().as_nanos() as u64
}

/// The i-th NewOrderSingle of a client: an IOC buy of one lot at 0.01.
fn order(encoder: &mut Encoder, out: &mut Vec<u8>, sender: &str, seq: u64, index: u64, wall_ns: u64) {
    out.clear();
    let cl = index.to_string();
    encoder.start(b"D").header(sender, "VENUE", seq, wall_ns);
    encoder
        .str(11, &cl)
        .str(55, SYMBOL)
        .char(54, b'1')
        .timestamp(60, wall_ns)
        .str(38, "0.0001")
        .char(40, b'2')
        .str(44, "0.01")
        .char(59, b'3');
    let _ = encoder.finish(out);
}

/// Reads frames from `stream` until `done`, calling `each` with the
/// ClOrdID (11) of every message that has one and its MsgType.
fn read_loop(stream: TcpStream, done: &AtomicBool, mut each: impl FnMut(&[u8], u64)) {
    read_frames(stream, done, Duration::from_millis(100), &mut |message| {
        if let Some(message) = message
            && let Ok(cl) = message.fields().get_u64(11)
        {
            each(message.msg_type(), cl);
        }
        Ok(())
    });
}

/// Reads FIX frames from `stream` until `done`, the connection ends or
/// `each` fails: `each` gets every message that parses, then `None` after
/// each read (to send, in one write, what the read's messages caused).
pub(crate) fn read_frames(
    mut stream: TcpStream,
    done: &AtomicBool,
    poll: Duration,
    each: &mut dyn FnMut(Option<&venue_fix::Message<'_>>) -> std::io::Result<()>,
) {
    let framer = Framer::new(64 << 10);
    let mut parser = Parser::new();
    let mut buf = Vec::with_capacity(1 << 16);
    let mut chunk = vec![0u8; 1 << 16];
    let _ = stream.set_read_timeout(Some(poll));
    while !done.load(Ordering::Relaxed) {
        let n = match stream.read(&mut chunk) {
            Ok(0) => return,
            Ok(n) => n,
            Err(e) if matches!(e.kind(), std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut) => {
                continue;
            }
            Err(_) => return,
        };
        buf.extend_from_slice(&chunk[..n]);
        let mut at = 0;
        loop {
            match framer.next_frame(&buf[at..]) {
                FrameResult::Complete { len } => {
                    if let Ok(message) = parser.parse(&buf[at..at + len])
                        && each(Some(&message)).is_err()
                    {
                        return;
                    }
                    at += len;
                }
                FrameResult::Garbled { skip, .. } => at += skip,
                FrameResult::Incomplete => break,
            }
        }
        buf.drain(..at);
        if each(None).is_err() {
            return;
        }
    }
}

/// Logs a client on to the venue and waits for the answer.
fn logon(stream: &mut TcpStream, sender: &str) -> Result<(), String> {
    let mut encoder = Encoder::new(Dictionary::fix44());
    let mut out = Vec::new();
    encoder.start(b"A").header(sender, "VENUE", 1, venue_server::clock::now_ns());
    encoder.int(98, 0).int(108, 30).bool(141, true).str(554, "bench");
    encoder.finish(&mut out).map_err(|e| format!("{e:?}"))?;
    stream.write_all(&out).map_err(|e| e.to_string())?;
    let mut reply = [0u8; 4096];
    let _ = stream.set_read_timeout(Some(Duration::from_secs(10)));
    let n = stream.read(&mut reply).map_err(|e| format!("logon answer: {e}"))?;
    if !reply[..n].windows(5).any(|w| w == b"\x0135=A") {
        return Err(format!("logon refused: {}", String::from_utf8_lossy(&reply[..n]).replace('\x01', "|")));
    }
    Ok(())
}

/// Runs the clients against `addr` at `rate` for warm-up + `seconds`.
pub(crate) fn drive(
    addr: SocketAddr,
    fix: bool,
    sessions: usize,
    rate: u64,
    seconds: f64,
    target: &'static str,
) -> Result<RunResult, String> {
    let origin = Instant::now();
    let per_client = (rate as f64 / sessions as f64).max(1.0);
    let warmup = seconds / 5.0;
    let total = ((warmup + seconds) * per_client) as u64;
    let measured_from = (warmup * per_client) as u64;
    let done = Arc::new(AtomicBool::new(false));
    let mut readers = Vec::new();
    let mut clients = Vec::new();
    for client in 0..sessions {
        let sender = format!("BENCH{client}");
        let mut stream = TcpStream::connect(addr).map_err(|e| format!("connect {addr}: {e}"))?;
        let _ = stream.set_nodelay(true);
        if fix {
            logon(&mut stream, &sender)?;
        }
        let planned: Arc<Vec<AtomicU64>> = Arc::new((0..total).map(|_| AtomicU64::new(0)).collect());
        let (reader_stream, reader_planned, reader_done) =
            (stream.try_clone().map_err(|e| e.to_string())?, planned.clone(), done.clone());
        readers.push(std::thread::spawn(move || {
            let mut histogram = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
            let mut answered = 0u64;
            read_loop(reader_stream, &reader_done, |msg_type, cl| {
                let wanted = if fix { msg_type == b"8" } else { msg_type == b"D" };
                if !wanted || cl >= reader_planned.len() as u64 {
                    return;
                }
                let sent = reader_planned[cl as usize].swap(0, Ordering::Relaxed);
                if sent != 0 && cl >= measured_from {
                    let _ = histogram.record(now_ns(origin).saturating_sub(sent).max(1));
                    answered += 1;
                }
            });
            (histogram, answered)
        }));
        clients.push((sender, stream, planned));
    }
    // One writer for every connection: message k goes to connection
    // k % sessions at its planned time. It sleeps between due times rather
    // than spinning, so the clients leave the venue its cores (the sleep's
    // granularity is charged to the venue and the echo alike).
    let writer = std::thread::spawn(move || {
        let mut encoder = Encoder::new(Dictionary::fix44());
        let mut out = Vec::with_capacity(512);
        let interval_ns = 1e9 / (per_client * sessions as f64);
        let start = now_ns(origin) + 1_000_000;
        let mut sent = 0u64;
        let mut broken = vec![false; clients.len()];
        let mut batches: Vec<Vec<u8>> = vec![Vec::with_capacity(64 << 10); clients.len()];
        let count = total * sessions as u64;
        let mut k = 0u64;
        while k < count {
            let due = start + (k as f64 * interval_ns) as u64;
            let now = now_ns(origin);
            if due > now {
                std::thread::sleep(Duration::from_nanos(due - now));
                continue;
            }
            // Everything due by now, one write per connection (as a client
            // that pipelines would).
            while k < count && start + (k as f64 * interval_ns) as u64 <= now {
                let due = start + (k as f64 * interval_ns) as u64;
                let (client, index) = ((k % sessions as u64) as usize, k / sessions as u64);
                k += 1;
                if broken[client] {
                    continue;
                }
                let (sender, _, planned) = &clients[client];
                planned[index as usize].store(due.max(1), Ordering::Relaxed);
                order(&mut encoder, &mut out, sender, index + 2, index, venue_server::clock::now_ns());
                batches[client].extend_from_slice(&out);
                if index >= measured_from {
                    sent += 1;
                }
            }
            for (client, batch) in batches.iter_mut().enumerate() {
                if !batch.is_empty() && !broken[client] && clients[client].1.write_all(batch).is_err() {
                    broken[client] = true;
                }
                batch.clear();
            }
        }
        sent
    });
    let sent = writer.join().map_err(|_| "writer panicked")?;
    // Let the last answers arrive.
    std::thread::sleep(Duration::from_millis(500));
    done.store(true, Ordering::Relaxed);
    let mut latency = Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("bounds");
    let mut answered = 0;
    for reader in readers {
        let (histogram, count) = reader.join().map_err(|_| "reader panicked")?;
        latency.add(&histogram).map_err(|e| format!("{e:?}"))?;
        answered += count;
    }
    Ok(RunResult { target, rate, sent, answered, latency })
}

/// A TCP echo server: one thread per connection, bytes back as they come.
fn echo_server() -> Result<(SocketAddr, Arc<AtomicBool>), String> {
    let listener = TcpListener::bind("127.0.0.1:0").map_err(|e| e.to_string())?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    let stop = Arc::new(AtomicBool::new(false));
    let stopping = stop.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            if stopping.load(Ordering::Relaxed) {
                return;
            }
            let Ok(mut stream) = stream else { continue };
            let _ = stream.set_nodelay(true);
            std::thread::spawn(move || {
                let mut buf = vec![0u8; 1 << 16];
                while let Ok(n) = stream.read(&mut buf) {
                    if n == 0 || stream.write_all(&buf[..n]).is_err() {
                        return;
                    }
                }
            });
        }
    });
    Ok((addr, stop))
}

/// Runs the whole benchmark: for each rate, the echo baseline then the
/// venue.
pub fn run(options: &FixBenchOptions, progress: &mut dyn FnMut(&str)) -> Result<Vec<RunResult>, String> {
    let venue = InProcess::start(options, |_| {})?;
    let fix_addr = venue.endpoints.fix.ok_or("no FIX listener")?;
    let (echo_addr, echo_stop) = echo_server()?;
    let mut results = Vec::new();
    for &rate in &options.rates {
        progress(&format!("echo baseline at {rate} msg/s"));
        results.push(drive(echo_addr, false, options.sessions, rate, options.seconds, "echo")?);
        progress(&format!("venue at {rate} msg/s"));
        results.push(drive(fix_addr, true, options.sessions, rate, options.seconds, "venue")?);
    }
    echo_stop.store(true, Ordering::Relaxed);
    let _ = TcpStream::connect(echo_addr);
    venue.stop()?;
    Ok(results)
}

/// The venue of a benchmark, running in this process on its demo
/// configuration with one FIX session (and one API key) per client
/// account.
pub(crate) struct InProcess {
    /// Where it listens.
    pub endpoints: venue_server::serve::Endpoints,
    stop: tokio::sync::watch::Sender<bool>,
    server: std::thread::JoinHandle<Result<(), String>>,
    data: std::path::PathBuf,
}

impl InProcess {
    /// Starts it; `edit` may change the configuration text first.
    pub(crate) fn start(
        options: &FixBenchOptions,
        edit: impl FnOnce(&mut String),
    ) -> Result<InProcess, String> {
        let data = std::env::temp_dir().join(format!("venue-bench-fix-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&data);
        let mut text = config::DEMO.to_owned();
        text = text.replacen("durability = \"always\"", &format!("durability = {:?}", options.durability), 1);
        text = text.replacen("level = \"info\"", "level = \"warn\"", 1);
        for client in 0..options.sessions {
            let account = FIRST_ACCOUNT + client as u32;
            text.push_str(&format!(
            "\n[[accounts]]\nid = {account}\nname = \"bench{client}\"\ntier = 0\ndeposits = {{ USDT = \"1000000000\" }}\n"
        ));
        }
        edit(&mut text);
        let mut settings = config::parse(&text).map_err(|e| e.to_string())?;
        settings.pipeline.data_dir = data.clone();
        if let Some(audit) = &mut settings.audit {
            audit.path = data.join("audit.jsonl");
        }
        settings.http_listen = "127.0.0.1:0".parse().expect("address");
        settings.admin_listen = "127.0.0.1:0".parse().expect("address");
        if let Some(grpc) = &mut settings.grpc {
            grpc.listen = "127.0.0.1:0".parse().expect("address");
        }
        let fix = settings.fix.as_mut().ok_or("the demo configuration has FIX")?;
        fix.listen = "127.0.0.1:0".parse().expect("address");
        for client in 0..options.sessions {
            fix.sessions.push(FixSessionSettings {
                sender_comp_id: "VENUE".into(),
                target_comp_id: format!("BENCH{client}"),
                username: None,
                password: None,
                account: Some(venue_domain::AccountId(FIRST_ACCOUNT + client as u32)),
                heartbeat_secs: (1, 300),
                reset_on_logon: true,
                cancel_on_disconnect: true,
                echo: false,
            });
        }
        let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let server = std::thread::spawn(move || {
            venue_server::serve_with(
                settings,
                None,
                venue_server::Control { stop: Some(stop_rx), ready: Some(ready_tx), quiet: true },
            )
        });
        let endpoints =
            ready_rx.recv_timeout(Duration::from_secs(60)).map_err(|_| "the venue did not start")?;
        Ok(InProcess { endpoints, stop: stop_tx, server, data })
    }

    /// Stops it and removes its data.
    pub(crate) fn stop(self) -> Result<(), String> {
        let _ = self.stop.send(true);
        self.server.join().map_err(|_| "the venue panicked")??;
        let _ = std::fs::remove_dir_all(&self.data);
        Ok(())
    }
}

fn us(ns: u64) -> String {
    format!("{:.1}", ns as f64 / 1000.0)
}

/// The results as a Markdown table with the p99 ratio to the echo.
pub fn to_markdown(results: &[RunResult], options: &FixBenchOptions) -> String {
    let head = format!(
        "{} client connections, durability `{}`, latency in µs from the planned send time to the first \
         ExecutionReport (venue) or the echoed message (echo).\n\n| offered msg/s | target | sent | answered | p50 | \
         p99 | p99.9 | max | p99 / echo p99 |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
        options.sessions, options.durability
    );
    table(head, results, 2)
}

/// `head` then one row per run, each with its p99 over the p99 of the
/// first run of its group of `group` runs (the same-run baseline).
pub(crate) fn table(mut out: String, results: &[RunResult], group: usize) -> String {
    for runs in results.chunks(group) {
        let baseline_p99 = runs[0].latency.value_at_quantile(0.99).max(1);
        for r in runs {
            let p99 = r.latency.value_at_quantile(0.99);
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} | {} | {:.2}× |\n",
                r.rate,
                r.target,
                r.sent,
                r.answered,
                us(r.latency.value_at_quantile(0.5)),
                us(p99),
                us(r.latency.value_at_quantile(0.999)),
                us(r.latency.max()),
                p99 as f64 / baseline_p99 as f64
            ));
        }
    }
    out
}

/// One JSON object with every figure.
pub fn to_json(results: &[RunResult], options: &FixBenchOptions) -> serde_json::Value {
    serde_json::json!({
        "sessions": options.sessions,
        "durability": options.durability,
        "seconds": options.seconds,
        "runs": results.iter().map(|r| serde_json::json!({
            "target": r.target,
            "rate": r.rate,
            "sent": r.sent,
            "answered": r.answered,
            "latency_ns": {
                "p50": r.latency.value_at_quantile(0.5),
                "p99": r.latency.value_at_quantile(0.99),
                "p99_9": r.latency.value_at_quantile(0.999),
                "max": r.latency.max(),
            },
        })).collect::<Vec<_>>(),
    })
}

/// The target: venue p99 at most twice the echo's at 50K msg/s.
pub fn target(results: &[RunResult]) -> Option<(f64, bool)> {
    let pair = results.chunks(2).find(|p| p[0].rate == 50_000)?;
    let ratio = pair[1].latency.value_at_quantile(0.99) as f64
        / pair[0].latency.value_at_quantile(0.99).max(1) as f64;
    Some((ratio, ratio <= 2.0))
}
