//! Encoding and parsing: known-good messages byte for byte, wire order,
//! typed getters, repeating groups and encoder misuse.

mod common;

use common::{show, soh};
use venue_fix::{
    Dictionary, EncodeError, Encoder, FieldError, FrameResult, Framer, Parser, Validator, Verdict,
};

const CLIENT_TIME_NS: u64 = 1_704_187_800_123_000_000; // 20240102-09:30:00.123

fn encoder() -> Encoder {
    Encoder::new(Dictionary::fix44())
}

#[test]
fn new_order_single_matches_the_hand_framed_bytes() {
    // BodyLength 133 and CheckSum 124 computed outside this crate.
    let expected =
        soh("8=FIX.4.4|9=133|35=D|34=2|49=CLIENT|52=20240102-09:30:00.123|56=VENUE|11=ORD-1|38=100|\
40=2|44=27123.50|54=1|55=BTC-USD|59=1|60=20240102-09:30:00.120|10=124|");
    let hand_sum: u32 = expected[..expected.len() - 7].iter().map(|&b| u32::from(b)).sum();
    assert_eq!(hand_sum % 256, 124);

    // Fields given in no particular order; the encoder sorts them.
    let mut out = Vec::new();
    encoder()
        .start(b"D")
        .str(55, "BTC-USD")
        .char(54, b'1')
        .timestamp(60, CLIENT_TIME_NS - 3_000_000)
        .scaled(44, 2_712_350, 2)
        .header("CLIENT", "VENUE", 2, CLIENT_TIME_NS)
        .str(11, "ORD-1")
        .char(59, b'1')
        .uint(38, 100)
        .char(40, b'2')
        .finish(&mut out)
        .unwrap();
    assert_eq!(show(&out), show(&expected));
}

#[test]
fn heartbeat_matches_the_hand_framed_bytes() {
    let expected = soh("8=FIX.4.4|9=54|35=0|34=1|49=CLIENT|52=20240101-00:00:00.000|56=VENUE|10=241|");
    let mut out = Vec::new();
    encoder().start(b"0").header("CLIENT", "VENUE", 1, 1_704_067_200_000_000_000).finish(&mut out).unwrap();
    assert_eq!(show(&out), show(&expected));
}

#[test]
fn groups_are_written_as_blocks_in_dictionary_order() {
    // CheckSum 226 computed outside this crate.
    let expected =
        soh("8=FIX.4.4|9=121|35=V|34=3|49=CLIENT|52=20240102-09:30:01.000|56=VENUE|146=2|55=BTC-USD|\
55=ETH-USD|262=md-1|263=1|264=0|267=2|269=0|269=1|10=226|");
    let mut out = Vec::new();
    encoder()
        .start(b"V")
        .str(262, "md-1")
        .begin_group(267)
        .entry()
        .char(269, b'0')
        .entry()
        .char(269, b'1')
        .end_group()
        .char(263, b'1')
        .uint(264, 0)
        .begin_group(146)
        .entry()
        .str(55, "BTC-USD")
        .entry()
        .str(55, "ETH-USD")
        .end_group()
        .header("CLIENT", "VENUE", 3, CLIENT_TIME_NS + 877_000_000)
        .finish(&mut out)
        .unwrap();
    assert_eq!(show(&out), show(&expected));
}

#[test]
fn members_of_an_entry_follow_dictionary_order_not_call_order() {
    let mut out = Vec::new();
    encoder()
        .start(b"D")
        .header("CLIENT", "VENUE", 9, CLIENT_TIME_NS)
        .str(11, "A")
        .begin_group(453)
        .entry()
        .uint(452, 11)
        .begin_group(802)
        .entry()
        .uint(803, 4)
        .str(523, "desk")
        .end_group()
        .char(447, b'D')
        .str(448, "TRADER1")
        .end_group()
        .char(54, b'1')
        .timestamp(60, CLIENT_TIME_NS)
        .char(40, b'1')
        .finish(&mut out)
        .unwrap();
    let text = show(&out);
    assert!(
        text.contains(
            "|11=A|40=1|54=1|60=20240102-09:30:00.123|453=1|448=TRADER1|447=D|452=11|802=1|523=desk|803=4|10="
        ),
        "{text}"
    );
    let mut parser = Parser::new();
    let msg = parser.parse(&out).unwrap();
    let mut validator = Validator::new(Dictionary::fix44());
    assert!(matches!(validator.validate(&msg), Ok(Verdict::Valid(_))));
}

#[test]
fn typed_getters_read_the_parsed_message() {
    let bytes =
        soh("8=FIX.4.4|9=141|35=D|34=2|43=N|49=CLIENT|52=20240102-09:30:00.123456|56=VENUE|11=ORD-1|\
38=100|40=2|44=-0.50|54=1|55=BTC-USD|60=20240102-09:30:00|211=x|10=000|");
    let mut parser = Parser::new();
    let msg = parser.parse(&bytes).unwrap();
    assert_eq!(msg.begin_string(), b"FIX.4.4");
    assert_eq!(msg.msg_type(), b"D");
    assert_eq!(msg.seq_num(), Some(2));
    assert_eq!(msg.get_u64(38), Ok(100));
    assert_eq!(msg.get_i64(38), Ok(100));
    assert_eq!(msg.get_char(54), Ok(b'1'));
    assert_eq!(msg.get_bool(43), Ok(false));
    assert_eq!(msg.get_decimal(44), Ok("-0.50"));
    assert_eq!(msg.get_str(55), Ok("BTC-USD"));
    assert_eq!(msg.get_timestamp_ns(52), Ok(CLIENT_TIME_NS + 456_000));
    assert_eq!(msg.get_timestamp_ns(60), Ok(CLIENT_TIME_NS - 123_000_000));
    assert_eq!(msg.get_decimal(211), Err(FieldError::Malformed(211)));
    assert_eq!(msg.get_char(55), Err(FieldError::Malformed(55)));
    assert_eq!(msg.get_u64(58), Err(FieldError::Missing(58)));
    assert_eq!(msg.iter().count(), 17);
    assert_eq!(msg.at(0).map(|f| f.tag), Some(8));
}

#[test]
fn group_entries_are_read_through_the_dictionary() {
    let dict = Dictionary::fix44();
    let bytes = soh("8=FIX.4.4|9=0|35=W|55=BTC-USD|268=3|269=0|270=100.5|271=2|269=1|270=101|271=1.5|269=2|\
270=100.75|813=0|10=000|");
    let mut parser = Parser::new();
    let msg = parser.parse(&bytes).unwrap();
    let group = msg.group(dict.group(b"W", 268).unwrap()).unwrap();
    assert_eq!(group.declared_count(), Some(3));
    let entries: Vec<(u8, &str)> =
        group.entries().map(|e| (e.get_char(269).unwrap(), e.get_decimal(270).unwrap())).collect();
    assert_eq!(entries, [(b'0', "100.5"), (b'1', "101"), (b'2', "100.75")]);
    assert_eq!(group.entries().nth(2).unwrap().get(271), None);
    assert!(msg.group(dict.group(b"V", 267).unwrap()).is_none());
}

#[test]
fn scaled_values_have_exactly_the_given_decimals() {
    let cases: [(i64, u8, &str); 6] = [
        (2_712_350, 2, "27123.50"),
        (5, 3, "0.005"),
        (-5, 3, "-0.005"),
        (0, 2, "0.00"),
        (42, 0, "42"),
        (i64::MIN, 4, "-922337203685477.5808"),
    ];
    for (value, decimals, text) in cases {
        let mut out = Vec::new();
        encoder().start(b"0").scaled(112, value, decimals).finish(&mut out).unwrap();
        assert!(show(&out).contains(&format!("|112={text}|")), "{value} {decimals}: {}", show(&out));
    }
}

#[test]
fn encoder_misuse_is_a_typed_error() {
    let mut out = Vec::new();
    let mut enc = encoder();
    assert_eq!(enc.start(b"0").uint(9, 5).finish(&mut out), Err(EncodeError::ReservedTag(9)));
    assert_eq!(enc.start(b"0").str(58, "").finish(&mut out), Err(EncodeError::EmptyValue(58)));
    assert_eq!(enc.start(b"0").str(58, "a\x01b").finish(&mut out), Err(EncodeError::DelimiterInValue(58)));
    assert_eq!(enc.start(b"0").decimal(44, "1e5").finish(&mut out), Err(EncodeError::NotADecimal(44)));
    assert_eq!(
        enc.start(b"0").str(58, "a").str(58, "b").finish(&mut out),
        Err(EncodeError::DuplicateTag(58))
    );
    assert_eq!(enc.start(b"D").begin_group(268).finish(&mut out), Err(EncodeError::UnknownGroup(268)));
    assert_eq!(enc.start(b"D").begin_group(453).finish(&mut out), Err(EncodeError::UnclosedGroup(453)));
    assert_eq!(
        enc.start(b"D").begin_group(453).str(448, "x").end_group().finish(&mut out),
        Err(EncodeError::NoEntry(448))
    );
    assert_eq!(
        enc.start(b"D").begin_group(453).entry().str(55, "x").end_group().finish(&mut out),
        Err(EncodeError::NotInGroup(55))
    );
    assert_eq!(enc.start(b"D").end_group().finish(&mut out), Err(EncodeError::NoOpenGroup));
    assert_eq!(enc.start(b"").finish(&mut out), Err(EncodeError::NoMsgType));
    assert_eq!(enc.finish(&mut out), Err(EncodeError::NoMsgType), "finish consumes the message");
    assert!(out.is_empty(), "a failed message writes nothing");
    // DATA fields may carry the delimiter.
    enc.start(b"A").uint(95, 3).bytes(96, b"a\x01b").uint(98, 0).uint(108, 30).finish(&mut out).unwrap();
    assert!(matches!(Framer::default().next_frame(&out), FrameResult::Complete { .. }));
}

#[test]
fn buffers_are_reused_not_regrown() {
    let mut out = Vec::new();
    let mut enc = encoder();
    let mut parser = Parser::new();
    let mut validator = Validator::new(Dictionary::fix44());
    let mut capacity = None;
    for seq in 1..100u64 {
        out.clear();
        enc.start(b"D")
            .header("CLIENT", "VENUE", seq, CLIENT_TIME_NS)
            .str(11, "ORD")
            .uint(38, seq)
            .char(40, b'1')
            .char(54, b'2')
            .timestamp(60, CLIENT_TIME_NS)
            .finish(&mut out)
            .unwrap();
        let msg = parser.parse(&out).unwrap();
        assert!(matches!(validator.validate(&msg), Ok(Verdict::Valid(_))));
        let now = (parser.capacity(), out.capacity());
        assert_eq!(*capacity.get_or_insert(now), now, "no buffer grows once warmed up");
    }
}

#[test]
fn raw_fields_follow_the_ordered_ones_verbatim() {
    let mut out = Vec::new();
    let mut enc = encoder();
    enc.start(b"8")
        .header("VENUE", "CLIENT", 3, CLIENT_TIME_NS)
        .bool(43, true)
        .raw_fields(&soh("37=O-1|11=C|17=E|150=0|39=0|55=X|54=1|151=1|14=0|6=0|"))
        .finish(&mut out)
        .unwrap();
    let text = show(&out);
    assert!(
        text.contains("|35=8|34=3|43=Y|49=VENUE|52=20240102-09:30:00.123|56=CLIENT|37=O-1|11=C|17=E|"),
        "{text}"
    );
    assert!(matches!(Framer::default().next_frame(&out), FrameResult::Complete { len } if len == out.len()));
    let mut parser = Parser::new();
    let msg = parser.parse(&out).unwrap();
    assert!(matches!(Validator::new(Dictionary::fix44()).validate(&msg), Ok(Verdict::Valid(_))));

    for bad in [&b"37=x"[..], b"=x\x01", b"035=x\x01", b"10=000\x01", b"35=D\x01", b"a=1\x01"] {
        assert_eq!(
            enc.start(b"8").raw_fields(bad).finish(&mut out),
            Err(EncodeError::MalformedRawFields),
            "{}",
            show(bad)
        );
    }
}

#[test]
fn begin_string_can_be_set() {
    let mut out = Vec::new();
    let mut enc = encoder();
    assert_eq!(enc.set_begin_string(""), Err(EncodeError::InvalidBeginString));
    assert_eq!(enc.set_begin_string("FIX\x01"), Err(EncodeError::InvalidBeginString));
    enc.set_begin_string("FIX.4.2").unwrap();
    enc.start(b"0").header("A", "B", 1, 0).finish(&mut out).unwrap();
    assert!(out.starts_with(b"8=FIX.4.2\x019="));
    assert!(matches!(Framer::default().next_frame(&out), FrameResult::Complete { len } if len == out.len()));
}
