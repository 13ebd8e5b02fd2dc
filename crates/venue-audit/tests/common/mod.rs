//! Helpers shared by the audit log's integration tests: throwaway files and a
//! session of real commands with the outputs the real engine gave them.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use venue_audit::{AuditWriter, MaskPolicy};
use venue_domain::{
    AccountId, ClientOrderId, InstrumentId, OrderId, OrderKind, Price, Qty, Side, StpMode, TimeInForce,
    Timestamp, TradingStatus,
};
use venue_engine::{AccountLimits, AssetId, Command, Engine, EngineConfig, Output, Sequenced};
use venue_matching::{AmendOrder, CancelOrder, NewOrder, OrderRef};

/// Accounts of the session. Six digits for the third so that its raw id is
/// unlikely to appear by chance in any other number of the file.
pub const ALICE: u32 = 1042;
pub const BOB: u32 = 7;
pub const CAROL: u32 = 918_273;

/// Every key whose value is an account id, wherever it appears.
pub const ACCOUNT_KEYS: [&str; 5] = ["account", "maker_account", "taker_account", "buyer", "seller"];

const BTC: AssetId = AssetId(0);
const USDT: AssetId = AssetId(2);
const BTC_USDT: InstrumentId = InstrumentId(0);
const START_NS: u64 = 1_700_000_000_000_000_000;

/// A unique file path under the system temp dir, removed on drop.
pub struct TempFile(PathBuf);

impl TempFile {
    pub fn new(name: &str) -> TempFile {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let path =
            std::env::temp_dir().join(format!("venue-audit-test-{name}-{}-{n}.jsonl", std::process::id()));
        let _ = std::fs::remove_file(&path);
        TempFile(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    pub fn bytes(&self) -> Vec<u8> {
        std::fs::read(&self.0).expect("read audit file")
    }

    pub fn lines(&self) -> Vec<Vec<u8>> {
        split_lines(&self.bytes())
    }

    pub fn write_lines(&self, lines: &[Vec<u8>]) {
        let mut bytes = Vec::new();
        for line in lines {
            bytes.extend_from_slice(line);
            bytes.push(b'\n');
        }
        std::fs::write(&self.0, bytes).expect("write audit file");
    }
}

impl Drop for TempFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

/// The lines of a file without their newlines (a torn last line included).
pub fn split_lines(bytes: &[u8]) -> Vec<Vec<u8>> {
    let mut lines: Vec<Vec<u8>> = bytes.split(|&b| b == b'\n').map(<[u8]>::to_vec).collect();
    if lines.last().is_some_and(Vec::is_empty) {
        lines.pop();
    }
    lines
}

/// One audited command.
#[derive(Clone, Debug)]
pub struct Entry {
    pub seq: u64,
    pub time: Timestamp,
    pub origin: u64,
    pub command: Command,
    pub outcome: Vec<Output>,
}

/// A trading session through the real engine (demo configuration): accounts,
/// deposits, resting and crossing orders, an amend, cancels by id and by
/// client id, a stop that triggers, GTD and DAY expiry, a halt, a kill
/// switch, withdrawals posted and voided, and refusals of each kind.
pub fn session() -> Vec<Entry> {
    let mut commands = Vec::new();
    for (account, tier) in [(ALICE, 0), (BOB, 0), (CAROL, 1)] {
        let limits = AccountLimits { max_open_orders: 50, ..AccountLimits::default() };
        commands.push(Command::SetAccount { account: AccountId(account), tier, limits });
    }
    let deposit = |transfer_id, account, asset, amount| Command::Deposit {
        transfer_id,
        account: AccountId(account),
        asset,
        amount,
    };
    commands.push(deposit(1, ALICE, USDT, 10_000_000 * 100_000_000));
    commands.push(deposit(2, BOB, BTC, 50 * 100_000_000));
    commands.push(deposit(3, CAROL, BTC, 50 * 100_000_000));
    commands.push(deposit(4, CAROL, USDT, 10_000_000 * 100_000_000));
    commands.push(deposit(4, CAROL, USDT, 1)); // duplicate transfer id: refused

    // A ladder of resting sells, then buys that cross part of it.
    for (i, price) in [2_700_000, 2_700_100, 2_700_200, 2_700_300].into_iter().enumerate() {
        let mut sell = NewOrder::limit(0, BOB, Side::Sell, price, 5_000);
        sell.client_order_id = ClientOrderId(100 + i as u64);
        commands.push(Command::NewOrder(sell));
    }
    commands.push(Command::NewOrder(NewOrder::limit(0, ALICE, Side::Buy, 2_700_100, 7_000)));
    commands.push(Command::NewOrder(NewOrder::market(0, CAROL, Side::Buy, 1_000).with_budget()));
    // Amend BOB's 2_700_200 sell down (keeps priority), then cancel it by
    // client id, and the next one by order id.
    commands.push(Command::Amend(AmendOrder {
        instrument: BTC_USDT,
        target: OrderRef::Client(AccountId(BOB), ClientOrderId(102)),
        account: Some(AccountId(BOB)),
        new_price: Price(2_700_200),
        new_qty: Some(Qty(4_000)),
        new_client_order_id: ClientOrderId::NONE,
    }));
    commands.push(Command::Cancel(CancelOrder {
        instrument: BTC_USDT,
        target: OrderRef::Client(AccountId(BOB), ClientOrderId(102)),
        account: Some(AccountId(BOB)),
    }));
    commands.push(Command::Cancel(CancelOrder {
        instrument: BTC_USDT,
        target: OrderRef::Id(OrderId(12)),
        account: None,
    }));
    commands.push(Command::Cancel(CancelOrder {
        instrument: BTC_USDT,
        target: OrderRef::Id(OrderId(999)),
        account: Some(AccountId(ALICE)),
    }));
    // A buy stop above the market, then a trade that triggers it.
    let mut stop = NewOrder::limit(0, CAROL, Side::Buy, 2_705_000, 1_000);
    stop.kind = OrderKind::StopLimit;
    stop.stop_price = Price(2_701_000);
    commands.push(Command::NewOrder(stop));
    commands.push(Command::NewOrder(NewOrder::limit(0, BOB, Side::Sell, 2_701_000, 2_000)));
    commands.push(Command::NewOrder(NewOrder::limit(0, ALICE, Side::Buy, 2_701_000, 3_000)));
    // GTD and DAY orders, a tick that expires the GTD one, end of session.
    let mut gtd = NewOrder::limit(0, ALICE, Side::Buy, 2_600_000, 1_000);
    gtd.tif = TimeInForce::Gtd;
    gtd.expire_time = Timestamp(START_NS + 23_500);
    commands.push(Command::NewOrder(gtd));
    let mut day = NewOrder::limit(0, CAROL, Side::Sell, 2_900_000, 1_000);
    day.tif = TimeInForce::Day;
    day.stp = StpMode::CancelBoth;
    commands.push(Command::NewOrder(day));
    commands.push(Command::Tick);
    // Refusals by risk and by the book.
    commands.push(Command::NewOrder(NewOrder::limit(0, 4_444, Side::Buy, 2_700_000, 1)));
    let mut post_only = NewOrder::limit(0, ALICE, Side::Buy, 2_900_000, 1_000);
    post_only.post_only = true;
    commands.push(Command::NewOrder(post_only));
    commands.push(Command::NewOrder(NewOrder::limit(0, BOB, Side::Sell, 2_800_000, 1_000_000_000)));
    // Halt, a refused order, resume.
    commands.push(Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Halted });
    commands.push(Command::NewOrder(NewOrder::limit(0, ALICE, Side::Buy, 2_700_000, 1_000)));
    commands.push(Command::SetStatus { instrument: BTC_USDT, status: TradingStatus::Open });
    // Kill switch: cancels BOB's orders and refuses new ones.
    commands.push(Command::KillSwitch { account: AccountId(BOB), on: true });
    commands.push(Command::NewOrder(NewOrder::limit(0, BOB, Side::Sell, 2_800_000, 1_000)));
    commands.push(Command::KillSwitch { account: AccountId(BOB), on: false });
    // Withdrawals: one posted, one voided, one unknown.
    commands.push(Command::WithdrawPending {
        transfer_id: 10,
        account: AccountId(ALICE),
        asset: USDT,
        amount: 1_000 * 100_000_000,
    });
    commands.push(Command::WithdrawPost { transfer_id: 10 });
    commands.push(Command::WithdrawPending {
        transfer_id: 11,
        account: AccountId(CAROL),
        asset: BTC,
        amount: 100_000_000,
    });
    commands.push(Command::WithdrawVoid { transfer_id: 11 });
    commands.push(Command::WithdrawPost { transfer_id: 12 });
    commands.push(Command::MassCancel { instrument: Some(BTC_USDT), account: Some(AccountId(ALICE)) });
    commands.push(Command::MassCancel { instrument: None, account: None });
    // A DAY order left for the end of the session to expire.
    commands.push(Command::NewOrder(day));
    commands.push(Command::EndOfSession);

    let mut engine = Engine::new(EngineConfig::demo()).expect("demo configuration");
    commands
        .into_iter()
        .enumerate()
        .map(|(i, command)| {
            let seq = i as u64 + 1;
            let time = Timestamp(START_NS + seq * 1_000);
            let mut outcome = Vec::new();
            engine.apply(&Sequenced { seq, time, command }, &mut outcome);
            Entry { seq, time, origin: 50 + seq % 3, command, outcome }
        })
        .collect()
}

/// A market buy with a quote budget, so the stop and budget fields are
/// exercised too.
trait WithBudget {
    fn with_budget(self) -> NewOrder;
}

impl WithBudget for NewOrder {
    fn with_budget(mut self) -> NewOrder {
        self.quote_budget = 2_700_300 * 1_000;
        self
    }
}

/// Writes `entries` through a fresh writer and flushes.
pub fn write_log(path: &Path, entries: &[Entry], policy: MaskPolicy) {
    let mut writer = AuditWriter::open(path, policy).expect("open");
    append_all(&mut writer, entries);
    writer.sync().expect("sync");
}

/// Appends `entries` in order (buffered: nothing is flushed).
pub fn append_all(writer: &mut AuditWriter, entries: &[Entry]) {
    for entry in entries {
        writer.append(entry.seq, entry.time, entry.origin, &entry.command, &entry.outcome).expect("append");
    }
}
