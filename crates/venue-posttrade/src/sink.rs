//! The sink: the engine's durable commands and outputs into PostgreSQL, on
//! two threads of its own, never slowing the engine.
//!
//! ```text
//! command tap + output stream ──▶ drain thread (the caller of run)
//!                                   │ chunks of commands, bounded queue; full → dropped
//!                                   ▼
//!                                 database thread: Writer, backoff, circuit breaker,
//!                                   catch-up from the journal for whatever it missed
//! ```
//!
//! An enabled tap or stream that is not polled makes the engine wait, so
//! the drain thread does nothing but poll: it pairs each command with its
//! outputs and hands the chunk to the database thread with `try_send`. When
//! the database thread cannot take it (the database is slow, down, or being
//! caught up), the chunk is dropped and counted: every durable command is in
//! the journal, and the database thread reads it from there when it can.
//!
//! The database thread knows the database's progress (`sink_progress`).
//! A live chunk that continues it is written as it is; one that starts
//! further on means something was dropped, and the gap is filled first by
//! replaying the journal from the newest snapshot at or before the
//! database's position (the same mapping, so the same rows). A chunk the
//! database already holds is skipped. So after any outage or restart the
//! database continues with no gap and no duplicate.
//!
//! **Connecting** backs off from [`SinkConfig::backoff_min`] doubling to
//! [`SinkConfig::backoff_max`]; after [`SinkConfig::breaker_failures`]
//! consecutive failures the circuit breaker opens and nothing is tried for
//! [`SinkConfig::breaker_cooldown`]; then one attempt (half-open) closes it
//! or opens it again. A write error drops the connection and counts as a
//! failure.
//!
//! **Stopping**: when the tap is finished (the pipeline stopped), the
//! database thread writes or catches up everything seen, then stops. If the
//! database is unreachable then, it makes one last attempt and stops
//! anyway: the next start catches up from the journal ([`catch_up`]).

use crate::Error;
use crate::rows::{Batch, Mapper};
use crate::writer::Writer;
use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError, SyncSender, TrySendError, sync_channel};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use venue_engine::{Engine, EngineConfig, Output, Sequenced};
use venue_pipeline::{CommandTap, OutputStream, PipelineConfig, PipelineError, snapshot};

/// How the sink runs: where the database and the journal are, and its
/// limits.
#[derive(Clone, Debug)]
pub struct SinkConfig {
    /// Connection string (`host=… port=… user=… dbname=…` or a
    /// `postgresql://` URL). Without a `connect_timeout`, 5 s.
    pub url: String,
    /// The pipeline's configuration: where the journal and snapshots are,
    /// for catching up.
    pub pipeline: PipelineConfig,
    /// The engine's configuration, to replay the journal and map outputs.
    pub engine: EngineConfig,
    /// Most commands per transaction.
    pub batch_commands: usize,
    /// Chunks the drain thread may queue for the database thread before it
    /// drops them (to be caught up from the journal).
    pub queue_chunks: usize,
    /// First reconnect delay.
    pub backoff_min: Duration,
    /// Longest reconnect delay.
    pub backoff_max: Duration,
    /// Consecutive failures that open the circuit breaker.
    pub breaker_failures: u32,
    /// How long an open breaker waits before trying again.
    pub breaker_cooldown: Duration,
}

impl SinkConfig {
    /// Defaults: batches of 1,024 commands, 64 queued chunks, backoff
    /// 100 ms doubling to 5 s, breaker open after 5 failures for 30 s.
    pub fn new(url: impl Into<String>, pipeline: PipelineConfig, engine: EngineConfig) -> SinkConfig {
        SinkConfig {
            url: url.into(),
            pipeline,
            engine,
            batch_commands: 1024,
            queue_chunks: 64,
            backoff_min: Duration::from_millis(100),
            backoff_max: Duration::from_secs(5),
            breaker_failures: 5,
            breaker_cooldown: Duration::from_secs(30),
        }
    }
}

/// The circuit breaker's state, as exported in metrics (`as u8`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum BreakerState {
    /// Connecting normally (with backoff).
    Closed = 0,
    /// Too many failures: waiting out the cool-down.
    Open = 1,
    /// Cool-down over: one attempt decides.
    HalfOpen = 2,
}

/// The sink's live state, shared with metrics and health (atomics only, but
/// for the last error's text).
#[derive(Debug, Default)]
pub struct SinkStatus {
    persisted: AtomicU64,
    seen: AtomicU64,
    connected: AtomicBool,
    errors: AtomicU64,
    breaker: AtomicU8,
    dropped: AtomicU64,
    caught_up: AtomicU64,
    catch_ups: AtomicU64,
    stopped: AtomicBool,
    last_error: Mutex<Option<String>>,
}

impl SinkStatus {
    /// A status with nothing seen or persisted.
    pub fn new() -> SinkStatus {
        SinkStatus::default()
    }

    /// Last sequence number the database holds (all commands up to it).
    pub fn persisted_seq(&self) -> u64 {
        self.persisted.load(Ordering::Acquire)
    }

    /// Last durable sequence number the sink has seen (from the tap, or the
    /// journal's end at start).
    pub fn seen_seq(&self) -> u64 {
        self.seen.load(Ordering::Acquire)
    }

    /// Commands seen but not yet in the database: the sink's lag.
    pub fn lag(&self) -> u64 {
        self.seen_seq().saturating_sub(self.persisted_seq())
    }

    /// Whether the sink has a working connection.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Failed connects and writes since start.
    pub fn errors(&self) -> u64 {
        self.errors.load(Ordering::Relaxed)
    }

    /// The circuit breaker's state.
    pub fn breaker(&self) -> BreakerState {
        match self.breaker.load(Ordering::Relaxed) {
            1 => BreakerState::Open,
            2 => BreakerState::HalfOpen,
            _ => BreakerState::Closed,
        }
    }

    /// Live commands dropped because the database thread could not take
    /// them (they were, or will be, written from the journal instead).
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }

    /// Commands written from the journal rather than live.
    pub fn caught_up(&self) -> u64 {
        self.caught_up.load(Ordering::Relaxed)
    }

    /// Journal catch-ups run.
    pub fn catch_ups(&self) -> u64 {
        self.catch_ups.load(Ordering::Relaxed)
    }

    /// Whether the sink has stopped.
    pub fn stopped(&self) -> bool {
        self.stopped.load(Ordering::Acquire)
    }

    /// The last error, for health details and logs.
    pub fn last_error(&self) -> Option<String> {
        self.last_error.lock().map(|e| e.clone()).unwrap_or_default()
    }

    /// Health: connected, and at most `max_lag` commands behind.
    pub fn healthy(&self, max_lag: u64) -> bool {
        self.connected() && self.lag() <= max_lag
    }

    fn fail(&self, error: &Error) {
        self.errors.fetch_add(1, Ordering::Relaxed);
        self.connected.store(false, Ordering::Release);
        if let Ok(mut last) = self.last_error.lock() {
            *last = Some(error.to_string());
        }
    }
}

/// How a sink ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SinkExit {
    /// Last sequence number in the database (as far as the sink knows).
    pub persisted: u64,
    /// Last durable sequence number seen.
    pub seen: u64,
}

impl SinkExit {
    /// Whether everything seen is in the database. If not, the database was
    /// unreachable at the end and the next start catches up.
    pub fn complete(&self) -> bool {
        self.persisted >= self.seen
    }
}

/// Commands with their outputs, as the drain thread hands them over.
#[derive(Default)]
struct Chunk {
    commands: Vec<(Sequenced, u32)>,
    outputs: Vec<Output>,
}

impl Chunk {
    fn clear(&mut self) {
        self.commands.clear();
        self.outputs.clear();
    }
}

struct Breaker {
    state: BreakerState,
    failures: u32,
    backoff: Duration,
    next_attempt: Instant,
}

impl Breaker {
    fn new(config: &SinkConfig) -> Breaker {
        Breaker {
            state: BreakerState::Closed,
            failures: 0,
            backoff: config.backoff_min,
            next_attempt: Instant::now(),
        }
    }

    /// Whether to try now; an open breaker past its cool-down turns half-open.
    fn may_try(&mut self, now: Instant, status: &SinkStatus) -> bool {
        if now < self.next_attempt {
            return false;
        }
        if self.state == BreakerState::Open {
            self.set(BreakerState::HalfOpen, status);
        }
        true
    }

    fn failure(&mut self, config: &SinkConfig, status: &SinkStatus) {
        let now = Instant::now();
        self.failures = self.failures.saturating_add(1);
        if self.state == BreakerState::HalfOpen || self.failures >= config.breaker_failures.max(1) {
            self.set(BreakerState::Open, status);
            self.next_attempt = now + config.breaker_cooldown;
        } else {
            self.next_attempt = now + self.backoff;
            self.backoff = (self.backoff * 2).min(config.backoff_max);
        }
    }

    fn success(&mut self, config: &SinkConfig, status: &SinkStatus) {
        self.failures = 0;
        self.backoff = config.backoff_min;
        self.set(BreakerState::Closed, status);
    }

    fn set(&mut self, state: BreakerState, status: &SinkStatus) {
        self.state = state;
        status.breaker.store(state as u8, Ordering::Relaxed);
    }
}

/// The newest engine state at or before `seq`: the newest snapshot that
/// reads and restores, else an empty engine.
pub(crate) fn engine_before(
    pipeline: &PipelineConfig,
    config: &EngineConfig,
    seq: u64,
) -> Result<Engine, Error> {
    let snapshots = snapshot::list(&pipeline.snapshot_dir())?;
    for (at, path) in snapshots {
        if at > seq {
            continue;
        }
        if let Ok(engine) = snapshot::read(&path)
            .and_then(|state| Engine::restore(config.clone(), &state).map_err(|e| e.to_string()))
        {
            return Ok(engine);
        }
    }
    Engine::new(config.clone()).map_err(|e| Error::Engine(e.to_string()))
}

/// Replays the journal to write commands `persisted + 1 ..= until` (or to
/// the journal's end for `u64::MAX`); returns the new `persisted`. `cache`
/// holds the replay engine between catch-ups, so a second one continues
/// from where the first stopped instead of from a snapshot.
fn replay_into(
    writer: &mut Writer,
    pipeline: &PipelineConfig,
    cache: &mut Option<Engine>,
    mut persisted: u64,
    until: u64,
    batch_commands: usize,
    status: Option<&SinkStatus>,
) -> Result<u64, Error> {
    let config = writer.engine_config().clone();
    let mut engine = match cache.take() {
        Some(engine) if engine.seq() <= persisted => {
            // A newer snapshot may still be a shorter way.
            let newest = snapshot::list(&pipeline.snapshot_dir())?
                .into_iter()
                .map(|(seq, _)| seq)
                .find(|&seq| seq <= persisted)
                .unwrap_or(0);
            if newest > engine.seq() { engine_before(pipeline, &config, persisted)? } else { engine }
        }
        _ => engine_before(pipeline, &config, persisted)?,
    };
    if let Some(status) = status {
        status.catch_ups.fetch_add(1, Ordering::Relaxed);
    }
    let mapper = Mapper::new(&config);
    let mut batch = Batch::new();
    let mut failure = None;
    let flush = |batch: &mut Batch, writer: &mut Writer, persisted: &mut u64| -> Result<(), Error> {
        if batch.is_empty() {
            return Ok(());
        }
        let written = writer.write(batch)?;
        let count = batch.len() as u64;
        batch.clear();
        *persisted = written.last_seq();
        if let Some(status) = status {
            status.persisted.store(*persisted, Ordering::Release);
            status.caught_up.fetch_add(count, Ordering::Relaxed);
        }
        Ok(())
    };
    venue_pipeline::replay_with(&pipeline.journal_dir(), &mut engine, until, |sequenced, outputs| {
        if failure.is_some() || sequenced.seq <= persisted {
            return;
        }
        batch.push(mapper.rows(sequenced.seq, sequenced.time, &sequenced.command, outputs));
        if batch.len() >= batch_commands.max(1)
            && let Err(e) = flush(&mut batch, writer, &mut persisted)
        {
            failure = Some(e);
        }
    })?;
    if let Some(e) = failure {
        return Err(e);
    }
    flush(&mut batch, writer, &mut persisted)?;
    let reached = engine.seq();
    *cache = Some(engine);
    if until != u64::MAX && reached < until {
        return Err(Error::JournalShort { reached, needed: until });
    }
    Ok(persisted)
}

/// Brings the database up to the end of the journal: connects, migrates,
/// and replays from the newest snapshot at or before the database's
/// position. Returns the database's last sequence number.
///
/// For start-up (before the pipeline takes commands) and after a stop:
/// the whole journal must be durable, which it is while no pipeline
/// writes to it. A running sink catches up by itself ([`run`]).
pub fn catch_up(pipeline: &PipelineConfig, engine: &EngineConfig, url: &str) -> Result<u64, Error> {
    let mut writer = Writer::connect(url, engine)?;
    let persisted = writer.last_seq()?;
    replay_into(&mut writer, pipeline, &mut None, persisted, u64::MAX, 1024, None)
}

/// Runs the sink until the pipeline has stopped and everything seen is in
/// the database (or the database is unreachable at that point). The
/// calling thread drains `tap` and `stream`; a second thread writes.
///
/// `recovered_seq` is where the pipeline's recovery ended
/// (`Recovery::last_seq`): the journal holds everything up to it, durably,
/// so the sink catches the database up to it even before the first new
/// command. A database whose history is not this journal's is refused
/// ([`Error::ForeignDatabase`], in [`SinkStatus::last_error`]).
pub fn run(
    mut tap: CommandTap,
    mut stream: OutputStream,
    config: &SinkConfig,
    recovered_seq: u64,
    status: Arc<SinkStatus>,
) -> SinkExit {
    status.seen.fetch_max(recovered_seq, Ordering::AcqRel);
    status.stopped.store(false, Ordering::Release);
    let (tx, rx) = sync_channel::<Chunk>(config.queue_chunks.max(1));
    std::thread::scope(|scope| {
        let writer_status = status.clone();
        let writer = std::thread::Builder::new()
            .name("venue-posttrade-db".into())
            .spawn_scoped(scope, move || database_loop(rx, config, &writer_status));
        if writer.is_err() {
            // No thread, no database: keep the engine moving; the next
            // start catches up from the journal.
            status.fail(&Error::Engine("cannot start the database thread".into()));
        }
        drain(&mut tap, &mut stream, tx, config.batch_commands.max(1), &status);
    });
    status.stopped.store(true, Ordering::Release);
    SinkExit { persisted: status.persisted_seq(), seen: status.seen_seq() }
}

/// The drain thread: poll, pair, hand over or drop; never block on the
/// database.
fn drain(
    tap: &mut CommandTap,
    stream: &mut OutputStream,
    tx: SyncSender<Chunk>,
    batch: usize,
    status: &SinkStatus,
) {
    let mut tapped = Vec::with_capacity(batch);
    let mut chunk = Chunk::default();
    let mut idle = 0u32;
    loop {
        tapped.clear();
        tap.poll(batch - chunk.commands.len(), |t| tapped.push(*t));
        for t in &tapped {
            // The engine pushes a command's outputs right after its tap
            // entry; they are durable with it.
            let start = chunk.outputs.len();
            while chunk.outputs.len() - start < t.outputs as usize {
                let want = t.outputs as usize - (chunk.outputs.len() - start);
                if stream.poll(want, |s| chunk.outputs.push(s.output)) == 0 {
                    std::thread::yield_now();
                }
            }
            chunk.commands.push((t.sequenced, t.outputs));
        }
        let quiet = tapped.is_empty();
        if !chunk.commands.is_empty() && (chunk.commands.len() >= batch || quiet) {
            let last = chunk.commands.last().map_or(0, |(s, _)| s.seq);
            let count = chunk.commands.len() as u64;
            match tx.try_send(std::mem::take(&mut chunk)) {
                Ok(()) => {}
                Err(TrySendError::Full(mut back) | TrySendError::Disconnected(mut back)) => {
                    status.dropped.fetch_add(count, Ordering::Relaxed);
                    back.clear();
                    chunk = back;
                }
            }
            // After the hand-over: a database thread that sees `seen` ahead
            // of the database with an empty queue knows a chunk was dropped.
            status.seen.fetch_max(last, Ordering::AcqRel);
        }
        if !quiet {
            idle = 0;
            continue;
        }
        if tap.finished() {
            return;
        }
        idle = idle.saturating_add(1);
        if idle < 64 {
            std::thread::yield_now();
        } else {
            tap.wait();
        }
    }
}

/// How long the database thread waits for a chunk before it looks whether
/// it missed one.
const IDLE: Duration = Duration::from_millis(50);

/// The database thread.
fn database_loop(rx: Receiver<Chunk>, config: &SinkConfig, status: &SinkStatus) {
    let mut breaker = Breaker::new(config);
    let mut db: Option<Writer> = None;
    let mut persisted = 0u64;
    let mut cache: Option<Engine> = None;
    let mut closed = false;
    let mut last_try_done = false;
    loop {
        if db.is_none() {
            if closed {
                if last_try_done {
                    return;
                }
                last_try_done = true;
            } else if !breaker.may_try(Instant::now(), status) {
                // Waiting to retry: live chunks are dropped here (the
                // journal has them), which keeps the drain thread moving.
                match rx.recv_timeout(IDLE) {
                    Ok(chunk) => {
                        status.dropped.fetch_add(chunk.commands.len() as u64, Ordering::Relaxed);
                    }
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => closed = true,
                }
                continue;
            }
            match open(config) {
                Ok((writer, last)) => {
                    db = Some(writer);
                    persisted = last;
                    status.persisted.store(last, Ordering::Release);
                    status.connected.store(true, Ordering::Release);
                    if last >= status.seen_seq() {
                        breaker.success(config, status);
                    }
                }
                Err(e) => {
                    status.fail(&e);
                    breaker.failure(config, status);
                    continue;
                }
            }
        }
        let Some(writer) = db.as_mut() else { continue };
        let received = if closed { Err(RecvTimeoutError::Disconnected) } else { rx.recv_timeout(IDLE) };
        let result = match received {
            Ok(chunk) => {
                // Whatever else is queued goes into the same transaction.
                let mut chunks = vec![chunk];
                let mut commands = chunks[0].commands.len();
                while commands < config.batch_commands
                    && let Ok(more) = rx.try_recv()
                {
                    commands += more.commands.len();
                    chunks.push(more);
                }
                write_chunks(writer, config, &mut cache, &mut persisted, &chunks, status)
            }
            Err(RecvTimeoutError::Timeout) => {
                let seen = status.seen_seq();
                if persisted < seen {
                    replay_into(
                        writer,
                        &config.pipeline,
                        &mut cache,
                        persisted,
                        seen,
                        config.batch_commands,
                        Some(status),
                    )
                    .map(|p| persisted = p)
                } else {
                    Ok(())
                }
            }
            Err(RecvTimeoutError::Disconnected) => {
                closed = true;
                let seen = status.seen_seq();
                let result = if persisted < seen {
                    replay_into(
                        writer,
                        &config.pipeline,
                        &mut cache,
                        persisted,
                        seen,
                        config.batch_commands,
                        Some(status),
                    )
                    .map(|p| persisted = p)
                } else {
                    Ok(())
                };
                if result.is_ok() {
                    return;
                }
                result
            }
        };
        match result {
            Ok(()) => {
                if persisted >= status.seen_seq() {
                    breaker.success(config, status);
                }
            }
            Err(e) => {
                db = None;
                status.fail(&e);
                breaker.failure(config, status);
            }
        }
    }
}

/// Connects and reads the database's progress, and checks that the
/// database continues this journal: its last command must be in the
/// journal with the same sequencer time (a nanosecond wall-clock stamp, so
/// another venue's history cannot match by chance). Otherwise the database
/// belongs to another data directory, or the journal lost records, and
/// writing on would mix two histories: the sink refuses, and keeps
/// retrying, so an operator who fixes it needs no restart. This reads at
/// most one journal segment, once per connection.
fn open(config: &SinkConfig) -> Result<(Writer, u64), Error> {
    let mut writer = Writer::connect(&config.url, &config.engine)?;
    let last = writer.last_seq()?;
    if last > 0 {
        let time: Option<i64> = writer
            .client()
            .query_opt("SELECT time FROM commands WHERE seq = $1", &[&(last as i64)])?
            .map(|r| r.get(0));
        let journal = journal_time(&config.pipeline.journal_dir(), last)?;
        if journal.is_none() || journal.map(|t| t as i64) != time {
            return Err(Error::ForeignDatabase { seq: last, database_time: time, journal_time: journal });
        }
    }
    Ok((writer, last))
}

/// The sequencer time of journal record `seq`, if the journal has it.
fn journal_time(journal: &Path, seq: u64) -> Result<Option<u64>, Error> {
    let mut reader =
        venue_journal::read(journal, seq).map_err(|e| Error::Pipeline(PipelineError::Journal(e)))?;
    while let Some(record) = reader.next().map_err(|e| Error::Pipeline(PipelineError::Journal(e)))? {
        if record.seq == seq {
            return Ok(Some(record.time));
        }
        if record.seq > seq {
            break;
        }
    }
    Ok(None)
}

/// Writes live chunks: skips what the database holds, fills every gap from
/// the journal (before the first chunk, and between chunks: while the
/// database was away the live queue dropped chunks, so two still queued
/// need not be consecutive), writes the rest in one transaction.
fn write_chunks(
    writer: &mut Writer,
    config: &SinkConfig,
    cache: &mut Option<Engine>,
    persisted: &mut u64,
    chunks: &[Chunk],
    status: &SinkStatus,
) -> Result<(), Error> {
    let mapper = writer.mapper().clone();
    let mut batch = Batch::new();
    for chunk in chunks {
        let mut at = 0;
        for &(sequenced, count) in &chunk.commands {
            let outputs = &chunk.outputs[at..at + count as usize];
            at += count as usize;
            let next = if batch.is_empty() { *persisted + 1 } else { batch.last_seq + 1 };
            if sequenced.seq < next {
                continue;
            }
            if sequenced.seq > next {
                // What is batched goes first, then the gap from the journal.
                if !batch.is_empty() {
                    *persisted = writer.write(&batch)?.last_seq();
                    batch.clear();
                    status.persisted.store(*persisted, Ordering::Release);
                }
                *persisted = replay_into(
                    writer,
                    &config.pipeline,
                    cache,
                    *persisted,
                    sequenced.seq - 1,
                    config.batch_commands,
                    Some(status),
                )?;
            }
            batch.push(mapper.rows(sequenced.seq, sequenced.time, &sequenced.command, outputs));
        }
    }
    if batch.is_empty() {
        return Ok(());
    }
    *persisted = writer.write(&batch)?.last_seq();
    status.persisted.store(*persisted, Ordering::Release);
    Ok(())
}
