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
//! Bounds: texts are kept in two generations of at most [`MAX_NAMES`]
//! each, plus the texts of the orders that were live when the venue started
//! (they can live for weeks). New texts go to the current generation and its
//! file; when it is full, it becomes the previous one (its file renamed) and
//! the generation before is dropped. A rotation is a rename and a new file
//! holding the pinned texts, never a rewrite of everything, so no order
//! waits for one.
//!
//! Durability: each text is written to the file (one `write`) before its
//! order is submitted, so a crash of the process never loses the text of an
//! order the journal kept. The file is not fsynced per text: a power loss
//! may lose the newest texts, and those orders are then reported under
//! `venue-<orderId>` (the order itself is in the journal, which is synced).
//!
//! File format: records of a little-endian `u16` length and that many bytes
//! of text. A torn last record (a crash mid-write) is cut off at the start.

use std::collections::{HashMap, HashSet};
use std::fs::{File, OpenOptions};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use venue_domain::{ClientOrderId, OrderId};

use crate::fix::orders::client_id;

/// Texts per generation: about 100 bytes each with the map's overhead, so
/// the two generations take 200 MB at most.
pub const MAX_NAMES: usize = 1 << 20;

/// The current generation's file in the data directory.
pub const FILE_NAME: &str = "client-order-ids";
/// The previous generation's file.
pub const OLD_FILE_NAME: &str = "client-order-ids.old";

/// The registry; see the module documentation.
pub struct ClientNames {
    inner: Mutex<Inner>,
    capacity: usize,
}

#[derive(Default)]
struct Inner {
    /// Texts of orders live at the start: kept in every generation.
    pinned: HashMap<u64, Arc<str>>,
    current: HashMap<u64, Arc<str>>,
    previous: HashMap<u64, Arc<str>>,
    file: Option<Appender>,
}

impl Inner {
    fn find(&self, id: u64) -> Option<&Arc<str>> {
        self.pinned.get(&id).or_else(|| self.current.get(&id)).or_else(|| self.previous.get(&id))
    }
}

struct Appender {
    dir: PathBuf,
    file: File,
    /// One record's bytes, reused.
    buf: Vec<u8>,
}

fn lock(m: &Mutex<Inner>) -> MutexGuard<'_, Inner> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// One record's bytes; nothing for a text too long to record.
fn record(text: &str, out: &mut Vec<u8>) {
    if let Ok(len) = u16::try_from(text.len()) {
        out.extend_from_slice(&len.to_le_bytes());
        out.extend_from_slice(text.as_bytes());
    }
}

/// The records of pinned texts, in a fixed order (a map's is not).
fn pinned_records<'a>(texts: impl Iterator<Item = &'a Arc<str>>) -> Vec<u8> {
    let mut texts: Vec<&Arc<str>> = texts.collect();
    texts.sort_unstable();
    let mut bytes = Vec::new();
    for text in texts {
        record(text, &mut bytes);
    }
    bytes
}

/// The texts a file holds, in the order written, and the length of the
/// part that parses; a torn or non-UTF-8 tail ends the read.
fn parse(bytes: &[u8]) -> (Vec<&str>, usize) {
    let mut texts = Vec::new();
    let mut at = 0;
    while let Some(head) = bytes.get(at..at + 2) {
        let len = usize::from(u16::from_le_bytes([head[0], head[1]]));
        let Some(Ok(text)) = bytes.get(at + 2..at + 2 + len).map(std::str::from_utf8) else { break };
        texts.push(text);
        at += 2 + len;
    }
    (texts, at)
}

fn read(path: &Path) -> io::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    match File::open(path) {
        Ok(mut file) => {
            file.read_to_end(&mut bytes)?;
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    Ok(bytes)
}

impl ClientNames {
    /// A registry that keeps nothing on disk (tests, benchmarks).
    pub fn in_memory() -> Arc<ClientNames> {
        Arc::new(ClientNames { inner: Mutex::default(), capacity: MAX_NAMES })
    }

    /// Reads the files in `dir` back, pinning the texts `live` names
    /// (hashes of the client order ids of the orders the engine
    /// recovered), and cuts a torn tail off the current file.
    pub fn open(dir: &Path, live: &HashSet<u64>) -> io::Result<Arc<ClientNames>> {
        ClientNames::open_with(dir, live, MAX_NAMES).map(Arc::new)
    }

    fn open_with(dir: &Path, live: &HashSet<u64>, capacity: usize) -> io::Result<ClientNames> {
        let mut inner = Inner::default();
        let old = read(&dir.join(OLD_FILE_NAME))?;
        let now = read(&dir.join(FILE_NAME))?;
        for text in parse(&old).0 {
            let id = client_id(text).0;
            let generation = if live.contains(&id) { &mut inner.pinned } else { &mut inner.previous };
            generation.insert(id, Arc::from(text));
        }
        // Pinned texts only the previous generation's file holds would go
        // with it at the next rotation: the current file gets them again.
        let mut carry: HashSet<u64> = inner.pinned.keys().copied().collect();
        let (now_texts, valid) = parse(&now);
        for text in now_texts {
            let id = client_id(text).0;
            let generation = if live.contains(&id) { &mut inner.pinned } else { &mut inner.current };
            generation.insert(id, Arc::from(text));
            carry.remove(&id);
        }
        let mut file = OpenOptions::new().create(true).append(true).open(dir.join(FILE_NAME))?;
        if valid < now.len() {
            file.set_len(valid as u64)?;
        }
        file.write_all(&pinned_records(carry.iter().filter_map(|id| inner.pinned.get(id))))?;
        inner.file = Some(Appender { dir: dir.to_owned(), file, buf: Vec::new() });
        Ok(ClientNames { inner: Mutex::new(inner), capacity })
    }

    /// Records `text` as the text of `id` (written to the file before this
    /// returns). Call it before submitting the order that carries `id`.
    /// Texts longer than 65,535 bytes are kept in memory only.
    pub fn remember(&self, id: ClientOrderId, text: impl AsRef<str> + Into<Arc<str>>) {
        if !id.is_some() {
            return;
        }
        let mut inner = lock(&self.inner);
        let inner = &mut *inner;
        let known = inner.pinned.get(&id.0).or_else(|| inner.current.get(&id.0));
        if known.is_some_and(|t| **t == *text.as_ref()) {
            return;
        }
        // A different text under a known hash: the newer wins (the engine
        // cannot tell them apart either). A text only the previous
        // generation holds is renewed, so that it outlives the rotation.
        inner.pinned.remove(&id.0);
        if let Some(appender) = &mut inner.file {
            appender.buf.clear();
            record(text.as_ref(), &mut appender.buf);
            if let Err(e) = appender.file.write_all(&appender.buf) {
                tracing::error!(error = %e, dir = %appender.dir.display(), "cannot write a client order id");
            }
        }
        inner.current.insert(id.0, text.into());
        if inner.current.len() >= self.capacity {
            self.rotate(inner);
        }
    }

    /// The current generation becomes the previous one; the one before it
    /// is forgotten.
    fn rotate(&self, inner: &mut Inner) {
        inner.previous = std::mem::take(&mut inner.current);
        let Some(appender) = &mut inner.file else { return };
        let rotated = std::fs::rename(appender.dir.join(FILE_NAME), appender.dir.join(OLD_FILE_NAME))
            .and_then(|()| {
                OpenOptions::new().create(true).truncate(true).write(true).open(appender.dir.join(FILE_NAME))
            })
            .and_then(|mut file| {
                file.write_all(&pinned_records(inner.pinned.values()))?;
                Ok(file)
            });
        match rotated {
            Ok(file) => appender.file = file,
            Err(e) => {
                tracing::error!(error = %e, dir = %appender.dir.display(), "cannot rotate the client order id file")
            }
        }
    }

    /// The text of `id`, if known.
    pub fn get(&self, id: ClientOrderId) -> Option<Arc<str>> {
        if !id.is_some() {
            return None;
        }
        lock(&self.inner).find(id.0).cloned()
    }

    /// The text a client sees for `order`: its own, or `venue-<orderId>`
    /// for an order placed without one (or whose text was lost).
    pub fn name(&self, id: ClientOrderId, order: OrderId) -> String {
        self.get(id).map_or_else(|| format!("venue-{}", order.0), |text| text.to_string())
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
    fn texts_survive_a_reopen_and_a_torn_tail_is_cut() {
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
        // The torn record was cut off: a text written after it reads back.
        names.remember(client_id("after"), "after");
        drop(names);
        let names = ClientNames::open(&dir, &HashSet::new()).expect("reopens");
        assert_eq!(text_of(&names, "after").as_deref(), Some("after"));
        assert_eq!(text_of(&names, "a-1").as_deref(), Some("a-1"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn old_generations_go_but_live_orders_keep_their_texts() {
        let dir = dir("evict");
        let names = ClientNames::open_with(&dir, &HashSet::new(), 4).expect("opens");
        for i in 0..3 {
            let text = format!("old-{i}");
            names.remember(client_id(&text), text.as_str());
        }
        drop(names);
        // old-0 belongs to an order still live at the next start.
        let live: HashSet<u64> = [client_id("old-0").0].into();
        let names = ClientNames::open_with(&dir, &live, 4).expect("reopens");
        for i in 0..8 {
            let text = format!("new-{i}");
            names.remember(client_id(&text), text.as_str());
        }
        // Generations of four: rotated at new-1 (old-1, old-2, new-0,
        // new-1) and at new-5 (new-2..5), which dropped the first.
        assert_eq!(text_of(&names, "old-0").as_deref(), Some("old-0"), "pinned");
        assert_eq!(text_of(&names, "old-1"), None, "forgotten");
        assert_eq!(text_of(&names, "new-1"), None, "forgotten");
        assert_eq!(text_of(&names, "new-2").as_deref(), Some("new-2"));
        assert_eq!(text_of(&names, "new-7").as_deref(), Some("new-7"));
        // Both files stay small and read back the same.
        let records = |name: &str| parse(&std::fs::read(dir.join(name)).expect("file")).0.len();
        assert!(records(FILE_NAME) <= 4 + 1 && records(OLD_FILE_NAME) <= 4 + 1);
        drop(names);
        let names = ClientNames::open_with(&dir, &live, 4).expect("reopens");
        assert_eq!(text_of(&names, "new-2").as_deref(), Some("new-2"));
        assert_eq!(text_of(&names, "new-7").as_deref(), Some("new-7"));
        assert_eq!(text_of(&names, "old-0").as_deref(), Some("old-0"));
        assert_eq!(text_of(&names, "new-1"), None);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
