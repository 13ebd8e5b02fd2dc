//! Framing: where a message starts and ends in a byte stream, and how garbled
//! input is skipped (FIX: garbled messages are ignored, never answered).

mod common;

use common::{frame, header, show, soh};
use venue_fix::{FrameResult, Framer, Garble};

fn heartbeat() -> Vec<u8> {
    frame(&header("0", 1))
}

fn garbled(skip: usize, reason: Garble) -> FrameResult {
    FrameResult::Garbled { skip, reason }
}

#[test]
fn a_hand_written_message_with_a_hand_computed_checksum_frames() {
    // 8=FIX.4.4 ... sums to 241 mod 256 (computed outside this crate).
    let bytes = soh("8=FIX.4.4|9=54|35=0|34=1|49=CLIENT|52=20240101-00:00:00.000|56=VENUE|10=241|");
    assert_eq!(Framer::default().next_frame(&bytes), FrameResult::Complete { len: bytes.len() });
}

#[test]
fn every_strict_prefix_of_a_message_is_incomplete() {
    let bytes = heartbeat();
    for end in 0..bytes.len() {
        assert_eq!(
            Framer::default().next_frame(&bytes[..end]),
            FrameResult::Incomplete,
            "{}",
            show(&bytes[..end])
        );
    }
}

#[test]
fn several_messages_in_one_buffer_come_out_one_by_one() {
    let first = heartbeat();
    let second = frame(&(header("1", 2) + "112=ping|"));
    let mut buf = first.clone();
    buf.extend_from_slice(&second);
    buf.extend_from_slice(&first[..10]);
    let framer = Framer::default();
    assert_eq!(framer.next_frame(&buf), FrameResult::Complete { len: first.len() });
    let rest = &buf[first.len()..];
    assert_eq!(framer.next_frame(rest), FrameResult::Complete { len: second.len() });
    assert_eq!(framer.next_frame(&rest[second.len()..]), FrameResult::Incomplete);
}

#[test]
fn leading_garbage_is_skipped_up_to_the_next_begin_string() {
    let mut buf = b"garbage\x01".to_vec();
    buf.extend_from_slice(&heartbeat());
    assert_eq!(Framer::default().next_frame(&buf), garbled(8, Garble::NoBeginString));
    // Pure garbage is dropped whole, except a tail that may start a message.
    assert_eq!(Framer::default().next_frame(b"xyz"), garbled(3, Garble::NoBeginString));
    assert_eq!(Framer::default().next_frame(b"xyz8=FI"), garbled(3, Garble::NoBeginString));
}

#[test]
fn begin_string_not_first_is_garbled() {
    let mut bytes = soh("9=5|");
    bytes.extend_from_slice(&heartbeat());
    assert_eq!(Framer::default().next_frame(&bytes), garbled(4, Garble::NoBeginString));
}

#[test]
fn begin_string_without_delimiter_is_garbled() {
    let bytes = b"8=FIX.4.4.4.4.4.4.4.4.4.4";
    assert_eq!(Framer::default().next_frame(bytes), garbled(bytes.len(), Garble::BadBeginString));
}

#[test]
fn body_length_not_second_or_not_a_number_is_garbled() {
    let next = heartbeat();
    for bad in [
        "8=FIX.4.4|35=0|9=5|",
        "8=FIX.4.4|9=abc|35=0|",
        "8=FIX.4.4|9=|35=0|",
        "8=FIX.4.4|9=0|35=0|",
        "8=FIX.4.4|9=-5|",
    ] {
        let mut buf = soh(bad);
        let skip = buf.len();
        buf.extend_from_slice(&next);
        assert_eq!(Framer::default().next_frame(&buf), garbled(skip, Garble::BadBodyLength), "{bad}");
    }
    // Eleven digits can never be a valid length: decided without waiting.
    let bytes = soh("8=FIX.4.4|9=12345678901");
    assert_eq!(Framer::default().next_frame(&bytes), garbled(bytes.len(), Garble::BadBodyLength));
}

#[test]
fn a_body_length_beyond_the_maximum_is_refused_without_waiting() {
    let framer = Framer::new(4096);
    let bytes = soh("8=FIX.4.4|9=5000|35=0|");
    assert_eq!(framer.next_frame(&bytes), garbled(bytes.len(), Garble::TooLarge));
    let bytes = soh("8=FIX.4.4|9=9999999999|35=0|");
    assert_eq!(framer.next_frame(&bytes), garbled(bytes.len(), Garble::TooLarge));
}

#[test]
fn msg_type_not_third_is_garbled() {
    let bytes = frame("49=CLIENT|35=0|34=1|52=20240102-09:30:00.123|56=VENUE|");
    assert_eq!(Framer::default().next_frame(&bytes), garbled(bytes.len(), Garble::MsgTypeNotThird));
    // Decided as soon as the third field's first bytes are there.
    assert_eq!(Framer::default().next_frame(&bytes[..19]), garbled(19, Garble::MsgTypeNotThird));
}

#[test]
fn a_wrong_body_length_resynchronises_on_the_next_message() {
    let good = heartbeat();
    for delta in [-3i64, -1, 1, 3] {
        let text = show(&good);
        let body_len: i64 = text.split('|').nth(1).unwrap()[2..].parse().unwrap();
        let wrong = text.replacen(&format!("9={body_len}|"), &format!("9={}|", body_len + delta), 1);
        let mut buf = soh(&wrong);
        let first_len = buf.len();
        buf.extend_from_slice(&good);
        let result = Framer::default().next_frame(&buf);
        assert_eq!(result, garbled(first_len, Garble::MisplacedCheckSum), "delta {delta}: {wrong}");
        assert_eq!(
            Framer::default().next_frame(&buf[first_len..]),
            FrameResult::Complete { len: good.len() }
        );
    }
}

#[test]
fn a_wrong_checksum_drops_exactly_the_frame() {
    let mut bytes = heartbeat();
    let len = bytes.len();
    bytes[len - 2] = if bytes[len - 2] == b'9' { b'0' } else { bytes[len - 2] + 1 };
    assert_eq!(Framer::default().next_frame(&bytes), garbled(len, Garble::BadCheckSum));
    // A corrupted body byte is caught by the checksum too.
    let mut bytes = heartbeat();
    bytes[20] ^= 0x20;
    assert_eq!(Framer::default().next_frame(&bytes), garbled(len, Garble::BadCheckSum));
}

#[test]
fn a_checksum_that_is_not_three_digits_or_not_last_is_garbled() {
    let good = heartbeat();
    let text = show(&good);
    let (body, _) = text.rsplit_once("10=").unwrap();
    for trailer in ["10=12|", "10=1234|", "10=abc|", "11=123|"] {
        let bytes = soh(&format!("{body}{trailer}"));
        let result = Framer::default().next_frame(&bytes);
        assert!(
            matches!(result, FrameResult::Garbled { reason: Garble::MisplacedCheckSum, .. }),
            "{trailer}: {result:?}"
        );
    }
}
