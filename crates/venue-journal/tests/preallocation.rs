//! Space allocated ahead: under a syncing policy the last segment is filled
//! with zeros past its records, so commits do not change the file's size.
//! Zeros after the last record are a clean end; anything else after a
//! header of zeros is damage, treated as a torn tail in the last segment and
//! as corruption before it; closed segments end at their last record.

mod common;

use std::io::Write;
use std::path::Path;

use common::{Rng, TempDir, read_all, record, segment_lens, segment_paths};
use venue_journal::{
    CorruptReason, Durability, Journal, JournalError, JournalOptions, PREALLOCATE_BYTES, RECORD_HEADER_LEN,
    Record, SEGMENT_HEADER_LEN, read, verify,
};

const RECORD_LEN: u64 = (RECORD_HEADER_LEN + 20) as u64;

fn rec(seq: u64) -> Record {
    let mut r = record(seq, 0);
    r.payload = Rng::new(seq).bytes(20);
    r
}

/// Syncing (the policy that allocates ahead), with `segment_bytes`.
fn syncing(segment_bytes: u64) -> JournalOptions {
    JournalOptions { durability: Durability::Always, segment_bytes, ..JournalOptions::default() }
}

fn append(dir: &Path, options: JournalOptions, records: &[Record]) {
    let (mut journal, _) = Journal::open(dir, options).expect("open");
    for r in records {
        journal.append(r.seq, r.time, r.kind, &r.payload).expect("append");
        journal.commit().expect("commit");
    }
}

fn last_segment(dir: &Path) -> std::path::PathBuf {
    segment_paths(dir).pop().expect("a segment")
}

#[test]
fn commits_write_into_zeros_allocated_ahead_and_the_file_keeps_its_size() {
    let dir = TempDir::new("prealloc");
    let records: Vec<Record> = (1..=40).map(rec).collect();
    append(dir.path(), syncing(1 << 30), &records[..20]);
    assert_eq!(segment_lens(dir.path()), vec![PREALLOCATE_BYTES]);
    let bytes = std::fs::read(last_segment(dir.path())).unwrap();
    let end = SEGMENT_HEADER_LEN as u64 + 20 * RECORD_LEN;
    assert!(bytes[end as usize..].iter().all(|&b| b == 0), "zeros after the records");

    // A clean end for readers, verify and recovery alike.
    assert_eq!(read_all(dir.path(), 0), (records[..20].to_vec(), None));
    let report = verify(dir.path()).expect("verify");
    assert!(report.is_clean(), "{report:?}");
    assert_eq!((report.records, report.last_seq), (20, Some(20)));

    // Reopened, the writer goes on inside the same zeros.
    let (journal, report) = Journal::open(dir.path(), syncing(1 << 30)).expect("reopen");
    assert_eq!((report.truncated_bytes, report.torn, report.next_seq), (0, None, 21));
    drop(journal);
    append(dir.path(), syncing(1 << 30), &records[20..]);
    assert_eq!(segment_lens(dir.path()), vec![PREALLOCATE_BYTES]);
    assert_eq!(read_all(dir.path(), 0), (records.clone(), None));
}

#[test]
fn running_out_of_zeros_allocates_the_next_stretch() {
    let dir = TempDir::new("prealloc-grow");
    // Big payloads: a few fill the first stretch.
    let payload = vec![7u8; 300 * 1024];
    let (mut journal, _) = Journal::open(dir.path(), syncing(1 << 30)).expect("open");
    for seq in 1..=5 {
        journal.append(seq, seq, 1, &payload).expect("append");
        journal.commit().expect("commit");
        let records_end = SEGMENT_HEADER_LEN as u64 + seq * (RECORD_HEADER_LEN + payload.len()) as u64;
        let len = segment_lens(dir.path())[0];
        assert!(len > records_end, "zeros follow record {seq}");
        assert_eq!(len % PREALLOCATE_BYTES, 0, "whole stretches");
        assert!(len - records_end <= PREALLOCATE_BYTES, "at most one stretch ahead");
    }
    drop(journal);
    let (records, torn) = read_all(dir.path(), 0);
    assert_eq!((records.len(), torn), (5, None));
}

#[test]
fn a_closed_segment_ends_at_its_last_record_and_only_the_last_has_zeros() {
    let dir = TempDir::new("prealloc-roll");
    // Three records per segment (32 + 3 × 48 ≥ 150).
    let records: Vec<Record> = (1..=8).map(rec).collect();
    append(dir.path(), syncing(150), &records);
    let full = SEGMENT_HEADER_LEN as u64 + 3 * RECORD_LEN;
    assert_eq!(segment_lens(dir.path()), vec![full, full, PREALLOCATE_BYTES]);
    assert_eq!(read_all(dir.path(), 0), (records, None));
    assert!(verify(dir.path()).expect("verify").is_clean());
}

#[test]
fn no_zeros_are_allocated_when_the_policy_never_syncs() {
    let dir = TempDir::new("prealloc-never");
    let options = JournalOptions { durability: Durability::Never, ..JournalOptions::default() };
    append(dir.path(), options, &(1..=3).map(rec).collect::<Vec<_>>());
    assert_eq!(segment_lens(dir.path()), vec![SEGMENT_HEADER_LEN as u64 + 3 * RECORD_LEN]);
}

/// A journal of `n` records (syncing, one segment), its file and the end
/// of its records.
fn built(name: &str, n: u64) -> (TempDir, Vec<Record>, std::path::PathBuf, u64) {
    let dir = TempDir::new(name);
    let records: Vec<Record> = (1..=n).map(rec).collect();
    append(dir.path(), syncing(1 << 30), &records);
    let path = last_segment(dir.path());
    (dir, records, path, SEGMENT_HEADER_LEN as u64 + n * RECORD_LEN)
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) {
    use std::os::unix::fs::FileExt;
    let file = std::fs::OpenOptions::new().write(true).open(path).unwrap();
    file.write_all_at(bytes, offset).unwrap();
}

#[test]
fn a_record_torn_inside_the_zeros_is_cut_off_and_writing_goes_on() {
    // The crash hit while a record was being written into the zeros: its
    // first half reached the disk.
    let (dir, records, path, end) = built("prealloc-torn", 5);
    let mut next = Vec::new();
    encoded(&rec(6), &mut next);
    write_at(&path, end, &next[..next.len() / 2]);
    let (read, torn) = read_all(dir.path(), 0);
    assert_eq!(read, records);
    let torn = torn.expect("a torn tail");
    assert_eq!(torn.offset, end);
    assert!(matches!(torn.reason, CorruptReason::BadRecordCrc { .. }), "{:?}", torn.reason);

    let (mut journal, report) = Journal::open(dir.path(), syncing(1 << 30)).expect("open");
    assert_eq!(report.truncated_bytes, PREALLOCATE_BYTES - end, "the torn record and the zeros after it");
    assert_eq!(report.next_seq, 6);
    let r = rec(6);
    journal.append(r.seq, r.time, r.kind, &r.payload).expect("append");
    journal.commit().expect("commit");
    drop(journal);
    assert_eq!(segment_lens(dir.path()), vec![PREALLOCATE_BYTES], "zeros allocated again");
    let mut all = records;
    all.push(r);
    assert_eq!(read_all(dir.path(), 0), (all, None));
}

#[test]
fn data_after_a_header_of_zeros_is_a_torn_tail_in_the_last_segment() {
    // The later half of a record reached the disk, its header did not.
    let (dir, records, path, end) = built("prealloc-after", 4);
    let at = end + RECORD_HEADER_LEN as u64 + 5;
    write_at(&path, at, &[0xAB]);
    let (read, torn) = read_all(dir.path(), 0);
    assert_eq!(read, records);
    assert_eq!(torn.expect("torn").reason, CorruptReason::DataAfterEnd { at });
    let report = verify(dir.path()).expect("verify");
    assert_eq!(report.torn.expect("torn").reason, CorruptReason::DataAfterEnd { at });
    assert_eq!(report.records, 4);

    let (_journal, report) = Journal::open(dir.path(), syncing(1 << 30)).expect("open");
    assert_eq!((report.next_seq, report.truncated_bytes), (5, PREALLOCATE_BYTES - end));
}

/// Records 1..=5 in segments of three, then the first `zeros` bytes of
/// record 3 (the first segment's last) overwritten with zeros; returns the
/// directory and where record 3 starts.
fn first_segment_zeroed(name: &str, zeros: u64) -> (TempDir, u64) {
    let dir = TempDir::new(name);
    let records: Vec<Record> = (1..=5).map(rec).collect();
    append(dir.path(), syncing(150), &records);
    let first = segment_paths(dir.path())[0].clone();
    let last_start = SEGMENT_HEADER_LEN as u64 + 2 * RECORD_LEN;
    write_at(&first, last_start, &vec![0; zeros as usize]);
    (dir, last_start)
}

#[test]
fn data_after_a_header_of_zeros_in_an_earlier_segment_is_corruption() {
    // The first segment's last record zeroed, one byte of its payload kept.
    let (dir, last_start) = first_segment_zeroed("prealloc-corrupt", RECORD_LEN - 1);
    let at = last_start + RECORD_LEN - 1;
    let report = verify(dir.path()).expect("verify");
    let corruption = report.corruption.expect("corruption");
    assert_eq!((corruption.offset, corruption.reason), (last_start, CorruptReason::DataAfterEnd { at }));
    assert!(matches!(Journal::open(dir.path(), syncing(150)), Err(JournalError::Corrupt(_))));
    let mut reader = read(dir.path(), 1).expect("read");
    let mut seen = 0;
    let error = loop {
        match reader.next() {
            Ok(Some(_)) => seen += 1,
            Ok(None) => panic!("the reader must not end quietly at damage before the tail"),
            Err(e) => break e,
        }
    };
    assert_eq!(seen, 2);
    assert!(matches!(error, JournalError::Corrupt(_)));
}

#[test]
fn a_zeroed_stretch_in_an_earlier_segment_is_caught_by_the_next_segments_first_seq() {
    // Zeros over an earlier segment's last record look like its clean end;
    // the record is not lost silently, because the next segment does not
    // start where the zeros say this one ended.
    let (dir, _) = first_segment_zeroed("prealloc-gap", RECORD_LEN);
    let corruption = verify(dir.path()).expect("verify").corruption.expect("corruption");
    assert_eq!(corruption.reason, CorruptReason::SeqGap { expected: 3, found: 4 });
    assert!(matches!(Journal::open(dir.path(), syncing(150)), Err(JournalError::Corrupt(_))));
}

#[test]
fn fewer_zeros_than_a_record_header_end_a_segment_cleanly() {
    let dir = TempDir::new("prealloc-short");
    let records: Vec<Record> = (1..=3).map(rec).collect();
    let options = JournalOptions { durability: Durability::Never, ..JournalOptions::default() };
    append(dir.path(), options, &records);
    let path = last_segment(dir.path());
    std::fs::OpenOptions::new().append(true).open(&path).unwrap().write_all(&[0; 10]).unwrap();
    assert_eq!(read_all(dir.path(), 0), (records.clone(), None));
    assert!(verify(dir.path()).expect("verify").is_clean());
    let (_journal, report) = Journal::open(dir.path(), options).expect("open");
    assert_eq!((report.truncated_bytes, report.next_seq), (0, 4));
    // And ten bytes that are not all zeros are a short record header.
    drop(_journal);
    write_at(&path, SEGMENT_HEADER_LEN as u64 + 3 * RECORD_LEN + 9, &[1]);
    let (_, torn) = read_all(dir.path(), 0);
    assert_eq!(torn.expect("torn").reason, CorruptReason::ShortRecordHeader { available: 10 });
}

/// The bytes of `r` as the journal writes them: written through a journal
/// of its own and read back.
fn encoded(r: &Record, out: &mut Vec<u8>) {
    let dir = TempDir::new("encode");
    let options =
        JournalOptions { durability: Durability::Never, first_seq: r.seq, ..JournalOptions::default() };
    append(dir.path(), options, std::slice::from_ref(r));
    let bytes = std::fs::read(last_segment(dir.path())).unwrap();
    out.extend_from_slice(&bytes[SEGMENT_HEADER_LEN..]);
}
