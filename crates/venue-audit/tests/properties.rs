//! No single-byte change to an audit file goes unnoticed.
//!
//! The claim is about every byte, not only the hashed ones: the newline that
//! ends each line, the `,"hash":"…"}` suffix the hash cannot cover, and the
//! end of the file. Lines cut from the end are *not* single-byte changes and
//! are covered by `verify_against` in `audit.rs`; cutting only the final
//! newline is a single-byte change and is reported as a torn last line.

mod common;

use std::path::Path;
use std::sync::OnceLock;

use common::{TempFile, session, write_log};
use proptest::prelude::*;
use venue_audit::{MaskPolicy, VerifyError, verify};

fn cases() -> u32 {
    std::env::var("PROPTEST_CASES").ok().and_then(|v| v.parse().ok()).unwrap_or(512)
}

/// The bytes of an intact log of the whole session, written once.
fn clean_log() -> &'static [u8] {
    static LOG: OnceLock<Vec<u8>> = OnceLock::new();
    LOG.get_or_init(|| {
        let file = TempFile::new("props-clean");
        write_log(file.path(), &session(), MaskPolicy::default());
        file.bytes()
    })
}

#[derive(Clone, Copy, Debug)]
enum Change {
    /// Byte at `at` replaced by `old ^ mask` (`mask != 0`, so it changes).
    Replace { at: usize, mask: u8 },
    /// Byte at `at` removed.
    Delete { at: usize },
    /// `byte` inserted before position `at` (`at == len` appends).
    Insert { at: usize, byte: u8 },
}

impl Change {
    fn apply(self, clean: &[u8]) -> Vec<u8> {
        let mut bytes = clean.to_vec();
        match self {
            Change::Replace { at, mask } => bytes[at] ^= mask,
            Change::Delete { at } => {
                bytes.remove(at);
            }
            Change::Insert { at, byte } => bytes.insert(at, byte),
        }
        bytes
    }

    fn at(self) -> usize {
        match self {
            Change::Replace { at, .. } | Change::Delete { at } | Change::Insert { at, .. } => at,
        }
    }
}

/// Verifies `bytes` and checks the failure names the changed line: the line
/// holding position `at` of the clean file, or the one after it when the
/// change added a line boundary (a newline inserted before a newline leaves
/// the line intact and an empty line after it).
fn assert_detected(path: &Path, clean: &[u8], change: Change) -> Result<(), TestCaseError> {
    std::fs::write(path, change.apply(clean)).expect("write");
    let line_of_change = 1 + clean[..change.at()].iter().filter(|&&b| b == b'\n').count() as u64;
    match verify(path) {
        Err(VerifyError::Line { line, .. }) => {
            prop_assert!(
                line == line_of_change || line == line_of_change + 1,
                "{change:?} on line {line_of_change} reported on line {line}"
            );
            Ok(())
        }
        other => Err(TestCaseError::fail(format!("{change:?} not detected: {other:?}"))),
    }
}

/// Positions weighted towards the bytes the hash does not cover: the end of
/// each line (its hash suffix and newline) and the end of the file.
fn position(len: usize) -> impl Strategy<Value = usize> {
    let newlines: Vec<usize> =
        clean_log().iter().enumerate().filter(|&(_, &b)| b == b'\n').map(|(i, _)| i).collect();
    prop_oneof![
        0..len,
        (proptest::sample::select(newlines), 0usize..80)
            .prop_map(|(newline, back)| newline.saturating_sub(back)),
        (len.saturating_sub(80)..len),
    ]
}

/// Any byte, weighted towards those JSON lets through without changing a
/// value: whitespace around tokens is exactly what a hash over a prefix of
/// the line would miss after its end.
fn inserted_byte() -> impl Strategy<Value = u8> {
    prop_oneof![any::<u8>(), proptest::sample::select(b" \t\r\n".to_vec())]
}

fn change() -> impl Strategy<Value = Change> {
    let len = clean_log().len();
    prop_oneof![
        (position(len), 1u8..=255).prop_map(|(at, mask)| Change::Replace { at, mask }),
        position(len).prop_map(|at| Change::Delete { at }),
        (position(len + 1).prop_map(move |at| at.min(len)), inserted_byte())
            .prop_map(|(at, byte)| Change::Insert { at, byte }),
        // Insert at the very end, after the last newline.
        inserted_byte().prop_map(move |byte| Change::Insert { at: len, byte }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), ..ProptestConfig::default() })]

    #[test]
    fn any_single_byte_change_is_detected(change in change()) {
        let file = TempFile::new("props");
        assert_detected(file.path(), clean_log(), change)?;
    }
}

/// What JSON allows between tokens: inserting it changes no value, so only
/// the hash over the exact bytes (and the canonical suffix) catches it.
const WHITESPACE: [u8; 4] = [b' ', b'\t', b'\r', b'\n'];

/// Exhaustively, on a short log: every position, several replacements each
/// (a bit flip, a case flip, a newline, a space, a quote), every deletion,
/// and each whitespace byte inserted everywhere.
#[test]
fn every_single_byte_change_of_a_short_log_is_detected() {
    let entries = session();
    let short = TempFile::new("props-short");
    write_log(short.path(), &entries[7..10], MaskPolicy::default());
    let clean = short.bytes();
    let file = TempFile::new("props-exhaustive");
    let mut checked = 0;
    for at in 0..clean.len() {
        for target in [clean[at] ^ 0x01, clean[at] ^ 0x20, b'\n', b' ', b'"'] {
            if target != clean[at] {
                let change = Change::Replace { at, mask: clean[at] ^ target };
                assert_detected(file.path(), &clean, change).expect("detected");
                checked += 1;
            }
        }
        assert_detected(file.path(), &clean, Change::Delete { at }).expect("detected");
        checked += 1;
        for byte in WHITESPACE {
            assert_detected(file.path(), &clean, Change::Insert { at, byte }).expect("detected");
            checked += 1;
        }
    }
    for byte in WHITESPACE {
        assert_detected(file.path(), &clean, Change::Insert { at: clean.len(), byte }).expect("detected");
    }
    assert!(checked > 8 * clean.len(), "{checked}");
}
