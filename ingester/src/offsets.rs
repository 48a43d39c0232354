//! Which offset of each partition may be committed: the first message not yet durably handled.
//!
//! Messages of one partition arrive in offset order but finish in any order (batches of several
//! namespaces are written concurrently, a dead-lettered message waits for the dead-letter topic).
//! The tracker keeps the received, unfinished messages of every assigned partition in arrival
//! order; the commit position is the offset of the first unfinished one, or one past the last
//! received message when none is unfinished. Offsets need not be contiguous (compacted topics and
//! transaction markers leave gaps), so nothing is inferred from `offset + 1`.
//!
//! A message is split into parts (one per namespace its spans go to); it is finished when every
//! part is. A partition gets a new generation whenever its state is created afresh (assigned again
//! after a revoke, or re-delivered from an earlier offset), so a write that finishes after its
//! partition was revoked cannot mark a message of the new assignment.

use std::collections::{BTreeMap, VecDeque};

/// A received message, as the tracker knows it. Handed back to [`OffsetTracker::complete`] once
/// per part of the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct MessageRef {
    pub(crate) partition: i32,
    pub(crate) offset: i64,
    generation: u64,
}

#[derive(Debug)]
struct Entry {
    offset: i64,
    remaining_parts: u32,
    weight: usize,
}

#[derive(Debug)]
struct PartitionOffsets {
    generation: u64,
    /// Received messages from the first unfinished one on, in offset order.
    entries: VecDeque<Entry>,
    /// One past the last received offset.
    next_offset: i64,
    /// The last commit position handed out by [`OffsetTracker::due_commits`] and not failed.
    committed: Option<i64>,
}

impl PartitionOffsets {
    fn position(&self) -> i64 {
        self.entries.front().map_or(self.next_offset, |entry| entry.offset)
    }

    fn pop_finished(&mut self) {
        while self.entries.front().is_some_and(|entry| entry.remaining_parts == 0) {
            self.entries.pop_front();
        }
    }
}

/// Per-partition offsets of the messages in flight. Not thread-safe by itself; the ingester keeps
/// it behind its state lock.
#[derive(Debug, Default)]
pub(crate) struct OffsetTracker {
    partitions: BTreeMap<i32, PartitionOffsets>,
    next_generation: u64,
    /// Sum of the weights (spans) of unfinished messages, for backpressure.
    pending_weight: usize,
}

impl OffsetTracker {
    /// Records a received message with `parts` parts to finish (0: finished already) and a
    /// `weight` (its span count) for [`OffsetTracker::pending_weight`].
    ///
    /// A message at or before the last received offset of its partition means the consumer went
    /// back (a seek or an offset reset): the partition starts afresh at that offset and the
    /// unfinished messages after it are forgotten (they will be received again).
    pub(crate) fn received(&mut self, partition: i32, offset: i64, parts: u32, weight: usize) -> MessageRef {
        let went_back = self.partitions.get(&partition).is_some_and(|state| offset < state.next_offset);
        if went_back {
            self.remove(partition);
        }
        if !self.partitions.contains_key(&partition) {
            let generation = self.next_generation;
            self.next_generation += 1;
            let state = PartitionOffsets { generation, entries: VecDeque::new(), next_offset: offset, committed: None };
            self.partitions.insert(partition, state);
        }
        let Some(state) = self.partitions.get_mut(&partition) else {
            unreachable!("partition state inserted above");
        };
        state.next_offset = offset + 1;
        if parts > 0 {
            state.entries.push_back(Entry { offset, remaining_parts: parts, weight });
            self.pending_weight += weight;
        }
        MessageRef { partition, offset, generation: state.generation }
    }

    /// Marks one part of a message finished. Returns whether the message was known (false for a
    /// message of a revoked partition or an older generation, or an extra completion).
    pub(crate) fn complete(&mut self, message: &MessageRef) -> bool {
        let Some(state) = self.partitions.get_mut(&message.partition) else {
            return false;
        };
        if state.generation != message.generation {
            return false;
        }
        let Ok(index) = state.entries.binary_search_by_key(&message.offset, |entry| entry.offset) else {
            return false;
        };
        let entry = &mut state.entries[index];
        if entry.remaining_parts == 0 {
            return false;
        }
        entry.remaining_parts -= 1;
        if entry.remaining_parts == 0 {
            self.pending_weight -= entry.weight;
            state.pop_finished();
        }
        true
    }

    /// The offset to commit for `partition` (the next one to read after a restart), if the
    /// partition has received anything.
    #[cfg(test)]
    pub(crate) fn commit_position(&self, partition: i32) -> Option<i64> {
        self.partitions.get(&partition).map(PartitionOffsets::position)
    }

    /// Commit positions that moved since they were last handed out, recording them as committed.
    pub(crate) fn due_commits(&mut self) -> Vec<(i32, i64)> {
        let mut due = Vec::new();
        for (&partition, state) in &mut self.partitions {
            let position = state.position();
            if state.committed.is_none_or(|committed| position > committed) {
                state.committed = Some(position);
                due.push((partition, position));
            }
        }
        due
    }

    /// The commit position of every partition, recording them as committed (a final,
    /// synchronous commit: an earlier asynchronous one may have failed unnoticed).
    pub(crate) fn all_commits(&mut self) -> Vec<(i32, i64)> {
        self.partitions
            .iter_mut()
            .map(|(&partition, state)| {
                let position = state.position();
                state.committed = Some(position);
                (partition, position)
            })
            .collect()
    }

    /// A commit of `position` failed: hand it out again next time.
    pub(crate) fn commit_failed(&mut self, partition: i32, position: i64) {
        if let Some(state) = self.partitions.get_mut(&partition) {
            if state.committed == Some(position) {
                state.committed = None;
            }
        }
    }

    /// Whether `partition` has received messages that are not finished.
    pub(crate) fn has_unfinished(&self, partition: i32) -> bool {
        self.partitions.get(&partition).is_some_and(|state| !state.entries.is_empty())
    }

    /// Forgets `partition` (revoked), returning its commit position. Later completions of its
    /// messages are ignored.
    pub(crate) fn remove(&mut self, partition: i32) -> Option<i64> {
        let state = self.partitions.remove(&partition)?;
        let unfinished: usize = state.entries.iter().filter(|e| e.remaining_parts > 0).map(|e| e.weight).sum();
        self.pending_weight -= unfinished;
        Some(state.position())
    }

    /// Spans (at least one per message) received and not finished, over all partitions.
    pub(crate) fn pending_weight(&self) -> usize {
        self.pending_weight
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_position_follows_in_order_completion() {
        let mut tracker = OffsetTracker::default();
        let first = tracker.received(0, 10, 1, 1);
        let second = tracker.received(0, 11, 1, 1);
        assert_eq!(tracker.commit_position(0), Some(10));
        assert!(tracker.complete(&first));
        assert_eq!(tracker.commit_position(0), Some(11));
        assert!(tracker.complete(&second));
        assert_eq!(tracker.commit_position(0), Some(12));
        assert_eq!(tracker.pending_weight(), 0);
    }

    #[test]
    fn out_of_order_completion_never_passes_an_unfinished_message() {
        let mut tracker = OffsetTracker::default();
        let refs: Vec<_> = (0..5).map(|offset| tracker.received(3, offset, 1, 2)).collect();
        assert_eq!(tracker.pending_weight(), 10);
        tracker.complete(&refs[4]);
        tracker.complete(&refs[2]);
        tracker.complete(&refs[1]);
        assert_eq!(tracker.commit_position(3), Some(0), "offset 0 is unfinished");
        tracker.complete(&refs[0]);
        assert_eq!(tracker.commit_position(3), Some(3), "0..=2 finished, 3 is not");
        tracker.complete(&refs[3]);
        assert_eq!(tracker.commit_position(3), Some(5));
        assert_eq!(tracker.pending_weight(), 0);
    }

    #[test]
    fn offset_gaps_do_not_stall_the_commit_position() {
        let mut tracker = OffsetTracker::default();
        let a = tracker.received(1, 100, 1, 1);
        let b = tracker.received(1, 103, 1, 1); // 101, 102: transaction markers or compacted away
        tracker.complete(&a);
        assert_eq!(tracker.commit_position(1), Some(103));
        tracker.complete(&b);
        assert_eq!(tracker.commit_position(1), Some(104));
    }

    #[test]
    fn message_with_several_parts_finishes_with_its_last_part() {
        let mut tracker = OffsetTracker::default();
        let message = tracker.received(0, 7, 2, 4);
        tracker.complete(&message);
        assert_eq!(tracker.commit_position(0), Some(7));
        assert_eq!(tracker.pending_weight(), 4);
        tracker.complete(&message);
        assert_eq!(tracker.commit_position(0), Some(8));
        assert!(!tracker.complete(&message), "a third completion is ignored");
        assert_eq!(tracker.pending_weight(), 0);
    }

    #[test]
    fn message_without_parts_is_finished_at_once() {
        let mut tracker = OffsetTracker::default();
        tracker.received(0, 0, 0, 1);
        assert_eq!(tracker.commit_position(0), Some(1));
        assert_eq!(tracker.pending_weight(), 0);
        let pending = tracker.received(0, 1, 1, 1);
        tracker.received(0, 2, 0, 1);
        assert_eq!(tracker.commit_position(0), Some(1));
        tracker.complete(&pending);
        assert_eq!(tracker.commit_position(0), Some(3));
    }

    #[test]
    fn partitions_are_independent() {
        let mut tracker = OffsetTracker::default();
        let p0 = tracker.received(0, 5, 1, 1);
        let p1 = tracker.received(1, 50, 1, 1);
        tracker.complete(&p1);
        assert_eq!(tracker.commit_position(0), Some(5));
        assert_eq!(tracker.commit_position(1), Some(51));
        tracker.complete(&p0);
        assert_eq!(tracker.commit_position(0), Some(6));
        assert_eq!(tracker.commit_position(2), None);
    }

    #[test]
    fn due_commits_hands_out_only_positions_that_moved() {
        let mut tracker = OffsetTracker::default();
        let a = tracker.received(0, 0, 1, 1);
        tracker.received(1, 0, 0, 1);
        assert_eq!(tracker.due_commits(), vec![(0, 0), (1, 1)]);
        assert_eq!(tracker.due_commits(), vec![]);
        tracker.complete(&a);
        assert_eq!(tracker.due_commits(), vec![(0, 1)]);
        tracker.commit_failed(0, 1);
        assert_eq!(tracker.due_commits(), vec![(0, 1)], "a failed commit is handed out again");
        tracker.commit_failed(0, 0);
        assert_eq!(tracker.due_commits(), vec![], "an older failure does not reset a newer commit");
        assert_eq!(tracker.all_commits(), vec![(0, 1), (1, 1)], "a final commit takes every partition");
    }

    #[test]
    fn revoke_returns_the_position_and_ignores_late_completions() {
        let mut tracker = OffsetTracker::default();
        let done = tracker.received(2, 20, 1, 1);
        let in_flight = tracker.received(2, 21, 1, 3);
        tracker.complete(&done);
        assert!(tracker.has_unfinished(2));
        assert_eq!(tracker.remove(2), Some(21));
        assert_eq!(tracker.pending_weight(), 0);
        assert!(!tracker.complete(&in_flight), "the write finished after the revoke");
        assert_eq!(tracker.commit_position(2), None);
    }

    #[test]
    fn reassigned_partition_ignores_completions_of_the_previous_assignment() {
        let mut tracker = OffsetTracker::default();
        let old = tracker.received(0, 30, 2, 1);
        tracker.remove(0);
        let new = tracker.received(0, 30, 2, 1);
        assert!(!tracker.complete(&old), "same offset, older generation");
        assert_eq!(tracker.commit_position(0), Some(30));
        tracker.complete(&new);
        tracker.complete(&new);
        assert_eq!(tracker.commit_position(0), Some(31));
    }

    #[test]
    fn going_back_restarts_the_partition_at_the_earlier_offset() {
        let mut tracker = OffsetTracker::default();
        let first = tracker.received(0, 10, 1, 1);
        tracker.received(0, 11, 1, 1);
        let again = tracker.received(0, 10, 1, 1);
        assert_eq!(tracker.pending_weight(), 1);
        assert!(!tracker.complete(&first));
        assert_eq!(tracker.commit_position(0), Some(10));
        tracker.complete(&again);
        assert_eq!(tracker.commit_position(0), Some(11));
    }
}
