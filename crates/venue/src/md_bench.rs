//! `venue bench marketdata`: what the market-data component
//! (`venue-marketdata`, the one every transport takes public data from)
//! costs per engine event, measured once on the component itself, against
//! the engine applying the same commands in the same run.
//!
//! **Stream.** The exchange-core mix of `venue bench engine`
//! ([`venue_bench::engine::workbench`]: 1,000 funded accounts, a warm-up of
//! 5,000 commands per symbol, then the measured commands round-robin over 1
//! or 100 symbols). The setup and warm-up go through an engine and a
//! [`MarketData`] once, untimed; both are then cloned for every timed pass,
//! so every pass starts from the same warm books (about 1,000 resting orders
//! each). The measured commands are run once more through a clone of the
//! engine, untimed, to capture each command's outputs (`Output`s, here
//! called *engine events*; those that are `Output::Book` are *book events*).
//! Sequencer time is synthetic: command `seq` is stamped at
//! [`START_TIME_NS`] + `seq` × [`TIME_STEP_NS`] (1 µs apart, the engine
//! benchmark's offered rate), so candles open and close as they would.
//!
//! **Passes**, all on that one captured stream, each repeated and reported
//! as the median, interleaved so that a neighbour's load hits them alike:
//!
//! * *engine*, the baseline: a clone of the warm engine applies the
//!   commands (outputs cleared after each command, no rings);
//! * *market data*: a clone of the warm `MarketData` takes every captured
//!   output as the [`Stamped`] item its consumer thread receives
//!   (`MarketData::apply`), the last output of each command marked `last`;
//!   the `Arc<Update>`s are dropped after each command, so their freeing is
//!   counted too;
//! * *+ JSON*: the same, and every update is encoded as the Binance
//!   `depthUpdate` frame (when it changed levels) and one `trade` frame per
//!   trade by `venue-server`'s WebSocket encoders
//!   (`ws::encode_depth_update`, `ws::encode_trade`, what the hub sends).
//!   Encoded once per update, as the hub does, not per subscriber;
//! * *+ conflator*: the same, and every update is pushed into a
//!   [`Conflator`] (interest: everything) as a second reference to the
//!   shared `Arc`, like a subscriber's queue: once drained after each
//!   command (a subscriber that keeps up), once drained only every
//!   [`SLOW_DRAIN_UPDATES`] updates with [`SLOW_CAPACITY`] slots (a slow one,
//!   whose updates are merged).
//!
//! What a pass adds over the market-data pass is reported per update. Heap
//! allocations are counted over each pass with the binary's counting
//! allocator (`venue_bench::alloc`).
//!
//! **Budget.** On one symbol the engine applies this stream in about 200 ns
//! per command (`venue bench engine`: 4.4M commands/s on one thread), and a
//! command yields about 4.7 outputs. The market-data thread consumes every
//! one of them; on its own core it keeps pace with the engine only while it
//! costs less per command than the engine does, about 40 ns per engine
//! event. The ratio to the engine reported here is that margin, measured on
//! the identical commands in the same process, so it survives a noisy
//! machine better than either absolute figure.

use serde_json::{Value, json};
use std::hint::black_box;
use std::sync::Arc;
use std::time::Instant;
use venue_bench::alloc;
use venue_bench::engine::{Workbench, workbench};
use venue_domain::{InstrumentSpec, Timestamp};
use venue_engine::{Command, Engine, Output, Sequenced};
use venue_marketdata::{Conflator, Interest, MarketData, Stamped, Update};

/// Sequencer time of command 0: 2026-11-01T00:00:00Z, in ns since the
/// epoch. Candles are aligned to it, as in a real day.
pub const START_TIME_NS: u64 = 1_793_491_200_000_000_000;

/// Synthetic sequencer time between two commands (1 µs: 1M commands/s,
/// the rate the engine benchmark offers).
pub const TIME_STEP_NS: u64 = 1_000;

/// Slots of the slow subscriber's conflator: small, so that it merges.
pub const SLOW_CAPACITY: usize = 64;

/// The slow subscriber takes its pending updates only after this many
/// were offered to it.
pub const SLOW_DRAIN_UPDATES: u64 = 1_024;

/// How much to run.
#[derive(Clone, Debug)]
pub struct MdBenchOptions {
    /// Seed of the generated streams.
    pub seed: u64,
    /// Measured commands per symbol count.
    pub ops: usize,
    /// Symbol counts (the engine benchmark's 1 and 100).
    pub symbols: Vec<usize>,
    /// Accounts trading.
    pub accounts: u32,
    /// Repetitions of every pass; the median is reported.
    pub reps: usize,
}

impl MdBenchOptions {
    /// The configuration whose results BENCHMARKS.md records.
    pub fn full() -> MdBenchOptions {
        MdBenchOptions { seed: 42, ops: 500_000, symbols: vec![1, 100], accounts: 1000, reps: 7 }
    }

    /// A seconds-long smoke run.
    pub fn quick() -> MdBenchOptions {
        MdBenchOptions { ops: 20_000, reps: 3, ..MdBenchOptions::full() }
    }
}

/// One timed pass, median of its repetitions.
#[derive(Clone, Debug)]
pub struct Pass {
    /// What ran (a table row's name).
    pub name: String,
    /// Every repetition's time, ns for the whole stream.
    pub runs_ns: Vec<u64>,
    /// The median of `runs_ns`.
    pub ns: u64,
    /// Heap allocations (and reallocations) during one repetition.
    pub allocations: u64,
    /// Market-data updates produced (0 for the engine pass): every pass over
    /// market data must produce the same number.
    pub updates: u64,
}

/// Everything measured for one symbol count.
#[derive(Clone, Debug)]
pub struct RunResult {
    /// Instruments.
    pub symbols: usize,
    /// Measured commands.
    pub commands: u64,
    /// Engine outputs of the measured commands (engine events).
    pub events: u64,
    /// Of which book events (`Output::Book`): what market data reads.
    pub book_events: u64,
    /// Market-data updates (one per instrument per command that changed
    /// public data).
    pub updates: u64,
    /// L2 level changes over all updates.
    pub levels: u64,
    /// L3 events over all updates.
    pub l3_events: u64,
    /// Public trades over all updates.
    pub trades: u64,
    /// Updates that changed the best bid or offer.
    pub bbo_changes: u64,
    /// Candles over all updates.
    pub candles: u64,
    /// JSON frames encoded in one JSON pass.
    pub json_frames: u64,
    /// Their bytes.
    pub json_bytes: u64,
    /// Updates the slow subscriber's conflator merged into others.
    pub merged: u64,
    /// Passes in table order: engine, market data, + JSON, + conflator
    /// (keeps up), + conflator (slow).
    pub passes: Vec<Pass>,
}

impl RunResult {
    fn pass(&self, index: usize) -> &Pass {
        &self.passes[index]
    }

    /// The engine's cost per command, ns (the baseline).
    pub fn engine_ns_per_command(&self) -> f64 {
        self.pass(ENGINE).ns as f64 / self.commands as f64
    }

    /// Market data's cost per command, ns.
    pub fn marketdata_ns_per_command(&self) -> f64 {
        self.pass(MARKET).ns as f64 / self.commands as f64
    }

    /// Market data's cost per engine event, ns.
    pub fn marketdata_ns_per_event(&self) -> f64 {
        self.pass(MARKET).ns as f64 / self.events as f64
    }

    /// Market data's cost over the engine's on the same commands.
    pub fn marketdata_to_engine(&self) -> f64 {
        self.pass(MARKET).ns as f64 / self.pass(ENGINE).ns as f64
    }
}

const ENGINE: usize = 0;
const MARKET: usize = 1;
const JSON: usize = 2;
const KEEPS_UP: usize = 3;
const SLOW: usize = 4;

fn time_of(seq: u64) -> Timestamp {
    Timestamp(START_TIME_NS + seq * TIME_STEP_NS)
}

/// The warm engine and market data, and the measured commands with the
/// outputs the engine gave them.
struct Captured {
    engine: Engine,
    market: MarketData,
    specs: Vec<InstrumentSpec>,
    /// Sequence number of the first measured command.
    first_seq: u64,
    commands: Vec<Command>,
    /// Every measured command's outputs, one after the other.
    outputs: Vec<Output>,
    /// Where each command's outputs end in `outputs`.
    ends: Vec<usize>,
}

fn capture(bench: &Workbench) -> Captured {
    let mut engine = Engine::new(bench.config.clone()).expect("benchmark configuration is valid");
    let mut market = MarketData::new(&bench.config.instruments);
    let (mut out, mut updates) = (Vec::new(), Vec::new());
    for (at, command) in bench.setup.iter().enumerate() {
        let seq = at as u64 + 1;
        engine.apply(&Sequenced { seq, time: time_of(seq), command: *command }, &mut out);
        market.apply_command(seq, time_of(seq), &out, &mut updates);
        out.clear();
        updates.clear();
    }
    let first_seq = bench.setup.len() as u64 + 1;
    let mut recorder = engine.clone();
    let mut outputs = Vec::with_capacity(bench.stream.len() * 5);
    let mut ends = Vec::with_capacity(bench.stream.len());
    for (at, command) in bench.stream.iter().enumerate() {
        let seq = first_seq + at as u64;
        recorder.apply(&Sequenced { seq, time: time_of(seq), command: *command }, &mut outputs);
        ends.push(outputs.len());
    }
    Captured {
        engine,
        market,
        specs: bench.config.instruments.clone(),
        first_seq,
        commands: bench.stream.clone(),
        outputs,
        ends,
    }
}

/// The baseline: a clone of the warm engine applies the measured commands.
fn engine_pass(captured: &Captured) -> (u64, u64) {
    let mut engine = captured.engine.clone();
    let mut out = Vec::with_capacity(1024);
    let allocations = alloc::allocations();
    let started = Instant::now();
    for (at, command) in captured.commands.iter().enumerate() {
        let seq = captured.first_seq + at as u64;
        engine.apply(&Sequenced { seq, time: time_of(seq), command: *command }, &mut out);
        black_box(&out);
        out.clear();
    }
    let ns = started.elapsed().as_nanos() as u64;
    let allocations = alloc::allocations() - allocations;
    drop(black_box(engine));
    (ns, allocations)
}

/// A clone of the warm market data takes every captured output as its
/// consumer thread would; `sink` gets each command's updates before they
/// are dropped. Returns (ns, allocations, updates).
fn market_pass(captured: &Captured, mut sink: impl FnMut(&[Arc<Update>])) -> (u64, u64, u64) {
    let mut market = captured.market.clone();
    let mut updates: Vec<Arc<Update>> = Vec::with_capacity(1024);
    let mut produced = 0u64;
    let mut from = 0;
    let allocations = alloc::allocations();
    let started = Instant::now();
    for (at, &end) in captured.ends.iter().enumerate() {
        let seq = captured.first_seq + at as u64;
        let time = time_of(seq);
        let outputs = &captured.outputs[from..end];
        for (i, output) in outputs.iter().enumerate() {
            let stamped = Stamped { seq, time, origin: 0, last: i + 1 == outputs.len(), output: *output };
            market.apply(&stamped, &mut updates);
        }
        from = end;
        produced += updates.len() as u64;
        sink(&updates);
        updates.clear();
    }
    let ns = started.elapsed().as_nanos() as u64;
    let allocations = alloc::allocations() - allocations;
    drop(black_box(market));
    (ns, allocations, produced)
}

/// Measures one symbol count.
fn run_symbols(symbols: usize, options: &MdBenchOptions, progress: &mut dyn FnMut(&str)) -> RunResult {
    progress(&format!("{symbols} symbol(s): generating and capturing"));
    let bench = workbench(symbols, options.accounts, options.ops, options.seed);
    let captured = capture(&bench);
    drop(bench);

    // The stream's shape, from one untimed pass.
    let (mut levels, mut l3_events, mut trades, mut bbo_changes, mut candles) = (0, 0, 0, 0, 0);
    let (_, _, updates) = market_pass(&captured, |updates| {
        for update in updates {
            levels += update.levels.len() as u64;
            l3_events += update.l3.len() as u64;
            trades += update.trades.len() as u64;
            bbo_changes += u64::from(update.bbo.is_some());
            candles += update.candles.len() as u64;
        }
    });
    let book_events = captured.outputs.iter().filter(|o| matches!(o, Output::Book(_))).count() as u64;

    let names = [
        "engine (baseline)".to_owned(),
        "market data (`MarketData::apply`)".to_owned(),
        "+ JSON `depthUpdate` and `trade` frames".to_owned(),
        "+ conflator, subscriber keeps up".to_owned(),
        format!(
            "+ conflator, slow subscriber ({SLOW_CAPACITY} slots, drained every {SLOW_DRAIN_UPDATES} updates)"
        ),
    ];
    let mut passes: Vec<Pass> = names
        .into_iter()
        .map(|name| Pass { name, runs_ns: Vec::new(), ns: 0, allocations: 0, updates: 0 })
        .collect();
    let (mut json_frames, mut json_bytes, mut merged) = (0, 0, 0);
    for rep in 0..options.reps.max(1) {
        progress(&format!("{symbols} symbol(s): repetition {} of {}", rep + 1, options.reps.max(1)));
        let (ns, allocations) = engine_pass(&captured);
        let mut record = |index: usize, (ns, allocations, updates): (u64, u64, u64)| {
            let pass = &mut passes[index];
            pass.runs_ns.push(ns);
            (pass.allocations, pass.updates) = (allocations, updates);
        };
        record(ENGINE, (ns, allocations, 0));
        record(MARKET, market_pass(&captured, |_| {}));

        let (mut frames, mut bytes) = (0u64, 0u64);
        let timed = market_pass(&captured, |updates| {
            for update in updates {
                let spec = &captured.specs[update.instrument.0 as usize];
                let depth = venue_server::ws::encode_depth_update(spec, update);
                let trades =
                    update.trades.iter().map(|t| venue_server::ws::encode_trade(spec, update, t, false));
                for frame in depth.into_iter().chain(trades) {
                    frames += 1;
                    bytes += frame.len() as u64;
                    black_box(frame);
                }
            }
        });
        record(JSON, timed);
        (json_frames, json_bytes) = (frames, bytes);

        let mut queue = Conflator::new(SLOW_CAPACITY, Interest::ALL);
        let timed = market_pass(&captured, |updates| {
            for update in updates {
                queue.push(Arc::clone(update));
            }
            while let Some(update) = queue.pop() {
                black_box(update);
            }
        });
        record(KEEPS_UP, timed);

        let mut queue = Conflator::new(SLOW_CAPACITY, Interest::ALL);
        let mut offered = 0u64;
        let timed = market_pass(&captured, |updates| {
            for update in updates {
                queue.push(Arc::clone(update));
                offered += 1;
                if offered.is_multiple_of(SLOW_DRAIN_UPDATES) {
                    while let Some(update) = queue.pop() {
                        black_box(update);
                    }
                }
            }
        });
        record(SLOW, timed);
        merged = queue.merged();
    }
    for (index, pass) in passes.iter_mut().enumerate() {
        let mut sorted = pass.runs_ns.clone();
        sorted.sort_unstable();
        pass.ns = sorted[sorted.len() / 2];
        if index != ENGINE {
            assert_eq!(pass.updates, updates, "every market-data pass sees the same updates");
        }
    }
    RunResult {
        symbols,
        commands: captured.commands.len() as u64,
        events: captured.outputs.len() as u64,
        book_events,
        updates,
        levels,
        l3_events,
        trades,
        bbo_changes,
        candles,
        json_frames,
        json_bytes,
        merged,
        passes,
    }
}

/// Runs every symbol count.
pub fn run(options: &MdBenchOptions, progress: &mut dyn FnMut(&str)) -> Vec<RunResult> {
    options.symbols.iter().map(|&symbols| run_symbols(symbols.max(1), options, progress)).collect()
}

fn per(value: u64, count: u64) -> f64 {
    if count == 0 { 0.0 } else { value as f64 / count as f64 }
}

fn round(value: f64, decimals: i32) -> f64 {
    let scale = 10f64.powi(decimals);
    (value * scale).round() / scale
}

/// One JSON object with every figure.
pub fn to_json(results: &[RunResult], options: &MdBenchOptions) -> Value {
    let runs: Vec<Value> = results
        .iter()
        .map(|r| {
            let market = r.pass(MARKET);
            let passes: Vec<Value> = r
                .passes
                .iter()
                .enumerate()
                .map(|(index, p)| {
                    let added = (index > MARKET).then(|| per(p.ns.saturating_sub(market.ns), r.updates));
                    json!({
                        "pass": p.name,
                        "ns": p.ns,
                        "runs_ns": p.runs_ns,
                        "ns_per_command": round(per(p.ns, r.commands), 1),
                        "ns_per_event": round(per(p.ns, r.events), 1),
                        "ns_per_update": (index != ENGINE).then(|| round(per(p.ns, r.updates), 1)),
                        "added_ns_per_update": added.map(|v| round(v, 1)),
                        "ratio_to_engine": round(p.ns as f64 / r.pass(ENGINE).ns as f64, 3),
                        "allocations": p.allocations,
                        "allocs_per_event": round(per(p.allocations, r.events), 3),
                        "allocs_per_update": (index != ENGINE).then(|| round(per(p.allocations, r.updates), 3)),
                        "updates": p.updates,
                    })
                })
                .collect();
            json!({
                "symbols": r.symbols,
                "commands": r.commands,
                "events": r.events,
                "book_events": r.book_events,
                "updates": r.updates,
                "levels": r.levels,
                "l3_events": r.l3_events,
                "trades": r.trades,
                "bbo_changes": r.bbo_changes,
                "candles": r.candles,
                "engine_ns_per_command": round(r.engine_ns_per_command(), 1),
                "marketdata_ns_per_command": round(r.marketdata_ns_per_command(), 1),
                "marketdata_ns_per_event": round(r.marketdata_ns_per_event(), 1),
                "marketdata_to_engine": round(r.marketdata_to_engine(), 3),
                "marketdata_allocs_per_event": round(per(market.allocations, r.events), 3),
                "json_frames": r.json_frames,
                "json_bytes": r.json_bytes,
                "json_bytes_per_update": round(per(r.json_bytes, r.updates), 1),
                "conflator_merged": r.merged,
                "passes": passes,
            })
        })
        .collect();
    json!({
        "bench": "marketdata",
        "seed": options.seed,
        "ops": options.ops,
        "reps": options.reps,
        "accounts": options.accounts,
        "time_step_ns": TIME_STEP_NS,
        "allocations_counted": alloc::counting(),
        "runs": runs,
    })
}

/// Markdown tables for BENCHMARKS.md; also what the terminal shows.
pub fn to_markdown(results: &[RunResult]) -> String {
    let mut text = String::from(
        "Stream: the measured commands' engine outputs (events), how many are book events, and the \
         market-data updates they give (one per instrument per command that changed public data).\n\n\
         | symbols | commands | events | book events | updates | events/command | updates/command | \
         levels/update | L3 events/update | trades/update | L1 changes/update |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        text.push_str(&format!(
            "| {} | {} | {} | {} | {} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} | {:.2} |\n",
            r.symbols,
            r.commands,
            r.events,
            r.book_events,
            r.updates,
            per(r.events, r.commands),
            per(r.updates, r.commands),
            per(r.levels, r.updates),
            per(r.l3_events, r.updates),
            per(r.trades, r.updates),
            per(r.bbo_changes, r.updates),
        ));
    }
    text.push_str(
        "\nCost, median of the repetitions; \"added\" is a pass's time minus the market-data pass's, per \
         update; \"× engine\" is a pass's time over the engine's on the same commands.\n\n\
         | symbols | pass | ns/command | ns/event | ns/update | added ns/update | × engine | allocs/event | \
         allocs/update |\n|---:|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for r in results {
        let market = r.pass(MARKET);
        for (index, p) in r.passes.iter().enumerate() {
            let dash = || "–".to_owned();
            text.push_str(&format!(
                "| {} | {} | {:.1} | {:.1} | {} | {} | {:.2} | {:.3} | {} |\n",
                r.symbols,
                p.name,
                per(p.ns, r.commands),
                per(p.ns, r.events),
                if index == ENGINE { dash() } else { format!("{:.1}", per(p.ns, r.updates)) },
                if index > MARKET {
                    format!("{:.1}", per(p.ns.saturating_sub(market.ns), r.updates))
                } else {
                    dash()
                },
                p.ns as f64 / r.pass(ENGINE).ns as f64,
                per(p.allocations, r.events),
                if index == ENGINE { dash() } else { format!("{:.2}", per(p.allocations, r.updates)) },
            ));
        }
    }
    text.push('\n');
    for r in results {
        text.push_str(&format!(
            "- {} symbol(s): market data costs **{:.0}% of the engine** ({:.1} ns per engine event, \
             {:.1} ns per command against the engine's {:.1}); JSON frames average {:.0} bytes per update \
             ({} frames); the slow subscriber's conflator merged {} of {} updates.\n",
            r.symbols,
            100.0 * r.marketdata_to_engine(),
            r.marketdata_ns_per_event(),
            r.marketdata_ns_per_command(),
            r.engine_ns_per_command(),
            per(r.json_bytes, r.updates),
            r.json_frames,
            r.merged,
            r.updates,
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_pass_sees_the_same_stream() {
        let options = MdBenchOptions { ops: 300, symbols: vec![1], reps: 1, ..MdBenchOptions::quick() };
        let results = run(&options, &mut |_| {});
        let r = &results[0];
        assert_eq!(r.commands, 300);
        assert!(r.events >= r.book_events && r.book_events > 0 && r.updates > 0);
        assert_eq!(r.passes.len(), 5);
        assert!(r.passes[MARKET..].iter().all(|p| p.updates == r.updates));
        assert!(r.json_frames > 0 && r.json_bytes > r.json_frames);
        let text = to_markdown(&results);
        assert!(text.contains("market data costs"));
        assert_eq!(to_json(&results, &options)["runs"][0]["updates"], r.updates);
    }
}
