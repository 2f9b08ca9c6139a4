//! sled-backed storage for openraft (storage v2): [`LogStore`] keeps the Raft log, the vote and
//! the committed/purged log ids; [`StateMachineStore`] keeps the [`ClusterState`] in memory and
//! persists snapshots of it.
//!
//! Layout of the sled database (one directory per instance):
//! * tree `logs`: key = log index as big-endian `u64` (sled sorts keys bytewise, so big-endian
//!   keeps index order), value = versioned bincode of the [`Entry`];
//! * tree `meta`: `vote`, `committed`, `last_purged`, each a versioned bincode blob;
//! * tree `snapshot`: `current` = the latest snapshot (metadata + data).
//!
//! Durability: sled writes are durable only after `flush()`; we always call the synchronous
//! `Db::flush` on a blocking thread, never `flush_async` (it deadlocks under concurrency in
//! sled 0.34.7). The state machine is *not* persisted on every apply: a restart installs the
//! last snapshot and openraft replays the committed log after it.

// openraft's traits fix the error type (`StorageError`, ~224 bytes); the private helpers return
// the same type so `?` works, and boxing it would only add a conversion at every call site.
#![allow(clippy::result_large_err)]

use std::fmt::Debug;
use std::io::Cursor;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use openraft::storage::{LogFlushed, RaftLogStorage, RaftStateMachine};
use openraft::{
    EntryPayload, LogState, OptionalSend, RaftLogReader, RaftSnapshotBuilder, StorageIOError,
};
use serde::{Deserialize, Serialize};
use tokio::sync::{watch, Mutex};

use crate::codec::{self, CodecError};
use crate::state::{ClusterState, CommandResult};
use crate::types::{
    Entry, LogId, Snapshot, SnapshotMeta, StorageError, StoredMembership, TypeConfig, Vote,
};

const LOGS_TREE: &str = "logs";
const META_TREE: &str = "meta";
const SNAPSHOT_TREE: &str = "snapshot";
const KEY_VOTE: &[u8] = b"vote";
const KEY_COMMITTED: &[u8] = b"committed";
const KEY_LAST_PURGED: &[u8] = b"last_purged";
const KEY_CURRENT_SNAPSHOT: &[u8] = b"current";

/// sled's page cache cap: our data is small, sled's 1 GiB default is not needed.
const CACHE_CAPACITY_BYTES: u64 = 64 << 20;

/// Why the store could not be opened.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot open the Raft store in {path}: {source}")]
    Open { path: PathBuf, source: sled::Error },
    #[error("Raft store {path}: {source}")]
    Sled { path: PathBuf, source: sled::Error },
    #[error("Raft store {path}: corrupt {what}: {source}")]
    Corrupt {
        path: PathBuf,
        what: &'static str,
        source: CodecError,
    },
}

/// Opens (or creates) the store in `dir` and returns its two halves, sharing one sled database.
/// The state machine starts from the last persisted snapshot, if any.
pub fn open_store(dir: &Path) -> Result<(LogStore, StateMachineStore), StoreError> {
    let db = sled::Config::new()
        .path(dir)
        .cache_capacity(CACHE_CAPACITY_BYTES)
        // Every write is flushed by us (see above): sled's own flusher thread would only wake
        // twice a second, and its I/O pool with it, on an idle daemon.
        .flush_every_ms(None)
        .open()
        .map_err(|source| StoreError::Open {
            path: dir.to_path_buf(),
            source,
        })?;
    let sled_err = |source| StoreError::Sled {
        path: dir.to_path_buf(),
        source,
    };
    let logs = db.open_tree(LOGS_TREE).map_err(sled_err)?;
    let meta = db.open_tree(META_TREE).map_err(sled_err)?;
    let snapshots = db.open_tree(SNAPSHOT_TREE).map_err(sled_err)?;

    let current =
        match snapshots.get(KEY_CURRENT_SNAPSHOT).map_err(sled_err)? {
            None => None,
            Some(bytes) => Some(codec::decode::<StoredSnapshot>(&bytes).map_err(|source| {
                StoreError::Corrupt {
                    path: dir.to_path_buf(),
                    what: "snapshot",
                    source,
                }
            })?),
        };
    let replica = match &current {
        None => Replica::default(),
        Some(stored) => {
            let payload =
                codec::decode::<Replica>(&stored.data).map_err(|source| StoreError::Corrupt {
                    path: dir.to_path_buf(),
                    what: "snapshot data",
                    source,
                })?;
            // The metadata is what openraft agreed on; the payload carries the same values.
            Replica {
                last_applied: stored.meta.last_log_id,
                membership: stored.meta.last_membership.clone(),
                state: payload.state,
            }
        }
    };
    let (tx, _) = watch::channel(replica);

    let log_store = LogStore {
        db: db.clone(),
        logs,
        meta,
    };
    let sm = StateMachineStore {
        db,
        snapshots,
        replica: Arc::new(tx),
        current: Arc::new(Mutex::new(current)),
        snapshot_counter: Arc::new(AtomicU64::new(0)),
    };
    Ok((log_store, sm))
}

/// fsyncs the whole sled database on a blocking thread (see the module doc for why not
/// `flush_async`).
async fn flush(db: &sled::Db) -> Result<(), sled::Error> {
    let db = db.clone();
    match tokio::task::spawn_blocking(move || db.flush()).await {
        Ok(result) => result.map(|_| ()),
        Err(join) => Err(sled::Error::Io(std::io::Error::other(join))),
    }
}

/// Key of log index `index` in the `logs` tree.
fn log_key(index: u64) -> [u8; 8] {
    index.to_be_bytes()
}

/// The inclusive index range `[start, end]` described by `range`, or `None` when it is empty.
fn inclusive_bounds<RB: RangeBounds<u64>>(range: &RB) -> Option<(u64, u64)> {
    let start = match range.start_bound() {
        Bound::Included(&s) => s,
        Bound::Excluded(&s) => s.checked_add(1)?,
        Bound::Unbounded => 0,
    };
    let end = match range.end_bound() {
        Bound::Included(&e) => e,
        Bound::Excluded(&e) => e.checked_sub(1)?,
        Bound::Unbounded => u64::MAX,
    };
    (start <= end).then_some((start, end))
}

// ------------------------------------------------------------------------------------------
// Log store

/// The Raft log, vote and committed/purged log ids, in sled. Cheap to clone (tree handles), so
/// it is its own log reader.
#[derive(Clone)]
pub struct LogStore {
    db: sled::Db,
    logs: sled::Tree,
    meta: sled::Tree,
}

impl LogStore {
    fn read_meta<T: serde::de::DeserializeOwned>(
        &self,
        key: &[u8],
    ) -> Result<Option<T>, StorageIOError<u64>> {
        let bytes = self.meta.get(key).map_err(|e| StorageIOError::read(&e))?;
        bytes
            .map(|b| codec::decode::<T>(&b))
            .transpose()
            .map_err(|e| StorageIOError::read(&e))
    }

    fn write_meta<T: Serialize>(&self, key: &[u8], value: &T) -> Result<(), StorageIOError<u64>> {
        let bytes = codec::encode(value).map_err(|e| StorageIOError::write(&e))?;
        self.meta
            .insert(key, bytes)
            .map_err(|e| StorageIOError::write(&e))?;
        Ok(())
    }

    fn decode_entry(index: u64, bytes: &[u8]) -> Result<Entry, StorageIOError<u64>> {
        codec::decode::<Entry>(bytes).map_err(|e| StorageIOError::read_log_at_index(index, &e))
    }

    fn last_entry_log_id(&self) -> Result<Option<LogId>, StorageIOError<u64>> {
        match self
            .logs
            .last()
            .map_err(|e| StorageIOError::read_logs(&e))?
        {
            None => Ok(None),
            Some((key, value)) => {
                let index = key_index(&key)?;
                Ok(Some(Self::decode_entry(index, &value)?.log_id))
            }
        }
    }

    /// Removes every log entry whose index is in `[start, end]`.
    fn remove_range(&self, start: u64, end: u64) -> Result<(), StorageIOError<u64>> {
        let mut batch = sled::Batch::default();
        for item in self.logs.range(log_key(start)..=log_key(end)) {
            let (key, _) = item.map_err(|e| StorageIOError::write_logs(&e))?;
            batch.remove(key);
        }
        self.logs
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))
    }

    async fn flush(&self) -> Result<(), StorageIOError<u64>> {
        flush(&self.db).await.map_err(|e| StorageIOError::write(&e))
    }
}

fn key_index(key: &[u8]) -> Result<u64, StorageIOError<u64>> {
    let bytes: [u8; 8] = key.try_into().map_err(|_| {
        StorageIOError::read_logs(&std::io::Error::other(format!(
            "log key of {} bytes, expected 8",
            key.len()
        )))
    })?;
    Ok(u64::from_be_bytes(bytes))
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let Some((start, end)) = inclusive_bounds(&range) else {
            return Ok(Vec::new());
        };
        let mut entries = Vec::new();
        for item in self.logs.range(log_key(start)..=log_key(end)) {
            let (key, value) = item.map_err(|e| StorageIOError::read_logs(&e))?;
            let index = key_index(&key)?;
            entries.push(Self::decode_entry(index, &value)?);
        }
        Ok(entries)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = Self;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id = self.read_meta::<LogId>(KEY_LAST_PURGED)?;
        let last_log_id = self.last_entry_log_id()?.or(last_purged_log_id);
        Ok(LogState {
            last_purged_log_id,
            last_log_id,
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote) -> Result<(), StorageError> {
        self.write_meta(KEY_VOTE, vote)
            .map_err(|e| StorageIOError::write_vote(&e))?;
        // A vote must be durable before openraft acts on it (never vote twice in a term).
        flush(&self.db)
            .await
            .map_err(|e| StorageIOError::write_vote(&e))?;
        Ok(())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote>, StorageError> {
        Ok(self
            .read_meta::<Vote>(KEY_VOTE)
            .map_err(|e| StorageIOError::read_vote(&e))?)
    }

    /// Persisted, and flushed, before openraft applies the entries up to it: a restart then
    /// re-applies at least as far as the replica had gone, so the reads it serves (every
    /// `supvisors.*` status comes from the local replica) never go back to an older state
    /// than they showed before a crash. Unflushed, a `kill -9` lost the id, and a restarted
    /// instance answered from the state of several entries before, until it caught up (a
    /// disable read back as enabled: the chaos suite's `kill9-learner`, 1 run in 8).
    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        match committed {
            Some(log_id) => self.write_meta(KEY_COMMITTED, &log_id)?,
            None => {
                self.meta
                    .remove(KEY_COMMITTED)
                    .map_err(|e| StorageIOError::write(&e))?;
            }
        }
        self.flush().await?;
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        Ok(self.read_meta::<LogId>(KEY_COMMITTED)?)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut batch = sled::Batch::default();
        for entry in entries {
            let bytes = codec::encode(&entry)
                .map_err(|e| StorageIOError::write_log_entry(entry.log_id, &e))?;
            batch.insert(&log_key(entry.log_id.index), bytes);
        }
        self.logs
            .apply_batch(batch)
            .map_err(|e| StorageIOError::write_logs(&e))?;
        // openraft counts the entries as persisted once the callback fires: only after fsync.
        match flush(&self.db).await {
            Ok(()) => {
                callback.log_io_completed(Ok(()));
                Ok(())
            }
            Err(e) => {
                let err = StorageIOError::write_logs(&e);
                callback.log_io_completed(Err(std::io::Error::other(e)));
                Err(err.into())
            }
        }
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(from = %log_id, "truncating Raft log");
        self.remove_range(log_id.index, u64::MAX)?;
        self.flush().await?;
        Ok(())
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        tracing::debug!(upto = %log_id, "purging Raft log");
        // last_purged first and durable: if we crash mid-way, get_log_state still reports a
        // consistent (possibly larger than needed) purged prefix.
        self.write_meta(KEY_LAST_PURGED, &log_id)?;
        self.flush().await?;
        self.remove_range(0, log_id.index)?;
        self.flush().await?;
        Ok(())
    }
}

// ------------------------------------------------------------------------------------------
// State machine

/// What the local replica has applied: the cluster state and the Raft position it reflects.
/// Published through a `watch` channel (see [`StateMachineStore::subscribe`]) and, encoded, it
/// is the data of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Replica {
    /// The last log entry applied (or included in the installed snapshot).
    pub last_applied: Option<LogId>,
    /// The last membership applied.
    pub membership: StoredMembership,
    pub state: ClusterState,
}

/// A snapshot as persisted in sled: openraft's metadata and the encoded [`Replica`].
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredSnapshot {
    meta: SnapshotMeta,
    data: Vec<u8>,
}

/// The state machine: applies committed entries to the in-memory [`ClusterState`], builds and
/// installs snapshots. Cheap to clone; clones share everything (it is its own snapshot builder).
#[derive(Clone)]
pub struct StateMachineStore {
    db: sled::Db,
    snapshots: sled::Tree,
    /// The replica, mutated in place on apply; readers borrow it without copying.
    replica: Arc<watch::Sender<Replica>>,
    /// The latest snapshot, mirrored from sled. The async lock also serialises snapshot writes
    /// (a build racing an install must not replace a newer snapshot with an older one).
    current: Arc<Mutex<Option<StoredSnapshot>>>,
    snapshot_counter: Arc<AtomicU64>,
}

impl StateMachineStore {
    /// A receiver of the applied replica. `borrow()` gives a read guard (hold it briefly, never
    /// across an `.await`); `changed().await` wakes after each applied batch or install.
    pub fn subscribe(&self) -> watch::Receiver<Replica> {
        self.replica.subscribe()
    }

    /// Runs `f` on the current replica without copying it.
    pub fn read<T>(&self, f: impl FnOnce(&Replica) -> T) -> T {
        f(&self.replica.borrow())
    }

    /// Persists `snapshot` as the current one unless a newer one is already there.
    async fn store_snapshot(&self, snapshot: StoredSnapshot) -> Result<(), StorageError> {
        let signature = snapshot.meta.signature();
        let mut current = self.current.lock().await;
        if let Some(existing) = current.as_ref() {
            if existing.meta.last_log_id > snapshot.meta.last_log_id {
                tracing::debug!(
                    kept = %existing.meta.snapshot_id,
                    dropped = %snapshot.meta.snapshot_id,
                    "a newer snapshot is already stored"
                );
                return Ok(());
            }
        }
        let bytes = codec::encode(&snapshot)
            .map_err(|e| StorageIOError::write_snapshot(Some(signature.clone()), &e))?;
        self.snapshots
            .insert(KEY_CURRENT_SNAPSHOT, bytes)
            .map_err(|e| StorageIOError::write_snapshot(Some(signature.clone()), &e))?;
        flush(&self.db)
            .await
            .map_err(|e| StorageIOError::write_snapshot(Some(signature), &e))?;
        *current = Some(snapshot);
        Ok(())
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot, StorageError> {
        let (data, last_applied, membership) = {
            let replica = self.replica.borrow();
            let data =
                codec::encode(&*replica).map_err(|e| StorageIOError::write_snapshot(None, &e))?;
            (data, replica.last_applied, replica.membership.clone())
        };
        let counter = self.snapshot_counter.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match last_applied {
            Some(id) => format!(
                "{}-{}-{}-{counter}",
                id.leader_id.term, id.leader_id.node_id, id.index
            ),
            None => format!("none-{counter}"),
        };
        let meta = SnapshotMeta {
            last_log_id: last_applied,
            last_membership: membership,
            snapshot_id,
        };
        tracing::debug!(snapshot = %meta.snapshot_id, bytes = data.len(), "built snapshot");
        self.store_snapshot(StoredSnapshot {
            meta: meta.clone(),
            data: data.clone(),
        })
        .await?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(data)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = Self;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership), StorageError> {
        Ok(self.read(|r| (r.last_applied, r.membership.clone())))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut results = Vec::new();
        // One lock and one wake-up of the readers per batch, not per entry.
        self.replica.send_if_modified(|replica| {
            for entry in entries {
                replica.last_applied = Some(entry.log_id);
                let result = match &entry.payload {
                    EntryPayload::Blank => CommandResult::Unchanged,
                    EntryPayload::Normal(cmd) => {
                        let leader = entry.log_id.leader_id.node_id;
                        let membership = replica.membership.membership();
                        let name = membership.get_node(&leader).map(|n| n.identifier.as_str());
                        let at = data::LogPosition {
                            index: entry.log_id.index,
                            term: entry.log_id.leader_id.term,
                            leader: name.unwrap_or_default(),
                        };
                        replica.state.apply_logged(cmd, at)
                    }
                    EntryPayload::Membership(m) => {
                        replica.membership = StoredMembership::new(Some(entry.log_id), m.clone());
                        CommandResult::Unchanged
                    }
                };
                if let CommandResult::Rejected(why) = &result {
                    tracing::info!(log_id = %entry.log_id, reason = %why, "command rejected by the state machine");
                }
                results.push(result);
            }
            !results.is_empty()
        });
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &SnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), StorageError> {
        let data = snapshot.into_inner();
        // The data came over the network: decoded with the size limit, and refused if corrupt.
        let payload = codec::decode::<Replica>(&data)
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        self.store_snapshot(StoredSnapshot {
            meta: meta.clone(),
            data,
        })
        .await?;
        self.replica.send_modify(|replica| {
            *replica = Replica {
                last_applied: meta.last_log_id,
                membership: meta.last_membership.clone(),
                state: payload.state,
            };
        });
        tracing::info!(snapshot = %meta.snapshot_id, "installed snapshot");
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot>, StorageError> {
        let current = self.current.lock().await;
        Ok(current.as_ref().map(|stored| Snapshot {
            meta: stored.meta.clone(),
            snapshot: Box::new(Cursor::new(stored.data.clone())),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{BatchSeq, Command, InstanceState};
    use crate::types::NodeInfo;
    use model::ProcessState;
    use openraft::storage::RaftLogStorageExt;
    use openraft::testing::{StoreBuilder, Suite};
    use openraft::{CommittedLeaderId, Membership};
    use std::collections::{BTreeMap, BTreeSet};
    use tempfile::TempDir;

    /// Opens a fresh store in its own temporary directory (removed when the guard drops).
    struct TempStoreBuilder;

    impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for TempStoreBuilder {
        async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
            let dir = TempDir::new().map_err(|e| StorageIOError::write(&e))?;
            let (log, sm) = open_store(dir.path()).map_err(|e| StorageIOError::write(&e))?;
            Ok((dir, log, sm))
        }
    }

    /// openraft's own conformance suite for storage implementations.
    #[test]
    fn passes_openraft_storage_suite() -> Result<(), StorageError> {
        Suite::test_all(TempStoreBuilder)
    }

    fn log_id(term: u64, index: u64) -> LogId {
        LogId::new(CommittedLeaderId::new(term, 1), index)
    }

    fn membership_entry(index: u64) -> Entry {
        let node = NodeInfo {
            identifier: "a".into(),
            raft_addr: "127.0.0.1:7001".into(),
            http_addr: "127.0.0.1:9001".into(),
        };
        let nodes = BTreeMap::from([(1u64, node)]);
        Entry {
            log_id: log_id(1, index),
            payload: EntryPayload::Membership(Membership::new(vec![BTreeSet::from([1])], nodes)),
        }
    }

    fn command_entry(index: u64, cmd: Command) -> Entry {
        Entry {
            log_id: log_id(1, index),
            payload: EntryPayload::Normal(cmd),
        }
    }

    fn sample_log() -> Vec<Entry> {
        vec![
            membership_entry(1),
            command_entry(
                2,
                Command::InstanceState {
                    instance: "a".into(),
                    state: InstanceState::Checking,
                },
            ),
            command_entry(
                3,
                Command::ProcessEvents {
                    instance: "a".into(),
                    seq: BatchSeq::new(1, 1),
                    full: false,
                    events: vec![data::testkit::status(
                        "web",
                        "web",
                        ProcessState::Running,
                        42,
                    )],
                },
            ),
            command_entry(
                4,
                Command::Disable {
                    target: crate::state::Target::Instance("a".into()),
                    program: "db".into(),
                },
            ),
            command_entry(5, Command::Noop),
        ]
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn log_vote_and_snapshot_survive_a_restart() -> Result<(), Box<dyn std::error::Error>> {
        let dir = TempDir::new()?;
        let entries = sample_log();
        let vote = Vote::new_committed(3, 1);

        let (expected_state, snapshot_meta) = {
            let (mut log, mut sm) = open_store(dir.path())?;
            log.blocking_append(entries.clone()).await?;
            log.save_vote(&vote).await?;
            log.save_committed(Some(log_id(1, 5))).await?;
            sm.apply(entries[..3].to_vec()).await?;
            let snapshot = sm.get_snapshot_builder().await.build_snapshot().await?;
            sm.apply(entries[3..].to_vec()).await?;
            log.purge(log_id(1, 2)).await?;
            (sm.read(|r| r.state.clone()), snapshot.meta)
        };
        assert_eq!(snapshot_meta.last_log_id, Some(log_id(1, 3)));

        let (mut log, mut sm) = open_store(dir.path())?;
        let state = log.get_log_state().await?;
        assert_eq!(state.last_purged_log_id, Some(log_id(1, 2)));
        assert_eq!(state.last_log_id, Some(log_id(1, 5)));
        assert_eq!(log.read_vote().await?, Some(vote));
        assert_eq!(log.read_committed().await?, Some(log_id(1, 5)));
        assert_eq!(log.try_get_log_entries(0..).await?, entries[2..].to_vec());

        // The state machine restarts from the snapshot…
        let (applied, membership) = sm.applied_state().await?;
        assert_eq!(applied, Some(log_id(1, 3)));
        assert_eq!(membership.log_id(), &Some(log_id(1, 1)));
        let current = sm
            .get_current_snapshot()
            .await?
            .ok_or("no snapshot after restart")?;
        assert_eq!(current.meta, snapshot_meta);
        assert_eq!(
            sm.read(|r| r.state.process("a", "web").map(|p| p.pid)),
            Some(42)
        );
        // …and replaying the log after it gives back the state before the restart.
        let tail = log.try_get_log_entries(4..=5).await?;
        sm.apply(tail).await?;
        assert_eq!(sm.read(|r| r.state.clone()), expected_state);
        assert!(expected_state.is_disabled("a", "db"));
        Ok(())
    }

    #[tokio::test]
    async fn readers_see_each_applied_batch() -> Result<(), Box<dyn std::error::Error>> {
        let dir = TempDir::new()?;
        let (_log, mut sm) = open_store(dir.path())?;
        let mut rx = sm.subscribe();
        let results = sm.apply(sample_log()).await?;
        assert_eq!(results.len(), 5);
        assert_eq!(results[2], CommandResult::Applied);
        rx.changed().await?;
        let replica = rx.borrow_and_update().clone();
        assert_eq!(replica.last_applied, Some(log_id(1, 5)));
        assert_eq!(
            replica.state.instance("a").map(|i| i.state),
            Some(InstanceState::Checking)
        );
        Ok(())
    }

    #[tokio::test]
    async fn an_older_snapshot_never_replaces_a_newer_one() -> Result<(), Box<dyn std::error::Error>>
    {
        let dir = TempDir::new()?;
        let (_log, mut sm) = open_store(dir.path())?;
        sm.apply(sample_log()).await?;
        let newer = sm.get_snapshot_builder().await.build_snapshot().await?;
        let older = StoredSnapshot {
            meta: SnapshotMeta {
                last_log_id: Some(log_id(1, 2)),
                last_membership: newer.meta.last_membership.clone(),
                snapshot_id: "older".into(),
            },
            data: codec::encode(&Replica::default())?,
        };
        sm.store_snapshot(older).await?;
        let current = sm.get_current_snapshot().await?.ok_or("no snapshot")?;
        assert_eq!(current.meta, newer.meta);
        Ok(())
    }

    #[tokio::test]
    async fn a_corrupt_snapshot_from_the_network_is_refused(
    ) -> Result<(), Box<dyn std::error::Error>> {
        let dir = TempDir::new()?;
        let (_log, mut sm) = open_store(dir.path())?;
        let meta = SnapshotMeta {
            last_log_id: Some(log_id(1, 9)),
            last_membership: StoredMembership::default(),
            snapshot_id: "bad".into(),
        };
        let garbage = Box::new(Cursor::new(vec![codec::FORMAT_VERSION, 0xFF, 0xFF]));
        assert!(sm.install_snapshot(&meta, garbage).await.is_err());
        assert_eq!(sm.applied_state().await?.0, None);
        assert!(sm.get_current_snapshot().await?.is_none());
        Ok(())
    }

    #[test]
    fn range_bounds_map_to_inclusive_index_ranges() {
        assert_eq!(inclusive_bounds(&(0..)), Some((0, u64::MAX)));
        assert_eq!(inclusive_bounds(&(3..7)), Some((3, 6)));
        assert_eq!(inclusive_bounds(&(3..=7)), Some((3, 7)));
        assert_eq!(inclusive_bounds(&(5..5)), None);
        assert_eq!(inclusive_bounds(&(0..0)), None);
        assert_eq!(
            inclusive_bounds(&(Bound::Excluded(u64::MAX), Bound::Unbounded)),
            None
        );
        // Big-endian keys sort like their indexes (little-endian would not past 255).
        assert!(log_key(255) < log_key(256));
    }
}
