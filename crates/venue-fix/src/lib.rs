//! The FIX 4.4 wire codec of the venue: framing, zero-copy parsing, a FIX 4.4
//! data dictionary, session-level validation and an encoder.
//!
//! The codec does no I/O and keeps no session state: it turns bytes into
//! checked messages and messages into bytes, so that it can be fuzzed and
//! tested in isolation. On top of it, [`session`] is the FIX session layer
//! (logon, sequence numbers, resend, heartbeats, logout) of the acceptor as a
//! pure state machine — bytes and the time in, [`Action`]s out — and [`store`]
//! keeps its sequence numbers and sent messages ([`MemoryStore`],
//! [`FileStore`]). The gateway owns the socket and the clock.
//!
//! # Layers, inbound
//!
//! 1. [`frame`] — a [`Framer`] finds the next complete message at the start of
//!    a TCP read buffer by `BodyLength (9)` and checks `CheckSum (10)`. It
//!    answers "need more bytes", "a frame of `len` bytes" or "garbled, skip
//!    `n` bytes". Garbled messages are dropped silently, as the FIX session
//!    protocol requires: no Reject, no sequence number consumed, the resend
//!    mechanism repairs the gap. Answering garbage would let line noise drive
//!    protocol traffic.
//! 2. [`message`] — a [`Parser`] splits a frame into `(tag, value)` pairs
//!    without copying (values borrow the frame, slots live in one reusable
//!    vector) and offers lookups, typed getters (integers, chars, booleans,
//!    decimals as text, UTCTimestamps as nanoseconds) and repeating-group
//!    iteration. It records problems instead of failing, so that the
//!    validator can name them and the session can still read `MsgSeqNum`.
//! 3. [`validate`] — a [`Validator`] checks a message against the
//!    [`Dictionary`] and returns the first problem as a [`SessionReject`]:
//!    `SessionRejectReason (373)` with its FIX spelling, `RefTagID (371)`,
//!    `RefMsgType (372)`, `RefSeqNum (45)`. The order of the checks mirrors
//!    QuickFIX's `DataDictionary::validate` (structure, MsgType, required
//!    tags, then field by field), because the clients the venue must serve
//!    are tested against QuickFIX acceptors and should see the same reason
//!    for the same mistake. A FIX message type the venue does not support is
//!    not a session-level error: it comes back as
//!    [`Verdict::UnsupportedMsgType`] for a BusinessMessageReject.
//!
//! # Layers, outbound
//!
//! 4. [`encode`] — an [`Encoder`] writes `8`, `9`, `35`, the header fields in
//!    ascending tag order, the body fields in ascending tag order with each
//!    repeating group as one block in dictionary order, and `10` last, with
//!    SendingTime in milliseconds ([`time`] does the calendar arithmetic).
//!
//! # Limits and cost
//!
//! Every message is bounded by the framer's maximum size
//! ([`frame::DEFAULT_MAX_MESSAGE_LEN`]); nothing else grows with input. A
//! larger message is read past without being kept (its first KiB is, for its
//! header) and answered with a Reject, so that its sender is not led to
//! resend it forever.
//! Parsing, validating and encoding allocate nothing once the reusable
//! `Parser`, `Validator` and `Encoder` buffers have grown to the largest
//! message. There is no floating point: decimals stay text until the order
//! mapping converts them onto the instrument's integer grid. No input panics;
//! the fuzz target in `fuzz/` frames, parses and validates arbitrary bytes.
//!
//! ```
//! use venue_fix::{Dictionary, Encoder, FrameResult, Framer, Parser, Validator, Verdict};
//!
//! let mut out = Vec::new();
//! Encoder::new(Dictionary::fix44())
//!     .start(b"1")
//!     .header("CLIENT", "VENUE", 2, 1_700_000_000_000_000_000)
//!     .str(112, "ping")
//!     .finish(&mut out)
//!     .unwrap();
//!
//! let FrameResult::Complete { len } = Framer::default().next_frame(&out) else { panic!() };
//! let mut parser = Parser::new();
//! let msg = parser.parse(&out[..len]).unwrap();
//! assert_eq!(msg.get_str(112), Ok("ping"));
//! let mut validator = Validator::new(Dictionary::fix44());
//! assert!(matches!(validator.validate(&msg), Ok(Verdict::Valid(spec)) if spec.name == "TestRequest"));
//! ```

pub mod dict;
pub mod encode;
pub mod frame;
pub mod message;
pub mod session;
pub mod store;
pub mod time;
pub mod validate;

pub use dict::{Dictionary, FieldType, GroupSpec, MessageSpec, MsgTypeClass};
pub use encode::{EncodeError, Encoder};
pub use frame::{FrameResult, Framer, Garble};
pub use message::{Field, FieldError, Fields, Group, Message, ParseError, Parser, SOH};
pub use session::{Action, SendBatch, SendError, Session, SessionConfig, SessionState};
pub use store::{FileStore, MemoryStore, SessionStore};
pub use validate::{
    BusinessRejectReason, SessionReject, SessionRejectReason, Validator, Verdict, check_comp_ids,
    check_sending_time,
};
