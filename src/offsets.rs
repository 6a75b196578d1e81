//! Consumer offset stores (lwp.md §7).
//!
//! An offset is the record-boundary position P (lwp.md §4): the byte offset of the next record to
//! read. Stores only persist what the consumer hands them; the consumer only ever hands them P.
//!
//! - [`FileOffsetStore`]: byte-compatible with the official Rust client's lock-file store, in both
//!   directions (same directory, file names, contents, locking and rename protocol).
//! - [`MemoryOffsetStore`]: a map in memory (lost when the process ends).
//! - [`CallbackOffsetStore`]: two user closures (the C ABI adapts C callbacks to it).
//!
//! The value [`END_SENTINEL`] (u64::MAX) is the official Rust consumer's "start at the end"
//! sentinel; stores return it unchanged and the consumer reads it as "seek to end".

use std::collections::HashMap;
use std::fs::{self, File, OpenOptions};
use std::io::Write;
use std::os::unix::io::AsRawFd;
use std::path::{Path, PathBuf};

use parking_lot::Mutex;

use crate::error::{Error, ErrorCode, Result};
use crate::wire::consumer_id;

/// The stored value that means "start at the end of the topic" (the official Rust consumer's
/// sentinel).
pub const END_SENTINEL: u64 = u64::MAX;

/// Where a consumer keeps its committed positions, keyed by topic id.
///
/// Implementations must be thread-safe; `save` is called from the thread that calls the consumer's
/// `poll`, `commit` or `close`.
pub trait OffsetStore: Send + Sync {
    /// The committed offset of `topic_id`, or `None` if nothing was committed yet.
    fn load(&self, topic_id: u32) -> Result<Option<u64>>;
    /// Durably records `offset` as the committed offset of `topic_id`.
    fn save(&self, topic_id: u32, offset: u64) -> Result<()>;
}

/// An in-memory store (per process; lost on exit).
#[derive(Debug, Default)]
pub struct MemoryOffsetStore {
    map: Mutex<HashMap<u32, u64>>,
}

impl MemoryOffsetStore {
    /// An empty store.
    pub fn new() -> MemoryOffsetStore {
        MemoryOffsetStore::default()
    }
}

impl OffsetStore for MemoryOffsetStore {
    fn load(&self, topic_id: u32) -> Result<Option<u64>> {
        Ok(self.map.lock().get(&topic_id).copied())
    }
    fn save(&self, topic_id: u32, offset: u64) -> Result<()> {
        self.map.lock().insert(topic_id, offset);
        Ok(())
    }
}

/// A store that remembers nothing (`offset.store=none`): `load` is always `None`, `save` a no-op.
#[derive(Debug, Default, Clone, Copy)]
pub struct NoOffsetStore;

impl OffsetStore for NoOffsetStore {
    fn load(&self, _topic_id: u32) -> Result<Option<u64>> {
        Ok(None)
    }
    fn save(&self, _topic_id: u32, _offset: u64) -> Result<()> {
        Ok(())
    }
}

/// The load closure of a [`CallbackOffsetStore`].
pub type LoadFn = Box<dyn Fn(u32) -> Result<Option<u64>> + Send + Sync>;
/// The save closure of a [`CallbackOffsetStore`].
pub type SaveFn = Box<dyn Fn(u32, u64) -> Result<()> + Send + Sync>;

/// A user-defined store made of two closures.
pub struct CallbackOffsetStore {
    load: LoadFn,
    save: SaveFn,
}

impl CallbackOffsetStore {
    /// Wraps `load` and `save`.
    pub fn new(load: LoadFn, save: SaveFn) -> CallbackOffsetStore {
        CallbackOffsetStore { load, save }
    }
}

impl std::fmt::Debug for CallbackOffsetStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("CallbackOffsetStore")
    }
}

impl OffsetStore for CallbackOffsetStore {
    fn load(&self, topic_id: u32) -> Result<Option<u64>> {
        (self.load)(topic_id)
    }
    fn save(&self, topic_id: u32, offset: u64) -> Result<()> {
        (self.save)(topic_id, offset)
    }
}

/// One offset file found in a store directory (see [`FileOffsetStore::list`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct StoredOffset {
    /// The topic id from the file name.
    pub topic_id: u32,
    /// The consumer id from the file name.
    pub consumer_id: u64,
    /// The file's contents.
    pub offset: u64,
}

/// The official Rust client's lock-file store (lwp.md §7), byte for byte.
///
/// Files live in `<base_dir>/<consumer_name>/`: `topic-<topic_id>-consumer-<consumer_id>.offset`
/// holds the offset in decimal followed by `\n`; `.lock` is the flock target; `.offset.tmp` the
/// file renamed over `.offset`. The consumer id is SipHash-1-3 of the name ([`consumer_id()`]).
#[derive(Debug)]
pub struct FileOffsetStore {
    base_dir: PathBuf,
    consumer_name: String,
    dir: PathBuf,
    consumer_id: u64,
}

/// Checks a consumer name: one path component, never empty, `.`, `..`, or containing `/`, `\`
/// or NUL.
pub fn validate_consumer_name(name: &str) -> Result<()> {
    let bad = name.is_empty() || name == "." || name == ".." || name.contains(['/', '\\', '\0']);
    if bad {
        return Err(Error::invalid_arg(format!(
            "invalid consumer name {name:?}: it must be one non-empty path component (not \".\" or \"..\", no '/', '\\\\' or NUL)"
        )));
    }
    Ok(())
}

fn io_err(what: &str, path: &Path, e: std::io::Error) -> Error {
    Error::new(ErrorCode::Io, format!("{what} {}: {e}", path.display()))
}

/// Parses an offset file name per lwp.md §7: strip `.offset`, split on `-`; part 0 `topic`, part 2
/// `consumer`, part 1 a u32, part 3 a u64. Returns `(topic_id, consumer_id)`.
pub fn parse_offset_file_name(name: &str) -> Option<(u32, u64)> {
    let stem = name.strip_suffix(".offset")?;
    let parts: Vec<&str> = stem.split('-').collect();
    if parts.len() != 4 || parts[0] != "topic" || parts[2] != "consumer" {
        return None;
    }
    Some((parts[1].parse().ok()?, parts[3].parse().ok()?))
}

impl FileOffsetStore {
    /// A store for `consumer_name` under `base_dir`. The directory is created on the first save.
    pub fn new(base_dir: impl Into<PathBuf>, consumer_name: &str) -> Result<FileOffsetStore> {
        validate_consumer_name(consumer_name)?;
        let base_dir = base_dir.into();
        let dir = base_dir.join(consumer_name);
        Ok(FileOffsetStore {
            base_dir,
            consumer_name: consumer_name.to_string(),
            dir,
            consumer_id: consumer_id(consumer_name),
        })
    }

    /// `<base_dir>/<consumer_name>`.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// The SipHash-1-3 consumer id of the name.
    pub fn consumer_id(&self) -> u64 {
        self.consumer_id
    }

    fn stem(&self, topic_id: u32) -> String {
        format!("topic-{topic_id}-consumer-{}", self.consumer_id)
    }

    /// Path of the offset file of `topic_id`.
    pub fn offset_path(&self, topic_id: u32) -> PathBuf {
        self.dir.join(format!("{}.offset", self.stem(topic_id)))
    }

    /// Path of the lock file of `topic_id`.
    pub fn lock_path(&self, topic_id: u32) -> PathBuf {
        self.dir.join(format!("{}.lock", self.stem(topic_id)))
    }

    /// Path of the temporary file of `topic_id`.
    pub fn tmp_path(&self, topic_id: u32) -> PathBuf {
        self.dir.join(format!("{}.offset.tmp", self.stem(topic_id)))
    }

    /// Every offset file in this consumer's directory (any consumer id, as the official client's
    /// `load_all` does); other files are ignored.
    pub fn list(&self) -> Result<Vec<StoredOffset>> {
        let rd = match fs::read_dir(&self.dir) {
            Ok(rd) => rd,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_err("cannot list", &self.dir, e)),
        };
        let mut out = Vec::new();
        for entry in rd {
            let entry = entry.map_err(|e| io_err("cannot list", &self.dir, e))?;
            let name = entry.file_name();
            let Some((topic_id, consumer_id)) = name.to_str().and_then(parse_offset_file_name) else { continue };
            if let Some(offset) = read_offset_file(&entry.path())? {
                out.push(StoredOffset { topic_id, consumer_id, offset });
            }
        }
        out.sort_by_key(|s| (s.topic_id, s.consumer_id));
        Ok(out)
    }

    /// If the official Python client's JSON store holds an offset for this consumer and topic in
    /// `base_dir`, a hint error explaining the incompatibility (liblnc never reads or writes it).
    fn python_store_hint(&self, topic_id: u32) -> Option<Error> {
        let prefix = format!("{}_", self.consumer_name.replace(['/', '\\'], "_"));
        for entry in fs::read_dir(&self.base_dir).ok()?.flatten() {
            let name = entry.file_name();
            let Some(name) = name.to_str() else { continue };
            if !name.starts_with(&prefix) || !name.ends_with(".offset") {
                continue;
            }
            let Ok(text) = fs::read(entry.path()) else { continue };
            let Ok(v) = serde_json::from_slice::<serde_json::Value>(&text) else { continue };
            if v.get("consumer").is_some() && v.get("topic_id").and_then(|t| t.as_u64()) == Some(topic_id as u64) {
                let offset = v.get("offset").and_then(|o| o.as_u64());
                return Some(Error::new(
                    ErrorCode::InvalidValue,
                    format!(
                        "{} is an offset file of the official Python client (JSON, offset {}), which liblnc does not use; \
                         liblnc stores offsets in the official Rust client's format under {}. To continue from that \
                         position set start.offset={} once, or remove the file",
                        entry.path().display(),
                        offset.map_or("unknown".to_string(), |o| o.to_string()),
                        self.dir.display(),
                        offset.map_or("<offset>".to_string(), |o| o.to_string()),
                    ),
                ));
            }
        }
        None
    }
}

/// Reads an offset file without a lock: decimal, whitespace trimmed. `Ok(None)` if it is absent.
fn read_offset_file(path: &Path) -> Result<Option<u64>> {
    let text = match fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(io_err("cannot read", path, e)),
    };
    let t = text.trim();
    t.parse::<u64>().map(Some).map_err(|_| {
        Error::new(ErrorCode::Io, format!("offset file {} does not hold a decimal offset: {t:?}", path.display()))
    })
}

/// Holds an exclusive flock until dropped (closing the file releases it).
struct FlockGuard(File);

impl FlockGuard {
    fn lock(path: &Path) -> Result<FlockGuard> {
        let f = OpenOptions::new()
            .create(true)
            .write(true)
            .truncate(true)
            .open(path)
            .map_err(|e| io_err("cannot open lock file", path, e))?;
        loop {
            // SAFETY: flock on a descriptor we own for the lifetime of `f`.
            let rc = unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX) };
            if rc == 0 {
                return Ok(FlockGuard(f));
            }
            let e = std::io::Error::last_os_error();
            if e.kind() != std::io::ErrorKind::Interrupted {
                return Err(io_err("cannot lock", path, e));
            }
        }
    }
}

impl Drop for FlockGuard {
    fn drop(&mut self) {
        // Closing releases the lock too; unlock explicitly so the order is obvious.
        // SAFETY: our own open descriptor.
        unsafe { libc::flock(self.0.as_raw_fd(), libc::LOCK_UN) };
    }
}

impl OffsetStore for FileOffsetStore {
    fn load(&self, topic_id: u32) -> Result<Option<u64>> {
        match read_offset_file(&self.offset_path(topic_id))? {
            Some(v) => Ok(Some(v)),
            None => match self.python_store_hint(topic_id) {
                Some(e) => Err(e),
                None => Ok(None),
            },
        }
    }

    fn save(&self, topic_id: u32, offset: u64) -> Result<()> {
        fs::create_dir_all(&self.dir).map_err(|e| io_err("cannot create", &self.dir, e))?;
        let _lock = FlockGuard::lock(&self.lock_path(topic_id))?;
        let tmp = self.tmp_path(topic_id);
        {
            let mut f = OpenOptions::new()
                .create(true)
                .write(true)
                .truncate(true)
                .open(&tmp)
                .map_err(|e| io_err("cannot create", &tmp, e))?;
            f.write_all(format!("{offset}\n").as_bytes()).map_err(|e| io_err("cannot write", &tmp, e))?;
            f.sync_all().map_err(|e| io_err("cannot fsync", &tmp, e))?;
        }
        let dst = self.offset_path(topic_id);
        fs::rename(&tmp, &dst).map_err(|e| io_err("cannot rename into", &dst, e))?;
        // The official client stops here; also make the rename itself durable.
        if let Ok(d) = File::open(&self.dir) {
            let _ = d.sync_all();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(
            parse_offset_file_name("topic-1-consumer-18044035401257023742.offset"),
            Some((1, 18044035401257023742))
        );
        assert_eq!(parse_offset_file_name("topic-1-consumer-18044035401257023742.lock"), None);
        assert_eq!(parse_offset_file_name("topic-1-consumer-1.offset.tmp"), None);
        assert_eq!(parse_offset_file_name("topic-x-consumer-1.offset"), None);
        assert_eq!(parse_offset_file_name("topic-4294967296-consumer-1.offset"), None);
        assert_eq!(parse_offset_file_name("topic-1-consumer-1-2.offset"), None);
    }

    #[test]
    fn names_rejected() {
        for bad in ["", ".", "..", "a/b", "a\\b", "a\0b"] {
            assert_eq!(FileOffsetStore::new("/tmp", bad).unwrap_err().code, ErrorCode::InvalidArg, "{bad:?}");
        }
        FileOffsetStore::new("/tmp", "...").unwrap();
    }
}
