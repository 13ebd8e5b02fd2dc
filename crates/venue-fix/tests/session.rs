//! The session state machine driven by a "client" built from the crate's own
//! encoder. Every message the session sends is framed, parsed and validated
//! against the dictionary before any assertion looks at it.

mod common;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use venue_fix::session::{LOGOUT_TIMEOUT_NS, text};
use venue_fix::{
    Action, Dictionary, Encoder, FileStore, FrameResult, Framer, MemoryStore, Parser, SendError, Session,
    SessionConfig, SessionRejectReason, SessionState, SessionStore, Validator, Verdict,
};

/// 2024-01-02 09:30:00 UTC.
const T0: u64 = 1_704_187_800_000_000_000;
const SEC: u64 = 1_000_000_000;

// ---- helpers ------------------------------------------------------------------

/// A temporary directory removed on drop (std only).
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
        let dir = std::env::temp_dir().join(format!("venue-fix-{name}-{}-{n}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A decoded outbound message: fields in wire order.
#[derive(Debug, Clone)]
struct Sent {
    fields: Vec<(u32, String)>,
}

impl Sent {
    fn get(&self, tag: u32) -> Option<&str> {
        self.fields.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_str())
    }

    fn msg_type(&self) -> &str {
        self.get(35).unwrap()
    }

    fn seq(&self) -> u64 {
        self.get(34).unwrap().parse().unwrap()
    }

    fn num(&self, tag: u32) -> u64 {
        self.get(tag).unwrap_or_else(|| panic!("tag {tag} missing in {self:?}")).parse().unwrap()
    }

    /// The fields after the standard header and before the trailer.
    fn body(&self) -> Vec<(u32, String)> {
        let header = Dictionary::fix44().header();
        self.fields.iter().filter(|(t, _)| !header.contains_deep(*t) && *t != 10).cloned().collect()
    }
}

/// Frames, parses and validates one message the session sent; it must be a
/// complete frame of exactly its length, pass the validator as a message the
/// dictionary describes, and carry the venue's CompIDs.
fn decode(bytes: &[u8]) -> Sent {
    let show = common::show(bytes);
    assert_eq!(Framer::default().next_frame(bytes), FrameResult::Complete { len: bytes.len() }, "{show}");
    let mut parser = Parser::new();
    let msg = parser.parse(bytes).unwrap();
    let mut validator = Validator::new(Dictionary::fix44());
    match validator.validate(&msg) {
        Ok(Verdict::Valid(_)) => {}
        other => panic!("outbound message does not validate: {other:?}: {show}"),
    }
    assert_eq!(msg.get_str(49), Ok("VENUE"), "{show}");
    assert_eq!(msg.get_str(56), Ok("CLIENT"), "{show}");
    let fields = msg.iter().map(|f| (f.tag, String::from_utf8(f.value.to_vec()).unwrap())).collect();
    Sent { fields }
}

/// What the session did, decoded, in order.
#[derive(Debug, Clone)]
enum Did {
    Send(Sent),
    Deliver(Sent),
    LoggedOn,
    Disconnect(String),
}

impl Did {
    fn sent(&self) -> &Sent {
        match self {
            Did::Send(sent) => sent,
            other => panic!("expected a Send, got {other:?}"),
        }
    }
}

fn decode_actions(actions: Vec<Action>) -> Vec<Did> {
    actions
        .into_iter()
        .map(|action| match action {
            Action::Send(bytes) => Did::Send(decode(&bytes)),
            Action::Deliver(bytes) => {
                // Deliveries are client messages: framed and valid, not ours.
                assert_eq!(Framer::default().next_frame(&bytes), FrameResult::Complete { len: bytes.len() });
                let mut parser = Parser::new();
                let msg = parser.parse(&bytes).unwrap();
                let fields =
                    msg.iter().map(|f| (f.tag, String::from_utf8(f.value.to_vec()).unwrap())).collect();
                Did::Deliver(Sent { fields })
            }
            Action::LoggedOn => Did::LoggedOn,
            Action::Disconnect { reason } => Did::Disconnect(reason),
        })
        .collect()
}

/// A FIX client built on the crate's encoder.
struct Client {
    enc: Encoder,
    seq: u64,
    sender: &'static str,
    target: &'static str,
}

impl Client {
    fn new() -> Client {
        Client { enc: Encoder::new(Dictionary::fix44()), seq: 1, sender: "CLIENT", target: "VENUE" }
    }

    /// A message with an explicit MsgSeqNum (the counter is untouched).
    fn msg_seq(&mut self, msg_type: &str, seq: u64, now: u64, body: impl FnOnce(&mut Encoder)) -> Vec<u8> {
        let mut out = Vec::new();
        self.enc.start(msg_type.as_bytes()).header(self.sender, self.target, seq, now);
        body(&mut self.enc);
        self.enc.finish(&mut out).unwrap();
        out
    }

    /// The next message in sequence.
    fn msg(&mut self, msg_type: &str, now: u64, body: impl FnOnce(&mut Encoder)) -> Vec<u8> {
        let seq = self.seq;
        self.seq += 1;
        self.msg_seq(msg_type, seq, now, body)
    }

    fn logon(&mut self, now: u64, heartbeat: i64) -> Vec<u8> {
        self.msg("A", now, |e| {
            e.uint(98, 0).int(108, heartbeat).str(553, "alice").str(554, "secret");
        })
    }

    fn order(&mut self, now: u64, cl_ord_id: &str) -> Vec<u8> {
        self.msg("D", now, |e| order_body(e, cl_ord_id, now))
    }
}

fn order_body(e: &mut Encoder, cl_ord_id: &str, now: u64) {
    e.str(11, cl_ord_id)
        .uint(38, 100)
        .char(40, b'2')
        .decimal(44, "27123.50")
        .char(54, b'1')
        .str(55, "BTC-USD")
        .char(59, b'1')
        .timestamp(60, now);
}

fn config() -> SessionConfig {
    let mut config = SessionConfig::new("VENUE", "CLIENT");
    config.password = Some("secret".into());
    config.username = Some("alice".into());
    config.heartbeat_min_secs = 5;
    config.heartbeat_max_secs = 60;
    config
}

struct Harness {
    session: Session,
    client: Client,
}

impl Harness {
    fn new() -> Harness {
        Harness::with(config(), Box::new(MemoryStore::new()))
    }

    fn with(config: SessionConfig, store: Box<dyn SessionStore>) -> Harness {
        Harness { session: Session::new(config, store), client: Client::new() }
    }

    /// Feeds bytes; everything must be consumed.
    fn feed(&mut self, bytes: &[u8], now: u64) -> Vec<Did> {
        let mut out = Vec::new();
        let consumed = self.session.on_bytes(bytes, now, &mut out);
        assert_eq!(consumed, bytes.len(), "not everything consumed");
        decode_actions(out)
    }

    fn timer(&mut self, now: u64) -> Vec<Did> {
        let mut out = Vec::new();
        self.session.on_timer(now, &mut out);
        decode_actions(out)
    }

    /// Logs on with HeartBtInt 30 at T0 and checks the answer.
    fn logged_on() -> Harness {
        let mut h = Harness::new();
        let logon = h.client.logon(T0, 30);
        let did = h.feed(&logon, T0);
        assert!(matches!(did.as_slice(), [Did::Send(_), Did::LoggedOn]), "{did:?}");
        h
    }

    fn send_app(&mut self, cl_ord_id: &str, now: u64) -> u64 {
        let mut out = Vec::new();
        let seq = self
            .session
            .send_app("8", |e| exec_report_body(e, cl_ord_id, now), now, &mut out)
            .expect("send_app");
        assert_eq!(out.len(), 1);
        let sent = decode_actions(out).remove(0);
        assert_eq!(sent.sent().seq(), seq);
        seq
    }
}

/// An ExecutionReport body with a Parties group, so that resends must carry
/// groups through.
fn exec_report_body(e: &mut Encoder, cl_ord_id: &str, now: u64) {
    e.str(37, "O-1")
        .str(11, cl_ord_id)
        .str(17, "E-1")
        .char(150, b'0')
        .char(39, b'0')
        .str(55, "BTC-USD")
        .char(54, b'1')
        .uint(151, 100)
        .uint(14, 0)
        .uint(6, 0)
        .timestamp(60, now)
        .begin_group(453)
        .entry()
        .str(448, "FIRM-A")
        .char(447, b'D')
        .uint(452, 1)
        .entry()
        .str(448, "TRADER-7")
        .char(447, b'D')
        .uint(452, 11)
        .end_group();
}

fn assert_logout_then_disconnect(did: &[Did], text_prefix: &str) {
    match did {
        [Did::Send(logout), Did::Disconnect(reason)] => {
            assert_eq!(logout.msg_type(), "5");
            let text = logout.get(58).unwrap_or_default();
            assert!(
                text.starts_with(text_prefix),
                "Logout text {text:?} does not start with {text_prefix:?}"
            );
            assert!(reason.starts_with(text_prefix), "{reason}");
        }
        other => panic!("expected Logout + Disconnect, got {other:?}"),
    }
}

fn assert_reject(
    sent: &Sent,
    ref_seq: u64,
    ref_tag: Option<u32>,
    ref_type: &str,
    reason: SessionRejectReason,
) {
    assert_eq!(sent.msg_type(), "3", "{sent:?}");
    assert_eq!(sent.num(45), ref_seq);
    assert_eq!(sent.get(371).map(|t| t.parse::<u32>().unwrap()), ref_tag, "{sent:?}");
    assert_eq!(sent.get(372), Some(ref_type));
    assert_eq!(sent.num(373), u64::from(reason.code()), "{sent:?}");
    assert_eq!(sent.get(58), Some(reason.text()));
}

fn delivered_ids(did: &[Did]) -> Vec<String> {
    did.iter()
        .filter_map(|d| match d {
            Did::Deliver(sent) => Some(sent.get(11).unwrap().to_owned()),
            _ => None,
        })
        .collect()
}

// ---- logon --------------------------------------------------------------------

#[test]
fn logon_is_answered_with_heartbeat_interval_and_encrypt_method() {
    let mut h = Harness::new();
    assert_eq!(h.session.state(), SessionState::AwaitingLogon);
    let logon = h.client.logon(T0, 30);
    let did = h.feed(&logon, T0);
    let [Did::Send(answer), Did::LoggedOn] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!(answer.msg_type(), "A");
    assert_eq!(answer.seq(), 1);
    assert_eq!(answer.get(98), Some("0"));
    assert_eq!(answer.get(108), Some("30"));
    assert_eq!(answer.get(141), None);
    assert_eq!(answer.get(52), Some("20240102-09:30:00.000"));
    assert!(h.session.is_logged_on());
    assert_eq!(h.session.heartbeat_interval_secs(), 30);
    assert_eq!((h.session.next_sender_seq(), h.session.next_target_seq()), (2, 2));
}

#[test]
fn wrong_credentials_are_refused() {
    for (user, password) in [("alice", "wrong"), ("mallory", "secret"), ("alice", "secre")] {
        let mut h = Harness::new();
        let logon = h.client.msg("A", T0, |e| {
            e.uint(98, 0).uint(108, 30).str(553, user).str(554, password);
        });
        let did = h.feed(&logon, T0);
        assert_logout_then_disconnect(&did, text::INVALID_CREDENTIALS);
        assert!(!h.session.is_logged_on());
        assert_eq!(h.session.state(), SessionState::Disconnected);
        // Nothing more is processed until the socket is gone.
        let order = h.client.order(T0, "X");
        assert!(h.feed(&order, T0).is_empty());
        assert_eq!(h.session.next_target_seq(), 1, "a refused Logon does not count");
        assert_eq!(h.session.next_sender_seq(), 1, "nor does the Logout that refused it");
    }
    // Missing password.
    let mut h = Harness::new();
    let logon = h.client.msg("A", T0, |e| {
        e.uint(98, 0).uint(108, 30).str(553, "alice");
    });
    assert_logout_then_disconnect(&h.feed(&logon, T0), text::INVALID_CREDENTIALS);
}

/// Someone who knows only the CompIDs cannot move the real session's
/// numbers: its refused Logons are answered by Logouts that are neither
/// numbered past the session's next MsgSeqNum nor stored for a resend.
#[test]
fn refused_logons_leave_the_session_numbers_alone() {
    let mut h = Harness::logged_on();
    h.send_app("E1", T0);
    let next = h.session.next_sender_seq();
    h.session.on_disconnect();
    for _ in 0..3 {
        let mut impostor = Client::new();
        let logon = impostor.msg("A", T0, |e| {
            e.uint(98, 0).uint(108, 30).str(553, "alice").str(554, "guess");
        });
        let did = h.feed(&logon, T0);
        assert_logout_then_disconnect(&did, text::INVALID_CREDENTIALS);
        assert_eq!(did[0].sent().seq(), next, "{did:?}");
        h.session.on_disconnect();
    }
    assert_eq!(h.session.next_sender_seq(), next);
    // The real client comes back: the venue's Logon answer takes the
    // number the refusals did not use, and nothing is missing before it.
    let logon = h.client.logon(T0 + SEC, 30);
    let did = h.feed(&logon, T0 + SEC);
    let answer = did.iter().find_map(|d| match d {
        Did::Send(sent) if sent.msg_type() == "A" => Some(sent),
        _ => None,
    });
    assert_eq!(answer.map(Sent::seq), Some(next), "{did:?}");
}

#[test]
fn wrong_comp_ids_are_refused() {
    let mut h = Harness::new();
    h.client.sender = "INTRUDER";
    let logon = h.client.logon(T0, 30);
    let did = h.feed(&logon, T0);
    assert_logout_then_disconnect(&did, text::INVALID_SENDER_COMP_ID);
    assert!(text::INVALID_SENDER_COMP_ID.starts_with("Invalid CompID"));

    let mut h = Harness::new();
    h.client.target = "OTHER-VENUE";
    let logon = h.client.logon(T0, 30);
    assert_logout_then_disconnect(&h.feed(&logon, T0), text::INVALID_TARGET_COMP_ID);
}

#[test]
fn heartbeat_interval_outside_bounds_is_refused() {
    for hb in [0, 4, 61, -30] {
        let mut h = Harness::new();
        let logon = h.client.logon(T0, hb);
        assert_logout_then_disconnect(&h.feed(&logon, T0), text::HEARTBT_INT_OUT_OF_RANGE);
    }
    for hb in [5, 60] {
        let mut h = Harness::new();
        let logon = h.client.logon(T0, hb);
        assert!(matches!(h.feed(&logon, T0).as_slice(), [Did::Send(_), Did::LoggedOn]));
    }
}

#[test]
fn logon_without_heartbeat_interval_is_refused() {
    let mut h = Harness::new();
    let frame =
        common::frame("35=A|34=1|49=CLIENT|52=20240102-09:30:00.000|56=VENUE|98=0|553=alice|554=secret|");
    let did = h.feed(&frame, T0);
    assert_logout_then_disconnect(&did, text::INVALID_LOGON);
    assert!(did[0].sent().get(58).unwrap().contains("tag 108"), "{did:?}");
}

#[test]
fn encryption_is_refused() {
    let mut h = Harness::new();
    let logon = h.client.msg("A", T0, |e| {
        e.uint(98, 1).uint(108, 30).str(553, "alice").str(554, "secret");
    });
    assert_logout_then_disconnect(&h.feed(&logon, T0), text::UNSUPPORTED_ENCRYPT_METHOD);
}

#[test]
fn wrong_begin_string_is_refused() {
    let mut h = Harness::new();
    h.client.enc.set_begin_string("FIX.4.2").unwrap();
    let logon = h.client.logon(T0, 30);
    assert_logout_then_disconnect(&h.feed(&logon, T0), text::INCORRECT_BEGIN_STRING);
}

#[test]
fn logon_sending_time_must_be_accurate() {
    let mut h = Harness::new();
    let logon = h.client.logon(T0 - 121 * SEC, 30);
    assert_logout_then_disconnect(&h.feed(&logon, T0), text::SENDING_TIME_ACCURACY);
    let mut h = Harness::new();
    let logon = h.client.logon(T0 - 119 * SEC, 30);
    assert!(matches!(h.feed(&logon, T0).as_slice(), [Did::Send(_), Did::LoggedOn]));
}

#[test]
fn first_message_must_be_a_logon() {
    let mut h = Harness::new();
    let heartbeat = h.client.msg("0", T0, |_| {});
    let did = h.feed(&heartbeat, T0);
    let [Did::Disconnect(reason)] = did.as_slice() else { panic!("{did:?}") };
    assert!(reason.contains("not a Logon"), "{reason}");
    assert_eq!(h.session.next_sender_seq(), 1, "nothing sent");
}

#[test]
fn second_logon_is_a_protocol_error() {
    let mut h = Harness::logged_on();
    let logon = h.client.logon(T0, 30);
    assert_logout_then_disconnect(&h.feed(&logon, T0), text::UNEXPECTED_LOGON);
}

#[test]
fn logon_with_too_low_sequence_number_is_refused() {
    let mut store = MemoryStore::new();
    store.set_next_target_seq(10).unwrap();
    let mut h = Harness::with(config(), Box::new(store));
    h.client.seq = 4;
    let logon = h.client.logon(T0, 30);
    assert_logout_then_disconnect(&h.feed(&logon, T0), "MsgSeqNum too low, expecting 10 but received 4");
}

#[test]
fn logon_with_too_high_sequence_number_asks_for_a_resend() {
    let mut h = Harness::new();
    h.client.seq = 3;
    let logon = h.client.logon(T0, 30);
    let did = h.feed(&logon, T0);
    let [Did::Send(answer), Did::LoggedOn, Did::Send(resend)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!(answer.msg_type(), "A");
    assert_eq!((resend.msg_type(), resend.num(7), resend.num(16)), ("2", 1, 0));
    // Their gap fill covers 1..2; the Logon (3) itself was already handled.
    let gap_fill = h.client.msg_seq("4", 1, T0, |e| {
        e.bool(43, true).timestamp(122, T0).bool(123, true).uint(36, 3);
    });
    assert!(h.feed(&gap_fill, T0).is_empty());
    assert_eq!(h.session.next_target_seq(), 4);
    let order = h.client.order(T0, "A-4");
    assert_eq!(delivered_ids(&h.feed(&order, T0)), ["A-4"]);
}

#[test]
fn sessions_can_move_to_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<Session>();
    assert_send::<FileStore>();
    // The store types are reachable from the session module too.
    let _: Box<dyn venue_fix::session::SessionStore> = Box::new(venue_fix::session::MemoryStore::new());
}

#[test]
fn memory_store_reads_like_a_unit_struct() {
    let mut h = Harness::with(config(), Box::new(MemoryStore));
    let logon = h.client.logon(T0, 30);
    assert!(matches!(h.feed(&logon, T0).as_slice(), [Did::Send(_), Did::LoggedOn]));
}

// ---- reset --------------------------------------------------------------------

#[test]
fn reset_on_logon_starts_both_sides_at_one() {
    let mut store = MemoryStore::new();
    store.set_next_sender_seq(40).unwrap();
    store.set_next_target_seq(17).unwrap();
    store.store_outbound(39, b"old").unwrap();
    let mut config = config();
    config.reset_on_logon = true;
    let mut h = Harness::with(config, Box::new(store));
    let logon = h.client.logon(T0, 30);
    let did = h.feed(&logon, T0);
    let [Did::Send(answer), Did::LoggedOn] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((answer.seq(), answer.get(141)), (1, Some("Y")));
    assert_eq!((h.session.next_sender_seq(), h.session.next_target_seq()), (2, 2));
}

#[test]
fn reset_seq_num_flag_resets_both_sides() {
    let mut store = MemoryStore::new();
    store.set_next_sender_seq(40).unwrap();
    store.set_next_target_seq(17).unwrap();
    let mut h = Harness::with(config(), Box::new(store));
    let logon = h.client.msg("A", T0, |e| {
        e.uint(98, 0).uint(108, 30).bool(141, true).str(553, "alice").str(554, "secret");
    });
    let did = h.feed(&logon, T0);
    let [Did::Send(answer), Did::LoggedOn] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((answer.seq(), answer.get(141)), (1, Some("Y")));
    assert_eq!(h.session.next_target_seq(), 2);

    // 141=Y needs MsgSeqNum 1.
    let mut h = Harness::new();
    h.client.seq = 5;
    let logon = h.client.msg("A", T0, |e| {
        e.uint(98, 0).uint(108, 30).bool(141, true).str(553, "alice").str(554, "secret");
    });
    assert_logout_then_disconnect(&h.feed(&logon, T0), text::RESET_LOGON_NOT_SEQ_1);
}

// ---- heartbeats ---------------------------------------------------------------

#[test]
fn heartbeat_test_request_and_timeout() {
    let mut h = Harness::logged_on();
    assert!(h.timer(T0 + 29 * SEC).is_empty());
    let did = h.timer(T0 + 30 * SEC);
    let [Did::Send(hb)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((hb.msg_type(), hb.seq(), hb.get(112)), ("0", 2, None));
    assert!(h.timer(T0 + 35 * SEC).is_empty());
    // 1.2 × 30 s without receiving anything.
    let did = h.timer(T0 + 36 * SEC);
    let [Did::Send(test)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((test.msg_type(), test.get(112)), ("1", Some("TEST-1")));
    assert!(h.timer(T0 + 40 * SEC).is_empty(), "one TestRequest at a time");
    // The answer resets the receive clock.
    let answer = h.client.msg("0", T0 + 41 * SEC, |e| {
        e.str(112, "TEST-1");
    });
    assert!(h.feed(&answer, T0 + 41 * SEC).is_empty());
    assert_eq!(h.session.next_target_seq(), 3);
    assert!(h.timer(T0 + 60 * SEC).is_empty());
    let did = h.timer(T0 + 66 * SEC);
    assert_eq!(did.len(), 1);
    assert_eq!(did[0].sent().msg_type(), "0");
    // Silence: TestRequest at 41 + 36 = 77 s, disconnect at 41 + 60 = 101 s.
    let did = h.timer(T0 + 77 * SEC);
    assert_eq!(did[0].sent().get(112), Some("TEST-2"));
    assert!(h.timer(T0 + 100 * SEC).is_empty());
    let did = h.timer(T0 + 101 * SEC);
    let [Did::Disconnect(reason)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!(reason, "heartbeat timeout");
    assert!(h.timer(T0 + 200 * SEC).is_empty());
}

#[test]
fn test_request_is_answered_with_its_id() {
    let mut h = Harness::logged_on();
    let test = h.client.msg("1", T0 + SEC, |e| {
        e.str(112, "ping-42");
    });
    let did = h.feed(&test, T0 + SEC);
    let [Did::Send(hb)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((hb.msg_type(), hb.get(112)), ("0", Some("ping-42")));
    assert_eq!(h.session.next_target_seq(), 3);
}

// ---- sequence numbers -----------------------------------------------------------

#[test]
fn gap_is_requested_once_and_queued_messages_follow_the_fill() {
    let mut h = Harness::logged_on();
    let o2 = h.client.order(T0, "O-2");
    assert_eq!(delivered_ids(&h.feed(&o2, T0)), ["O-2"]);
    let o3 = h.client.order(T0, "O-3"); // lost
    let o4 = h.client.order(T0, "O-4"); // lost
    let o5 = h.client.order(T0, "O-5");
    let o6 = h.client.order(T0, "O-6");
    let _ = (o3, o4);
    let did = h.feed(&o5, T0);
    let [Did::Send(resend)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((resend.msg_type(), resend.num(7), resend.num(16)), ("2", 3, 0));
    assert!(h.feed(&o6, T0).is_empty(), "no second ResendRequest for the same gap");
    assert_eq!(h.session.queued_messages(), 2);
    assert_eq!(h.session.next_target_seq(), 3);

    // The client gap-fills 3 (say it was a Heartbeat) and resends 4.
    let fill = h.client.msg_seq("4", 3, T0 + SEC, |e| {
        e.bool(43, true).timestamp(122, T0).bool(123, true).uint(36, 4);
    });
    assert!(h.feed(&fill, T0 + SEC).is_empty());
    let resent4 = h.client.msg_seq("D", 4, T0 + SEC, |e| {
        e.bool(43, true).timestamp(122, T0);
        order_body(e, "O-4", T0);
    });
    let did = h.feed(&resent4, T0 + SEC);
    assert_eq!(delivered_ids(&did), ["O-4", "O-5", "O-6"]);
    assert_eq!(did.len(), 3);
    assert_eq!(h.session.next_target_seq(), 7);
    assert_eq!(h.session.queued_messages(), 0);
    // The client goes on resending 5 and 6 (16=0): duplicates, ignored.
    let dup5 = h.client.msg_seq("D", 5, T0 + SEC, |e| {
        e.bool(43, true).timestamp(122, T0);
        order_body(e, "O-5", T0);
    });
    assert!(h.feed(&dup5, T0 + SEC).is_empty());
    // A new gap is requested again.
    h.client.seq = 9;
    let o9 = h.client.order(T0, "O-9");
    let did = h.feed(&o9, T0 + SEC);
    assert_eq!((did[0].sent().msg_type(), did[0].sent().num(7)), ("2", 7));
}

#[test]
fn gap_fill_over_queued_messages_drops_them() {
    let mut h = Harness::logged_on();
    h.client.seq = 4;
    let o4 = h.client.order(T0, "O-4");
    assert_eq!(h.feed(&o4, T0)[0].sent().msg_type(), "2");
    let fill = h.client.msg_seq("4", 2, T0, |e| {
        e.bool(43, true).timestamp(122, T0).bool(123, true).uint(36, 5);
    });
    assert!(h.feed(&fill, T0).is_empty());
    assert_eq!(h.session.next_target_seq(), 5);
    assert_eq!(h.session.queued_messages(), 0);
}

#[test]
fn sequence_number_too_low_logs_out() {
    let mut h = Harness::logged_on();
    let o2 = h.client.order(T0, "O-2");
    h.feed(&o2, T0);
    let again = h.client.msg_seq("D", 2, T0, |e| order_body(e, "O-2b", T0));
    let did = h.feed(&again, T0);
    assert_logout_then_disconnect(&did, "MsgSeqNum too low, expecting 3 but received 2");
}

#[test]
fn possible_duplicates_are_ignored_after_checking_orig_sending_time() {
    let mut h = Harness::logged_on();
    let o2 = h.client.order(T0, "O-2");
    h.feed(&o2, T0);
    let dup = h.client.msg_seq("D", 2, T0 + SEC, |e| {
        e.bool(43, true).timestamp(122, T0);
        order_body(e, "O-2", T0);
    });
    assert!(h.feed(&dup, T0 + SEC).is_empty());
    assert_eq!(h.session.next_target_seq(), 3);

    // 43=Y without OrigSendingTime: Reject 1 on 122, still not counted.
    let dup = h.client.msg_seq("D", 2, T0 + SEC, |e| {
        e.bool(43, true);
        order_body(e, "O-2", T0);
    });
    let did = h.feed(&dup, T0 + SEC);
    let [Did::Send(reject)] = did.as_slice() else { panic!("{did:?}") };
    assert_reject(reject, 2, Some(122), "D", SessionRejectReason::RequiredTagMissing);
    assert_eq!(h.session.next_target_seq(), 3);

    // OrigSendingTime after SendingTime: Reject 10, Logout.
    let dup = h.client.msg_seq("D", 2, T0 + SEC, |e| {
        e.bool(43, true).timestamp(122, T0 + 5 * SEC);
        order_body(e, "O-2", T0);
    });
    let did = h.feed(&dup, T0 + SEC);
    let [Did::Send(reject), rest @ ..] = did.as_slice() else { panic!("{did:?}") };
    assert_reject(reject, 2, Some(122), "D", SessionRejectReason::SendingTimeAccuracyProblem);
    assert_logout_then_disconnect(rest, text::SENDING_TIME_ACCURACY);
}

#[test]
fn sequence_reset_gap_fill_and_reset_modes() {
    // GapFill: sequenced by its own MsgSeqNum.
    let mut h = Harness::logged_on();
    let fill = h.client.msg_seq("4", 2, T0, |e| {
        e.bool(123, true).uint(36, 10);
    });
    assert!(h.feed(&fill, T0).is_empty());
    assert_eq!(h.session.next_target_seq(), 10);
    // A GapFill that would not move forward: Reject 5 on 36, and it counts.
    let fill = h.client.msg_seq("4", 10, T0, |e| {
        e.bool(123, true).uint(36, 10);
    });
    let did = h.feed(&fill, T0);
    assert_reject(did[0].sent(), 10, Some(36), "4", SessionRejectReason::ValueIncorrect);
    assert_eq!(h.session.next_target_seq(), 11);
    // A GapFill ahead of its turn is queued behind a ResendRequest.
    let fill = h.client.msg_seq("4", 12, T0, |e| {
        e.bool(123, true).uint(36, 20);
    });
    let did = h.feed(&fill, T0);
    assert_eq!(did[0].sent().msg_type(), "2");
    assert_eq!(h.session.next_target_seq(), 11);

    // Reset: applies whatever its MsgSeqNum (here far too low, no 43).
    let reset = h.client.msg_seq("4", 1, T0, |e| {
        e.uint(36, 30);
    });
    assert!(h.feed(&reset, T0).is_empty());
    assert_eq!(h.session.next_target_seq(), 30);
    assert_eq!(h.session.queued_messages(), 0, "the queued GapFill is below the new number");
    // Reset to the same number: nothing. Lower: Reject 5 on 36.
    let reset = h.client.msg_seq("4", 30, T0, |e| {
        e.bool(123, false).uint(36, 30);
    });
    assert!(h.feed(&reset, T0).is_empty());
    let reset = h.client.msg_seq("4", 30, T0, |e| {
        e.uint(36, 5);
    });
    let did = h.feed(&reset, T0);
    let [Did::Send(reject)] = did.as_slice() else { panic!("{did:?}") };
    assert_reject(reject, 30, Some(36), "4", SessionRejectReason::ValueIncorrect);
    assert_eq!(h.session.next_target_seq(), 30);
    h.client.seq = 30;
    let order = h.client.order(T0, "O-30");
    assert_eq!(delivered_ids(&h.feed(&order, T0)), ["O-30"]);
}

// ---- resend -------------------------------------------------------------------

#[test]
fn resend_request_is_answered_with_resent_messages_and_gap_fills() {
    let mut h = Harness::logged_on(); // our 1: Logon
    let t1 = T0 + SEC;
    assert_eq!(h.send_app("C-2", t1), 2);
    assert_eq!(h.send_app("C-3", t1), 3);
    let hb = h.timer(t1 + 30 * SEC); // our 4: Heartbeat
    assert_eq!(hb[0].sent().seq(), 4);
    let test = h.client.msg("1", t1 + 30 * SEC, |e| {
        e.str(112, "t");
    });
    assert_eq!(h.feed(&test, t1 + 30 * SEC)[0].sent().seq(), 5); // our 5: Heartbeat
    let t2 = t1 + 31 * SEC;
    assert_eq!(h.send_app("C-6", t2), 6);

    let now = t2 + 10 * SEC;
    let request = h.client.msg("2", now, |e| {
        e.uint(7, 1).uint(16, 0);
    });
    let did = h.feed(&request, now);
    let sent: Vec<&Sent> = did.iter().map(Did::sent).collect();
    let summary: Vec<(String, u64)> = sent.iter().map(|s| (s.msg_type().to_owned(), s.seq())).collect();
    assert_eq!(
        summary,
        [
            ("4".to_owned(), 1),
            ("8".to_owned(), 2),
            ("8".to_owned(), 3),
            ("4".to_owned(), 4),
            ("8".to_owned(), 6)
        ]
    );
    // Gap fills: 43=Y, 122, 123=Y, NewSeqNo = the next resent number.
    for (fill, new_seq) in [(sent[0], 2), (sent[3], 6)] {
        assert_eq!(fill.get(123), Some("Y"));
        assert_eq!(fill.get(43), Some("Y"));
        assert!(fill.get(122).is_some());
        assert_eq!(fill.num(36), new_seq);
    }
    // Resent application messages: 43=Y, OrigSendingTime = first SendingTime,
    // new SendingTime, body (with its group) as first sent.
    let expected_bodies = {
        let mut store_session = Harness::logged_on();
        let mut out = Vec::new();
        store_session.session.send_app("8", |e| exec_report_body(e, "C-2", t1), t1, &mut out).unwrap();
        decode(match &out[0] {
            Action::Send(b) => b,
            _ => unreachable!(),
        })
        .body()
    };
    let resent2 = sent[1];
    assert_eq!(resent2.get(43), Some("Y"));
    assert_eq!(resent2.get(122), Some("20240102-09:30:01.000"));
    assert_eq!(resent2.get(52), Some("20240102-09:30:42.000"));
    assert_eq!(resent2.body(), expected_bodies);
    assert_eq!(resent2.get(448), Some("FIRM-A"));
    assert_eq!(sent[4].get(122), Some("20240102-09:30:32.000"));
    // Nothing new was numbered.
    assert_eq!(h.session.next_sender_seq(), 7);

    // A bounded range: exactly those, no trailing gap fill.
    let request = h.client.msg("2", now, |e| {
        e.uint(7, 2).uint(16, 3);
    });
    let did = h.feed(&request, now);
    let seqs: Vec<u64> = did.iter().map(|d| d.sent().seq()).collect();
    assert_eq!(seqs, [2, 3]);
    // Only admin messages at the end: one gap fill to the next number.
    let request = h.client.msg("2", now, |e| {
        e.uint(7, 4).uint(16, 5);
    });
    let did = h.feed(&request, now);
    let [Did::Send(fill)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((fill.seq(), fill.num(36)), (4, 6));
    // Beyond what was sent: nothing.
    let request = h.client.msg("2", now, |e| {
        e.uint(7, 50).uint(16, 0);
    });
    assert!(h.feed(&request, now).is_empty());
}

#[test]
fn resend_request_ahead_of_sequence_is_answered_at_once() {
    let mut h = Harness::logged_on();
    h.send_app("C-2", T0);
    h.client.seq = 5;
    let request = h.client.msg("2", T0, |e| {
        e.uint(7, 2).uint(16, 0);
    });
    let did = h.feed(&request, T0);
    let types: Vec<&str> = did.iter().map(|d| d.sent().msg_type()).collect();
    assert_eq!(types, ["8", "2"]);
    assert_eq!(did[1].sent().num(7), 2);
    // Once 2..4 are filled the ResendRequest (5) only counts.
    let fill = h.client.msg_seq("4", 2, T0, |e| {
        e.bool(43, true).timestamp(122, T0).bool(123, true).uint(36, 5);
    });
    assert!(h.feed(&fill, T0).is_empty());
    assert_eq!(h.session.next_target_seq(), 6);
}

// ---- validation ---------------------------------------------------------------

/// A hand-framed client message with MsgSeqNum `seq` and `body` ("|" for SOH).
fn raw(msg_type: &str, seq: u64, body: &str) -> Vec<u8> {
    common::frame(&format!("35={msg_type}|34={seq}|49=CLIENT|52=20240102-09:30:00.000|56=VENUE|{body}"))
}

#[test]
fn each_validation_failure_is_rejected_and_counted() {
    use SessionRejectReason as R;
    let order = "11=X|38=100|40=2|44=1.5|54=1|55=BTC-USD|60=20240102-09:30:00.000|";
    let cases: Vec<(&str, String, Option<u32>, R)> = vec![
        (
            "D",
            "38=100|40=2|54=1|55=BTC-USD|60=20240102-09:30:00.000|".into(),
            Some(11),
            R::RequiredTagMissing,
        ),
        ("D", order.replace("54=1", "54=Z"), Some(54), R::ValueIncorrect),
        ("D", order.replace("38=100", "38=abc"), Some(38), R::IncorrectDataFormat),
        ("D", order.replace("44=1.5|", "44=1.5|44=1.6|"), Some(44), R::TagAppearsMoreThanOnce),
        ("D", format!("{order}5000=x|"), Some(5000), R::UndefinedTag),
        ("D", format!("{order}112=x|"), Some(112), R::TagNotDefinedForMessageType),
        ("D", order.replace("40=2", "40="), Some(40), R::TagSpecifiedWithoutValue),
        ("ZZ", order.into(), Some(35), R::InvalidMsgType),
        ("D", format!("{order}453=2|448=A|447=D|452=1|"), Some(453), R::IncorrectNumInGroupCount),
    ];
    let mut h = Harness::logged_on();
    let mut seq = 2;
    for (msg_type, body, tag, reason) in cases {
        let did = h.feed(&raw(msg_type, seq, &body), T0);
        let [Did::Send(reject)] = did.as_slice() else { panic!("{reason:?}: {did:?}") };
        assert_reject(reject, seq, tag, msg_type, reason);
        seq += 1;
        assert_eq!(h.session.next_target_seq(), seq, "a rejected message still counts");
    }
    // And a good one is delivered.
    let did = h.feed(&raw("D", seq, order), T0);
    assert_eq!(delivered_ids(&did), ["X"]);
}

#[test]
fn unsupported_message_type_gets_a_business_message_reject() {
    let mut h = Harness::logged_on();
    let news = raw("B", 2, "148=Headline|");
    let did = h.feed(&news, T0);
    let [Did::Send(reject)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!(reject.msg_type(), "j");
    assert_eq!((reject.num(45), reject.get(372), reject.num(380)), (2, Some("B"), 3));
    assert_eq!(reject.get(58), Some("Unsupported Message Type"));
    assert_eq!(h.session.next_target_seq(), 3);
}

#[test]
fn comp_id_problem_after_logon_ends_the_session() {
    let mut h = Harness::logged_on();
    h.client.sender = "SOMEONE";
    let order = h.client.order(T0, "X");
    let did = h.feed(&order, T0);
    let [Did::Send(reject), rest @ ..] = did.as_slice() else { panic!("{did:?}") };
    assert_reject(reject, 2, Some(49), "D", SessionRejectReason::CompIdProblem);
    assert_logout_then_disconnect(rest, text::COMP_ID_PROBLEM);
}

#[test]
fn sending_time_problem_after_logon_ends_the_session() {
    let mut h = Harness::logged_on();
    let order = h.client.order(T0 + 200 * SEC, "X");
    let did = h.feed(&order, T0 + SEC);
    let [Did::Send(reject), rest @ ..] = did.as_slice() else { panic!("{did:?}") };
    assert_reject(reject, 2, Some(52), "D", SessionRejectReason::SendingTimeAccuracyProblem);
    assert_logout_then_disconnect(rest, text::SENDING_TIME_ACCURACY);
}

#[test]
fn missing_msg_seq_num_ends_the_session() {
    let mut h = Harness::logged_on();
    let frame = common::frame("35=0|49=CLIENT|52=20240102-09:30:00.000|56=VENUE|");
    assert_logout_then_disconnect(&h.feed(&frame, T0), text::MSG_SEQ_NUM_MISSING);
}

#[test]
fn garbled_bytes_are_skipped_silently() {
    let mut h = Harness::logged_on();
    let good2 = h.client.order(T0, "G-2");
    let mut bad_checksum = h.client.msg_seq("D", 3, T0, |e| order_body(e, "BAD", T0));
    let n = bad_checksum.len();
    bad_checksum[n - 2] = if bad_checksum[n - 2] == b'0' { b'1' } else { b'0' };
    let good3 = h.client.order(T0, "G-3");
    let mut stream = b"garbage\x01\x01".to_vec();
    stream.extend_from_slice(&good2);
    stream.extend_from_slice(b"noise");
    stream.extend_from_slice(&bad_checksum);
    stream.extend_from_slice(&good3);
    let did = h.feed(&stream, T0);
    assert_eq!(delivered_ids(&did), ["G-2", "G-3"]);
    assert_eq!(did.len(), 2, "no Reject for garbled input: {did:?}");
    assert_eq!(h.session.next_target_seq(), 4);

    // A partial message is left for the next read.
    let good4 = h.client.order(T0, "G-4");
    let mut out = Vec::new();
    let consumed = h.session.on_bytes(&good4[..good4.len() - 5], T0, &mut out);
    assert_eq!((consumed, out.len()), (0, 0));
    assert_eq!(delivered_ids(&h.feed(&good4, T0)), ["G-4"]);
}

/// An order whose Text (58) makes the whole message `size` bytes or more.
fn huge_order(client: &mut Client, seq: u64, cl_ord_id: &str, size: usize) -> Vec<u8> {
    let text = "x".repeat(size);
    client.msg_seq("D", seq, T0, |e| {
        order_body(e, cl_ord_id, T0);
        e.str(58, &text);
    })
}

/// Feeds `bytes` in reads of `chunk` bytes, as a socket would hand them over,
/// keeping what the session leaves unconsumed.
fn feed_in_chunks(h: &mut Harness, bytes: &[u8], chunk: usize) -> Vec<Did> {
    let (mut pending, mut out) = (Vec::new(), Vec::new());
    for piece in bytes.chunks(chunk) {
        pending.extend_from_slice(piece);
        let used = h.session.on_bytes(&pending, T0, &mut out);
        pending.drain(..used);
        assert!(pending.len() <= Framer::default().max_message_len(), "the read buffer stays bounded");
    }
    assert!(pending.is_empty(), "{} bytes left unconsumed", pending.len());
    decode_actions(out)
}

#[test]
fn a_message_larger_than_the_maximum_is_rejected_and_counted() {
    let max = Framer::default().max_message_len();
    let mut h = Harness::logged_on();
    let huge = huge_order(&mut h.client, 2, "BIG-2", max);
    let next = h.client.msg_seq("D", 3, T0, |e| order_body(e, "AFTER-3", T0));
    let mut stream = huge.clone();
    stream.extend_from_slice(&next);
    let did = feed_in_chunks(&mut h, &stream, 4096);
    let [Did::Send(reject), Did::Deliver(after)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((reject.msg_type(), reject.num(45), reject.get(372)), ("3", 2, Some("D")));
    assert_eq!(reject.num(373), u64::from(SessionRejectReason::Other.code()));
    assert_eq!(reject.get(58), Some(format!("Message larger than {max} bytes").as_str()));
    assert_eq!(after.get(11), Some("AFTER-3"), "the message after it is read as usual");
    assert_eq!(h.session.next_target_seq(), 4);

    // One that arrives ahead of its turn is rejected when the gap is filled.
    let huge5 = huge_order(&mut h.client, 5, "BIG-5", max);
    let did = feed_in_chunks(&mut h, &huge5, 1000);
    let [Did::Send(resend)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((resend.msg_type(), resend.num(7)), ("2", 4));
    let fill = h.client.msg_seq("4", 4, T0, |e| {
        e.bool(43, true).timestamp(122, T0).bool(123, true).uint(36, 5);
    });
    let did = h.feed(&fill, T0);
    let [Did::Send(reject)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((reject.msg_type(), reject.num(45), reject.num(373)), ("3", 5, 99));
    assert_eq!(h.session.next_target_seq(), 6);

    // A possible duplicate of it is ignored; one with a wrong CheckSum is
    // garbled, ignored, and leaves the number to be asked for again.
    let dup = h.client.msg_seq("D", 5, T0, |e| {
        e.bool(43, true).timestamp(122, T0);
        order_body(e, "BIG-5", T0);
        e.str(58, &"x".repeat(max));
    });
    assert!(feed_in_chunks(&mut h, &dup, 65536).is_empty());
    let mut garbled = huge_order(&mut h.client, 6, "BIG-6", max);
    let n = garbled.len();
    garbled[n - 2] = if garbled[n - 2] == b'0' { b'1' } else { b'0' };
    assert!(feed_in_chunks(&mut h, &garbled, 7000).is_empty());
    assert_eq!(h.session.next_target_seq(), 6);

    // Far beyond the maximum, BodyLength is taken for corruption: skipped
    // up to the next message.
    let mut absurd = common::frame("35=D|34=6|49=CLIENT|52=20240102-09:30:00.000|56=VENUE|");
    let msg_type_at = absurd.windows(3).position(|w| w == b"35=").unwrap();
    absurd.splice(..msg_type_at, b"8=FIX.4.4\x019=99999999\x01".iter().copied());
    let good6 = h.client.msg_seq("D", 6, T0, |e| order_body(e, "G-6", T0));
    absurd.extend_from_slice(&good6);
    assert_eq!(delivered_ids(&feed_in_chunks(&mut h, &absurd, 4096)), ["G-6"]);

    // A large BodyLength is trusted only for what starts like a message:
    // without MsgType third it cannot swallow the messages after it.
    let mut stream = b"8=FIX.4.4\x019=100000\x01garbage".to_vec();
    stream.extend_from_slice(&h.client.msg_seq("D", 7, T0, |e| order_body(e, "G-7", T0)));
    assert_eq!(delivered_ids(&feed_in_chunks(&mut h, &stream, 4096)), ["G-7"]);

    // Nor can a corrupt BodyLength on what starts like a message: where a
    // message ends and another starts inside it, it is given up, and the
    // messages after it are read, whichever read they straddle.
    for chunk in [1, 5, 13, 4096] {
        let seq = h.session.next_target_seq();
        let mut stream = format!("8=FIX.4.4\x019=100000\x0135=0\x0134={seq}\x01").into_bytes();
        for (i, id) in ["H-1", "H-2", "H-3"].into_iter().enumerate() {
            stream.extend_from_slice(&h.client.msg_seq("D", seq + i as u64, T0, |e| order_body(e, id, T0)));
        }
        let did = feed_in_chunks(&mut h, &stream, chunk);
        assert_eq!(delivered_ids(&did), ["H-1", "H-2", "H-3"], "reads of {chunk} bytes: {did:?}");
    }
}

// ---- logout -------------------------------------------------------------------

#[test]
fn logout_from_the_counterparty_is_answered() {
    let mut h = Harness::logged_on();
    let logout = h.client.msg("5", T0, |e| {
        e.str(58, "bye");
    });
    let did = h.feed(&logout, T0);
    let [Did::Send(answer), Did::Disconnect(_)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((answer.msg_type(), answer.get(58)), ("5", None));
    assert_eq!(h.session.next_target_seq(), 3);
}

#[test]
fn logout_from_the_venue_waits_for_theirs_or_times_out() {
    let mut h = Harness::logged_on();
    let mut out = Vec::new();
    h.session.logout("venue closing", T0 + SEC, &mut out);
    let did = decode_actions(out);
    let [Did::Send(logout)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!((logout.msg_type(), logout.get(58)), ("5", Some("venue closing")));
    assert_eq!(h.session.state(), SessionState::LogoutSent);
    assert!(!h.session.is_logged_on());
    let mut out = Vec::new();
    assert!(matches!(
        h.session.send_app("8", |e| exec_report_body(e, "x", T0), T0, &mut out),
        Err(SendError::NotLoggedOn)
    ));
    // Messages still flow in while waiting; then their Logout.
    let order = h.client.order(T0 + SEC, "late");
    assert_eq!(delivered_ids(&h.feed(&order, T0 + SEC)), ["late"]);
    let theirs = h.client.msg("5", T0 + SEC, |_| {});
    let did = h.feed(&theirs, T0 + SEC);
    let [Did::Disconnect(reason)] = did.as_slice() else { panic!("{did:?}") };
    assert_eq!(reason, "logout completed");

    // No answer: the timer disconnects.
    let mut h = Harness::logged_on();
    let mut out = Vec::new();
    h.session.logout("bye", T0, &mut out);
    assert!(h.timer(T0 + LOGOUT_TIMEOUT_NS - 1).is_empty());
    let did = h.timer(T0 + LOGOUT_TIMEOUT_NS);
    assert!(matches!(did.as_slice(), [Did::Disconnect(_)]), "{did:?}");
}

#[test]
fn send_app_needs_a_logon_and_an_application_type() {
    let mut h = Harness::new();
    let mut out = Vec::new();
    assert!(matches!(
        h.session.send_app("8", |e| exec_report_body(e, "x", T0), T0, &mut out),
        Err(SendError::NotLoggedOn)
    ));
    let mut h = Harness::logged_on();
    assert!(matches!(h.session.send_app("5", |_| {}, T0, &mut out), Err(SendError::AdminMsgType)));
    assert!(matches!(
        h.session.send_app(
            "8",
            |e| {
                e.uint(34, 99);
            },
            T0,
            &mut out
        ),
        Err(SendError::Encode(_))
    ));
    assert!(out.is_empty());
    assert_eq!(h.session.next_sender_seq(), 2, "failed sends consume no number");
}

#[test]
fn reconnect_continues_the_sequence() {
    let mut h = Harness::logged_on();
    h.send_app("C-2", T0);
    let order = h.client.order(T0, "O-2");
    h.feed(&order, T0);
    h.session.on_disconnect();
    assert_eq!(h.session.state(), SessionState::AwaitingLogon);
    let logon = h.client.logon(T0 + 10 * SEC, 30);
    let did = h.feed(&logon, T0 + 10 * SEC);
    assert_eq!(did[0].sent().seq(), 3);
    assert!(matches!(did.as_slice(), [Did::Send(_), Did::LoggedOn]));
    assert_eq!(h.session.next_target_seq(), 4);
}

// ---- persistence --------------------------------------------------------------

/// A harness over a file store in `dir` (no fsync), logged on at T0: the
/// venue's Logon is our message 1.
fn logged_on_over_files(dir: &TempDir) -> Harness {
    let store = FileStore::open(dir.path()).unwrap().with_fsync(false);
    let mut h = Harness::with(config(), Box::new(store));
    let logon = h.client.logon(T0, 30);
    h.feed(&logon, T0);
    h
}

#[test]
fn file_store_survives_a_restart() {
    let dir = TempDir::new("restart");
    let mut h = logged_on_over_files(&dir); // our 1
    h.send_app("C-2", T0 + SEC); // our 2
    let order = h.client.order(T0 + SEC, "O-2");
    h.feed(&order, T0 + SEC);
    h.send_app("C-3", T0 + 2 * SEC); // our 3
    let (sender, target) = (h.session.next_sender_seq(), h.session.next_target_seq());
    assert_eq!((sender, target), (4, 3));
    drop(h.session);

    // "Restart": a new session over the same directory.
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(store.stored_messages(), 3);
    let session = Session::new(config(), Box::new(store));
    assert_eq!((session.next_sender_seq(), session.next_target_seq()), (4, 3));
    let mut h = Harness { session, client: h.client };
    let logon = h.client.logon(T0 + 60 * SEC, 30);
    let did = h.feed(&logon, T0 + 60 * SEC);
    assert_eq!(did[0].sent().seq(), 4);
    let request = h.client.msg("2", T0 + 61 * SEC, |e| {
        e.uint(7, 1).uint(16, 0);
    });
    let did = h.feed(&request, T0 + 61 * SEC);
    let summary: Vec<(&str, u64)> = did.iter().map(|d| (d.sent().msg_type(), d.sent().seq())).collect();
    assert_eq!(summary, [("4", 1), ("8", 2), ("8", 3), ("4", 4)]);
    assert_eq!(did[1].sent().get(11), Some("C-2"));
    assert_eq!(did[1].sent().get(122), Some("20240102-09:30:01.000"));
    assert_eq!(did[3].sent().num(36), 5);
}

#[test]
fn file_store_truncates_a_torn_tail() {
    let dir = TempDir::new("torn");
    let frame = |seq: u64| {
        let mut enc = Encoder::new(Dictionary::fix44());
        let mut out = Vec::new();
        enc.start(b"0").header("VENUE", "CLIENT", seq, T0).finish(&mut out).unwrap();
        out
    };
    {
        let mut store = FileStore::open(dir.path()).unwrap();
        for seq in 1..=3 {
            store.store_outbound(seq, &frame(seq)).unwrap();
        }
        store.set_next_sender_seq(4).unwrap();
        store.set_next_target_seq(9).unwrap();
    }
    let messages = dir.path().join("messages");
    let intact_len = std::fs::metadata(&messages).unwrap().len();
    // Half of a fourth record.
    let mut torn = Vec::new();
    torn.extend_from_slice(&4u64.to_le_bytes());
    torn.extend_from_slice(&(frame(4).len() as u32).to_le_bytes());
    torn.extend_from_slice(&frame(4)[..10]);
    let mut bytes = std::fs::read(&messages).unwrap();
    bytes.extend_from_slice(&torn);
    std::fs::write(&messages, &bytes).unwrap();
    // And a leftover temporary seqnums file from an interrupted update.
    std::fs::write(dir.path().join("seqnums.tmp"), b"junk").unwrap();

    let mut store = FileStore::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&messages).unwrap().len(), intact_len);
    assert_eq!(store.stored_messages(), 3);
    assert_eq!((store.next_sender_seq(), store.next_target_seq()), (4, 9));
    let got = store.outbound(1, 10).unwrap();
    assert_eq!(got.iter().map(|(s, _)| *s).collect::<Vec<_>>(), [1, 2, 3]);
    assert_eq!(got[1].1, frame(2));
    // Appends continue cleanly after the cut.
    store.store_outbound(4, &frame(4)).unwrap();
    drop(store);

    // A whole record of zeros (an extent allocated but never written).
    let mut bytes = std::fs::read(&messages).unwrap();
    let len = bytes.len();
    bytes.extend_from_slice(&[0u8; 40]);
    std::fs::write(&messages, &bytes).unwrap();
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!(std::fs::metadata(&messages).unwrap().len(), len as u64);
    assert_eq!(store.outbound(1, 10).unwrap().len(), 4);
    // A message logged but the seqnums update lost: the number is not reused.
    assert_eq!(store.next_sender_seq(), 5);
}

#[test]
fn file_store_reset_forgets_messages() {
    let dir = TempDir::new("reset");
    let mut store = FileStore::open(dir.path()).unwrap().with_fsync(false);
    let mut out = Vec::new();
    Encoder::new(Dictionary::fix44()).start(b"0").header("VENUE", "CLIENT", 7, T0).finish(&mut out).unwrap();
    store.store_outbound(7, &out).unwrap();
    store.set_next_sender_seq(8).unwrap();
    store.reset().unwrap();
    assert_eq!((store.next_sender_seq(), store.next_target_seq()), (1, 1));
    assert!(store.outbound(1, 100).unwrap().is_empty());
    drop(store);
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!((store.next_sender_seq(), store.next_target_seq(), store.stored_messages()), (1, 1, 0));
}

#[test]
fn malformed_seqnums_file_is_an_error_not_a_guess() {
    let dir = TempDir::new("badseq");
    std::fs::write(dir.path().join("seqnums"), b"12345").unwrap();
    assert_eq!(FileStore::open(dir.path()).unwrap_err().kind(), std::io::ErrorKind::InvalidData);
}

// ---- properties ---------------------------------------------------------------

mod properties {
    use super::*;
    use proptest::prelude::*;

    #[derive(Clone, Debug)]
    enum Step {
        Msg { kind: u8, seq_delta: i64, poss_dup: bool, orig_skew_secs: Option<i64>, a: u64, b: u64 },
        Garbage(Vec<u8>),
        Timer(u64),
        SendApp,
        Logout,
        Reconnect,
    }

    fn step() -> impl Strategy<Value = Step> {
        prop_oneof![
            6 => (0u8..10, -2i64..4, any::<bool>(), prop::option::of(-5i64..5), 0u64..12, 0u64..12)
                .prop_map(|(kind, seq_delta, poss_dup, orig_skew_secs, a, b)| Step::Msg {
                    kind, seq_delta, poss_dup, orig_skew_secs, a, b
                }),
            1 => prop::collection::vec(any::<u8>(), 0..40).prop_map(Step::Garbage),
            2 => (0u64..80).prop_map(Step::Timer),
            1 => Just(Step::SendApp),
            1 => Just(Step::Logout),
            1 => Just(Step::Reconnect),
        ]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(300))]

        /// Whatever a client sends, in whatever order, the session neither
        /// panics nor sends a message that fails validation, consumes what it
        /// is given (or leaves an incomplete tail) and never reuses one of its
        /// own sequence numbers except through a reset.
        #[test]
        fn any_client_behaviour_yields_valid_output(steps in prop::collection::vec(step(), 1..40)) {
            let mut h = Harness::new();
            let mut now = T0;
            let logon = h.client.logon(now, 30);
            h.feed(&logon, now);
            for step in steps {
                let before = h.session.next_sender_seq();
                let mut out = Vec::new();
                let mut reset = false;
                match step {
                    Step::Msg { kind, seq_delta, poss_dup, orig_skew_secs, a, b } => {
                        let expected = h.session.next_target_seq() as i64;
                        let seq = (expected + seq_delta).max(1) as u64;
                        let header = |e: &mut Encoder| {
                            if poss_dup {
                                e.bool(43, true);
                            }
                            if let Some(skew) = orig_skew_secs {
                                e.timestamp(122, (now as i64 + skew * SEC as i64) as u64);
                            }
                        };
                        let bytes = match kind {
                            0 => {
                                reset = b % 3 == 0;
                                h.client.msg_seq("A", seq, now, |e| {
                                    header(e);
                                    e.uint(98, 0).uint(108, a * 5).str(553, "alice").str(554, "secret");
                                    if reset {
                                        e.bool(141, true);
                                    }
                                })
                            }
                            1 => h.client.msg_seq("0", seq, now, header),
                            2 => h.client.msg_seq("1", seq, now, |e| {
                                header(e);
                                e.str(112, "x");
                            }),
                            3 => h.client.msg_seq("2", seq, now, |e| {
                                header(e);
                                e.uint(7, a).uint(16, b);
                            }),
                            4 => h.client.msg_seq("4", seq, now, |e| {
                                header(e);
                                e.bool(123, true).uint(36, seq + a);
                            }),
                            5 => h.client.msg_seq("4", seq, now, |e| {
                                header(e);
                                e.uint(36, expected as u64 + a).bool(123, false);
                            }),
                            6 => h.client.msg_seq("5", seq, now, header),
                            7 => h.client.msg_seq("D", seq, now, |e| {
                                header(e);
                                order_body(e, "P", now);
                            }),
                            8 => raw("B", seq, "148=x|"),
                            _ => raw("D", seq, "11=X|38=abc|"),
                        };
                        let consumed = h.session.on_bytes(&bytes, now, &mut out);
                        prop_assert_eq!(consumed, bytes.len());
                    }
                    Step::Garbage(bytes) => {
                        let consumed = h.session.on_bytes(&bytes, now, &mut out);
                        prop_assert!(consumed <= bytes.len());
                    }
                    Step::Timer(secs) => {
                        now += secs * SEC;
                        h.session.on_timer(now, &mut out);
                    }
                    Step::SendApp => {
                        let result = h.session.send_app("8", |e| exec_report_body(e, "S", now), now, &mut out);
                        prop_assert_eq!(result.is_ok(), out.len() == 1);
                    }
                    Step::Logout => h.session.logout("bye", now, &mut out),
                    Step::Reconnect => {
                        h.session.on_disconnect();
                        let logon = h.client.msg_seq("A", h.session.next_target_seq(), now, |e| {
                            e.uint(98, 0).uint(108, 30).str(553, "alice").str(554, "secret");
                        });
                        h.session.on_bytes(&logon, now, &mut out);
                    }
                }
                let did = decode_actions(out); // validates every Send
                if !reset {
                    prop_assert!(h.session.next_sender_seq() >= before);
                }
                if let Some(Did::Disconnect(_)) = did.last() {
                    prop_assert_eq!(h.session.state(), SessionState::Disconnected);
                }
            }
        }
    }
}

#[test]
fn file_store_without_fsync_rewrites_seqnums_in_place_and_reopens_them() {
    let dir = TempDir::new("inplace");
    let mut store = FileStore::open(dir.path()).unwrap().with_fsync(false);
    for seq in 2..=50 {
        store.set_next_target_seq(seq).unwrap();
    }
    store.set_next_sender_seq(9).unwrap();
    assert!(!dir.path().join("seqnums.tmp").exists(), "no temporary file without fsync");
    drop(store);
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!((store.next_sender_seq(), store.next_target_seq()), (9, 50));
}

#[test]
fn reports_stored_while_disconnected_are_resent_after_logon() {
    let mut h = Harness::logged_on(); // our 1: Logon answer
    let refused = h.session.store_app("8", |e| exec_report_body(e, "X", T0), T0);
    assert!(matches!(refused, Err(SendError::LoggedOn)), "store_app is for an absent client: {refused:?}");
    h.session.on_disconnect();
    // While the client is away: numbered and stored, nothing to send.
    for (at, id) in ["C-2", "C-3"].iter().enumerate() {
        let seq = h.session.store_app("8", |e| exec_report_body(e, id, T0), T0 + SEC).expect("stored");
        assert_eq!(seq, 2 + at as u64);
    }
    // The client logs on again; the venue's Logon answer (4) is ahead of the
    // 2 it expects, so it asks for 2..; the reports come back as PossDup.
    let now = T0 + 5 * SEC;
    let logon = h.client.logon(now, 30);
    let did = h.feed(&logon, now);
    assert_eq!(did[0].sent().seq(), 4, "{did:?}");
    let request = h.client.msg("2", now, |e| {
        e.uint(7, 2).uint(16, 0);
    });
    let did = h.feed(&request, now);
    let resent: Vec<(String, u64, Option<String>, Option<String>)> = did
        .iter()
        .map(Did::sent)
        .map(|s| {
            (s.msg_type().to_owned(), s.seq(), s.get(11).map(str::to_owned), s.get(43).map(str::to_owned))
        })
        .collect();
    assert_eq!(
        resent[..2],
        [
            ("8".to_owned(), 2, Some("C-2".to_owned()), Some("Y".to_owned())),
            ("8".to_owned(), 3, Some("C-3".to_owned()), Some("Y".to_owned()))
        ],
        "{resent:?}"
    );
}

#[test]
fn a_batch_is_numbered_in_order_stored_together_and_sent_as_one() {
    let dir = TempDir::new("batch");
    let mut h = logged_on_over_files(&dir); // our 1
    let mut out = Vec::new();
    let mut batch = h.session.batch(T0 + SEC);
    assert_eq!(batch.add("8", |e| exec_report_body(e, "C-2", T0)).unwrap(), 2);
    let bad = batch.add("8", |e| {
        e.uint(34, 99);
    });
    assert!(matches!(bad, Err(SendError::Encode(_))), "a message that fails is left out: {bad:?}");
    assert!(matches!(batch.add("0", |_| {}), Err(SendError::AdminMsgType)));
    assert_eq!(batch.add("8", |e| exec_report_body(e, "C-3", T0)).unwrap(), 3);
    assert_eq!(batch.finish(&mut out).unwrap(), 2);
    assert_eq!(out.len(), 1, "one Send for the whole batch");
    let Action::Send(bytes) = &out[0] else { panic!("expected a Send: {out:?}") };
    let FrameResult::Complete { len } = Framer::default().next_frame(bytes) else { panic!("not a frame") };
    let (first, second) = (decode(&bytes[..len]), decode(&bytes[len..]));
    assert_eq!((first.seq(), first.get(11)), (2, Some("C-2")));
    assert_eq!((second.seq(), second.get(11)), (3, Some("C-3")));
    assert_eq!(h.session.next_sender_seq(), 4);

    // Dropped unfinished: nothing sent, no number used.
    let mut batch = h.session.batch(T0 + SEC);
    batch.add("8", |e| exec_report_body(e, "C-4", T0)).unwrap();
    drop(batch);
    assert_eq!(h.session.next_sender_seq(), 4);
    let mut out = Vec::new();
    assert_eq!(h.session.batch(T0).finish(&mut out).unwrap(), 0, "an empty batch sends nothing");
    assert!(out.is_empty());
    drop(h.session);

    // Both were stored, each as its own record, and resend as sent.
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!((store.stored_messages(), store.next_sender_seq()), (3, 4));
    let stored = store.outbound(2, 3).unwrap();
    assert_eq!(stored, [(2, bytes[..len].to_vec()), (3, bytes[len..].to_vec())]);
}

#[test]
fn a_batch_is_refused_before_logon() {
    let mut h = Harness::new();
    let mut batch = h.session.batch(T0);
    assert!(matches!(batch.add("8", |e| exec_report_body(e, "x", T0)), Err(SendError::NotLoggedOn)));
}

#[test]
fn held_sequence_numbers_are_written_once_released() {
    let dir = TempDir::new("held");
    let mut store = FileStore::open(dir.path()).unwrap().with_fsync(false);
    store.set_next_target_seq(2).unwrap();
    store.hold();
    for seq in 3..=9 {
        store.set_next_target_seq(seq).unwrap();
    }
    assert_eq!(store.next_target_seq(), 9, "held numbers are current in memory");
    let on_disk = FileStore::open(dir.path()).unwrap();
    assert_eq!(on_disk.next_target_seq(), 2, "nothing written while held");
    store.release().unwrap();
    let on_disk = FileStore::open(dir.path()).unwrap();
    assert_eq!(on_disk.next_target_seq(), 9, "written when released");
    // Not holding any more: written at once again.
    store.set_next_target_seq(10).unwrap();
    assert_eq!(FileStore::open(dir.path()).unwrap().next_target_seq(), 10);
}

#[test]
fn a_burst_of_messages_in_one_read_leaves_its_sequence_numbers_on_disk() {
    let dir = TempDir::new("burst");
    let store = FileStore::open(dir.path()).unwrap();
    let mut h = Harness::with(config(), Box::new(store));
    let mut bytes = h.client.logon(T0, 30);
    for i in 0..5 {
        bytes.extend(h.client.order(T0, &format!("O-{i}")));
    }
    let did = h.feed(&bytes, T0);
    assert_eq!(delivered_ids(&did).len(), 5, "{did:?}");
    assert_eq!(h.session.next_target_seq(), 7);
    drop(h.session);
    let store = FileStore::open(dir.path()).unwrap();
    assert_eq!((store.next_sender_seq(), store.next_target_seq()), (2, 7));
}
