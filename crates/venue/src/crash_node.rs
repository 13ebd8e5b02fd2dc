//! `venue crash-node` (hidden): the process the crash test kills.
//!
//! It recovers from its data directory, prints what recovery found, then
//! sends seeded random commands through the real pipeline (fsync group
//! commit by default) and prints `ack N` whenever outputs up to command `N`
//! have been released as durable. The test kills it with SIGKILL at random
//! moments and checks, after each restart, that every acknowledged command
//! survived. With `--verify` it instead proves that snapshot + tail replay
//! and a full replay of the journal give the same state hash.

use std::io::Write;
use std::path::Path;
use std::process::ExitCode;
use std::time::{Duration, Instant};
use venue_bench::workload::SplitMix;
use venue_domain::{AccountId, InstrumentId, OrderId, Side, TimeInForce};
use venue_engine::{AccountLimits, AssetId, Command, Engine, EngineConfig};
use venue_matching::{CancelOrder, NewOrder, OrderRef};
use venue_pipeline::{Durability, Pipeline, PipelineConfig};

const ACCOUNTS: u32 = 20;

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn pipeline_config(dir: &Path, durability: Durability) -> PipelineConfig {
    let mut config = PipelineConfig::new(dir);
    config.durability = durability;
    config.snapshot_every = 5_000;
    config.segment_bytes = 1 << 20;
    config
}

/// Recovers twice (snapshot + tail, then journal only) and compares.
pub fn verify(dir: &Path) -> ExitCode {
    let config = pipeline_config(dir, Durability::Never);
    let engine_config = EngineConfig::demo();
    let (engine, journal, recovery) = match venue_pipeline::recover(&config, engine_config.clone()) {
        Ok(recovered) => recovered,
        Err(error) => {
            eprintln!("venue: recovery failed: {error}");
            return ExitCode::FAILURE;
        }
    };
    drop(journal);
    let mut full = Engine::new(engine_config).expect("demo configuration is valid");
    if let Err(error) = venue_pipeline::replay(&config.journal_dir(), &mut full) {
        eprintln!("venue: full replay failed: {error}");
        return ExitCode::FAILURE;
    }
    let (a, b) = (engine.state_hash(), full.state_hash());
    println!(
        "verify snapshot={:?} last_seq={} full_seq={} hash={} full_hash={} ledger={:?}",
        recovery.snapshot_seq,
        engine.seq(),
        full.seq(),
        hex(&a),
        hex(&b),
        full.check_ledger()
    );
    if a == b && engine.seq() == full.seq() && full.check_ledger().is_ok() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

fn random_command(rng: &mut SplitMix, last_seq: u64) -> Command {
    let account = AccountId(1 + rng.below(u64::from(ACCOUNTS)) as u32);
    let instrument = InstrumentId(rng.below(2) as u32);
    let side = if rng.percent(50) { Side::Buy } else { Side::Sell };
    match rng.below(100) {
        0..=59 => {
            let price = 10_000 + rng.range(-50, 50);
            let mut order = NewOrder::limit(0, account.0, side, price, rng.range(1, 50));
            order.instrument = instrument;
            if rng.percent(20) {
                order.tif = TimeInForce::Ioc;
            }
            Command::NewOrder(order)
        }
        60..=64 => {
            let mut order = NewOrder::market(0, account.0, side, rng.range(1, 20));
            order.instrument = instrument;
            Command::NewOrder(order)
        }
        65..=94 => {
            let target = OrderId(last_seq.saturating_sub(rng.below(200)).max(1));
            Command::Cancel(CancelOrder { instrument, target: OrderRef::Id(target), account: None })
        }
        95..=96 => Command::Deposit {
            transfer_id: rng.next_u64(),
            account,
            asset: AssetId(rng.below(3) as u32),
            amount: rng.range(1, 1_000_000),
        },
        97 => Command::WithdrawPending {
            transfer_id: rng.next_u64(),
            account,
            asset: AssetId(rng.below(3) as u32),
            amount: rng.range(1, 1_000),
        },
        _ => Command::Tick,
    }
}

/// Runs until killed, or until `max_commands` have been acknowledged.
pub fn run(dir: &Path, seed: u64, durability: Durability, max_commands: Option<u64>) -> ExitCode {
    let (pipeline, mut streams, recovery) =
        match Pipeline::start(pipeline_config(dir, durability), EngineConfig::demo()) {
            Ok(started) => started,
            Err(error) => {
                eprintln!("venue: start failed: {error}");
                return ExitCode::FAILURE;
            }
        };
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(
        stdout,
        "recovered last_seq={} replayed={} snapshot={:?} truncated={}",
        recovery.last_seq, recovery.replayed, recovery.snapshot_seq, recovery.truncated_bytes
    );
    let _ = stdout.flush();
    let submitter = pipeline.submitter();
    let mut out = streams.remove(0);
    let mut rng = SplitMix::new(seed ^ recovery.last_seq.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut pending: std::collections::VecDeque<Command> = std::collections::VecDeque::new();
    if recovery.last_seq == 0 {
        for account in 1..=ACCOUNTS {
            let account = AccountId(account);
            pending.push_back(Command::SetAccount { account, tier: 0, limits: AccountLimits::default() });
            for asset in 0..3 {
                pending.push_back(Command::Deposit {
                    transfer_id: u64::from(account.0) * 10 + asset,
                    account,
                    asset: AssetId(asset as u32),
                    amount: 1_000_000_000_000_000,
                });
            }
        }
    }
    let mut acked = recovery.last_seq;
    let mut printed = acked;
    let mut last_print = Instant::now();
    let mut submitted = recovery.last_seq;
    loop {
        while submitter.queued() < 256 {
            let command = pending.pop_front().unwrap_or_else(|| random_command(&mut rng, submitted));
            if submitter.submit(0, command).is_err() {
                pending.push_front(command);
                break;
            }
            submitted += 1;
        }
        out.poll(4096, |s| acked = acked.max(s.seq));
        if acked > printed && last_print.elapsed() >= Duration::from_millis(1) {
            let _ = writeln!(stdout, "ack {acked}");
            let _ = stdout.flush();
            printed = acked;
            last_print = Instant::now();
        }
        if max_commands.is_some_and(|max| acked >= recovery.last_seq + max) {
            break;
        }
        std::thread::yield_now();
    }
    drop(out);
    match pipeline.shutdown() {
        Ok(engine) => {
            let _ = writeln!(stdout, "stopped last_seq={} ledger={:?}", engine.seq(), engine.check_ledger());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("venue: shutdown: {error}");
            ExitCode::FAILURE
        }
    }
}
