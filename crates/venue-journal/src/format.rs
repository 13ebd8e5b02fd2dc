//! The on-disk layout of format version 1, byte by byte, in one place.
//!
//! Everything that turns bytes into headers and back lives here so that the
//! writer, the recovery scan and the reader cannot disagree about the format.
//! The layout is documented for humans in the crate docs; this module is its
//! executable form. All integers are little-endian.

use crate::error::CorruptReason;

/// The eight bytes every segment file starts with.
pub const MAGIC: [u8; 8] = *b"VENUEJNL";

/// The format version this crate writes and the only one it reads.
pub const FORMAT_VERSION: u16 = 1;

/// Length of the header at the start of every segment file.
pub const SEGMENT_HEADER_LEN: usize = 32;

/// Length of the fixed part of every record, before its payload.
pub const RECORD_HEADER_LEN: usize = 28;

/// The largest payload a record may carry (1 MiB). A length field above this
/// is treated as corruption, never as an instruction to read that much.
pub const MAX_PAYLOAD_LEN: u32 = 1 << 20;

/// File name suffix of segment files.
pub const SEGMENT_SUFFIX: &str = ".journal";

/// Number of decimal digits of the sequence number in a segment file name.
const NAME_DIGITS: usize = 20;

/// The file name of the segment whose first record has sequence number
/// `first_seq`: twenty zero-padded decimal digits and `.journal`, so that
/// names sort in sequence order.
pub fn segment_file_name(first_seq: u64) -> String {
    format!("{first_seq:020}{SEGMENT_SUFFIX}")
}

/// The first sequence number encoded in a segment file name, or `None` when
/// `name` is not the name of a segment file.
pub fn parse_segment_file_name(name: &str) -> Option<u64> {
    let digits = name.strip_suffix(SEGMENT_SUFFIX)?;
    if digits.len() != NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

fn u16_at(bytes: &[u8], at: usize) -> u16 {
    let mut a = [0u8; 2];
    a.copy_from_slice(&bytes[at..at + 2]);
    u16::from_le_bytes(a)
}

fn u32_at(bytes: &[u8], at: usize) -> u32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&bytes[at..at + 4]);
    u32::from_le_bytes(a)
}

fn u64_at(bytes: &[u8], at: usize) -> u64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&bytes[at..at + 8]);
    u64::from_le_bytes(a)
}

/// The segment header for a segment starting at `first_seq`.
pub(crate) fn encode_segment_header(first_seq: u64) -> [u8; SEGMENT_HEADER_LEN] {
    let mut h = [0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(&MAGIC);
    h[8..10].copy_from_slice(&FORMAT_VERSION.to_le_bytes());
    // 10..12 reserved u16, 12..16 reserved u32: zero.
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    // 24..28 reserved u32: zero.
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

/// Checks a segment header and returns the first sequence number it names.
///
/// The CRC is checked first: a header whose CRC fails may simply be torn,
/// while one with a good CRC and a wrong magic, version or reserved field was
/// written deliberately by something else and must not be touched.
pub(crate) fn decode_segment_header(h: &[u8; SEGMENT_HEADER_LEN]) -> Result<u64, CorruptReason> {
    let stored = u32_at(h, 28);
    let computed = crc32c::crc32c(&h[..28]);
    if stored != computed {
        return Err(CorruptReason::BadSegmentHeaderCrc { stored, computed });
    }
    if h[0..8] != MAGIC {
        return Err(CorruptReason::BadMagic);
    }
    let version = u16_at(h, 8);
    if version != FORMAT_VERSION {
        return Err(CorruptReason::UnsupportedVersion { version });
    }
    if u16_at(h, 10) != 0 || u32_at(h, 12) != 0 || u32_at(h, 24) != 0 {
        return Err(CorruptReason::SegmentHeaderReserved);
    }
    Ok(u64_at(h, 16))
}

/// The fixed part of a record, decoded but not yet checked.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RecordHeader {
    pub len: u32,
    pub crc: u32,
    pub seq: u64,
    pub time: u64,
    pub kind: u16,
    pub reserved: u16,
}

impl RecordHeader {
    pub(crate) fn decode(h: &[u8; RECORD_HEADER_LEN]) -> RecordHeader {
        RecordHeader {
            len: u32_at(h, 0),
            crc: u32_at(h, 4),
            seq: u64_at(h, 8),
            time: u64_at(h, 16),
            kind: u16_at(h, 24),
            reserved: u16_at(h, 26),
        }
    }
}

/// The CRC32C of a record: over every byte of it except the CRC field.
pub(crate) fn record_crc(header: &[u8; RECORD_HEADER_LEN], payload: &[u8]) -> u32 {
    let crc = crc32c::crc32c(&header[0..4]);
    let crc = crc32c::crc32c_append(crc, &header[8..]);
    crc32c::crc32c_append(crc, payload)
}

/// Appends one encoded record to `buf`. The caller has checked that the
/// payload is at most [`MAX_PAYLOAD_LEN`] bytes.
pub(crate) fn encode_record(buf: &mut Vec<u8>, seq: u64, time: u64, kind: u16, payload: &[u8]) {
    let len = payload.len() as u32;
    let mut h = [0u8; RECORD_HEADER_LEN];
    h[0..4].copy_from_slice(&len.to_le_bytes());
    h[8..16].copy_from_slice(&seq.to_le_bytes());
    h[16..24].copy_from_slice(&time.to_le_bytes());
    h[24..26].copy_from_slice(&kind.to_le_bytes());
    // 26..28 reserved: zero.
    let crc = record_crc(&h, payload);
    h[4..8].copy_from_slice(&crc.to_le_bytes());
    buf.extend_from_slice(&h);
    buf.extend_from_slice(payload);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segment_names_sort_in_sequence_order_and_round_trip() {
        assert_eq!(segment_file_name(1), "00000000000000000001.journal");
        assert_eq!(parse_segment_file_name(&segment_file_name(u64::MAX)), Some(u64::MAX));
        assert!(segment_file_name(9) < segment_file_name(10));
        assert_eq!(parse_segment_file_name("99999999999999999999.journal"), None);
        assert_eq!(parse_segment_file_name("0000000000000000001.journal"), None);
        assert_eq!(parse_segment_file_name("0000000000000000000a.journal"), None);
        assert_eq!(parse_segment_file_name("00000000000000000001.journal.tmp"), None);
        assert_eq!(parse_segment_file_name("LOCK"), None);
    }

    #[test]
    fn segment_header_round_trips_and_rejects_damage() {
        let h = encode_segment_header(42);
        assert_eq!(decode_segment_header(&h), Ok(42));
        for byte in 0..SEGMENT_HEADER_LEN {
            let mut bad = h;
            bad[byte] ^= 0x10;
            assert!(decode_segment_header(&bad).is_err(), "byte {byte}");
        }
    }

    #[test]
    fn record_layout_is_little_endian_and_crc_covers_all_but_itself() {
        let mut buf = Vec::new();
        encode_record(&mut buf, 0x0102, 0x0304, 0x0506, b"xy");
        assert_eq!(buf.len(), RECORD_HEADER_LEN + 2);
        assert_eq!(&buf[0..4], &[2, 0, 0, 0]);
        assert_eq!(&buf[8..16], &[2, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&buf[16..24], &[4, 3, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&buf[24..28], &[6, 5, 0, 0]);
        assert_eq!(&buf[28..], b"xy");
        let mut covered = buf[0..4].to_vec();
        covered.extend_from_slice(&buf[8..]);
        assert_eq!(u32_at(&buf, 4), crc32c::crc32c(&covered));
    }
}
