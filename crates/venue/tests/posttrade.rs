//! The post-trade database behind the real `venue serve`, with a real
//! PostgreSQL server the test starts itself (Debian's postgresql, installed
//! by .ci/run): trades through the REST API land in the database exactly;
//! a database outage in the middle of trading stalls nothing and is caught
//! up with no gap and no duplicate; a venue killed while the database is
//! down resumes exactly after restart; `venue reconcile` agrees to the unit
//! and names a tampered balance; `venue clearing run` is repeatable.

mod common;

use common::*;
use serde_json::Value;
use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};
use venue_posttrade::testing::PgServer;

/// One crossing pair through signed REST: bob rests a sell, alice takes it
/// with an IOC buy. Each answer must come back (the engine never waits for
/// the database).
fn trade(venue: &Venue, round: u32) {
    let price = format!("{}.00", 30_000 + round % 50);
    let (status, body) = rest_signed(
        venue.public,
        "POST",
        "/api/v3/order",
        BOB,
        &[
            ("symbol", "BTCUSDT"),
            ("side", "SELL"),
            ("type", "LIMIT"),
            ("timeInForce", "GTC"),
            ("quantity", "0.0100"),
            ("price", &price),
        ],
    );
    assert_eq!(status, 200, "bob's sell {round}: {body}");
    let (status, body) = rest_signed(
        venue.public,
        "POST",
        "/api/v3/order",
        ALICE,
        &[
            ("symbol", "BTCUSDT"),
            ("side", "BUY"),
            ("type", "LIMIT"),
            ("timeInForce", "IOC"),
            ("quantity", "0.0100"),
            ("price", &price),
        ],
    );
    assert_eq!(status, 200, "alice's buy {round}: {body}");
    assert_eq!(body["status"], "FILLED", "alice's buy {round} crosses bob's sell: {body}");
}

fn ready(venue: &Venue) -> Value {
    let (_, body) = venue.public("GET", "/health/ready");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("/health/ready is JSON ({e}): {body}"))
}

/// Waits until the database holds every command the venue has applied.
fn caught_up(venue: &Venue) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let body = ready(venue);
        let seq = body["seq"].as_u64().expect("seq");
        let persisted = body["posttrade"]["persisted_seq"].as_u64().expect("posttrade in /health/ready");
        if persisted == seq && body["posttrade"]["lag"] == 0 {
            return seq;
        }
        assert!(Instant::now() < deadline, "the post-trade database did not catch up: {body}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// (commands, max seq, trades) in the database.
fn counts(pg: &PgServer) -> (i64, i64, i64) {
    let mut client = pg.connect();
    let row = client
        .query_one(
            "SELECT (SELECT count(*) FROM commands), (SELECT coalesce(max(seq), 0) FROM commands), \
             (SELECT count(*) FROM trades)",
            &[],
        )
        .expect("query the post-trade database");
    (row.get(0), row.get(1), row.get(2))
}

fn venue_cmd(args: &[&str], config: &Path, data: &Path) -> (bool, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_venue"))
        .args(args)
        .arg("--config")
        .arg(config)
        .arg("--data-dir")
        .arg(data)
        .output()
        .expect("venue runs");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

#[test]
fn trades_reach_the_database_exactly_through_an_outage_and_a_crash() {
    let dir = TempDir::new("posttrade");
    let mut pg = PgServer::start();
    let url = pg.url();
    let config = demo_config_with(&dir.0, "venue.toml", |t| {
        let t = t.replacen("enabled = false\n# A libpq", "enabled = true\n# A libpq", 1).replacen(
            "host=127.0.0.1 port=5432 user=venue dbname=venue",
            &url,
            1,
        );
        assert!(
            t.contains(&url) && t.contains("enabled = true\n# A libpq"),
            "the demo's [posttrade] changed"
        );
        t
    });
    let data = dir.0.join("data");

    // 1. Trading with the database up: it holds exactly what the venue did.
    let venue = Venue::start(&data, Some(&config));
    for round in 0..10 {
        trade(&venue, round);
    }
    let seq = caught_up(&venue);
    let (commands, max_seq, trades) = counts(&pg);
    assert_eq!((commands, max_seq), (seq as i64, seq as i64), "commands 1..={seq}, each once");
    assert_eq!(trades, 10, "one trade per round");
    let (_, metrics) = venue.public("GET", "/metrics");
    assert!(metrics.contains(&format!("venue_posttrade_persisted_seq {seq}")), "{metrics}");
    assert!(metrics.contains("venue_posttrade_connected 1"), "{metrics}");

    // 2. The database goes away in the middle of trading: orders are still
    //    answered, health reports the lag, and after the restart the sink
    //    catches up with no gap and no duplicate.
    pg.stop();
    let started = Instant::now();
    for round in 10..20 {
        trade(&venue, round);
    }
    let during = started.elapsed();
    assert!(during < Duration::from_secs(20), "trading stalled while the database was down: {during:?}");
    let body = ready(&venue);
    assert_eq!(body["status"], "ready", "trading goes on without the database: {body}");
    assert!(body["posttrade"]["lag"].as_u64().unwrap_or(0) > 0, "the lag shows: {body}");
    pg.start_again();
    let seq = caught_up(&venue);
    let (commands, max_seq, trades) = counts(&pg);
    assert_eq!((commands, max_seq, trades), (seq as i64, seq as i64, 20), "after the outage");

    // 3. Down again, more trades, and the venue is killed: the restarted
    //    venue's sink resumes from the database's last command.
    pg.stop();
    for round in 20..25 {
        trade(&venue, round);
    }
    let last_before_kill = ready(&venue)["seq"].as_u64().expect("seq");
    drop(venue); // SIGKILL
    pg.start_again();
    let venue = Venue::start(&data, Some(&config));
    let seq = caught_up(&venue);
    assert!(seq >= last_before_kill, "every acknowledged command survived the kill");
    let (commands, max_seq, trades) = counts(&pg);
    assert_eq!((commands, max_seq, trades), (seq as i64, seq as i64, 25), "after the kill and restart");
    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");

    // 4. Reconciliation agrees to the unit; clearing is repeatable.
    let (ok, text) = venue_cmd(&["reconcile"], &config, &data);
    assert!(ok && text.contains("no difference"), "{text}");
    let today = String::from_utf8(Command::new("date").args(["-u", "+%F"]).output().expect("date").stdout)
        .expect("utf-8")
        .trim()
        .to_owned();
    let (ok, first) = venue_cmd(&["clearing", "run", "--date", &today], &config, &data);
    assert!(ok && first.contains("25 trades"), "{first}");
    let csv = data.join("clearing").join(&today).join("trades.csv");
    let bytes = std::fs::read(&csv).unwrap_or_else(|e| panic!("{}: {e}\n{first}", csv.display()));
    assert_eq!(bytes.iter().filter(|&&b| b == b'\n').count(), 26, "a header and 25 trades");
    let (ok, second) = venue_cmd(&["clearing", "run", "--date", &today], &config, &data);
    assert!(ok, "{second}");
    assert_eq!(std::fs::read(&csv).expect("trades.csv"), bytes, "re-running a day gives identical files");

    // 5. A balance changed behind the venue's back is named.
    let mut client = pg.connect();
    client
        .execute(
            "UPDATE postings SET amount = amount + 1 WHERE (seq, idx) = \
             (SELECT seq, idx FROM postings WHERE account = 2 ORDER BY seq DESC, idx LIMIT 1)",
            &[],
        )
        .expect("tamper");
    let (ok, text) = venue_cmd(&["reconcile"], &config, &data);
    assert!(!ok && text.contains("account 2") && text.contains("differ"), "{text}");
}
