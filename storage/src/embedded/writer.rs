//! The single writer thread: group commit. It takes every `write` call waiting in its queue (up to
//! a span bound), puts all their rows into one fjall batch, commits it with the configured sync,
//! and only then answers all of them. Concurrent writers share one `fdatasync`.
//!
//! A purge goes through the same queue, so it runs between two commits and never deletes a day
//! partition a commit is writing into.

use std::sync::Arc;
use std::thread::JoinHandle;

use fjall::PersistMode;
use tokio::sync::{mpsc, oneshot};

use super::config::SyncPolicy;
use super::dbmodel::operation_key;
use super::encode::EncodedBatch;
use super::partitions::day_of;
use super::{fjall_error, Shared};
use crate::api::{Result, StorageError};

/// What the writer thread is asked to do.
pub(crate) enum WriterCommand {
    Write(WriteRequest),
    /// Delete every day partition, answering how many were deleted.
    Purge(oneshot::Sender<Result<usize>>),
}

/// One `write` call waiting for the writer.
pub(crate) struct WriteRequest {
    pub batch: EncodedBatch,
    pub reply: oneshot::Sender<Result<()>>,
}

pub(crate) fn spawn(
    shared: Arc<Shared>,
    requests: mpsc::Receiver<WriterCommand>,
    sync_policy: SyncPolicy,
    max_commit_spans: usize,
) -> std::io::Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("spoor-embedded-writer".into())
        .spawn(move || run(&shared, requests, sync_policy, max_commit_spans))
}

fn run(shared: &Shared, mut requests: mpsc::Receiver<WriterCommand>, sync_policy: SyncPolicy, max_commit_spans: usize) {
    // A purge found while gathering a group runs right after that group's commit.
    let mut purge_after_group: Option<WriterCommand> = None;
    loop {
        let Some(command) = purge_after_group.take().or_else(|| requests.blocking_recv()) else { break };
        let first = match command {
            WriterCommand::Purge(reply) => {
                let _ = reply.send(purge(shared));
                continue;
            }
            WriterCommand::Write(request) => request,
        };
        let mut span_count = first.batch.span_count;
        let mut group = vec![first];
        while span_count < max_commit_spans {
            match requests.try_recv() {
                Ok(WriterCommand::Write(request)) => {
                    span_count += request.batch.span_count;
                    group.push(request);
                }
                Ok(purge) => {
                    purge_after_group = Some(purge);
                    break;
                }
                Err(_) => break,
            }
        }
        let mut replies = Vec::with_capacity(group.len());
        let mut batches = Vec::with_capacity(group.len());
        for request in group {
            replies.push(request.reply);
            batches.push(request.batch);
        }
        let result = commit(shared, batches, sync_policy);
        if let Err(error) = &result {
            tracing::error!(error = %error, spans = span_count, "embedded store commit failed");
        }
        for reply in replies {
            // A caller that gave up waiting is fine: its spans are committed (or not) all the same.
            let _ = reply.send(result.as_ref().map(|_| ()).map_err(replicate_error));
        }
    }
}

/// Deletes every day partition (all namespaces); the next commit creates today's afresh.
fn purge(shared: &Shared) -> Result<usize> {
    let dropped = shared.partitions.drop_all()?;
    shared.db.persist(PersistMode::SyncAll).map_err(fjall_error)?;
    tracing::info!(days = dropped.len(), "embedded store purged");
    Ok(dropped.len())
}

fn commit(shared: &Shared, batches: Vec<EncodedBatch>, sync_policy: SyncPolicy) -> Result<()> {
    let partition = shared.partitions.get_or_create(day_of(shared.clock.now_unix_nanos()))?;
    let durability = match sync_policy {
        SyncPolicy::EveryBatch => Some(PersistMode::SyncData),
        SyncPolicy::OsBuffer => Some(PersistMode::Buffer),
        SyncPolicy::Never => None,
    };
    let item_count: usize =
        batches.iter().map(|b| b.span_rows.len() + b.search_rows.len() + b.dependency_rows.len()).sum();
    let mut commit = fjall::OwnedWriteBatch::with_capacity(shared.db.clone(), item_count).durability(durability);
    let mut new_operations = Vec::new();
    {
        let catalog = partition.catalog.read();
        for batch in batches {
            for (key, value) in batch.span_rows {
                commit.insert(&partition.spans, key, value);
            }
            for (key, value) in batch.search_rows.into_iter().chain(batch.dependency_rows) {
                commit.insert(&partition.index, key, value);
            }
            for (service, operation, kind) in batch.operations {
                if catalog.contains(&batch.namespace, &service, &operation, kind) {
                    continue;
                }
                let entry = (batch.namespace.clone(), service, operation, kind);
                if new_operations.contains(&entry) {
                    continue;
                }
                commit.insert(
                    &partition.index,
                    operation_key(&batch.namespace_key, &entry.1, kind, &entry.2),
                    Vec::new(),
                );
                new_operations.push(entry);
            }
        }
    }
    commit.commit().map_err(fjall_error)?;
    if !new_operations.is_empty() {
        let mut catalog = partition.catalog.write();
        for (namespace, service, operation, kind) in new_operations {
            catalog.insert(&namespace, &service, &operation, kind);
        }
    }
    Ok(())
}

/// The same failure for every caller of a group (errors are not `Clone`).
fn replicate_error(error: &StorageError) -> StorageError {
    match error {
        StorageError::InvalidQuery(text) => StorageError::InvalidQuery(text.clone()),
        StorageError::Unavailable(text) => StorageError::Unavailable(text.clone()),
        StorageError::Overloaded(text) => StorageError::Overloaded(text.clone()),
        StorageError::UnknownNamespace(text) => StorageError::UnknownNamespace(text.clone()),
        StorageError::Corrupt(text) => StorageError::Corrupt(text.clone()),
        StorageError::Io(io) => StorageError::Io(std::io::Error::new(io.kind(), io.to_string())),
        StorageError::Backend(text) => StorageError::Backend(text.clone()),
    }
}
