//! Prometheus metrics, written by hand in the text exposition format.
//!
//! The venue's counters are few and fixed, so a small registry of atomics
//! is enough and keeps the dependency tree lean (an exporter crate would
//! bring a second HTTP stack). Writers are the router and HTTP threads;
//! the engine thread writes nothing here: its progress is read from the
//! pipeline's own [`Stats`](venue_pipeline::Stats) when `/metrics` is
//! scraped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;
use venue_engine::Output;
use venue_matching::{EventKind, RequestKind};
use venue_pipeline::Stats;

/// Upper bounds of the latency buckets, in nanoseconds: 1 µs to 10 s.
const BOUNDS_NS: [u64; 22] = [
    1_000,
    2_000,
    5_000,
    10_000,
    20_000,
    50_000,
    100_000,
    200_000,
    500_000,
    1_000_000,
    2_000_000,
    5_000_000,
    10_000_000,
    20_000_000,
    50_000_000,
    100_000_000,
    200_000_000,
    500_000_000,
    1_000_000_000,
    2_000_000_000,
    5_000_000_000,
    10_000_000_000,
];

/// A latency histogram with fixed buckets: lock-free to record, and the
/// cumulative form Prometheus expects when rendered.
pub struct Histogram {
    buckets: [AtomicU64; BOUNDS_NS.len() + 1],
    sum_ns: AtomicU64,
}

impl Default for Histogram {
    fn default() -> Histogram {
        Histogram { buckets: std::array::from_fn(|_| AtomicU64::new(0)), sum_ns: AtomicU64::new(0) }
    }
}

impl Histogram {
    /// Adds one observation.
    pub fn record(&self, elapsed: Duration) {
        let ns = u64::try_from(elapsed.as_nanos()).unwrap_or(u64::MAX);
        let at = BOUNDS_NS.partition_point(|&bound| bound < ns);
        self.buckets[at].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(ns, Ordering::Relaxed);
    }

    /// Observations so far.
    pub fn count(&self) -> u64 {
        self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).sum()
    }

    fn render(&self, out: &mut String, name: &str, labels: &str) {
        let mut cumulative = 0;
        let sep = if labels.is_empty() { "" } else { "," };
        for (at, bound) in BOUNDS_NS.iter().enumerate() {
            cumulative += self.buckets[at].load(Ordering::Relaxed);
            let le = *bound as f64 / 1e9;
            let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"{le}\"}} {cumulative}");
        }
        cumulative += self.buckets[BOUNDS_NS.len()].load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{{labels}{sep}le=\"+Inf\"}} {cumulative}");
        let sum = self.sum_ns.load(Ordering::Relaxed) as f64 / 1e9;
        let braces = if labels.is_empty() { String::new() } else { format!("{{{labels}}}") };
        let _ = writeln!(out, "{name}_sum{braces} {sum}");
        let _ = writeln!(out, "{name}_count{braces} {cumulative}");
    }
}

/// Rejection counts keyed by request kind and reason code, with the reason
/// kept for its name.
type RejectionCounts = BTreeMap<(&'static str, u16), (venue_domain::Reject, u64)>;

/// Renders a pipeline histogram (power-of-two µs buckets) as a Prometheus
/// histogram in seconds.
fn log2(out: &mut String, name: &str, help: &str, h: &venue_pipeline::Log2Histogram) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} histogram");
    let mut cumulative = 0;
    for at in 0..venue_pipeline::Log2Histogram::BUCKETS - 1 {
        cumulative += h.bucket(at);
        let le = (1u64 << at) as f64 / 1e6;
        let _ = writeln!(out, "{name}_bucket{{le=\"{le}\"}} {cumulative}");
    }
    cumulative += h.bucket(venue_pipeline::Log2Histogram::BUCKETS - 1);
    let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {cumulative}");
    let _ = writeln!(out, "{name}_sum {}", h.sum_ns() as f64 / 1e9);
    let _ = writeln!(out, "{name}_count {cumulative}");
}

/// Everything `/metrics` reports besides the pipeline's stats.
#[derive(Default)]
pub struct Metrics {
    /// Set once recovery has finished and every listener is bound.
    pub ready: AtomicBool,
    /// Orders accepted by the engine.
    pub orders_accepted: AtomicU64,
    /// Trades.
    pub trades: AtomicU64,
    /// Orders cancelled (by request, mass cancel, STP, IOC remainder...).
    pub orders_cancelled: AtomicU64,
    /// Orders expired (GTD, DAY).
    pub orders_expired: AtomicU64,
    /// Deposits and withdrawal steps.
    pub transfers: AtomicU64,
    /// Submit-to-durable-answer latency of requests awaited through the
    /// router.
    pub request_latency: Histogram,
    /// Market-data thread: building and publishing one batch's updates.
    pub publish_latency: Histogram,
    /// FIX sessions: handling what one socket read brought (framing,
    /// parsing, validation, session logic).
    pub fix_inbound: Histogram,
    /// Lines written to the audit log.
    pub audit_lines: AtomicU64,
    /// Audit log write failures (the venue keeps trading; this alarms).
    pub audit_errors: AtomicU64,
    /// Market-data updates published.
    pub market_updates: AtomicU64,
    /// The post-trade sink's state and the lag health tolerates, when the
    /// sink runs.
    pub posttrade: std::sync::OnceLock<(std::sync::Arc<venue_posttrade::sink::SinkStatus>, u64)>,
    /// HTTP responses by listener and status code.
    http: Mutex<BTreeMap<(&'static str, u16), u64>>,
    /// Rejections by request kind and reason code (ordered by code).
    rejections: Mutex<RejectionCounts>,
}

/// The Rust variant name of a rejection (`InsufficientBalance`): short,
/// stable, and a valid label value. Only called when rendering, so the
/// allocation is off the counting path.
pub fn reject_name(reject: venue_domain::Reject) -> String {
    format!("{reject:?}")
}

fn request_name(kind: RequestKind) -> &'static str {
    match kind {
        RequestKind::New => "new",
        RequestKind::Cancel => "cancel",
        RequestKind::Amend => "amend",
        RequestKind::MassCancel => "mass_cancel",
        RequestKind::SetStatus => "set_status",
    }
}

impl Metrics {
    /// Counts one engine output (called by the router thread for every
    /// output, answered or not).
    pub fn count_output(&self, output: &Output) {
        let counter = match output {
            Output::Book(event) => match event.kind {
                EventKind::Accepted { .. } => &self.orders_accepted,
                EventKind::Trade { .. } => &self.trades,
                EventKind::Cancelled { .. } => &self.orders_cancelled,
                EventKind::Expired { .. } => &self.orders_expired,
                EventKind::Rejected { request, reason, .. } => {
                    return self.count_rejection(request_name(request), reason);
                }
                _ => return,
            },
            Output::Transfer { .. } => &self.transfers,
            Output::CommandRejected { reason } => return self.count_rejection("command", *reason),
            _ => return,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }

    fn count_rejection(&self, request: &'static str, reason: venue_domain::Reject) {
        let mut map = self.rejections.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        map.entry((request, reason.code())).or_insert((reason, 0)).1 += 1;
    }

    /// Counts one HTTP response.
    pub fn count_http(&self, listener: &'static str, status: u16) {
        let mut map = self.http.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        *map.entry((listener, status)).or_default() += 1;
    }

    /// The exposition text: these metrics and the pipeline's stats.
    pub fn render(&self, stats: &Stats, queued: usize, inbound_capacity: usize) -> String {
        let mut out = String::with_capacity(8192);
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let mut one = |name: &str, kind: &str, help: &str, value: String| {
            let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}");
        };
        one(
            "venue_ready",
            "gauge",
            "1 once recovery finished and every listener is bound.",
            u8::from(self.ready.load(Ordering::Relaxed)).to_string(),
        );
        one(
            "venue_commands_applied_total",
            "counter",
            "Sequence number of the last command the engine applied.",
            load(&stats.applied).to_string(),
        );
        one(
            "venue_journal_written_seq",
            "gauge",
            "Last sequence number written to the journal.",
            load(&stats.written).to_string(),
        );
        one(
            "venue_journal_durable_seq",
            "gauge",
            "Last sequence number durable under the configured policy.",
            load(&stats.durable).to_string(),
        );
        one(
            "venue_journal_commits_total",
            "counter",
            "Journal group commits that wrote records (one write, and one fsync under durability=always).",
            load(&stats.commits).to_string(),
        );
        one(
            "venue_journal_failed",
            "gauge",
            "1 if the journal failed: nothing further is acknowledged.",
            u8::from(stats.journal_failed.load(Ordering::Relaxed)).to_string(),
        );
        one("venue_inbound_queued", "gauge", "Commands waiting in the inbound ring.", queued.to_string());
        one("venue_inbound_capacity", "gauge", "Capacity of the inbound ring.", inbound_capacity.to_string());
        one(
            "venue_inbound_backpressure_total",
            "counter",
            "Commands refused because the inbound ring was full.",
            load(&stats.backpressure).to_string(),
        );
        one("venue_snapshots_total", "counter", "Snapshots written.", load(&stats.snapshots).to_string());
        one(
            "venue_snapshot_last_seq",
            "gauge",
            "Sequence number of the last snapshot.",
            load(&stats.last_snapshot_seq).to_string(),
        );
        one(
            "venue_snapshot_pause_seconds",
            "gauge",
            "Engine pause of the last snapshot (state copy).",
            (load(&stats.last_snapshot_pause_ns) as f64 / 1e9).to_string(),
        );
        one(
            "venue_snapshot_pause_max_seconds",
            "gauge",
            "Longest engine pause for a snapshot.",
            (load(&stats.max_snapshot_pause_ns) as f64 / 1e9).to_string(),
        );
        one(
            "venue_ledger_broken",
            "gauge",
            "1 if a snapshot found the ledger invariant broken (stop trading, investigate).",
            u8::from(stats.ledger_broken.load(Ordering::Relaxed)).to_string(),
        );
        one(
            "venue_orders_accepted_total",
            "counter",
            "Orders accepted.",
            load(&self.orders_accepted).to_string(),
        );
        one("venue_trades_total", "counter", "Trades.", load(&self.trades).to_string());
        one(
            "venue_orders_cancelled_total",
            "counter",
            "Orders cancelled.",
            load(&self.orders_cancelled).to_string(),
        );
        one(
            "venue_orders_expired_total",
            "counter",
            "Orders expired.",
            load(&self.orders_expired).to_string(),
        );
        one(
            "venue_transfers_total",
            "counter",
            "Deposit and withdrawal steps.",
            load(&self.transfers).to_string(),
        );
        one(
            "venue_audit_lines_total",
            "counter",
            "Lines written to the audit log.",
            load(&self.audit_lines).to_string(),
        );
        one(
            "venue_audit_errors_total",
            "counter",
            "Audit log write failures.",
            load(&self.audit_errors).to_string(),
        );
        one(
            "venue_market_updates_total",
            "counter",
            "Market-data updates published.",
            load(&self.market_updates).to_string(),
        );

        if let Some((sink, _)) = self.posttrade.get() {
            use venue_posttrade::sink::BreakerState;
            let breaker = match sink.breaker() {
                BreakerState::Closed => 0,
                BreakerState::HalfOpen => 1,
                BreakerState::Open => 2,
            };
            for (name, kind, help, value) in [
                (
                    "venue_posttrade_persisted_seq",
                    "gauge",
                    "Last command in the post-trade database.",
                    sink.persisted_seq(),
                ),
                (
                    "venue_posttrade_lag_commands",
                    "gauge",
                    "Commands durable in the journal but not yet in the database.",
                    sink.lag(),
                ),
                (
                    "venue_posttrade_connected",
                    "gauge",
                    "1 while the sink holds a database connection.",
                    u64::from(sink.connected()),
                ),
                (
                    "venue_posttrade_breaker_state",
                    "gauge",
                    "Circuit breaker: 0 closed, 1 half-open, 2 open.",
                    breaker,
                ),
                (
                    "venue_posttrade_errors_total",
                    "counter",
                    "Database errors seen by the sink.",
                    sink.errors(),
                ),
                (
                    "venue_posttrade_dropped_total",
                    "counter",
                    "Commands the live path dropped while the database lagged (written later from the journal).",
                    sink.dropped(),
                ),
                (
                    "venue_posttrade_caught_up_total",
                    "counter",
                    "Commands written from the journal.",
                    sink.caught_up(),
                ),
            ] {
                one(name, kind, help, value.to_string());
            }
        }
        let _ = writeln!(out, "# HELP venue_rejections_total Requests refused, by request kind and reason.");
        let _ = writeln!(out, "# TYPE venue_rejections_total counter");
        for ((request, _), (reason, count)) in
            self.rejections.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter()
        {
            let _ = writeln!(
                out,
                "venue_rejections_total{{request=\"{request}\",reason=\"{}\"}} {count}",
                reject_name(*reason)
            );
        }
        let _ = writeln!(out, "# HELP venue_http_responses_total HTTP responses, by listener and status.");
        let _ = writeln!(out, "# TYPE venue_http_responses_total counter");
        for ((listener, status), count) in
            self.http.lock().unwrap_or_else(std::sync::PoisonError::into_inner).iter()
        {
            let _ = writeln!(
                out,
                "venue_http_responses_total{{listener=\"{listener}\",status=\"{status}\"}} {count}"
            );
        }
        let _ = writeln!(
            out,
            "# HELP venue_request_latency_seconds Submit to durable answer, per awaited request."
        );
        let _ = writeln!(out, "# TYPE venue_request_latency_seconds histogram");
        self.request_latency.render(&mut out, "venue_request_latency_seconds", "");
        log2(
            &mut out,
            "venue_journal_commit_seconds",
            "Journal group commit: write, plus fsync under durability=always.",
            &stats.commit_latency,
        );
        log2(
            &mut out,
            "venue_ring_wait_seconds",
            "Time a command waited in the inbound ring before the engine took it (sampled).",
            &stats.ring_wait,
        );
        log2(
            &mut out,
            "venue_engine_batch_seconds",
            "Engine time per batch of commands: apply and hand to the journal and output rings.",
            &stats.engine_batch,
        );
        let _ = writeln!(
            out,
            "# HELP venue_publish_seconds Market data: building and publishing the updates of a batch of outputs."
        );
        let _ = writeln!(out, "# TYPE venue_publish_seconds histogram");
        self.publish_latency.render(&mut out, "venue_publish_seconds", "");
        let _ = writeln!(
            out,
            "# HELP venue_fix_inbound_seconds FIX gateway: framing, parsing, validation and session handling of what one read brought."
        );
        let _ = writeln!(out, "# TYPE venue_fix_inbound_seconds histogram");
        self.fix_inbound.render(&mut out, "venue_fix_inbound_seconds", "");
        out
    }
}
