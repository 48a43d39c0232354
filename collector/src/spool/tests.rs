use std::fs;

use spoor_model::kafka::KafkaEncoding;

use super::*;

const MIB: u64 = 1024 * 1024;

fn batch(tag: u32, messages: usize) -> SpooledBatch {
    SpooledBatch {
        namespace: format!("ns-{tag}"),
        encoding: KafkaEncoding::Protobuf,
        appended_at_unix_ms: 1_000 + u64::from(tag),
        messages: (0..messages)
            .map(|i| SpooledMessage { key: format!("{tag:016x}").into_bytes(), value: vec![i as u8; 100] })
            .collect(),
    }
}

fn open(dir: &Path, max_bytes: u64, segment_bytes: u64) -> (Spool, OpenReport) {
    Spool::open(dir, max_bytes, segment_bytes).expect("spool opens")
}

fn segment_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == SEGMENT_EXTENSION))
        .collect();
    files.sort();
    files
}

fn drain_all(spool: &mut Spool) -> Vec<SpooledBatch> {
    let mut out = Vec::new();
    loop {
        let (records, _) = spool.peek(3, MIB).unwrap();
        if records.is_empty() {
            return out;
        }
        for (id, batch) in records {
            spool.ack(id).unwrap();
            out.push(batch);
        }
    }
}

#[test]
fn records_come_back_in_append_order_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, report) = open(dir.path(), MIB, 1024);
    assert_eq!(report, OpenReport::default());
    for tag in 0..10 {
        spool.append(&batch(tag, 2)).unwrap();
    }
    assert_eq!(spool.len(), 10);
    assert_eq!(spool.pending_messages(), 20);
    assert!(segment_files(dir.path()).len() > 1, "1 KiB segments roll over");
    drop(spool);

    let (mut reopened, report) = open(dir.path(), MIB, 1024);
    assert_eq!(report.records, 10);
    assert_eq!(report.messages, 20);
    assert_eq!(report.truncated_bytes, 0);
    let drained = drain_all(&mut reopened);
    assert_eq!(drained, (0..10).map(|tag| batch(tag, 2)).collect::<Vec<_>>());
}

#[test]
fn acknowledged_segments_are_deleted_and_an_empty_spool_leaves_no_files() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), MIB, 600);
    for tag in 0..6 {
        spool.append(&batch(tag, 2)).unwrap();
    }
    let files_before = segment_files(dir.path()).len();
    assert!(files_before >= 3, "{files_before}");
    let used_before = spool.used_bytes();
    let (records, _) = spool.peek(1, MIB).unwrap();
    spool.ack(records[0].0).unwrap();
    let (records, _) = spool.peek(1, MIB).unwrap();
    spool.ack(records[0].0).unwrap();
    assert!(segment_files(dir.path()).len() < files_before, "the first segment is gone");
    assert!(spool.used_bytes() < used_before);
    drain_all(&mut spool);
    assert!(spool.is_empty());
    assert_eq!(spool.used_bytes(), 0);
    assert!(segment_files(dir.path()).is_empty());
    // And appending again starts a fresh segment.
    spool.append(&batch(9, 1)).unwrap();
    assert_eq!(segment_files(dir.path()).len(), 1);
}

#[test]
fn a_torn_tail_record_is_detected_and_truncated_on_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), MIB, MIB);
    for tag in 0..3 {
        spool.append(&batch(tag, 1)).unwrap();
    }
    drop(spool);
    let file = segment_files(dir.path()).pop().unwrap();
    let good_len = fs::metadata(&file).unwrap().len();
    // A crash in the middle of the fourth append: its frame made it only halfway.
    let torn = batch(3, 1).encode_frame();
    let mut bytes = fs::read(&file).unwrap();
    bytes.extend_from_slice(&torn[..torn.len() / 2]);
    fs::write(&file, &bytes).unwrap();

    let (mut reopened, report) = open(dir.path(), MIB, MIB);
    assert_eq!(report.records, 3);
    assert_eq!(report.truncated_bytes, (torn.len() / 2) as u64);
    assert_eq!(fs::metadata(&file).unwrap().len(), good_len, "the torn bytes are cut off");
    // Appending after the repair works and keeps the order.
    reopened.append(&batch(4, 1)).unwrap();
    let tags: Vec<_> = drain_all(&mut reopened).into_iter().map(|b| b.namespace).collect();
    assert_eq!(tags, ["ns-0", "ns-1", "ns-2", "ns-4"]);
}

#[test]
fn a_record_whose_crc_does_not_match_ends_the_segment() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), MIB, MIB);
    let mut ids = Vec::new();
    for tag in 0..3 {
        ids.push(spool.append(&batch(tag, 1)).unwrap());
    }
    drop(spool);
    let file = segment_files(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&file).unwrap();
    // Flip a payload bit of the last record (a full-length frame with wrong content).
    let last = ids[2].offset as usize;
    bytes[last + FRAME_HEADER_BYTES + 5] ^= 0x01;
    fs::write(&file, &bytes).unwrap();

    let (mut reopened, report) = open(dir.path(), MIB, MIB);
    assert_eq!(report.records, 2);
    assert_eq!(report.truncated_bytes, (bytes.len() - last) as u64);
    assert_eq!(drain_all(&mut reopened).len(), 2);
}

#[test]
fn a_zero_length_or_torn_header_segment_is_removed_and_foreign_files_are_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("00000000000000000007.spool"), &SEGMENT_MAGIC[..3]).unwrap();
    fs::write(dir.path().join("00000000000000000008.spool"), b"").unwrap();
    fs::write(dir.path().join("00000000000000000009.spool"), b"not a spool segment").unwrap();
    fs::write(dir.path().join("notes.txt"), b"hello").unwrap();
    let (mut spool, report) = open(dir.path(), MIB, MIB);
    assert_eq!(report.records, 0);
    assert!(!dir.path().join("00000000000000000007.spool").exists());
    assert!(!dir.path().join("00000000000000000008.spool").exists());
    assert!(dir.path().join("00000000000000000009.spool").exists());
    assert!(dir.path().join("notes.txt").exists());
    // New segments are numbered after every existing one, foreign or not.
    let id = spool.append(&batch(1, 1)).unwrap();
    assert_eq!(id.segment, 10);
}

#[test]
fn a_full_spool_refuses_until_records_are_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    // One record per segment: space comes back per segment, when its last record is acknowledged.
    let segment = SEGMENT_MAGIC.len() as u64 + batch(0, 1).encode_frame().len() as u64;
    let (mut spool, _) = open(dir.path(), 3 * segment, segment);
    for tag in 0..3 {
        spool.append(&batch(tag, 1)).unwrap();
    }
    let error = spool.append(&batch(3, 1)).unwrap_err();
    assert!(matches!(error, SpoolError::Full { .. }), "{error}");
    assert_eq!(spool.len(), 3, "a refused append changes nothing");

    let (records, _) = spool.peek(1, MIB).unwrap();
    spool.ack(records[0].0).unwrap();
    spool.append(&batch(3, 1)).unwrap();
    let tags: Vec<_> = drain_all(&mut spool).into_iter().map(|b| b.namespace).collect();
    assert_eq!(tags, ["ns-1", "ns-2", "ns-3"]);
}

#[test]
fn a_record_larger_than_the_whole_spool_is_refused_as_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), 200, MIB);
    let error = spool.append(&batch(0, 5)).unwrap_err();
    assert!(matches!(error, SpoolError::RecordTooLarge { .. }), "{error}");
}

#[test]
fn used_bytes_match_the_files_on_disk_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), MIB, 700);
    for tag in 0..7 {
        spool.append(&batch(tag, 1)).unwrap();
    }
    let on_disk = |dir: &Path| segment_files(dir).iter().map(|p| fs::metadata(p).unwrap().len()).sum::<u64>();
    assert_eq!(spool.used_bytes(), on_disk(dir.path()));
    let used = spool.used_bytes();
    drop(spool);
    let (spool, _) = open(dir.path(), MIB, 700);
    assert_eq!(spool.used_bytes(), used);
}

#[test]
fn only_the_oldest_record_can_be_acknowledged() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), MIB, MIB);
    spool.append(&batch(0, 1)).unwrap();
    let second = spool.append(&batch(1, 1)).unwrap();
    assert!(matches!(spool.ack(second), Err(SpoolError::NotOldest(_))));
    assert_eq!(spool.len(), 2);
}

#[test]
fn peek_returns_at_least_one_record_and_then_what_fits() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), MIB, MIB);
    for tag in 0..5 {
        spool.append(&batch(tag, 1)).unwrap();
    }
    assert_eq!(spool.peek(10, 1).unwrap().0.len(), 1, "one record even when it exceeds max_bytes");
    assert_eq!(spool.peek(2, MIB).unwrap().0.len(), 2);
    assert_eq!(spool.peek(10, MIB).unwrap().0.len(), 5);
    assert_eq!(spool.len(), 5, "peek removes nothing");
}

#[test]
fn a_record_corrupted_after_open_is_dropped_and_counted_when_read() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), MIB, MIB);
    let first = spool.append(&batch(0, 3)).unwrap();
    spool.append(&batch(1, 1)).unwrap();
    let file = segment_files(dir.path()).pop().unwrap();
    let mut bytes = fs::read(&file).unwrap();
    bytes[first.offset as usize + FRAME_HEADER_BYTES + 2] ^= 0xff;
    fs::write(&file, &bytes).unwrap();
    let (records, dropped) = spool.peek(10, MIB).unwrap();
    assert_eq!(dropped, 3);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].1.namespace, "ns-1");
}

#[test]
fn after_a_crash_the_unfinished_segment_is_sent_again_from_its_start() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), MIB, MIB);
    for tag in 0..3 {
        spool.append(&batch(tag, 1)).unwrap();
    }
    let (records, _) = spool.peek(1, MIB).unwrap();
    spool.ack(records[0].0).unwrap();
    drop(spool); // "crash": progress inside a segment is not persisted
    let (mut reopened, report) = open(dir.path(), MIB, MIB);
    assert_eq!(report.records, 3, "duplicates, never losses");
    assert_eq!(drain_all(&mut reopened).len(), 3);
}

#[test]
fn oldest_age_follows_the_oldest_pending_record() {
    let dir = tempfile::tempdir().unwrap();
    let (mut spool, _) = open(dir.path(), MIB, MIB);
    assert_eq!(spool.oldest_age_seconds(), 0.0);
    let mut old = batch(0, 1);
    old.appended_at_unix_ms = now_unix_ms() - 60_000;
    spool.append(&old).unwrap();
    let mut young = batch(1, 1);
    young.appended_at_unix_ms = now_unix_ms();
    spool.append(&young).unwrap();
    assert!(spool.oldest_age_seconds() >= 59.0);
    let (records, _) = spool.peek(1, MIB).unwrap();
    spool.ack(records[0].0).unwrap();
    assert!(spool.oldest_age_seconds() < 30.0);
}
