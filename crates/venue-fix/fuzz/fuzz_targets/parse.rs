//! Frames, parses and validates arbitrary bytes the way a FIX connection
//! would: no input may panic, and every step must make progress.

#![no_main]

use libfuzzer_sys::fuzz_target;
use venue_fix::{Dictionary, FrameResult, Framer, Parser, Validator};

fuzz_target!(|data: &[u8]| {
    // The first byte picks a size limit so that the TooLarge path is reached.
    let (limit, stream) = match data.split_first() {
        Some((&first, rest)) => (usize::from(first) * 16, rest),
        None => (0, data),
    };
    let framer = Framer::new(limit);
    let mut parser = Parser::new();
    let mut validator = Validator::new(Dictionary::fix44());
    let mut pos = 0;
    while pos < stream.len() {
        let rest = &stream[pos..];
        match framer.next_frame(rest) {
            FrameResult::Complete { len } => {
                assert!(len >= 1 && len <= rest.len());
                let msg = parser.parse(&rest[..len]).expect("a frame always parses");
                let _ = (msg.begin_string(), msg.msg_type(), msg.seq_num());
                for field in msg.iter() {
                    let _ = (field.as_i64(), field.as_decimal(), field.as_timestamp_ns());
                }
                let _ = validator.validate(&msg);
                pos += len;
            }
            FrameResult::Garbled { skip, .. } => {
                assert!(skip >= 1 && skip <= rest.len());
                pos += skip;
            }
            FrameResult::Incomplete => {
                assert!(rest.len() < framer.max_message_len());
                break;
            }
        }
    }
    // Parsing and validating raw bytes directly (without the framer) must be
    // just as safe.
    if let Ok(msg) = parser.parse(stream) {
        let _ = validator.validate(&msg);
    }
});
