//! A bounded, crash-safe, first-in-first-out disk spool of Kafka messages (the collector's
//! "disconnected mode"): batches Kafka did not take are appended here, and the Kafka writer's
//! drainer resends them in order when Kafka is back.
//!
//! - **Durable before acknowledged**: [`Spool::append`] returns after the record is written and
//!   `fsync`ed (and, for a new segment file, its directory too).
//! - **Segments**: records go into numbered segment files (`00000000000000000001.spool`, ...) of
//!   about [`SpoolConfig::segment_bytes`]; a segment is deleted once every one of its records was
//!   acknowledged with [`Spool::ack`]. Progress within a segment is kept in memory only, so after a
//!   crash the records of the oldest segment that were already sent are sent again (duplicates
//!   are harmless: storage is idempotent).
//! - **Torn writes**: every record is framed with its length and CRC-32 (see [`record`]). On
//!   [`Spool::open`], a segment is read up to its first bad frame and truncated there; a crash in
//!   the middle of an append therefore loses only the record that was never acknowledged.
//! - **Bounded**: the segment files never exceed [`SpoolConfig::max_bytes`] together;
//!   [`Spool::append`] fails with [`SpoolError::Full`] instead.
//!
//! The spool is synchronous (it `fsync`s); async callers run it on a blocking thread.

mod config;
pub mod record;

use std::collections::{BTreeMap, VecDeque};
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::time::{SystemTime, UNIX_EPOCH};

pub use config::SpoolConfig;
use record::{FrameHeader, FRAME_HEADER_BYTES, MAX_PAYLOAD_BYTES, SEGMENT_MAGIC};
pub use record::{SpooledBatch, SpooledMessage};

const SEGMENT_EXTENSION: &str = "spool";

/// Why a spool operation failed.
#[derive(Debug, thiserror::Error)]
pub enum SpoolError {
    /// The record does not fit under `max_bytes` now (retry later, when the spool drained).
    #[error("spool is full: {used_bytes} of {max_bytes} bytes used, a record of {record_bytes} bytes does not fit")]
    Full { used_bytes: u64, max_bytes: u64, record_bytes: u64 },
    /// The record is larger than the whole spool may ever be.
    #[error("a record of {record_bytes} bytes is larger than the spool ({max_bytes} bytes)")]
    RecordTooLarge { record_bytes: u64, max_bytes: u64 },
    #[error("spool I/O on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: io::Error,
    },
    /// [`Spool::ack`] was given a record that is not the oldest one.
    #[error("record {0:?} is not the oldest spooled record")]
    NotOldest(RecordId),
}

fn io_error(path: &Path) -> impl FnOnce(io::Error) -> SpoolError + '_ {
    move |source| SpoolError::Io { path: path.to_path_buf(), source }
}

/// Where a record is: its segment and its frame's offset in the segment file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RecordId {
    pub segment: u64,
    pub offset: u64,
}

/// What [`Spool::open`] found on disk.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OpenReport {
    /// Segment files read.
    pub segments: usize,
    /// Records waiting to be sent.
    pub records: usize,
    /// Messages (spans, for one-span encodings) in those records.
    pub messages: u64,
    /// Bytes cut off segment ends because their frames were torn or corrupt.
    pub truncated_bytes: u64,
}

/// A pending record, as indexed in memory.
#[derive(Clone, Copy, Debug)]
struct PendingRecord {
    id: RecordId,
    frame_len: u64,
    appended_at_unix_ms: u64,
    messages: u32,
}

#[derive(Debug)]
struct Segment {
    path: PathBuf,
    len: u64,
    /// Pending (not yet acknowledged) records in this segment.
    pending: usize,
}

/// The spool. See the module documentation for its guarantees.
#[derive(Debug)]
pub struct Spool {
    directory: PathBuf,
    max_bytes: u64,
    segment_bytes: u64,
    segments: BTreeMap<u64, Segment>,
    /// The segment new records are appended to, open for writing.
    active: Option<(u64, File)>,
    pending: VecDeque<PendingRecord>,
    pending_messages: u64,
    used_bytes: u64,
    /// The segment last read from, kept open.
    reader: Option<(u64, File)>,
    next_segment: u64,
}

impl Spool {
    /// Opens (creating it if needed) the spool in `directory`, reading every segment and
    /// truncating torn or corrupt frame tails.
    pub fn open(directory: &Path, max_bytes: u64, segment_bytes: u64) -> Result<(Self, OpenReport), SpoolError> {
        fs::create_dir_all(directory).map_err(io_error(directory))?;
        let mut numbered = Vec::new();
        for entry in fs::read_dir(directory).map_err(io_error(directory))? {
            let entry = entry.map_err(io_error(directory))?;
            let path = entry.path();
            if path.extension().and_then(|e| e.to_str()) != Some(SEGMENT_EXTENSION) {
                continue;
            }
            if let Some(number) = path.file_stem().and_then(|s| s.to_str()).and_then(|s| s.parse::<u64>().ok()) {
                numbered.push((number, path));
            }
        }
        numbered.sort();

        let mut spool = Self {
            directory: directory.to_path_buf(),
            max_bytes,
            segment_bytes: segment_bytes.max(1),
            segments: BTreeMap::new(),
            active: None,
            pending: VecDeque::new(),
            pending_messages: 0,
            used_bytes: 0,
            reader: None,
            next_segment: numbered.last().map_or(1, |(number, _)| number + 1),
        };
        let mut report = OpenReport::default();
        for (number, path) in numbered {
            let scan = scan_segment(&path)?;
            report.truncated_bytes += scan.truncated_bytes;
            if scan.valid_len <= SEGMENT_MAGIC.len() as u64 {
                // Nothing in it (or a segment torn while being created): remove it.
                if scan.foreign {
                    tracing::warn!(path = %path.display(), "spool segment has no spool header; left alone");
                    continue;
                }
                fs::remove_file(&path).map_err(io_error(&path))?;
                continue;
            }
            report.segments += 1;
            spool.pending.extend(scan.records.iter().map(|record| PendingRecord {
                id: RecordId { segment: number, offset: record.offset },
                frame_len: record.frame_len,
                appended_at_unix_ms: record.appended_at_unix_ms,
                messages: record.messages,
            }));
            report.records += scan.records.len();
            report.messages += scan.records.iter().map(|r| u64::from(r.messages)).sum::<u64>();
            spool.used_bytes += scan.valid_len;
            spool.segments.insert(number, Segment { path, len: scan.valid_len, pending: scan.records.len() });
        }
        spool.pending_messages = report.messages;
        if report.truncated_bytes > 0 {
            sync_directory(directory)?;
        }
        Ok((spool, report))
    }

    /// Appends a batch as one record and `fsync`s it. [`SpoolError::Full`] when it does not fit.
    pub fn append(&mut self, batch: &SpooledBatch) -> Result<RecordId, SpoolError> {
        let frame = batch.encode_frame();
        let frame_len = frame.len() as u64;
        let needs_new_segment = match &self.active {
            None => true,
            Some((number, _)) => {
                let len = self.segments.get(number).map_or(0, |s| s.len);
                len > SEGMENT_MAGIC.len() as u64 && len + frame_len > self.segment_bytes
            }
        };
        let added_bytes = frame_len + if needs_new_segment { SEGMENT_MAGIC.len() as u64 } else { 0 };
        if added_bytes > self.max_bytes || frame.len() - FRAME_HEADER_BYTES > MAX_PAYLOAD_BYTES {
            return Err(SpoolError::RecordTooLarge { record_bytes: frame_len, max_bytes: self.max_bytes });
        }
        if self.used_bytes + added_bytes > self.max_bytes {
            return Err(SpoolError::Full {
                used_bytes: self.used_bytes,
                max_bytes: self.max_bytes,
                record_bytes: frame_len,
            });
        }
        if needs_new_segment {
            self.start_segment()?;
        }
        let (number, file) = self.active.as_mut().expect("an active segment was just ensured");
        let number = *number;
        let segment = self.segments.get_mut(&number).expect("the active segment is indexed");
        let offset = segment.len;
        let written = file.write_all(&frame).and_then(|()| file.sync_data());
        if let Err(source) = written {
            // Cut off whatever part of the frame made it, so the segment stays well-formed, and
            // start the next append in a fresh segment.
            let _ = file.set_len(offset).and_then(|()| file.sync_data());
            let _ = file.seek(SeekFrom::Start(offset));
            self.active = None;
            return Err(SpoolError::Io { path: segment.path.clone(), source });
        }
        segment.len += frame_len;
        segment.pending += 1;
        self.used_bytes += frame_len;
        let id = RecordId { segment: number, offset };
        self.pending.push_back(PendingRecord {
            id,
            frame_len,
            appended_at_unix_ms: batch.appended_at_unix_ms,
            messages: batch.messages.len() as u32,
        });
        self.pending_messages += batch.messages.len() as u64;
        Ok(id)
    }

    fn start_segment(&mut self) -> Result<(), SpoolError> {
        let number = self.next_segment;
        self.next_segment += 1;
        let path = self.directory.join(format!("{number:020}.{SEGMENT_EXTENSION}"));
        let mut file = OpenOptions::new().create_new(true).append(true).open(&path).map_err(io_error(&path))?;
        file.write_all(SEGMENT_MAGIC).and_then(|()| file.sync_data()).map_err(io_error(&path))?;
        sync_directory(&self.directory)?;
        self.used_bytes += SEGMENT_MAGIC.len() as u64;
        self.segments.insert(number, Segment { path, len: SEGMENT_MAGIC.len() as u64, pending: 0 });
        self.active = Some((number, file));
        Ok(())
    }

    /// Reads up to `max_records` of the oldest records (at least one when any is pending, then
    /// as many as fit in `max_bytes`), without removing them. A record that fails its CRC or
    /// does not decode (the disk changed under us) is dropped with an error log; the count of
    /// such messages is returned too.
    pub fn peek(
        &mut self,
        max_records: usize,
        max_bytes: u64,
    ) -> Result<(Vec<(RecordId, SpooledBatch)>, u64), SpoolError> {
        let mut out = Vec::new();
        let mut bytes = 0;
        let mut dropped_messages = 0;
        let mut index = 0;
        while index < self.pending.len() && out.len() < max_records {
            let record = self.pending[index];
            if !out.is_empty() && bytes + record.frame_len > max_bytes {
                break;
            }
            match self.read_record(&record)? {
                Some(batch) => {
                    bytes += record.frame_len;
                    out.push((record.id, batch));
                    index += 1;
                }
                None if index == 0 => {
                    dropped_messages += u64::from(record.messages);
                    self.ack(record.id)?;
                }
                None => break,
            }
        }
        Ok((out, dropped_messages))
    }

    fn read_record(&mut self, record: &PendingRecord) -> Result<Option<SpooledBatch>, SpoolError> {
        let segment = record.id.segment;
        let path = match self.segments.get(&segment) {
            Some(s) => s.path.clone(),
            None => return Ok(None),
        };
        if self.reader.as_ref().map(|(n, _)| *n) != Some(segment) {
            let file = File::open(&path).map_err(io_error(&path))?;
            self.reader = Some((segment, file));
        }
        let (_, file) = self.reader.as_mut().expect("reader was just opened");
        let mut frame = vec![0u8; record.frame_len as usize];
        file.seek(SeekFrom::Start(record.id.offset)).map_err(io_error(&path))?;
        file.read_exact(&mut frame).map_err(io_error(&path))?;
        let header = FrameHeader::parse(frame[..FRAME_HEADER_BYTES].try_into().expect("8 bytes"));
        let payload = &frame[FRAME_HEADER_BYTES..];
        if header.payload_len != payload.len() || !header.matches(payload) {
            tracing::error!(path = %path.display(), offset = record.id.offset, "spooled record changed on disk; dropped");
            return Ok(None);
        }
        match SpooledBatch::decode_payload(payload) {
            Ok(batch) => Ok(Some(batch)),
            Err(error) => {
                tracing::error!(path = %path.display(), offset = record.id.offset, %error, "spooled record unreadable; dropped");
                Ok(None)
            }
        }
    }

    /// Removes the oldest record, which must be `id`, after Kafka acknowledged it; deletes its
    /// segment file when that was the segment's last pending record.
    pub fn ack(&mut self, id: RecordId) -> Result<(), SpoolError> {
        if self.pending.front().map(|r| r.id) != Some(id) {
            return Err(SpoolError::NotOldest(id));
        }
        let record = self.pending.pop_front().expect("front was just checked");
        self.pending_messages -= u64::from(record.messages);
        let segment = self.segments.get_mut(&id.segment).expect("pending records have a segment");
        segment.pending -= 1;
        // Records are acknowledged oldest first, so a segment without pending records is done
        // for good. That includes the active one (the next append starts a new segment): an
        // empty spool leaves no files behind.
        if segment.pending == 0 {
            self.delete_segment(id.segment)?;
        }
        Ok(())
    }

    fn delete_segment(&mut self, number: u64) -> Result<(), SpoolError> {
        if let Some(segment) = self.segments.remove(&number) {
            if self.active.as_ref().map(|(n, _)| *n) == Some(number) {
                self.active = None;
            }
            if self.reader.as_ref().map(|(n, _)| *n) == Some(number) {
                self.reader = None;
            }
            fs::remove_file(&segment.path).map_err(io_error(&segment.path))?;
            self.used_bytes -= segment.len;
        }
        Ok(())
    }

    /// True when no record is waiting.
    pub fn is_empty(&self) -> bool {
        self.pending.is_empty()
    }

    /// Records waiting.
    pub fn len(&self) -> usize {
        self.pending.len()
    }

    /// Messages in the records waiting.
    pub fn pending_messages(&self) -> u64 {
        self.pending_messages
    }

    /// Bytes of the segment files.
    pub fn used_bytes(&self) -> u64 {
        self.used_bytes
    }

    pub fn max_bytes(&self) -> u64 {
        self.max_bytes
    }

    pub fn directory(&self) -> &Path {
        &self.directory
    }

    /// When the oldest waiting record was appended (milliseconds since the epoch).
    pub fn oldest_appended_at_unix_ms(&self) -> Option<u64> {
        self.pending.front().map(|r| r.appended_at_unix_ms)
    }

    /// Seconds since the oldest waiting record was appended; 0 when empty.
    pub fn oldest_age_seconds(&self) -> f64 {
        self.oldest_appended_at_unix_ms().map_or(0.0, |appended| now_unix_ms().saturating_sub(appended) as f64 / 1000.0)
    }
}

/// Milliseconds since the epoch, for [`SpooledBatch::appended_at_unix_ms`].
pub fn now_unix_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn sync_directory(directory: &Path) -> Result<(), SpoolError> {
    File::open(directory).and_then(|dir| dir.sync_all()).map_err(io_error(directory))
}

struct ScannedRecord {
    offset: u64,
    frame_len: u64,
    appended_at_unix_ms: u64,
    messages: u32,
}

struct SegmentScan {
    records: Vec<ScannedRecord>,
    valid_len: u64,
    truncated_bytes: u64,
    /// The file does not start with the spool's magic (and is not a torn prefix of it).
    foreign: bool,
}

/// Reads a segment's frames up to the first torn or corrupt one and truncates the file there.
fn scan_segment(path: &Path) -> Result<SegmentScan, SpoolError> {
    let mut file = OpenOptions::new().read(true).write(true).open(path).map_err(io_error(path))?;
    let file_len = file.metadata().map_err(io_error(path))?.len();
    let mut bytes = Vec::with_capacity(file_len.min(64 * 1024 * 1024) as usize);
    file.read_to_end(&mut bytes).map_err(io_error(path))?;
    let magic_len = SEGMENT_MAGIC.len();
    if bytes.len() < magic_len || &bytes[..magic_len] != SEGMENT_MAGIC {
        let torn_header = bytes.len() < magic_len && SEGMENT_MAGIC.starts_with(&bytes);
        return Ok(SegmentScan { records: Vec::new(), valid_len: 0, truncated_bytes: 0, foreign: !torn_header });
    }
    let mut records = Vec::new();
    let mut offset = magic_len;
    loop {
        let rest = &bytes[offset..];
        if rest.len() < FRAME_HEADER_BYTES {
            break;
        }
        let header = FrameHeader::parse(rest[..FRAME_HEADER_BYTES].try_into().expect("8 bytes"));
        if header.payload_len > MAX_PAYLOAD_BYTES || rest.len() - FRAME_HEADER_BYTES < header.payload_len {
            break;
        }
        let payload = &rest[FRAME_HEADER_BYTES..FRAME_HEADER_BYTES + header.payload_len];
        if !header.matches(payload) {
            break;
        }
        let Ok(batch) = SpooledBatch::decode_payload(payload) else {
            break;
        };
        let frame_len = (FRAME_HEADER_BYTES + header.payload_len) as u64;
        records.push(ScannedRecord {
            offset: offset as u64,
            frame_len,
            appended_at_unix_ms: batch.appended_at_unix_ms,
            messages: batch.messages.len() as u32,
        });
        offset += frame_len as usize;
    }
    let valid_len = offset as u64;
    let truncated_bytes = file_len - valid_len;
    if truncated_bytes > 0 {
        tracing::warn!(path = %path.display(), valid_bytes = valid_len, truncated_bytes, "spool segment ends in a torn or corrupt record; truncated");
        file.set_len(valid_len).and_then(|()| file.sync_all()).map_err(io_error(path))?;
    }
    Ok(SegmentScan { records, valid_len, truncated_bytes, foreign: false })
}

#[cfg(test)]
mod tests;
