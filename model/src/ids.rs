//! Trace and span identifiers, with Jaeger's string, byte and base64 forms (spec §1.4).

use std::fmt;

/// Why an id could not be parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdParseError {
    #[error("trace id must be 1 to 32 hex characters, got {0} characters")]
    TraceIdLength(usize),
    #[error("span id must be 1 to 16 hex characters, got {0} characters")]
    SpanIdLength(usize),
    #[error("id contains a character that is not hex")]
    NotHex,
    #[error("trace id must be 8 or 16 bytes, got {0}")]
    TraceIdBytes(usize),
    #[error("span id must be 8 bytes, got {0}")]
    SpanIdBytes(usize),
}

/// A 128-bit trace id. A 64-bit id is one whose high half is zero; its string form is then the
/// 16-hex form Jaeger uses (`%016x` of the low half), so the two forms stay distinguishable.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct TraceId {
    pub high: u64,
    pub low: u64,
}

impl TraceId {
    pub const fn new(high: u64, low: u64) -> Self {
        Self { high, low }
    }

    pub const fn from_u128(id: u128) -> Self {
        Self { high: (id >> 64) as u64, low: id as u64 }
    }

    pub const fn as_u128(self) -> u128 {
        ((self.high as u128) << 64) | self.low as u128
    }

    pub const fn is_zero(self) -> bool {
        self.high == 0 && self.low == 0
    }

    /// True when the high half is zero, i.e. the id is shown in the 16-hex form.
    pub const fn is_64bit(self) -> bool {
        self.high == 0
    }

    /// Big-endian 16 bytes: high half then low half (what Jaeger's proto always writes).
    pub fn to_bytes(self) -> [u8; 16] {
        self.as_u128().to_be_bytes()
    }

    /// Accepts 16 bytes, or 8 bytes (low half only), like Jaeger's proto unmarshaller.
    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdParseError> {
        match bytes.len() {
            16 => {
                let mut buf = [0u8; 16];
                buf.copy_from_slice(bytes);
                Ok(Self::from_u128(u128::from_be_bytes(buf)))
            }
            8 => {
                let mut buf = [0u8; 8];
                buf.copy_from_slice(bytes);
                Ok(Self::new(0, u64::from_be_bytes(buf)))
            }
            n => Err(IdParseError::TraceIdBytes(n)),
        }
    }

    /// Parses 1 to 32 hex characters; with more than 16 the leading part is the high half.
    pub fn from_hex(text: &str) -> Result<Self, IdParseError> {
        let len = text.len();
        if len == 0 || len > 32 {
            return Err(IdParseError::TraceIdLength(len));
        }
        if !text.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(IdParseError::NotHex);
        }
        let (high, low) = if len > 16 { text.split_at(len - 16) } else { ("", text) };
        let parse =
            |s: &str| if s.is_empty() { Ok(0) } else { u64::from_str_radix(s, 16).map_err(|_| IdParseError::NotHex) };
        Ok(Self::new(parse(high)?, parse(low)?))
    }

    /// Jaeger's `TraceID.String()`: 16 hex chars when the high half is zero, else 32.
    pub fn to_hex(self) -> String {
        self.to_string()
    }

    /// Always 32 hex characters (OTLP's form, and Jaeger v2's ES documents).
    pub fn to_hex32(self) -> String {
        format!("{:016x}{:016x}", self.high, self.low)
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.high == 0 {
            write!(f, "{:016x}", self.low)
        } else {
            write!(f, "{:016x}{:016x}", self.high, self.low)
        }
    }
}

impl fmt::Debug for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "TraceId({self})")
    }
}

impl std::str::FromStr for TraceId {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_hex(s)
    }
}

/// A 64-bit span id; its string form is always 16 hex characters.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct SpanId(pub u64);

impl SpanId {
    pub const fn is_zero(self) -> bool {
        self.0 == 0
    }

    pub fn to_bytes(self) -> [u8; 8] {
        self.0.to_be_bytes()
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self, IdParseError> {
        let arr: [u8; 8] = bytes.try_into().map_err(|_| IdParseError::SpanIdBytes(bytes.len()))?;
        Ok(Self(u64::from_be_bytes(arr)))
    }

    pub fn from_hex(text: &str) -> Result<Self, IdParseError> {
        let len = text.len();
        if len == 0 || len > 16 {
            return Err(IdParseError::SpanIdLength(len));
        }
        u64::from_str_radix(text, 16).map(Self).map_err(|_| IdParseError::NotHex)
    }

    pub fn to_hex(self) -> String {
        self.to_string()
    }
}

impl fmt::Display for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:016x}", self.0)
    }
}

impl fmt::Debug for SpanId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SpanId({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sixty_four_bit_trace_id_prints_sixteen_hex_chars() {
        assert_eq!(TraceId::new(0, 1).to_hex(), "0000000000000001");
        assert_eq!(TraceId::new(2, 1).to_hex(), "00000000000000020000000000000001");
        assert_eq!(TraceId::new(0, 1).to_hex32(), "00000000000000000000000000000001");
    }

    #[test]
    fn parses_short_long_and_padded_hex_trace_ids() {
        assert_eq!(TraceId::from_hex("1").unwrap(), TraceId::new(0, 1));
        assert_eq!(TraceId::from_hex("20000000000000001").unwrap(), TraceId::new(2, 1));
        assert_eq!(TraceId::from_hex("00000000000000000000000000000001").unwrap(), TraceId::new(0, 1));
        assert!(TraceId::from_hex("").is_err());
        assert!(TraceId::from_hex("xyz").is_err());
        assert!(TraceId::from_hex(&"1".repeat(33)).is_err());
    }

    #[test]
    fn trace_id_bytes_accept_eight_or_sixteen() {
        let id = TraceId::new(2, 1);
        assert_eq!(TraceId::from_bytes(&id.to_bytes()).unwrap(), id);
        assert_eq!(TraceId::from_bytes(&1u64.to_be_bytes()).unwrap(), TraceId::new(0, 1));
        assert_eq!(TraceId::from_bytes(&[1, 2, 3]), Err(IdParseError::TraceIdBytes(3)));
    }

    #[test]
    fn span_id_round_trips() {
        let id = SpanId::from_hex("00000000000000ff").unwrap();
        assert_eq!(id, SpanId(255));
        assert_eq!(id.to_hex(), "00000000000000ff");
        assert_eq!(SpanId::from_bytes(&id.to_bytes()).unwrap(), id);
        assert!(SpanId::from_bytes(&[0; 4]).is_err());
    }
}
