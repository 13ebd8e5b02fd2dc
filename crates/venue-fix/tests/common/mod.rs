//! Helpers shared by the integration tests: messages written by hand with `|`
//! for the delimiter, framed by an independent (deliberately naive) BodyLength
//! and CheckSum computation rather than by the encoder under test.

#![allow(dead_code)]

use venue_fix::{Dictionary, FrameResult, Framer, Parser, SessionRejectReason, Validator, Verdict};

/// `|` → SOH.
pub fn soh(text: &str) -> Vec<u8> {
    text.bytes().map(|b| if b == b'|' { 0x01 } else { b }).collect()
}

/// SOH → `|`, for readable assertion messages.
pub fn show(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| if b == 0x01 { '|' } else { b as char }).collect()
}

/// Frames a body (`35=...|...|`) as FIX.4.4 with correct BodyLength and
/// CheckSum.
pub fn frame(body: &str) -> Vec<u8> {
    let body = soh(body);
    let mut out = soh(&format!("8=FIX.4.4|9={}|", body.len()));
    out.extend_from_slice(&body);
    let sum: u32 = out.iter().map(|&b| u32::from(b)).sum();
    out.extend_from_slice(&soh(&format!("10={:03}|", sum % 256)));
    out
}

/// A standard header for a client message with sequence number `seq`.
pub fn header(msg_type: &str, seq: u64) -> String {
    format!("35={msg_type}|34={seq}|49=CLIENT|52=20240102-09:30:00.123|56=VENUE|")
}

/// Frames `header(msg_type) + body`.
pub fn message(msg_type: &str, body: &str) -> Vec<u8> {
    frame(&(header(msg_type, 7) + body))
}

/// A valid NewOrderSingle body.
pub const NEW_ORDER: &str = "11=ORD-1|38=100|40=2|44=27123.50|54=1|55=BTC-USD|59=1|60=20240102-09:30:00.120|";

/// Frames, parses and validates one complete message; returns the reject as
/// (code, RefTagID) or the verdict's message name ("unsupported" for a
/// BusinessMessageReject case).
pub fn check(bytes: &[u8]) -> Result<&'static str, (u32, Option<u32>)> {
    let framer = Framer::default();
    match framer.next_frame(bytes) {
        FrameResult::Complete { len } => assert_eq!(len, bytes.len(), "{}", show(bytes)),
        other => panic!("not a frame: {other:?}: {}", show(bytes)),
    }
    let mut parser = Parser::new();
    let msg = parser.parse(bytes).expect("framed messages parse");
    let mut validator = Validator::new(Dictionary::fix44());
    match validator.validate(&msg) {
        Ok(Verdict::Valid(spec)) => Ok(spec.name),
        Ok(Verdict::UnsupportedMsgType) => Ok("unsupported"),
        Err(reject) => {
            assert_eq!(reject.ref_msg_type, msg.msg_type());
            assert_eq!(reject.ref_seq_num, msg.seq_num());
            Err((reject.reason.code(), reject.ref_tag_id))
        }
    }
}

/// The expected rejection of [`check`].
pub fn rejected(reason: SessionRejectReason, tag: Option<u32>) -> Result<&'static str, (u32, Option<u32>)> {
    Err((reason.code(), tag))
}
