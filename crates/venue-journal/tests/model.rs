//! The journal against a model: random runs of appends, commits, reopens,
//! torn tails and trailing garbage must leave exactly the records, segment
//! files and recovery reports that a few lines of in-memory bookkeeping
//! predict.

mod common;

use common::{TempDir, fast, read_all, segment_lens, segment_paths};
use proptest::prelude::*;
use venue_journal::{
    Journal, JournalOptions, OpenReport, RECORD_HEADER_LEN, Record, SEGMENT_HEADER_LEN, segment_file_name,
    verify,
};

#[derive(Clone, Debug)]
enum Op {
    /// Append records with these payloads (not yet committed).
    Append(Vec<Vec<u8>>),
    Commit,
    /// Drop the journal (losing uncommitted records) and open it again.
    Reopen,
    /// Drop the journal, cut the last segment at this fraction of its length
    /// (in 1/1000), reopen.
    Tear(u16),
    /// Drop the journal, append these bytes to the last segment, reopen.
    /// Zeros are not garbage but space allocated ahead: they stay.
    Garbage(Vec<u8>),
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        4 => prop::collection::vec(prop::collection::vec(any::<u8>(), 0..40), 1..8).prop_map(Op::Append),
        3 => Just(Op::Commit),
        1 => Just(Op::Reopen),
        2 => (0u16..=1000).prop_map(Op::Tear),
        1 => prop::collection::vec(any::<u8>(), 1..60).prop_map(Op::Garbage),
        1 => (1usize..100).prop_map(|n| Op::Garbage(vec![0; n])),
    ]
}

/// A segment as the model sees it.
#[derive(Debug)]
struct Segment {
    first_seq: u64,
    /// End of the records.
    len: u64,
    /// End offset of each record.
    ends: Vec<u64>,
    /// Length of the file: `len`, then zeros.
    file_len: u64,
}

/// What must be on disk.
struct Model {
    segment_bytes: u64,
    first_seq: u64,
    records: Vec<Record>,
    pending: Vec<Record>,
    segments: Vec<Segment>,
}

impl Model {
    fn next_seq(&self) -> u64 {
        self.pending.last().or(self.records.last()).map_or(self.first_seq, |r| r.seq + 1)
    }

    fn commit(&mut self) {
        for r in self.pending.drain(..) {
            if self.segments.is_empty() {
                self.segments.push(Segment {
                    first_seq: r.seq,
                    len: SEGMENT_HEADER_LEN as u64,
                    ends: vec![],
                    file_len: SEGMENT_HEADER_LEN as u64,
                });
            }
            let last = self.segments.last_mut().unwrap();
            if !last.ends.is_empty() && last.len >= self.segment_bytes {
                // A closed segment is cut to its last record.
                last.file_len = last.len;
                self.segments.push(Segment {
                    first_seq: r.seq,
                    len: SEGMENT_HEADER_LEN as u64,
                    ends: vec![],
                    file_len: SEGMENT_HEADER_LEN as u64,
                });
            }
            let last = self.segments.last_mut().unwrap();
            last.len += (RECORD_HEADER_LEN + r.payload.len()) as u64;
            last.ends.push(last.len);
            last.file_len = last.file_len.max(last.len);
            self.records.push(r);
        }
    }

    /// The last segment, whose bytes were `before`, cut at `cut`; returns
    /// the bytes recovery discards.
    fn cut(&mut self, cut: u64, before: &[u8]) -> u64 {
        let last = self.segments.last_mut().unwrap();
        if cut >= last.len && cut >= SEGMENT_HEADER_LEN as u64 {
            // Only zeros cut: still a clean end.
            last.file_len = cut;
            return 0;
        }
        let (kept, len) = if cut < SEGMENT_HEADER_LEN as u64 {
            (0, SEGMENT_HEADER_LEN as u64)
        } else {
            let kept = last.ends.iter().take_while(|&&end| end <= cut).count();
            (kept, if kept == 0 { SEGMENT_HEADER_LEN as u64 } else { last.ends[kept - 1] })
        };
        let discarded = if cut < SEGMENT_HEADER_LEN as u64 { cut } else { cut - len };
        let lost = last.ends.len() - kept;
        if discarded > 0 && cut >= len && before[len as usize..cut as usize].iter().all(|&b| b == 0) {
            // What is left of the cut record reads as zeros allocated ahead
            // (the first bytes of a record of empty payload are its zero
            // length): a clean end, the stub kept and written over next.
            last.ends.truncate(kept);
            last.len = len;
            last.file_len = cut;
            self.records.truncate(self.records.len() - lost);
            return 0;
        }
        last.ends.truncate(kept);
        last.len = len;
        last.file_len = len;
        self.records.truncate(self.records.len() - lost);
        discarded
    }

    /// `bytes` appended to the last segment; returns the bytes recovery
    /// discards.
    fn garbage(&mut self, bytes: &[u8]) -> u64 {
        let last = self.segments.last_mut().unwrap();
        let file_len = last.file_len + bytes.len() as u64;
        if bytes.iter().all(|&b| b == 0) {
            last.file_len = file_len;
            return 0;
        }
        // Everything after the records goes, zeros before the garbage too.
        last.file_len = last.len;
        file_len - last.len
    }
}

fn check(
    dir: &std::path::Path,
    model: &Model,
    report: &OpenReport,
    truncated: u64,
) -> Result<(), TestCaseError> {
    prop_assert_eq!(report.truncated_bytes, truncated);
    prop_assert_eq!(report.last_seq, model.records.last().map(|r| r.seq));
    prop_assert_eq!(report.next_seq, model.next_seq());
    prop_assert_eq!(read_all(dir, 0), (model.records.clone(), None));
    let names: Vec<_> =
        segment_paths(dir).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
    let expected: Vec<_> = model.segments.iter().map(|s| segment_file_name(s.first_seq)).collect();
    prop_assert_eq!(names, expected);
    prop_assert_eq!(segment_lens(dir), model.segments.iter().map(|s| s.file_len).collect::<Vec<_>>());
    let v = verify(dir).unwrap();
    prop_assert!(v.is_clean());
    prop_assert_eq!(v.records, model.records.len() as u64);
    Ok(())
}

fn run(segment_bytes: u64, first_seq: u64, ops: Vec<Op>) -> Result<(), TestCaseError> {
    let dir = TempDir::new("model");
    let options = JournalOptions { first_seq, ..fast(segment_bytes) };
    let mut model = Model {
        segment_bytes,
        first_seq,
        records: vec![],
        pending: vec![],
        segments: vec![Segment {
            first_seq,
            len: SEGMENT_HEADER_LEN as u64,
            ends: vec![],
            file_len: SEGMENT_HEADER_LEN as u64,
        }],
    };
    let (journal, report) = Journal::open(dir.path(), options).unwrap();
    check(dir.path(), &model, &report, 0)?;
    let mut journal = Some(journal);
    for op in ops {
        let truncated = match op {
            Op::Append(payloads) => {
                let j = journal.as_mut().unwrap();
                for payload in payloads {
                    let seq = model.next_seq();
                    prop_assert_eq!(j.next_seq(), seq);
                    j.append(seq, seq ^ 0x5555, (seq % 7) as u16, &payload).unwrap();
                    model.pending.push(Record { seq, time: seq ^ 0x5555, kind: (seq % 7) as u16, payload });
                }
                continue;
            }
            Op::Commit => {
                let info = journal.as_mut().unwrap().commit().unwrap();
                model.commit();
                prop_assert_eq!(info.written_seq, model.records.last().map(|r| r.seq));
                prop_assert_eq!(info.durable_seq, info.written_seq);
                continue;
            }
            Op::Reopen => {
                drop(journal.take());
                model.pending.clear();
                0
            }
            Op::Tear(fraction) => {
                drop(journal.take());
                model.pending.clear();
                let path = segment_paths(dir.path()).pop().unwrap();
                let before = std::fs::read(&path).unwrap();
                let cut = before.len() as u64 * u64::from(fraction) / 1000;
                std::fs::OpenOptions::new().write(true).open(&path).unwrap().set_len(cut).unwrap();
                model.cut(cut, &before)
            }
            Op::Garbage(bytes) => {
                drop(journal.take());
                model.pending.clear();
                let path = segment_paths(dir.path()).pop().unwrap();
                let mut data = std::fs::read(&path).unwrap();
                data.extend_from_slice(&bytes);
                std::fs::write(&path, data).unwrap();
                model.garbage(&bytes)
            }
        };
        let (j, report) = Journal::open(dir.path(), options).unwrap();
        check(dir.path(), &model, &report, truncated)?;
        journal = Some(j);
    }
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn the_journal_matches_the_model(
        segment_bytes in prop_oneof![Just(0u64), 32u64..400, Just(1 << 20)],
        first_seq in prop_oneof![Just(1u64), 0u64..1_000_000],
        ops in prop::collection::vec(op(), 1..40),
    ) {
        run(segment_bytes, first_seq, ops)?;
    }
}
