//! The FIX 4.4 session layer, acceptor side, as a pure state machine.
//!
//! A [`Session`] owns no socket, thread or clock. The gateway feeds it the
//! bytes it read ([`Session::on_bytes`]), calls [`Session::on_timer`] every
//! ~100 ms, passes the time in as nanoseconds since the Unix epoch on every
//! call, and carries out the [`Action`]s pushed onto its vector in order:
//! write [`Action::Send`] bytes to the socket, hand [`Action::Deliver`] frames
//! to the engine, start routing on [`Action::LoggedOn`], close the socket on
//! [`Action::Disconnect`] (after writing everything before it). Sequence
//! numbers and sent messages live in a [`SessionStore`], written before a
//! message is handed out.
//!
//! # What it does (FIX 4.4 session protocol, as QuickFIX acceptors do it)
//!
//! - **Logon.** The first message must be a Logon, else the connection is
//!   dropped without a word. The Logon must validate, carry the configured
//!   BeginString, CompIDs, credentials (`Username (553)`, `Password (554)`),
//!   `EncryptMethod (98) = 0`, a `HeartBtInt (108)` within the configured
//!   bounds and a SendingTime within tolerance; otherwise a Logout with the
//!   reason in `Text (58)` is sent and the connection dropped. `ResetSeqNumFlag
//!   (141) = Y` (which requires `MsgSeqNum = 1`) or `reset_on_logon` resets
//!   both sequence numbers to 1 and the answer carries 141=Y. The answer
//!   echoes HeartBtInt with `EncryptMethod = 0`.
//! - **Sequence numbers.** In sequence: processed. Too high: queued (bounded)
//!   and one `ResendRequest (7 = expected, 16 = 0)` sent; queued messages are
//!   processed in order once the gap is filled. Too low without
//!   `PossDupFlag (43) = Y`: Logout "MsgSeqNum too low, expecting X but
//!   received Y" and disconnect. Too low with 43=Y: ignored, after checking
//!   `OrigSendingTime (122)` (missing: Reject 1; later than SendingTime:
//!   Reject 10, Logout, disconnect).
//! - **Validation.** Every in-sequence message goes through the
//!   [`Validator`]; a problem is answered with a Reject (35=3) carrying 45,
//!   371, 372, 373 and the reason's FIX text in 58, and its sequence number
//!   still counts. A FIX type the venue does not handle gets a
//!   BusinessMessageReject (35=j, 380=3). Wrong CompIDs (Reject 9) or a
//!   SendingTime outside tolerance (Reject 10) end the session with a Logout.
//!   Garbled bytes are skipped silently. A message larger than the maximum
//!   size (up to 64 times it) is read past without being kept and, if its
//!   CheckSum holds, sequenced and rejected (373 = 99, the limit in 58).
//! - **Resend.** A counterparty's ResendRequest is answered from the store:
//!   application messages (and Rejects) resent with their original MsgSeqNum,
//!   43=Y, 122 = the original SendingTime and a new SendingTime; runs of the
//!   other session messages (and numbers with nothing stored) collapsed into
//!   one SequenceReset-GapFill each.
//! - **SequenceReset.** GapFill (123=Y) is sequenced like any message and
//!   moves the expected number to NewSeqNo; Reset mode applies whatever its
//!   MsgSeqNum. A NewSeqNo that would not move the number forward is
//!   rejected (373=5, 371=36).
//! - **Heartbeats.** A Heartbeat after `HeartBtInt` without sending, a
//!   TestRequest after 1.2 × HeartBtInt without receiving, a disconnect after
//!   2 × HeartBtInt without receiving. A TestRequest is answered with a
//!   Heartbeat echoing `TestReqID (112)`.
//! - **Logout.** Theirs is answered with a Logout, then disconnect; ours
//!   ([`Session::logout`]) waits [`LOGOUT_TIMEOUT_NS`] for theirs.
//!
//! Every message the session sends, administrative or not, consumes a
//! sequence number and is stored, except the retransmissions of a resend
//! (they reuse the original numbers).

use std::collections::BTreeMap;
use std::io;

use crate::dict::Dictionary;
use crate::encode::{EncodeError, Encoder};
use crate::frame::{FrameResult, Framer, Garble, TRAILER_LEN, trailer_checksum};
use crate::message::{Message, Parser, SOH};
pub use crate::store::{FileStore, MemoryStore, SessionStore};
use crate::validate::{
    BusinessRejectReason, SessionReject, SessionRejectReason, Validator, Verdict, check_comp_ids,
    check_sending_time,
};

/// How long [`Session::logout`] waits for the counterparty's Logout.
pub const LOGOUT_TIMEOUT_NS: u64 = 2_000_000_000;

/// The default tolerance between a message's SendingTime and the venue's
/// clock.
pub const DEFAULT_SENDING_TIME_TOLERANCE_NS: u64 = 120_000_000_000;

/// At most this many out-of-sequence messages are kept while a gap is being
/// filled; more are dropped (the open-ended ResendRequest brings them back).
pub const MAX_QUEUED_MESSAGES: usize = 10_000;

/// At most this many bytes of out-of-sequence messages are kept.
pub const MAX_QUEUED_BYTES: usize = 16 * 1024 * 1024;

const NANOS_PER_SECOND: u64 = 1_000_000_000;

/// Logout texts, kept here so that tests and operators see one spelling.
pub mod text {
    /// The Logon's BeginString (or a later message's) is not the session's.
    pub const INCORRECT_BEGIN_STRING: &str = "Incorrect BeginString";
    /// The Logon's SenderCompID (49) is not the configured counterparty.
    pub const INVALID_SENDER_COMP_ID: &str = "Invalid CompID: SenderCompID (49)";
    /// The Logon's TargetCompID (56) is not the venue's.
    pub const INVALID_TARGET_COMP_ID: &str = "Invalid CompID: TargetCompID (56)";
    /// Username or password wrong or missing.
    pub const INVALID_CREDENTIALS: &str = "Invalid credentials";
    /// HeartBtInt outside the configured bounds.
    pub const HEARTBT_INT_OUT_OF_RANGE: &str = "HeartBtInt out of range";
    /// EncryptMethod other than 0.
    pub const UNSUPPORTED_ENCRYPT_METHOD: &str = "Unsupported EncryptMethod (98), only 0 (None)";
    /// 141=Y on a Logon whose MsgSeqNum is not 1.
    pub const RESET_LOGON_NOT_SEQ_1: &str = "MsgSeqNum must be 1 on a Logon with ResetSeqNumFlag=Y";
    /// SendingTime too far from the venue's clock.
    pub const SENDING_TIME_ACCURACY: &str = "SendingTime accuracy problem";
    /// CompIDs wrong after logon.
    pub const COMP_ID_PROBLEM: &str = "CompID problem";
    /// MsgSeqNum absent or not a number.
    pub const MSG_SEQ_NUM_MISSING: &str = "MsgSeqNum(34) missing or invalid";
    /// A Logon on a session that is already logged on.
    pub const UNEXPECTED_LOGON: &str = "Unexpected Logon on a logged-on session";
    /// Prefix of the Logout text for a Logon that fails validation.
    pub const INVALID_LOGON: &str = "Invalid Logon";
}

/// What a session is configured with; one per counterparty.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionConfig {
    /// `BeginString (8)`, normally `FIX.4.4`; inbound messages must carry it.
    pub begin_string: String,
    /// The venue's CompID: what we put in 49 and expect in their 56.
    pub sender_comp_id: String,
    /// The counterparty's CompID: what they put in 49.
    pub target_comp_id: String,
    /// If set, the Logon must carry this `Password (554)`.
    pub password: Option<String>,
    /// If set, the Logon must carry this `Username (553)`.
    pub username: Option<String>,
    /// Smallest `HeartBtInt (108)` accepted at logon, in seconds.
    pub heartbeat_min_secs: u32,
    /// Largest `HeartBtInt (108)` accepted at logon, in seconds.
    pub heartbeat_max_secs: u32,
    /// Reset both sequence numbers to 1 at every logon.
    pub reset_on_logon: bool,
    /// Largest accepted distance between SendingTime and the clock.
    pub sending_time_tolerance_ns: u64,
    /// Largest accepted message, in bytes; longer ones are garbled.
    pub max_message_len: usize,
}

impl SessionConfig {
    /// A configuration with the usual defaults: `FIX.4.4`, no credentials,
    /// HeartBtInt 1–300 s, no reset on logon, 120 s SendingTime tolerance,
    /// the framer's default maximum message size.
    pub fn new(sender_comp_id: impl Into<String>, target_comp_id: impl Into<String>) -> SessionConfig {
        SessionConfig {
            begin_string: "FIX.4.4".to_owned(),
            sender_comp_id: sender_comp_id.into(),
            target_comp_id: target_comp_id.into(),
            password: None,
            username: None,
            heartbeat_min_secs: 1,
            heartbeat_max_secs: 300,
            reset_on_logon: false,
            sending_time_tolerance_ns: DEFAULT_SENDING_TIME_TOLERANCE_NS,
            max_message_len: crate::frame::DEFAULT_MAX_MESSAGE_LEN,
        }
    }
}

/// Something the gateway must do, in the order pushed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Write this complete encoded message to the socket.
    Send(Vec<u8>),
    /// A validated, in-sequence application message (the raw frame) for the
    /// engine.
    Deliver(Vec<u8>),
    /// The Logon completed: the gateway may start routing.
    LoggedOn,
    /// Close the socket once everything pushed before has been written.
    Disconnect {
        /// Why, for the log.
        reason: String,
    },
}

/// Why [`Session::send_app`] sent nothing.
#[derive(Debug)]
pub enum SendError {
    /// The session is not logged on (or is logging out).
    NotLoggedOn,
    /// `store_app` on a logged-on session: send it instead.
    LoggedOn,
    /// Session-level message types are the session's own business.
    AdminMsgType,
    /// The message could not be encoded (a programming error in the body).
    Encode(EncodeError),
    /// The store failed; the session has pushed [`Action::Disconnect`].
    Store(io::Error),
}

impl core::fmt::Display for SendError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SendError::NotLoggedOn => f.write_str("session not logged on"),
            SendError::LoggedOn => f.write_str("session is logged on: send, do not store"),
            SendError::AdminMsgType => f.write_str("session-level message types are sent by the session"),
            SendError::Encode(e) => write!(f, "encode error: {e}"),
            SendError::Store(e) => write!(f, "message store error: {e}"),
        }
    }
}

impl std::error::Error for SendError {}

/// Where a session is in its life, for the gateway's logs and metrics.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionState {
    /// Connected (or waiting for a connection), no Logon yet.
    AwaitingLogon,
    /// Logged on: application messages flow.
    LoggedOn,
    /// We sent a Logout and wait for theirs.
    LogoutSent,
    /// We pushed [`Action::Disconnect`]; input is ignored until
    /// [`Session::on_disconnect`].
    Disconnected,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    AwaitingLogon,
    LoggedOn,
    LogoutSent { deadline_ns: u64 },
    Disconnected,
}

/// A message received ahead of its turn.
#[derive(Debug)]
enum Queued {
    /// To be processed when its sequence number comes up.
    Frame(Vec<u8>),
    /// Already handled out of order (a Logon, a ResendRequest): only counts.
    Skip,
    /// Too large to keep: answered with a Reject when its turn comes. Holds
    /// its MsgType.
    TooLarge(Vec<u8>),
}

/// How much of the start of a message too large to keep is kept, to read
/// its header (MsgSeqNum, MsgType, CompIDs, PossDupFlag).
const OVERSIZED_HEAD_LEN: usize = 1024;

/// A message announcing more than this many times the maximum size is taken
/// for a corrupt BodyLength (garbled) rather than read past.
const OVERSIZED_READ_FACTOR: usize = 64;

/// A message larger than the maximum size, being read past byte by byte so
/// that it can be answered with a Reject and its MsgSeqNum counted, instead of
/// leaving a gap that its sender would fill by resending it again.
#[derive(Debug)]
struct Oversized {
    total: usize,
    seen: usize,
    sum: u8,
    head: Vec<u8>,
    trailer: [u8; TRAILER_LEN],
}

/// What [`Oversized::take`] did with the bytes it was offered.
enum Took {
    /// Read past this many (possibly none: wait for more).
    Bytes(usize),
    /// Gave up: the message is garbled; this many bytes are dropped and the
    /// next message starts after them.
    Abandoned(usize),
}

/// `<SOH>8=FIX`: a field that is a BeginString, which only starts a
/// message: seen inside one, another has started.
const NEXT_MESSAGE_LEN: usize = 6;
/// Where in that pattern the next message starts.
const NEXT_MESSAGE_START: usize = 1;

fn is_next_message(window: &[u8]) -> bool {
    window[0] == SOH && &window[1..] == b"8=FIX"
}

impl Oversized {
    fn new(total: usize) -> Oversized {
        Oversized { total, seen: 0, sum: 0, head: Vec::new(), trailer: [0; TRAILER_LEN] }
    }

    /// Takes bytes from `buf` up to the message's end. If another message
    /// starts inside it, its BodyLength was wrong (a corrupt digit, say):
    /// it is abandoned where the other starts, so that the messages after
    /// it are read as usual and not swallowed.
    fn take(&mut self, buf: &[u8]) -> Took {
        let remaining = self.total - self.seen;
        let limit = buf.len().min(remaining);
        if let Some(at) = buf[..limit].windows(NEXT_MESSAGE_LEN).position(is_next_message)
            && at + NEXT_MESSAGE_START < remaining
        {
            return Took::Abandoned(at + NEXT_MESSAGE_START);
        }
        // What could begin such a pattern stays in the caller's buffer, to
        // be looked at again with the bytes after it.
        let n = if limit == remaining { limit } else { limit.saturating_sub(NEXT_MESSAGE_LEN - 1) };
        let chunk = &buf[..n];
        let body_end = self.total - TRAILER_LEN;
        for (at, &b) in (self.seen..).zip(chunk) {
            if at < body_end {
                self.sum = self.sum.wrapping_add(b);
            } else {
                self.trailer[at - body_end] = b;
            }
        }
        let keep = OVERSIZED_HEAD_LEN.saturating_sub(self.head.len()).min(chunk.len());
        self.head.extend_from_slice(&chunk[..keep]);
        self.seen += chunk.len();
        Took::Bytes(chunk.len())
    }

    fn is_complete(&self) -> bool {
        self.seen == self.total
    }

    fn checksum_matches(&self) -> bool {
        trailer_checksum(&self.trailer) == Some(u32::from(self.sum))
    }

    /// The first value of `tag` among the complete fields of the head.
    fn field(&self, tag: u32) -> Option<&[u8]> {
        let end = self.head.iter().rposition(|&b| b == SOH)?;
        let tag = tag.to_string();
        self.head[..end]
            .split(|&b| b == SOH)
            .find_map(|field| field.strip_prefix(tag.as_bytes()).and_then(|rest| rest.strip_prefix(b"=")))
    }
}

/// One FIX session, acceptor side. See the module documentation.
pub struct Session {
    config: SessionConfig,
    store: Box<dyn SessionStore>,
    framer: Framer,
    parser: Parser,
    resend_parser: Parser,
    validator: Validator,
    encoder: Encoder,
    state: State,
    heartbeat_ns: u64,
    last_sent_ns: u64,
    last_received_ns: u64,
    test_request_pending: bool,
    test_requests_sent: u64,
    queue: BTreeMap<u64, Queued>,
    queued_bytes: usize,
    /// A ResendRequest is outstanding until the expected number passes this.
    resend_until: Option<u64>,
    /// A message too large to keep, being read past.
    oversized: Option<Oversized>,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("sender_comp_id", &self.config.sender_comp_id)
            .field("target_comp_id", &self.config.target_comp_id)
            .field("state", &self.state)
            .field("next_sender_seq", &self.store.next_sender_seq())
            .field("next_target_seq", &self.store.next_target_seq())
            .field("queued", &self.queue.len())
            .finish_non_exhaustive()
    }
}

/// Session-level message types: never sent through [`Session::send_app`];
/// all but Reject are gap-filled rather than resent.
fn is_admin(msg_type: &[u8]) -> bool {
    matches!(msg_type, b"0" | b"1" | b"2" | b"3" | b"4" | b"5" | b"A")
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

impl Session {
    /// A session in "awaiting logon" with the sequence numbers the store holds.
    pub fn new(config: SessionConfig, store: Box<dyn SessionStore>) -> Session {
        let mut encoder = Encoder::new(Dictionary::fix44());
        // An unusable BeginString keeps FIX.4.4 outbound; no inbound message
        // can match it, so no Logon succeeds and nothing else is sent.
        let _ = encoder.set_begin_string(&config.begin_string);
        Session {
            framer: Framer::new(config.max_message_len),
            config,
            store,
            parser: Parser::new(),
            resend_parser: Parser::new(),
            validator: Validator::new(Dictionary::fix44()),
            encoder,
            state: State::AwaitingLogon,
            heartbeat_ns: 0,
            last_sent_ns: 0,
            last_received_ns: 0,
            test_request_pending: false,
            test_requests_sent: 0,
            queue: BTreeMap::new(),
            queued_bytes: 0,
            resend_until: None,
            oversized: None,
        }
    }

    /// The configuration.
    pub fn config(&self) -> &SessionConfig {
        &self.config
    }

    /// Where the session is.
    pub fn state(&self) -> SessionState {
        match self.state {
            State::AwaitingLogon => SessionState::AwaitingLogon,
            State::LoggedOn => SessionState::LoggedOn,
            State::LogoutSent { .. } => SessionState::LogoutSent,
            State::Disconnected => SessionState::Disconnected,
        }
    }

    /// Whether application messages may be sent: logged on and not logging
    /// out.
    pub fn is_logged_on(&self) -> bool {
        self.state == State::LoggedOn
    }

    /// The MsgSeqNum of the next message the session sends.
    pub fn next_sender_seq(&self) -> u64 {
        self.store.next_sender_seq()
    }

    /// The MsgSeqNum expected on the next inbound message.
    pub fn next_target_seq(&self) -> u64 {
        self.store.next_target_seq()
    }

    /// The HeartBtInt agreed at logon, in seconds (0 before logon).
    pub fn heartbeat_interval_secs(&self) -> u64 {
        self.heartbeat_ns / NANOS_PER_SECOND
    }

    /// The stored outbound messages numbered `from..=to` (those the store
    /// has), as sent: lets a gateway restarting on a persistent store learn
    /// what it last told the counterparty.
    pub fn stored_outbound(&self, from: u64, to: u64) -> io::Result<Vec<(u64, Vec<u8>)>> {
        self.store.outbound(from, to)
    }

    /// Out-of-sequence messages waiting for a gap to be filled.
    pub fn queued_messages(&self) -> usize {
        self.queue.len()
    }

    /// Feeds received bytes; returns how many were consumed (the caller keeps
    /// the rest, an incomplete message, for the next call). After a
    /// [`Action::Disconnect`] everything is consumed and ignored.
    pub fn on_bytes(&mut self, buf: &[u8], now_ns: u64, out: &mut Vec<Action>) -> usize {
        // Nothing pushed here is carried out before this returns, so the
        // sequence numbers of all the messages read are written once, at
        // the end (and before any of their effects leave).
        self.store.hold();
        let used = self.on_frames(buf, now_ns, out);
        if let Err(e) = self.store.release() {
            self.store_failure(&e, out);
            return buf.len();
        }
        used
    }

    fn on_frames(&mut self, buf: &[u8], now_ns: u64, out: &mut Vec<Action>) -> usize {
        let mut pos = 0;
        while pos < buf.len() && self.state != State::Disconnected {
            if let Some(oversized) = &mut self.oversized {
                match oversized.take(&buf[pos..]) {
                    Took::Abandoned(n) => {
                        pos += n;
                        self.oversized = None;
                        continue;
                    }
                    Took::Bytes(0) => break,
                    Took::Bytes(n) => pos += n,
                }
                if oversized.is_complete() {
                    // Like any message, it counts as heard from once whole:
                    // a trickle of bytes does not keep a session alive.
                    self.last_received_ns = now_ns;
                    let oversized = self.oversized.take().expect("being read");
                    self.on_oversized(&oversized, now_ns, out);
                    self.drain_queue(now_ns, out);
                }
                continue;
            }
            match self.framer.next_frame(&buf[pos..]) {
                FrameResult::Incomplete => break,
                FrameResult::Garbled { reason: Garble::TooLarge, skip } => {
                    let max = self.framer.max_message_len().saturating_mul(OVERSIZED_READ_FACTOR);
                    match self.framer.announced_len(&buf[pos..]).filter(|&total| total <= max) {
                        Some(total) => self.oversized = Some(Oversized::new(total)),
                        None => pos += skip.clamp(1, buf.len() - pos),
                    }
                }
                FrameResult::Garbled { skip, .. } => pos += skip.clamp(1, buf.len() - pos),
                FrameResult::Complete { len } => {
                    let frame = &buf[pos..pos + len];
                    pos += len;
                    self.last_received_ns = now_ns;
                    self.test_request_pending = false;
                    let mut parser = std::mem::take(&mut self.parser);
                    if let Ok(msg) = parser.parse(frame) {
                        self.on_message(&msg, now_ns, out);
                    }
                    self.parser = parser;
                    self.drain_queue(now_ns, out);
                }
            }
        }
        if self.state == State::Disconnected { buf.len() } else { pos }
    }

    /// Drives the clocks: Heartbeat, TestRequest, heartbeat timeout, logout
    /// timeout.
    pub fn on_timer(&mut self, now_ns: u64, out: &mut Vec<Action>) {
        match self.state {
            State::LoggedOn if self.heartbeat_ns > 0 => {
                let hb = self.heartbeat_ns;
                let silent_for = now_ns.saturating_sub(self.last_received_ns);
                if silent_for >= hb.saturating_mul(2) {
                    self.disconnect("heartbeat timeout", out);
                    return;
                }
                if silent_for >= hb.saturating_mul(12) / 10 && !self.test_request_pending {
                    self.test_requests_sent += 1;
                    let id = format!("TEST-{}", self.test_requests_sent);
                    if self.send_admin(b"1", now_ns, out, |e| {
                        e.str(112, &id);
                    }) {
                        self.test_request_pending = true;
                    }
                }
                if self.state == State::LoggedOn && now_ns.saturating_sub(self.last_sent_ns) >= hb {
                    self.send_admin(b"0", now_ns, out, |_| {});
                }
            }
            State::LogoutSent { deadline_ns } if now_ns >= deadline_ns => {
                self.disconnect("logout timeout: no Logout from the counterparty", out);
            }
            _ => {}
        }
    }

    /// Sends an application message built by `body` (which adds body fields,
    /// and header fields other than 34, 49, 52 and 56): the session assigns
    /// MsgSeqNum, SendingTime and the CompIDs, stores it and pushes
    /// [`Action::Send`]. Returns the MsgSeqNum used.
    pub fn send_app(
        &mut self,
        msg_type: &str,
        body: impl FnOnce(&mut Encoder),
        now_ns: u64,
        out: &mut Vec<Action>,
    ) -> Result<u64, SendError> {
        if self.state != State::LoggedOn {
            return Err(SendError::NotLoggedOn);
        }
        let (seq, bytes) = self.encode_app(msg_type, body, now_ns)?;
        self.commit_outbound(seq, bytes, now_ns, out).map_err(SendError::Store)?;
        Ok(seq)
    }

    /// Starts a batch of application messages to send together (see
    /// [`SendBatch`]): a burst of reports costs one store write and one
    /// [`Action::Send`] instead of one of each per message.
    pub fn batch(&mut self, now_ns: u64) -> SendBatch<'_> {
        // Room for a few reports: one allocation, no regrowth.
        SendBatch { session: self, now_ns, bytes: Vec::with_capacity(1024), msgs: Vec::new() }
    }

    /// An application message with the next MsgSeqNum, not yet stored.
    fn encode_app(
        &mut self,
        msg_type: &str,
        body: impl FnOnce(&mut Encoder),
        now_ns: u64,
    ) -> Result<(u64, Vec<u8>), SendError> {
        if is_admin(msg_type.as_bytes()) {
            return Err(SendError::AdminMsgType);
        }
        let seq = self.store.next_sender_seq();
        let mut bytes = Vec::new();
        self.encoder.start(msg_type.as_bytes()).header(
            &self.config.sender_comp_id,
            &self.config.target_comp_id,
            seq,
            now_ns,
        );
        body(&mut self.encoder);
        self.encoder.finish(&mut bytes).map_err(SendError::Encode)?;
        Ok((seq, bytes))
    }

    /// Records an application message for a client that is not connected:
    /// the message takes the next MsgSeqNum and is stored, but nothing is
    /// sent. When the client logs on again it sees the venue's sequence
    /// number ahead of what it expects and asks for a resend, which replays
    /// the message from the store (PossDupFlag=Y). This is how a client
    /// learns of fills and cancels that happened while it was away. Refused
    /// while logged on (use [`send_app`](Self::send_app)).
    pub fn store_app(
        &mut self,
        msg_type: &str,
        body: impl FnOnce(&mut Encoder),
        now_ns: u64,
    ) -> Result<u64, SendError> {
        if self.state == State::LoggedOn {
            return Err(SendError::LoggedOn);
        }
        let (seq, bytes) = self.encode_app(msg_type, body, now_ns)?;
        self.store
            .store_outbound(seq, &bytes)
            .and_then(|()| self.store.set_next_sender_seq(seq.saturating_add(1)))
            .map_err(SendError::Store)?;
        Ok(seq)
    }

    /// Starts a Logout handshake (venue shutting down, operator kick): sends a
    /// Logout with `text` and waits for theirs (disconnecting then), or for
    /// [`LOGOUT_TIMEOUT_NS`] on the timer. Before logon it just disconnects.
    pub fn logout(&mut self, text: &str, now_ns: u64, out: &mut Vec<Action>) {
        match self.state {
            State::LoggedOn => {
                // A text FIX cannot carry (empty, or with the delimiter) is left out.
                let carry_text = !text.is_empty() && !text.contains('\x01');
                let sent = self.send_admin(b"5", now_ns, out, |e| {
                    if carry_text {
                        e.str(58, text);
                    }
                });
                if sent {
                    self.state = State::LogoutSent { deadline_ns: now_ns.saturating_add(LOGOUT_TIMEOUT_NS) };
                }
            }
            State::AwaitingLogon => {
                let reason = if text.is_empty() { "logout before logon" } else { text };
                self.disconnect(reason, out);
            }
            State::LogoutSent { .. } | State::Disconnected => {}
        }
    }

    /// The socket is gone: back to "awaiting logon". Sequence numbers stay in
    /// the store; queued out-of-sequence messages are dropped (they will be
    /// resent).
    pub fn on_disconnect(&mut self) {
        self.state = State::AwaitingLogon;
        self.heartbeat_ns = 0;
        self.test_request_pending = false;
        self.queue.clear();
        self.queued_bytes = 0;
        self.resend_until = None;
        self.oversized = None;
    }

    // ---- inbound ------------------------------------------------------------

    fn on_message(&mut self, msg: &Message<'_>, now_ns: u64, out: &mut Vec<Action>) {
        let msg_type = msg.msg_type();
        if self.state == State::AwaitingLogon && msg_type != b"A" {
            let reason = format!(
                "first message was not a Logon (35={})",
                String::from_utf8_lossy(msg_type).chars().take(8).collect::<String>()
            );
            self.disconnect(reason, out);
            return;
        }
        if msg.begin_string() != self.config.begin_string.as_bytes() {
            if self.state == State::AwaitingLogon {
                self.refuse_logon(text::INCORRECT_BEGIN_STRING, now_ns, out);
            } else {
                self.logout_and_disconnect(text::INCORRECT_BEGIN_STRING, now_ns, out);
            }
            return;
        }
        if self.state == State::AwaitingLogon {
            self.on_logon(msg, now_ns, out);
        } else {
            self.on_logged_on_message(msg, now_ns, out);
        }
    }

    fn on_logon(&mut self, msg: &Message<'_>, now_ns: u64, out: &mut Vec<Action>) {
        if let Err(reject) = self.validator.validate(msg) {
            let text = format!("{}: {reject}", text::INVALID_LOGON);
            self.refuse_logon(&text, now_ns, out);
            return;
        }
        let Some(seq) = msg.seq_num() else {
            self.refuse_logon(text::MSG_SEQ_NUM_MISSING, now_ns, out);
            return;
        };
        if let Err(reject) =
            check_comp_ids(msg, self.config.target_comp_id.as_bytes(), self.config.sender_comp_id.as_bytes())
        {
            let text = if reject.ref_tag_id == Some(49) {
                text::INVALID_SENDER_COMP_ID
            } else {
                text::INVALID_TARGET_COMP_ID
            };
            self.refuse_logon(text, now_ns, out);
            return;
        }
        if check_sending_time(msg, now_ns, self.config.sending_time_tolerance_ns).is_err() {
            self.refuse_logon(text::SENDING_TIME_ACCURACY, now_ns, out);
            return;
        }
        let password_ok = self
            .config
            .password
            .as_ref()
            .is_none_or(|p| msg.value(554).is_some_and(|v| constant_time_eq(v, p.as_bytes())));
        let username_ok = self
            .config
            .username
            .as_ref()
            .is_none_or(|u| msg.value(553).is_some_and(|v| constant_time_eq(v, u.as_bytes())));
        if !(password_ok && username_ok) {
            self.refuse_logon(text::INVALID_CREDENTIALS, now_ns, out);
            return;
        }
        let heartbeat = msg.get_i64(108).ok();
        let bounds = i64::from(self.config.heartbeat_min_secs)..=i64::from(self.config.heartbeat_max_secs);
        let Some(heartbeat) = heartbeat.filter(|hb| bounds.contains(hb)) else {
            let text = format!(
                "{} ({}..={} s)",
                text::HEARTBT_INT_OUT_OF_RANGE,
                self.config.heartbeat_min_secs,
                self.config.heartbeat_max_secs
            );
            self.refuse_logon(&text, now_ns, out);
            return;
        };
        if msg.value(98) != Some(b"0") {
            self.refuse_logon(text::UNSUPPORTED_ENCRYPT_METHOD, now_ns, out);
            return;
        }
        let reset_requested = msg.get_bool(141) == Ok(true);
        if reset_requested && seq != 1 {
            self.refuse_logon(text::RESET_LOGON_NOT_SEQ_1, now_ns, out);
            return;
        }
        let reset = reset_requested || self.config.reset_on_logon;
        if reset && let Err(e) = self.store.reset() {
            self.store_failure(&e, out);
            return;
        }
        let expected = self.store.next_target_seq();
        if seq < expected {
            let text = too_low_text(expected, seq);
            self.refuse_logon(&text, now_ns, out);
            return;
        }
        // Accepted.
        let heartbeat = heartbeat as u64; // within u32 bounds, non-negative
        self.heartbeat_ns = heartbeat * NANOS_PER_SECOND;
        self.state = State::LoggedOn;
        self.last_received_ns = now_ns;
        self.last_sent_ns = now_ns;
        self.test_request_pending = false;
        self.queue.clear();
        self.queued_bytes = 0;
        self.resend_until = None;
        let sent = self.send_admin(b"A", now_ns, out, |e| {
            e.uint(98, 0).uint(108, heartbeat);
            if reset {
                e.bool(141, true);
            }
        });
        if !sent {
            return;
        }
        out.push(Action::LoggedOn);
        if seq == expected {
            self.set_next_target(seq.saturating_add(1), out);
        } else {
            self.on_too_high(seq, Queued::Skip, now_ns, out);
        }
    }

    fn on_logged_on_message(&mut self, msg: &Message<'_>, now_ns: u64, out: &mut Vec<Action>) {
        let Some(seq) = msg.seq_num() else {
            self.logout_and_disconnect(text::MSG_SEQ_NUM_MISSING, now_ns, out);
            return;
        };
        // CompIDs and SendingTime end the session whatever the sequence
        // number; when absent or malformed they are the validator's business.
        if msg.get(49).is_some()
            && msg.get(56).is_some()
            && let Err(reject) = check_comp_ids(
                msg,
                self.config.target_comp_id.as_bytes(),
                self.config.sender_comp_id.as_bytes(),
            )
        {
            self.send_reject(&reject, now_ns, out);
            self.count_if_expected(seq, out);
            self.logout_and_disconnect(text::COMP_ID_PROBLEM, now_ns, out);
            return;
        }
        if msg.get_timestamp_ns(52).is_ok()
            && let Err(reject) = check_sending_time(msg, now_ns, self.config.sending_time_tolerance_ns)
        {
            self.send_reject(&reject, now_ns, out);
            self.count_if_expected(seq, out);
            self.logout_and_disconnect(text::SENDING_TIME_ACCURACY, now_ns, out);
            return;
        }
        let msg_type = msg.msg_type();
        let expected = self.store.next_target_seq();
        match msg_type {
            b"A" => {
                self.logout_and_disconnect(text::UNEXPECTED_LOGON, now_ns, out);
                return;
            }
            b"5" if seq >= expected => {
                self.on_logout(seq, now_ns, out);
                return;
            }
            b"4" if msg.get_bool(123) != Ok(true) => {
                self.on_sequence_reset(msg, now_ns, out);
                return;
            }
            _ => {}
        }
        if seq > expected {
            // Their ResendRequest is answered at once, so that two sides
            // with gaps do not wait on each other.
            let entry = if msg_type == b"2" && self.validator.validate(msg).is_ok() {
                self.on_resend_request(msg, now_ns, out);
                Queued::Skip
            } else {
                Queued::Frame(msg.as_bytes().to_vec())
            };
            self.on_too_high(seq, entry, now_ns, out);
            return;
        }
        if seq < expected {
            self.on_too_low(msg, seq, expected, now_ns, out);
            return;
        }
        self.process_in_sequence(msg, seq, now_ns, out);
    }

    /// A message whose MsgSeqNum is the expected one, validated and handled.
    fn process_in_sequence(&mut self, msg: &Message<'_>, seq: u64, now_ns: u64, out: &mut Vec<Action>) {
        let verdict = match self.validator.validate(msg) {
            Ok(verdict) => verdict,
            Err(reject) => {
                self.send_reject(&reject, now_ns, out);
                self.set_next_target(seq.saturating_add(1), out);
                return;
            }
        };
        let msg_type = msg.msg_type();
        if let Verdict::UnsupportedMsgType = verdict {
            let reason = BusinessRejectReason::UnsupportedMessageType;
            self.send_admin(b"j", now_ns, out, |e| {
                e.uint(45, seq)
                    .bytes(372, msg_type)
                    .uint(380, u64::from(reason.code()))
                    .str(58, reason.text());
            });
            self.set_next_target(seq.saturating_add(1), out);
            return;
        }
        match msg_type {
            b"0" | b"3" => {
                self.set_next_target(seq.saturating_add(1), out);
            }
            b"1" => {
                if self.set_next_target(seq.saturating_add(1), out) {
                    let id = msg.value(112).unwrap_or_default();
                    self.send_admin(b"0", now_ns, out, |e| {
                        e.bytes(112, id);
                    });
                }
            }
            b"2" => {
                if self.set_next_target(seq.saturating_add(1), out) {
                    self.on_resend_request(msg, now_ns, out);
                }
            }
            b"4" => {
                // GapFill (Reset mode never gets here).
                match msg.get_u64(36) {
                    Ok(new_seq) if new_seq > seq => {
                        self.set_next_target(new_seq, out);
                    }
                    _ => {
                        let reject = SessionReject {
                            reason: SessionRejectReason::ValueIncorrect,
                            ref_tag_id: Some(36),
                            ref_msg_type: msg_type,
                            ref_seq_num: Some(seq),
                        };
                        self.send_reject(&reject, now_ns, out);
                        self.set_next_target(seq.saturating_add(1), out);
                    }
                }
            }
            b"5" => {
                // Only reached from the queue; handled like any Logout.
                self.on_logout(seq, now_ns, out);
            }
            b"A" => {
                self.logout_and_disconnect(text::UNEXPECTED_LOGON, now_ns, out);
            }
            _ => {
                if self.set_next_target(seq.saturating_add(1), out) {
                    out.push(Action::Deliver(msg.as_bytes().to_vec()));
                }
            }
        }
    }

    /// A message too large to keep, read to its end. Garbled (a wrong
    /// CheckSum, no MsgSeqNum in its first KiB, where the header is) or
    /// before Logon: ignored, as any garbled message. Otherwise it is
    /// sequenced like any message and, in its turn, rejected (373 = 99
    /// "Other", the limit in Text) with its number counted, whatever its
    /// type: a Logout or SequenceReset that large is not acted on, and its
    /// SendingTime is not checked (only its CompIDs are).
    fn on_oversized(&mut self, oversized: &Oversized, now_ns: u64, out: &mut Vec<Action>) {
        if !oversized.checksum_matches() || !matches!(self.state, State::LoggedOn | State::LogoutSent { .. })
        {
            return;
        }
        let Some(seq) = oversized.field(34).and_then(crate::message::parse_u64) else { return };
        let msg_type = oversized.field(35).unwrap_or_default();
        let wrong_comp_id = if oversized.field(49).is_some_and(|v| v != self.config.target_comp_id.as_bytes())
        {
            Some(49)
        } else if oversized.field(56).is_some_and(|v| v != self.config.sender_comp_id.as_bytes()) {
            Some(56)
        } else {
            None
        };
        if let Some(tag) = wrong_comp_id {
            let reject = SessionReject {
                reason: SessionRejectReason::CompIdProblem,
                ref_tag_id: Some(tag),
                ref_msg_type: msg_type,
                ref_seq_num: Some(seq),
            };
            self.send_reject(&reject, now_ns, out);
            self.count_if_expected(seq, out);
            self.logout_and_disconnect(text::COMP_ID_PROBLEM, now_ns, out);
            return;
        }
        let expected = self.store.next_target_seq();
        if seq > expected {
            self.on_too_high(seq, Queued::TooLarge(msg_type.to_vec()), now_ns, out);
        } else if seq < expected {
            if oversized.field(43) != Some(b"Y") {
                self.logout_and_disconnect(&too_low_text(expected, seq), now_ns, out);
            }
        } else {
            self.reject_too_large(seq, msg_type, now_ns, out);
        }
    }

    fn reject_too_large(&mut self, seq: u64, msg_type: &[u8], now_ns: u64, out: &mut Vec<Action>) {
        let text = format!("Message larger than {} bytes", self.framer.max_message_len());
        self.send_admin(b"3", now_ns, out, |e| {
            e.uint(45, seq);
            if !msg_type.is_empty() {
                e.bytes(372, msg_type);
            }
            e.uint(373, u64::from(SessionRejectReason::Other.code())).str(58, &text);
        });
        self.set_next_target(seq.saturating_add(1), out);
    }

    fn on_too_high(&mut self, seq: u64, entry: Queued, now_ns: u64, out: &mut Vec<Action>) {
        let size = match &entry {
            Queued::Frame(frame) | Queued::TooLarge(frame) => frame.len(),
            Queued::Skip => 0,
        };
        let fits = self.queue.len() < MAX_QUEUED_MESSAGES && self.queued_bytes + size <= MAX_QUEUED_BYTES;
        if fits && !self.queue.contains_key(&seq) {
            self.queued_bytes += size;
            self.queue.insert(seq, entry);
        }
        match self.resend_until {
            Some(until) => self.resend_until = Some(until.max(seq)),
            None => {
                let expected = self.store.next_target_seq();
                if self.send_admin(b"2", now_ns, out, |e| {
                    e.uint(7, expected).uint(16, 0);
                }) {
                    self.resend_until = Some(seq);
                }
            }
        }
    }

    fn on_too_low(&mut self, msg: &Message<'_>, seq: u64, expected: u64, now_ns: u64, out: &mut Vec<Action>) {
        if msg.get_bool(43) != Ok(true) {
            let text = too_low_text(expected, seq);
            self.logout_and_disconnect(&text, now_ns, out);
            return;
        }
        // A possible duplicate: ignored, once OrigSendingTime checks out
        // (SequenceReset carries none worth checking).
        let msg_type = msg.msg_type();
        if msg_type == b"4" {
            return;
        }
        let reject = |reason, tag| SessionReject {
            reason,
            ref_tag_id: Some(tag),
            ref_msg_type: msg_type,
            ref_seq_num: Some(seq),
        };
        match (msg.get_timestamp_ns(122), msg.get_timestamp_ns(52)) {
            (Err(crate::message::FieldError::Missing(_)), _) => {
                self.send_reject(&reject(SessionRejectReason::RequiredTagMissing, 122), now_ns, out);
            }
            (Err(_), _) => {
                self.send_reject(&reject(SessionRejectReason::IncorrectDataFormat, 122), now_ns, out);
            }
            (Ok(orig), Ok(sending)) if orig > sending => {
                self.send_reject(&reject(SessionRejectReason::SendingTimeAccuracyProblem, 122), now_ns, out);
                self.logout_and_disconnect(text::SENDING_TIME_ACCURACY, now_ns, out);
            }
            _ => {}
        }
    }

    /// SequenceReset in Reset mode: applies whatever its MsgSeqNum.
    fn on_sequence_reset(&mut self, msg: &Message<'_>, now_ns: u64, out: &mut Vec<Action>) {
        if let Err(reject) = self.validator.validate(msg) {
            self.send_reject(&reject, now_ns, out);
            return;
        }
        let expected = self.store.next_target_seq();
        match msg.get_u64(36) {
            Ok(new_seq) if new_seq > expected => {
                self.set_next_target(new_seq, out);
            }
            Ok(new_seq) if new_seq == expected => {}
            _ => {
                let reject = SessionReject {
                    reason: SessionRejectReason::ValueIncorrect,
                    ref_tag_id: Some(36),
                    ref_msg_type: msg.msg_type(),
                    ref_seq_num: msg.seq_num(),
                };
                self.send_reject(&reject, now_ns, out);
            }
        }
    }

    fn on_logout(&mut self, seq: u64, now_ns: u64, out: &mut Vec<Action>) {
        self.count_if_expected(seq, out);
        match self.state {
            State::LogoutSent { .. } => self.disconnect("logout completed", out),
            State::LoggedOn => {
                self.send_admin(b"5", now_ns, out, |_| {});
                self.disconnect("logout by the counterparty", out);
            }
            State::AwaitingLogon | State::Disconnected => {}
        }
    }

    /// Processes queued messages whose turn has come.
    fn drain_queue(&mut self, now_ns: u64, out: &mut Vec<Action>) {
        loop {
            if !matches!(self.state, State::LoggedOn | State::LogoutSent { .. }) {
                self.queue.clear();
                self.queued_bytes = 0;
                return;
            }
            let expected = self.store.next_target_seq();
            let Some((&seq, _)) = self.queue.first_key_value() else { return };
            if seq > expected {
                return;
            }
            let Some((_, entry)) = self.queue.pop_first() else { return };
            if let Queued::Frame(frame) | Queued::TooLarge(frame) = &entry {
                self.queued_bytes -= frame.len();
            }
            if seq < expected {
                continue; // covered by a gap fill or a resent copy
            }
            match entry {
                Queued::Skip => {
                    self.set_next_target(seq.saturating_add(1), out);
                }
                Queued::TooLarge(msg_type) => self.reject_too_large(seq, &msg_type, now_ns, out),
                Queued::Frame(frame) => {
                    let mut parser = std::mem::take(&mut self.parser);
                    if let Ok(msg) = parser.parse(&frame) {
                        self.process_in_sequence(&msg, seq, now_ns, out);
                    }
                    self.parser = parser;
                }
            }
        }
    }

    // ---- resend -------------------------------------------------------------

    /// Answers a ResendRequest from the store.
    fn on_resend_request(&mut self, msg: &Message<'_>, now_ns: u64, out: &mut Vec<Action>) {
        let (Ok(begin), Ok(end)) = (msg.get_u64(7), msg.get_u64(16)) else { return };
        let last_sent = self.store.next_sender_seq().saturating_sub(1);
        let begin = begin.max(1);
        let end = if end == 0 || end > last_sent { last_sent } else { end };
        if begin > end {
            return;
        }
        let stored = match self.store.outbound(begin, end) {
            Ok(stored) => stored,
            Err(e) => {
                self.store_failure(&e, out);
                return;
            }
        };
        let mut gap_start: Option<u64> = None;
        let mut next = begin;
        for (seq, bytes) in stored {
            if seq < next || seq > end {
                continue;
            }
            if seq > next {
                gap_start.get_or_insert(next);
            }
            match self.build_resend(&bytes, seq, now_ns) {
                Some(resent) => {
                    if let Some(start) = gap_start.take() {
                        self.send_gap_fill(start, seq, now_ns, out);
                    }
                    self.last_sent_ns = now_ns;
                    out.push(Action::Send(resent));
                }
                None => {
                    gap_start.get_or_insert(seq);
                }
            }
            next = seq.saturating_add(1);
        }
        if next <= end {
            gap_start.get_or_insert(next);
        }
        if let Some(start) = gap_start {
            self.send_gap_fill(start, end + 1, now_ns, out);
        }
    }

    /// The stored message `bytes` re-encoded for a resend (original MsgSeqNum,
    /// 43=Y, 122 = original SendingTime, new SendingTime, body as stored), or
    /// `None` if it is a session message to gap-fill (or unreadable).
    fn build_resend(&mut self, bytes: &[u8], seq: u64, now_ns: u64) -> Option<Vec<u8>> {
        let msg = self.resend_parser.parse(bytes).ok()?;
        let msg_type = msg.msg_type();
        if is_admin(msg_type) && msg_type != b"3" {
            return None;
        }
        if msg.seq_num() != Some(seq) {
            return None;
        }
        let original_sending_time = msg.value(52)?;
        let dict = Dictionary::fix44();
        let enc = &mut self.encoder;
        enc.start(msg_type)
            .header(&self.config.sender_comp_id, &self.config.target_comp_id, seq, now_ns)
            .bool(43, true)
            .bytes(122, original_sending_time);
        let mut body_start = None;
        let mut body_end = bytes.len();
        let mut field_start = 0usize;
        for slot in msg.slots() {
            let tag = slot.tag;
            if matches!(tag, 10 | 89 | 93) {
                body_end = field_start;
                break;
            }
            if body_start.is_none() {
                if dict.header().contains_deep(tag) {
                    let reassigned = matches!(tag, 8 | 9 | 35 | 34 | 43 | 49 | 52 | 56 | 97 | 122);
                    let hops = matches!(tag, 627..=630);
                    if !reassigned && !hops {
                        enc.bytes(tag, &bytes[slot.start as usize..slot.end as usize]);
                    }
                } else {
                    body_start = Some(field_start);
                }
            }
            field_start = slot.end as usize + 1;
        }
        if let Some(start) = body_start {
            enc.raw_fields(&bytes[start..body_end.max(start)]);
        }
        let mut out = Vec::with_capacity(bytes.len() + 64);
        enc.finish(&mut out).ok()?;
        Some(out)
    }

    /// A SequenceReset-GapFill sent with MsgSeqNum `seq` (not stored, no new
    /// sequence number consumed) moving the counterparty to `new_seq`.
    fn send_gap_fill(&mut self, seq: u64, new_seq: u64, now_ns: u64, out: &mut Vec<Action>) {
        let mut bytes = Vec::new();
        let encoded = self
            .encoder
            .start(b"4")
            .header(&self.config.sender_comp_id, &self.config.target_comp_id, seq, now_ns)
            .bool(43, true)
            .timestamp(122, now_ns)
            .bool(123, true)
            .uint(36, new_seq)
            .finish(&mut bytes);
        match encoded {
            Ok(_) => {
                self.last_sent_ns = now_ns;
                out.push(Action::Send(bytes));
            }
            Err(e) => self.disconnect(format!("internal error encoding a gap fill: {e}"), out),
        }
    }

    // ---- outbound helpers ---------------------------------------------------

    /// Encodes, stores and sends a session-level message with the next
    /// sequence number. `false` (and a pushed disconnect) if that failed.
    fn send_admin(
        &mut self,
        msg_type: &[u8],
        now_ns: u64,
        out: &mut Vec<Action>,
        body: impl FnOnce(&mut Encoder),
    ) -> bool {
        match self.encode_admin(msg_type, now_ns, out, body) {
            Some((seq, bytes)) => self.commit_outbound(seq, bytes, now_ns, out).is_ok(),
            None => false,
        }
    }

    /// An admin message numbered with the next MsgSeqNum (not yet used up
    /// or stored); `None` once disconnected, or after disconnecting on an
    /// encoding failure.
    fn encode_admin(
        &mut self,
        msg_type: &[u8],
        now_ns: u64,
        out: &mut Vec<Action>,
        body: impl FnOnce(&mut Encoder),
    ) -> Option<(u64, Vec<u8>)> {
        if self.state == State::Disconnected {
            return None;
        }
        let seq = self.store.next_sender_seq();
        self.encoder.start(msg_type).header(
            &self.config.sender_comp_id,
            &self.config.target_comp_id,
            seq,
            now_ns,
        );
        body(&mut self.encoder);
        let mut bytes = Vec::new();
        if let Err(e) = self.encoder.finish(&mut bytes) {
            let kind = String::from_utf8_lossy(msg_type).into_owned();
            self.disconnect(format!("internal error encoding a 35={kind} message: {e}"), out);
            return None;
        }
        Some((seq, bytes))
    }

    /// Stores the message, advances the sender sequence number and pushes
    /// the send; on a store failure pushes a disconnect instead.
    fn commit_outbound(
        &mut self,
        seq: u64,
        bytes: Vec<u8>,
        now_ns: u64,
        out: &mut Vec<Action>,
    ) -> io::Result<()> {
        let stored = self
            .store
            .store_outbound(seq, &bytes)
            .and_then(|()| self.store.set_next_sender_seq(seq.saturating_add(1)));
        if let Err(e) = stored {
            self.store_failure(&e, out);
            return Err(e);
        }
        self.last_sent_ns = now_ns;
        out.push(Action::Send(bytes));
        Ok(())
    }

    fn send_reject(&mut self, reject: &SessionReject<'_>, now_ns: u64, out: &mut Vec<Action>) {
        let ref_msg_type = reject.ref_msg_type;
        self.send_admin(b"3", now_ns, out, |e| {
            e.uint(45, reject.ref_seq_num.unwrap_or(0));
            if let Some(tag) = reject.ref_tag_id {
                e.uint(371, u64::from(tag));
            }
            if !ref_msg_type.is_empty() {
                e.bytes(372, ref_msg_type);
            }
            e.uint(373, u64::from(reject.reason.code())).str(58, reject.reason.text());
        });
    }

    /// Records the next expected inbound number; `false` (and a pushed
    /// disconnect) if the store failed.
    fn set_next_target(&mut self, seq: u64, out: &mut Vec<Action>) -> bool {
        if let Err(e) = self.store.set_next_target_seq(seq) {
            self.store_failure(&e, out);
            return false;
        }
        if self.resend_until.is_some_and(|until| seq > until) {
            self.resend_until = None;
        }
        true
    }

    fn count_if_expected(&mut self, seq: u64, out: &mut Vec<Action>) {
        if seq == self.store.next_target_seq() {
            self.set_next_target(seq.saturating_add(1), out);
        }
    }

    /// Answers a Logon that is refused with a Logout, then disconnects.
    /// The Logout carries the session's next MsgSeqNum but neither uses it
    /// up nor is stored: whoever sent the refused Logon (a misconfigured
    /// client, or someone who only knows the CompIDs) must not move the
    /// real session's numbers.
    fn refuse_logon(&mut self, text: &str, now_ns: u64, out: &mut Vec<Action>) {
        if let Some((_, bytes)) = self.encode_admin(b"5", now_ns, out, |e| {
            e.str(58, text);
        }) {
            out.push(Action::Send(bytes));
        }
        self.disconnect(text, out);
    }

    fn logout_and_disconnect(&mut self, text: &str, now_ns: u64, out: &mut Vec<Action>) {
        self.send_admin(b"5", now_ns, out, |e| {
            e.str(58, text);
        });
        self.disconnect(text, out);
    }

    fn store_failure(&mut self, error: &io::Error, out: &mut Vec<Action>) {
        self.disconnect(format!("message store failure: {error}"), out);
    }

    fn disconnect(&mut self, reason: impl Into<String>, out: &mut Vec<Action>) {
        if self.state != State::Disconnected {
            self.state = State::Disconnected;
            self.queue.clear();
            self.queued_bytes = 0;
            self.resend_until = None;
            out.push(Action::Disconnect { reason: reason.into() });
        }
    }
}

/// Application messages sent as one: each takes the next MsgSeqNum as it
/// is added; [`SendBatch::finish`] stores them all with one store write
/// and pushes them as one [`Action::Send`]. Dropped unfinished, it sends
/// nothing and uses up no sequence number.
pub struct SendBatch<'a> {
    session: &'a mut Session,
    now_ns: u64,
    bytes: Vec<u8>,
    msgs: Vec<(u64, std::ops::Range<usize>)>,
}

impl SendBatch<'_> {
    /// Encodes a message as [`Session::send_app`] would; returns the
    /// MsgSeqNum it will have. A message that fails to encode is left out
    /// (the others still go) and takes no sequence number.
    pub fn add(&mut self, msg_type: &str, body: impl FnOnce(&mut Encoder)) -> Result<u64, SendError> {
        let session = &mut *self.session;
        if session.state != State::LoggedOn {
            return Err(SendError::NotLoggedOn);
        }
        if is_admin(msg_type.as_bytes()) {
            return Err(SendError::AdminMsgType);
        }
        let seq = session.store.next_sender_seq() + self.msgs.len() as u64;
        session.encoder.start(msg_type.as_bytes()).header(
            &session.config.sender_comp_id,
            &session.config.target_comp_id,
            seq,
            self.now_ns,
        );
        body(&mut session.encoder);
        let range = session.encoder.finish(&mut self.bytes).map_err(SendError::Encode)?;
        self.msgs.push((seq, range));
        Ok(seq)
    }

    /// Stores the messages added, advances the sender sequence number past
    /// them and pushes one [`Action::Send`] with all of them. On a store
    /// failure nothing is sent and a disconnect is pushed instead.
    pub fn finish(self, out: &mut Vec<Action>) -> Result<usize, SendError> {
        let SendBatch { session, now_ns, bytes, msgs } = self;
        let Some((last, _)) = msgs.last() else { return Ok(0) };
        let stored = session
            .store
            .store_outbound_batch(&msgs, &bytes)
            .and_then(|()| session.store.set_next_sender_seq(last.saturating_add(1)));
        if let Err(e) = stored {
            session.store_failure(&e, out);
            return Err(SendError::Store(e));
        }
        session.last_sent_ns = now_ns;
        out.push(Action::Send(bytes));
        Ok(msgs.len())
    }
}

fn too_low_text(expected: u64, received: u64) -> String {
    format!("MsgSeqNum too low, expecting {expected} but received {received}")
}
