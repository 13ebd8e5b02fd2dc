//! The writer, clearing and reconciliation against a real PostgreSQL
//! server, fed by the engine directly (so times, and therefore days, are
//! chosen by the test).

mod common;

use common::*;
use std::collections::BTreeMap;
use venue_domain::AccountId;
use venue_engine::{AssetId, Engine, EngineConfig};
use venue_posttrade::testing::{PgServer, TempDir};
use venue_posttrade::writer::{Writer, Written};
use venue_posttrade::{Error, ReconError, clearing, reconcile};

const NS: u64 = 1_000_000_000;
/// 2026-11-02T00:00:00Z, 2026-11-03, 2026-11-04.
const DAY1: u64 = 1_793_577_600 * NS;
const DAY2: u64 = 1_793_664_000 * NS;
const DAY3: u64 = 1_793_750_400 * NS;
const HOUR: u64 = 3_600 * NS;

fn engine() -> Engine {
    Engine::new(EngineConfig::demo()).expect("demo configuration")
}

#[test]
fn migrations_are_recorded_once_and_a_newer_schema_or_another_configuration_is_refused() {
    let server = PgServer::start();
    let mut client = server.connect();
    assert_eq!(venue_posttrade::schema::migrate(&mut client).unwrap(), vec![1]);
    assert!(venue_posttrade::schema::migrate(&mut client).unwrap().is_empty());
    drop(Writer::connect(&server.url(), &EngineConfig::demo()).unwrap());

    let mut other = EngineConfig::demo();
    other.fee_tiers[0].taker_bps = 7;
    assert!(matches!(Writer::connect(&server.url(), &other), Err(Error::ConfigMismatch)));

    client.execute("INSERT INTO schema_migrations (version, name) VALUES (99, 'future')", &[]).unwrap();
    let refused = Writer::connect(&server.url(), &EngineConfig::demo());
    assert!(matches!(refused, Err(Error::Schema(_))), "{:?}", refused.err());
}

#[test]
fn writing_the_same_batch_twice_changes_nothing() {
    let server = PgServer::start();
    let whole_url = server.create_database("whole");
    let single_url = server.create_database("single");
    let mut engine = engine();
    let mut flow = Flow::new(41, 1);
    let mut commands = flow.setup();
    commands.extend(flow.take(800));
    let applied = apply(&mut engine, &commands, DAY1);
    let n = applied.len() as u64;

    let mut writer = Writer::connect(&whole_url, &EngineConfig::demo()).unwrap();
    let whole = batch(writer.mapper(), &applied);
    assert_eq!(writer.write(&whole).unwrap(), Written::Applied { last_seq: n });
    let first = dump(writer.client());
    assert_eq!(first["commands"].len() as u64, n);

    // Again: the progress row says it is there; nothing changes.
    assert_eq!(writer.write(&whole).unwrap(), Written::AlreadyPersisted { last_seq: n });
    assert_eq!(dump(writer.client()), first);

    // Behind the progress row's back (reset by hand): the rows are written
    // again, and every insert and upsert leaves them as they were.
    writer.client().execute("UPDATE sink_progress SET last_seq = 0", &[]).unwrap();
    assert_eq!(writer.write(&whole).unwrap(), Written::Applied { last_seq: n });
    assert_eq!(dump(writer.client()), first);
    // Also the second half alone after its own rows (newer order states).
    writer.client().execute("UPDATE sink_progress SET last_seq = $1", &[&(n as i64 / 2)]).unwrap();
    let tail = batch(writer.mapper(), &applied[n as usize / 2..]);
    assert_eq!(writer.write(&tail).unwrap(), Written::Applied { last_seq: n });
    assert_eq!(dump(writer.client()), first);

    // A batch that would leave a hole is refused and changes nothing.
    let later = apply(&mut engine, &flow.take(5), DAY1 + HOUR);
    let hole = batch(writer.mapper(), &later[1..]);
    match writer.write(&hole) {
        Err(Error::Gap { expected, found }) => assert_eq!((expected, found), (n + 1, n + 2)),
        other => panic!("expected a gap, got {other:?}"),
    }
    assert_eq!(dump(writer.client()), first);

    // One command per transaction gives the same database as one batch:
    // merging rows within a batch changes nothing.
    let mut single = Writer::connect(&single_url, &EngineConfig::demo()).unwrap();
    for item in &applied {
        single.write(&batch(single.mapper(), std::slice::from_ref(item))).unwrap();
    }
    assert_eq!(dump(single.client()), first);
}

/// Three days of trading: day one and two with flow, day three one tick.
fn three_days(writer: &mut Writer) -> Engine {
    let mut engine = engine();
    let mut flow = Flow::new(53, 1);
    let mut day1 = flow.setup();
    day1.extend(flow.take(1_000));
    let mut applied = apply(&mut engine, &day1, DAY1 + 9 * HOUR);
    applied.extend(apply(&mut engine, &flow.take(1_000), DAY2 + 9 * HOUR));
    applied.extend(apply(&mut engine, &[venue_engine::Command::Tick], DAY3 + HOUR));
    for chunk in applied.chunks(300) {
        writer.write(&batch(writer.mapper(), chunk)).unwrap();
    }
    engine
}

fn clearing_rows(client: &mut postgres::Client, date: &str) -> Vec<String> {
    let mut rows = Vec::new();
    for (table, key) in [
        ("clearing_runs", "business_date"),
        ("statements", "account, asset"),
        ("obligations", "asset, account"),
        ("fee_income", "asset"),
    ] {
        let query =
            format!("SELECT t::TEXT FROM {table} t WHERE business_date = $1::TEXT::DATE ORDER BY {key}");
        rows.extend(
            client
                .query(&query, &[&date])
                .unwrap()
                .iter()
                .map(|r| format!("{table}: {}", r.get::<_, String>(0))),
        );
    }
    rows
}

#[test]
fn clearing_a_day_twice_gives_identical_files_and_rows_and_balances() {
    let server = PgServer::start();
    let mut writer = Writer::connect(&server.url(), &EngineConfig::demo()).unwrap();
    let engine = three_days(&mut writer);
    let out = TempDir::new("clearing");
    let client = writer.client();

    let first = clearing::run(client, (2026, 11, 2), out.path()).unwrap();
    let first_files: Vec<Vec<u8>> = first.files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    let first_rows = clearing_rows(client, "2026-11-02");
    // Another day in between must not touch this one.
    let second_day = clearing::run(client, (2026, 11, 3), out.path()).unwrap();
    let again = clearing::run(client, (2026, 11, 2), out.path()).unwrap();
    assert_eq!(again, first);
    let again_files: Vec<Vec<u8>> = again.files.iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(again_files, first_files, "re-running a day gives byte-identical files");
    assert_eq!(clearing_rows(client, "2026-11-02"), first_rows, "and identical rows");
    assert_eq!(clearing::run(client, (2026, 11, 3), out.path()).unwrap(), second_day);
    assert!(first.complete && second_day.complete);
    assert_eq!(first.files[0], out.path().join("2026-11-02").join("trades.csv"));

    for report in [&first, &second_day] {
        // Each statement balances.
        for s in &report.statements {
            assert_eq!(
                s.closing,
                s.opening + s.deposits + s.withdrawals + s.bought + s.sold + s.fees + s.fee_income
            );
            assert!(s.deposits >= 0 && s.withdrawals <= 0 && s.bought >= 0 && s.sold <= 0 && s.fees <= 0);
        }
        // Per asset: the members' obligations and the venue's fee income
        // sum to zero; fee income is what the trades say.
        let mut net: BTreeMap<u32, i64> = BTreeMap::new();
        for o in &report.obligations {
            *net.entry(o.asset).or_default() += o.amount;
        }
        for f in &report.fee_income {
            *net.entry(f.asset).or_default() += f.amount;
        }
        assert!(net.values().all(|&v| v == 0), "obligations + fee income per asset: {net:?}");
        let fees: i64 = client
            .query_one(
                "SELECT COALESCE(SUM(buyer_fee + seller_fee), 0)::BIGINT FROM trades WHERE time >= $1 AND time < $2",
                &[&(report.day_start as i64), &(report.day_end as i64)],
            )
            .unwrap()
            .get(0);
        assert!(fees > 0);
        assert_eq!(report.fee_income.iter().map(|f| f.amount).sum::<i64>(), fees);
        // One CSV line per trade, plus the header.
        let trades_csv = std::fs::read_to_string(&report.files[0]).unwrap();
        assert_eq!(trades_csv.lines().count() as u64, report.trades + 1);
        assert!(report.trades > 100);
    }

    // Day two opens where day one closed, and closes at the engine's
    // balances (day three moves no money).
    let closing: BTreeMap<(u32, u32), i64> =
        first.statements.iter().map(|s| ((s.account, s.asset), s.closing)).collect();
    for s in &second_day.statements {
        assert_eq!(s.opening, closing.get(&(s.account, s.asset)).copied().unwrap_or(0));
        let balance = engine.balance(AccountId(s.account), AssetId(s.asset));
        assert_eq!(s.closing, balance.available + balance.held, "account {} asset {}", s.account, s.asset);
    }
    // Four members in three assets, and the fee account in USDT only: a
    // statement exists where a balance or a movement does.
    assert_eq!(second_day.statements.len(), 13);

    // The formats, on the first lines.
    let trades_csv = std::fs::read_to_string(&first.files[0]).unwrap();
    let mut lines = trades_csv.lines();
    assert_eq!(
        lines.next().unwrap(),
        "trade_time,instrument,trade_id,seq,aggressor,price,quantity,notional,buyer,seller,buy_order,sell_order,\
         buyer_fee,seller_fee,fee_asset"
    );
    let row: Vec<&str> = lines.next().unwrap().split(',').collect();
    assert!(
        row[0].starts_with("2026-11-02T09:00:00.") && row[0].ends_with('Z') && row[0].len() == 27,
        "{}",
        row[0]
    );
    assert!(row[1] == "BTC-USDT" || row[1] == "ETH-USDT");
    assert!(row[5].contains('.') && row[6].contains('.'), "decimal price and quantity: {row:?}");
    assert_eq!(row[14], "USDT");
    let statements_csv = std::fs::read_to_string(&first.files[1]).unwrap();
    assert!(statements_csv.starts_with(
        "business_date,account,asset,opening,deposits,withdrawals,bought,sold,fees,fee_income,closing,trades\n\
         2026-11-02,0,USDT,0.00000000,"
    ));

    // Day three: no trade, nothing owed; not complete (nothing after it).
    let third = clearing::run(client, (2026, 11, 4), out.path()).unwrap();
    assert_eq!((third.trades, third.commands, third.complete), (0, 1, false));
    assert!(third.obligations.is_empty() && third.fee_income.is_empty());
    assert!(matches!(clearing::run(client, (2026, 2, 30), out.path()), Err(Error::InvalidDate(_))));
}

#[test]
fn reconciliation_names_every_account_and_asset_that_differs() {
    let server = PgServer::start();
    let mut writer = Writer::connect(&server.url(), &EngineConfig::demo()).unwrap();
    let mut engine = engine();
    let mut flow = Flow::new(67, 1);
    let mut commands = flow.setup();
    commands.extend(flow.take(1_000));
    let applied = apply(&mut engine, &commands, DAY1);
    writer.write(&batch(writer.mapper(), &applied)).unwrap();
    let client = writer.client();
    let recon = reconcile(client, &engine).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!((recon.seq, recon.accounts, recon.balances), (applied.len() as u64, 5, 15));

    // One unit off in one posting.
    let row = client
        .query_one(
            "UPDATE postings SET amount = amount - 1
             WHERE (seq, idx) = (SELECT seq, idx FROM postings WHERE kind = 'trade_quote' ORDER BY seq, idx LIMIT 1)
             RETURNING account, asset",
            &[],
        )
        .unwrap();
    let (account, asset): (i64, i64) = (row.get(0), row.get(1));
    // And a posting for an account the engine never heard of.
    client
        .execute(
            "INSERT INTO postings (seq, idx, time, account, asset, amount, kind) VALUES (1, 999, 0, 77, 0, 5, 'deposit')",
            &[],
        )
        .unwrap();
    let Err(ReconError::Differences { seq, differences }) = reconcile(client, &engine) else {
        panic!("the tampering must be found")
    };
    assert_eq!(seq, applied.len() as u64);
    assert_eq!(differences.len(), 2, "{differences:?}");
    let balance = engine.balance(AccountId(account as u32), AssetId(asset as u32));
    let total = balance.available + balance.held;
    assert_eq!(
        (differences[0].account, differences[0].asset, differences[0].engine, differences[0].database),
        (AccountId(account as u32), AssetId(asset as u32), total, total - 1)
    );
    assert_eq!(differences[0].asset_name, "USDT");
    assert_eq!(
        (differences[1].account, differences[1].asset, differences[1].engine, differences[1].database),
        (AccountId(77), AssetId(0), 0, 5)
    );
    let report = ReconError::Differences { seq, differences }.to_string();
    assert!(report.contains(&format!("account {account} asset USDT")), "{report}");
    assert!(report.contains("account 77 asset BTC"), "{report}");

    // An engine ahead of the database cannot be compared.
    apply(&mut engine, &flow.take(1), DAY1 + HOUR);
    assert!(matches!(reconcile(client, &engine), Err(ReconError::Behind { .. })));
}
