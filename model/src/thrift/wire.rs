//! The guarded reading and writing layer over the `thrift` crate's protocol traits, shared by the
//! `jaeger.thrift`, `agent.thrift` and `zipkincore.thrift` codecs.
//!
//! Every decode reads from one byte slice whose length is known, so every size the input
//! declares is checked against what is left of it: a string longer than the input, or a list of
//! more elements than the remaining bytes could hold, is an error before anything is allocated.
//! Nesting is bounded (the protocol's recursion limit, [`MAX_DEPTH`]). Nothing here panics.

use std::cell::Cell;
use std::fmt;
use std::io::Read;
use std::rc::Rc;

use thrift::protocol::{
    TBinaryInputProtocol, TBinaryOutputProtocol, TCompactInputProtocol, TCompactOutputProtocol, TFieldIdentifier,
    TInputProtocol, TListIdentifier, TOutputProtocol, TStructIdentifier, TType,
};
use thrift::{TConfiguration, TransportErrorKind};

/// How deep structs and lists may nest, the Thrift libraries' default.
pub const MAX_DEPTH: usize = 64;

/// At most this many elements are reserved up front for a list, however many it declares; a
/// longer list grows as its elements are actually read.
const MAX_PREALLOCATED_ELEMENTS: usize = 1024;

/// The Thrift wire protocol of a payload.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Protocol {
    /// `TCompactProtocol` (agent UDP port 6831).
    Compact,
    /// `TBinaryProtocol` (agent UDP port 6832, `POST /api/traces`, Zipkin v1 Thrift).
    Binary,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Compact => "compact",
            Self::Binary => "binary",
        }
    }
}

/// What is wrong with a Thrift payload.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThriftProblem {
    /// The bytes are not valid Thrift of the expected protocol (truncated, a bad type byte, a
    /// string that is not UTF-8, too deep, ...). The text is the `thrift` crate's description.
    #[error("{0}")]
    Malformed(String),
    /// A field `required` by the IDL is absent.
    #[error("required field {0} is missing")]
    MissingField(&'static str),
    /// A list declares more elements than the remaining bytes could hold.
    #[error("list declares {declared} elements but only {remaining} bytes remain")]
    ListTooLong { declared: i64, remaining: usize },
    /// A list holds elements of another type than the IDL says.
    #[error("list elements must be {expected}, got {actual}")]
    ListElementType { expected: &'static str, actual: String },
    /// An agent datagram names a method other than `emitBatch` or `emitZipkinBatch`.
    #[error("unknown method {0:?}; expected emitBatch or emitZipkinBatch")]
    UnknownMethod(String),
    /// An agent datagram is a reply or an exception rather than a call.
    #[error("message type must be ONEWAY or CALL, got {0}")]
    MessageType(String),
}

/// Why a Thrift payload could not be decoded: the problem and where it is, such as
/// `batch.spans[3].tags[0]: required field vType is missing`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ThriftError {
    path: String,
    problem: ThriftProblem,
}

impl ThriftError {
    pub(crate) fn new(problem: ThriftProblem) -> Self {
        Self { path: String::new(), problem }
    }

    pub(crate) fn missing(field: &'static str) -> Self {
        Self::new(ThriftProblem::MissingField(field))
    }

    /// Where the problem is: dotted field names and list indexes from the payload's top level
    /// (`batch.spans[3].tags[0]`); empty when it is the payload itself.
    pub fn path(&self) -> &str {
        &self.path
    }

    pub fn problem(&self) -> &ThriftProblem {
        &self.problem
    }

    /// Prepends a field name (`spans`) or list index (`[3]`) to the path.
    pub(crate) fn within(mut self, segment: &str) -> Self {
        if self.path.is_empty() {
            self.path = segment.to_owned();
        } else if self.path.starts_with('[') {
            self.path.insert_str(0, segment);
        } else {
            self.path.insert(0, '.');
            self.path.insert_str(0, segment);
        }
        self
    }
}

impl fmt::Display for ThriftError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            write!(f, "{}", self.problem)
        } else {
            write!(f, "{}: {}", self.path, self.problem)
        }
    }
}

impl std::error::Error for ThriftError {}

impl From<thrift::Error> for ThriftError {
    fn from(error: thrift::Error) -> Self {
        let text = match &error {
            thrift::Error::Transport(transport) if transport.kind == TransportErrorKind::EndOfFile => {
                "input ends in the middle of a value (truncated)".to_owned()
            }
            thrift::Error::Transport(transport) => format!("{transport}: {}", transport.message),
            thrift::Error::Protocol(protocol) => protocol.message.clone(),
            other => other.to_string(),
        };
        Self::new(ThriftProblem::Malformed(text))
    }
}

pub type Result<T, E = ThriftError> = std::result::Result<T, E>;

/// Reads a slice and counts what it consumed, so the decoder can tell how much is left.
struct SliceTransport<'a> {
    bytes: &'a [u8],
    consumed: Rc<Cell<usize>>,
}

impl Read for SliceTransport<'_> {
    fn read(&mut self, buffer: &mut [u8]) -> std::io::Result<usize> {
        let start = self.consumed.get().min(self.bytes.len());
        let rest = &self.bytes[start..];
        let count = rest.len().min(buffer.len());
        buffer[..count].copy_from_slice(&rest[..count]);
        self.consumed.set(start + count);
        Ok(count)
    }
}

/// A Thrift input protocol over one byte slice, with size guards.
pub(crate) struct Reader<'a> {
    protocol: Box<dyn TInputProtocol + 'a>,
    consumed: Rc<Cell<usize>>,
    total: usize,
}

impl<'a> Reader<'a> {
    pub(crate) fn new(bytes: &'a [u8], protocol: Protocol) -> Self {
        let consumed = Rc::new(Cell::new(0));
        let transport = SliceTransport { bytes, consumed: Rc::clone(&consumed) };
        let config = limits(bytes.len());
        let protocol: Box<dyn TInputProtocol + 'a> = match protocol {
            // Not strict: like Go's TBinaryProtocol, accept old message headers without a version.
            Protocol::Binary => Box::new(TBinaryInputProtocol::with_config(transport, false, config)),
            Protocol::Compact => Box::new(TCompactInputProtocol::with_config(transport, config)),
        };
        Self { protocol, consumed, total: bytes.len() }
    }

    pub(crate) fn remaining(&self) -> usize {
        self.total.saturating_sub(self.consumed.get())
    }

    pub(crate) fn protocol(&mut self) -> &mut dyn TInputProtocol {
        self.protocol.as_mut()
    }

    /// Reads a struct: `on_field` is called with each field's id and wire type and returns
    /// `true` when it read the value; any other field is skipped, as Thrift readers do.
    pub(crate) fn read_struct(
        &mut self,
        mut on_field: impl FnMut(&mut Self, i16, TType) -> Result<bool>,
    ) -> Result<()> {
        self.protocol.read_struct_begin()?;
        loop {
            let field = self.protocol.read_field_begin()?;
            if field.field_type == TType::Stop {
                break;
            }
            let id = field.id.unwrap_or_default();
            if !on_field(self, id, field.field_type)? {
                self.protocol.skip(field.field_type)?;
            }
            self.protocol.read_field_end()?;
        }
        self.protocol.read_struct_end()?;
        Ok(())
    }

    /// Reads a list of `expected` elements with `read_element`; errors name the element index.
    pub(crate) fn read_list<T>(
        &mut self,
        expected: TType,
        mut read_element: impl FnMut(&mut Self) -> Result<T>,
    ) -> Result<Vec<T>> {
        let header = self.protocol.read_list_begin()?;
        let size = self.checked_list_size(&header)?;
        if header.element_type != expected && size > 0 {
            return Err(ThriftError::new(ThriftProblem::ListElementType {
                expected: type_name(expected),
                actual: type_name(header.element_type).to_owned(),
            }));
        }
        let mut elements = Vec::with_capacity(size.min(MAX_PREALLOCATED_ELEMENTS));
        for index in 0..size {
            let element = read_element(self).map_err(|error| error.within(&format!("[{index}]")))?;
            elements.push(element);
        }
        self.protocol.read_list_end()?;
        Ok(elements)
    }

    fn checked_list_size(&self, header: &TListIdentifier) -> Result<usize> {
        let declared = i64::from(header.size);
        let remaining = self.remaining();
        let element_size = self.protocol.min_serialized_size(header.element_type).max(1);
        let fits = usize::try_from(declared).ok().filter(|size| size.saturating_mul(element_size) <= remaining);
        fits.ok_or_else(|| ThriftError::new(ThriftProblem::ListTooLong { declared, remaining }))
    }

    pub(crate) fn read_string(&mut self) -> Result<String> {
        Ok(self.protocol.read_string()?)
    }

    pub(crate) fn read_bytes(&mut self) -> Result<Vec<u8>> {
        Ok(self.protocol.read_bytes()?)
    }

    pub(crate) fn read_i64(&mut self) -> Result<i64> {
        Ok(self.protocol.read_i64()?)
    }

    pub(crate) fn read_i32(&mut self) -> Result<i32> {
        Ok(self.protocol.read_i32()?)
    }

    pub(crate) fn read_i16(&mut self) -> Result<i16> {
        Ok(self.protocol.read_i16()?)
    }

    pub(crate) fn read_bool(&mut self) -> Result<bool> {
        Ok(self.protocol.read_bool()?)
    }

    pub(crate) fn read_double(&mut self) -> Result<f64> {
        Ok(self.protocol.read_double()?)
    }
}

/// Limits that keep every declared size within the input: no string, list or message may be
/// larger than the payload itself.
fn limits(input_length: usize) -> TConfiguration {
    let bound = Some(input_length.max(1));
    TConfiguration::builder()
        .max_frame_size(None)
        .max_message_size(bound)
        .max_string_size(bound)
        .max_container_size(bound)
        .max_recursion_depth(Some(MAX_DEPTH))
        .build()
        .unwrap_or_default()
}

/// Thrift's name for a wire type, for error messages.
pub(crate) fn type_name(field_type: TType) -> &'static str {
    match field_type {
        TType::Stop => "stop",
        TType::Void => "void",
        TType::Bool => "bool",
        TType::I08 => "i8",
        TType::Double => "double",
        TType::I16 => "i16",
        TType::I32 => "i32",
        TType::I64 => "i64",
        TType::String => "string",
        TType::Utf7 => "utf7",
        TType::Struct => "struct",
        TType::Map => "map",
        TType::Set => "set",
        TType::List => "list",
        TType::Uuid => "uuid",
    }
}

/// A Thrift output protocol writing into a `Vec<u8>`.
pub(crate) struct Writer {
    protocol: Box<dyn TOutputProtocol>,
    buffer: SharedBuffer,
}

/// The output protocols own their transport; this handle lets the writer take the bytes back.
#[derive(Clone, Default)]
struct SharedBuffer(Rc<std::cell::RefCell<Vec<u8>>>);

impl std::io::Write for SharedBuffer {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.0.borrow_mut().extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Writer {
    pub(crate) fn new(protocol: Protocol) -> Self {
        let buffer = SharedBuffer::default();
        let transport = buffer.clone();
        let protocol: Box<dyn TOutputProtocol> = match protocol {
            // Strict: write the versioned message header, as every current Thrift library does.
            Protocol::Binary => Box::new(TBinaryOutputProtocol::new(transport, true)),
            Protocol::Compact => Box::new(TCompactOutputProtocol::new(transport)),
        };
        Self { protocol, buffer }
    }

    pub(crate) fn protocol(&mut self) -> &mut dyn TOutputProtocol {
        self.protocol.as_mut()
    }

    pub(crate) fn into_bytes(mut self) -> Result<Vec<u8>> {
        self.protocol.flush()?;
        drop(self.protocol);
        Ok(self.buffer.0.take())
    }

    pub(crate) fn struct_begin(&mut self, name: &str) -> Result<()> {
        Ok(self.protocol.write_struct_begin(&TStructIdentifier::new(name))?)
    }

    pub(crate) fn struct_end(&mut self) -> Result<()> {
        self.protocol.write_field_stop()?;
        Ok(self.protocol.write_struct_end()?)
    }

    pub(crate) fn field(&mut self, name: &str, field_type: TType, id: i16) -> Result<()> {
        Ok(self.protocol.write_field_begin(&TFieldIdentifier::new(name, field_type, id))?)
    }

    pub(crate) fn field_end(&mut self) -> Result<()> {
        Ok(self.protocol.write_field_end()?)
    }

    pub(crate) fn string_field(&mut self, name: &str, id: i16, value: &str) -> Result<()> {
        self.field(name, TType::String, id)?;
        self.protocol.write_string(value)?;
        self.field_end()
    }

    pub(crate) fn bytes_field(&mut self, name: &str, id: i16, value: &[u8]) -> Result<()> {
        self.field(name, TType::String, id)?;
        self.protocol.write_bytes(value)?;
        self.field_end()
    }

    pub(crate) fn i64_field(&mut self, name: &str, id: i16, value: i64) -> Result<()> {
        self.field(name, TType::I64, id)?;
        self.protocol.write_i64(value)?;
        self.field_end()
    }

    pub(crate) fn i32_field(&mut self, name: &str, id: i16, value: i32) -> Result<()> {
        self.field(name, TType::I32, id)?;
        self.protocol.write_i32(value)?;
        self.field_end()
    }

    pub(crate) fn i16_field(&mut self, name: &str, id: i16, value: i16) -> Result<()> {
        self.field(name, TType::I16, id)?;
        self.protocol.write_i16(value)?;
        self.field_end()
    }

    pub(crate) fn bool_field(&mut self, name: &str, id: i16, value: bool) -> Result<()> {
        self.field(name, TType::Bool, id)?;
        self.protocol.write_bool(value)?;
        self.field_end()
    }

    pub(crate) fn double_field(&mut self, name: &str, id: i16, value: f64) -> Result<()> {
        self.field(name, TType::Double, id)?;
        self.protocol.write_double(value)?;
        self.field_end()
    }

    /// Writes a list field whose elements `write_element` writes.
    pub(crate) fn list_field<T>(
        &mut self,
        name: &str,
        id: i16,
        element_type: TType,
        elements: &[T],
        write_element: impl FnMut(&mut Self, &T) -> Result<()>,
    ) -> Result<()> {
        self.field(name, TType::List, id)?;
        self.list(element_type, elements, write_element)?;
        self.field_end()
    }

    /// Writes a bare list (no field header), as the top level of a Zipkin v1 Thrift body.
    pub(crate) fn list<T>(
        &mut self,
        element_type: TType,
        elements: &[T],
        mut write_element: impl FnMut(&mut Self, &T) -> Result<()>,
    ) -> Result<()> {
        let size = i32::try_from(elements.len()).map_err(|_| {
            ThriftError::new(ThriftProblem::Malformed(format!("a list of {} elements is too long", elements.len())))
        })?;
        self.protocol.write_list_begin(&TListIdentifier::new(element_type, size))?;
        for element in elements {
            write_element(self, element)?;
        }
        Ok(self.protocol.write_list_end()?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn error_paths_read_from_the_top_level_down() {
        let error = ThriftError::missing("vType").within("[0]").within("tags").within("[3]").within("spans");
        assert_eq!(error.to_string(), "spans[3].tags[0]: required field vType is missing");
        assert_eq!(ThriftError::missing("process").to_string(), "required field process is missing");
    }

    #[test]
    fn a_list_longer_than_the_input_is_refused_before_allocating() {
        // Binary list header: element type i64 (10), size 0x7fffffff, then nothing.
        let bytes = [10, 0x7f, 0xff, 0xff, 0xff];
        let mut reader = Reader::new(&bytes, Protocol::Binary);
        let error = reader.read_list(TType::I64, |reader| reader.read_i64()).unwrap_err();
        assert!(matches!(error.problem(), ThriftProblem::Malformed(_) | ThriftProblem::ListTooLong { .. }), "{error}");
    }

    #[test]
    fn a_list_that_cannot_fit_in_the_remaining_bytes_is_refused() {
        // An i64, then a binary list header (element type i64, size 3) with only 16 bytes after
        // it: the whole input could hold three i64s, what remains of it cannot.
        let mut bytes = vec![0; 8];
        bytes.extend_from_slice(&[10, 0, 0, 0, 3]);
        bytes.extend_from_slice(&[0; 16]);
        let mut reader = Reader::new(&bytes, Protocol::Binary);
        reader.read_i64().unwrap();
        let error = reader.read_list(TType::I64, |reader| reader.read_i64()).unwrap_err();
        assert_eq!(error.problem(), &ThriftProblem::ListTooLong { declared: 3, remaining: 16 });
    }

    #[test]
    fn a_string_longer_than_the_input_is_an_error() {
        let bytes = [0x7f, 0xff, 0xff, 0xff, b'a'];
        let mut reader = Reader::new(&bytes, Protocol::Binary);
        assert!(reader.read_string().is_err());
    }

    #[test]
    fn truncated_input_names_the_truncation() {
        let mut reader = Reader::new(&[0, 0], Protocol::Binary);
        let error = reader.read_i64().unwrap_err();
        assert_eq!(error.to_string(), "input ends in the middle of a value (truncated)");
    }
}
