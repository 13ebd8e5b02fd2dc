//! Client order id texts by their 64-bit hash, shared by every gateway and
//! kept across restarts.
//!
//! The engine knows a client order id only as a hash
//! ([`crate::fix::orders::client_id`]): a fixed-size command keeps the hot
//! path free of strings. A client, though, must get its own text back on
//! every report, from whichever gateway it asks and after the venue
//! restarts. So the text of each new id is written here before its order
//! is submitted: in memory for lookup, and appended to a file in the data
//! directory so that a restart reads it back.
//!
//! The hash depends on the text alone, not the account, so one map serves
//! every account and gateway.
//!
//! Bounds: the most recent [`MAX_NAMES`] texts stay in memory, oldest
//! evicted first, plus the texts of the orders that were live when the venue
//! started (they can live for weeks). The file is rewritten with just those
//! at every start, and again whenever it has grown to twice what memory
//! holds, so it stays bounded too.
//!
//! Durability: each text is written to the file (one `write`) before its
//! order is submitted, so a crash of the process never loses the text of an
//! order the journal kept. The file is not fsynced per text: a power loss
//! may lose the newest texts, and those orders are then reported under
//! `venue-<orderId>` (the order itself is in the journal, which is synced).
//!
//! File format: records of a little-endian `u16` length and that many bytes
//! of text. A torn last record (a crash mid-write) is ignored.

use std::collections::{HashMap, HashSet, VecDeque};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use venue_domain::{ClientOrderId, OrderId};

use crate::fix::orders::client_id;

/// Texts kept in memory besides those of orders live at the start: about
/// 100 bytes each with the map's overhead, 100 MB at most.
pub const MAX_NAMES: usize = 1 << 20;

/// The file's name in the data directory.
pub const FILE_NAME: &str = "client-order-ids";

/// The registry; see the module documentation.
pub struct ClientNames {
    inner: Mutex<Inner>,
    capacity: usize,
}

struct Inner {
    /// Texts of orders live at the start: never evicted.
    pinned: HashMap<u64, Arc<str>>,
    recent: HashMap<u64, Arc<str>>,
    /// `recent`'s keys, oldest first.
    order: VecDeque<u64>,
    file: Option<Appender>,
}

struct Appender {
    path: PathBuf,
    file: File,
    /// Records in the file, to know when to compact it.
    records: usize,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One record's bytes.
fn record(text: &str, out: &mut Vec<u8>) {
    let len = u16::try_from(text.len()).expect("checked by the caller");
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(text.as_bytes());
}

/// The texts a file holds, in the order written; a torn or non-UTF-8 tail
/// ends the read.
fn parse(bytes: &[u8]) -> Vec<&str> {
    let mut texts = Vec::new();
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + 2) {
        let len = usize::from(u16::from_le_bytes([head[0], head[1]]));
        let Some(Ok(text)) = bytes.get(at + 2..at + 2 + len).map(std::str::from_utf8) else { break };
        texts.push(text);
        at += 2 + len;
    }
    texts
}

impl ClientNames {
    /// A registry that keeps nothing on disk (tests, benchmarks).
    pub fn in_memory() -> Arc<ClientNames> {
        Arc::new(ClientNames::empty(MAX_NAMES))
    }

    fn empty(capacity: usize) -> ClientNames {
        ClientNames {
            inner: Mutex::new(Inner {
                pinned: HashMap::new(),
                recent: HashMap::new(),
                order: VecDeque::new(),
                file: None,
            }),
            capacity,
        }
    }

    /// Reads the file in `dir` back, keeps the texts `live` names (hashes of
    /// the client order ids of the orders the engine recovered) and the
    /// most recent others, and rewrites the file with just those.
    pub fn open(dir: &Path, live: &HashSet<u64>) -> io::Result<Arc<ClientNames>> {
        ClientNames::open_with(dir, live, MAX_NAMES).map(Arc::new)
    }

    fn open_with(dir: &Path, live: &HashSet<u64>, capacity: usize) -> io::Result<ClientNames> {
        let path = dir.join(FILE_NAME);
        let mut bytes = Vec::new();
        match File::open(&path) {
            Ok(mut file) => {
                file.read_to_end(&mut bytes)?;
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let names = ClientNames::empty(capacity);
        {
            let mut inner = lock(&names.inner);
            for text in parse(&bytes) {
                let id = client_id(text).0;
                if live.contains(&id) {
                    inner.pinned.insert(id, Arc::from(text));
                } else {
                    names.keep(&mut inner, id, Arc::from(text));
                }
            }
            inner.file = Some(Appender::rewrite(path, &inner)?);
        }
        Ok(names)
    }

    /// Adds to `recent`, evicting the oldest beyond capacity.
    fn keep(&self, inner: &mut Inner, id: u64, text: Arc<str>) {
        if inner.recent.insert(id, text).is_some() {
            return;
        }
        inner.order.push_back(id);
        if inner.order.len() > self.capacity
            && let Some(old) = inner.order.pop_front()
        {
            inner.recent.remove(&old);
        }
    }

    /// Records `text` as the text of `id` (written to the file before this
    /// returns). Call it before submitting the order that carries `id`.
    /// Texts longer than 65,535 bytes are kept in memory only.
    pub fn remember(&self, id: ClientOrderId, text: &str) {
        if !id.is_some() {
            return;
        }
        let mut inner = lock(&self.inner);
        let known = inner.pinned.get(&id.0).or_else(|| inner.recent.get(&id.0));
        if known.is_some_and(|t| **t == *text) {
            return;
        }
        // A different text under a known hash: the newer wins (the engine
        // cannot tell them apart either).
        inner.pinned.remove(&id.0);
        self.keep(&mut inner, id.0, Arc::from(text));
        let capacity = self.capacity;
        let Inner { file, .. } = &mut *inner;
        if let Some(appender) = file
            && text.len() <= usize::from(u16::MAX)
        {
            let mut bytes = Vec::with_capacity(2 + text.len());
            record(text, &mut bytes);
            if let Err(e) = appender.file.write_all(&bytes) {
                tracing::error!(error = %e, path = %appender.path.display(), "cannot write a client order id");
            }
            appender.records += 1;
        }
        if inner.file.as_ref().is_some_and(|a| a.records > 2 * capacity + inner.pinned.len()) {
            let path = inner.file.as_ref().map(|a| a.path.clone()).expect("checked above");
            match Appender::rewrite(path, &inner) {
                Ok(appender) => inner.file = Some(appender),
                Err(e) => tracing::error!(error = %e, "cannot compact the client order id file"),
            }
        }
    }

    /// The text of `id`, if known.
    pub fn get(&self, id: ClientOrderId) -> Option<Arc<str>> {
        if !id.is_some() {
            return None;
        }
        let inner = lock(&self.inner);
        inner.pinned.get(&id.0).or_else(|| inner.recent.get(&id.0)).cloned()
    }

    /// The text a client sees for `order`: its own, or `venue-<orderId>`
    /// for an order placed without one (or whose text was lost).
    pub fn name(&self, id: ClientOrderId, order: OrderId) -> String {
        self.get(id).map_or_else(|| format!("venue-{}", order.0), |text| text.to_string())
    }
}

impl Appender {
    /// Writes what `inner` holds to a new file, syncs it, and puts it in
    /// place of the old one.
    fn rewrite(path: PathBuf, inner: &Inner) -> io::Result<Appender> {
        let tmp = path.with_extension("tmp");
        let mut bytes = Vec::new();
        let mut records = 0;
        let recent = inner.order.iter().filter_map(|id| inner.recent.get(id));
        let mut pinned: Vec<&Arc<str>> = inner.pinned.values().collect();
        // The file's order decides eviction at the next start: pinned texts
        // (the oldest live orders) first, in a fixed order.
        pinned.sort_unstable();
        for text in pinned.into_iter().chain(recent) {
            if text.len() <= usize::from(u16::MAX) {
                record(text, &mut bytes);
                records += 1;
            }
        }
        let mut file = File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_data()?;
        drop(file);
        std::fs::rename(&tmp, &path)?;
        if let Some(dir) = path.parent() {
            File::open(dir)?.sync_all()?;
        }
        let file = OpenOptions::new().append(true).open(&path)?;
        Ok(Appender { path, file, records })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("venue-names-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temp dir");
        dir
    }

    fn text_of(names: &ClientNames, text: &str) -> Option<String> {
        names.get(client_id(text)).map(|t| t.to_string())
    }

    #[test]
    fn texts_survive_a_reopen_and_a_torn_tail_is_ignored() {
        let dir = dir("reopen");
        let names = ClientNames::open(&dir, &HashSet::new()).expect("opens");
        for text in ["a-1", "b/2", "ünïcode", ""] {
            names.remember(client_id(text), text);
        }
        names.remember(ClientOrderId::NONE, "never");
        assert_eq!(names.name(client_id("a-1"), OrderId(7)), "a-1");
        assert_eq!(names.name(ClientOrderId::NONE, OrderId(7)), "venue-7");
        drop(names);
        // A crash mid-write leaves half a record.
        let mut file = OpenOptions::new().append(true).open(dir.join(FILE_NAME)).expect("file");
        file.write_all(&[9, 0, b'x']).expect("write");
        drop(file);
        let names = ClientNames::open(&dir, &HashSet::new()).expect("reopens");
        assert_eq!(text_of(&names, "a-1").as_deref(), Some("a-1"));
        assert_eq!(text_of(&names, "b/2").as_deref(), Some("b/2"));
        assert_eq!(text_of(&names, "ünïcode").as_deref(), Some("ünïcode"));
        // The torn record is gone from the rewritten file; a new text after
        // it reads back.
        names.remember(client_id("after"), "after");
        drop(names);
        let names = ClientNames::open(&dir, &HashSet::new()).expect("reopens");
        assert_eq!(text_of(&names, "after").as_deref(), Some("after"));
        assert_eq!(text_of(&names, "a-1").as_deref(), Some("a-1"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn the_oldest_are_evicted_but_live_orders_keep_theirs() {
        let dir = dir("evict");
        let names = ClientNames::open_with(&dir, &HashSet::new(), 4).expect("opens");
        for i in 0..4 {
            let text = format!("old-{i}");
            names.remember(client_id(&text), &text);
        }
        drop(names);
        // old-0 belongs to an order still live at the next start.
        let live: HashSet<u64> = [client_id("old-0").0].into();
        let names = ClientNames::open_with(&dir, &live, 4).expect("reopens");
        for i in 0..40 {
            let text = format!("new-{i}");
            names.remember(client_id(&text), &text);
        }
        assert_eq!(text_of(&names, "old-0").as_deref(), Some("old-0"), "pinned");
        assert_eq!(text_of(&names, "old-1"), None, "evicted");
        assert_eq!(text_of(&names, "new-35"), None, "evicted");
        assert_eq!(text_of(&names, "new-36").as_deref(), Some("new-36"));
        assert_eq!(text_of(&names, "new-39").as_deref(), Some("new-39"));
        // The file was compacted as it grew: at most twice the capacity
        // plus the pinned text, and it reads back the same.
        let records = parse(&std::fs::read(dir.join(FILE_NAME)).expect("file")).len();
        assert!(records <= 2 * 4 + 1, "{records} records");
        drop(names);
        let names = ClientNames::open_with(&dir, &live, 4).expect("reopens");
        assert_eq!(text_of(&names, "new-39").as_deref(), Some("new-39"));
        assert_eq!(text_of(&names, "old-0").as_deref(), Some("old-0"));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
