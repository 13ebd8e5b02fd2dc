//! The sink on a real pipeline and a real PostgreSQL server: what the
//! database holds equals what the engine did, through a database outage
//! and a restart, with no gap and no duplicate, and without ever stalling
//! the engine.

mod common;

use common::*;
use std::time::{Duration, Instant};
use venue_engine::EngineConfig;
use venue_posttrade::sink::BreakerState;
use venue_posttrade::testing::{PgServer, TempDir};
use venue_posttrade::{engine_at, reconcile};

#[test]
fn the_database_holds_what_the_engine_did() {
    let server = PgServer::start();
    let dir = TempDir::new("sink-live");
    let pipeline = pipeline_config(dir.path());
    let venue = start(&pipeline, sink_config(&server.url(), &pipeline));
    let mut flow = Flow::new(7, 1);
    let mut commands = flow.setup();
    commands.extend(flow.take(3_000));
    submit_all(&venue.pipeline, &commands);
    let n = commands.len() as u64;
    wait_durable(&venue.pipeline, n);
    let engine = venue.pipeline.shutdown().expect("pipeline stops");
    let exit = venue.sink.join().expect("sink thread");
    assert!(exit.complete(), "{exit:?}");
    assert_eq!((exit.persisted, exit.seen), (n, n));
    assert_eq!(venue.status.lag(), 0);
    assert!(venue.status.stopped());

    let mut client = server.connect();
    assert_contiguous(&mut client, n);
    let trades = journal_trades(&pipeline);
    assert!(trades.len() > 300, "the flow trades a lot: {}", trades.len());
    let instruments: std::collections::BTreeSet<i64> = trades.iter().map(|t| t.0).collect();
    assert_eq!(instruments.len(), 2, "both instruments traded");
    assert_eq!(database_trades(&mut client), trades);
    assert_balances_match(&mut client, &engine);
    assert_live_orders(&mut client, &engine);
    let renamed = journal_client_ids(&pipeline);
    assert!(!renamed.is_empty(), "the flow renames orders by cancel/replace");
    assert_eq!(database_client_ids(&mut client), renamed, "client order ids after cancel/replaces");
    let recon = reconcile(&mut client, &engine).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(recon.seq, n);
    assert_eq!(recon.accounts, 5, "four members and the fee account");

    // Withdrawals in every state, and fees collected.
    let states: Vec<String> = client
        .query("SELECT DISTINCT state FROM transfers ORDER BY state", &[])
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(states, ["deposited", "pending", "posted", "voided"]);
    let fee: i64 = client
        .query_one("SELECT COALESCE(SUM(amount), 0)::BIGINT FROM postings WHERE account = 0", &[])
        .unwrap()
        .get(0);
    assert!(fee > 0);
    let rejected: i64 =
        client.query_one("SELECT COUNT(*) FROM commands WHERE outcome = 'rejected'", &[]).unwrap().get(0);
    assert!(rejected > 0, "the flow includes refused commands");
}

#[test]
fn a_database_outage_never_stalls_the_engine_and_is_caught_up() {
    let mut server = PgServer::start();
    let dir = TempDir::new("sink-outage");
    let pipeline = pipeline_config(dir.path());
    let venue = start(&pipeline, sink_config(&server.url(), &pipeline));
    let mut flow = Flow::new(11, 1);
    let mut commands = flow.setup();
    commands.extend(flow.take(1_000));
    submit_all(&venue.pipeline, &commands);
    let first = commands.len() as u64;
    wait_until("the sink persists phase one", || venue.status.persisted_seq() == first);
    assert!(venue.status.connected());

    server.stop();
    // The engine goes on at full speed: every command of phase two is
    // applied and durable, through a tap of 256 entries, while the
    // database is down.
    let during = flow.take(3_000);
    let started = Instant::now();
    submit_all(&venue.pipeline, &during);
    let second = first + during.len() as u64;
    wait_durable(&venue.pipeline, second);
    assert!(started.elapsed() < Duration::from_secs(10), "the engine slowed down: {:?}", started.elapsed());
    wait_until("the sink sees everything", || venue.status.seen_seq() == second);
    wait_until("the breaker opens", || venue.status.breaker() == BreakerState::Open);
    assert!(!venue.status.connected());
    assert!(venue.status.errors() >= 3);
    assert!(venue.status.persisted_seq() < second);
    assert!(venue.status.lag() > 0);
    assert!(venue.status.dropped() > 0, "live commands were dropped while the database was down");
    assert!(venue.status.last_error().is_some());

    server.start_again();
    wait_until("the sink catches up", || venue.status.persisted_seq() == second);
    assert!(venue.status.connected());
    assert_eq!(venue.status.breaker(), BreakerState::Closed);
    assert!(venue.status.catch_ups() >= 1);
    assert!(venue.status.caught_up() > 0);

    let after = flow.take(500);
    submit_all(&venue.pipeline, &after);
    let n = second + after.len() as u64;
    wait_durable(&venue.pipeline, n);
    let engine = venue.pipeline.shutdown().expect("pipeline stops");
    let exit = venue.sink.join().expect("sink thread");
    assert!(exit.complete(), "{exit:?}");

    let mut client = server.connect();
    assert_contiguous(&mut client, n);
    assert_eq!(database_trades(&mut client), journal_trades(&pipeline));
    assert_live_orders(&mut client, &engine);
    reconcile(&mut client, &engine).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_hung_database_never_stalls_the_engine() {
    let server = PgServer::start();
    let dir = TempDir::new("sink-hung");
    let pipeline = pipeline_config(dir.path());
    let venue = start(&pipeline, sink_config(&server.url(), &pipeline));
    let mut flow = Flow::new(13, 1);
    let mut commands = flow.setup();
    commands.extend(flow.take(200));
    submit_all(&venue.pipeline, &commands);
    let first = commands.len() as u64;
    wait_until("phase one persisted", || venue.status.persisted_seq() == first);

    // Another session holds the progress row's table: the sink's next
    // transaction waits on the lock, inside the database call.
    let mut blocker = server.connect();
    let mut lock = blocker.transaction().unwrap();
    lock.batch_execute("LOCK TABLE sink_progress IN ACCESS EXCLUSIVE MODE").unwrap();
    let during = flow.take(3_000);
    let started = Instant::now();
    submit_all(&venue.pipeline, &during);
    let second = first + during.len() as u64;
    wait_durable(&venue.pipeline, second);
    assert!(started.elapsed() < Duration::from_secs(10), "the engine slowed down: {:?}", started.elapsed());
    wait_until("the sink sees everything", || venue.status.seen_seq() == second);
    assert_eq!(venue.status.persisted_seq(), first, "the sink is stuck in its write");
    assert!(venue.status.dropped() > 0, "the drain thread dropped what the database thread could not take");
    lock.rollback().unwrap();

    wait_until("the sink catches up", || venue.status.persisted_seq() == second);
    let engine = venue.pipeline.shutdown().unwrap();
    assert!(venue.sink.join().unwrap().complete());
    let mut client = server.connect();
    assert_contiguous(&mut client, second);
    assert_eq!(database_trades(&mut client), journal_trades(&pipeline));
    reconcile(&mut client, &engine).unwrap_or_else(|e| panic!("{e}"));
}

/// Phase one of the restart tests: a sink that ends before the database
/// has everything (the database goes down before the venue stops).
/// Returns the pipeline's last sequence number and the database's.
fn run_and_lose_the_end(
    server: &mut PgServer,
    pipeline: &venue_pipeline::PipelineConfig,
    flow: &mut Flow,
) -> (u64, u64) {
    let venue = start(pipeline, sink_config(&server.url(), pipeline));
    let mut commands = flow.setup();
    commands.extend(flow.take(1_500));
    submit_all(&venue.pipeline, &commands);
    let first = commands.len() as u64;
    wait_until("phase one persisted", || venue.status.persisted_seq() == first);
    server.stop();
    let more = flow.take(1_500);
    submit_all(&venue.pipeline, &more);
    let n = first + more.len() as u64;
    wait_durable(&venue.pipeline, n);
    venue.pipeline.shutdown().expect("pipeline stops");
    let exit = venue.sink.join().expect("sink thread");
    assert!(!exit.complete(), "the database was down at the end: {exit:?}");
    assert_eq!(exit.seen, n);
    server.start_again();
    let mut client = server.connect();
    let persisted = last_seq(&mut client);
    assert_eq!(persisted, exit.persisted);
    assert!(persisted < n);
    (n, persisted)
}

#[test]
fn a_restart_resumes_exactly_where_the_database_stopped() {
    let mut server = PgServer::start();
    let dir = TempDir::new("sink-restart");
    let mut pipeline = pipeline_config(dir.path());
    // Snapshots, so that catching up starts from one.
    pipeline.snapshot_every = 400;
    let mut flow = Flow::new(23, 1);
    let (n, _) = run_and_lose_the_end(&mut server, &pipeline, &mut flow);

    // At start-up, before the pipeline runs: the journal is all durable.
    let caught = venue_posttrade::sink::catch_up(&pipeline, &EngineConfig::demo(), &server.url())
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(caught, n);
    // Again: nothing to do, nothing changes.
    let mut client = server.connect();
    let before = dump(&mut client);
    assert_eq!(venue_posttrade::sink::catch_up(&pipeline, &EngineConfig::demo(), &server.url()).unwrap(), n);
    assert_eq!(dump(&mut client), before);
    assert_contiguous(&mut client, n);
    // The engine at that point, rebuilt from a snapshot and the journal,
    // reconciles; so does one from the middle of the run.
    let engine = engine_at(&pipeline, &EngineConfig::demo(), n).unwrap();
    reconcile(&mut client, &engine).unwrap_or_else(|e| panic!("{e}"));
    let middle = engine_at(&pipeline, &EngineConfig::demo(), n / 2 + 7).unwrap();
    assert_eq!(middle.seq(), n / 2 + 7);
    reconcile(&mut client, &middle).unwrap_or_else(|e| panic!("{e}"));

    // The venue starts again; the sink continues from there.
    let venue = start(&pipeline, sink_config(&server.url(), &pipeline));
    assert_eq!(venue.recovered, n);
    flow.next_seq = n + 1;
    let more = flow.take(500);
    submit_all(&venue.pipeline, &more);
    let total = n + more.len() as u64;
    wait_durable(&venue.pipeline, total);
    let engine = venue.pipeline.shutdown().unwrap();
    assert!(venue.sink.join().unwrap().complete());
    assert_contiguous(&mut client, total);
    assert_eq!(database_trades(&mut client), journal_trades(&pipeline));
    assert_live_orders(&mut client, &engine);
    reconcile(&mut client, &engine).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_sink_started_behind_the_journal_catches_up_by_itself() {
    let mut server = PgServer::start();
    let dir = TempDir::new("sink-behind");
    let pipeline = pipeline_config(dir.path());
    let mut flow = Flow::new(29, 1);
    let (n, persisted) = run_and_lose_the_end(&mut server, &pipeline, &mut flow);

    // No explicit catch-up: the sink sees the recovered sequence number and
    // fills the database up to it before any new command arrives.
    let venue = start(&pipeline, sink_config(&server.url(), &pipeline));
    assert_eq!(venue.recovered, n);
    wait_until("the sink catches up at start", || venue.status.persisted_seq() == n);
    assert!(venue.status.caught_up() >= n - persisted);
    flow.next_seq = n + 1;
    let more = flow.take(300);
    submit_all(&venue.pipeline, &more);
    let total = n + more.len() as u64;
    wait_durable(&venue.pipeline, total);
    let engine = venue.pipeline.shutdown().unwrap();
    assert!(venue.sink.join().unwrap().complete());
    let mut client = server.connect();
    assert_contiguous(&mut client, total);
    assert_eq!(database_trades(&mut client), journal_trades(&pipeline));
    reconcile(&mut client, &engine).unwrap_or_else(|e| panic!("{e}"));
}

#[test]
fn a_database_of_another_venue_is_refused() {
    let server = PgServer::start();
    let url = server.url();
    // The database already holds 50 commands of another history.
    let mut engine = venue_engine::Engine::new(EngineConfig::demo()).unwrap();
    let mut flow = Flow::new(3, 1);
    let mut commands = flow.setup();
    commands.extend(flow.take(34));
    let applied = apply(&mut engine, &commands, 1);
    let mut writer = venue_posttrade::writer::Writer::connect(&url, &EngineConfig::demo()).unwrap();
    writer.write(&batch(writer.mapper(), &applied)).unwrap();

    // A fresh venue (empty journal) must not write after them.
    let dir = TempDir::new("sink-other");
    let pipeline = pipeline_config(dir.path());
    let venue = start(&pipeline, sink_config(&url, &pipeline));
    wait_until("the sink reports the mismatch", || {
        venue.status.last_error().is_some_and(|e| e.contains("another data directory"))
    });
    assert!(!venue.status.connected());
    let more = Flow::new(5, 1).setup();
    submit_all(&venue.pipeline, &more);
    wait_durable(&venue.pipeline, more.len() as u64);
    venue.pipeline.shutdown().unwrap();
    let exit = venue.sink.join().unwrap();
    assert!(!exit.complete());
    let mut client = server.connect();
    assert_eq!(last_seq(&mut client), 50);
    let times: i64 = client.query_one("SELECT MAX(time) FROM commands", &[]).unwrap().get(0);
    assert_eq!(times, 50, "nothing of the other venue was written");
}
