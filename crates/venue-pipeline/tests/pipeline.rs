//! The pipeline in process: outputs released in order and only once durable,
//! recovery from the journal and from snapshots (including damaged ones),
//! and back-pressure that refuses without losing what it accepted.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use venue_domain::{AccountId, OrderId, Reject, Side};
use venue_engine::{AccountLimits, AssetId, Command, Engine, EngineConfig, Output, TransferState};
use venue_matching::{Event, EventKind, NewOrder};
use venue_pipeline::{Durability, OutputStream, Pipeline, PipelineConfig, Stamped};

const TIMEOUT: Duration = Duration::from_secs(30);
const BTC: AssetId = AssetId(0);
const USDT: AssetId = AssetId(2);

/// A unique directory under the system temp dir, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path = std::env::temp_dir()
            .join(format!("venue-pipeline-test-{name}-{}-{n}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn config(dir: &Path) -> PipelineConfig {
    let mut config = PipelineConfig::new(dir);
    // Small rings: the tests do not need 256 Ki outputs of memory each.
    config.inbound_capacity = 1 << 10;
    config.journal_capacity = 1 << 10;
    config.outbound_capacity = 1 << 16;
    config.segment_bytes = 1 << 20;
    config
}

fn start(config: &PipelineConfig) -> (Pipeline, OutputStream, venue_pipeline::Recovery) {
    let (pipeline, mut streams, recovery) =
        Pipeline::start(config.clone(), EngineConfig::demo()).expect("pipeline starts");
    assert_eq!(streams.len(), config.consumers);
    (pipeline, streams.remove(0), recovery)
}

/// Submits, retrying while the inbound ring is full.
fn submit(pipeline: &Pipeline, origin: u64, command: Command) {
    let submitter = pipeline.submitter();
    let deadline = Instant::now() + TIMEOUT;
    loop {
        match submitter.submit(origin, command) {
            Ok(()) => return,
            Err(Reject::Backpressure) if Instant::now() < deadline => std::thread::yield_now(),
            Err(other) => panic!("submit {command:?}: {other:?}"),
        }
    }
}

/// Polls (durable) outputs until every output of command `last` has been
/// released.
fn drain(pipeline: &Pipeline, stream: &mut OutputStream, last: u64) -> Vec<Stamped> {
    let deadline = Instant::now() + TIMEOUT;
    let mut outputs = Vec::new();
    loop {
        // Read before polling: once the engine reports `last` applied, all
        // of its outputs are in the ring, and durable ones are released.
        let stats = pipeline.stats();
        let done =
            stats.applied.load(Ordering::Acquire) >= last && stats.durable.load(Ordering::Acquire) >= last;
        stream.poll(usize::MAX, |s| outputs.push(*s));
        if done {
            return outputs;
        }
        assert!(
            Instant::now() < deadline,
            "command {last} not released in {TIMEOUT:?}: applied {}, durable {}, journal failed {}",
            stats.applied.load(Ordering::Relaxed),
            stats.durable.load(Ordering::Relaxed),
            stats.journal_failed.load(Ordering::Relaxed)
        );
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn limit(account: u32, side: Side, price: i64, qty: i64) -> Command {
    Command::NewOrder(NewOrder::limit(0, account, side, price, qty))
}

/// Two funded accounts and one crossing pair: seqs 1..=6 on a fresh
/// journal. Origins are `100 + seq`.
fn trading_commands() -> Vec<Command> {
    let amount = 1_000_000_000_000;
    vec![
        Command::SetAccount { account: AccountId(1), tier: 0, limits: AccountLimits::default() },
        Command::SetAccount { account: AccountId(2), tier: 0, limits: AccountLimits::default() },
        Command::Deposit { transfer_id: 1, account: AccountId(1), asset: USDT, amount },
        Command::Deposit { transfer_id: 2, account: AccountId(2), asset: BTC, amount },
        limit(2, Side::Sell, 10_000, 10),
        limit(1, Side::Buy, 10_000, 10),
    ]
}

/// Submits `commands` with origins `100 + seq` (seqs continue from
/// `first_seq`) and returns their outputs once all are durable.
fn run(pipeline: &Pipeline, stream: &mut OutputStream, first_seq: u64, commands: &[Command]) -> Vec<Stamped> {
    for (at, command) in commands.iter().enumerate() {
        submit(pipeline, 100 + first_seq + at as u64, *command);
    }
    drain(pipeline, stream, first_seq + commands.len() as u64 - 1)
}

/// A fresh engine fed the journal in `dir`.
fn replayed(config: &PipelineConfig) -> Engine {
    let mut engine = Engine::new(EngineConfig::demo()).expect("demo configuration");
    venue_pipeline::replay(&config.journal_dir(), &mut engine).expect("journal replays");
    engine
}

fn snapshot_files(config: &PipelineConfig) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(config.snapshot_dir())
        .map(|entries| entries.filter_map(|e| Some(e.ok()?.path())).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "snap"));
    files.sort();
    files
}

/// Requests a snapshot and waits until `count` have been written by this
/// pipeline; returns the sequence number of the last one.
fn snapshot(pipeline: &Pipeline, count: u64) -> u64 {
    pipeline.request_snapshot();
    let deadline = Instant::now() + TIMEOUT;
    while pipeline.stats().snapshots.load(Ordering::Acquire) < count {
        assert!(Instant::now() < deadline, "snapshot {count} not written in {TIMEOUT:?}");
        assert!(!pipeline.stats().ledger_broken.load(Ordering::Relaxed), "snapshot found the ledger broken");
        std::thread::sleep(Duration::from_millis(1));
    }
    pipeline.stats().last_snapshot_seq.load(Ordering::Acquire)
}

fn flip_byte(path: &Path, at_fraction: f64) {
    let mut bytes = std::fs::read(path).expect("read snapshot");
    let at = ((bytes.len() - 1) as f64 * at_fraction) as usize;
    bytes[at] ^= 0x5A;
    std::fs::write(path, bytes).expect("write snapshot");
}

#[test]
fn outputs_arrive_in_order_with_origins_and_replay_matches() {
    let dir = TempDir::new("order");
    let config = config(dir.path());
    let (pipeline, mut stream, recovery) = start(&config);
    assert_eq!((recovery.last_seq, recovery.snapshot_seq, recovery.replayed), (0, None, 0));
    let commands = trading_commands();
    let outputs = run(&pipeline, &mut stream, 1, &commands);

    assert!(outputs.windows(2).all(|w| w[0].seq <= w[1].seq), "outputs out of seq order: {outputs:#?}");
    for output in &outputs {
        assert!((1..=6).contains(&output.seq), "unexpected seq: {output:?}");
        assert_eq!(output.origin, 100 + output.seq, "origin tag of {output:?}");
    }
    let seqs: Vec<u64> = outputs.iter().map(|s| s.seq).collect();
    for seq in 1..=6 {
        assert!(seqs.contains(&seq), "no output for command {seq}: {outputs:#?}");
    }
    for (seq, account) in [(1, 1), (2, 2)] {
        assert!(
            outputs
                .iter()
                .any(|s| s.seq == seq && s.output == Output::AccountSet { account: AccountId(account) }),
            "no AccountSet for command {seq}"
        );
    }
    for seq in [3, 4] {
        assert!(
            outputs.iter().any(|s| s.seq == seq
                && matches!(s.output, Output::Transfer { state: TransferState::Deposited, .. })),
            "no deposit for command {seq}"
        );
    }

    let trades: Vec<usize> = (0..outputs.len())
        .filter(|&i| matches!(outputs[i].output, Output::Book(Event { kind: EventKind::Trade { .. }, .. })))
        .collect();
    assert_eq!(trades.len(), 1, "one trade expected: {outputs:#?}");
    let trade = outputs[trades[0]];
    assert_eq!((trade.seq, trade.origin), (6, 106), "the trade belongs to the incoming buy");
    let Output::Book(Event {
        kind: EventKind::Trade { trade_id, price, qty, maker_order_id, taker_order_id, .. },
        ..
    }) = trade.output
    else {
        unreachable!()
    };
    assert_eq!((price.0, qty.0), (10_000, 10));
    assert_eq!((maker_order_id, taker_order_id), (OrderId(5), OrderId(6)), "order ids are the seqs");
    let settlement = outputs[trades[0] + 1..]
        .iter()
        .find(|s| matches!(s.output, Output::Settlement(_)))
        .expect("a settlement after the trade");
    assert_eq!((settlement.seq, settlement.origin), (6, 106));
    let Output::Settlement(settlement) = settlement.output else { unreachable!() };
    assert_eq!(settlement.trade_id, trade_id);
    assert_eq!((settlement.buyer, settlement.seller), (AccountId(1), AccountId(2)));
    assert_eq!((settlement.buy_order, settlement.sell_order), (OrderId(6), OrderId(5)));
    assert_eq!(
        outputs.iter().filter(|s| matches!(s.output, Output::Settlement(_))).count(),
        1,
        "one settlement expected"
    );

    let live = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(live.seq(), 6);
    live.check_ledger().expect("ledger after trading");
    let replay = replayed(&config);
    assert_eq!(replay.seq(), 6);
    assert_eq!(replay.state_hash(), live.state_hash(), "journal replay differs from the live engine");
}

#[test]
fn restart_recovers_the_same_state() {
    let dir = TempDir::new("restart");
    let config = config(dir.path());
    let (pipeline, mut stream, _) = start(&config);
    run(&pipeline, &mut stream, 1, &trading_commands());
    drop(stream);
    let live = pipeline.shutdown().expect("clean shutdown");

    let (pipeline, mut stream, recovery) = start(&config);
    assert_eq!(recovery.last_seq, live.seq());
    assert_eq!((recovery.snapshot_seq, recovery.replayed, recovery.truncated_bytes), (None, 6, 0));
    assert!(recovery.snapshots_rejected.is_empty());
    let stats = pipeline.stats();
    for counter in [&stats.applied, &stats.written, &stats.durable] {
        assert_eq!(counter.load(Ordering::Acquire), 6, "counters start at the recovered seq");
    }
    // Nothing is released again: outputs of recovered commands were already
    // delivered before the restart.
    assert_eq!(stream.poll(usize::MAX, |s| panic!("replayed output released: {s:?}")), 0);
    let recovered = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(recovered.state_hash(), live.state_hash(), "recovered state differs");

    // Sequence numbers continue across the restart (and order ids with them).
    let (pipeline, mut stream, recovery) = start(&config);
    assert_eq!(recovery.last_seq, 6);
    let outputs = run(&pipeline, &mut stream, 7, &[limit(2, Side::Sell, 10_100, 1)]);
    assert!(!outputs.is_empty() && outputs.iter().all(|s| s.seq == 7 && s.origin == 107), "{outputs:#?}");
    assert!(
        outputs.iter().any(|s| matches!(
            s.output,
            Output::Book(Event { kind: EventKind::Accepted { order_id: OrderId(7), .. }, .. })
        )),
        "{outputs:#?}"
    );
    let live = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(replayed(&config).state_hash(), live.state_hash());
}

#[test]
fn snapshot_then_restart_replays_only_the_tail() {
    let dir = TempDir::new("snapshot");
    let config = config(dir.path());
    let (pipeline, mut stream, _) = start(&config);
    run(&pipeline, &mut stream, 1, &trading_commands());
    let snapshot_seq = snapshot(&pipeline, 1);
    assert_eq!(snapshot_seq, 6);
    assert_eq!(snapshot_files(&config).len(), 1);
    let tail =
        [limit(1, Side::Buy, 9_990, 3), limit(2, Side::Sell, 9_990, 2), limit(2, Side::Sell, 10_050, 4)];
    run(&pipeline, &mut stream, 7, &tail);
    let live = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(live.seq(), 9);

    let (pipeline, _stream, recovery) = start(&config);
    assert_eq!(recovery.snapshot_seq, Some(6));
    assert_eq!(recovery.replayed, 3, "only the tail after the snapshot is replayed");
    assert_eq!(recovery.last_seq, 9);
    assert!(recovery.snapshots_rejected.is_empty(), "{:?}", recovery.snapshots_rejected);
    let recovered = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(recovered.state_hash(), live.state_hash(), "snapshot + tail differs from the live engine");
    assert_eq!(replayed(&config).state_hash(), live.state_hash(), "full replay differs");
}

#[test]
fn damaged_snapshot_is_skipped() {
    let dir = TempDir::new("damaged");
    let config = config(dir.path());
    let (pipeline, mut stream, _) = start(&config);
    run(&pipeline, &mut stream, 1, &trading_commands());
    assert_eq!(snapshot(&pipeline, 1), 6);
    run(&pipeline, &mut stream, 7, &[limit(1, Side::Buy, 9_990, 3), limit(2, Side::Sell, 9_990, 2)]);
    assert_eq!(snapshot(&pipeline, 2), 8);
    run(&pipeline, &mut stream, 9, &[limit(2, Side::Sell, 10_050, 4)]);
    let live = pipeline.shutdown().expect("clean shutdown");
    let files = snapshot_files(&config);
    assert_eq!(files.len(), 2, "{files:?}");

    // The newest is damaged: recovery falls back to the older one.
    flip_byte(&files[1], 0.5);
    let (pipeline, _stream, recovery) = start(&config);
    assert_eq!(recovery.snapshots_rejected.len(), 1, "{:?}", recovery.snapshots_rejected);
    assert_eq!(recovery.snapshot_seq, Some(6));
    assert_eq!((recovery.replayed, recovery.last_seq), (3, 9));
    let recovered = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(recovered.state_hash(), live.state_hash(), "older snapshot + tail differs");

    // Both damaged (one in its header): the whole journal is replayed.
    flip_byte(&files[0], 0.0);
    let (pipeline, _stream, recovery) = start(&config);
    assert_eq!(recovery.snapshots_rejected.len(), 2, "{:?}", recovery.snapshots_rejected);
    assert_eq!(recovery.snapshot_seq, None);
    assert_eq!((recovery.replayed, recovery.last_seq), (9, 9));
    let recovered = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(recovered.state_hash(), live.state_hash(), "full replay differs");
}

#[test]
fn backpressure_refuses_but_never_loses_an_accepted_command() {
    let dir = TempDir::new("backpressure");
    let mut config = config(dir.path());
    config.inbound_capacity = 4;
    config.durability = Durability::Never;
    let (pipeline, mut stream, _) = start(&config);
    const THREADS: u64 = 2;
    const ATTEMPTS: u64 = 20_000;
    let submitters: Vec<_> = (0..THREADS)
        .map(|thread| {
            let submitter = pipeline.submitter();
            std::thread::spawn(move || {
                let (mut accepted, mut refused) = (Vec::new(), 0u64);
                let started = Instant::now();
                let mut attempt = 0;
                // Keep going until refused at least once (bounded in time).
                while attempt < ATTEMPTS || (refused == 0 && started.elapsed() < Duration::from_secs(5)) {
                    let origin = ((thread + 1) << 32) | attempt;
                    // An order from an unknown account: refused by risk, one
                    // output each, so every sequenced command is visible.
                    match submitter.submit(origin, limit(999, Side::Buy, 10_000, 1)) {
                        Ok(()) => accepted.push(origin),
                        Err(Reject::Backpressure) => refused += 1,
                        Err(other) => panic!("unexpected refusal {other:?}"),
                    }
                    attempt += 1;
                }
                (accepted, refused)
            })
        })
        .collect();

    // Consume while they submit, so the output ring never limits the test.
    let mut outputs = Vec::new();
    while !submitters.iter().all(|h| h.is_finished()) {
        stream.poll(usize::MAX, |s| outputs.push(*s));
        std::thread::yield_now();
    }
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for handle in submitters {
        let (ok, no) = handle.join().expect("submitter thread");
        accepted.extend(ok);
        refused += no;
    }
    let total = accepted.len() as u64;
    outputs.extend(drain(&pipeline, &mut stream, total));
    assert!(refused > 0, "a 4-slot ring was never full: back-pressure not exercised");
    assert_eq!(pipeline.stats().backpressure.load(Ordering::Relaxed), refused, "refusals counted");

    let mut seq_of: HashMap<u64, u64> = HashMap::new();
    let mut origin_of: BTreeMap<u64, u64> = BTreeMap::new();
    for s in &outputs {
        assert!(
            *seq_of.entry(s.origin).or_insert(s.seq) == s.seq,
            "origin {:#x} has two seqs: {} and {}",
            s.origin,
            seq_of[&s.origin],
            s.seq
        );
        assert!(*origin_of.entry(s.seq).or_insert(s.origin) == s.origin, "seq {} has two origins", s.seq);
    }
    assert_eq!(seq_of.len() as u64, total, "accepted {total} commands, {} sequenced", seq_of.len());
    for origin in &accepted {
        assert!(seq_of.contains_key(origin), "accepted command {origin:#x} was lost");
    }
    assert_eq!(
        origin_of.keys().copied().collect::<Vec<_>>(),
        (1..=total).collect::<Vec<_>>(),
        "seqs contiguous"
    );
    // Each thread's commands are sequenced in the order it submitted them.
    for thread in 1..=THREADS {
        let seqs: Vec<u64> = accepted.iter().filter(|o| *o >> 32 == thread).map(|o| seq_of[o]).collect();
        assert!(seqs.windows(2).all(|w| w[0] < w[1]), "thread {thread}'s commands reordered");
    }

    let submitter = pipeline.submitter();
    let engine = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(engine.seq(), total);
    assert_eq!(
        submitter.submit(1, Command::Tick),
        Err(Reject::Backpressure),
        "a stopped pipeline accepts nothing"
    );
}

/// Regression: a command accepted (`Ok`) by `submit` while `shutdown` ran
/// was sometimes never sequenced: the submitter passed the stop check, the
/// engine saw the ring empty and exited, then the push landed in a ring no
/// one would read again. Every accepted command must be sequenced; every
/// other one refused.
#[test]
fn submits_racing_shutdown_are_sequenced_or_refused() {
    for round in 0..100 {
        let dir = TempDir::new("race");
        let mut config = config(dir.path());
        config.durability = Durability::Never;
        // A small output ring, so that this round certainly fills it.
        config.outbound_capacity = 1 << 8;
        let (pipeline, mut stream, _) = start(&config);
        // Every Tick has an output (`Ticked`): a consumer must drain them,
        // as the router does, or a full output ring holds the engine (and
        // shutdown) forever.
        let consumer = std::thread::spawn(move || {
            while !stream.finished() {
                stream.poll(usize::MAX, |_| {});
                stream.wait();
            }
        });
        let stop = Arc::new(AtomicBool::new(false));
        let submitters: Vec<_> = (0..2)
            .map(|_| {
                let submitter = pipeline.submitter();
                let stop = stop.clone();
                std::thread::spawn(move || {
                    let mut accepted = 0u64;
                    while !stop.load(Ordering::Acquire) {
                        if submitter.submit(0, Command::Tick).is_ok() {
                            accepted += 1;
                        }
                    }
                    accepted
                })
            })
            .collect();
        std::thread::sleep(Duration::from_micros(200));
        let submitter = pipeline.submitter();
        let engine = pipeline.shutdown().expect("clean shutdown");
        stop.store(true, Ordering::Release);
        let accepted: u64 = submitters.into_iter().map(|h| h.join().expect("submitter thread")).sum();
        consumer.join().expect("consumer thread");
        assert_eq!(engine.seq(), accepted, "round {round}: accepted {accepted}, sequenced {}", engine.seq());
        assert_eq!(
            submitter.submit(1, Command::Tick),
            Err(Reject::Backpressure),
            "a stopped pipeline accepts nothing"
        );
    }
}

#[test]
fn poll_never_releases_beyond_durable() {
    let dir = TempDir::new("durable");
    let mut config = config(dir.path());
    config.durability = Durability::Always;
    let (pipeline, mut stream, _) = start(&config);
    let setup = trading_commands();
    let submitter = pipeline.submitter();
    const COMMANDS: u64 = 3_000;
    let feeder = std::thread::spawn(move || {
        let mut rng = 0x1234_5678_9ABC_DEF0u64;
        for seq in 1..=COMMANDS {
            let command = match setup.get(seq as usize - 1) {
                Some(command) => *command,
                None => {
                    rng ^= rng << 13;
                    rng ^= rng >> 7;
                    rng ^= rng << 17;
                    let side = if rng & 1 == 0 { Side::Buy } else { Side::Sell };
                    let account = if side == Side::Buy { 1 } else { 2 };
                    limit(account, side, 9_980 + (rng >> 8) as i64 % 40, 1 + (rng >> 16) as i64 % 5)
                }
            };
            while submitter.submit(seq, command).is_err() {
                std::thread::yield_now();
            }
            // Bursts, so that many polls find something to release.
            if seq % 50 == 0 {
                std::thread::sleep(Duration::from_micros(200));
            }
        }
    });

    let deadline = Instant::now() + TIMEOUT;
    let (mut released, mut polls, mut lagging) = (0u64, 0u64, 0u64);
    while released < COMMANDS {
        let mut highest = 0;
        let mut count = 0;
        stream.poll(usize::MAX, |s| {
            assert_eq!(s.origin, s.seq, "origin tag");
            assert!(s.seq >= released, "out of order: {} after {released}", s.seq);
            highest = highest.max(s.seq);
            count += 1;
        });
        let durable = pipeline.stats().durable.load(Ordering::Acquire);
        assert!(highest <= durable, "released output of command {highest} with only {durable} durable");
        if pipeline.stats().applied.load(Ordering::Acquire) > durable {
            lagging += 1;
        }
        released = released.max(highest);
        polls += u64::from(count > 0);
        assert!(Instant::now() < deadline, "only {released} of {COMMANDS} released in {TIMEOUT:?}");
        std::thread::yield_now();
    }
    feeder.join().expect("feeder thread");
    assert!(polls > 0);
    eprintln!("{polls} polls released outputs; durable lagged applied at {lagging} polls");
    let live = pipeline.shutdown().expect("clean shutdown");
    live.check_ledger().expect("ledger");
    assert_eq!(live.seq(), COMMANDS);
    assert_eq!(replayed(&config).state_hash(), live.state_hash());
}

#[test]
fn each_command_ends_with_one_last_output_and_the_taps_count_them() {
    let dir = TempDir::new("tap");
    let mut config = config(dir.path());
    config.tap_capacity = 1 << 10;
    config.taps = 2;
    let (mut pipeline, mut stream, _) = start(&config);
    let mut tap = pipeline.take_command_tap().expect("tap enabled");
    let mut second = pipeline.take_command_tap().expect("two taps");
    assert!(pipeline.take_command_tap().is_none(), "each tap is handed out once");
    let mut commands = trading_commands();
    commands.push(Command::Tick);
    commands.push(Command::EndOfSession);
    commands.push(Command::MassCancel { instrument: None, account: Some(AccountId(1)) });
    let outputs = run(&pipeline, &mut stream, 1, &commands);

    let mut tapped = Vec::new();
    let deadline = Instant::now() + TIMEOUT;
    while tapped.len() < commands.len() {
        tap.poll(usize::MAX, |t| tapped.push(*t));
        assert!(Instant::now() < deadline, "tap gave {} of {} commands", tapped.len(), commands.len());
        std::thread::sleep(Duration::from_millis(1));
    }
    for (at, t) in tapped.iter().enumerate() {
        let seq = at as u64 + 1;
        assert_eq!((t.sequenced.seq, t.origin, t.sequenced.command), (seq, 100 + seq, commands[at]));
        let mine: Vec<&Stamped> = outputs.iter().filter(|s| s.seq == seq).collect();
        assert_eq!(t.outputs as usize, mine.len(), "output count of command {seq}");
        let lasts: Vec<bool> = mine.iter().map(|s| s.last).collect();
        if let Some((final_one, rest)) = lasts.split_last() {
            assert!(*final_one && rest.iter().all(|l| !l), "command {seq}: last flags {lasts:?}");
        }
    }
    let mut twice = Vec::new();
    second.poll(usize::MAX, |t| twice.push(*t));
    assert_eq!(twice, tapped, "every tap sees every command");
    let tick: Vec<Output> = outputs.iter().filter(|s| s.seq == 7).map(|s| s.output).collect();
    assert_eq!(tick, [Output::Ticked], "a tick with nothing due says only that time passed");
    assert_eq!(tapped[7].outputs, 0, "an end of session with no day order has no outputs");
    assert!(tapped[8].outputs >= 1, "a mass cancel always answers (one report per book)");
    let _ = pipeline.shutdown().expect("clean shutdown");
    assert!(tap.finished() && stream.finished());
}

#[test]
fn queries_read_the_engine_at_a_command_boundary() {
    let dir = TempDir::new("query");
    let config = config(dir.path());
    let (pipeline, mut stream, _) = start(&config);
    let commands = trading_commands();
    run(&pipeline, &mut stream, 1, &commands);
    let (tx, rx) = std::sync::mpsc::channel();
    pipeline
        .submitter()
        .query(Box::new(move |engine: &Engine| {
            let _ = tx.send((
                engine.seq(),
                engine.balance(AccountId(1), BTC),
                engine.balance(AccountId(2), USDT),
            ));
        }))
        .expect("query queued");
    let (seq, buyer_btc, seller_usdt) = rx.recv_timeout(TIMEOUT).expect("query answered");
    assert_eq!(seq, 6, "the answer reflects every applied command");
    assert!(
        buyer_btc.available > 0 && seller_usdt.available > 0,
        "the trade settled: {buyer_btc:?} {seller_usdt:?}"
    );
    let engine = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(engine.balance(AccountId(1), BTC), buyer_btc);
    assert_eq!(engine.balance(AccountId(2), USDT), seller_usdt);
}

/// Replay reads ahead in batches on another thread; it must still hand the
/// engine every record once, in order, stop exactly at `until`, and resume
/// from where the engine stands.
#[test]
fn replay_across_many_read_ahead_batches_stops_at_until_and_resumes() {
    let dir = TempDir::new("replay-batches");
    let config = config(dir.path());
    let (pipeline, mut stream, _) = start(&config);
    let mut commands = trading_commands();
    commands.extend(std::iter::repeat_n(Command::Tick, 10_000));
    run(&pipeline, &mut stream, 1, &commands);
    drop(stream);
    let live = pipeline.shutdown().expect("clean shutdown");
    let total = commands.len() as u64;

    let mut engine = Engine::new(EngineConfig::demo()).expect("demo configuration");
    let mut seen = Vec::new();
    let replayed = venue_pipeline::replay_with(&config.journal_dir(), &mut engine, 5_000, |s, outputs| {
        seen.push(s.seq);
        assert!(!outputs.is_empty(), "every command here has outputs");
    })
    .expect("first part replays");
    assert_eq!((replayed, engine.seq()), (5_000, 5_000));
    assert!(seen.iter().copied().eq(1..=5_000), "each record once, in order");
    let rest = venue_pipeline::replay(&config.journal_dir(), &mut engine).expect("the rest replays");
    assert_eq!((rest, engine.seq()), (total - 5_000, total));
    assert_eq!(engine.state_hash(), live.state_hash(), "replayed in two parts, the same state");
    assert_eq!(venue_pipeline::replay(&config.journal_dir(), &mut engine).expect("nothing left"), 0);
}

/// The CPUs a thread of this process may run on, by thread name, from
/// `/proc` (what the kernel enforces, not what the pipeline believes).
fn allowed_cpus_by_thread() -> Vec<(String, String)> {
    let mut threads = Vec::new();
    for entry in std::fs::read_dir("/proc/self/task").expect("procfs") {
        let dir = entry.expect("task").path();
        let name = std::fs::read_to_string(dir.join("comm")).unwrap_or_default().trim().to_string();
        let status = std::fs::read_to_string(dir.join("status")).unwrap_or_default();
        let cpus = status
            .lines()
            .find_map(|l| l.strip_prefix("Cpus_allowed_list:"))
            .unwrap_or_default()
            .trim()
            .to_string();
        threads.push((name, cpus));
    }
    threads
}

#[test]
fn an_engine_core_is_the_engine_threads_alone_and_trading_goes_on() {
    let Some(core) = venue_pipeline::affinity::spare_core() else {
        eprintln!("SKIPPED: this process may run on one CPU only; there is no core to give the engine");
        return;
    };
    let dir = TempDir::new("core");
    let mut config = config(dir.path());
    config.engine_core = Some(core);
    let (pipeline, mut stream, _) = start(&config);
    let outputs = run(&pipeline, &mut stream, 1, &trading_commands());
    assert!(!outputs.is_empty());
    // Other tests of this binary run pipelines of their own at the same
    // time, with threads of the same names, none pinned; only this one
    // gives its engine a core. Each thread names and places itself as it
    // starts, so wait (bounded) for this pipeline's to show.
    let on_core = |cpus: &str| {
        cpus.split(',').any(|part| match part.split_once('-') {
            Some((a, b)) => (a.parse().unwrap_or(usize::MAX)..=b.parse().unwrap_or(0)).contains(&core),
            None => part.parse() == Ok(core),
        })
    };
    let placed = |threads: &[(String, String)]| {
        let pinned = threads.iter().any(|(n, c)| n == "venue-engine" && *c == core.to_string());
        let kept_off = ["venue-journal", "venue-snapshot"]
            .iter()
            .all(|other| threads.iter().any(|(n, c)| n == other && !on_core(c)));
        pinned && kept_off
    };
    let deadline = Instant::now() + TIMEOUT;
    let mut threads = allowed_cpus_by_thread();
    while !placed(&threads) && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(5));
        threads = allowed_cpus_by_thread();
    }
    assert!(placed(&threads), "engine not pinned to CPU {core}, or journal/snapshot on it: {threads:?}");
    drop(stream);
    let live = pipeline.shutdown().expect("clean shutdown");
    assert_eq!(replayed(&config).state_hash(), live.state_hash());

    // A CPU the process may not use is refused before anything starts.
    config.engine_core = Some(4096);
    let refused = Pipeline::start(config.clone(), EngineConfig::demo()).err().expect("refused");
    assert!(refused.to_string().contains("engine core 4096"), "{refused}");
}
