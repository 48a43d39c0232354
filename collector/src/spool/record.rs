//! The on-disk form of a spooled batch and its framing.
//!
//! A segment file is the 8-byte magic [`SEGMENT_MAGIC`] followed by frames:
//!
//! ```text
//! u32 LE  payload length
//! u32 LE  CRC-32 (IEEE) of the payload
//! payload
//! ```
//!
//! A payload ([`SpooledBatch`], version 1), all integers little-endian:
//!
//! ```text
//! u8      version = 1
//! u64     appended at, milliseconds since the epoch
//! u16     namespace length, then the namespace (UTF-8)
//! u8      encoding name length, then the name (`protobuf`, `json`, `otlp_proto`)
//! u32     message count, then per message: u32 key length, key, u32 value length, value
//! ```

use spoor_model::kafka::KafkaEncoding;

/// The first bytes of every segment file.
pub const SEGMENT_MAGIC: &[u8; 8] = b"SPOORSP1";
/// Length and CRC in front of every payload.
pub const FRAME_HEADER_BYTES: usize = 8;
/// No record is larger than this (a corrupt length field is recognised by it).
pub const MAX_PAYLOAD_BYTES: usize = 256 * 1024 * 1024;

const PAYLOAD_VERSION: u8 = 1;

/// One Kafka message of a spooled batch, already encoded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpooledMessage {
    pub key: Vec<u8>,
    pub value: Vec<u8>,
}

/// Messages that were to be produced together, with what their headers say.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SpooledBatch {
    pub namespace: String,
    pub encoding: KafkaEncoding,
    pub appended_at_unix_ms: u64,
    pub messages: Vec<SpooledMessage>,
}

/// Why a payload could not be read back.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RecordError {
    #[error("record payload is truncated")]
    Truncated,
    #[error("record payload version {0} is not supported")]
    Version(u8),
    #[error("record namespace is not UTF-8")]
    Namespace,
    #[error("record encoding {0:?} is unknown")]
    Encoding(String),
    #[error("record has {0} bytes after its last message")]
    TrailingBytes(usize),
}

impl SpooledBatch {
    /// The encoded payload's size, without the frame header.
    pub fn payload_len(&self) -> usize {
        1 + 8
            + 2
            + self.namespace.len()
            + 1
            + self.encoding.as_str().len()
            + 4
            + self.messages.iter().map(|m| 8 + m.key.len() + m.value.len()).sum::<usize>()
    }

    /// The whole frame: header and payload. Namespace names longer than 65535 bytes are cut
    /// (namespaces are short identifiers).
    pub fn encode_frame(&self) -> Vec<u8> {
        let mut payload = Vec::with_capacity(self.payload_len());
        payload.push(PAYLOAD_VERSION);
        payload.extend_from_slice(&self.appended_at_unix_ms.to_le_bytes());
        let namespace = &self.namespace.as_bytes()[..self.namespace.len().min(usize::from(u16::MAX))];
        payload.extend_from_slice(&(namespace.len() as u16).to_le_bytes());
        payload.extend_from_slice(namespace);
        let encoding = self.encoding.as_str().as_bytes();
        payload.push(encoding.len() as u8);
        payload.extend_from_slice(encoding);
        payload.extend_from_slice(&(self.messages.len() as u32).to_le_bytes());
        for message in &self.messages {
            payload.extend_from_slice(&(message.key.len() as u32).to_le_bytes());
            payload.extend_from_slice(&message.key);
            payload.extend_from_slice(&(message.value.len() as u32).to_le_bytes());
            payload.extend_from_slice(&message.value);
        }
        let mut frame = Vec::with_capacity(FRAME_HEADER_BYTES + payload.len());
        frame.extend_from_slice(&(payload.len() as u32).to_le_bytes());
        frame.extend_from_slice(&crc32fast::hash(&payload).to_le_bytes());
        frame.extend_from_slice(&payload);
        frame
    }

    /// Reads a payload (its CRC already checked). Never panics.
    pub fn decode_payload(payload: &[u8]) -> Result<Self, RecordError> {
        let mut reader = Reader { bytes: payload };
        let version = reader.u8()?;
        if version != PAYLOAD_VERSION {
            return Err(RecordError::Version(version));
        }
        let appended_at_unix_ms = reader.u64()?;
        let namespace_len = usize::from(reader.u16()?);
        let namespace = String::from_utf8(reader.take(namespace_len)?.to_vec()).map_err(|_| RecordError::Namespace)?;
        let encoding_len = usize::from(reader.u8()?);
        let encoding_name = String::from_utf8_lossy(reader.take(encoding_len)?).into_owned();
        let encoding = encoding_name.parse().map_err(|_| RecordError::Encoding(encoding_name))?;
        let count = reader.u32()? as usize;
        // Each message takes at least 8 bytes: a huge count in a small payload is truncation.
        if count > reader.bytes.len() / 8 {
            return Err(RecordError::Truncated);
        }
        let mut messages = Vec::with_capacity(count);
        for _ in 0..count {
            let key_len = reader.u32()? as usize;
            let key = reader.take(key_len)?.to_vec();
            let value_len = reader.u32()? as usize;
            let value = reader.take(value_len)?.to_vec();
            messages.push(SpooledMessage { key, value });
        }
        if !reader.bytes.is_empty() {
            return Err(RecordError::TrailingBytes(reader.bytes.len()));
        }
        Ok(Self { namespace, encoding, appended_at_unix_ms, messages })
    }
}

/// A frame header: the payload length and its CRC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FrameHeader {
    pub payload_len: usize,
    pub crc: u32,
}

impl FrameHeader {
    pub fn parse(bytes: [u8; FRAME_HEADER_BYTES]) -> Self {
        let [l0, l1, l2, l3, c0, c1, c2, c3] = bytes;
        Self { payload_len: u32::from_le_bytes([l0, l1, l2, l3]) as usize, crc: u32::from_le_bytes([c0, c1, c2, c3]) }
    }

    pub fn matches(&self, payload: &[u8]) -> bool {
        crc32fast::hash(payload) == self.crc
    }
}

struct Reader<'a> {
    bytes: &'a [u8],
}

impl<'a> Reader<'a> {
    fn take(&mut self, len: usize) -> Result<&'a [u8], RecordError> {
        if self.bytes.len() < len {
            return Err(RecordError::Truncated);
        }
        let (head, rest) = self.bytes.split_at(len);
        self.bytes = rest;
        Ok(head)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N], RecordError> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn u8(&mut self) -> Result<u8, RecordError> {
        Ok(self.array::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, RecordError> {
        Ok(u16::from_le_bytes(self.array()?))
    }

    fn u32(&mut self) -> Result<u32, RecordError> {
        Ok(u32::from_le_bytes(self.array()?))
    }

    fn u64(&mut self) -> Result<u64, RecordError> {
        Ok(u64::from_le_bytes(self.array()?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn batch() -> SpooledBatch {
        SpooledBatch {
            namespace: "team-a".into(),
            encoding: KafkaEncoding::OtlpProto,
            appended_at_unix_ms: 1_700_000_000_000,
            messages: vec![
                SpooledMessage { key: b"00000000000000aa".to_vec(), value: vec![1, 2, 3] },
                SpooledMessage { key: vec![], value: vec![] },
            ],
        }
    }

    #[test]
    fn batch_survives_its_frame() {
        let frame = batch().encode_frame();
        assert_eq!(frame.len(), FRAME_HEADER_BYTES + batch().payload_len());
        let header = FrameHeader::parse(frame[..8].try_into().unwrap());
        assert_eq!(header.payload_len, frame.len() - 8);
        assert!(header.matches(&frame[8..]));
        assert_eq!(SpooledBatch::decode_payload(&frame[8..]).unwrap(), batch());
    }

    #[test]
    fn every_truncation_of_a_payload_is_an_error_not_a_panic() {
        let frame = batch().encode_frame();
        let payload = &frame[8..];
        for end in 0..payload.len() {
            assert!(SpooledBatch::decode_payload(&payload[..end]).is_err(), "{end}");
        }
        let mut longer = payload.to_vec();
        longer.push(0);
        assert_eq!(SpooledBatch::decode_payload(&longer), Err(RecordError::TrailingBytes(1)));
    }

    #[test]
    fn a_flipped_bit_fails_the_crc() {
        let mut frame = batch().encode_frame();
        let header = FrameHeader::parse(frame[..8].try_into().unwrap());
        frame[20] ^= 0x10;
        assert!(!header.matches(&frame[8..]));
    }
}
