//! A snapshot kept in one local JSON file, for the command line.
//!
//! The file is `{"format": "healthlake-monitor/snapshot/v1", "scopes": {...}}`,
//! each scope a [`StoredScope`] under its key `<account>#<region>`.
//!
//! Writes go to a temporary file in the same folder, then replace the snapshot
//! by rename, so a crash never leaves half a file. A file that cannot be read
//! or parsed is an error naming it: it is never silently replaced.
//!
//! Two commands on one file (cron overlaps) are kept apart by an advisory lock
//! on a sibling file, `<snapshot>.lock`, held for a whole scan
//! ([`FileSnapshotStore::open_locked`]). The lock is on a sibling because the
//! snapshot itself is replaced by rename: a lock on it would stay with the old
//! file. The lock file is left in place: deleting it would let a third scan
//! lock a new file while a second still waits on the old one.

use monitor_core::domain::{Record, Scope, ScopeSnapshot};
use monitor_core::ports::{SnapshotStore, StoreError};
use monitor_core::stored::StoredScope;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fs::{File, TryLockError};
use std::io::Write;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

const FORMAT: &str = "healthlake-monitor/snapshot/v1";

#[derive(Serialize, Deserialize, Default)]
struct FileContents {
    format: String,
    /// Keyed by `<account>#<region>`. Only the scope a scan reads or writes
    /// is converted: the others are written back as they were read.
    scopes: BTreeMap<String, StoredScope>,
}

pub struct FileSnapshotStore {
    path: PathBuf,
    /// Serialises read-modify-write cycles within this process.
    guard: Mutex<()>,
    /// The lock file, locked exclusively while this store lives (other
    /// processes); released when the store is dropped.
    lock: Option<File>,
}

/// How often a scan that waits for another one's lock tries again.
const LOCK_POLL: Duration = Duration::from_millis(50);

impl FileSnapshotStore {
    /// A store with no lock between processes: for a file no other process
    /// writes (the demo's), or for reading only.
    pub fn new(path: impl Into<PathBuf>) -> Self {
        Self {
            path: path.into(),
            guard: Mutex::new(()),
            lock: None,
        }
    }

    /// A store that holds the exclusive lock on [`Self::lock_path`] from now
    /// until it is dropped, so that a whole scan (load, claim, publish, mark
    /// sent) runs alone among processes. Waits as long as another process holds
    /// the lock: bound it with a timeout (the command does).
    pub async fn open_locked(path: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let mut store = Self::new(path);
        let lock_path = store.lock_path();
        let unavailable = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("cannot lock {}: {e}", lock_path.display()))
        };
        std::fs::create_dir_all(store.dir()).map_err(|e| unavailable(&e))?;
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|e| unavailable(&e))?;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => tokio::time::sleep(LOCK_POLL).await,
                Err(TryLockError::Error(e)) => return Err(unavailable(&e)),
            }
        }
        store.lock = Some(file);
        Ok(store)
    }

    /// Whether this store holds the lock between processes ([`Self::open_locked`]).
    pub fn is_locked(&self) -> bool {
        self.lock.is_some()
    }

    /// The sibling file whose lock keeps two scans of this snapshot apart.
    pub fn lock_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(std::ffi::OsStr::to_os_string)
            .unwrap_or_default();
        name.push(".lock");
        self.dir().join(name)
    }

    fn dir(&self) -> PathBuf {
        match self.path.parent() {
            Some(p) if !p.as_os_str().is_empty() => p.to_path_buf(),
            _ => PathBuf::from("."),
        }
    }

    fn corrupt(&self, reason: impl std::fmt::Display) -> StoreError {
        StoreError::Corrupt {
            location: self.path.display().to_string(),
            reason: reason.to_string(),
        }
    }

    fn read(&self) -> Result<FileContents, StoreError> {
        let bytes = match std::fs::read(&self.path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(FileContents {
                    format: FORMAT.into(),
                    ..FileContents::default()
                });
            }
            Err(e) => return Err(self.corrupt(format!("cannot read the file: {e}"))),
        };
        let contents: FileContents = serde_json::from_slice(&bytes)
            .map_err(|e| self.corrupt(format!("not a snapshot file: {e}")))?;
        if contents.format != FORMAT {
            return Err(self.corrupt(format!("format {:?}, expected {FORMAT:?}", contents.format)));
        }
        Ok(contents)
    }

    /// The snapshot of `scope` in `contents`; a stored scope that does not
    /// convert makes the file corrupt, like one that does not parse.
    fn scope(
        &self,
        contents: &mut FileContents,
        scope: &Scope,
    ) -> Result<ScopeSnapshot, StoreError> {
        contents
            .scopes
            .remove(&scope.key())
            .map_or(Ok(ScopeSnapshot::default()), ScopeSnapshot::try_from)
            .map_err(|e| self.corrupt(format!("scope {}: {e}", scope.key())))
    }

    fn write(&self, contents: &FileContents) -> Result<(), StoreError> {
        let unavailable = |e: &dyn std::fmt::Display| {
            StoreError::Unavailable(format!("cannot write {}: {e}", self.path.display()))
        };
        let dir = self.dir();
        std::fs::create_dir_all(&dir).map_err(|e| unavailable(&e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(&dir).map_err(|e| unavailable(&e))?;
        let json = serde_json::to_vec_pretty(contents).map_err(|e| unavailable(&e))?;
        tmp.write_all(&json).map_err(|e| unavailable(&e))?;
        tmp.as_file().sync_all().map_err(|e| unavailable(&e))?;
        tmp.persist(&self.path).map_err(|e| unavailable(&e.error))?;
        Ok(())
    }
}

impl SnapshotStore for FileSnapshotStore {
    async fn load(&self, scope: &Scope) -> Result<ScopeSnapshot, StoreError> {
        let _held = self
            .guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        self.scope(&mut self.read()?, scope)
    }

    async fn put(
        &self,
        scope: &Scope,
        record: &Record,
        expected: Option<u64>,
    ) -> Result<(), StoreError> {
        let _held = self
            .guard
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let mut contents = self.read()?;
        let mut snapshot = self.scope(&mut contents, scope)?;
        if !snapshot.put_if_version(record, expected) {
            return Err(StoreError::Conflict {
                scope: scope.clone(),
                id: record.observation.id.to_string(),
            });
        }
        contents
            .scopes
            .insert(scope.key(), StoredScope::from(&snapshot));
        self.write(&contents)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::{DateTime, Utc};
    use monitor_core::domain::DatastoreStatus;
    use monitor_core::domain::Region;
    use monitor_core::fixtures::{observation, scope};
    use serde_json::{Value, json};

    /// A snapshot file as the command wrote it before stored values were numbered.
    const SNAPSHOT_V1: &str = include_str!("../tests/fixtures/snapshot-v1.json");

    fn record(version: u64) -> Record {
        Record::new(
            observation("1", DatastoreStatus::Active),
            version,
            DateTime::<Utc>::UNIX_EPOCH,
        )
    }

    #[tokio::test]
    async fn a_missing_file_is_an_empty_snapshot_and_writes_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("nested/snapshot.json");
        let store = FileSnapshotStore::new(&path);
        assert!(store.load(&scope()).await.unwrap().records.is_empty());
        store.put(&scope(), &record(1), None).await.unwrap();
        let again = FileSnapshotStore::new(&path);
        let loaded = again.load(&scope()).await.unwrap();
        assert_eq!(
            loaded.records.values().collect::<Vec<_>>(),
            vec![&record(1)]
        );
        let conflict = again.put(&scope(), &record(2), Some(5)).await.unwrap_err();
        assert!(matches!(conflict, StoreError::Conflict { .. }));
        // Only the snapshot is left in the folder: the temporary file was renamed over it.
        let names: Vec<_> = std::fs::read_dir(dir.path().join("nested"))
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("snapshot.json")]);
    }

    #[tokio::test]
    async fn a_locked_snapshot_waits_for_the_holder_and_the_rename_keeps_working() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.json");
        let first = FileSnapshotStore::open_locked(&path).await.unwrap();
        assert!(first.is_locked() && !FileSnapshotStore::new(&path).is_locked());
        assert_eq!(first.lock_path(), dir.path().join("snapshot.json.lock"));
        // Locks held through another open file description conflict even
        // within one process, as they do between two processes.
        let mut second = Box::pin(FileSnapshotStore::open_locked(&path));
        assert!(
            tokio::time::timeout(Duration::from_millis(300), &mut second)
                .await
                .is_err(),
            "a second scan must wait while the first holds the lock"
        );
        first.put(&scope(), &record(1), None).await.unwrap();
        drop(first);
        let second = second.await.unwrap();
        // The holder's write (a rename over the snapshot) is what the next one reads.
        assert_eq!(second.load(&scope()).await.unwrap().records.len(), 1);
        second.put(&scope(), &record(2), Some(1)).await.unwrap();
    }

    #[tokio::test]
    async fn a_corrupt_file_is_named_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.json");
        for contents in [
            &b"{ not json"[..],
            br#"{"format": "something-else/v9", "scopes": {}}"#,
        ] {
            std::fs::write(&path, contents).unwrap();
            let store = FileSnapshotStore::new(&path);
            let err = store.load(&scope()).await.unwrap_err();
            assert!(
                err.to_string().contains(&path.display().to_string()),
                "{err}"
            );
            assert!(store.put(&scope(), &record(1), None).await.is_err());
            assert_eq!(std::fs::read(&path).unwrap(), contents);
        }
    }

    #[tokio::test]
    async fn a_snapshot_file_written_before_stored_values_were_numbered_still_reads() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.json");
        std::fs::write(&path, SNAPSHOT_V1).unwrap();
        let store = FileSnapshotStore::new(&path);
        let loaded = store.load(&scope()).await.unwrap();
        assert_eq!(loaded.records.len(), 2);
        let gone = &loaded.records[&observation("f3", DatastoreStatus::Active).id];
        assert_eq!(gone.version, 9);
        assert_eq!(gone.observation.status, DatastoreStatus::CreateFailed);
        assert!(gone.observation.created_at.is_some() && gone.vanished_at.is_some());
        assert_eq!(
            gone.pending
                .iter()
                .map(|p| (p.alert.datastore_name.as_str(), p.attempts))
                .collect::<Vec<_>>(),
            vec![("imaging-test", 0), ("archive-2019", 1)]
        );
        assert_eq!(
            gone.undeliverable[0].reason,
            "refused: InvalidParameter: Message too long"
        );
        assert_eq!(
            (gone.undeliverable_total, gone.alert_state()),
            (1, "claimed")
        );
        assert_eq!(gone.claim.as_ref().unwrap().owner, "request-8a1f");

        let west = Scope::new(scope().account, Region::parse("eu-west-2").unwrap());
        let west_before = store.load(&west).await.unwrap();
        assert_eq!(west_before.records.len(), 1);

        let mut next = gone.clone();
        next.version = 10;
        next.pending.clear();
        store.put(&scope(), &next, Some(9)).await.unwrap();
        let written: Value = serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        assert_eq!(written["format"], "healthlake-monitor/snapshot/v1");
        assert_eq!(written["scopes"]["123456789012#us-east-1"]["format"], 1);
        assert_eq!(store.load(&west).await.unwrap(), west_before);
        assert_eq!(
            store.load(&scope()).await.unwrap().records[&next.observation.id],
            next
        );
    }

    #[tokio::test]
    async fn a_value_of_a_newer_format_or_that_does_not_convert_is_corrupt_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("snapshot.json");
        let f3 = "/scopes/123456789012#us-east-1/records/000000000000000000000000000000f3";
        let cases = [
            (
                "/scopes/123456789012#us-east-1/format".to_owned(),
                json!(2),
                "format 2",
            ),
            (format!("{f3}/format"), json!(2), "format 2"),
            (format!("{f3}/pending/1/format"), json!(2), "format 2"),
            (
                format!("{f3}/undeliverable/0/alert/severity"),
                json!("loud"),
                "scope 123456789012#us-east-1: field severity: expected one of info, warning, critical",
            ),
        ];
        for (pointer, value, named) in cases {
            let mut contents: Value = serde_json::from_str(SNAPSHOT_V1).unwrap();
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            contents
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .unwrap()
                .insert(key.to_owned(), value);
            let bytes = serde_json::to_vec_pretty(&contents).unwrap();
            std::fs::write(&path, &bytes).unwrap();
            let store = FileSnapshotStore::new(&path);
            let err = store.load(&scope()).await.unwrap_err();
            assert!(
                matches!(err, StoreError::Corrupt { .. }),
                "{pointer}: {err}"
            );
            let text = err.to_string();
            assert!(
                text.contains(&path.display().to_string()) && text.contains(named),
                "{pointer}: {text}"
            );
            assert!(store.put(&scope(), &record(1), None).await.is_err());
            assert_eq!(std::fs::read(&path).unwrap(), bytes, "{pointer}");
        }
    }
}
