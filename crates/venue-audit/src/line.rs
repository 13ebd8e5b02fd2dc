//! The chain fields of a line: how its hash is computed and how a line read
//! back is checked on its own (without its neighbours).

use sha2::{Digest, Sha256};

use crate::LineProblem;

/// `prev` of the first line: no line came before it.
pub(crate) const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What separates the hashed part of a line from its hash.
pub(crate) const HASH_KEY: &str = ",\"hash\":\"";

/// Bytes after the hashed part: `,"hash":"` + 64 hex digits + `"}`.
const SUFFIX_LEN: usize = HASH_KEY.len() + 64 + 2;

/// What a line tells its neighbours.
pub(crate) struct CheckedLine {
    pub(crate) seq: u64,
    pub(crate) prev: String,
    pub(crate) hash: String,
}

/// Lowercase hex SHA-256 of `bytes`: the one spelling a hash has in a line.
pub(crate) fn hash_hex(bytes: &[u8]) -> String {
    let digest: [u8; 32] = Sha256::digest(bytes).into();
    let mut out = String::with_capacity(64);
    for byte in digest {
        out.push(hex_digit(byte >> 4));
        out.push(hex_digit(byte & 0x0f));
    }
    out
}

fn hex_digit(nibble: u8) -> char {
    char::from(if nibble < 10 { b'0' + nibble } else { b'a' + nibble - 10 })
}

/// Exactly 64 lowercase hex digits. Uppercase is refused: a hash has one
/// spelling, otherwise changing the case of a digit would alter the file
/// without being detected.
fn is_hash_hex(text: &str) -> bool {
    text.len() == 64 && text.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Checks one line (without its newline) on its own: valid JSON with every
/// field of the format, the hash last and spelled canonically, and the hash
/// equal to the SHA-256 of the bytes before it.
pub(crate) fn check_line(line: &[u8]) -> Result<CheckedLine, LineProblem> {
    let value: serde_json::Value = serde_json::from_slice(line).map_err(|_| LineProblem::NotJson)?;
    let object = value.as_object().ok_or(LineProblem::NotJson)?;
    let number =
        |key: &'static str| object.get(key).and_then(|v| v.as_u64()).ok_or(LineProblem::BadField(key));
    let hash_field = |key: &'static str| {
        object
            .get(key)
            .and_then(|v| v.as_str())
            .filter(|text| is_hash_hex(text))
            .ok_or(LineProblem::BadField(key))
    };
    let seq = number("seq")?;
    number("time")?;
    number("origin")?;
    object.get("command").filter(|v| v.is_object()).ok_or(LineProblem::BadField("command"))?;
    object.get("outcome").filter(|v| v.is_array()).ok_or(LineProblem::BadField("outcome"))?;
    let prev = hash_field("prev")?;
    let hash = hash_field("hash")?;

    // The hash must be the line's last field, written exactly as the writer
    // writes it: the bytes after the hashed part are not covered by the hash,
    // so they are allowed no freedom at all.
    let hashed_len = line.len().checked_sub(SUFFIX_LEN).ok_or(LineProblem::BadField("hash"))?;
    let (hashed, suffix) = line.split_at(hashed_len);
    let canonical = suffix.strip_prefix(HASH_KEY.as_bytes()).and_then(|rest| rest.strip_suffix(b"\"}"));
    if canonical != Some(hash.as_bytes()) {
        return Err(LineProblem::BadField("hash"));
    }
    if hash_hex(hashed) != hash {
        return Err(LineProblem::HashMismatch);
    }
    Ok(CheckedLine { seq, prev: prev.to_owned(), hash: hash.to_owned() })
}
