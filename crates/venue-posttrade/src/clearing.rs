//! End-of-day clearing for one UTC day of command times.
//!
//! Everything is computed from `postings` and `trades` (nothing from the
//! engine), in one repeatable-read transaction, so a run sees one consistent
//! database even while the sink keeps writing, and re-running a complete
//! day gives the same rows and byte-identical files. The day's rows in
//! `clearing_runs`, `statements`, `obligations` and `fee_income` are
//! replaced in that same transaction. The CSV formats are documented in the
//! crate documentation.
//!
//! **Balancing identities**, per asset, checked by the tests:
//! - per statement: `closing = opening + deposits + withdrawals + bought +
//!   sold + fees + fee_income` (each movement signed; the table has the
//!   same `CHECK`);
//! - across members: `Σ obligations + fee income = 0`. A member's
//!   obligation is the net of its trade and fee postings of the day (what
//!   it receives from, > 0, or delivers to, < 0, the venue); trades move
//!   assets between members and sum to zero, and every fee paid is the
//!   venue's fee income.

use crate::Error;
use crate::time::{date_string, day_bounds, rfc3339_micros};
use postgres::{Client, IsolationLevel};
use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};
use venue_domain::format_scaled;

/// One account's statement in one asset for the day, in asset units. Each
/// movement is signed as it moved the balance.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Statement {
    /// Account.
    pub account: u32,
    /// Asset.
    pub asset: u32,
    /// Balance at the start of the day (all postings before it).
    pub opening: i64,
    /// Deposits credited (≥ 0).
    pub deposits: i64,
    /// Withdrawals posted (≤ 0).
    pub withdrawals: i64,
    /// Received by trades (≥ 0): base bought, quote of sales.
    pub bought: i64,
    /// Delivered by trades (≤ 0): base sold, quote paid for purchases.
    pub sold: i64,
    /// Trading fees paid (≤ 0).
    pub fees: i64,
    /// Trading fees received (≥ 0; the fee account only).
    pub fee_income: i64,
    /// Balance at the end of the day.
    pub closing: i64,
    /// Trades in which this account's balance of this asset moved.
    pub trades: i64,
}

/// What one member receives from (> 0) or delivers to (< 0) the venue in
/// one asset for the day's trading: its trade and fee postings, netted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Obligation {
    /// Asset.
    pub asset: u32,
    /// Account.
    pub account: u32,
    /// Net amount in asset units.
    pub amount: i64,
}

/// The venue's fee income in one asset for the day.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FeeIncome {
    /// Asset.
    pub asset: u32,
    /// Fees received, in asset units.
    pub amount: i64,
    /// Number of fee postings received.
    pub fees: i64,
}

/// What a clearing run found and wrote.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Report {
    /// The business date, `YYYY-MM-DD`.
    pub date: String,
    /// Start of the UTC day, ns since the epoch.
    pub day_start: u64,
    /// End of the UTC day (exclusive).
    pub day_end: u64,
    /// First command of the day in the database.
    pub first_seq: Option<u64>,
    /// Last command of the day in the database.
    pub last_seq: Option<u64>,
    /// Commands of the day.
    pub commands: u64,
    /// Trades of the day.
    pub trades: u64,
    /// Whether the database held a command after the day when the run was
    /// made: if not, later commands of the day may still arrive, and a
    /// re-run may differ.
    pub complete: bool,
    /// Statements, by account then asset.
    pub statements: Vec<Statement>,
    /// Obligations, by asset then account.
    pub obligations: Vec<Obligation>,
    /// Fee income, by asset.
    pub fee_income: Vec<FeeIncome>,
    /// The CSV files written: trades, statements, obligations, fee income.
    pub files: Vec<PathBuf>,
}

struct Asset {
    name: String,
    decimals: u8,
}

struct Instrument {
    symbol: String,
    quote_asset: usize,
    price_decimals: u8,
    tick_size: i64,
    qty_decimals: u8,
    lot_size: i64,
}

/// A CSV field: quoted (RFC 4180) only if it needs to be.
fn field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

fn line(out: &mut String, fields: &[String]) {
    let fields: Vec<String> = fields.iter().map(|f| field(f)).collect();
    out.push_str(&fields.join(","));
    out.push('\n');
}

/// Writes `contents` to `path` atomically (temporary file, sync, rename).
fn write_file(path: &Path, contents: &str) -> Result<(), Error> {
    let tmp = path.with_extension("csv.tmp");
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(contents.as_bytes())?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)?;
    Ok(())
}

/// Runs clearing for the UTC day `date` (year, month, day): computes it,
/// writes the CSV files into `out_dir/YYYY-MM-DD/`, and replaces the day's
/// rows in the database.
pub fn run(client: &mut Client, date: (i32, u32, u32), out_dir: &Path) -> Result<Report, Error> {
    let (year, month, day) = date;
    let (start, end) = day_bounds(year, month, day)
        .ok_or_else(|| Error::InvalidDate(format!("{year}-{month}-{day} is not a UTC date from 1970 on")))?;
    let date = date_string(year, month, day);
    let (start_i, end_i) = (start as i64, end as i64);
    let mut tx = client.build_transaction().isolation_level(IsolationLevel::RepeatableRead).start()?;

    let mut assets = BTreeMap::new();
    for row in tx.query("SELECT asset, name, decimals FROM assets", &[])? {
        let (id, name, decimals): (i64, String, i16) = (row.get(0), row.get(1), row.get(2));
        assets.insert(id as usize, Asset { name, decimals: decimals as u8 });
    }
    let mut instruments = BTreeMap::new();
    for row in tx.query(
        "SELECT instrument, symbol, quote_asset, price_decimals, tick_size, qty_decimals, lot_size FROM instruments",
        &[],
    )? {
        instruments.insert(
            row.get::<_, i64>(0) as usize,
            Instrument {
                symbol: row.get(1),
                quote_asset: row.get::<_, i64>(2) as usize,
                price_decimals: row.get::<_, i16>(3) as u8,
                tick_size: row.get(4),
                qty_decimals: row.get::<_, i16>(5) as u8,
                lot_size: row.get(6),
            },
        );
    }
    if assets.is_empty() {
        return Err(Error::Schema("no assets recorded: the sink has never written to this database".into()));
    }
    let asset_name =
        |asset: u32| assets.get(&(asset as usize)).map_or_else(|| asset.to_string(), |a| a.name.clone());
    let amount = |asset: u32, value: i64| {
        format_scaled(value, assets.get(&(asset as usize)).map_or(0, |a| a.decimals))
    };

    let mut statements: BTreeMap<(u32, u32), Statement> = BTreeMap::new();
    for row in tx.query(
        "SELECT account, asset, SUM(amount)::BIGINT FROM postings WHERE time < $1 GROUP BY account, asset",
        &[&start_i],
    )? {
        let (account, asset) = (row.get::<_, i64>(0) as u32, row.get::<_, i64>(1) as u32);
        let opening: i64 = row.get(2);
        statements.insert((account, asset), Statement { account, asset, opening, ..Statement::default() });
    }
    for row in tx.query(
        "SELECT account, asset,
             COALESCE(SUM(amount) FILTER (WHERE kind = 'deposit'), 0)::BIGINT,
             COALESCE(SUM(amount) FILTER (WHERE kind = 'withdrawal'), 0)::BIGINT,
             COALESCE(SUM(amount) FILTER (WHERE kind IN ('trade_base', 'trade_quote') AND amount > 0), 0)::BIGINT,
             COALESCE(SUM(amount) FILTER (WHERE kind IN ('trade_base', 'trade_quote') AND amount < 0), 0)::BIGINT,
             COALESCE(SUM(amount) FILTER (WHERE kind = 'fee'), 0)::BIGINT,
             COALESCE(SUM(amount) FILTER (WHERE kind = 'fee_income'), 0)::BIGINT,
             COUNT(DISTINCT (instrument, trade_id)) FILTER (WHERE kind IN ('trade_base', 'trade_quote')),
             COUNT(*) FILTER (WHERE kind = 'fee_income')
         FROM postings WHERE time >= $1 AND time < $2 GROUP BY account, asset",
        &[&start_i, &end_i],
    )? {
        let (account, asset) = (row.get::<_, i64>(0) as u32, row.get::<_, i64>(1) as u32);
        let s = statements.entry((account, asset)).or_insert(Statement { account, asset, ..Statement::default() });
        s.deposits = row.get(2);
        s.withdrawals = row.get(3);
        s.bought = row.get(4);
        s.sold = row.get(5);
        s.fees = row.get(6);
        s.fee_income = row.get(7);
        s.trades = row.get(8);
    }
    let mut fee_income: BTreeMap<u32, FeeIncome> = BTreeMap::new();
    for row in tx.query(
        "SELECT asset, SUM(amount)::BIGINT, COUNT(*) FROM postings
         WHERE kind = 'fee_income' AND time >= $1 AND time < $2 GROUP BY asset",
        &[&start_i, &end_i],
    )? {
        let asset = row.get::<_, i64>(0) as u32;
        fee_income.insert(asset, FeeIncome { asset, amount: row.get(1), fees: row.get(2) });
    }
    let mut obligations = Vec::new();
    for s in statements.values_mut() {
        s.closing = s.opening + s.deposits + s.withdrawals + s.bought + s.sold + s.fees + s.fee_income;
        if s.trades > 0 || s.fees != 0 {
            obligations.push(Obligation {
                asset: s.asset,
                account: s.account,
                amount: s.bought + s.sold + s.fees,
            });
        }
    }
    obligations.sort_by_key(|o| (o.asset, o.account));
    let statements: Vec<Statement> = statements.into_values().collect();
    let fee_income: Vec<FeeIncome> = fee_income.into_values().collect();

    let summary = tx.query_one(
        "SELECT COUNT(*), MIN(seq), MAX(seq) FROM commands WHERE time >= $1 AND time < $2",
        &[&start_i, &end_i],
    )?;
    let commands: i64 = summary.get(0);
    let first_seq: Option<i64> = summary.get(1);
    let last_seq: Option<i64> = summary.get(2);
    let last_time: i64 = tx.query_one("SELECT last_time FROM sink_progress", &[])?.get(0);
    let complete = last_time >= end_i;

    // The trade report.
    let mut trades_csv = String::new();
    line(
        &mut trades_csv,
        &[
            "trade_time",
            "instrument",
            "trade_id",
            "seq",
            "aggressor",
            "price",
            "quantity",
            "notional",
            "buyer",
            "seller",
            "buy_order",
            "sell_order",
            "buyer_fee",
            "seller_fee",
            "fee_asset",
        ]
        .map(String::from),
    );
    let trade_rows = tx.query(
        "SELECT time, instrument, trade_id, seq, aggressor, price, qty, quote, buyer, seller, buy_order,
                sell_order, buyer_fee, seller_fee
         FROM trades WHERE time >= $1 AND time < $2 ORDER BY seq, instrument, trade_id",
        &[&start_i, &end_i],
    )?;
    for row in &trade_rows {
        let instrument = row.get::<_, i64>(1) as usize;
        let spec = instruments
            .get(&instrument)
            .ok_or_else(|| Error::Schema(format!("trade on unknown instrument {instrument}")))?;
        let quote = spec.quote_asset as u32;
        let price: i64 = row.get(5);
        let qty: i64 = row.get(6);
        line(
            &mut trades_csv,
            &[
                rfc3339_micros(row.get::<_, i64>(0) as u64),
                spec.symbol.clone(),
                row.get::<_, i64>(2).to_string(),
                row.get::<_, i64>(3).to_string(),
                row.get::<_, String>(4),
                format_scaled(price.saturating_mul(spec.tick_size), spec.price_decimals),
                format_scaled(qty.saturating_mul(spec.lot_size), spec.qty_decimals),
                amount(quote, row.get(7)),
                row.get::<_, i64>(8).to_string(),
                row.get::<_, i64>(9).to_string(),
                row.get::<_, i64>(10).to_string(),
                row.get::<_, i64>(11).to_string(),
                amount(quote, row.get(12)),
                amount(quote, row.get(13)),
                asset_name(quote),
            ],
        );
    }

    let mut statements_csv = String::new();
    line(
        &mut statements_csv,
        &[
            "business_date",
            "account",
            "asset",
            "opening",
            "deposits",
            "withdrawals",
            "bought",
            "sold",
            "fees",
            "fee_income",
            "closing",
            "trades",
        ]
        .map(String::from),
    );
    for s in &statements {
        let a = |v| amount(s.asset, v);
        line(
            &mut statements_csv,
            &[
                date.clone(),
                s.account.to_string(),
                asset_name(s.asset),
                a(s.opening),
                a(s.deposits),
                a(s.withdrawals),
                a(s.bought),
                a(s.sold),
                a(s.fees),
                a(s.fee_income),
                a(s.closing),
                s.trades.to_string(),
            ],
        );
    }
    let mut obligations_csv = String::new();
    line(
        &mut obligations_csv,
        &["business_date", "asset", "account", "direction", "amount"].map(String::from),
    );
    for o in &obligations {
        let direction = match o.amount {
            0 => "flat",
            a if a > 0 => "receive",
            _ => "deliver",
        };
        line(
            &mut obligations_csv,
            &[
                date.clone(),
                asset_name(o.asset),
                o.account.to_string(),
                direction.into(),
                amount(o.asset, o.amount),
            ],
        );
    }
    let mut fees_csv = String::new();
    line(&mut fees_csv, &["business_date", "asset", "amount", "fees"].map(String::from));
    for f in &fee_income {
        line(
            &mut fees_csv,
            &[date.clone(), asset_name(f.asset), amount(f.asset, f.amount), f.fees.to_string()],
        );
    }

    let dir = out_dir.join(&date);
    std::fs::create_dir_all(&dir)?;
    let mut files = Vec::new();
    for (name, contents) in [
        ("trades.csv", &trades_csv),
        ("statements.csv", &statements_csv),
        ("obligations.csv", &obligations_csv),
        ("fee_income.csv", &fees_csv),
    ] {
        let path = dir.join(name);
        write_file(&path, contents)?;
        files.push(path);
    }

    // Replace the day's rows (the cascade removes its statements,
    // obligations and fee income).
    tx.execute("DELETE FROM clearing_runs WHERE business_date = $1::TEXT::DATE", &[&date])?;
    tx.execute(
        "INSERT INTO clearing_runs (business_date, day_start, day_end, first_seq, last_seq, commands, trades, complete)
         VALUES ($1::TEXT::DATE, $2, $3, $4, $5, $6, $7, $8)",
        &[&date, &start_i, &end_i, &first_seq, &last_seq, &commands, &(trade_rows.len() as i64), &complete],
    )?;
    tx.execute(
        "INSERT INTO statements (business_date, account, asset, opening, deposits, withdrawals, bought, sold,
             fees, fee_income, closing, trades)
         SELECT $1::TEXT::DATE, * FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::BIGINT[], $5::BIGINT[],
             $6::BIGINT[], $7::BIGINT[], $8::BIGINT[], $9::BIGINT[], $10::BIGINT[], $11::BIGINT[], $12::BIGINT[])",
        &[
            &date,
            &statements.iter().map(|s| i64::from(s.account)).collect::<Vec<_>>(),
            &statements.iter().map(|s| i64::from(s.asset)).collect::<Vec<_>>(),
            &statements.iter().map(|s| s.opening).collect::<Vec<_>>(),
            &statements.iter().map(|s| s.deposits).collect::<Vec<_>>(),
            &statements.iter().map(|s| s.withdrawals).collect::<Vec<_>>(),
            &statements.iter().map(|s| s.bought).collect::<Vec<_>>(),
            &statements.iter().map(|s| s.sold).collect::<Vec<_>>(),
            &statements.iter().map(|s| s.fees).collect::<Vec<_>>(),
            &statements.iter().map(|s| s.fee_income).collect::<Vec<_>>(),
            &statements.iter().map(|s| s.closing).collect::<Vec<_>>(),
            &statements.iter().map(|s| s.trades).collect::<Vec<_>>(),
        ],
    )?;
    tx.execute(
        "INSERT INTO obligations (business_date, asset, account, amount)
         SELECT $1::TEXT::DATE, * FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::BIGINT[])",
        &[
            &date,
            &obligations.iter().map(|o| i64::from(o.asset)).collect::<Vec<_>>(),
            &obligations.iter().map(|o| i64::from(o.account)).collect::<Vec<_>>(),
            &obligations.iter().map(|o| o.amount).collect::<Vec<_>>(),
        ],
    )?;
    tx.execute(
        "INSERT INTO fee_income (business_date, asset, amount, fees)
         SELECT $1::TEXT::DATE, * FROM UNNEST($2::BIGINT[], $3::BIGINT[], $4::BIGINT[])",
        &[
            &date,
            &fee_income.iter().map(|f| i64::from(f.asset)).collect::<Vec<_>>(),
            &fee_income.iter().map(|f| f.amount).collect::<Vec<_>>(),
            &fee_income.iter().map(|f| f.fees).collect::<Vec<_>>(),
        ],
    )?;
    tx.commit()?;

    Ok(Report {
        date,
        day_start: start,
        day_end: end,
        first_seq: first_seq.map(|s| s as u64),
        last_seq: last_seq.map(|s| s as u64),
        commands: commands as u64,
        trades: trade_rows.len() as u64,
        complete,
        statements,
        obligations,
        fee_income,
        files,
    })
}
