//! Finding message boundaries in a TCP byte stream.
//!
//! A read buffer may hold part of a message, several messages, or garbage. The
//! [`Framer`] looks at the start of the buffer and answers one of three things:
//! wait for more bytes, here is a complete message of `len` bytes, or the bytes
//! at the start are garbled and `skip` of them must be dropped.
//!
//! A frame is `8=FIX…<SOH>9=<BodyLength><SOH>35=…<SOH>…10=<ddd><SOH>`, where
//! BodyLength counts the bytes from after its own delimiter up to and including
//! the delimiter before `10=`, and CheckSum is the sum of every byte before
//! `10=` modulo 256, written as three digits.
//!
//! Garbled input is skipped silently because FIX says so (Session Protocol,
//! "garbled messages"): a message whose BeginString is not first, BodyLength
//! not second or wrong, MsgType not third, or CheckSum not last or wrong is
//! ignored without a Reject and without consuming a sequence number; the gap
//! it leaves is repaired by the normal resend mechanism. Answering garbage
//! would let a corrupted stream trigger protocol traffic.
//!
//! How much is skipped: when the CheckSum field sits exactly where BodyLength
//! says but its value is wrong, the frame's extent is trusted and the whole
//! frame is dropped (as QuickFIX does). In every other case the extent is not
//! trusted and the framer resynchronises on the next `8=FIX` after the first
//! byte, so a wrong BodyLength cannot swallow the following good message. The
//! skip is always at least one byte, and `Incomplete` is only answered while
//! the buffer could still become a frame no longer than the configured
//! maximum, so a caller looping on the framer always makes progress and never
//! needs a buffer larger than that maximum.
//!
//! Cost: one pass over the header digits, one over the frame for the checksum.

use crate::message::SOH;

/// What the framer found at the start of a buffer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameResult {
    /// The buffer is a prefix of a possible frame: read more bytes.
    Incomplete,
    /// `buf[..len]` is one complete frame with a correct CheckSum.
    Complete {
        /// Length of the frame in bytes.
        len: usize,
    },
    /// The start of the buffer is garbled: drop `skip` bytes (at least one) and
    /// ask again. No Reject is sent for garbled messages.
    Garbled {
        /// Bytes to drop from the start of the buffer.
        skip: usize,
        /// Why, for logs and metrics.
        reason: Garble,
    },
}

/// Why a message was considered garbled. Logged, never answered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Garble {
    /// The buffer does not start with `8=FIX`.
    NoBeginString,
    /// BeginString is not terminated within its maximum length.
    BadBeginString,
    /// BodyLength is not the second field or not a positive number.
    BadBodyLength,
    /// BodyLength announces a message larger than the configured maximum.
    TooLarge,
    /// MsgType is not the third field.
    MsgTypeNotThird,
    /// No `10=ddd<SOH>` where BodyLength says the trailer starts.
    MisplacedCheckSum,
    /// The CheckSum value does not match the bytes.
    BadCheckSum,
}

impl Garble {
    /// A short description for logs.
    pub const fn as_str(self) -> &'static str {
        match self {
            Garble::NoBeginString => "BeginString is not the first field",
            Garble::BadBeginString => "BeginString is malformed",
            Garble::BadBodyLength => "BodyLength is not the second field or malformed",
            Garble::TooLarge => "BodyLength exceeds the maximum message size",
            Garble::MsgTypeNotThird => "MsgType is not the third field",
            Garble::MisplacedCheckSum => "CheckSum is not where BodyLength says",
            Garble::BadCheckSum => "CheckSum does not match",
        }
    }
}

/// The default upper bound of a whole message, in bytes. FIX order-entry
/// messages are a few hundred bytes; 64 KiB leaves room for large market-data
/// snapshots while bounding a connection's read buffer.
pub const DEFAULT_MAX_MESSAGE_LEN: usize = 64 * 1024;

/// The smallest accepted maximum: large enough for any frame header, so that
/// the framer can always decide within the maximum.
pub const MIN_MAX_MESSAGE_LEN: usize = 64;

const BEGIN: &[u8] = b"8=FIX";
/// "FIX.4.4" needs 7 bytes; FIXT.1.1 needs 8. Anything longer is garbage.
const MAX_BEGIN_STRING_VALUE: usize = 16;
const MAX_BODY_LENGTH_DIGITS: usize = 10;
/// The length of the trailer, `10=ddd<SOH>`.
pub const TRAILER_LEN: usize = 7;

/// Splits a byte stream into frames; holds only its limit.
#[derive(Clone, Copy, Debug)]
pub struct Framer {
    max_message_len: usize,
}

impl Default for Framer {
    fn default() -> Framer {
        Framer::new(DEFAULT_MAX_MESSAGE_LEN)
    }
}

impl Framer {
    /// A framer refusing messages longer than `max_message_len` bytes (raised
    /// to [`MIN_MAX_MESSAGE_LEN`] if smaller).
    pub fn new(max_message_len: usize) -> Framer {
        Framer { max_message_len: max_message_len.max(MIN_MAX_MESSAGE_LEN) }
    }

    /// The configured maximum message length in bytes.
    pub fn max_message_len(&self) -> usize {
        self.max_message_len
    }

    /// Looks for a frame at the start of `buf`.
    pub fn next_frame(&self, buf: &[u8]) -> FrameResult {
        match self.scan(buf) {
            Scan::Incomplete => FrameResult::Incomplete,
            Scan::Complete(len) => FrameResult::Complete { len },
            Scan::BadChecksum(len) => FrameResult::Garbled { skip: len, reason: Garble::BadCheckSum },
            Scan::Garbled(reason) => FrameResult::Garbled { skip: resync_skip(buf), reason },
        }
    }

    /// The whole length (header, body and trailer) that a frame at the start
    /// of `buf` announces, once its BeginString and BodyLength are read and
    /// whatever the maximum; `None` before that or if they are malformed.
    /// Lets a session read past a message that is too large to keep, so that
    /// it can answer it instead of losing its sequence number.
    pub fn announced_len(&self, buf: &[u8]) -> Option<usize> {
        match Framer::header(buf) {
            Ok((body_start, body_len)) => body_start.checked_add(body_len)?.checked_add(TRAILER_LEN),
            Err(_) => None,
        }
    }

    /// BeginString and BodyLength: where the body starts and its length.
    fn header(buf: &[u8]) -> Result<(usize, usize), Scan> {
        // BeginString: "8=FIX...<SOH>"
        if buf.len() < BEGIN.len() {
            return Err(if BEGIN.starts_with(buf) {
                Scan::Incomplete
            } else {
                Scan::Garbled(Garble::NoBeginString)
            });
        }
        if !buf.starts_with(BEGIN) {
            return Err(Scan::Garbled(Garble::NoBeginString));
        }
        let begin_end = match find_soh(buf, 2, MAX_BEGIN_STRING_VALUE) {
            Found::At(i) => i,
            Found::NotYet => return Err(Scan::Incomplete),
            Found::Never => return Err(Scan::Garbled(Garble::BadBeginString)),
        };
        // BodyLength: "9=<digits><SOH>"
        let length_tag = begin_end + 1;
        let available = &buf[length_tag.min(buf.len())..(length_tag + 2).min(buf.len())];
        if !b"9=".starts_with(available) {
            return Err(Scan::Garbled(Garble::BadBodyLength));
        }
        if available.len() < 2 {
            return Err(Scan::Incomplete);
        }
        let digits_start = length_tag + 2;
        let length_end = match find_soh(buf, digits_start, MAX_BODY_LENGTH_DIGITS) {
            Found::At(i) => i,
            Found::NotYet if buf[digits_start..].iter().all(u8::is_ascii_digit) => {
                return Err(Scan::Incomplete);
            }
            _ => return Err(Scan::Garbled(Garble::BadBodyLength)),
        };
        let digits = &buf[digits_start..length_end];
        match crate::message::parse_u64(digits).and_then(|n| usize::try_from(n).ok()) {
            Some(n) if n > 0 => Ok((length_end + 1, n)),
            _ => Err(Scan::Garbled(Garble::BadBodyLength)),
        }
    }

    fn scan(&self, buf: &[u8]) -> Scan {
        let (body_start, body_len) = match Framer::header(buf) {
            Ok(header) => header,
            Err(scan) => return scan,
        };
        // MsgType must be third: decide as soon as its bytes are there, and
        // before the size, so that a message too large to keep (which a
        // session may read past to answer it) at least starts like one.
        let msg_type = &buf[body_start.min(buf.len())..(body_start + 3).min(buf.len())];
        if !b"35=".starts_with(msg_type) || body_len < 4 {
            return Scan::Garbled(Garble::MsgTypeNotThird);
        }
        let total = match body_start.checked_add(body_len).and_then(|n| n.checked_add(TRAILER_LEN)) {
            Some(total) if total <= self.max_message_len => total,
            Some(_) if msg_type.len() < 3 => return Scan::Incomplete,
            _ => return Scan::Garbled(Garble::TooLarge),
        };
        // CheckSum: exactly where BodyLength says, last. Decided on the bytes
        // that are there, so a wrong BodyLength does not make us wait.
        let trailer_start = body_start + body_len;
        let body_ends_with_soh = buf.get(trailer_start - 1).is_none_or(|&b| b == SOH);
        let trailer = &buf[trailer_start.min(buf.len())..total.min(buf.len())];
        if !body_ends_with_soh || !is_trailer_prefix(trailer) {
            return Scan::Garbled(Garble::MisplacedCheckSum);
        }
        if buf.len() < total {
            return Scan::Incomplete;
        }
        if trailer_checksum(trailer) == Some(u32::from(checksum(&buf[..trailer_start]))) {
            Scan::Complete(total)
        } else {
            Scan::BadChecksum(total)
        }
    }
}

enum Scan {
    Incomplete,
    Complete(usize),
    BadChecksum(usize),
    Garbled(Garble),
}

enum Found {
    At(usize),
    NotYet,
    Never,
}

/// Finds the delimiter ending a value that starts at `start` and may be at
/// most `max_len` bytes long.
fn find_soh(buf: &[u8], start: usize, max_len: usize) -> Found {
    let window = &buf[start.min(buf.len())..(start + max_len + 1).min(buf.len())];
    match window.iter().position(|&b| b == SOH) {
        Some(0) => Found::Never,
        Some(i) => Found::At(start + i),
        None if window.len() > max_len => Found::Never,
        None => Found::NotYet,
    }
}

/// Whether `bytes` is a prefix of `10=ddd<SOH>`.
fn is_trailer_prefix(bytes: &[u8]) -> bool {
    bytes.iter().enumerate().all(|(i, &b)| match i {
        0 => b == b'1',
        1 => b == b'0',
        2 => b == b'=',
        3..=5 => b.is_ascii_digit(),
        _ => b == SOH,
    })
}

/// The CheckSum a complete trailer (`10=ddd<SOH>`) declares; `None` if
/// `bytes` is not one.
pub fn trailer_checksum(bytes: &[u8]) -> Option<u32> {
    if bytes.len() != TRAILER_LEN || !is_trailer_prefix(bytes) {
        return None;
    }
    Some(bytes[3..6].iter().fold(0u32, |acc, &d| acc * 10 + u32::from(d - b'0')))
}

/// The FIX checksum: the sum of the bytes modulo 256.
pub fn checksum(bytes: &[u8]) -> u8 {
    bytes.iter().fold(0u8, |acc, &b| acc.wrapping_add(b))
}

/// Bytes to drop to reach the next possible message start: the next `8=FIX`
/// after the first byte, or everything except a trailing partial `8=FIX`.
/// Always at least 1 for a non-empty buffer.
fn resync_skip(buf: &[u8]) -> usize {
    if let Some(i) = buf.get(1..).and_then(|rest| rest.windows(BEGIN.len()).position(|w| w == BEGIN)) {
        return i + 1;
    }
    let keep = (1..BEGIN.len()).rev().find(|&k| k < buf.len() && buf.ends_with(&BEGIN[..k])).unwrap_or(0);
    buf.len().saturating_sub(keep).max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resync_keeps_a_partial_begin_string() {
        assert_eq!(resync_skip(b"xx8=F"), 2);
        assert_eq!(resync_skip(b"8=FIX"), 5);
        assert_eq!(resync_skip(b"x"), 1);
        assert_eq!(resync_skip(b"abc8=FIXdef"), 3);
    }
}
