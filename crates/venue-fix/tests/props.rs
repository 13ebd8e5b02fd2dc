//! Properties: what the encoder writes parses back to the same fields in the
//! promised order, and no byte sequence makes the framer, parser or validator
//! panic or stall.

mod common;

use common::{NEW_ORDER, message};
use proptest::prelude::*;
use venue_fix::{Dictionary, Encoder, FrameResult, Framer, Parser, Validator, Verdict};

#[derive(Clone, Debug)]
struct Party {
    id: String,
    source: u8,
    role: u64,
}

#[derive(Clone, Debug)]
enum Op {
    Str(u32, String),
    Char(u32, u8),
    Scaled(u32, i64, u8),
    Time(u32, u64),
    Parties(Vec<Party>),
}

fn party() -> impl Strategy<Value = Party> {
    ("[A-Za-z0-9]{1,10}", prop::sample::select(vec![b'B', b'C', b'D']), 1u64..40)
        .prop_map(|(id, source, role)| Party { id, source, role })
}

/// A NewOrderSingle as a shuffled list of encoder calls.
fn order_ops() -> impl Strategy<Value = Vec<Op>> {
    (
        "[ -~]{1,20}",
        prop::sample::select(vec![b'1', b'2']),
        prop::sample::select(vec![b'1', b'2']),
        (0i64..1_000_000_000_000, 0u8..8),
        prop::option::of((1i64..10_000_000_000, 0u8..8)),
        0u64..16_725_225_600_000_000_000, // up to 2500-01-01
        prop::option::of("[ -~]{1,40}"),
        prop::collection::vec(party(), 0..4),
        "[A-Z]{3}-[A-Z]{3}",
    )
        .prop_map(|(cl_ord_id, side, ord_type, qty, price, time, text, parties, symbol)| {
            let mut ops = vec![
                Op::Str(11, cl_ord_id),
                Op::Char(54, side),
                Op::Char(40, ord_type),
                Op::Scaled(38, qty.0, qty.1),
                Op::Time(60, time),
                Op::Str(55, symbol),
            ];
            if let Some((value, decimals)) = price {
                ops.push(Op::Scaled(44, value, decimals));
            }
            if let Some(text) = text {
                ops.push(Op::Str(58, text));
            }
            if !parties.is_empty() {
                ops.push(Op::Parties(parties));
            }
            ops
        })
        .prop_shuffle()
}

fn apply(enc: &mut Encoder, op: &Op) {
    match op {
        Op::Str(tag, value) => {
            enc.str(*tag, value);
        }
        Op::Char(tag, value) => {
            enc.char(*tag, *value);
        }
        Op::Scaled(tag, value, decimals) => {
            enc.scaled(*tag, *value, *decimals);
        }
        Op::Time(tag, ns) => {
            enc.timestamp(*tag, *ns);
        }
        Op::Parties(parties) => {
            enc.begin_group(453);
            for p in parties {
                // Members deliberately given out of dictionary order.
                enc.entry().uint(452, p.role).char(447, p.source).str(448, &p.id);
            }
            enc.end_group();
        }
    }
}

fn scaled_text(value: i64, decimals: u8) -> String {
    let digits = value.unsigned_abs().to_string();
    let decimals = usize::from(decimals);
    let sign = if value < 0 { "-" } else { "" };
    if decimals == 0 {
        format!("{sign}{digits}")
    } else if digits.len() > decimals {
        let (i, f) = digits.split_at(digits.len() - decimals);
        format!("{sign}{i}.{f}")
    } else {
        format!("{sign}0.{}{digits}", "0".repeat(decimals - digits.len()))
    }
}

/// Feeds a buffer through framer, parser and validator the way a connection
/// would, checking that every step makes progress within bounds.
fn drain(buf: &[u8], framer: Framer) -> usize {
    let mut parser = Parser::new();
    let mut validator = Validator::new(Dictionary::fix44());
    let mut pos = 0;
    let mut frames = 0;
    let mut steps = 0;
    while pos < buf.len() {
        steps += 1;
        assert!(steps <= buf.len() + 1, "the framer loops");
        let rest = &buf[pos..];
        match framer.next_frame(rest) {
            FrameResult::Complete { len } => {
                assert!(len >= 1 && len <= rest.len());
                let msg = parser.parse(&rest[..len]).expect("a frame always parses");
                let _ = (msg.msg_type(), msg.seq_num(), msg.begin_string());
                let _ = validator.validate(&msg);
                frames += 1;
                pos += len;
            }
            FrameResult::Garbled { skip, .. } => {
                assert!(skip >= 1 && skip <= rest.len(), "skip {skip} of {}", rest.len());
                pos += skip;
            }
            FrameResult::Incomplete => {
                assert!(rest.len() < framer.max_message_len(), "incomplete with a full buffer");
                break;
            }
        }
    }
    frames
}

fn valid_messages() -> Vec<Vec<u8>> {
    vec![
        message("D", NEW_ORDER),
        message("0", ""),
        message("A", "95=3|96=a|b|98=0|108=30|"),
        message("V", "146=2|55=BTC-USD|386=1|336=main|55=ETH-USD|262=md-1|263=1|264=0|267=2|269=0|269=1|"),
        message("D", &format!("453=2|448=T|447=D|452=11|802=1|523=d|803=4|448=F|452=1|{NEW_ORDER}")),
    ]
}

#[derive(Clone, Debug)]
enum Mutation {
    Set(usize, u8),
    Insert(usize, Vec<u8>),
    Remove(usize, usize),
    Truncate(usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Set(i, b)),
        (any::<usize>(), prop::collection::vec(any::<u8>(), 1..8)).prop_map(|(i, v)| Mutation::Insert(i, v)),
        (any::<usize>(), 1usize..16).prop_map(|(i, n)| Mutation::Remove(i, n)),
        any::<usize>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(buf: &mut Vec<u8>, m: &Mutation) {
    if buf.is_empty() {
        return;
    }
    match m {
        Mutation::Set(i, b) => {
            let i = i % buf.len();
            buf[i] = *b;
        }
        Mutation::Insert(i, bytes) => {
            let i = i % (buf.len() + 1);
            buf.splice(i..i, bytes.iter().copied());
        }
        Mutation::Remove(i, n) => {
            let i = i % buf.len();
            let end = (i + n).min(buf.len());
            buf.drain(i..end);
        }
        Mutation::Truncate(n) => buf.truncate(n % (buf.len() + 1)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    #[test]
    fn encode_then_parse_gives_back_the_same_fields_in_wire_order(
        ops in order_ops(),
        sender in "[A-Z]{1,8}",
        target in "[A-Z]{1,8}",
        seq in 1u64..u64::MAX / 2,
        sending_time in 0u64..16_725_225_600_000_000_000,
    ) {
        let dict = Dictionary::fix44();
        let mut enc = Encoder::new(dict);
        enc.start(b"D").header(&sender, &target, seq, sending_time);
        for op in &ops {
            apply(&mut enc, op);
        }
        let mut out = Vec::new();
        enc.finish(&mut out).unwrap();

        prop_assert_eq!(Framer::default().next_frame(&out), FrameResult::Complete { len: out.len() });
        let mut parser = Parser::new();
        let msg = parser.parse(&out).unwrap();
        let mut validator = Validator::new(dict);
        prop_assert!(matches!(validator.validate(&msg), Ok(Verdict::Valid(spec)) if spec.name == "NewOrderSingle"));

        prop_assert_eq!(msg.get_str(49), Ok(sender.as_str()));
        prop_assert_eq!(msg.get_str(56), Ok(target.as_str()));
        prop_assert_eq!(msg.seq_num(), Some(seq));
        prop_assert_eq!(msg.get_timestamp_ns(52), Ok(sending_time / 1_000_000 * 1_000_000));
        for op in &ops {
            match op {
                Op::Str(tag, value) => prop_assert_eq!(msg.get_str(*tag), Ok(value.as_str())),
                Op::Char(tag, value) => prop_assert_eq!(msg.get_char(*tag), Ok(*value)),
                Op::Scaled(tag, value, decimals) => {
                    let text = scaled_text(*value, *decimals);
                    prop_assert_eq!(msg.get_decimal(*tag), Ok(text.as_str()));
                }
                Op::Time(tag, ns) => prop_assert_eq!(msg.get_timestamp_ns(*tag), Ok(ns / 1_000_000 * 1_000_000)),
                Op::Parties(parties) => {
                    let group = msg.group(dict.group(b"D", 453).unwrap()).unwrap();
                    prop_assert_eq!(group.declared_count(), Some(parties.len() as u64));
                    let read: Vec<(String, u8, u64)> = group
                        .entries()
                        .map(|e| (e.get_str(448).unwrap().to_owned(), e.get_char(447).unwrap(), e.get_u64(452).unwrap()))
                        .collect();
                    let given: Vec<(String, u8, u64)> = parties.iter().map(|p| (p.id.clone(), p.source, p.role)).collect();
                    prop_assert_eq!(read, given);
                }
            }
        }

        // Wire order: 8, 9, 35, header ascending, body ascending (groups as blocks), 10.
        let tags: Vec<u32> = msg.iter().map(|f| f.tag).collect();
        prop_assert_eq!(&tags[..3], &[8, 9, 35]);
        prop_assert_eq!(tags.last(), Some(&10));
        let header = &tags[3..7];
        prop_assert_eq!(header, &[34, 49, 52, 56]);
        let top_level: Vec<u32> = tags[7..tags.len() - 1]
            .iter()
            .copied()
            .filter(|t| ![448, 447, 452].contains(t))
            .collect();
        prop_assert!(top_level.windows(2).all(|w| w[0] < w[1]), "body not ascending: {:?}", tags);
    }

    #[test]
    fn arbitrary_bytes_never_panic_or_stall(bytes in prop::collection::vec(any::<u8>(), 0..600), max in 0usize..400) {
        drain(&bytes, Framer::default());
        drain(&bytes, Framer::new(max));
    }

    #[test]
    fn mutated_truncated_and_concatenated_messages_never_panic_or_stall(
        picks in prop::collection::vec(0usize..5, 1..6),
        mutations in prop::collection::vec(mutation(), 0..6),
        max in 64usize..600,
    ) {
        let messages = valid_messages();
        let mut buf: Vec<u8> = picks.iter().flat_map(|&i| messages[i].clone()).collect();
        let intact = drain(&buf, Framer::default());
        prop_assert_eq!(intact, picks.len());
        for m in &mutations {
            mutate(&mut buf, m);
        }
        drain(&buf, Framer::default());
        drain(&buf, Framer::new(max));
    }

    #[test]
    fn garbage_between_messages_loses_no_message(
        picks in prop::collection::vec(0usize..5, 1..6),
        garbage in prop::collection::vec(prop::collection::vec(any::<u8>().prop_filter("no '8'", |b| *b != b'8'), 0..40), 6),
    ) {
        let messages = valid_messages();
        let mut buf = Vec::new();
        for (n, &i) in picks.iter().enumerate() {
            buf.extend_from_slice(&garbage[n]);
            buf.extend_from_slice(&messages[i]);
        }
        prop_assert_eq!(drain(&buf, Framer::default()), picks.len());
    }
}
