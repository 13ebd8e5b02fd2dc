//! Recovery as a specification: a torn tail in the last segment is cut off
//! at the last good record, wherever the crash hit; damage anywhere else is a
//! hard error that modifies nothing; `verify` and readers never modify files.

mod common;

use std::path::{Path, PathBuf};

use common::{Rng, TempDir, fast, read_all, record, segment_lens, segment_paths};
use venue_journal::{
    CorruptReason, Corruption, Journal, JournalError, JournalOptions, RECORD_HEADER_LEN, Record,
    SEGMENT_HEADER_LEN, read, verify,
};

/// Segments of 3 records of 48 bytes each (32 + 3 × 48 ≥ 150).
const SEGMENT_BYTES: u64 = 150;
const RECORD_LEN: u64 = (RECORD_HEADER_LEN + 20) as u64;

fn rec(seq: u64) -> Record {
    let mut r = record(seq, 0);
    r.payload = Rng::new(seq).bytes(20);
    r
}

fn options() -> JournalOptions {
    JournalOptions { first_seq: 7, ..fast(SEGMENT_BYTES) }
}

/// A closed journal holding records `7..7 + n`.
fn build(dir: &Path, n: u64) -> Vec<Record> {
    let records: Vec<Record> = (7..7 + n).map(rec).collect();
    let (mut journal, _) = Journal::open(dir, options()).expect("open");
    for r in &records {
        journal.append(r.seq, r.time, r.kind, &r.payload).expect("append");
    }
    journal.commit().expect("commit");
    records
}

/// The bytes of every segment file, to put back after each case.
struct Saved(Vec<(PathBuf, Vec<u8>)>);

impl Saved {
    fn take(dir: &Path) -> Saved {
        Saved(segment_paths(dir).into_iter().map(|p| (p.clone(), std::fs::read(&p).unwrap())).collect())
    }

    fn restore(&self, dir: &Path) {
        for path in segment_paths(dir) {
            std::fs::remove_file(path).unwrap();
        }
        for (path, bytes) in &self.0 {
            std::fs::write(path, bytes).unwrap();
        }
    }

    fn last(&self) -> (&Path, &[u8]) {
        let (path, bytes) = self.0.last().unwrap();
        (path, bytes)
    }
}

/// Opens the journal and checks that it kept exactly `kept` and discarded
/// `truncated` bytes; then that appending continues at the right seq and
/// survives a reopen.
fn assert_recovers(dir: &Path, kept: &[Record], truncated: u64, case: &str) {
    let (mut journal, report) = Journal::open(dir, options()).unwrap_or_else(|e| panic!("{case}: {e}"));
    assert_eq!(report.truncated_bytes, truncated, "{case}");
    assert_eq!(report.last_seq, kept.last().map(|r| r.seq), "{case}");
    assert_eq!(report.records, kept.len() as u64, "{case}");
    let next = kept.last().map_or(7, |r| r.seq + 1);
    assert_eq!((report.next_seq, journal.next_seq()), (next, next), "{case}");
    let extra = Record { seq: next, time: 1, kind: 9, payload: b"after recovery".to_vec() };
    journal.append(extra.seq, extra.time, extra.kind, &extra.payload).expect("append");
    journal.commit().expect("commit");
    drop(journal);

    let (_journal, report) = Journal::open(dir, options()).expect("reopen");
    assert_eq!((report.truncated_bytes, report.torn, report.last_seq), (0, None, Some(next)), "{case}");
    let mut expected = kept.to_vec();
    expected.push(extra);
    assert_eq!(read_all(dir, 0), (expected, None), "{case}");
}

#[test]
fn a_last_record_cut_at_any_byte_is_discarded() {
    let dir = TempDir::new("cut-record");
    let records = build(dir.path(), 5);
    assert_eq!(segment_paths(dir.path()).len(), 2);
    let saved = Saved::take(dir.path());
    let (path, bytes) = saved.last();
    let end = bytes.len() as u64;
    let start = end - RECORD_LEN;
    for cut in start..=end {
        saved.restore(dir.path());
        std::fs::write(path, &bytes[..cut as usize]).unwrap();
        let kept = if cut == end { &records[..] } else { &records[..4] };
        let (_, torn) = read_all(dir.path(), 0);
        assert_eq!(torn.is_some(), cut != start && cut != end, "cut {cut}");
        assert_recovers(dir.path(), kept, if cut == end { 0 } else { cut - start }, &format!("cut {cut}"));
    }
}

#[test]
fn a_last_segment_header_cut_at_any_byte_is_rewritten() {
    for n in [3, 6] {
        // n = 3: the only segment; n = 6: the second of two.
        let dir = TempDir::new("cut-header");
        let records = build(dir.path(), n);
        let saved = Saved::take(dir.path());
        let (path, bytes) = saved.last();
        for cut in 0..SEGMENT_HEADER_LEN {
            saved.restore(dir.path());
            std::fs::write(path, &bytes[..cut]).unwrap();
            let report = verify(dir.path()).expect("verify");
            let torn = report.torn.expect("torn");
            assert_eq!((torn.offset, torn.bytes), (0, cut as u64));
            assert_eq!(torn.reason, CorruptReason::ShortSegmentHeader { len: cut as u64 });
            assert_recovers(dir.path(), &records[..n as usize - 3], cut as u64, &format!("n {n} cut {cut}"));
            assert_eq!(std::fs::read(path).unwrap()[..SEGMENT_HEADER_LEN], bytes[..SEGMENT_HEADER_LEN]);
        }
    }
}

#[test]
fn any_bit_flipped_in_the_last_record_discards_it() {
    let dir = TempDir::new("flip-record");
    let records = build(dir.path(), 5);
    let saved = Saved::take(dir.path());
    let (path, bytes) = saved.last();
    let start = bytes.len() - RECORD_LEN as usize;
    for byte in start..bytes.len() {
        for bit in 0..8 {
            saved.restore(dir.path());
            let mut damaged = bytes.to_vec();
            damaged[byte] ^= 1 << bit;
            std::fs::write(path, &damaged).unwrap();
            assert_recovers(dir.path(), &records[..4], RECORD_LEN, &format!("byte {byte} bit {bit}"));
        }
    }
}

/// Garbage is discarded; zeros are not garbage but space allocated ahead
/// (see `preallocation.rs`), kept, and written into next.
#[test]
fn garbage_after_the_last_record_is_discarded() {
    let dir = TempDir::new("garbage");
    let records = build(dir.path(), 5);
    let saved = Saved::take(dir.path());
    let (path, bytes) = saved.last();
    // A valid record of an earlier seq: good CRC, wrong seq.
    let replayed = bytes[bytes.len() - RECORD_LEN as usize..].to_vec();
    let mut rng = Rng::new(5);
    let mut tails: Vec<(String, Vec<u8>)> = Vec::new();
    for len in [1, 4, 27, 28, 29, 47, 48, 100, 4096] {
        tails.push((format!("{len} zeros"), vec![0; len]));
        tails.push((format!("{len} random"), rng.bytes(len)));
    }
    tails.push(("replayed record".into(), replayed));
    for (name, tail) in tails {
        saved.restore(dir.path());
        let mut damaged = bytes.to_vec();
        damaged.extend_from_slice(&tail);
        std::fs::write(path, &damaged).unwrap();
        let zeros = tail.iter().all(|&b| b == 0);
        assert_recovers(dir.path(), &records, if zeros { 0 } else { tail.len() as u64 }, &name);
    }
}

#[test]
fn the_reason_for_a_torn_tail_is_reported() {
    let dir = TempDir::new("reasons");
    build(dir.path(), 5);
    let saved = Saved::take(dir.path());
    let (path, bytes) = saved.last();
    let start = bytes.len() - RECORD_LEN as usize;
    let torn_reason = |damaged: Vec<u8>| {
        saved.restore(dir.path());
        std::fs::write(path, damaged).unwrap();
        verify(dir.path()).unwrap().torn.unwrap().reason
    };
    let mut huge = bytes.to_vec();
    huge[start + 3] = 0x80;
    assert_eq!(torn_reason(huge), CorruptReason::LengthTooLarge { len: 0x8000_0014 });
    assert_eq!(torn_reason(bytes[..start + 10].to_vec()), CorruptReason::ShortRecordHeader { available: 10 });
    assert_eq!(
        torn_reason(bytes[..start + 30].to_vec()),
        CorruptReason::ShortPayload { len: 20, available: 2 }
    );
    let mut flipped = bytes.to_vec();
    flipped[start + 40] ^= 1;
    assert!(matches!(torn_reason(flipped), CorruptReason::BadRecordCrc { .. }));
    let mut replayed = bytes.to_vec();
    replayed.extend_from_slice(&bytes[start..]);
    assert_eq!(torn_reason(replayed), CorruptReason::UnexpectedSeq { expected: 12, found: 11 });
    // A well-formed record with a valid CRC but a reserved field set.
    let mut forged = bytes[start..].to_vec();
    forged[8..16].copy_from_slice(&12u64.to_le_bytes());
    forged[26] = 1;
    let mut covered = forged[0..4].to_vec();
    covered.extend_from_slice(&forged[8..]);
    forged[4..8].copy_from_slice(&crc32c::crc32c(&covered).to_le_bytes());
    let mut reserved = bytes.to_vec();
    reserved.extend_from_slice(&forged);
    assert_eq!(torn_reason(reserved), CorruptReason::RecordReserved);
}

#[test]
fn verify_and_readers_report_a_torn_tail_without_touching_it() {
    let dir = TempDir::new("verify-torn");
    let records = build(dir.path(), 5);
    let path = segment_paths(dir.path()).pop().unwrap();
    let len = std::fs::metadata(&path).unwrap().len();
    std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(len - 5).unwrap();
    let lens = segment_lens(dir.path());

    let report = verify(dir.path()).expect("verify");
    assert!(!report.is_clean());
    assert_eq!((report.records, report.last_seq, report.corruption), (4, Some(10), None));
    let torn = report.torn.expect("torn");
    assert_eq!(
        (torn.segment.clone(), torn.offset, torn.bytes),
        (path.clone(), len - RECORD_LEN, RECORD_LEN - 5)
    );

    let (got, reader_torn) = read_all(dir.path(), 8);
    assert_eq!(got, records[1..4].to_vec());
    assert_eq!(reader_torn, Some(torn));
    assert_eq!(segment_lens(dir.path()), lens, "verify and read must not modify files");

    let (_journal, report) = Journal::open(dir.path(), options()).expect("open");
    assert_eq!(report.truncated_bytes, RECORD_LEN - 5);
    assert_eq!(std::fs::metadata(&path).unwrap().len(), len - RECORD_LEN);
    assert!(verify(dir.path()).unwrap().is_clean());
}

/// Checks that opening fails with exactly `expected` and changes no file,
/// that `verify` reports the same, and that a reader fails there too.
fn assert_hard_corruption(dir: &Path, expected: Corruption) {
    let lens = segment_lens(dir);
    let bytes: Vec<Vec<u8>> = segment_paths(dir).iter().map(|p| std::fs::read(p).unwrap()).collect();
    match Journal::open(dir, options()) {
        Err(JournalError::Corrupt(c)) => assert_eq!(c, expected),
        other => panic!("expected corruption, got {other:?}"),
    }
    let report = verify(dir).expect("verify");
    assert_eq!(report.corruption, Some(expected.clone()));
    let mut reader = read(dir, 0).expect("read");
    let error = loop {
        match reader.next() {
            Ok(Some(_)) => {}
            Ok(None) => panic!("reader missed {expected:?}"),
            Err(e) => break e,
        }
    };
    assert!(matches!(error, JournalError::Corrupt(c) if c == expected));
    assert!(matches!(reader.next(), Ok(None)));
    assert_eq!(segment_lens(dir), lens);
    let after: Vec<Vec<u8>> = segment_paths(dir).iter().map(|p| std::fs::read(p).unwrap()).collect();
    assert_eq!(after, bytes);
}

#[test]
fn a_damaged_record_in_an_earlier_segment_is_a_hard_error() {
    let dir = TempDir::new("early-flip");
    build(dir.path(), 8);
    let first = segment_paths(dir.path()).remove(0);
    let mut bytes = std::fs::read(&first).unwrap();
    let offset = SEGMENT_HEADER_LEN as u64 + RECORD_LEN; // the second record
    bytes[offset as usize + 35] ^= 0x40;
    std::fs::write(&first, &bytes).unwrap();
    let c = match Journal::open(dir.path(), options()) {
        Err(JournalError::Corrupt(c)) => c,
        other => panic!("{other:?}"),
    };
    assert!(matches!(c.reason, CorruptReason::BadRecordCrc { .. }));
    assert_eq!((c.segment.clone(), c.offset), (first.clone(), offset));
    assert!(c.to_string().contains(&format!("offset {offset}")), "{c}");
    assert_hard_corruption(dir.path(), c);
}

#[test]
fn a_cut_earlier_segment_is_a_hard_error() {
    let dir = TempDir::new("early-cut");
    build(dir.path(), 8);
    let paths = segment_paths(dir.path());
    let saved = Saved::take(dir.path());
    let (_, first_bytes) = &saved.0[0];
    let second_record = SEGMENT_HEADER_LEN as u64 + RECORD_LEN;

    std::fs::write(&paths[0], &first_bytes[..second_record as usize + 10]).unwrap();
    let reason = CorruptReason::ShortRecordHeader { available: 10 };
    assert_hard_corruption(
        dir.path(),
        Corruption { segment: paths[0].clone(), offset: second_record, reason },
    );

    // Cut at a record boundary, the segment looks fine, but the next one
    // does not start where it ends.
    saved.restore(dir.path());
    std::fs::write(&paths[0], &first_bytes[..second_record as usize]).unwrap();
    let reason = CorruptReason::SeqGap { expected: 8, found: 10 };
    assert_hard_corruption(dir.path(), Corruption { segment: paths[1].clone(), offset: 0, reason });
}

#[test]
fn a_missing_segment_is_a_hard_error() {
    let dir = TempDir::new("gap");
    build(dir.path(), 8);
    let paths = segment_paths(dir.path());
    assert_eq!(paths.len(), 3);
    std::fs::remove_file(&paths[1]).unwrap();
    let reason = CorruptReason::SeqGap { expected: 10, found: 13 };
    assert_hard_corruption(dir.path(), Corruption { segment: paths[2].clone(), offset: 0, reason });
}

#[test]
fn a_damaged_header_before_records_is_a_hard_error() {
    for n in [3, 8] {
        let dir = TempDir::new("header-flip");
        build(dir.path(), n);
        let path = segment_paths(dir.path()).pop().unwrap();
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[17] ^= 0x01;
        std::fs::write(&path, &bytes).unwrap();
        let reason = CorruptReason::DamagedHeaderBeforeRecords;
        assert_hard_corruption(dir.path(), Corruption { segment: path, offset: 0, reason });
    }
}

#[test]
fn a_damaged_header_of_an_empty_last_segment_is_rewritten() {
    let dir = TempDir::new("header-empty");
    let records = build(dir.path(), 6);
    let saved = Saved::take(dir.path());
    let (path, bytes) = saved.last();
    for (name, garbage) in [("header only", vec![]), ("with garbage", vec![0xAB; 7])] {
        for byte in 0..SEGMENT_HEADER_LEN {
            saved.restore(dir.path());
            let mut damaged = bytes[..SEGMENT_HEADER_LEN].to_vec();
            damaged[byte] ^= 0x20;
            damaged.extend_from_slice(&garbage);
            std::fs::write(path, &damaged).unwrap();
            let report = verify(dir.path()).unwrap();
            assert!(matches!(report.torn.unwrap().reason, CorruptReason::BadSegmentHeaderCrc { .. }));
            let case = format!("{name}, byte {byte}");
            assert_recovers(dir.path(), &records[..3], damaged.len() as u64, &case);
        }
    }
}

/// A segment header with a valid CRC, as another writer might have made it.
fn forged_header(magic: &[u8; 8], version: u16, first_seq: u64) -> Vec<u8> {
    let mut h = vec![0u8; SEGMENT_HEADER_LEN];
    h[0..8].copy_from_slice(magic);
    h[8..10].copy_from_slice(&version.to_le_bytes());
    h[16..24].copy_from_slice(&first_seq.to_le_bytes());
    let crc = crc32c::crc32c(&h[..28]);
    h[28..32].copy_from_slice(&crc.to_le_bytes());
    h
}

#[test]
fn a_segment_this_build_does_not_understand_is_never_truncated() {
    let dir = TempDir::new("foreign");
    build(dir.path(), 6);
    let path = segment_paths(dir.path()).pop().unwrap();
    let cases = [
        (forged_header(b"VENUEJNL", 2, 10), CorruptReason::UnsupportedVersion { version: 2 }),
        (forged_header(b"NOTMINE!", 1, 10), CorruptReason::BadMagic),
        (forged_header(b"VENUEJNL", 1, 11), CorruptReason::NameMismatch { name_seq: 10, header_seq: 11 }),
    ];
    for (header, reason) in cases {
        let mut bytes = std::fs::read(&path).unwrap();
        bytes[..SEGMENT_HEADER_LEN].copy_from_slice(&header);
        bytes.truncate(SEGMENT_HEADER_LEN + 3);
        std::fs::write(&path, &bytes).unwrap();
        assert_hard_corruption(dir.path(), Corruption { segment: path.clone(), offset: 0, reason });
    }
}

#[test]
fn a_segment_renamed_out_of_order_is_a_hard_error() {
    let dir = TempDir::new("renamed");
    build(dir.path(), 2);
    let path = segment_paths(dir.path()).pop().unwrap();
    let renamed = dir.path().join(venue_journal::segment_file_name(5));
    std::fs::rename(&path, &renamed).unwrap();
    let reason = CorruptReason::NameMismatch { name_seq: 5, header_seq: 7 };
    assert_hard_corruption(dir.path(), Corruption { segment: renamed, offset: 0, reason });
}
