//! Helpers shared by the journal's integration tests: throwaway directories,
//! deterministic payloads and whole-journal reads.

#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use venue_journal::{Durability, JournalOptions, Record, TornTail, read};

/// A unique directory under the system temp dir, removed on drop.
pub struct TempDir(PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let path = std::env::temp_dir()
            .join(format!("venue-journal-test-{name}-{}-{n}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        TempDir(path)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// Options without fsync and with small segments.
pub fn fast(segment_bytes: u64) -> JournalOptions {
    JournalOptions { durability: Durability::Never, segment_bytes, ..JournalOptions::default() }
}

/// A small deterministic pseudo-random generator (xorshift64*).
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}

/// The record a test appends for `seq`: payload of pseudo-random length and bytes.
pub fn record(seq: u64, max_len: u64) -> Record {
    let mut rng = Rng::new(seq);
    let len = rng.below(max_len + 1) as usize;
    Record { seq, time: seq * 1_000 + 7, kind: (seq % 5) as u16, payload: rng.bytes(len) }
}

/// Every record of the journal from `from_seq`, and the torn tail the reader stopped at.
pub fn read_all(dir: &Path, from_seq: u64) -> (Vec<Record>, Option<TornTail>) {
    let mut reader = read(dir, from_seq).expect("read");
    let mut records = Vec::new();
    while let Some(r) = reader.next().expect("next") {
        records.push(r.to_record());
    }
    (records, reader.torn_tail().cloned())
}

/// The segment files of `dir`, in sequence order.
pub fn segment_paths(dir: &Path) -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(dir)
        .expect("read_dir")
        .map(|e| e.expect("entry").path())
        .filter(|p| p.extension().is_some_and(|e| e == "journal"))
        .collect();
    paths.sort();
    paths
}

/// Lengths of all segment files, in order.
pub fn segment_lens(dir: &Path) -> Vec<u64> {
    segment_paths(dir).iter().map(|p| std::fs::metadata(p).expect("metadata").len()).collect()
}
