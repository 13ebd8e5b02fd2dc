//! `venue bench engine`: the exchange-core mix through the whole pipeline
//! (inbound ring → sequencer → risk → book → ledger → outbound ring, with
//! the journal thread writing beside it), against a bare ring pass of the
//! same commands in the same run.
//!
//! Throughput is closed-loop (submit as fast as the rings accept, drain
//! outputs on the same thread). Latency is open-loop: command `i` has a
//! planned send time `i / rate`; its latency is from that planned time to
//! the first output of its command reaching the consumer, so a stall delays
//! every command planned behind it and shows in the tail (no coordinated
//! omission).

use crate::measure::Percentiles;
use crate::workload::{BenchTif, Op, Workload, generate};
use hdrhistogram::Histogram;
use serde_json::{Value, json};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use venue_domain::{AccountId, InstrumentId, InstrumentSpec, OrderId, Price, Qty, Side, TimeInForce};
use venue_engine::{AccountLimits, AssetId, AssetSpec, Command, EngineConfig, FeeTier};
use venue_matching::{AmendOrder, BookConfig, CancelOrder, NewOrder, OrderRef};
use venue_pipeline::{Durability, Pipeline, PipelineConfig};

/// How much to run.
#[derive(Clone, Debug)]
pub struct EngineOptions {
    /// Seed of the generated streams.
    pub seed: u64,
    /// Measured commands per throughput run.
    pub ops: usize,
    /// Symbol counts to run (the issue asks for 1 and 100).
    pub symbols: Vec<usize>,
    /// Accounts trading.
    pub accounts: u32,
    /// Offered rate of the latency run, commands per second.
    pub rate: u64,
    /// Commands in the latency run.
    pub latency_ops: usize,
    /// Commands in the journal that replay and restart are timed on.
    pub replay_commands: usize,
    /// Where journals are written (a fresh directory per run inside it).
    pub scratch: PathBuf,
    /// The CPU the engine (and the bare ring's passing thread) gets to
    /// itself, the driver and the journal being kept off it; None runs
    /// everything unpinned. The no-fsync throughput and the latency are
    /// measured unpinned as well either way, to show what pinning buys.
    pub engine_core: Option<usize>,
}

impl EngineOptions {
    /// The configuration whose results BENCHMARKS.md records.
    pub fn full() -> EngineOptions {
        EngineOptions {
            seed: 42,
            ops: 2_000_000,
            symbols: vec![1, 100],
            accounts: 1000,
            rate: 1_000_000,
            latency_ops: 2_000_000,
            replay_commands: 10_000_000,
            scratch: std::env::temp_dir().join(format!("venue-bench-engine-{}", std::process::id())),
            engine_core: venue_pipeline::affinity::spare_core(),
        }
    }

    /// A seconds-long smoke run.
    pub fn quick() -> EngineOptions {
        EngineOptions { ops: 40_000, latency_ops: 40_000, replay_commands: 100_000, ..EngineOptions::full() }
    }
}

/// A configuration plus the commands that set it up and the measured stream.
#[derive(Clone)]
pub struct Workbench {
    /// Engine configuration: one quote asset, one base asset per symbol.
    pub config: EngineConfig,
    /// Accounts and deposits (not measured).
    pub setup: Vec<Command>,
    /// The measured commands.
    pub stream: Vec<Command>,
}

/// Commands per symbol run before measuring: they fill each book to its
/// working size (about 1,000 resting orders) and fault in its memory.
pub const WARMUP_PER_SYMBOL: usize = 5_000;

/// Builds `symbols` instruments, `accounts` funded accounts and `ops`
/// measured commands of the exchange-core mix, spread round-robin over the
/// symbols, after [`WARMUP_PER_SYMBOL`] unmeasured ones per symbol (part of
/// `setup`). Order ids in the generated streams are mapped to the sequence
/// numbers the engine will give them.
pub fn workbench(symbols: usize, accounts: u32, ops: usize, seed: u64) -> Workbench {
    let warmup = WARMUP_PER_SYMBOL * symbols;
    let ops = ops + warmup;
    let mut assets = vec![AssetSpec { name: "USD".into(), decimals: 2 }];
    let mut instruments = Vec::new();
    for s in 0..symbols {
        assets.push(AssetSpec { name: format!("B{s}"), decimals: 0 });
        let mut spec = InstrumentSpec::spot(s as u32, &format!("B{s}-USD"), 2, 0);
        spec.max_price = Price(1_000_000);
        spec.max_qty = Qty(1_000_000);
        instruments.push(spec);
    }
    let config = EngineConfig {
        assets,
        instruments,
        fee_tiers: vec![FeeTier { maker_bps: 2, taker_bps: 5 }],
        fee_account: AccountId(0),
        max_accounts: accounts + 1,
        // 200,000 live orders across the venue, at least 10,000 per book;
        // id tables sized for the about 1,000 orders a book of this stream
        // holds (1,500 with room to spare), as an operator sizes them for
        // the expected peak: with 100 books, the default's tables alone
        // would spread over 12 MiB.
        book: BookConfig {
            max_orders: (200_000 / symbols as u32).max(10_000),
            presized_orders: 1_500,
            prefault: true,
        },
    };
    let mut setup = Vec::new();
    let mut transfer = 0;
    for a in 1..=accounts {
        setup.push(Command::SetAccount { account: AccountId(a), tier: 0, limits: AccountLimits::default() });
        for asset in 0..=symbols {
            transfer += 1;
            let amount = if asset == 0 { 1_000_000_000_000_000 / i64::from(accounts) } else { 1_000_000_000 };
            setup.push(Command::Deposit {
                transfer_id: transfer,
                account: AccountId(a),
                asset: AssetId(asset as u32),
                amount,
            });
        }
    }
    let per_symbol = ops.div_ceil(symbols);
    let streams: Vec<Vec<Op>> =
        (0..symbols).map(|s| generate(Workload::ExchangeCore, seed + s as u64, 0, per_symbol).ops).collect();
    let mut seq_of: Vec<Vec<u64>> = streams.iter().map(|ops| vec![0; ops.len() + 2]).collect();
    let ops_wanted = ops;
    let mut stream = Vec::with_capacity(ops);
    let mut seq = setup.len() as u64;
    'outer: for i in 0..per_symbol {
        for (s, ops) in streams.iter().enumerate() {
            if stream.len() == ops_wanted {
                break 'outer;
            }
            let Some(op) = ops.get(i) else { continue };
            seq += 1;
            let instrument = InstrumentId(s as u32);
            let map = &mut seq_of[s];
            let live =
                |id: u64, map: &Vec<u64>| OrderRef::Id(OrderId(map.get(id as usize).copied().unwrap_or(0)));
            let command = match *op {
                Op::Limit { id, account, side, price, qty, tif } => {
                    map[id as usize] = seq;
                    let mut order = NewOrder::limit(0, account + 1, side, price, qty);
                    order.instrument = instrument;
                    if tif == BenchTif::Ioc {
                        order.tif = TimeInForce::Ioc;
                    }
                    Command::NewOrder(order)
                }
                Op::Market { id, account, side, qty } => {
                    map[id as usize] = seq;
                    let mut order = NewOrder::market(0, account + 1, side, qty);
                    order.instrument = instrument;
                    if side == Side::Buy {
                        order.quote_budget = 1_000_000 * qty;
                    }
                    Command::NewOrder(order)
                }
                Op::Cancel { id } => {
                    Command::Cancel(CancelOrder { instrument, target: live(id, map), account: None })
                }
                Op::Move { id, new_price } => Command::Amend(AmendOrder {
                    instrument,
                    target: live(id, map),
                    account: None,
                    new_price: Price(new_price),
                    new_qty: None,
                    new_client_order_id: venue_domain::ClientOrderId::NONE,
                }),
            };
            stream.push(command);
        }
    }
    setup.extend(stream.drain(..warmup.min(stream.len())));
    Workbench { config, setup, stream }
}

/// One throughput measurement.
#[derive(Clone, Debug)]
pub struct Throughput {
    /// Commands per second.
    pub ops_per_sec: f64,
    /// Journal commits during the run (group commit size = ops / commits).
    pub commits: u64,
}

/// Everything `venue bench engine` measures for one symbol count.
#[derive(Clone, Debug)]
pub struct SymbolsResult {
    /// Instruments.
    pub symbols: usize,
    /// Bare ring pass of the same commands.
    pub ring: Throughput,
    /// Pipeline, journal without fsync.
    pub no_fsync: Throughput,
    /// The same, nothing pinned.
    pub no_fsync_unpinned: Throughput,
    /// Pipeline, fsync every group commit, outputs released when durable.
    pub fsync: Throughput,
    /// Pipeline, fsync at most every millisecond, outputs released when
    /// durable.
    pub fsync_interval: Throughput,
    /// Open-loop latency of the bare ring at the offered rate, ns.
    pub ring_latency: Percentiles,
    /// Open-loop engine latency (no fsync, outputs as applied), ns.
    pub engine_latency: Percentiles,
    /// The same, nothing pinned.
    pub engine_latency_unpinned: Percentiles,
    /// Snapshot pause on the engine thread after the run, ns: the first
    /// snapshot, whose copy lands in memory the process has never touched
    /// (every page a fault).
    pub snapshot_pause_ns: u64,
    /// The third snapshot's pause, ns: what every later one costs, once the
    /// allocator reuses the memory of the copies before it.
    pub snapshot_pause_again_ns: u64,
}

/// Replay and restart figures.
#[derive(Clone, Debug)]
pub struct ReplayResult {
    /// Commands in the journal.
    pub commands: u64,
    /// Journal size in bytes.
    pub journal_bytes: u64,
    /// Replay speed during recovery, commands per second.
    pub replay_per_sec: f64,
    /// Whole restart (open, truncate check, replay, ledger check), seconds.
    pub restart_secs: f64,
}

/// All results.
#[derive(Clone, Debug)]
pub struct EngineReport {
    /// Per symbol count.
    pub runs: Vec<SymbolsResult>,
    /// Replay.
    pub replay: ReplayResult,
    /// Offered rate of the latency runs.
    pub rate: u64,
    /// Commands per throughput run.
    pub ops: usize,
    /// The CPU the engine had to itself, if any.
    pub engine_core: Option<usize>,
}

fn fresh_dir(scratch: &Path, name: &str) -> PathBuf {
    let dir = scratch.join(name);
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn pipeline_config(dir: &Path, durability: Durability, engine_core: Option<usize>) -> PipelineConfig {
    let mut config = PipelineConfig::new(dir);
    config.durability = durability;
    config.engine_core = engine_core;
    config
}

/// Runs `f` on a thread of its own, kept off `core` when there is one (the
/// benchmark's driver stands in for the gateways, which a venue giving its
/// engine a core keeps off it).
fn off_core<R: Send>(core: Option<usize>, f: impl FnOnce() -> R + Send) -> R {
    std::thread::scope(|scope| {
        scope
            .spawn(|| {
                if let Some(core) = core {
                    venue_pipeline::affinity::keep_current_thread_off(core).expect("core checked");
                }
                f()
            })
            .join()
            .expect("driver thread")
    })
}

/// Submits `commands` through the pipeline, draining outputs on the same
/// thread; returns when the output of the last command has been seen.
fn drive(
    pipeline: &Pipeline,
    out: &mut venue_pipeline::OutputStream,
    commands: &[Command],
    first_seq: u64,
    gated: bool,
    core: Option<usize>,
) {
    let submitter = pipeline.submitter();
    off_core(core, || {
        let last = first_seq + commands.len() as u64 - 1;
        let mut seen = first_seq - 1;
        let mut next = 0;
        while seen < last {
            while next < commands.len() && submitter.submit(0, commands[next]).is_ok() {
                next += 1;
            }
            let mut f = |s: &venue_pipeline::Stamped| seen = seen.max(s.seq);
            if gated {
                out.poll(4096, &mut f);
            } else {
                out.poll_applied(4096, &mut f);
            }
        }
    });
}

fn pipeline_throughput(
    bench: &Workbench,
    dir: &Path,
    durability: Durability,
    gated: bool,
    core: Option<usize>,
    snapshots: bool,
) -> (Throughput, [u64; 2]) {
    let (pipeline, mut streams, _) =
        Pipeline::start(pipeline_config(dir, durability, core), bench.config.clone())
            .expect("pipeline starts");
    let mut out = streams.remove(0);
    drive(&pipeline, &mut out, &bench.setup, 1, true, core);
    let first = bench.setup.len() as u64 + 1;
    let commits_before = pipeline.stats().commits.load(Ordering::Relaxed);
    let started = Instant::now();
    drive(&pipeline, &mut out, &bench.stream, first, gated, core);
    let elapsed = started.elapsed().as_secs_f64();
    let commits = pipeline.stats().commits.load(Ordering::Relaxed) - commits_before;
    // Three snapshots, one after the other is written: the first and the
    // third pause. Only where asked for: each is a write of the whole state.
    let mut pauses = [0u64; 3];
    let wanted = if snapshots { pauses.len() } else { 0 };
    for (taken, pause) in pauses.iter_mut().enumerate().take(wanted) {
        pipeline.request_snapshot();
        let deadline = Instant::now() + Duration::from_secs(30);
        while pipeline.stats().snapshots.load(Ordering::Acquire) <= taken as u64 && Instant::now() < deadline
        {
            std::thread::sleep(Duration::from_millis(1));
        }
        *pause = pipeline.stats().last_snapshot_pause_ns.load(Ordering::Relaxed);
    }
    drop(out);
    pipeline.shutdown().expect("clean shutdown");
    (Throughput { ops_per_sec: bench.stream.len() as f64 / elapsed, commits }, [pauses[0], pauses[2]])
}

/// The baseline: the same commands through the pipeline's kind of inbound
/// ring (single-producer behind a lock, read in chunks) into a thread that
/// passes each on through an SPSC ring, doing nothing else.
fn ring_throughput(bench: &Workbench, core: Option<usize>) -> Throughput {
    let (elapsed, _) = ring_pass(bench, None, core);
    Throughput { ops_per_sec: bench.stream.len() as f64 / elapsed, commits: 0 }
}

/// Runs the bare ring; with `rate`, open-loop and returns latencies.
fn ring_pass(bench: &Workbench, rate: Option<u64>, core: Option<usize>) -> (f64, Histogram<u64>) {
    let (inbound, mut inbound_rx) = rtrb::RingBuffer::<(u64, Command)>::new(1 << 16);
    let inbound = Mutex::new(inbound);
    let (mut tx, mut rx) = rtrb::RingBuffer::<(u64, Command)>::new(1 << 18);
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            if let Some(core) = core {
                venue_pipeline::affinity::pin_current_thread(core).expect("core checked");
            }
            let mut seq = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let ready = inbound_rx.slots().min(256);
                if ready == 0 {
                    std::hint::spin_loop();
                    continue;
                }
                let Ok(chunk) = inbound_rx.read_chunk(ready) else { continue };
                for (_, command) in chunk {
                    seq += 1;
                    let mut item = (seq, command);
                    while let Err(rtrb::PushError::Full(back)) = tx.push(item) {
                        item = back;
                        std::hint::spin_loop();
                    }
                }
            }
        })
    };
    let (elapsed, histogram) = open_loop(
        &bench.stream,
        rate,
        1,
        core,
        |command| inbound.lock().expect("nothing panics holding it").push((0, *command)).is_ok(),
        |f| {
            let mut n = 0;
            while let Ok((seq, _)) = rx.pop() {
                f(seq);
                n += 1;
            }
            n
        },
    );
    stop.store(true, Ordering::Relaxed);
    let _ = thread.join();
    (elapsed, histogram)
}

/// Sends `commands` (closed-loop without a rate, open-loop with one) and
/// collects, per command sequence number (from `first_seq`), the latency
/// from its planned send time to its first output.
fn open_loop(
    commands: &[Command],
    rate: Option<u64>,
    first_seq: u64,
    core: Option<usize>,
    mut send: impl FnMut(&Command) -> bool + Send,
    mut drain: impl FnMut(&mut dyn FnMut(u64)) -> usize + Send,
) -> (f64, Histogram<u64>) {
    off_core(core, move || {
        let mut histogram =
            Histogram::<u64>::new_with_bounds(1, 60_000_000_000, 3).expect("histogram bounds");
        let last = first_seq + commands.len() as u64 - 1;
        let mut seen = first_seq - 1;
        let mut next = 0usize;
        let started = Instant::now();
        let planned = |i: u64| rate.map_or(0, |r| (u128::from(i) * 1_000_000_000 / u128::from(r)) as u64);
        while seen < last {
            let now = started.elapsed().as_nanos() as u64;
            while next < commands.len() && planned(next as u64) <= now {
                if !send(&commands[next]) {
                    break;
                }
                next += 1;
            }
            drain(&mut |seq| {
                if seq > seen {
                    seen = seq;
                    if rate.is_some() {
                        let at = started.elapsed().as_nanos() as u64;
                        let _ = histogram.record(at.saturating_sub(planned(seq - first_seq)).max(1));
                    }
                }
            });
        }
        (started.elapsed().as_secs_f64(), histogram)
    })
}

fn pipeline_latency(bench: &Workbench, dir: &Path, rate: u64, core: Option<usize>) -> Percentiles {
    let (pipeline, mut streams, _) =
        Pipeline::start(pipeline_config(dir, Durability::Never, core), bench.config.clone())
            .expect("pipeline starts");
    let mut out = streams.remove(0);
    drive(&pipeline, &mut out, &bench.setup, 1, true, core);
    let submitter = pipeline.submitter();
    let first = bench.setup.len() as u64 + 1;
    let (_, histogram) = open_loop(
        &bench.stream,
        Some(rate),
        first,
        core,
        |c| submitter.submit(0, *c).is_ok(),
        |f| out.poll_applied(4096, |s| f(s.seq)),
    );
    drop(out);
    pipeline.shutdown().expect("clean shutdown");
    Percentiles::of(&histogram)
}

fn replay_run(options: &EngineOptions) -> ReplayResult {
    let bench = workbench(1, options.accounts, options.replay_commands, options.seed);
    let dir = fresh_dir(&options.scratch, "replay");
    let config = pipeline_config(&dir, Durability::Never, None);
    {
        let journal_options = venue_journal::JournalOptions {
            durability: Durability::Never,
            ..venue_journal::JournalOptions::default()
        };
        let (mut journal, _) =
            venue_journal::Journal::open(&config.journal_dir(), journal_options).expect("journal");
        let mut payload = Vec::new();
        for (at, command) in bench.setup.iter().chain(&bench.stream).enumerate() {
            payload.clear();
            command.encode(&mut payload);
            let seq = at as u64 + 1;
            journal.append(seq, seq * 1000, command.tag(), &payload).expect("append");
            if seq.is_multiple_of(65_536) {
                journal.commit().expect("commit");
            }
        }
        journal.commit().expect("commit");
    }
    let journal_bytes = dir_bytes(&config.journal_dir());
    let started = Instant::now();
    let (_, _, recovery) = venue_pipeline::recover(&config, bench.config.clone()).expect("recovery");
    let restart = started.elapsed().as_secs_f64();
    let _ = std::fs::remove_dir_all(&dir);
    ReplayResult {
        commands: recovery.replayed,
        journal_bytes,
        replay_per_sec: recovery.replayed as f64 / restart,
        restart_secs: restart,
    }
}

fn dir_bytes(dir: &Path) -> u64 {
    std::fs::read_dir(dir)
        .map(|entries| entries.filter_map(|e| e.ok()?.metadata().ok()).map(|m| m.len()).sum())
        .unwrap_or(0)
}

/// Runs everything.
pub fn run(options: &EngineOptions, progress: &mut dyn FnMut(&str)) -> EngineReport {
    let mut runs = Vec::new();
    for &symbols in &options.symbols {
        progress(&format!("{symbols} symbol(s): generating"));
        let bench = workbench(symbols, options.accounts, options.ops.max(options.latency_ops), options.seed);
        let mut measured = bench.clone();
        measured.stream.truncate(options.ops);
        progress(&format!("{symbols} symbol(s): throughput"));
        let core = options.engine_core;
        let ring = ring_throughput(&measured, core);
        let never = fresh_dir(&options.scratch, "never");
        let (no_fsync, [snapshot_pause_ns, snapshot_pause_again_ns]) =
            pipeline_throughput(&measured, &never, Durability::Never, false, core, true);
        let never = fresh_dir(&options.scratch, "never-unpinned");
        let (no_fsync_unpinned, _) =
            pipeline_throughput(&measured, &never, Durability::Never, false, None, false);
        let (fsync, _) = pipeline_throughput(
            &measured,
            &fresh_dir(&options.scratch, "always"),
            Durability::Always,
            true,
            core,
            false,
        );
        let (fsync_interval, _) = pipeline_throughput(
            &measured,
            &fresh_dir(&options.scratch, "interval"),
            Durability::Interval(Duration::from_millis(1)),
            true,
            core,
            false,
        );
        progress(&format!("{symbols} symbol(s): latency at {} commands/s", options.rate));
        let mut latency = bench;
        latency.stream.truncate(options.latency_ops);
        let (_, ring_histogram) = ring_pass(&latency, Some(options.rate), core);
        let engine_latency =
            pipeline_latency(&latency, &fresh_dir(&options.scratch, "latency"), options.rate, core);
        let engine_latency_unpinned =
            pipeline_latency(&latency, &fresh_dir(&options.scratch, "latency-unpinned"), options.rate, None);
        runs.push(SymbolsResult {
            symbols,
            ring,
            no_fsync,
            no_fsync_unpinned,
            fsync,
            fsync_interval,
            ring_latency: Percentiles::of(&ring_histogram),
            engine_latency,
            engine_latency_unpinned,
            snapshot_pause_ns,
            snapshot_pause_again_ns,
        });
    }
    progress("replay and restart");
    let replay = replay_run(options);
    let _ = std::fs::remove_dir_all(&options.scratch);
    EngineReport { runs, replay, rate: options.rate, ops: options.ops, engine_core: options.engine_core }
}

fn pct(p: &Percentiles) -> Value {
    json!({"p50": p.p50, "p99": p.p99, "p999": p.p999, "p9999": p.p9999, "max": p.max})
}

impl EngineReport {
    /// One JSON object with every figure.
    pub fn to_json(&self) -> Value {
        let runs: Vec<Value> = self
            .runs
            .iter()
            .map(|r| {
                json!({
                    "symbols": r.symbols,
                    "ring_ops_per_sec": r.ring.ops_per_sec,
                    "no_fsync_ops_per_sec": r.no_fsync.ops_per_sec,
                    "no_fsync_unpinned_ops_per_sec": r.no_fsync_unpinned.ops_per_sec,
                    "fsync_ops_per_sec": r.fsync.ops_per_sec,
                    "fsync_commits": r.fsync.commits,
                    "fsync_interval_ops_per_sec": r.fsync_interval.ops_per_sec,
                    "ring_latency_ns": pct(&r.ring_latency),
                    "engine_latency_ns": pct(&r.engine_latency),
                    "engine_latency_unpinned_ns": pct(&r.engine_latency_unpinned),
                    "snapshot_pause_ns": r.snapshot_pause_ns,
                    "snapshot_pause_again_ns": r.snapshot_pause_again_ns,
                })
            })
            .collect();
        json!({
            "ops": self.ops,
            "rate": self.rate,
            "engine_core": self.engine_core,
            "runs": runs,
            "replay": {
                "commands": self.replay.commands,
                "journal_bytes": self.replay.journal_bytes,
                "replay_per_sec": self.replay.replay_per_sec,
                "restart_secs": self.replay.restart_secs,
            }
        })
    }

    /// Markdown tables for BENCHMARKS.md.
    pub fn to_markdown(&self) -> String {
        let m = |v: f64| format!("{:.2}M", v / 1e6);
        let mut text = match self.engine_core {
            Some(core) => format!(
                "The engine (and the bare ring's passing thread) has CPU {core} to itself; the driver \
                 and the journal are kept off it. `unpinned`: the same run with the scheduler \
                 deciding.\n\n"
            ),
            None => "Nothing pinned (a single CPU).\n\n".to_string(),
        };
        text.push_str(
            "| symbols | bare ring | pipeline, no fsync | ratio to ring | unpinned | fsync group commit | \
             commits | fsync ≤ 1 ms | snapshot pause, first / third |\n|---|---|---|---|---|---|---|---|---|\n",
        );
        for r in &self.runs {
            text.push_str(&format!(
                "| {} | {} ops/s | {} ops/s | {:.2} | {} ops/s | {} ops/s ({:.0}% of no-fsync) | {} | {} ops/s \
                 | {:.1} / {:.1} µs |\n",
                r.symbols,
                m(r.ring.ops_per_sec),
                m(r.no_fsync.ops_per_sec),
                r.no_fsync.ops_per_sec / r.ring.ops_per_sec,
                m(r.no_fsync_unpinned.ops_per_sec),
                m(r.fsync.ops_per_sec),
                100.0 * r.fsync.ops_per_sec / r.no_fsync.ops_per_sec,
                r.fsync.commits,
                m(r.fsync_interval.ops_per_sec),
                r.snapshot_pause_ns as f64 / 1e3,
                r.snapshot_pause_again_ns as f64 / 1e3,
            ));
        }
        text.push_str(&format!(
            "\nOpen-loop latency at {} commands/s offered, from planned send time to first output (ns):\n\n\
             | symbols | path | p50 | p99 | p99.9 | p99.99 | max |\n|---|---|---|---|---|---|---|\n",
            self.rate
        ));
        for r in &self.runs {
            for (name, p) in [
                ("bare ring", &r.ring_latency),
                ("engine (no fsync)", &r.engine_latency),
                ("engine (no fsync), unpinned", &r.engine_latency_unpinned),
            ] {
                text.push_str(&format!(
                    "| {} | {name} | {} | {} | {} | {} | {} |\n",
                    r.symbols, p.p50, p.p99, p.p999, p.p9999, p.max
                ));
            }
        }
        text.push_str(&format!(
            "\nReplay: {} commands ({:.0} MiB of journal) replayed at {} commands/s; restart {:.2} s.\n",
            self.replay.commands,
            self.replay.journal_bytes as f64 / (1 << 20) as f64,
            m(self.replay.replay_per_sec),
            self.replay.restart_secs
        ));
        text
    }

    /// The targets, each with whether this run met it.
    pub fn targets(&self) -> Vec<(String, bool)> {
        let mut lines = Vec::new();
        for r in &self.runs {
            let s = r.symbols;
            lines.push((
                format!("{s} symbol(s): ≥ 5M ops/s without fsync: {:.2}M", r.no_fsync.ops_per_sec / 1e6),
                r.no_fsync.ops_per_sec >= 5e6,
            ));
            lines.push((
                format!(
                    "{s} symbol(s): fsync group commit ≥ 50% of that: {:.0}%",
                    100.0 * r.fsync.ops_per_sec / r.no_fsync.ops_per_sec
                ),
                r.fsync.ops_per_sec >= 0.5 * r.no_fsync.ops_per_sec,
            ));
            lines.push((
                format!(
                    "{s} symbol(s): p99 ≤ 2 µs and p99.99 ≤ 10 µs at {} /s: {} ns / {} ns",
                    self.rate, r.engine_latency.p99, r.engine_latency.p9999
                ),
                r.engine_latency.p99 <= 2_000 && r.engine_latency.p9999 <= 10_000,
            ));
        }
        lines.push((
            format!("replay ≥ 5M commands/s: {:.2}M", self.replay.replay_per_sec / 1e6),
            self.replay.replay_per_sec >= 5e6,
        ));
        lines.push((
            format!(
                "restart with {} commands ≤ 2 s: {:.2} s",
                self.replay.commands, self.replay.restart_secs
            ),
            self.replay.restart_secs <= 2.0,
        ));
        lines
    }
}
