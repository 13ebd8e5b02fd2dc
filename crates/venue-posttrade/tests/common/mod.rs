//! Shared by the post-trade tests: a seeded order flow, a pipeline in a
//! temporary directory with the sink on its tap, and database dumps.

#![allow(dead_code)]

use postgres::Client;
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use venue_domain::{AccountId, InstrumentId, OrderId, Price, Qty, Reject, Side, TimeInForce, Timestamp};
use venue_engine::{AccountLimits, AssetId, Command, Engine, EngineConfig, Output, Sequenced};
use venue_matching::{AmendOrder, CancelOrder, EventKind, NewOrder, OrderRef};
use venue_pipeline::{Durability, Pipeline, PipelineConfig};
use venue_posttrade::rows::{Batch, Mapper};
use venue_posttrade::sink::{SinkConfig, SinkExit, SinkStatus};

pub const TIMEOUT: Duration = Duration::from_secs(20);
pub const BTC: AssetId = AssetId(0);
pub const ETH: AssetId = AssetId(1);
pub const USDT: AssetId = AssetId(2);
/// Members; account 0 is the fee account.
pub const ACCOUNTS: [u32; 4] = [1, 2, 3, 4];

/// xorshift64*: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.max(1))
    }
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

/// A seeded flow of commands: crossing limit orders on both demo
/// instruments, market orders, cancels, amends, deposits and two-phase
/// withdrawals (posted or voided), some of them refused. It tracks sequence
/// numbers (commands are submitted in order from one thread) to name
/// earlier orders and withdrawals.
pub struct Flow {
    rng: Rng,
    /// Sequence number the next command will get.
    pub next_seq: u64,
    orders: Vec<(u64, InstrumentId, u32)>,
    pending: Vec<u64>,
    next_transfer: u64,
}

impl Flow {
    /// A flow whose first command gets `first_seq`; transfer ids start from
    /// `first_seq * 1000` so flows after a restart do not collide.
    pub fn new(seed: u64, first_seq: u64) -> Flow {
        Flow {
            rng: Rng::new(seed),
            next_seq: first_seq,
            orders: Vec::new(),
            pending: Vec::new(),
            next_transfer: first_seq * 1000 + 1,
        }
    }

    fn transfer(&mut self) -> u64 {
        self.next_transfer += 1;
        self.next_transfer
    }

    /// Accounts 1..=4 (4 on the free tier) and their deposits.
    pub fn setup(&mut self) -> Vec<Command> {
        let mut commands = Vec::new();
        for account in ACCOUNTS {
            let tier = u16::from(account == 4);
            commands.push(Command::SetAccount {
                account: AccountId(account),
                tier,
                limits: AccountLimits::default(),
            });
        }
        for account in ACCOUNTS {
            for (asset, amount) in [(USDT, 100_000_000_000_000), (BTC, 500_000_000), (ETH, 10_000_000_000)] {
                let transfer_id = self.transfer();
                commands.push(Command::Deposit { transfer_id, account: AccountId(account), asset, amount });
            }
        }
        self.next_seq += commands.len() as u64;
        commands
    }

    pub fn next(&mut self) -> Command {
        let seq = self.next_seq;
        self.next_seq += 1;
        let account = ACCOUNTS[self.rng.below(4) as usize];
        let instrument = InstrumentId(self.rng.below(2) as u32);
        let mid = if instrument.0 == 0 { 3_000_000 } else { 200_000 };
        let side = if self.rng.below(2) == 0 { Side::Buy } else { Side::Sell };
        let roll = self.rng.below(100);
        match roll {
            0..55 => {
                let offset = self.rng.below(20) as i64;
                let price = match side {
                    Side::Buy => mid + offset - 8,
                    Side::Sell => mid - offset + 8,
                };
                let mut order = NewOrder::limit(0, account, side, price, 1 + self.rng.below(40) as i64);
                order.instrument = instrument;
                if self.rng.below(5) == 0 {
                    order.tif = TimeInForce::Ioc;
                }
                self.orders.push((seq, instrument, account));
                Command::NewOrder(order)
            }
            55..63 => {
                let mut order = NewOrder::market(0, account, side, 1 + self.rng.below(10) as i64);
                order.instrument = instrument;
                self.orders.push((seq, instrument, account));
                Command::NewOrder(order)
            }
            63..78 if !self.orders.is_empty() => {
                let (order_id, instrument, account) =
                    self.orders[self.rng.below(self.orders.len() as u64) as usize];
                Command::Cancel(CancelOrder {
                    instrument,
                    target: OrderRef::Id(OrderId(order_id)),
                    account: Some(AccountId(account)),
                })
            }
            78..83 if !self.orders.is_empty() => {
                let (order_id, instrument, account) =
                    self.orders[self.rng.below(self.orders.len() as u64) as usize];
                let mid = if instrument.0 == 0 { 3_000_000 } else { 200_000 };
                Command::Amend(AmendOrder {
                    instrument,
                    target: OrderRef::Id(OrderId(order_id)),
                    account: Some(AccountId(account)),
                    new_price: Price(mid + self.rng.below(10) as i64 - 5),
                    new_qty: if self.rng.below(2) == 0 {
                        None
                    } else {
                        Some(Qty(1 + self.rng.below(40) as i64))
                    },
                    // Half of them name the order anew, as a FIX
                    // cancel/replace does.
                    new_client_order_id: venue_domain::ClientOrderId(seq * self.rng.below(2)),
                })
            }
            83..88 => {
                let transfer_id = self.transfer();
                let asset = [BTC, ETH, USDT][self.rng.below(3) as usize];
                Command::Deposit {
                    transfer_id,
                    account: AccountId(account),
                    asset,
                    amount: 1 + self.rng.below(1_000_000) as i64,
                }
            }
            88..94 => {
                let transfer_id = self.transfer();
                let asset = [BTC, ETH, USDT][self.rng.below(3) as usize];
                self.pending.push(transfer_id);
                // Now and then far too much: refused, and its post later too.
                let amount =
                    if self.rng.below(10) == 0 { i64::MAX / 2 } else { 1 + self.rng.below(5_000_000) as i64 };
                Command::WithdrawPending { transfer_id, account: AccountId(account), asset, amount }
            }
            94..100 if !self.pending.is_empty() => {
                let transfer_id =
                    self.pending.swap_remove(self.rng.below(self.pending.len() as u64) as usize);
                if self.rng.below(3) == 0 {
                    Command::WithdrawVoid { transfer_id }
                } else {
                    Command::WithdrawPost { transfer_id }
                }
            }
            _ => Command::Tick,
        }
    }

    pub fn take(&mut self, n: usize) -> Vec<Command> {
        (0..n).map(|_| self.next()).collect()
    }
}

/// Applies `commands` to `engine` at `time`, one nanosecond apart, and
/// returns each with its outputs.
pub fn apply(engine: &mut Engine, commands: &[Command], time: u64) -> Vec<(Sequenced, Vec<Output>)> {
    commands
        .iter()
        .enumerate()
        .map(|(at, &command)| {
            let sequenced = Sequenced { seq: engine.seq() + 1, time: Timestamp(time + at as u64), command };
            let mut outputs = Vec::new();
            engine.apply(&sequenced, &mut outputs);
            (sequenced, outputs)
        })
        .collect()
}

/// The rows of `applied` as one batch.
pub fn batch(mapper: &Mapper, applied: &[(Sequenced, Vec<Output>)]) -> Batch {
    let mut batch = Batch::new();
    for (s, outputs) in applied {
        batch.push(mapper.rows(s.seq, s.time, &s.command, outputs));
    }
    batch
}

pub fn pipeline_config(dir: &Path) -> PipelineConfig {
    let mut config = PipelineConfig::new(dir);
    config.durability = Durability::Never;
    config.inbound_capacity = 1 << 10;
    config.journal_capacity = 1 << 10;
    config.outbound_capacity = 1 << 12;
    config.segment_bytes = 1 << 18;
    // Small on purpose: a sink that stopped draining would stall the engine
    // within a few hundred commands, and the tests would notice.
    config.tap_capacity = 256;
    config
}

/// Quick retries, so outage tests take seconds.
pub fn sink_config(url: &str, pipeline: &PipelineConfig) -> SinkConfig {
    let mut config = SinkConfig::new(url, pipeline.clone(), EngineConfig::demo());
    config.batch_commands = 256;
    config.queue_chunks = 4;
    config.backoff_min = Duration::from_millis(20);
    config.backoff_max = Duration::from_millis(200);
    config.breaker_failures = 3;
    config.breaker_cooldown = Duration::from_millis(300);
    config
}

/// A running pipeline with the sink on its tap.
pub struct Venue {
    pub pipeline: Pipeline,
    pub sink: JoinHandle<SinkExit>,
    pub status: Arc<SinkStatus>,
    pub recovered: u64,
}

pub fn start(pipeline_config: &PipelineConfig, sink: SinkConfig) -> Venue {
    let (mut pipeline, mut streams, recovery) =
        Pipeline::start(pipeline_config.clone(), EngineConfig::demo()).expect("pipeline starts");
    let tap = pipeline.take_command_tap().expect("tap enabled");
    let stream = streams.remove(0);
    let status = Arc::new(SinkStatus::new());
    let recovered = recovery.last_seq;
    let sink = {
        let status = status.clone();
        std::thread::spawn(move || venue_posttrade::sink::run(tap, stream, &sink, recovered, status))
    };
    Venue { pipeline, sink, status, recovered }
}

/// Submits, retrying while the inbound ring is full (for at most TIMEOUT:
/// an engine stalled by an undrained tap fails here).
pub fn submit_all(pipeline: &Pipeline, commands: &[Command]) {
    let submitter = pipeline.submitter();
    for command in commands {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            match submitter.submit(0, *command) {
                Ok(()) => break,
                Err(Reject::Backpressure) if Instant::now() < deadline => std::thread::yield_now(),
                Err(other) => panic!("submit {command:?}: {other:?} (engine stalled?)"),
            }
        }
    }
}

/// Waits until the engine has applied and the journal made durable command
/// `seq`.
pub fn wait_durable(pipeline: &Pipeline, seq: u64) {
    wait_until("commands durable", || {
        let stats = pipeline.stats();
        stats.applied.load(Ordering::Acquire) >= seq && stats.durable.load(Ordering::Acquire) >= seq
    });
}

pub fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !done() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Every table the sink writes, as text rows in key order: equal dumps
/// mean equal databases.
pub fn dump(client: &mut Client) -> BTreeMap<&'static str, Vec<String>> {
    let tables = [
        ("sink_progress", "singleton"),
        ("commands", "seq"),
        ("orders", "order_id"),
        ("executions", "seq, idx"),
        ("trades", "instrument, trade_id"),
        ("postings", "seq, idx"),
        ("transfers", "transfer_id"),
        ("transfer_events", "seq"),
    ];
    tables
        .into_iter()
        .map(|(table, key)| {
            let rows = client
                .query(&format!("SELECT t::TEXT FROM {table} t ORDER BY {key}"), &[])
                .unwrap_or_else(|e| panic!("dump {table}: {e}"));
            (table, rows.iter().map(|r| r.get::<_, String>(0)).collect())
        })
        .collect()
}

pub fn last_seq(client: &mut Client) -> u64 {
    venue_posttrade::writer::last_seq(client).expect("read sink_progress")
}

/// Asserts the `commands` table holds exactly 1..=n.
pub fn assert_contiguous(client: &mut Client, n: u64) {
    let row = client
        .query_one("SELECT COUNT(*), COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM commands", &[])
        .unwrap();
    let (count, min, max): (i64, i64, i64) = (row.get(0), row.get(1), row.get(2));
    assert_eq!((count, min, max), (n as i64, 1.min(n as i64), n as i64), "commands must be exactly 1..={n}");
    assert_eq!(last_seq(client), n);
}

/// A trade as both sides can state it: instrument, trade id, buyer, seller,
/// base, quote, buyer fee, seller fee.
pub type TradeFacts = (i64, i64, i64, i64, i64, i64, i64, i64);

/// Every trade of the journal, replayed from scratch.
pub fn journal_trades(pipeline: &PipelineConfig) -> Vec<TradeFacts> {
    let mut engine = Engine::new(EngineConfig::demo()).unwrap();
    let mut trades = Vec::new();
    venue_pipeline::replay_with(&pipeline.journal_dir(), &mut engine, u64::MAX, |_, outputs| {
        for output in outputs {
            if let Output::Settlement(s) = output {
                trades.push((
                    i64::from(s.instrument.0),
                    s.trade_id.0 as i64,
                    i64::from(s.buyer.0),
                    i64::from(s.seller.0),
                    s.base,
                    s.quote,
                    s.buyer_fee,
                    s.seller_fee,
                ));
            }
        }
    })
    .unwrap();
    trades.sort();
    trades
}

/// Every order with a client order id, under the last one it had (a
/// cancel/replace may rename it), by replaying the journal.
pub fn journal_client_ids(pipeline: &PipelineConfig) -> Vec<(i64, i64)> {
    let mut engine = Engine::new(EngineConfig::demo()).unwrap();
    let mut named = BTreeMap::new();
    venue_pipeline::replay_with(&pipeline.journal_dir(), &mut engine, u64::MAX, |_, outputs| {
        for output in outputs {
            if let Output::Book(event) = output {
                match event.kind {
                    EventKind::Accepted { order_id, client_order_id, .. }
                    | EventKind::Amended { order_id, client_order_id, .. } => {
                        named.insert(order_id.0 as i64, client_order_id.0 as i64);
                    }
                    _ => {}
                }
            }
        }
    })
    .unwrap();
    named.into_iter().filter(|&(_, client)| client != 0).collect()
}

pub fn database_client_ids(client: &mut Client) -> Vec<(i64, i64)> {
    client
        .query(
            "SELECT order_id, client_order_id FROM orders WHERE client_order_id <> 0 ORDER BY order_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1)))
        .collect()
}

pub fn database_trades(client: &mut Client) -> Vec<TradeFacts> {
    client
        .query(
            "SELECT instrument, trade_id, buyer, seller, base, quote, buyer_fee, seller_fee FROM trades
             ORDER BY instrument, trade_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3), r.get(4), r.get(5), r.get(6), r.get(7)))
        .collect()
}

/// The database's orders that are still live agree with the engine's live
/// orders (id, leaves, price), and no other order is live in the database.
pub fn assert_live_orders(client: &mut Client, engine: &Engine) {
    let engine_live: Vec<(i64, i64, i64)> =
        engine.export().orders.iter().map(|(id, hold)| (id.0 as i64, hold.leaves.0, hold.price.0)).collect();
    let database_live: Vec<(i64, i64, i64)> = client
        .query(
            "SELECT order_id, leaves, CASE WHEN type IN ('limit', 'stop_limit') THEN price ELSE 0 END FROM orders
             WHERE status IN ('new', 'triggered', 'partially_filled') ORDER BY order_id",
            &[],
        )
        .unwrap()
        .iter()
        .map(|r| (r.get(0), r.get(1), r.get(2)))
        .collect();
    assert_eq!(database_live, engine_live, "live orders in the database vs the engine");
}

/// The per-(account, asset) sums of postings, for accounts 0..=4.
pub fn assert_balances_match(client: &mut Client, engine: &Engine) {
    for account in 0..=4u32 {
        for asset in 0..3u32 {
            let sum: i64 = client
                .query_one(
                    "SELECT COALESCE(SUM(amount), 0)::BIGINT FROM postings WHERE account = $1 AND asset = $2",
                    &[&i64::from(account), &i64::from(asset)],
                )
                .unwrap()
                .get(0);
            let balance = engine.balance(AccountId(account), AssetId(asset));
            assert_eq!(sum, balance.available + balance.held, "account {account} asset {asset}");
        }
    }
}
