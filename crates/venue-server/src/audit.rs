//! The audit thread: every durable command and its outcome into the
//! hash-chained audit log (`venue-audit`), off the engine thread.
//!
//! It reads the pipeline's command tap (durable commands, in order, each
//! with its output count) and its own output stream, so each line holds a
//! command with exactly its outputs. It hands each batch of lines to the
//! operating system at once (a crash of the process loses none) and asks
//! it to start writing them out, but it syncs the file only every
//! [`SYNC_EVERY`], whatever the journal's policy: the journal is the record
//! the venue recovers from, and every line can be rebuilt from it. An
//! `fsync` per journal commit here would only compete for the disk with
//! the journal's own, which clients wait for.
//!
//! After a crash the log may end before the journal (the journal is written
//! first; after a power cut, up to [`SYNC_EVERY`] of lines may be missing).
//! Before taking new commands, the thread rebuilds the missing lines by
//! replaying the journal from the newest snapshot at or before the log's
//! last line (or from the start), so the log never has a hole. A log that
//! ends *after* the journal means it belongs to another data directory or
//! the journal lost records: start-up refuses.

use crate::config::AuditSettings;
use crate::metrics::Metrics;
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};
use venue_audit::{AccountMask, AuditWriter, MaskPolicy};
use venue_engine::{Engine, EngineConfig, Output};
use venue_pipeline::{CommandTap, Durability, OutputStream, PipelineConfig, Tapped, snapshot};

/// How long the audit thread lets commands gather after a batch before it
/// looks again. Nobody waits for an audit line, so under load it takes the
/// commands of a millisecond at a time (one wake-up, one write or sync)
/// instead of being woken at every journal commit, which on a small
/// machine took CPU from the threads that answer clients. An idle thread
/// parks and is woken by the next commit, as before.
const GATHER: Duration = Duration::from_millis(1);

/// The longest the audit log goes without an `fsync` while lines are
/// written (under `durability = "never"` it is only flushed to the
/// operating system). Lines not yet synced when the power goes are rebuilt
/// from the journal at the next start, without their origin (the journal
/// does not hold it). The first version synced at every batch; the
/// journal's commits, which clients wait for, queued behind those syncs
/// (`venue bench fix --rate 50000`, alternating: p50 0.92–1.16 ms and p99
/// 3.6–4.2 ms with, 0.71–1.08 ms and 2.1–4.5 ms without).
pub const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Opens the audit log and brings it up to `last_seq` (the recovered
/// state) from the journal. Runs before the pipeline takes commands.
pub fn open(
    settings: &AuditSettings,
    pipeline: &PipelineConfig,
    engine: &EngineConfig,
    last_seq: u64,
) -> Result<AuditWriter, String> {
    let accounts: AccountMask =
        settings.mask_accounts.parse().map_err(|e| format!("audit.mask_accounts: {e}"))?;
    let path = &settings.path;
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(|e| format!("audit.path {}: {e}", parent.display()))?;
    }
    let mut writer = AuditWriter::open(path, MaskPolicy { accounts })
        .map_err(|e| format!("audit log {}: {e}", path.display()))?;
    if writer.truncated_bytes() > 0 {
        tracing::warn!(
            bytes = writer.truncated_bytes(),
            "audit log: torn last line removed (crash while writing)"
        );
    }
    match writer.last_seq() {
        Some(audited) if audited > last_seq => {
            return Err(format!(
                "audit log {} ends at command {audited} but the journal at {last_seq}: the audit log belongs to \
                 another data directory, or the journal lost records",
                path.display()
            ));
        }
        Some(audited) if audited < last_seq => {
            let filled = fill(&mut writer, pipeline, engine, audited, last_seq)?;
            tracing::warn!(
                from = audited + 1,
                to = last_seq,
                lines = filled,
                "audit log: rebuilt lines from the journal"
            );
        }
        Some(_) => {}
        None if last_seq > 0 => {
            tracing::warn!(first = last_seq + 1, "audit log is new: commands before this one are not in it");
        }
        None => {}
    }
    writer.sync().map_err(|e| format!("audit log {}: {e}", path.display()))?;
    Ok(writer)
}

/// Appends the lines for commands `audited + 1 ..= last_seq` by replaying
/// the journal.
fn fill(
    writer: &mut AuditWriter,
    pipeline: &PipelineConfig,
    config: &EngineConfig,
    audited: u64,
    last_seq: u64,
) -> Result<u64, String> {
    let snapshots = snapshot::list(&pipeline.snapshot_dir()).map_err(|e| format!("snapshots: {e}"))?;
    // A short-lived engine beside the venue's own: it need not fault its
    // order pools in (the outcome is the same either way).
    let mut config = config.clone();
    config.book.prefault = false;
    let config = &config;
    let mut engine = None;
    for (seq, path) in snapshots {
        if seq > audited {
            continue;
        }
        if let Ok(restored) = snapshot::read(&path)
            .and_then(|state| Engine::restore(config.clone(), &state).map_err(|e| e.to_string()))
        {
            engine = Some(restored);
            break;
        }
    }
    let mut engine = match engine {
        Some(engine) => engine,
        None => Engine::new(config.clone()).map_err(|e| e.to_string())?,
    };
    let mut failure = None;
    let mut filled = 0;
    venue_pipeline::replay_with(&pipeline.journal_dir(), &mut engine, last_seq, |sequenced, outputs| {
        if sequenced.seq <= audited || failure.is_some() {
            return;
        }
        match writer.append(sequenced.seq, sequenced.time, 0, &sequenced.command, outputs) {
            Ok(()) => filled += 1,
            Err(e) => failure = Some(e.to_string()),
        }
    })
    .map_err(|e| format!("audit log: replaying the journal: {e}"))?;
    if let Some(e) = failure {
        return Err(format!("audit log: {e}"));
    }
    if engine.seq() < last_seq {
        return Err(format!("audit log: the journal ends at {} before command {last_seq}", engine.seq()));
    }
    Ok(filled)
}

/// The audit thread's body: runs until the pipeline has stopped and
/// everything was written. A write failure stops auditing and sets
/// `failed` (readiness reports it); trading is not stopped by it.
pub fn run(
    mut writer: AuditWriter,
    mut tap: CommandTap,
    mut stream: OutputStream,
    durability: Durability,
    metrics: Arc<Metrics>,
    failed: Arc<AtomicBool>,
) {
    let mut batch: Vec<Tapped> = Vec::with_capacity(1024);
    let mut outputs: Vec<Output> = Vec::with_capacity(1024);
    let mut last_sync = Instant::now();
    let mut dirty = false;
    let mut busy = false;
    loop {
        batch.clear();
        tap.poll(1024, |t| batch.push(*t));
        if batch.is_empty() {
            if dirty && sync_due(durability, last_sync) {
                finish_batch(&mut writer, durability, &metrics, &failed);
                last_sync = Instant::now();
                dirty = false;
            }
            if tap.finished() {
                break;
            }
            if std::mem::take(&mut busy) {
                std::thread::sleep(GATHER);
            } else {
                tap.wait();
            }
            continue;
        }
        busy = true;
        for tapped in &batch {
            outputs.clear();
            // The engine pushed this command's outputs before the tap entry
            // became visible here, and they are durable with it.
            while outputs.len() < tapped.outputs as usize {
                let want = tapped.outputs as usize - outputs.len();
                if stream.poll(want, |s| outputs.push(s.output)) == 0 {
                    std::thread::yield_now();
                }
            }
            if failed.load(Ordering::Relaxed) {
                continue;
            }
            let s = &tapped.sequenced;
            match writer.append(s.seq, s.time, tapped.origin, &s.command, &outputs) {
                Ok(()) => {
                    metrics.audit_lines.fetch_add(1, Ordering::Relaxed);
                    dirty = true;
                }
                Err(e) => fail(&failed, &metrics, &e.to_string()),
            }
        }
        if sync_due(durability, last_sync) {
            finish_batch(&mut writer, durability, &metrics, &failed);
            last_sync = Instant::now();
            dirty = false;
        } else if !failed.load(Ordering::Relaxed)
            && let Err(e) = writer.start_writeback()
        {
            fail(&failed, &metrics, &e.to_string());
        }
    }
    // Drain outputs of nothing (the tap is finished) and make it durable.
    finish_batch(&mut writer, Durability::Always, &metrics, &failed);
}

/// Whether written lines should be synced (or, under `never`, flushed) now.
fn sync_due(durability: Durability, last: Instant) -> bool {
    match durability {
        Durability::Never => true,
        Durability::Always | Durability::Interval(_) => last.elapsed() >= SYNC_EVERY,
    }
}

fn finish_batch(writer: &mut AuditWriter, durability: Durability, metrics: &Metrics, failed: &AtomicBool) {
    if failed.load(Ordering::Relaxed) {
        return;
    }
    let result = match durability {
        Durability::Never => writer.flush(),
        _ => writer.sync(),
    };
    if let Err(e) = result {
        fail(failed, metrics, &e.to_string());
    }
}

fn fail(failed: &AtomicBool, metrics: &Metrics, error: &str) {
    metrics.audit_errors.fetch_add(1, Ordering::Relaxed);
    if !failed.swap(true, Ordering::Relaxed) {
        tracing::error!(
            error,
            "audit log write failed: auditing stopped, venue not ready; investigate the disk"
        );
    }
}

/// `venue audit verify`: checks a log, optionally against the journal's
/// last sequence number (the only way to notice lines cut from its end).
pub fn verify(path: &Path, expected_last_seq: Option<u64>) -> Result<String, String> {
    let result = match expected_last_seq {
        Some(seq) => venue_audit::verify_against(path, seq),
        None => venue_audit::verify(path),
    };
    match result {
        Ok(report) => Ok(format!("{}: {report}", path.display())),
        Err(e) => Err(format!("{}: {e}", path.display())),
    }
}
