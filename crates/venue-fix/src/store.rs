//! Where a FIX session keeps what must survive a disconnect or a restart: the
//! next sequence number in each direction and every message it sent, so that
//! a counterparty's ResendRequest can be answered.
//!
//! [`SessionStore`] is the interface the [`crate::session::Session`] state
//! machine writes through; [`MemoryStore`] keeps everything in memory (tests,
//! simulators, sessions reset at every logon) and [`FileStore`] keeps it in a
//! directory per session:
//!
//! - `seqnums`: the next sender and the next target sequence number, two
//!   little-endian `u64`, replaced atomically (write `seqnums.tmp`, fsync,
//!   rename, fsync the directory) so that a crash leaves either the old or the
//!   new pair, never half of each;
//! - `messages`: an append-only log of the outbound messages, one record per
//!   message: `u64` MsgSeqNum, `u32` length (both little-endian), the message
//!   bytes. On open the file is scanned once to rebuild an in-memory index
//!   (sequence number → offset and length); a record that is cut short or
//!   whose bytes are not one complete FIX frame (a write torn by a crash) ends
//!   the log, and the file is truncated there.
//!
//! The next sender sequence number after a restart is the larger of what
//! `seqnums` says and one past the last logged message, so that a crash
//! between logging a message and updating `seqnums` never reuses a number.
//! For the same reason, setting the next sender number to one past the last
//! logged message (what the session does after every send) writes nothing:
//! the synced log already records it.
//!
//! Cost: with fsync on (the default) every [`SessionStore::store_outbound`]
//! or [`SessionStore::store_outbound_batch`] is one positioned `write` and
//! one `fdatasync`, however many messages the batch holds; every other
//! sequence number update (the target number after inbound messages)
//! replaces the small `seqnums` file with two fsyncs (file and directory),
//! once per [`SessionStore::hold`]/[`SessionStore::release`] span when the
//! session holds them (it does for the messages of one read). [`FileStore::with_fsync`] turns the syncs off for
//! simulators and tests, where a crash may lose the tail but never corrupts
//! what was written before it.

use std::collections::BTreeMap;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufReader, Read, Seek, SeekFrom, Write};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::frame::{FrameResult, Framer};

/// Persistence of one FIX session: sequence numbers and outbound messages.
///
/// The session calls [`SessionStore::store_outbound`] before it hands a
/// message to the socket and [`SessionStore::set_next_sender_seq`] right
/// after, and [`SessionStore::set_next_target_seq`] once an inbound message has
/// been processed.
pub trait SessionStore: Send {
    /// The MsgSeqNum of the next message the session sends.
    fn next_sender_seq(&self) -> u64;
    /// The MsgSeqNum the session expects on the next message it receives.
    fn next_target_seq(&self) -> u64;
    /// Records the next sender sequence number.
    fn set_next_sender_seq(&mut self, seq: u64) -> io::Result<()>;
    /// Records the next expected target sequence number.
    fn set_next_target_seq(&mut self, seq: u64) -> io::Result<()>;
    /// Keeps the complete encoded message sent with MsgSeqNum `seq`.
    fn store_outbound(&mut self, seq: u64, msg: &[u8]) -> io::Result<()>;
    /// Keeps several messages at once: `msgs` lists each one's MsgSeqNum
    /// and where its bytes are in `bytes`. All or none are kept. A gateway
    /// answering a burst of orders sends their reports together, and a
    /// store on disk writes (and syncs) them in one go instead of once per
    /// message; this default stores them one by one.
    fn store_outbound_batch(&mut self, msgs: &[(u64, Range<usize>)], bytes: &[u8]) -> io::Result<()> {
        for (seq, range) in msgs {
            self.store_outbound(*seq, &bytes[range.clone()])?;
        }
        Ok(())
    }
    /// From now until [`release`](Self::release), sequence number updates
    /// may be kept in memory only (they show in `next_*_seq` at once). The
    /// session holds them while it handles the messages of one read, none
    /// of whose effects leave before the read is handled, so that a burst
    /// of N messages costs one write of the numbers instead of N.
    fn hold(&mut self) {}
    /// Writes the held sequence numbers, if any changed, and stops holding.
    fn release(&mut self) -> io::Result<()> {
        Ok(())
    }
    /// The stored outbound messages with `from <= seq <= to`, ascending by
    /// sequence number. Numbers with nothing stored are simply absent.
    fn outbound(&self, from: u64, to: u64) -> io::Result<Vec<(u64, Vec<u8>)>>;
    /// Forgets every stored message and sets both sequence numbers to 1.
    fn reset(&mut self) -> io::Result<()>;
}

/// A [`SessionStore`] in memory: nothing survives the process.
#[derive(Debug, Clone)]
pub struct MemoryStore {
    next_sender: u64,
    next_target: u64,
    messages: BTreeMap<u64, Vec<u8>>,
}

/// `MemoryStore` also names a fresh, empty store as a value, so that
/// `Box::new(MemoryStore)` reads as it would for a unit struct.
#[allow(non_upper_case_globals)]
pub const MemoryStore: MemoryStore = MemoryStore::new();

impl MemoryStore {
    /// An empty store with both sequence numbers at 1.
    pub const fn new() -> MemoryStore {
        MemoryStore { next_sender: 1, next_target: 1, messages: BTreeMap::new() }
    }
}

impl Default for MemoryStore {
    fn default() -> MemoryStore {
        MemoryStore::new()
    }
}

impl SessionStore for MemoryStore {
    fn next_sender_seq(&self) -> u64 {
        self.next_sender
    }

    fn next_target_seq(&self) -> u64 {
        self.next_target
    }

    fn set_next_sender_seq(&mut self, seq: u64) -> io::Result<()> {
        self.next_sender = seq;
        Ok(())
    }

    fn set_next_target_seq(&mut self, seq: u64) -> io::Result<()> {
        self.next_target = seq;
        Ok(())
    }

    fn store_outbound(&mut self, seq: u64, msg: &[u8]) -> io::Result<()> {
        self.messages.insert(seq, msg.to_vec());
        Ok(())
    }

    fn outbound(&self, from: u64, to: u64) -> io::Result<Vec<(u64, Vec<u8>)>> {
        if from > to {
            return Ok(Vec::new());
        }
        Ok(self.messages.range(from..=to).map(|(&seq, msg)| (seq, msg.clone())).collect())
    }

    fn reset(&mut self) -> io::Result<()> {
        *self = MemoryStore::new();
        Ok(())
    }
}

const SEQNUMS: &str = "seqnums";
const SEQNUMS_TMP: &str = "seqnums.tmp";
const MESSAGES: &str = "messages";
/// `u64` sequence number + `u32` length.
const RECORD_HEADER_LEN: u64 = 12;
/// A stored record longer than this is not a record but a torn or corrupt
/// length: FIX messages are bounded far below it.
const MAX_RECORD_LEN: u32 = 64 * 1024 * 1024;

/// Where one stored message sits in the `messages` file.
#[derive(Clone, Copy, Debug)]
struct Extent {
    offset: u64,
    len: u32,
}

/// A [`SessionStore`] in a directory; see the module documentation for the
/// files and their guarantees. One `FileStore` per session and directory:
/// two stores over the same directory would interleave their writes.
#[derive(Debug)]
pub struct FileStore {
    dir: PathBuf,
    messages: File,
    /// Length of the valid part of `messages`, where the next record goes.
    end: u64,
    index: BTreeMap<u64, Extent>,
    next_sender: u64,
    next_target: u64,
    fsync: bool,
    /// Without fsync, the `seqnums` file kept open and rewritten in place:
    /// one 16-byte write per update instead of create, write and rename.
    seqnums_in_place: Option<File>,
    /// Sequence number updates are held in memory (see
    /// [`SessionStore::hold`]).
    holding: bool,
    /// A held update has not been written yet.
    held_dirty: bool,
    /// Records being appended, reused so an append allocates nothing.
    records: Vec<u8>,
}

impl FileStore {
    /// Opens (creating if needed) the store in `dir`: reads the sequence
    /// numbers, rebuilds the message index and truncates a torn last record.
    /// Fails on an unreadable or malformed `seqnums` file rather than guessing
    /// sequence numbers.
    pub fn open(dir: &Path) -> io::Result<FileStore> {
        fs::create_dir_all(dir)?;
        let (mut next_sender, next_target) = match fs::read(dir.join(SEQNUMS)) {
            Ok(bytes) => decode_seqnums(&bytes)?,
            Err(e) if e.kind() == io::ErrorKind::NotFound => (1, 1),
            Err(e) => return Err(e),
        };
        // A leftover temporary file is a replacement that never happened.
        match fs::remove_file(dir.join(SEQNUMS_TMP)) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        let messages = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(dir.join(MESSAGES))?;
        let (index, end) = scan_messages(&messages)?;
        if messages.metadata()?.len() != end {
            messages.set_len(end)?;
            messages.sync_all()?;
        }
        if let Some((&last, _)) = index.last_key_value() {
            next_sender = next_sender.max(last.saturating_add(1));
        }
        Ok(FileStore {
            dir: dir.to_path_buf(),
            messages,
            end,
            index,
            next_sender,
            next_target,
            fsync: true,
            seqnums_in_place: None,
            holding: false,
            held_dirty: false,
            records: Vec::new(),
        })
    }

    /// Turns fsync on (the default) or off. Off, a crash of the machine (not
    /// of the process) may lose the last updates; records are still written
    /// whole and a torn tail is still cut on open.
    pub fn with_fsync(mut self, fsync: bool) -> FileStore {
        self.fsync = fsync;
        self.seqnums_in_place = None;
        self
    }

    /// The directory of this store.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Number of outbound messages stored.
    pub fn stored_messages(&self) -> usize {
        self.index.len()
    }

    fn write_seqnums(&mut self, next_sender: u64, next_target: u64) -> io::Result<()> {
        if self.holding {
            self.next_sender = next_sender;
            self.next_target = next_target;
            self.held_dirty = true;
            return Ok(());
        }
        let mut bytes = [0u8; 16];
        bytes[..8].copy_from_slice(&next_sender.to_le_bytes());
        bytes[8..].copy_from_slice(&next_target.to_le_bytes());
        #[cfg(unix)]
        if !self.fsync {
            // Without fsync there is no power-cut guarantee to keep, and a
            // 16-byte write at offset 0 never tears on a process crash.
            use std::os::unix::fs::FileExt;
            if self.seqnums_in_place.is_none() {
                self.seqnums_in_place = Some(
                    OpenOptions::new()
                        .write(true)
                        .create(true)
                        .truncate(false)
                        .open(self.dir.join(SEQNUMS))?,
                );
            }
            if let Some(file) = &self.seqnums_in_place {
                file.write_all_at(&bytes, 0)?;
            }
            self.next_sender = next_sender;
            self.next_target = next_target;
            return Ok(());
        }
        let tmp = self.dir.join(SEQNUMS_TMP);
        {
            let mut file = File::create(&tmp)?;
            file.write_all(&bytes)?;
            if self.fsync {
                file.sync_all()?;
            }
        }
        fs::rename(&tmp, self.dir.join(SEQNUMS))?;
        if self.fsync {
            sync_dir(&self.dir)?;
        }
        self.next_sender = next_sender;
        self.next_target = next_target;
        Ok(())
    }
}

impl FileStore {
    /// Appends one record per message (built in `records`) with one write
    /// at the end of the valid log, syncs once if syncing, then indexes
    /// them. Nothing is indexed unless everything was written.
    fn append_records(
        &mut self,
        msgs: &[(u64, Range<usize>)],
        bytes: &[u8],
        records: &mut Vec<u8>,
    ) -> io::Result<()> {
        for (seq, range) in msgs {
            let msg = bytes
                .get(range.clone())
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message range out of bounds"))?;
            let len = u32::try_from(msg.len())
                .ok()
                .filter(|&len| len > 0 && len <= MAX_RECORD_LEN)
                .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "message size out of range"))?;
            if *seq == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidInput, "sequence number 0"));
            }
            records.extend_from_slice(&seq.to_le_bytes());
            records.extend_from_slice(&len.to_le_bytes());
            records.extend_from_slice(msg);
        }
        if records.is_empty() {
            return Ok(());
        }
        if let Err(e) = write_at(&self.messages, records, self.end) {
            // Leave no partial record behind for the next append to follow.
            let _ = self.messages.set_len(self.end);
            return Err(e);
        }
        if self.fsync {
            self.messages.sync_data()?;
        }
        let mut offset = self.end;
        for (seq, range) in msgs {
            let len = range.len() as u32;
            self.index.insert(*seq, Extent { offset: offset + RECORD_HEADER_LEN, len });
            offset += RECORD_HEADER_LEN + u64::from(len);
        }
        self.end = offset;
        Ok(())
    }
}

/// Writes all of `bytes` at `offset`: one positioned write on Unix (no
/// seek first).
#[cfg(unix)]
fn write_at(file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    use std::os::unix::fs::FileExt;
    file.write_all_at(bytes, offset)
}

#[cfg(not(unix))]
fn write_at(mut file: &File, bytes: &[u8], offset: u64) -> io::Result<()> {
    file.seek(SeekFrom::Start(offset))?;
    file.write_all(bytes)
}

#[cfg(unix)]
fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(not(unix))]
fn sync_dir(_dir: &Path) -> io::Result<()> {
    Ok(())
}

fn decode_seqnums(bytes: &[u8]) -> io::Result<(u64, u64)> {
    let malformed = || io::Error::new(io::ErrorKind::InvalidData, "seqnums file is not two u64");
    let bytes: &[u8; 16] = bytes.try_into().map_err(|_| malformed())?;
    let sender = u64::from_le_bytes(bytes[..8].try_into().map_err(|_| malformed())?);
    let target = u64::from_le_bytes(bytes[8..].try_into().map_err(|_| malformed())?);
    if sender == 0 || target == 0 {
        return Err(malformed());
    }
    Ok((sender, target))
}

/// Reads the message log from the start; returns the index and the length of
/// its valid prefix (everything after is a torn tail).
fn scan_messages(file: &File) -> io::Result<(BTreeMap<u64, Extent>, u64)> {
    let framer = Framer::new(MAX_RECORD_LEN as usize);
    let mut reader = BufReader::with_capacity(64 * 1024, file);
    reader.seek(SeekFrom::Start(0))?;
    let mut index = BTreeMap::new();
    let mut end = 0u64;
    let mut header = [0u8; RECORD_HEADER_LEN as usize];
    let mut body = Vec::new();
    loop {
        if !read_full(&mut reader, &mut header)? {
            break;
        }
        let seq = u64::from_le_bytes(header[..8].try_into().expect("8 bytes"));
        let len = u32::from_le_bytes(header[8..].try_into().expect("4 bytes"));
        if seq == 0 || len == 0 || len > MAX_RECORD_LEN {
            break;
        }
        body.resize(len as usize, 0);
        if !read_full(&mut reader, &mut body)? {
            break;
        }
        // Every stored message is one complete frame: anything else (zeros
        // from a half-written extent, a cut) is where the log ends.
        if framer.next_frame(&body) != (FrameResult::Complete { len: body.len() }) {
            break;
        }
        index.insert(seq, Extent { offset: end + RECORD_HEADER_LEN, len });
        end += RECORD_HEADER_LEN + u64::from(len);
    }
    Ok((index, end))
}

/// Fills `buf` completely; `false` if the input ended first.
fn read_full(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<bool> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => return Ok(false),
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(true)
}

impl SessionStore for FileStore {
    fn next_sender_seq(&self) -> u64 {
        self.next_sender
    }

    fn next_target_seq(&self) -> u64 {
        self.next_target
    }

    fn set_next_sender_seq(&mut self, seq: u64) -> io::Result<()> {
        // One past the last logged message is what `open` derives anyway:
        // the log (already synced) is the record, no file to replace.
        if self.index.last_key_value().is_some_and(|(&last, _)| last.checked_add(1) == Some(seq)) {
            self.next_sender = seq;
            return Ok(());
        }
        self.write_seqnums(seq, self.next_target)
    }

    fn set_next_target_seq(&mut self, seq: u64) -> io::Result<()> {
        self.write_seqnums(self.next_sender, seq)
    }

    fn store_outbound(&mut self, seq: u64, msg: &[u8]) -> io::Result<()> {
        self.store_outbound_batch(&[(seq, 0..msg.len())], msg)
    }

    fn store_outbound_batch(&mut self, msgs: &[(u64, Range<usize>)], bytes: &[u8]) -> io::Result<()> {
        let mut records = std::mem::take(&mut self.records);
        records.clear();
        let result = self.append_records(msgs, bytes, &mut records);
        self.records = records;
        result
    }

    fn hold(&mut self) {
        self.holding = true;
    }

    fn release(&mut self) -> io::Result<()> {
        self.holding = false;
        if std::mem::take(&mut self.held_dirty) {
            self.write_seqnums(self.next_sender, self.next_target)?;
        }
        Ok(())
    }

    fn outbound(&self, from: u64, to: u64) -> io::Result<Vec<(u64, Vec<u8>)>> {
        if from > to {
            return Ok(Vec::new());
        }
        let mut file = &self.messages;
        let mut out = Vec::new();
        for (&seq, extent) in self.index.range(from..=to) {
            let mut msg = vec![0u8; extent.len as usize];
            file.seek(SeekFrom::Start(extent.offset))?;
            file.read_exact(&mut msg)?;
            out.push((seq, msg));
        }
        Ok(out)
    }

    fn reset(&mut self) -> io::Result<()> {
        // Messages first: a crash in between leaves the old sequence numbers
        // with no messages, which is consistent (the reset simply did not
        // happen), never new numbers with old messages.
        self.messages.set_len(0)?;
        if self.fsync {
            self.messages.sync_all()?;
        }
        self.index.clear();
        self.end = 0;
        self.write_seqnums(1, 1)
    }
}
