//! The FIX 4.4 acceptor: sockets and tasks around `venue-fix`'s session
//! layer, and order entry through the engine.
//!
//! One task per configured session owns its [`Session`] state machine, its
//! [`OrderDesk`] and its feed of engine outputs, for the life of the venue:
//! the desk keeps following the account's orders while the client is away.
//! The acceptor reads a connection's first message, finds the session by
//! its CompIDs and hands the connection to that session's task; a second
//! connection for a session already connected is closed (duplicate logon
//! refused), as is one whose CompIDs match no session.
//!
//! Replies to orders leave only once the engine's command is durable (the
//! feed comes from the router, which reads durable outputs).

pub mod md;
pub mod orders;

use crate::clock::now_ns;
use crate::config::{FixSessionSettings, FixSettings};
use orders::{Inbound, OrderDesk, Reply};
use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, watch};
use venue_domain::InstrumentSpec;
use venue_engine::Command;
use venue_fix::session::{Action, FileStore, Session, SessionConfig};
use venue_fix::{FrameResult, Framer, Parser};

/// A client connection of either kind.
pub trait Stream: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Stream for T {}

/// A connection handed to a session: the socket and what was already read.
pub struct Connection {
    stream: Box<dyn Stream>,
    buffered: Vec<u8>,
    peer: String,
}

/// How long a new connection may take to send its Logon.
const LOGON_TIMEOUT: Duration = Duration::from_secs(10);
/// Session timer period (heartbeats, test requests, logout timeouts).
const TICK: Duration = Duration::from_millis(100);
/// Outputs a session may have unread before it is cut off as too slow.
const FEED_CAPACITY: usize = 1 << 16;

/// Connections that may wait for their Logon at once: more are closed on
/// arrival, so a crowd of silent sockets cannot pile up file descriptors
/// and tasks (each may wait `LOGON_TIMEOUT`).
const MAX_PENDING_LOGONS: usize = 256;

/// The running acceptor's sessions, by CompID pair.
pub struct FixAcceptor {
    sessions: Vec<(FixSessionSettings, mpsc::Sender<Connection>)>,
    pending: std::sync::atomic::AtomicUsize,
}

/// Counts a connection as waiting for its Logon while it lives.
struct PendingGuard<'a>(&'a std::sync::atomic::AtomicUsize);

impl Drop for PendingGuard<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
    }
}

/// Starts one task per session; returns the acceptor that routes new
/// connections to them and the tasks (which end after `stop`, once their
/// clients are logged out).
pub fn start(
    settings: &FixSettings,
    data_dir: &Path,
    venue: &Arc<crate::venue::Venue>,
    instruments: Arc<Vec<InstrumentSpec>>,
    market: Arc<crate::market::MarketFeed>,
    stop: watch::Receiver<bool>,
) -> Result<(Arc<FixAcceptor>, Vec<tokio::task::JoinHandle<()>>), String> {
    let mut sessions = Vec::new();
    let mut tasks = Vec::new();
    for config in &settings.sessions {
        let dir = store_dir(data_dir, config);
        let store = FileStore::open(&dir)
            .map_err(|e| format!("FIX session store {}: {e}", dir.display()))?
            .with_fsync(settings.store_fsync);
        let session_config = SessionConfig {
            begin_string: "FIX.4.4".into(),
            sender_comp_id: config.sender_comp_id.clone(),
            target_comp_id: config.target_comp_id.clone(),
            password: config.password.as_ref().map(|p| p.expose().to_owned()),
            username: config.username.clone(),
            heartbeat_min_secs: config.heartbeat_secs.0,
            heartbeat_max_secs: config.heartbeat_secs.1,
            reset_on_logon: config.reset_on_logon,
            sending_time_tolerance_ns: 120_000_000_000,
            max_message_len: 64 << 10,
        };
        let session = Session::new(session_config, Box::new(store));
        let (tx, rx) = mpsc::channel(4);
        let task = SessionTask {
            config: config.clone(),
            session,
            desk: config
                .account
                .map(|account| OrderDesk::new(account, instruments.clone(), venue.names.clone())),
            venue: venue.clone(),
            connections: rx,
            stop: stop.clone(),
            seen: BTreeSet::new(),
            parser: Parser::with_capacity(64),
            md: md::MdDesk::default(),
            md_rx: None,
            market: market.clone(),
            instruments: instruments.clone(),
            traced: std::collections::VecDeque::new(),
            authenticated: false,
        };
        tasks.push(tokio::spawn(task.run()));
        sessions.push((config.clone(), tx));
    }
    Ok((Arc::new(FixAcceptor { sessions, pending: std::sync::atomic::AtomicUsize::new(0) }), tasks))
}

impl FixAcceptor {
    /// Accepts connections until `stop`.
    pub async fn serve(
        self: Arc<FixAcceptor>,
        tcp: TcpListener,
        tls: Option<Arc<rustls::ServerConfig>>,
        mut stop: watch::Receiver<bool>,
    ) {
        let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
        loop {
            let accepted = tokio::select! {
                accepted = tcp.accept() => accepted,
                _ = stop.wait_for(|s| *s) => return,
            };
            let (stream, peer) = match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    tracing::warn!(error = %e, "FIX accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            };
            if self.pending.fetch_add(1, std::sync::atomic::Ordering::Relaxed) >= MAX_PENDING_LOGONS {
                self.pending.fetch_sub(1, std::sync::atomic::Ordering::Relaxed);
                tracing::warn!(%peer, "FIX connection refused: too many connections waiting for their Logon");
                continue;
            }
            let _ = stream.set_nodelay(true);
            let (this, acceptor) = (self.clone(), acceptor.clone());
            tokio::spawn(async move {
                let _pending = PendingGuard(&this.pending);
                let stream: Box<dyn Stream> = match acceptor {
                    None => Box::new(stream),
                    Some(acceptor) => {
                        match tokio::time::timeout(LOGON_TIMEOUT, acceptor.accept(stream)).await {
                            Ok(Ok(tls)) => Box::new(tls),
                            _ => return,
                        }
                    }
                };
                this.route(stream, peer.to_string()).await;
            });
        }
    }

    /// Reads the first message and hands the connection to its session.
    async fn route(&self, mut stream: Box<dyn Stream>, peer: String) {
        let mut buffered = Vec::with_capacity(4096);
        let framer = Framer::new(64 << 10);
        let deadline = tokio::time::Instant::now() + LOGON_TIMEOUT;
        let frame_len = loop {
            match framer.next_frame(&buffered) {
                FrameResult::Complete { len } => break len,
                FrameResult::Garbled { skip, .. } => {
                    // Ignored, as the spec says; frame the rest before
                    // reading more (a Logon may already be behind it).
                    buffered.drain(..skip.clamp(1, buffered.len().max(1)));
                    continue;
                }
                FrameResult::Incomplete => {}
            }
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout_at(deadline, stream.read(&mut chunk)).await {
                Ok(Ok(n)) if n > 0 => buffered.extend_from_slice(&chunk[..n]),
                // Closed, failed or silent: a connection that never speaks
                // is harmless.
                _ => return,
            }
        };
        let mut parser = Parser::new();
        let Ok(message) = parser.parse(&buffered[..frame_len]) else { return };
        let (Ok(theirs), Ok(ours)) = (message.fields().get_str(49), message.fields().get_str(56)) else {
            return;
        };
        let Some((_, tx)) =
            self.sessions.iter().find(|(s, _)| s.target_comp_id == theirs && s.sender_comp_id == ours)
        else {
            tracing::warn!(%peer, sender = theirs, target = ours, "FIX logon for an unknown session refused");
            return;
        };
        let _ = tx.try_send(Connection { stream, buffered, peer });
    }
}

/// What woke a session task.
enum Event {
    Connection(Option<Connection>),
    Read(Option<usize>),
    Output(Option<venue_pipeline::Stamped>),
    Market(Result<Arc<venue_marketdata::Update>, tokio::sync::broadcast::error::RecvError>),
    Tick,
    Stop,
}

struct SessionTask {
    config: FixSessionSettings,
    session: Session,
    desk: Option<OrderDesk>,
    connections: mpsc::Receiver<Connection>,
    stop: watch::Receiver<bool>,
    /// Echo application: ClOrdIDs seen in this logon.
    seen: BTreeSet<String>,
    /// Parses delivered application messages (kept, so it stays warm).
    parser: Parser,
    /// Market-data subscriptions of this logon.
    md: md::MdDesk,
    /// Market-data updates, while a subscription is live.
    md_rx: Option<tokio::sync::broadcast::Receiver<Arc<venue_marketdata::Update>>>,
    market: Arc<crate::market::MarketFeed>,
    instruments: Arc<Vec<InstrumentSpec>>,
    /// The router (commands, feeds, reads of the engine's books), the
    /// monitor that tells when a read is durable, and the tracer that
    /// samples orders for OpenTelemetry.
    venue: Arc<crate::venue::Venue>,
    /// One entry per command submitted on this task's feed origin, in
    /// order (the engine answers them in that order): the trace of a
    /// sampled new order, completed when its last output arrives.
    traced: std::collections::VecDeque<Option<crate::otlp::OrderTrace>>,
    /// The current connection completed a Logon (CompIDs and credentials
    /// checked). Only such a connection speaks for the session's account:
    /// one refused at logon, or that never logged on, must not trigger its
    /// cancel-on-disconnect.
    authenticated: bool,
}

/// Completes the trace of the command whose last output `stamped` is.
fn finish_trace(
    traced: &mut std::collections::VecDeque<Option<crate::otlp::OrderTrace>>,
    tracer: &crate::otlp::Tracer,
    stamped: &venue_pipeline::Stamped,
    origin: u64,
) {
    if stamped.origin != origin || !stamped.last || !tracer.enabled() {
        return;
    }
    if let Some(Some(mut trace)) = traced.pop_front() {
        trace.seq = stamped.seq;
        trace.sequenced = stamped.time.0;
        trace.answered = now_ns();
        (trace.outcome, trace.error) = match stamped.output {
            venue_engine::Output::Book(venue_matching::Event {
                kind: venue_matching::EventKind::Rejected { reason, .. },
                ..
            }) => (format!("rejected: {}", reason.as_str()), true),
            _ => ("answered".into(), false),
        };
        tracer.record(trace);
    }
}

/// How many of the newest stored messages a session reads at start to
/// recall its orders (see [`OrderDesk::recall`]): a few hundred bytes each.
const RECALLED_MESSAGES: u64 = 50_000;

impl SessionTask {
    /// Tells the desk what the session last reported of each order, from
    /// the newest stored messages, before it learns the live orders.
    fn recall(&mut self) {
        let Some(desk) = self.desk.as_mut() else { return };
        let last = self.session.next_sender_seq().saturating_sub(1);
        let mut from = last.saturating_sub(RECALLED_MESSAGES - 1).max(1);
        while from <= last {
            let to = last.min(from + 4095);
            match self.session.stored_outbound(from, to) {
                Ok(messages) => {
                    for (_, bytes) in &messages {
                        if let Ok(msg) = self.parser.parse(bytes) {
                            desk.recall(&msg);
                        }
                    }
                }
                Err(e) => {
                    tracing::error!(
                        session = %self.config.target_comp_id,
                        error = %e,
                        "cannot read the stored reports: orders that ended before now will be unknown"
                    );
                    break;
                }
            }
            from = to + 1;
        }
        desk.recalled();
    }

    async fn run(mut self) {
        self.recall();
        let mut feed = self.follow().await;
        let mut timer = tokio::time::interval(TICK);
        timer.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        let mut current: Option<Connection> = None;
        let mut actions = Vec::new();
        let mut read_buf = vec![0u8; 64 << 10];
        let mut pending: Vec<u8> = Vec::new();
        let mut stopping = false;
        loop {
            actions.clear();
            let event = tokio::select! {
                incoming = self.connections.recv() => Event::Connection(incoming),
                read = read_some(&mut current, &mut read_buf) => Event::Read(read),
                stamped = next_output(&mut feed) => Event::Output(stamped),
                update = next_update(&mut self.md_rx) => Event::Market(update),
                _ = timer.tick() => Event::Tick,
                _ = self.stop.wait_for(|s| *s), if !stopping => Event::Stop,
            };
            match event {
                Event::Connection(None) | Event::Output(None) => return,
                Event::Connection(Some(mut connection)) => {
                    if current.is_some() || stopping {
                        tracing::warn!(peer = %connection.peer, session = %self.config.target_comp_id, "duplicate FIX logon refused");
                        let _ = connection.stream.shutdown().await;
                        continue;
                    }
                    pending = std::mem::take(&mut connection.buffered);
                    tracing::info!(peer = %connection.peer, session = %self.config.target_comp_id, "FIX connection");
                    current = Some(connection);
                    let used = self.session.on_bytes(&pending, now_ns(), &mut actions);
                    pending.drain(..used.min(pending.len()));
                }
                Event::Read(Some(n)) if n > 0 => {
                    pending.extend_from_slice(&read_buf[..n]);
                    let started = std::time::Instant::now();
                    let used = self.session.on_bytes(&pending, now_ns(), &mut actions);
                    self.venue.router.metrics().fix_inbound.record(started.elapsed());
                    pending.drain(..used.min(pending.len()));
                }
                Event::Read(_) => {
                    self.disconnected(&mut current, "connection closed").await;
                    pending.clear();
                    if stopping {
                        return;
                    }
                    continue;
                }
                Event::Output(Some(stamped)) => {
                    let mut replies = Vec::new();
                    if let (Some(desk), Some(feed)) = (&mut self.desk, &mut feed) {
                        desk.on_output(&stamped, feed.origin, &mut replies);
                        finish_trace(&mut self.traced, &self.venue.tracer, &stamped, feed.origin);
                        // Take what else is waiting, so the replies share a write.
                        for _ in 0..1024 {
                            let Ok(more) = feed.rx.try_recv() else { break };
                            desk.on_output(&more, feed.origin, &mut replies);
                            finish_trace(&mut self.traced, &self.venue.tracer, &more, feed.origin);
                        }
                    }
                    if self.session.is_logged_on() {
                        send_replies(&mut self.session, &replies, &mut actions);
                    } else if !self.config.reset_on_logon {
                        // The client is away: keep its reports for the
                        // resend it will ask for at its next logon.
                        for reply in &replies {
                            store_reply(&mut self.session, reply);
                        }
                    }
                    if feed.as_ref().is_some_and(|f| f.overflowed.load(std::sync::atomic::Ordering::Relaxed))
                    {
                        tracing::error!(session = %self.config.target_comp_id, "FIX session too slow for its feed: disconnected");
                        self.disconnected(&mut current, "slow consumer").await;
                        self.traced.clear();
                        if let Some(desk) = &mut self.desk {
                            // A fill the desk held back is reported (stored
                            // for the client's resend), not lost.
                            let mut last = Vec::new();
                            desk.reset(&mut last);
                            if !self.config.reset_on_logon {
                                for reply in &last {
                                    store_reply(&mut self.session, reply);
                                }
                            }
                        }
                        feed = self.follow().await;
                        continue;
                    }
                }
                Event::Market(Ok(update)) => {
                    if self.session.is_logged_on() {
                        for reply in self.md.on_update(&update, &self.market, &self.instruments) {
                            send_reply(&mut self.session, &reply, &mut actions);
                        }
                    }
                }
                // Missed updates show as a gap at the next one, which
                // resends a snapshot.
                Event::Market(Err(tokio::sync::broadcast::error::RecvError::Lagged(_))) => {}
                Event::Market(Err(_)) => self.md_rx = None,
                Event::Tick => self.session.on_timer(now_ns(), &mut actions),
                Event::Stop => {
                    stopping = true;
                    if self.session.is_logged_on() {
                        self.session.logout("venue shutting down", now_ns(), &mut actions);
                    } else {
                        self.disconnected(&mut current, "venue shutting down").await;
                        return;
                    }
                }
            }
            if self.perform(&mut actions, &mut current, feed.as_ref().map(|f| f.origin)).await && stopping {
                return;
            }
            if stopping && current.is_none() {
                return;
            }
        }
    }

    /// Opens the feed of the account's outputs (if the session enters
    /// orders), then reads the account's live orders from the engine's
    /// books into the desk: orders placed before the venue started, or
    /// while no feed was open, are then known. Outputs already in the feed
    /// that the read reflects are skipped by the desk.
    async fn follow(&mut self) -> Option<crate::router::Feed> {
        let account = self.config.account?;
        let desk = self.desk.as_mut()?;
        let feed = self.venue.router.subscribe(Some(account), FEED_CAPACITY);
        let read = move |engine: &venue_engine::Engine| orders::LiveOrders {
            seq: engine.seq(),
            orders: engine
                .books()
                .iter()
                .flat_map(|book| {
                    book.orders_of(account).into_iter().map(|order| {
                        let budget = book.quote_budget(order.order_id).unwrap_or(0);
                        (book.spec().id, order, budget)
                    })
                })
                .collect(),
        };
        match self.venue.router.query(&self.venue.monitor, read, Duration::from_secs(30)).await {
            Ok(live) => desk.seed(&live),
            Err(e) => tracing::error!(
                session = %self.config.target_comp_id,
                error = ?e,
                "cannot read the account's live orders: reports for orders placed before now will lack their ClOrdIDs"
            ),
        }
        Some(feed)
    }

    /// Carries out the session's actions; true if the connection ended.
    async fn perform(
        &mut self,
        actions: &mut Vec<Action>,
        current: &mut Option<Connection>,
        origin: Option<u64>,
    ) -> bool {
        // Everything to send in this round goes out in one write.
        let mut outgoing = Vec::new();
        let mut at = 0;
        while at < actions.len() {
            let action = std::mem::replace(&mut actions[at], Action::LoggedOn);
            at += 1;
            match action {
                // Most rounds send one batch: take it as it is.
                Action::Send(bytes) if outgoing.is_empty() => outgoing = bytes,
                Action::Send(bytes) => outgoing.extend_from_slice(&bytes),
                Action::Deliver(frame) => {
                    let mut more = Vec::new();
                    self.deliver(&frame, origin, &mut more);
                    actions.extend(more);
                }
                Action::LoggedOn => self.authenticated = true,
                Action::Disconnect { reason } => {
                    // What came before the disconnect (a Logout) still goes.
                    if let Some(connection) = current.as_mut() {
                        let _ = connection.stream.write_all(&outgoing).await;
                    }
                    self.disconnected(current, &reason).await;
                    return true;
                }
            }
        }
        actions.clear();
        if !outgoing.is_empty()
            && let Some(connection) = current.as_mut()
            && connection.stream.write_all(&outgoing).await.is_err()
        {
            self.disconnected(current, "write failed").await;
            return true;
        }
        false
    }

    /// An in-sequence application message from the client, parsed with the
    /// task's own parser (no allocation per message once warm).
    fn deliver(&mut self, frame: &[u8], origin: Option<u64>, actions: &mut Vec<Action>) {
        let mut parser = std::mem::take(&mut self.parser);
        if let Ok(message) = parser.parse(frame) {
            self.deliver_parsed(&message, origin, actions);
        }
        self.parser = parser;
    }

    fn deliver_parsed(
        &mut self,
        message: &venue_fix::Message<'_>,
        origin: Option<u64>,
        actions: &mut Vec<Action>,
    ) {
        let received = if self.venue.tracer.enabled() { now_ns() } else { 0 };
        let fields = message.fields();
        if self.config.echo {
            let msg_type = message.msg_type();
            if msg_type != b"D" && msg_type != b"d" {
                return;
            }
            if msg_type == b"D" {
                let cl = fields.get_str(11).unwrap_or_default().to_owned();
                let poss_resend = fields.get_bool(97).unwrap_or(false);
                if !self.seen.insert(cl) && poss_resend {
                    return;
                }
            }
            let msg_type = if msg_type == b"D" { "D" } else { "d" };
            let body: Vec<(u32, Vec<u8>)> = fields
                .iter()
                .filter(|f| !is_header_or_trailer(f.tag))
                .map(|f| (f.tag, f.value.to_vec()))
                .collect();
            let _ = self.session.send_app(
                msg_type,
                |enc| {
                    for (tag, value) in &body {
                        enc.bytes(*tag, value);
                    }
                },
                now_ns(),
                actions,
            );
            return;
        }
        if message.msg_type() == b"V" {
            // Listen first, then snapshot: updates in between are stale by
            // their sequence numbers, none is missed.
            if self.md_rx.is_none() {
                self.md_rx = Some(self.market.updates.subscribe());
            }
            for reply in self.md.on_request(&fields, &self.market, &self.instruments) {
                send_reply(&mut self.session, &reply, actions);
            }
            if !self.md.active() {
                self.md_rx = None;
            }
            return;
        }
        let (Some(desk), Some(origin)) = (&mut self.desk, origin) else { return };
        match desk.on_message(message.msg_type(), &fields, now_ns()) {
            Inbound::Submit(command) => {
                let trace = match &command {
                    Command::NewOrder(order) if self.venue.tracer.sample() => {
                        let decoded = now_ns();
                        Some(crate::otlp::OrderTrace {
                            gateway: "fix",
                            symbol: self
                                .instruments
                                .get(order.instrument.0 as usize)
                                .map_or_else(String::new, |s| s.symbol.clone()),
                            side: if order.side == venue_domain::Side::Buy { "buy" } else { "sell" },
                            account: order.account.0,
                            received,
                            decoded,
                            seq: 0,
                            sequenced: 0,
                            answered: 0,
                            outcome: String::new(),
                            error: false,
                        })
                    }
                    _ => None,
                };
                match self.venue.router.submit(origin, command) {
                    // The queue pairs commands with their answers; kept
                    // only while tracing is on.
                    Ok(()) if self.venue.tracer.enabled() => self.traced.push_back(trace),
                    Ok(()) => {}
                    Err(reject) => {
                        let reply = desk.refused(&command, reject, now_ns());
                        send_reply(&mut self.session, &reply, actions);
                    }
                }
            }
            Inbound::Answer(reply) => send_reply(&mut self.session, &reply, actions),
            Inbound::NotMine => {
                let msg_type = String::from_utf8_lossy(message.msg_type()).into_owned();
                let seq = message.seq_num().unwrap_or(0);
                let _ = self.session.send_app(
                    "j",
                    |enc| {
                        enc.uint(45, seq)
                            .str(372, &msg_type)
                            .str(380, "3")
                            .str(58, "Unsupported Message Type");
                    },
                    now_ns(),
                    actions,
                );
            }
        }
    }

    async fn disconnected(&mut self, current: &mut Option<Connection>, reason: &str) {
        if let Some(mut connection) = current.take() {
            let _ = connection.stream.shutdown().await;
            tracing::info!(peer = %connection.peer, session = %self.config.target_comp_id, reason, "FIX disconnected");
            self.session.on_disconnect();
            self.seen.clear();
            self.md = md::MdDesk::default();
            self.md_rx = None;
            let authenticated = std::mem::take(&mut self.authenticated);
            if authenticated
                && self.config.cancel_on_disconnect
                && let Some(account) = self.config.account
            {
                let _ = self
                    .venue
                    .router
                    .submit(0, Command::MassCancel { instrument: None, account: Some(account) });
            }
        }
    }
}

fn is_header_or_trailer(tag: u32) -> bool {
    matches!(tag, 8 | 9 | 35 | 49 | 56 | 34 | 52 | 43 | 97 | 122 | 50 | 57 | 115 | 128 | 10 | 93 | 89)
}

/// Writes a reply's fields and groups.
fn encode_reply(enc: &mut venue_fix::Encoder, reply: &Reply) {
    for (tag, value) in &reply.fields {
        value.encode(*tag, enc);
    }
    for (count_tag, entries) in &reply.groups {
        enc.begin_group(*count_tag);
        for entry in entries {
            enc.entry();
            for (tag, value) in entry {
                enc.str(*tag, value);
            }
        }
        enc.end_group();
    }
}

fn send_reply(session: &mut Session, reply: &Reply, actions: &mut Vec<Action>) {
    let result = session.send_app(reply.msg_type, |enc| encode_reply(enc, reply), now_ns(), actions);
    if let Err(e) = result {
        tracing::warn!(error = ?e, msg_type = reply.msg_type, "FIX reply not sent");
    }
}

/// Sends `replies` as one batch: one store write and one socket write for
/// all of them.
fn send_replies(session: &mut Session, replies: &[Reply], actions: &mut Vec<Action>) {
    let mut batch = session.batch(now_ns());
    for reply in replies {
        if let Err(e) = batch.add(reply.msg_type, |enc| encode_reply(enc, reply)) {
            tracing::warn!(error = ?e, msg_type = reply.msg_type, "FIX reply not sent");
        }
    }
    if let Err(e) = batch.finish(actions) {
        tracing::warn!(error = ?e, "FIX replies not sent");
    }
}

fn store_reply(session: &mut Session, reply: &Reply) {
    let result = session.store_app(reply.msg_type, |enc| encode_reply(enc, reply), now_ns());
    if let Err(e) = result {
        tracing::warn!(error = ?e, msg_type = reply.msg_type, "FIX report not stored for resend");
    }
}

async fn read_some(current: &mut Option<Connection>, buf: &mut [u8]) -> Option<usize> {
    match current {
        Some(connection) => connection.stream.read(buf).await.ok(),
        None => std::future::pending().await,
    }
}

async fn next_update(
    rx: &mut Option<tokio::sync::broadcast::Receiver<Arc<venue_marketdata::Update>>>,
) -> Result<Arc<venue_marketdata::Update>, tokio::sync::broadcast::error::RecvError> {
    match rx {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn next_output(feed: &mut Option<crate::router::Feed>) -> Option<venue_pipeline::Stamped> {
    match feed {
        Some(feed) => feed.rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Where a session's store lives (for tests and tools).
pub fn store_dir(data_dir: &Path, session: &FixSessionSettings) -> PathBuf {
    data_dir.join("fix").join(format!("{}-{}", session.sender_comp_id, session.target_comp_id))
}
