//! The threads around the engine: the one way through the house
//! (`../shared/DESIGN.md`, "Data flow").
//!
//! ```text
//! gateways ──submit──▶ inbound ring (bounded; many producers take turns under a
//!                          │    lock, the engine reads it lock-free in chunks;
//!                          │    full = Reject::Backpressure)
//!                          │
//!                          ▼
//!   engine thread: sequencer (seq + monotonic time) → Engine::apply
//!        │ sequenced commands (SPSC)          │ outputs (one SPSC ring per consumer)
//!        ▼                                    ▼
//!   journal thread: append, group commit,    consumers: OutputStream::poll releases an
//!   publish the durable sequence number ───▶ output only once its command is durable
//! ```
//!
//! The engine does not wait for the disk: it applies a command as soon as it
//! is sequenced, in parallel with the journal writing it (as LMAX does).
//! Durability before acknowledgement (rule 5) is enforced where outputs
//! leave: [`OutputStream::poll`] releases the outputs of command `n` only
//! when the journal reports `n` durable under the configured policy. The
//! journal batches whatever has arrived while the previous write or `fsync`
//! ran, so one `fsync` covers many commands (group commit).
//!
//! Every queue is bounded. The inbound ring refuses with
//! [`Reject::Backpressure`]; the engine waits when the journal ring or an
//! output ring is full, which fills the inbound ring and so pushes back on
//! the gateways, never growing memory.
//!
//! **Recovery** ([`recover`]): the newest snapshot that passes its checks,
//! then every journal record after it; the journal's torn tail is truncated
//! first. **Snapshots**: the engine thread clones the engine (the only pause,
//! measured), and a snapshot thread waits until the clone's sequence number
//! is durable, checks the ledger on it, and writes it.

pub mod affinity;
pub mod snapshot;

use crossbeam_queue::ArrayQueue;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::thread::JoinHandle;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use venue_domain::{Reject, Timestamp};
use venue_engine::{Command, Engine, EngineConfig, Output, Sequenced};
pub use venue_journal::Durability;
use venue_journal::{Journal, JournalOptions};

/// Sizing and policies of a pipeline.
#[derive(Clone, Debug)]
pub struct PipelineConfig {
    /// Journal in `data_dir/journal`, snapshots in `data_dir/snapshots`.
    pub data_dir: PathBuf,
    /// When the journal syncs.
    pub durability: Durability,
    /// Commands waiting for the engine.
    pub inbound_capacity: usize,
    /// Sequenced commands waiting for the journal.
    pub journal_capacity: usize,
    /// Outputs waiting in each consumer's ring.
    pub outbound_capacity: usize,
    /// Number of output streams (session router, market data, post-trade…);
    /// each sees every output.
    pub consumers: usize,
    /// Take a snapshot every this many commands (0: only on request).
    pub snapshot_every: u64,
    /// Snapshots to keep on disk.
    pub keep_snapshots: usize,
    /// Journal segment size.
    pub segment_bytes: u64,
    /// Capacity of each command tap; 0 disables them (see [`CommandTap`]).
    /// Like an output stream, an enabled tap must be polled: when it is
    /// full the engine waits.
    pub tap_capacity: usize,
    /// Number of command taps (the audit log, the post-trade sink…), each
    /// seeing every command; used only when `tap_capacity` > 0.
    pub taps: usize,
    /// A CPU for the engine alone: the engine thread is pinned to it and
    /// the pipeline's other threads (journal, snapshots) are kept off it.
    /// Other threads are the caller's to keep off, with
    /// [`affinity::keep_current_thread_off`]. None: the scheduler decides.
    pub engine_core: Option<usize>,
}

impl PipelineConfig {
    /// Defaults for `data_dir`: fsync every batch, 64 Ki commands inbound,
    /// 256 Ki outputs per consumer, one consumer, snapshots on request.
    pub fn new(data_dir: impl Into<PathBuf>) -> PipelineConfig {
        PipelineConfig {
            data_dir: data_dir.into(),
            durability: Durability::Always,
            inbound_capacity: 1 << 16,
            journal_capacity: 1 << 16,
            outbound_capacity: 1 << 18,
            consumers: 1,
            snapshot_every: 0,
            keep_snapshots: 2,
            segment_bytes: 256 << 20,
            tap_capacity: 0,
            taps: 1,
            engine_core: None,
        }
    }

    /// Where the journal lives.
    pub fn journal_dir(&self) -> PathBuf {
        self.data_dir.join("journal")
    }

    /// Where snapshots live.
    pub fn snapshot_dir(&self) -> PathBuf {
        self.data_dir.join("snapshots")
    }
}

/// Why the pipeline cannot start.
#[derive(Debug)]
pub enum PipelineError {
    /// The engine configuration is unusable.
    Config(venue_engine::ConfigError),
    /// The journal cannot be opened or read.
    Journal(venue_journal::JournalError),
    /// A journal record does not decode (written by another version?).
    BadRecord {
        /// Its sequence number.
        seq: u64,
        /// Why.
        error: venue_engine::DecodeError,
    },
    /// The journal does not continue the snapshot (records missing).
    Gap {
        /// The sequence number needed next.
        expected: u64,
        /// What the journal has.
        found: u64,
    },
    /// The recovered state breaks the ledger invariant.
    Ledger(venue_engine::LedgerError),
    /// A thread could not be started.
    Io(std::io::Error),
    /// The CPU asked for the engine cannot be given to it.
    Core {
        /// The CPU.
        core: usize,
        /// Why not.
        reason: &'static str,
    },
}

impl core::fmt::Display for PipelineError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            PipelineError::Config(e) => write!(f, "configuration: {e}"),
            PipelineError::Journal(e) => write!(f, "journal: {e}"),
            PipelineError::BadRecord { seq, error } => write!(f, "journal record {seq}: {error}"),
            PipelineError::Gap { expected, found } => {
                write!(f, "journal gap: needed record {expected}, found {found}")
            }
            PipelineError::Ledger(e) => write!(f, "ledger invariant broken after recovery: {e}"),
            PipelineError::Io(e) => write!(f, "{e}"),
            PipelineError::Core { core, reason } => write!(f, "engine core {core} {reason}"),
        }
    }
}

impl std::error::Error for PipelineError {}

/// What recovery found and did.
#[derive(Clone, Debug)]
pub struct Recovery {
    /// Sequence number of the snapshot recovery started from, if any.
    pub snapshot_seq: Option<u64>,
    /// Snapshot files skipped because they failed their checks.
    pub snapshots_rejected: Vec<String>,
    /// Journal records replayed after the snapshot.
    pub replayed: u64,
    /// Sequence number of the last command in the recovered state.
    pub last_seq: u64,
    /// Torn-tail bytes the journal discarded.
    pub truncated_bytes: u64,
    /// Wall time of the whole recovery.
    pub elapsed: Duration,
}

/// Rebuilds the engine from `data_dir`: newest valid snapshot, then the
/// journal tail. Returns the engine and the journal, positioned to append.
pub fn recover(
    config: &PipelineConfig,
    engine_config: EngineConfig,
) -> Result<(Engine, Journal, Recovery), PipelineError> {
    let started = Instant::now();
    let mut rejected = Vec::new();
    let mut engine = None;
    for (_, path) in snapshot::list(&config.snapshot_dir()).map_err(PipelineError::Io)? {
        let restored = snapshot::read(&path)
            .and_then(|state| Engine::restore(engine_config.clone(), &state).map_err(|e| e.to_string()));
        match restored {
            Ok(restored) => {
                engine = Some(restored);
                break;
            }
            Err(why) => rejected.push(why),
        }
    }
    let snapshot_seq = engine.as_ref().map(Engine::seq);
    let mut engine = match engine {
        Some(engine) => engine,
        None => Engine::new(engine_config).map_err(PipelineError::Config)?,
    };
    let options = JournalOptions {
        durability: config.durability,
        segment_bytes: config.segment_bytes,
        first_seq: engine.seq() + 1,
        ..JournalOptions::default()
    };
    let (journal, report) = Journal::open(&config.journal_dir(), options).map_err(PipelineError::Journal)?;
    let replayed = replay(&config.journal_dir(), &mut engine)?;
    let last_seq = engine.seq();
    if journal.next_seq() != last_seq + 1 {
        return Err(PipelineError::Gap { expected: last_seq + 1, found: journal.next_seq() });
    }
    engine.check_ledger().map_err(PipelineError::Ledger)?;
    let recovery = Recovery {
        snapshot_seq,
        snapshots_rejected: rejected,
        replayed,
        last_seq,
        truncated_bytes: report.truncated_bytes,
        elapsed: started.elapsed(),
    };
    Ok((engine, journal, recovery))
}

/// Applies every journal record after the engine's sequence number; returns
/// how many. Outputs are discarded: they were (or, if never durable, were
/// never) delivered before the restart.
pub fn replay(journal_dir: &Path, engine: &mut Engine) -> Result<u64, PipelineError> {
    replay_with(journal_dir, engine, u64::MAX, |_, _| {})
}

/// As [`replay`], up to and including command `until`, handing each command
/// and its outputs to `each`: for consumers that must rebuild what they
/// missed (the audit log after a crash).
pub fn replay_with(
    journal_dir: &Path,
    engine: &mut Engine,
    until: u64,
    mut each: impl FnMut(&Sequenced, &[Output]),
) -> Result<u64, PipelineError> {
    let reader = venue_journal::read(journal_dir, engine.seq() + 1).map_err(PipelineError::Journal)?;
    let first = engine.seq() + 1;
    // Reading, checking and decoding records runs on its own thread, a few
    // batches ahead of applying them: on a restart the two cost about the
    // same, so overlapping them on two cores is most of the speed-up. The
    // records still reach the engine one by one, in order.
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::sync_channel(REPLAY_AHEAD);
        scope.spawn(move || read_ahead(reader, first, until, &tx));
        let mut outputs = Vec::with_capacity(1024);
        let mut replayed = 0;
        for batch in rx {
            for sequenced in batch? {
                debug_assert_eq!(sequenced.seq, engine.seq() + 1, "the reader checks contiguity");
                outputs.clear();
                engine.apply(&sequenced, &mut outputs);
                each(&sequenced, &outputs);
                replayed += 1;
            }
        }
        Ok(replayed)
    })
}

/// Commands decoded per batch handed from the replay reader to the engine.
const REPLAY_BATCH: usize = 4096;
/// Batches the replay reader may be ahead.
const REPLAY_AHEAD: usize = 4;

/// The replay reader: records `first..=until`, contiguous, decoded, in
/// batches; an error ends the stream after the batch before it, so the
/// engine applies everything before a bad record, as it would reading
/// itself. Stops early when the engine side hangs up.
fn read_ahead(
    mut reader: venue_journal::JournalReader,
    first: u64,
    until: u64,
    tx: &std::sync::mpsc::SyncSender<Result<Vec<Sequenced>, PipelineError>>,
) {
    let mut batch = Vec::with_capacity(REPLAY_BATCH);
    let mut expected = first;
    let failure = loop {
        if expected > until {
            break None;
        }
        let record = match reader.next() {
            Ok(Some(record)) => record,
            Ok(None) => break None,
            Err(error) => break Some(PipelineError::Journal(error)),
        };
        if record.seq < expected {
            continue;
        }
        if record.seq != expected {
            break Some(PipelineError::Gap { expected, found: record.seq });
        }
        match Command::decode(record.kind, record.seq, record.payload) {
            Ok(command) => batch.push(Sequenced { seq: record.seq, time: Timestamp(record.time), command }),
            Err(error) => break Some(PipelineError::BadRecord { seq: record.seq, error }),
        }
        expected += 1;
        if batch.len() == REPLAY_BATCH {
            let full = std::mem::replace(&mut batch, Vec::with_capacity(REPLAY_BATCH));
            if tx.send(Ok(full)).is_err() {
                return;
            }
        }
    };
    if !batch.is_empty() && tx.send(Ok(batch)).is_err() {
        return;
    }
    if let Some(error) = failure {
        let _ = tx.send(Err(error));
    }
}

/// One output with the command that caused it and who sent that command.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stamped {
    /// Sequence number of the command.
    pub seq: u64,
    /// Sequencer time of the command (what reports call transaction time).
    pub time: Timestamp,
    /// The submitter's tag (connection, session) for routing replies;
    /// 0 for commands with no one to answer.
    pub origin: u64,
    /// Whether this is the command's last output: a consumer answering a
    /// request knows its answer is complete. Every command that can be
    /// awaited produces at least one output; only `Tick` and `EndOfSession`
    /// may produce none.
    pub last: bool,
    /// What happened.
    pub output: Output,
}

/// A sequenced command, who sent it, and how many outputs it produced: what
/// the command tap carries for the audit log.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tapped {
    /// The command with its sequencer stamp.
    pub sequenced: Sequenced,
    /// The submitter's tag.
    pub origin: u64,
    /// Number of outputs it produced (each consumer's stream holds them
    /// right after the outputs of the previous command).
    pub outputs: u32,
}

/// Every sequenced command in order, for a consumer that records commands
/// with their outcome (the audit log). The engine pushes a command here
/// before its outputs, so when a command is popped its outputs are on their
/// way to every output stream.
pub struct CommandTap {
    rx: rtrb::Consumer<Tapped>,
    shared: Arc<Shared>,
    sleeper: Arc<Sleeper>,
}

/// Hands over, in order, up to `max` items of `rx` whose command (`seq_of`)
/// is durable; returns how many.
fn poll_durable<T>(
    rx: &mut rtrb::Consumer<T>,
    shared: &Shared,
    max: usize,
    seq_of: impl Fn(&T) -> u64,
    mut f: impl FnMut(&T),
) -> usize {
    let durable = shared.stats.durable.load(Ordering::Acquire);
    let Some(chunk) = read_up_to(rx, max) else { return 0 };
    let (front, back) = chunk.as_slices();
    let taken =
        front.iter().chain(back).take_while(|item| seq_of(item) <= durable).inspect(|item| f(item)).count();
    chunk.commit(taken);
    taken
}

/// Up to `max` items ready in `rx`, to read in place and then commit: one
/// store frees them all for the producer (see [`push_all`]).
fn read_up_to<T>(rx: &mut rtrb::Consumer<T>, max: usize) -> Option<rtrb::chunks::ReadChunk<'_, T>> {
    match rx.slots().min(max) {
        0 => None,
        ready => rx.read_chunk(ready).ok(),
    }
}

impl CommandTap {
    /// Hands over, in order, up to `max` commands that are durable.
    pub fn poll(&mut self, max: usize, f: impl FnMut(&Tapped)) -> usize {
        poll_durable(&mut self.rx, &self.shared, max, |t| t.sequenced.seq, f)
    }

    /// True once the engine and the journal have stopped and everything
    /// that became durable was handed over (after a journal failure, what
    /// never became durable is never handed over).
    pub fn finished(&self) -> bool {
        self.shared.finished(self.rx.peek().ok().map(|t| t.sequenced.seq))
    }

    /// As [`OutputStream::wait`].
    pub fn wait(&self) {
        let shared = &self.shared;
        self.sleeper.sleep(|| {
            let durable = shared.stats.durable.load(Ordering::Acquire);
            self.rx.peek().is_ok_and(|t| t.sequenced.seq <= durable)
                || shared.engine_done.load(Ordering::Acquire)
        });
    }
}

/// A latency histogram cheap enough for the journal thread: power-of-two
/// buckets of microseconds (bucket `i` counts durations below `2^i` µs,
/// the last one everything longer), atomics only.
#[derive(Debug, Default)]
pub struct Log2Histogram {
    buckets: [AtomicU64; Log2Histogram::BUCKETS],
    sum_ns: AtomicU64,
}

impl Log2Histogram {
    /// Number of buckets: up to 2^23 µs (8.4 s), then overflow.
    pub const BUCKETS: usize = 25;

    /// Adds one observation.
    pub fn record(&self, elapsed: Duration) {
        self.buckets[Self::bucket_of(elapsed)].fetch_add(1, Ordering::Relaxed);
        self.sum_ns.fetch_add(elapsed.as_nanos() as u64, Ordering::Relaxed);
    }

    fn bucket_of(elapsed: Duration) -> usize {
        let micros = elapsed.as_micros() as u64;
        let at = (u64::BITS - micros.leading_zeros()) as usize;
        at.min(Self::BUCKETS - 1)
    }

    /// Count in bucket `at` (durations below `2^at` µs and at least
    /// `2^(at-1)` µs; the last bucket is unbounded).
    pub fn bucket(&self, at: usize) -> u64 {
        self.buckets.get(at).map_or(0, |b| b.load(Ordering::Relaxed))
    }

    /// Sum of all observations, ns.
    pub fn sum_ns(&self) -> u64 {
        self.sum_ns.load(Ordering::Relaxed)
    }
}

/// A [`Log2Histogram`] being filled by one thread, added to the shared one
/// in a few atomic adds: an atomic add is a full barrier on x86, and one
/// per command made the engine wait for every store it had pending (ring
/// slots whose lines are on other cores).
#[derive(Debug, Default)]
struct Log2Tally {
    buckets: [u64; Log2Histogram::BUCKETS],
    sum_ns: u64,
}

impl Log2Tally {
    fn record(&mut self, elapsed: Duration) {
        self.buckets[Log2Histogram::bucket_of(elapsed)] += 1;
        self.sum_ns += elapsed.as_nanos() as u64;
    }

    /// Adds what was recorded to `histogram` and starts again.
    fn flush_into(&mut self, histogram: &Log2Histogram) {
        for (shared, count) in histogram.buckets.iter().zip(&mut self.buckets) {
            if *count > 0 {
                shared.fetch_add(std::mem::take(count), Ordering::Relaxed);
            }
        }
        if self.sum_ns > 0 {
            histogram.sum_ns.fetch_add(std::mem::take(&mut self.sum_ns), Ordering::Relaxed);
        }
    }
}

/// One command in this many has its ring wait recorded.
pub const RING_WAIT_SAMPLE: u64 = 16;

/// Counters the pipeline publishes (for metrics and benchmarks).
#[derive(Debug, Default)]
pub struct Stats {
    /// Last sequence number applied by the engine.
    pub applied: AtomicU64,
    /// Last sequence number written by the journal.
    pub written: AtomicU64,
    /// Last sequence number durable under the policy.
    pub durable: AtomicU64,
    /// Journal commits that wrote something.
    pub commits: AtomicU64,
    /// Duration of each journal commit that wrote something (write, plus
    /// fsync under the `Always` policy).
    pub commit_latency: Log2Histogram,
    /// Time commands waited in the inbound ring, from submit to the engine
    /// taking them (one command in [`RING_WAIT_SAMPLE`] is recorded, to keep
    /// atomics off most of the engine's commands).
    pub ring_wait: Log2Histogram,
    /// Engine time per batch of commands taken together: apply, and push
    /// to the journal, tap and output rings.
    pub engine_batch: Log2Histogram,
    /// Commands refused at the inbound ring.
    pub backpressure: AtomicU64,
    /// Snapshots written.
    pub snapshots: AtomicU64,
    /// Engine pause of the last snapshot (clone), ns.
    pub last_snapshot_pause_ns: AtomicU64,
    /// Longest snapshot pause, ns.
    pub max_snapshot_pause_ns: AtomicU64,
    /// Sequence number of the last snapshot written.
    pub last_snapshot_seq: AtomicU64,
    /// Set when the snapshot thread found the ledger broken (a bug: stop
    /// trading and investigate).
    pub ledger_broken: AtomicBool,
    /// Set when the journal failed: nothing further becomes durable.
    pub journal_failed: AtomicBool,
}

struct Shared {
    stop: AtomicBool,
    engine_done: AtomicBool,
    /// The journal thread has ended: `durable` will not move again.
    journal_done: AtomicBool,
    snapshot_requested: AtomicBool,
    stats: Stats,
    /// The engine thread, woken by submits and queries.
    engine_sleeper: Sleeper,
    /// The journal thread, woken by the engine after each batch.
    journal_sleeper: Sleeper,
    /// Consumers (output streams, the tap), woken when commands become
    /// durable.
    consumer_sleepers: Vec<Arc<Sleeper>>,
}

impl Shared {
    /// A pipeline not started yet: nothing stopped, nothing counted.
    fn new(consumer_sleepers: Vec<Arc<Sleeper>>) -> Shared {
        Shared {
            stop: AtomicBool::new(false),
            engine_done: AtomicBool::new(false),
            journal_done: AtomicBool::new(false),
            snapshot_requested: AtomicBool::new(false),
            stats: Stats::default(),
            engine_sleeper: Sleeper::default(),
            journal_sleeper: Sleeper::default(),
            consumer_sleepers,
        }
    }

    fn wake_consumers(&self) {
        for sleeper in &self.consumer_sleepers {
            sleeper.wake();
        }
    }
}

/// A read of the engine's state, run by the engine thread between batches
/// (so it sees a state at a command boundary) and never journalled. It
/// must be quick: the engine does nothing else while it runs. It sends its
/// answer through a channel it captured; [`Engine::seq`] tells the caller
/// which command the answer reflects, so it can wait until that command is
/// durable before showing it to a client.
pub type Query = Box<dyn FnOnce(&Engine) + Send>;

/// Queries waiting for the engine: few and small, so a short ring.
const QUERY_CAPACITY: usize = 1024;

impl Shared {
    /// Whether a consumer whose next item has sequence number `next` will
    /// get nothing more.
    fn finished(&self, next: Option<u64>) -> bool {
        // Order matters: journal_done is set after the last durable store.
        self.engine_done.load(Ordering::Acquire)
            && self.journal_done.load(Ordering::Acquire)
            && next.is_none_or(|seq| seq > self.stats.durable.load(Ordering::Acquire))
    }
}

/// A command in the inbound ring: its origin, the command, and for one
/// command in [`RING_WAIT_SAMPLE`] the time it was submitted.
type Inbound = (u64, Command, Option<Instant>);

/// The gateways' end of the inbound ring. The ring is single-producer
/// (rtrb) behind this lock rather than a lock-free multi-producer queue:
/// the lock costs gateways one uncontended atomic, as a multi-producer push
/// would, and leaves the engine's end free of atomic read-modify-writes
/// (it takes whatever is ready in one chunk). The engine never takes this
/// lock while running, so a gateway holding it cannot stall the engine.
struct InboundTx {
    tx: rtrb::Producer<Inbound>,
    /// Commands pushed, to pick which ones carry a submit time (reading the
    /// clock costs about as much as the push).
    pushed: u64,
}

/// Takes a lock whose holders cannot leave it half-updated (nothing under
/// it panics), so a poisoned lock is as good as a clean one.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Where gateways submit commands. Cheap to clone; usable from any thread.
#[derive(Clone)]
pub struct Submitter {
    inbound: Arc<Mutex<InboundTx>>,
    queries: Arc<ArrayQueue<Query>>,
    shared: Arc<Shared>,
}

impl Submitter {
    /// Queues a command for the engine. A full ring (or a stopping
    /// pipeline) refuses it with [`Reject::Backpressure`]: the caller tells
    /// its client to retry; nothing was sequenced.
    pub fn submit(&self, origin: u64, command: Command) -> Result<(), Reject> {
        if self.shared.stop.load(Ordering::Relaxed) {
            return Err(Reject::Backpressure);
        }
        let result = {
            let mut inbound = lock(&self.inbound);
            // Checked again under the lock, which the engine takes before it
            // stops (see `engine_loop`): a push that passed this check is
            // seen by the engine, so an accepted command is sequenced.
            if self.shared.stop.load(Ordering::SeqCst) {
                Err(Reject::Backpressure)
            } else {
                inbound.pushed += 1;
                let at = inbound.pushed.is_multiple_of(RING_WAIT_SAMPLE).then(Instant::now);
                inbound.tx.push((origin, command, at)).map_err(|_| {
                    self.shared.stats.backpressure.fetch_add(1, Ordering::Relaxed);
                    Reject::Backpressure
                })
            }
        };
        self.shared.engine_sleeper.wake();
        result
    }

    /// Queues a read of the engine's state (see [`Query`]). A full query
    /// ring or a stopping pipeline refuses it with
    /// [`Reject::Backpressure`]; a query queued as the engine stops is
    /// dropped unanswered (its channel closes).
    pub fn query(&self, query: Query) -> Result<(), Reject> {
        if self.shared.stop.load(Ordering::Relaxed) {
            return Err(Reject::Backpressure);
        }
        let result = self.queries.push(query).map_err(|_| Reject::Backpressure);
        self.shared.engine_sleeper.wake();
        result
    }

    /// Commands waiting for the engine.
    pub fn queued(&self) -> usize {
        let inbound = lock(&self.inbound);
        inbound.tx.buffer().capacity() - inbound.tx.slots()
    }
}

/// A handle on a running pipeline's counters and snapshot trigger, for
/// threads that watch it (metrics, health, admin) while another owns it.
#[derive(Clone)]
pub struct Monitor {
    shared: Arc<Shared>,
}

impl Monitor {
    /// Live counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// As [`Pipeline::request_snapshot`].
    pub fn request_snapshot(&self) {
        self.shared.snapshot_requested.store(true, Ordering::Release);
        self.shared.engine_sleeper.wake();
    }

    /// Whether the engine thread has stopped.
    pub fn stopped(&self) -> bool {
        self.shared.engine_done.load(Ordering::Acquire)
    }
}

/// One consumer's view of the engine's outputs.
pub struct OutputStream {
    rx: rtrb::Consumer<Stamped>,
    shared: Arc<Shared>,
    sleeper: Arc<Sleeper>,
}

impl OutputStream {
    /// Hands over, in order, up to `max` outputs whose commands are durable;
    /// returns how many. This is what may be acknowledged to clients.
    pub fn poll(&mut self, max: usize, f: impl FnMut(&Stamped)) -> usize {
        poll_durable(&mut self.rx, &self.shared, max, |s| s.seq, f)
    }

    /// True once the engine and the journal have stopped and everything
    /// that became durable was handed over: the consumer's thread may end.
    pub fn finished(&self) -> bool {
        self.shared.finished(self.rx.peek().ok().map(|s| s.seq))
    }

    /// Parks the consumer's thread until an output may be ready (a command
    /// became durable, the pipeline stopped) or about a millisecond passed.
    /// For an idle consumer: cheaper than polling, and woken at once.
    pub fn wait(&self) {
        let shared = &self.shared;
        self.sleeper.sleep(|| {
            let durable = shared.stats.durable.load(Ordering::Acquire);
            self.rx.peek().is_ok_and(|s| s.seq <= durable) || shared.engine_done.load(Ordering::Acquire)
        });
    }

    /// As [`poll`](Self::poll) but without waiting for durability: for
    /// measuring the engine alone and for consumers (market data) that may
    /// publish before the journal, never for acknowledgements.
    pub fn poll_applied(&mut self, max: usize, mut f: impl FnMut(&Stamped)) -> usize {
        let Some(chunk) = read_up_to(&mut self.rx, max) else { return 0 };
        let (front, back) = chunk.as_slices();
        front.iter().chain(back).for_each(&mut f);
        let taken = chunk.len();
        chunk.commit_all();
        taken
    }
}

/// A running pipeline. Dropping it without [`shutdown`](Self::shutdown)
/// stops the threads too, but discards the final engine.
pub struct Pipeline {
    submitter: Submitter,
    shared: Arc<Shared>,
    engine: Option<JoinHandle<Engine>>,
    journal: Option<JoinHandle<Result<(), venue_journal::JournalError>>>,
    snapshots: Option<JoinHandle<()>>,
    tap: Vec<CommandTap>,
}

/// Spin, then yield, then sleep: an idle thread costs little, a busy one
/// never sleeps.
struct Backoff(u32);

impl Backoff {
    fn snooze(&mut self) {
        self.0 += 1;
        if self.0 < 64 {
            std::hint::spin_loop();
        } else if self.0 < 128 {
            std::thread::yield_now();
        } else {
            std::thread::sleep(Duration::from_micros(50));
        }
    }
}

/// An idle thread that parks instead of sleep-polling, and is woken by
/// whoever hands it work: a lone command does not wait out a sleep at every
/// hop. Parking is bounded (`IDLE_PARK`) so a missed wake-up costs at most
/// that. One thread per sleeper (the first to sleep on it).
#[derive(Default)]
struct Sleeper {
    thread: std::sync::OnceLock<std::thread::Thread>,
    sleeping: AtomicBool,
}

/// The longest an idle thread parks before looking again.
const IDLE_PARK: Duration = Duration::from_millis(1);

impl Sleeper {
    /// Parks the calling thread until woken or `IDLE_PARK` passes, unless
    /// `ready` (checked after announcing the sleep) says work arrived.
    fn sleep(&self, ready: impl Fn() -> bool) {
        let _ = self.thread.get_or_init(std::thread::current);
        self.sleeping.store(true, Ordering::SeqCst);
        if !ready() {
            std::thread::park_timeout(IDLE_PARK);
        }
        self.sleeping.store(false, Ordering::SeqCst);
    }

    /// Wakes the thread if it sleeps: one load when it does not.
    fn wake(&self) {
        if self.sleeping.load(Ordering::SeqCst)
            && self.sleeping.swap(false, Ordering::SeqCst)
            && let Some(thread) = self.thread.get()
        {
            thread.unpark();
        }
    }
}

/// Spin, then yield, then park on a [`Sleeper`].
struct Idle(u32);

impl Idle {
    fn wait(&mut self, sleeper: &Sleeper, ready: impl Fn() -> bool) {
        self.0 += 1;
        if self.0 < 64 {
            std::hint::spin_loop();
        } else if self.0 < 128 {
            std::thread::yield_now();
        } else {
            sleeper.sleep(ready);
        }
    }
}

/// The sequencer's clock: monotonic, anchored to wall time once at start,
/// and never below the last journalled time (so time is monotonic across
/// restarts too).
struct Clock {
    anchor_wall: u64,
    anchor: Instant,
    floor: u64,
}

impl Clock {
    fn new(floor: u64) -> Clock {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64);
        Clock { anchor_wall: wall, anchor: Instant::now(), floor }
    }
    fn now(&mut self) -> u64 {
        self.at(Instant::now())
    }
    /// The time stamp of `instant` (read by the caller, who uses it too).
    fn at(&mut self, instant: Instant) -> u64 {
        let now = self.anchor_wall + instant.saturating_duration_since(self.anchor).as_nanos() as u64;
        self.floor = self.floor.max(now);
        self.floor
    }
}

/// Pushes, waiting while the ring is full.
fn push_wait<T: Copy>(tx: &mut rtrb::Producer<T>, value: T, shared: &Shared) {
    push_all(tx, 1, |_, _| value, shared);
}

/// Pushes `item(0..n)` in order, as few chunks as the free room allows,
/// waiting while the ring is full; returns whether it had to wait. A chunk
/// publishes its items with one store, so a consumer polling the ring sees
/// the ring's write position change once per chunk instead of once per
/// item (each change costs it a cache line from the engine's core).
/// `item` is called once per index, in order, with the number of waits so
/// far (an item made after a wait can read the clock again). Returns the
/// number of waits.
fn push_all<T>(
    tx: &mut rtrb::Producer<T>,
    n: usize,
    mut item: impl FnMut(usize, u32) -> T,
    shared: &Shared,
) -> u32 {
    let mut backoff = Backoff(0);
    let mut waits = 0u32;
    let mut done = 0;
    while done < n {
        let room = match tx.write_chunk_uninit(n - done) {
            Ok(chunk) => chunk,
            Err(rtrb::chunks::ChunkError::TooFewSlots(0)) => {
                if shared.stats.journal_failed.load(Ordering::Relaxed) {
                    // The journal is gone: nothing can become durable, so
                    // nothing will be acknowledged; keep the engine alive
                    // for inspection but stop feeding the dead ring.
                    return waits;
                }
                waits = waits.saturating_add(1);
                backoff.snooze();
                continue;
            }
            Err(rtrb::chunks::ChunkError::TooFewSlots(free)) => {
                tx.write_chunk_uninit(free).expect("the free slots just counted")
            }
        };
        let len = room.len();
        room.fill_from_iter((done..done + len).map(|k| item(k, waits)));
        done += len;
    }
    waits
}

impl Pipeline {
    /// Recovers from `config.data_dir` and starts the threads. Returns the
    /// pipeline, one output stream per configured consumer, and what
    /// recovery did.
    pub fn start(
        config: PipelineConfig,
        engine_config: EngineConfig,
    ) -> Result<(Pipeline, Vec<OutputStream>, Recovery), PipelineError> {
        if let Some(core) = config.engine_core
            && let Some(reason) = affinity::unusable(core)
        {
            return Err(PipelineError::Core { core, reason });
        }
        // Checked above; a failure here leaves the thread where it was.
        let keep_off = move || {
            if let Some(core) = config.engine_core {
                let _ = affinity::keep_current_thread_off(core);
            }
        };
        let (engine, journal, recovery) = recover(&config, engine_config)?;
        let taps = if config.tap_capacity > 0 { config.taps } else { 0 };
        let consumer_sleepers: Vec<Arc<Sleeper>> =
            (0..config.consumers + taps).map(|_| Arc::new(Sleeper::default())).collect();
        let shared = Arc::new(Shared::new(consumer_sleepers.clone()));
        for counter in [&shared.stats.applied, &shared.stats.written, &shared.stats.durable] {
            counter.store(recovery.last_seq, Ordering::Relaxed);
        }
        let (inbound_tx, mut inbound_rx) = rtrb::RingBuffer::new(config.inbound_capacity.max(1));
        let inbound = Arc::new(Mutex::new(InboundTx { tx: inbound_tx, pushed: 0 }));
        let queries = Arc::new(ArrayQueue::new(QUERY_CAPACITY));
        let (journal_tx, journal_rx) = rtrb::RingBuffer::new(config.journal_capacity.max(1));
        let mut output_txs = Vec::new();
        let mut streams = Vec::new();
        for sleeper in &consumer_sleepers[..config.consumers] {
            let (tx, rx) = rtrb::RingBuffer::new(config.outbound_capacity.max(1));
            output_txs.push(tx);
            streams.push(OutputStream { rx, shared: shared.clone(), sleeper: sleeper.clone() });
        }
        let (snap_tx, snap_rx) = std::sync::mpsc::sync_channel::<Engine>(1);
        // Copies written come back to be cloned into (see `Engine`'s `Clone`).
        let (spare_tx, spare_rx) = std::sync::mpsc::sync_channel::<Engine>(1);
        if config.snapshot_every > 0 {
            // A venue that snapshots periodically gets its first spare now,
            // a copy of the recovered state made before the engine runs:
            // after a restart, its first snapshot copies into memory already
            // there instead of pausing for the page faults.
            let _ = spare_tx.try_send(engine.clone());
        }
        let mut tap_tx = Vec::with_capacity(taps);
        let mut tap = Vec::with_capacity(taps);
        for sleeper in &consumer_sleepers[config.consumers..] {
            let (tx, rx) = rtrb::RingBuffer::new(config.tap_capacity);
            tap_tx.push(tx);
            tap.push(CommandTap { rx, shared: shared.clone(), sleeper: sleeper.clone() });
        }
        // Handed out first to last.
        tap.reverse();

        let journal_thread = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("venue-journal".into())
                .spawn(move || {
                    keep_off();
                    let result = journal_loop(journal, journal_rx, &shared);
                    shared.journal_done.store(true, Ordering::Release);
                    shared.wake_consumers();
                    result
                })
                .map_err(PipelineError::Io)?
        };
        let snapshot_thread = {
            let shared = shared.clone();
            let dir = config.snapshot_dir();
            let keep = config.keep_snapshots.max(1);
            std::thread::Builder::new()
                .name("venue-snapshot".into())
                .spawn(move || {
                    keep_off();
                    snapshot_loop(&dir, keep, (snap_rx, spare_tx), &shared)
                })
                .map_err(PipelineError::Io)?
        };
        let engine_thread = {
            let shared = shared.clone();
            let inbound = inbound.clone();
            let queries = queries.clone();
            let every = config.snapshot_every;
            let core = config.engine_core;
            std::thread::Builder::new()
                .name("venue-engine".into())
                .spawn(move || {
                    if let Some(core) = core {
                        let _ = affinity::pin_current_thread(core);
                    }
                    let rings = Rings {
                        journal: journal_tx,
                        outputs: output_txs,
                        tap: tap_tx,
                        snapshots: snap_tx,
                        spare: spare_rx,
                    };
                    engine_loop(engine, (&inbound, &mut inbound_rx), &queries, rings, every, &shared)
                })
                .map_err(PipelineError::Io)?
        };
        let pipeline = Pipeline {
            submitter: Submitter { inbound, queries, shared: shared.clone() },
            shared,
            engine: Some(engine_thread),
            journal: Some(journal_thread),
            snapshots: Some(snapshot_thread),
            tap,
        };
        Ok((pipeline, streams, recovery))
    }

    /// A handle for submitting commands.
    pub fn submitter(&self) -> Submitter {
        self.submitter.clone()
    }

    /// The next command tap (None if disabled in the configuration or all
    /// taken). Each is handed out once.
    pub fn take_command_tap(&mut self) -> Option<CommandTap> {
        self.tap.pop()
    }

    /// Live counters.
    pub fn stats(&self) -> &Stats {
        &self.shared.stats
    }

    /// A handle on the counters that outlives borrows of the pipeline.
    pub fn monitor(&self) -> Monitor {
        Monitor { shared: self.shared.clone() }
    }

    /// Asks the engine thread to take a snapshot at its next command
    /// boundary.
    pub fn request_snapshot(&self) {
        self.shared.snapshot_requested.store(true, Ordering::Release);
        self.shared.engine_sleeper.wake();
    }

    /// Stops accepting commands, lets the engine finish what was queued and
    /// the journal commit it, and returns the final engine.
    pub fn shutdown(mut self) -> Result<Engine, PipelineError> {
        self.stop_threads()
    }

    fn stop_threads(&mut self) -> Result<Engine, PipelineError> {
        self.shared.stop.store(true, Ordering::SeqCst);
        self.shared.engine_sleeper.wake();
        let engine = self.engine.take().expect("engine thread").join().expect("engine thread panicked");
        let journal = self.journal.take().expect("journal thread").join().expect("journal thread panicked");
        if let Some(snapshots) = self.snapshots.take() {
            let _ = snapshots.join();
        }
        journal.map_err(PipelineError::Journal)?;
        Ok(engine)
    }
}

impl Drop for Pipeline {
    fn drop(&mut self) {
        if self.engine.is_some() {
            let _ = self.stop_threads();
        }
    }
}

/// Where the engine thread sends what it does.
struct Rings {
    journal: rtrb::Producer<Sequenced>,
    outputs: Vec<rtrb::Producer<Stamped>>,
    tap: Vec<rtrb::Producer<Tapped>>,
    snapshots: std::sync::mpsc::SyncSender<Engine>,
    /// A copy the snapshot thread has written and handed back.
    spare: std::sync::mpsc::Receiver<Engine>,
}

fn engine_loop(
    mut engine: Engine,
    (inbound_tx, inbound): (&Mutex<InboundTx>, &mut rtrb::Consumer<Inbound>),
    queries: &ArrayQueue<Query>,
    mut rings: Rings,
    snapshot_every: u64,
    shared: &Shared,
) -> Engine {
    let mut clock = Clock::new(engine.time().0);
    let mut outputs = Vec::with_capacity(4096);
    // Each command's time, fixed as it enters the journal ring.
    let mut times: Vec<Timestamp> = Vec::with_capacity(256);
    let mut ring_wait = Log2Tally::default();
    let mut idle = Idle(0);
    let mut seq = engine.seq();
    loop {
        let mut worked = false;
        // One clock read per batch: commands popped together share a
        // timestamp (time is still monotonic, and the read costs more than
        // applying a simple command), the time they are sequenced at. A
        // wait on the full journal ring reads it again (see below). One
        // clock read stamps the batch and times it.
        let batch_start = Instant::now();
        let mut now = Timestamp(clock.at(batch_start));
        let chunk = read_up_to(inbound, 256);
        let (front, back) = chunk.as_ref().map_or((&[][..], &[][..]), |c| c.as_slices());
        // Memory is asked for three commands ahead, a stage per command:
        // the table slots of the command three ahead, then (one command
        // later, once they have arrived) its order's node, then the node's
        // level and queue neighbours. With many books these would otherwise
        // be cache misses taken one after another (see `Engine::prefetch`).
        let len = front.len() + back.len();
        let command_at = |i: usize| if i < front.len() { &front[i] } else { &back[i - front.len()] };
        for i in 0..len.min(3) {
            engine.prefetch(&command_at(i).1);
        }
        // The batch goes to the journal ring before any of it is applied:
        // one run of stores the core can overlap (each slot is a cache line
        // the journal's core last held), instead of one command's stores
        // between each apply. The journal is the command log, so writing it
        // ahead of the engine changes nothing it records; outputs are still
        // released only once durable. A command made after a wait on a full
        // ring reads the clock again, so it is not stamped with stale time.
        times.clear();
        {
            let (seq0, mut waits_seen) = (seq, 0u32);
            push_all(
                &mut rings.journal,
                len,
                |k, waits| {
                    if waits != waits_seen {
                        waits_seen = waits;
                        now = Timestamp(clock.now());
                    }
                    times.push(now);
                    Sequenced { seq: seq0 + 1 + k as u64, time: now, command: command_at(k).1 }
                },
                shared,
            );
        }
        for i in 0..len {
            let &(origin, command, submitted) = command_at(i);
            if i + 3 < len {
                engine.prefetch(&command_at(i + 3).1);
            }
            if i + 2 < len {
                engine.prefetch_node(&command_at(i + 2).1);
            }
            if i + 1 < len {
                engine.prefetch_neighbours(&command_at(i + 1).1);
            }
            worked = true;
            seq += 1;
            if let Some(submitted) = submitted {
                ring_wait.record(batch_start.saturating_duration_since(submitted));
            }
            // A journal that failed mid-push left the rest unstamped.
            let now = times.get(i).copied().unwrap_or(now);
            let sequenced = Sequenced { seq, time: now, command };
            outputs.clear();
            engine.apply(&sequenced, &mut outputs);
            for tap in &mut rings.tap {
                let tapped = Tapped { sequenced, origin, outputs: outputs.len() as u32 };
                push_wait(tap, tapped, shared);
            }
            let last = outputs.len().wrapping_sub(1);
            for tx in &mut rings.outputs {
                let stamped =
                    |i: usize, _| Stamped { seq, time: now, origin, last: i == last, output: outputs[i] };
                push_all(tx, outputs.len(), stamped, shared);
            }
            if snapshot_every > 0 && seq.is_multiple_of(snapshot_every) {
                shared.snapshot_requested.store(true, Ordering::Relaxed);
            }
        }
        if let Some(chunk) = chunk {
            chunk.commit_all();
        }
        shared.stats.applied.store(seq, Ordering::Release);
        ring_wait.flush_into(&shared.stats.ring_wait);
        if worked {
            shared.stats.engine_batch.record(batch_start.elapsed());
        }
        for _ in 0..16 {
            let Some(query) = queries.pop() else { break };
            query(&engine);
            worked = true;
        }
        if shared.snapshot_requested.swap(false, Ordering::AcqRel) {
            let started = Instant::now();
            // Into the last copy written when there is one: the same memory
            // again instead of fresh pages to fault in (a hundred books:
            // 33 ms for the first snapshot, a few ms after).
            let copy = match rings.spare.try_recv() {
                Ok(mut spare) => {
                    spare.clone_from(&engine);
                    spare
                }
                Err(_) => engine.clone(),
            };
            let pause = started.elapsed().as_nanos() as u64;
            shared.stats.last_snapshot_pause_ns.store(pause, Ordering::Relaxed);
            shared.stats.max_snapshot_pause_ns.fetch_max(pause, Ordering::Relaxed);
            // A snapshot still being written: skip this one rather than wait.
            let _ = rings.snapshots.try_send(copy);
        }
        if worked {
            idle = Idle(0);
            shared.journal_sleeper.wake();
        } else if shared.stop.load(Ordering::SeqCst) && {
            // Once no submitter holds the lock, none can push any more: each
            // checks `stop` under it.
            drop(lock(inbound_tx));
            inbound.is_empty()
        } {
            break;
        } else {
            idle.wait(&shared.engine_sleeper, || {
                !inbound.is_empty()
                    || !queries.is_empty()
                    || shared.stop.load(Ordering::SeqCst)
                    || shared.snapshot_requested.load(Ordering::Acquire)
            });
        }
    }
    shared.engine_done.store(true, Ordering::Release);
    shared.journal_sleeper.wake();
    shared.wake_consumers();
    engine
}

fn journal_loop(
    mut journal: Journal,
    mut rx: rtrb::Consumer<Sequenced>,
    shared: &Shared,
) -> Result<(), venue_journal::JournalError> {
    let mut payload = Vec::with_capacity(256);
    let mut idle = Idle(0);
    let fail = |e| {
        shared.stats.journal_failed.store(true, Ordering::Release);
        e
    };
    loop {
        let done = shared.engine_done.load(Ordering::Acquire);
        let mut appended = 0usize;
        if let Some(chunk) = read_up_to(&mut rx, 1 << 14) {
            let (front, back) = chunk.as_slices();
            for item in front.iter().chain(back) {
                payload.clear();
                item.command.encode(&mut payload);
                journal.append(item.seq, item.time.0, item.command.tag(), &payload).map_err(fail)?;
            }
            appended = chunk.len();
            chunk.commit_all();
        }
        let lagging = journal.durable_seq() != journal.written_seq();
        if appended > 0 || lagging {
            let started = Instant::now();
            let info = journal.commit().map_err(fail)?;
            if appended > 0 {
                shared.stats.commits.fetch_add(1, Ordering::Relaxed);
                shared.stats.commit_latency.record(started.elapsed());
            }
            if let Some(written) = info.written_seq {
                shared.stats.written.store(written, Ordering::Release);
            }
            if let Some(durable) = info.durable_seq {
                shared.stats.durable.store(durable, Ordering::Release);
                shared.wake_consumers();
            }
        }
        if appended > 0 {
            idle = Idle(0);
        } else if done && rx.is_empty() {
            if journal.durable_seq() != journal.written_seq() {
                let info = journal.sync().map_err(fail)?;
                if let Some(durable) = info.durable_seq {
                    shared.stats.durable.store(durable, Ordering::Release);
                }
            }
            shared.wake_consumers();
            return Ok(());
        } else {
            idle.wait(&shared.journal_sleeper, || {
                !rx.is_empty() || shared.engine_done.load(Ordering::Acquire)
            });
        }
    }
}

/// Writes the copies the engine sends, and hands each back once done with
/// it (the engine's next snapshot is cloned into it).
fn snapshot_loop(
    dir: &Path,
    keep: usize,
    (rx, spare): (std::sync::mpsc::Receiver<Engine>, std::sync::mpsc::SyncSender<Engine>),
    shared: &Shared,
) {
    while let Ok(engine) = rx.recv() {
        // The snapshot must not get ahead of the journal: a restart would
        // find state for commands the journal does not hold.
        let mut backoff = Backoff(0);
        while shared.stats.durable.load(Ordering::Acquire) < engine.seq() {
            if shared.stats.journal_failed.load(Ordering::Relaxed) {
                return;
            }
            backoff.snooze();
        }
        let written = if engine.check_ledger().is_err() {
            shared.stats.ledger_broken.store(true, Ordering::Release);
            false
        } else {
            snapshot::write(dir, &engine.export()).is_ok()
        };
        let seq = engine.seq();
        // Back before the count moves, so a snapshot asked for once this one
        // shows finds it. One spare is enough; a second (two copies were
        // queued) goes.
        let _ = spare.try_send(engine);
        if written {
            shared.stats.snapshots.fetch_add(1, Ordering::Relaxed);
            shared.stats.last_snapshot_seq.store(seq, Ordering::Release);
            let _ = snapshot::prune(dir, keep);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// More items than the ring holds, wrapping around its end many times,
    /// against a consumer that reads in chunks of its own size: every item
    /// arrives once, in order.
    #[test]
    fn chunked_pushes_and_reads_keep_order_across_wraps_and_a_full_ring() {
        let shared = Shared::new(Vec::new());
        let (mut tx, mut rx) = rtrb::RingBuffer::<u64>::new(7);
        let total = 10_000u64;
        let reader = std::thread::spawn(move || {
            let mut seen: Vec<u64> = Vec::new();
            let mut max = 1;
            while seen.len() < total as usize {
                if let Some(chunk) = read_up_to(&mut rx, max) {
                    let (front, back) = chunk.as_slices();
                    seen.extend(front.iter().chain(back));
                    chunk.commit_all();
                }
                max = max % 5 + 1;
            }
            seen
        });
        let mut next = 0u64;
        let mut waited = false;
        for n in (1..=20).cycle() {
            let n = n.min(total - next);
            if n == 0 {
                break;
            }
            // Items after a wait are told so (the engine re-reads its clock
            // for them), and the count never goes back.
            let mut seen_waits = 0u32;
            let this = push_all(
                &mut tx,
                n as usize,
                |i, waits| {
                    assert!(waits >= seen_waits, "wait count went back");
                    seen_waits = waits;
                    next + i as u64
                },
                &shared,
            );
            assert_eq!(this, seen_waits, "every wait is reported to the items after it");
            waited |= this > 0;
            next += n;
        }
        let seen = reader.join().expect("reader");
        assert_eq!(seen, (0..total).collect::<Vec<_>>());
        assert!(waited, "a 7-slot ring must have been full at some point");
    }
}
