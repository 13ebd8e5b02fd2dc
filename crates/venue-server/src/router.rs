//! Answers to requests: the consumer thread that reads the engine's durable
//! outputs and hands each command's outputs to whoever is waiting for them.
//!
//! A request gets a fresh origin tag, registers a waiter under it, and
//! submits its command with that tag. The router thread polls its output
//! stream (durable outputs only: an answer is never sent for a command the
//! journal could still lose) and collects outputs per origin until the one
//! marked `last`, then completes the waiter. Outputs nobody waits for (fills
//! of resting orders, timer expiries) only feed the counters and the
//! per-account order history ([`history`]), which sees every output before
//! its command is answered.

use crate::history;
use crate::outlet::Outlet;

use crate::metrics::Metrics;
use std::collections::BTreeMap;
use std::sync::atomic::AtomicBool;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::oneshot;
use venue_domain::{AccountId, Reject};
use venue_engine::Engine;
use venue_engine::{Command, Output};
use venue_matching::EventKind;
use venue_pipeline::{Monitor, OutputStream, Stamped, Submitter};

/// Origins below this are reserved for long-lived sources (timer, start-up,
/// gateway sessions); requests count up from here.
const FIRST_REQUEST_ORIGIN: u64 = 1 << 32;

/// Gateway sessions take origins from here up (below the request range).
const FIRST_SESSION_ORIGIN: u64 = 1 << 20;

/// A gateway session's feed of outputs: everything concerning its account
/// plus everything its own commands produced, in order, durable only.
pub struct Feed {
    /// The origin tag to submit this session's commands with.
    pub origin: u64,
    /// The outputs.
    pub rx: tokio::sync::mpsc::Receiver<Stamped>,
    /// Set when the feed could not keep up and lost outputs: the session
    /// must disconnect (its client resynchronises by order status).
    pub overflowed: Arc<AtomicBool>,
    router: Arc<Router>,
}

impl Drop for Feed {
    fn drop(&mut self) {
        let mut subs = self.router.subscribers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        subs.retain(|s| s.origin != self.origin);
    }
}

struct Subscriber {
    origin: u64,
    account: Option<AccountId>,
    outlet: Outlet<Stamped>,
}

/// The accounts an output concerns (for routing to their sessions).
fn accounts_of(output: &Output) -> [Option<AccountId>; 2] {
    match output {
        Output::Book(event) => match event.kind {
            EventKind::Accepted { account, .. }
            | EventKind::Rejected { account, .. }
            | EventKind::Cancelled { account, .. }
            | EventKind::Expired { account, .. }
            | EventKind::Triggered { account, .. }
            | EventKind::Amended { account, .. }
            | EventKind::Reduced { account, .. } => [Some(account), None],
            EventKind::Trade { maker_account, taker_account, .. } => {
                [Some(maker_account), (taker_account != maker_account).then_some(taker_account)]
            }
            EventKind::MassCancelled { account, .. } => [account, None],
            _ => [None, None],
        },
        Output::Settlement(s) => [Some(s.buyer), (s.seller != s.buyer).then_some(s.seller)],
        Output::Transfer { account, .. }
        | Output::AccountSet { account }
        | Output::KillSwitch { account, .. } => [Some(*account), None],
        Output::CommandRejected { .. } | Output::Ticked => [None, None],
    }
}

/// Why a request got no answer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestError {
    /// Refused before sequencing (ring full, venue stopping): nothing
    /// happened, the client may retry.
    Refused(Reject),
    /// No answer in time. The command may still have been applied: the
    /// client must check before retrying.
    Timeout,
    /// The venue stopped before answering; as with a timeout, the outcome
    /// is unknown.
    Stopped,
}

struct Waiter {
    answer: Answer,
    done: oneshot::Sender<Answer>,
    started: Instant,
}

/// A command's outputs with its sequencer stamp.
#[derive(Clone, Debug, Default)]
pub struct Answer {
    /// Sequence number of the command.
    pub seq: u64,
    /// Sequencer time of the command (transaction time).
    pub time: venue_domain::Timestamp,
    /// Its outputs, in order.
    pub outputs: Vec<Output>,
}

/// A submitted command's answer, to await with [`Pending::wait`].
pub struct Pending {
    router: Arc<Router>,
    origin: u64,
    answer: oneshot::Receiver<Answer>,
}

impl Pending {
    /// The command's outputs once durable, or why they did not come.
    pub async fn wait(self, timeout: Duration) -> Result<Answer, RequestError> {
        match tokio::time::timeout(timeout, self.answer).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(_)) => Err(RequestError::Stopped),
            Err(_) => {
                self.router.lock().remove(&self.origin);
                Err(RequestError::Timeout)
            }
        }
    }
}

/// Submits commands and awaits their outputs. Cheap to share.
pub struct Router {
    submitter: Submitter,
    waiters: Mutex<BTreeMap<u64, Waiter>>,
    next_origin: AtomicU64,
    next_session_origin: AtomicU64,
    subscribers: Mutex<Vec<Subscriber>>,
    metrics: Arc<Metrics>,
    history: Arc<history::History>,
}

impl Router {
    /// A router over `submitter`, counting into `metrics`.
    pub fn new(submitter: Submitter, metrics: Arc<Metrics>) -> Arc<Router> {
        Arc::new(Router {
            submitter,
            waiters: Mutex::new(BTreeMap::new()),
            next_origin: AtomicU64::new(FIRST_REQUEST_ORIGIN),
            next_session_origin: AtomicU64::new(FIRST_SESSION_ORIGIN),
            subscribers: Mutex::new(Vec::new()),
            metrics,
            history: history::History::new(),
        })
    }

    /// Submits without waiting (timers, start-up); `origin` should be
    /// below the request range.
    pub fn submit(&self, origin: u64, command: Command) -> Result<(), Reject> {
        self.submitter.submit(origin, command)
    }

    /// Reads the engine's state with `read` (run on the engine thread: keep
    /// it small) and returns the answer once the command it reflects is
    /// durable, so a client never sees a state the journal could lose.
    pub async fn query<T: Send + 'static>(
        &self,
        monitor: &Monitor,
        read: impl FnOnce(&Engine) -> T + Send + 'static,
        timeout: Duration,
    ) -> Result<T, RequestError> {
        let (done, answer) = oneshot::channel();
        self.submitter
            .query(Box::new(move |engine: &Engine| {
                let _ = done.send((engine.seq(), read(engine)));
            }))
            .map_err(RequestError::Refused)?;
        let deadline = tokio::time::Instant::now() + timeout;
        let (seq, value) = match tokio::time::timeout_at(deadline, answer).await {
            Ok(Ok(answer)) => answer,
            Ok(Err(_)) => return Err(RequestError::Stopped),
            Err(_) => return Err(RequestError::Timeout),
        };
        while monitor.stats().durable.load(Ordering::Acquire) < seq {
            if monitor.stats().journal_failed.load(Ordering::Relaxed) {
                return Err(RequestError::Stopped);
            }
            if tokio::time::Instant::now() > deadline {
                return Err(RequestError::Timeout);
            }
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
        Ok(value)
    }

    /// Opens a feed for a gateway session: outputs concerning `account` (if
    /// any) and all outputs of commands submitted with the feed's origin.
    /// `capacity` bounds what may wait unread; beyond it the feed is marked
    /// overflowed and the session must go (the engine never waits for it).
    pub fn subscribe(self: &Arc<Router>, account: Option<AccountId>, capacity: usize) -> Feed {
        let origin = self.next_session_origin.fetch_add(1, Ordering::Relaxed);
        let (outlet, rx, overflowed) = Outlet::new(capacity);
        let mut subs = self.subscribers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        subs.push(Subscriber { origin, account, outlet });
        Feed { origin, rx, overflowed, router: self.clone() }
    }

    fn fan_out(&self, stamped: &Stamped) {
        let accounts = accounts_of(&stamped.output);
        let subs = self.subscribers.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
        for sub in subs.iter() {
            let wanted =
                sub.origin == stamped.origin || (sub.account.is_some() && accounts.contains(&sub.account));
            if wanted {
                sub.outlet.offer(*stamped);
            }
        }
    }

    /// The order and trade history and account events it keeps (REST
    /// `allOrders`, `myTrades`, user data streams).
    pub fn history(&self) -> &Arc<history::History> {
        &self.history
    }

    /// The counters it writes (gateways add theirs).
    pub fn metrics(&self) -> &Arc<Metrics> {
        &self.metrics
    }

    /// Commands waiting in the inbound ring.
    pub fn queued(&self) -> usize {
        self.submitter.queued()
    }

    /// Submits `command` and returns its outputs once durable. The command
    /// must be one that always produces an output (anything but `Tick` and
    /// `EndOfSession`).
    pub async fn execute(
        self: &Arc<Router>,
        command: Command,
        timeout: Duration,
    ) -> Result<Vec<Output>, RequestError> {
        self.start(command)?.wait(timeout).await.map(|answer| answer.outputs)
    }

    /// Submits `command` now and returns its answer to await later: a
    /// streaming session submits its requests in the order they arrived
    /// (so they are sequenced in that order) while many are in flight.
    pub fn start(self: &Arc<Router>, command: Command) -> Result<Pending, RequestError> {
        self.start_with(command, |_| {})
    }

    /// As [`start`](Self::start), first calling `before` with the request's
    /// origin: what a gateway files under that origin (the order history's
    /// registration) is in place before any output can name it, and is
    /// matched by the origin rather than guessed from the order's fields.
    pub fn start_with(
        self: &Arc<Router>,
        command: Command,
        before: impl FnOnce(u64),
    ) -> Result<Pending, RequestError> {
        let origin = self.next_origin.fetch_add(1, Ordering::Relaxed);
        before(origin);
        let (done, answer) = oneshot::channel();
        self.lock().insert(origin, Waiter { answer: Answer::default(), done, started: Instant::now() });
        if let Err(reject) = self.submitter.submit(origin, command) {
            self.lock().remove(&origin);
            return Err(RequestError::Refused(reject));
        }
        Ok(Pending { router: self.clone(), origin, answer })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Waiter>> {
        // A panic while holding this lock cannot leave the map half-changed
        // (each use is one insert or remove), so a poisoned lock is usable.
        self.waiters.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    fn dispatch(&self, stamped: &Stamped) {
        self.metrics.count_output(&stamped.output);
        // Before the waiter is answered: a client finds its order at once.
        self.history.record(stamped);
        self.fan_out(stamped);
        if stamped.origin < FIRST_REQUEST_ORIGIN {
            return;
        }
        let mut waiters = self.lock();
        let Some(waiter) = waiters.get_mut(&stamped.origin) else { return };
        if waiter.answer.outputs.is_empty() {
            (waiter.answer.seq, waiter.answer.time) = (stamped.seq, stamped.time);
        }
        waiter.answer.outputs.push(stamped.output);
        if stamped.last {
            let waiter = waiters.remove(&stamped.origin).expect("present");
            drop(waiters);
            self.metrics.request_latency.record(waiter.started.elapsed());
            let _ = waiter.done.send(waiter.answer);
        }
    }

    /// The router thread's body: polls until the pipeline has stopped and
    /// everything was handed over. Waiters still pending then are dropped,
    /// which answers them [`RequestError::Stopped`].
    pub fn run(self: Arc<Router>, mut stream: OutputStream) {
        let mut idle = 0u32;
        loop {
            let taken = stream.poll(4096, |stamped| self.dispatch(stamped));
            if taken > 0 {
                idle = 0;
                continue;
            }
            if stream.finished() {
                break;
            }
            idle = idle.saturating_add(1);
            if idle < 64 {
                std::hint::spin_loop();
            } else {
                // Parked until the journal makes something durable.
                stream.wait();
            }
        }
        self.lock().clear();
        // Closing the feeds tells the sessions the venue has stopped.
        self.subscribers.lock().unwrap_or_else(std::sync::PoisonError::into_inner).clear();
        self.history.close_feeds();
    }
}
