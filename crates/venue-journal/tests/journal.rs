//! The writer and reader as a user sees them: what goes in comes back out,
//! in order, across segments and reopens, under each durability policy.

mod common;

use std::time::Duration;

use common::{Rng, TempDir, fast, read_all, record, segment_lens, segment_paths};
use venue_journal::{
    Durability, Journal, JournalError, JournalOptions, MAX_PAYLOAD_LEN, RECORD_HEADER_LEN, Record,
    SEGMENT_HEADER_LEN, read, verify,
};

fn append_all(journal: &mut Journal, records: &[Record]) {
    for r in records {
        journal.append(r.seq, r.time, r.kind, &r.payload).expect("append");
    }
}

#[test]
fn records_round_trip_across_segments_batches_and_reopens() {
    let dir = TempDir::new("round-trip");
    let segment_bytes = 1_000;
    let records: Vec<Record> = (1..=600).map(|seq| record(seq, 200)).collect();
    let (mut journal, report) = Journal::open(dir.path(), fast(segment_bytes)).expect("open");
    assert!(report.created);
    assert_eq!((report.records, report.last_seq, report.next_seq), (0, None, 1));

    let mut rng = Rng::new(99);
    let mut at = 0;
    while at < 500 {
        let batch = (1 + rng.below(20) as usize).min(500 - at);
        append_all(&mut journal, &records[at..at + batch]);
        at += batch;
        let info = journal.commit().expect("commit");
        assert_eq!(info.written_seq, Some(at as u64));
    }
    drop(journal);

    assert_eq!(read_all(dir.path(), 1), (records[..500].to_vec(), None));
    let lens = segment_lens(dir.path());
    assert!(lens.len() > 5, "{lens:?}");
    // A segment is closed by the first record that takes it to `segment_bytes`.
    for len in &lens[..lens.len() - 1] {
        assert!(*len >= segment_bytes && *len < segment_bytes + 28 + 200, "{lens:?}");
    }

    let (mut journal, report) = Journal::open(dir.path(), fast(segment_bytes)).expect("reopen");
    assert_eq!(report.segments, lens.len());
    assert_eq!((report.records, report.first_seq, report.last_seq), (500, Some(1), Some(500)));
    assert_eq!(
        (report.next_seq, report.truncated_bytes, report.torn.clone(), report.created),
        (501, 0, None, false)
    );
    assert_eq!(journal.next_seq(), 501);
    append_all(&mut journal, &records[500..]);
    journal.commit().expect("commit");
    drop(journal);

    assert_eq!(read_all(dir.path(), 1), (records.clone(), None));
    let report = verify(dir.path()).expect("verify");
    assert!(report.is_clean());
    assert_eq!((report.records, report.first_seq, report.last_seq), (600, Some(1), Some(600)));
    assert_eq!(report.segments, segment_paths(dir.path()).len());
    assert_eq!(report.bytes, segment_lens(dir.path()).iter().sum::<u64>());
}

#[test]
fn segment_files_are_named_by_their_first_seq() {
    let dir = TempDir::new("names");
    let options = JournalOptions { first_seq: 41, ..fast(0) };
    let (mut journal, _) = Journal::open(dir.path(), options).expect("open");
    for seq in 41..44 {
        journal.append(seq, 0, 0, b"p").expect("append");
    }
    journal.commit().expect("commit");
    let names: Vec<String> = segment_paths(dir.path())
        .iter()
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect();
    // segment_bytes = 0: every segment holds exactly one record.
    assert_eq!(
        names,
        ["00000000000000000041.journal", "00000000000000000042.journal", "00000000000000000043.journal"]
    );
    assert_eq!(segment_lens(dir.path()), vec![(SEGMENT_HEADER_LEN + RECORD_HEADER_LEN + 1) as u64; 3]);
}

#[test]
fn reading_from_a_middle_seq_starts_exactly_there() {
    let dir = TempDir::new("middle");
    let records: Vec<Record> = (1..=300).map(|seq| record(seq, 64)).collect();
    let (mut journal, _) = Journal::open(dir.path(), fast(512)).expect("open");
    append_all(&mut journal, &records);
    journal.commit().expect("commit");
    assert!(segment_paths(dir.path()).len() > 10);

    for from in [1, 2, 17, 150, 299, 300] {
        let (got, torn) = read_all(dir.path(), from);
        assert_eq!(got, records[(from - 1) as usize..].to_vec(), "from {from}");
        assert_eq!(torn, None);
    }
    assert_eq!(read_all(dir.path(), 301).0, vec![]);
    assert_eq!(read_all(dir.path(), u64::MAX).0, vec![]);
    // Before the first record: everything there is.
    assert_eq!(read_all(dir.path(), 0).0, records);
}

#[test]
fn the_reader_lends_records_without_copying_them() {
    let dir = TempDir::new("lend");
    let (mut journal, _) = Journal::open(dir.path(), fast(1 << 20)).expect("open");
    journal.append(1, 10, 3, b"abc").expect("append");
    journal.append(2, 20, 4, b"").expect("append");
    journal.commit().expect("commit");
    let mut reader = read(dir.path(), 1).expect("read");
    let first = reader.next().expect("next").expect("record");
    assert_eq!((first.seq, first.time, first.kind, first.payload), (1, 10, 3, &b"abc"[..]));
    let second = reader.next().expect("next").expect("record");
    assert_eq!((second.seq, second.time, second.kind, second.payload), (2, 20, 4, &b""[..]));
    assert_eq!(reader.next().expect("next"), None);
    assert_eq!(reader.next().expect("next"), None);
    assert_eq!(reader.last_seq(), Some(2));
}

#[test]
fn an_empty_journal_reads_as_empty() {
    let dir = TempDir::new("empty");
    std::fs::create_dir_all(dir.path()).unwrap();
    // A directory without segments.
    assert_eq!(read_all(dir.path(), 1), (vec![], None));
    let report = verify(dir.path()).expect("verify");
    assert_eq!((report.segments, report.records, report.last_seq, report.is_clean()), (0, 0, None, true));
    // A journal with its first segment but no records.
    let (journal, _) = Journal::open(dir.path(), fast(1 << 20)).expect("open");
    drop(journal);
    assert_eq!(read_all(dir.path(), 1), (vec![], None));
    let report = verify(dir.path()).expect("verify");
    assert_eq!((report.segments, report.records, report.bytes), (1, 0, SEGMENT_HEADER_LEN as u64));
}

#[test]
fn a_missing_directory_is_an_error_for_readers_and_created_by_the_writer() {
    let dir = TempDir::new("missing");
    let nested = dir.path().join("a/b");
    assert!(matches!(read(&nested, 1), Err(JournalError::Io { .. })));
    assert!(matches!(verify(&nested), Err(JournalError::Io { .. })));
    let (_journal, report) = Journal::open(&nested, fast(1 << 20)).expect("open");
    assert!(report.created);
    assert_eq!(segment_paths(&nested).len(), 1);
}

#[test]
fn first_seq_applies_to_a_new_journal_only() {
    let dir = TempDir::new("first-seq");
    let (mut journal, report) =
        Journal::open(dir.path(), JournalOptions { first_seq: 1_000, ..fast(1 << 20) }).expect("open");
    assert_eq!(report.next_seq, 1_000);
    assert!(matches!(
        journal.append(1, 0, 0, b""),
        Err(JournalError::SeqMismatch { expected: 1_000, got: 1 })
    ));
    journal.append(1_000, 0, 0, b"x").expect("append");
    journal.commit().expect("commit");
    drop(journal);
    let (journal, report) = Journal::open(dir.path(), fast(1 << 20)).expect("reopen");
    assert_eq!((report.first_seq, report.last_seq, journal.next_seq()), (Some(1_000), Some(1_000), 1_001));
}

#[test]
fn bad_appends_are_refused_and_leave_nothing_behind() {
    let dir = TempDir::new("bad-append");
    let (mut journal, _) = Journal::open(dir.path(), fast(1 << 20)).expect("open");
    journal.append(1, 0, 0, b"one").expect("append");
    let pending = journal.pending_bytes();
    assert!(matches!(journal.append(1, 0, 0, b""), Err(JournalError::SeqMismatch { expected: 2, got: 1 })));
    assert!(matches!(journal.append(3, 0, 0, b""), Err(JournalError::SeqMismatch { expected: 2, got: 3 })));
    let big = vec![0u8; MAX_PAYLOAD_LEN as usize + 1];
    assert!(matches!(
        journal.append(2, 0, 0, &big),
        Err(JournalError::PayloadTooLarge { len, max: MAX_PAYLOAD_LEN }) if len == big.len()
    ));
    assert_eq!((journal.pending_bytes(), journal.next_seq()), (pending, 2));
    journal.append(2, 0, 0, &big[..MAX_PAYLOAD_LEN as usize]).expect("largest payload");
    journal.commit().expect("commit");
    drop(journal);
    let (records, _) = read_all(dir.path(), 1);
    assert_eq!(records.iter().map(|r| (r.seq, r.payload.len())).collect::<Vec<_>>(), [(1, 3), (2, 1 << 20)]);
}

#[test]
fn the_last_sequence_number_cannot_be_appended() {
    let dir = TempDir::new("exhausted");
    let options = JournalOptions { first_seq: u64::MAX, ..fast(1 << 20) };
    let (mut journal, _) = Journal::open(dir.path(), options).expect("open");
    assert!(matches!(journal.append(u64::MAX, 0, 0, b""), Err(JournalError::SeqExhausted)));
    assert_eq!(journal.pending_bytes(), 0);
}

#[test]
fn a_full_batch_must_be_committed_before_more_is_appended() {
    let dir = TempDir::new("batch");
    let limit = RECORD_HEADER_LEN + MAX_PAYLOAD_LEN as usize;
    let bad = JournalOptions { max_batch_bytes: limit - 1, ..fast(1 << 20) };
    assert!(matches!(Journal::open(dir.path(), bad), Err(JournalError::InvalidOptions { .. })));

    let (mut journal, _) =
        Journal::open(dir.path(), JournalOptions { max_batch_bytes: limit, ..fast(1 << 20) }).expect("open");
    let payload = vec![7u8; MAX_PAYLOAD_LEN as usize / 2];
    journal.append(1, 0, 0, &payload).expect("append");
    let full = journal.append(2, 0, 0, &payload);
    assert!(matches!(full, Err(JournalError::BatchFull { limit: l, .. }) if l == limit), "{full:?}");
    journal.commit().expect("commit");
    journal.append(2, 0, 0, &payload).expect("append after commit");
    journal.commit().expect("commit");
    assert_eq!(read_all(dir.path(), 1).0.len(), 2);
}

#[test]
fn only_one_writer_at_a_time() {
    let dir = TempDir::new("lock");
    let (journal, _) = Journal::open(dir.path(), fast(1 << 20)).expect("open");
    assert!(matches!(Journal::open(dir.path(), fast(1 << 20)), Err(JournalError::Locked { .. })));
    // Readers need no lock.
    assert!(read(dir.path(), 1).is_ok());
    assert!(verify(dir.path()).is_ok());
    drop(journal);
    assert!(Journal::open(dir.path(), fast(1 << 20)).is_ok());
}

#[test]
fn always_syncs_every_commit_that_wrote_something() {
    let dir = TempDir::new("always");
    let options = JournalOptions { durability: Durability::Always, segment_bytes: 200, ..Default::default() };
    let (mut journal, _) = Journal::open(dir.path(), options).expect("open");
    assert_eq!(journal.durable_seq(), None);
    for seq in 1..=20 {
        journal.append(seq, 0, 0, &[seq as u8; 30]).expect("append");
        assert_eq!(journal.durable_seq(), if seq == 1 { None } else { Some(seq - 1) });
        let info = journal.commit().expect("commit");
        assert_eq!((info.written_seq, info.durable_seq, info.synced), (Some(seq), Some(seq), true));
    }
    let info = journal.commit().expect("empty commit");
    assert_eq!((info.durable_seq, info.synced), (Some(20), false));
    assert!(segment_paths(dir.path()).len() > 3);
    drop(journal);
    let (journal, report) = Journal::open(dir.path(), options).expect("reopen");
    assert_eq!((report.last_seq, journal.durable_seq()), (Some(20), Some(20)));
}

#[test]
fn interval_syncs_only_when_the_last_sync_is_old_enough() {
    let dir = TempDir::new("interval");
    let hour = JournalOptions {
        durability: Durability::Interval(Duration::from_secs(3600)),
        segment_bytes: 1 << 20,
        ..Default::default()
    };
    let (mut journal, _) = Journal::open(dir.path(), hour).expect("open");
    journal.append(1, 0, 0, b"a").expect("append");
    let info = journal.commit().expect("commit");
    assert_eq!((info.written_seq, info.durable_seq, info.synced), (Some(1), None, false));
    journal.append(2, 0, 0, b"b").expect("append");
    let info = journal.sync().expect("sync");
    assert_eq!((info.written_seq, info.durable_seq, info.synced), (Some(2), Some(2), true));
    assert_eq!(journal.durable_seq(), Some(2));
    drop(journal);

    let zero = JournalOptions { durability: Durability::Interval(Duration::ZERO), ..hour };
    let (mut journal, report) = Journal::open(dir.path(), zero).expect("reopen");
    assert_eq!((report.last_seq, journal.durable_seq()), (Some(2), Some(2)));
    journal.append(3, 0, 0, b"c").expect("append");
    let info = journal.commit().expect("commit");
    assert_eq!((info.durable_seq, info.synced), (Some(3), true));
    let info = journal.commit().expect("empty commit");
    assert_eq!((info.durable_seq, info.synced), (Some(3), false));
}

#[test]
fn interval_makes_a_closed_segment_durable_at_rollover() {
    let dir = TempDir::new("interval-roll");
    let options = JournalOptions {
        durability: Durability::Interval(Duration::from_secs(3600)),
        segment_bytes: 100,
        ..Default::default()
    };
    let (mut journal, _) = Journal::open(dir.path(), options).expect("open");
    for seq in 1..=5 {
        journal.append(seq, 0, 0, &[0; 20]).expect("append");
    }
    // 32 + 2 × 48 ≥ 100: records 1 and 2 fill the first segment, 3 and 4 the
    // second, 5 starts the third.
    let info = journal.commit().expect("commit");
    assert_eq!((info.written_seq, info.durable_seq, info.synced), (Some(5), Some(4), false));
    assert_eq!(segment_paths(dir.path()).len(), 3);
}

#[test]
fn never_counts_written_as_durable_and_does_not_sync() {
    let dir = TempDir::new("never");
    let (mut journal, _) = Journal::open(dir.path(), fast(1 << 20)).expect("open");
    journal.append(1, 0, 0, b"a").expect("append");
    let info = journal.commit().expect("commit");
    assert_eq!((info.written_seq, info.durable_seq, info.synced), (Some(1), Some(1), false));
    // An explicit sync still syncs.
    assert!(journal.sync().expect("sync").synced);
}

#[test]
fn uncommitted_records_are_gone_after_reopen() {
    let dir = TempDir::new("uncommitted");
    let (mut journal, _) = Journal::open(dir.path(), fast(1 << 20)).expect("open");
    journal.append(1, 0, 0, b"kept").expect("append");
    journal.commit().expect("commit");
    journal.append(2, 0, 0, b"lost").expect("append");
    drop(journal);
    let (journal, report) = Journal::open(dir.path(), fast(1 << 20)).expect("reopen");
    assert_eq!((report.last_seq, report.truncated_bytes, journal.next_seq()), (Some(1), 0, 2));
}

#[test]
fn removing_old_segments_keeps_the_rest_readable() {
    let dir = TempDir::new("compact");
    let records: Vec<Record> = (1..=100).map(|seq| record(seq, 50)).collect();
    let (mut journal, _) = Journal::open(dir.path(), fast(300)).expect("open");
    append_all(&mut journal, &records);
    journal.commit().expect("commit");
    let before = segment_paths(dir.path()).len();
    let firsts: Vec<u64> = segment_paths(dir.path())
        .iter()
        .map(|p| venue_journal::parse_segment_file_name(p.file_name().unwrap().to_str().unwrap()).unwrap())
        .collect();

    // Nothing is below the first segment's first seq.
    assert_eq!(journal.remove_segments_before(firsts[0]).expect("remove"), 0);
    // A seq inside the third segment removes exactly the first two.
    assert_eq!(journal.remove_segments_before(firsts[2] + 1).expect("remove"), 2);
    assert_eq!(segment_paths(dir.path()).len(), before - 2);
    let (got, _) = read_all(dir.path(), 0);
    assert_eq!(got, records[(firsts[2] - 1) as usize..].to_vec());

    // The current segment always stays, even when everything is below `seq`.
    let removed = journal.remove_segments_before(u64::MAX).expect("remove");
    assert_eq!(removed, before - 3);
    assert_eq!(segment_paths(dir.path()).len(), 1);
    journal.append(101, 0, 0, b"after").expect("append");
    journal.commit().expect("commit");
    drop(journal);

    let (journal, report) = Journal::open(dir.path(), fast(300)).expect("reopen");
    assert_eq!(
        (report.first_seq, report.last_seq, journal.next_seq()),
        (Some(firsts[before - 1]), Some(101), 102)
    );
}

#[test]
fn a_failed_commit_poisons_the_journal_until_it_is_reopened() {
    let dir = TempDir::new("poison");
    let (mut journal, _) = Journal::open(dir.path(), fast(0)).expect("open");
    journal.append(1, 0, 0, b"one").expect("append");
    journal.commit().expect("commit");
    // Something occupies the name of the next segment: the rollover fails.
    let squatter = dir.path().join(venue_journal::segment_file_name(2));
    std::fs::write(&squatter, b"").unwrap();
    journal.append(2, 0, 0, b"two").expect("append");
    assert!(matches!(journal.commit(), Err(JournalError::Io { path, .. }) if path == squatter));
    assert!(matches!(journal.commit(), Err(JournalError::Poisoned)));
    assert!(matches!(journal.sync(), Err(JournalError::Poisoned)));
    assert!(matches!(journal.append(3, 0, 0, b""), Err(JournalError::Poisoned)));
    assert_eq!(journal.durable_seq(), Some(1));
    drop(journal);
    // Recovery: the empty squatter is a torn segment header, rewritten.
    let (mut journal, report) = Journal::open(dir.path(), fast(0)).expect("reopen");
    assert_eq!((report.last_seq, report.next_seq, report.segments), (Some(1), 2, 2));
    journal.append(2, 0, 0, b"two").expect("append");
    journal.commit().expect("commit");
    assert_eq!(read_all(dir.path(), 1).0.len(), 2);
}
