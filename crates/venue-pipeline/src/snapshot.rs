//! Snapshot files: one engine state per file, written atomically.
//!
//! File `snapshot-{seq:020}.snap`: magic `b"VENUESNF"`, u32 format version
//! (1), u64 payload length, u32 CRC32C of the payload, then the payload (an
//! [`EngineState`] encoding). Written to a temporary name, synced, renamed,
//! and the directory synced, so a file with the final name is complete. A
//! file that fails its checks is skipped in favour of an older one.

use std::fs::{self, File};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use venue_engine::EngineState;

const MAGIC: &[u8; 8] = b"VENUESNF";
const VERSION: u32 = 1;
const HEADER: usize = 8 + 4 + 8 + 4;

/// The file name of the snapshot at `seq`.
pub fn file_name(seq: u64) -> String {
    format!("snapshot-{seq:020}.snap")
}

fn parse_name(name: &str) -> Option<u64> {
    name.strip_prefix("snapshot-")?.strip_suffix(".snap")?.parse().ok()
}

/// Writes `state` as the snapshot of its sequence number in `dir`; returns
/// the path and the file size.
pub fn write(dir: &Path, state: &EngineState) -> io::Result<(PathBuf, u64)> {
    fs::create_dir_all(dir)?;
    let mut payload = Vec::new();
    state.encode(&mut payload);
    let mut bytes = Vec::with_capacity(HEADER + payload.len());
    bytes.extend_from_slice(MAGIC);
    bytes.extend_from_slice(&VERSION.to_le_bytes());
    bytes.extend_from_slice(&(payload.len() as u64).to_le_bytes());
    bytes.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    bytes.extend_from_slice(&payload);
    let path = dir.join(file_name(state.seq));
    let tmp = dir.join(format!("{}.tmp", file_name(state.seq)));
    let mut file = File::create(&tmp)?;
    file.write_all(&bytes)?;
    file.sync_all()?;
    fs::rename(&tmp, &path)?;
    File::open(dir)?.sync_all()?;
    Ok((path, bytes.len() as u64))
}

/// Reads and checks one snapshot file.
pub fn read(path: &Path) -> Result<EngineState, String> {
    let bytes = fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    if bytes.len() < HEADER || &bytes[..8] != MAGIC {
        return Err(format!("{}: not a snapshot file", path.display()));
    }
    let version = u32::from_le_bytes(bytes[8..12].try_into().expect("4 bytes"));
    if version != VERSION {
        return Err(format!("{}: snapshot file version {version}", path.display()));
    }
    let len = u64::from_le_bytes(bytes[12..20].try_into().expect("8 bytes"));
    let crc = u32::from_le_bytes(bytes[20..24].try_into().expect("4 bytes"));
    let payload = &bytes[HEADER..];
    if payload.len() as u64 != len || crc32c::crc32c(payload) != crc {
        return Err(format!("{}: length or CRC mismatch", path.display()));
    }
    EngineState::decode(payload).map_err(|e| format!("{}: {e}", path.display()))
}

/// Snapshot files in `dir`, newest first.
pub fn list(dir: &Path) -> io::Result<Vec<(u64, PathBuf)>> {
    let mut found = Vec::new();
    match fs::read_dir(dir) {
        Ok(entries) => {
            for entry in entries {
                let entry = entry?;
                if let Some(seq) = entry.file_name().to_str().and_then(parse_name) {
                    found.push((seq, entry.path()));
                }
            }
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    found.sort_by_key(|entry| std::cmp::Reverse(entry.0));
    Ok(found)
}

/// Deletes all but the newest `keep` snapshots.
pub fn prune(dir: &Path, keep: usize) -> io::Result<()> {
    for (_, path) in list(dir)?.into_iter().skip(keep) {
        fs::remove_file(path)?;
    }
    Ok(())
}
