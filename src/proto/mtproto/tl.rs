//! Just enough TL (Telegram's binary serialisation) for the unencrypted start of MTProto's
//! auth-key exchange, and the unencrypted message envelope that carries it.
//!
//! TL basics (core.telegram.org/mtproto/serialize): `int` is an i32 little-endian, `long`
//! an i64 little-endian, `int128`/`int256` are opaque 16/32-byte strings (never byte-swapped),
//! a constructor is its 32-bit id little-endian, and `bytes`/`string` is
//!
//! - length < 254: one length byte, the data, zero padding to a multiple of 4;
//! - otherwise: `fe`, a 3-byte little-endian length, the data, zero padding to a multiple of 4.
//!
//! `Vector<long>` is the constructor `0x1cb5c415`, an `int` count, then the longs.
//!
//! [`Reader`] is bounded by its input: every read checks the remaining length first and
//! returns [`TlError`] instead of panicking, and nothing is allocated beyond what the input
//! could actually hold (a vector's count is checked against the bytes left before reserving).
//!
//! The unencrypted message ([`encode_plain`], [`decode_plain`]) is `auth_key_id` (8 zero
//! bytes) ‖ `message_id` (i64 LE) ‖ body length (u32 LE) ‖ body; transports may append
//! padding after it, which the length field lets the reader skip.

/// `Vector t` constructor id.
pub(crate) const VECTOR: u32 = 0x1cb5_c415;

/// Largest length the long form of `bytes` can express (3 bytes).
const MAX_BYTES_LEN: usize = 0x00ff_ffff;

/// First length byte that announces the long form of `bytes`.
const LONG_FORM: u8 = 0xfe;

/// Size of the unencrypted message header: auth_key_id, message_id, length.
pub(crate) const PLAIN_HEADER_LEN: usize = 20;

/// Why TL data could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TlError {
    /// The input ended before the value did.
    #[error("TL data truncated: {needed} more bytes needed, {available} left")]
    Truncated {
        /// Bytes the value needs.
        needed: usize,
        /// Bytes that were left.
        available: usize,
    },
    /// A constructor id other than the one expected.
    #[error("unexpected TL constructor {found:#010x} (expected {expected:#010x})")]
    UnexpectedConstructor {
        /// The id the caller expected.
        expected: u32,
        /// The id found.
        found: u32,
    },
    /// A `bytes` value used the long form for a length the short form can hold, or the
    /// reserved length byte `ff`.
    #[error("malformed TL bytes length")]
    BadLength,
    /// A `bytes` value's padding was not zero.
    #[error("non-zero padding after TL bytes")]
    BadPadding,
    /// A vector claimed more elements than the input can hold.
    #[error("TL vector of {count} elements does not fit in {available} bytes")]
    VectorTooLong {
        /// The element count claimed.
        count: u32,
        /// Bytes that were left.
        available: usize,
    },
    /// Bytes were left after the value that should have ended the input.
    #[error("{0} unexpected bytes after the TL value")]
    TrailingBytes(usize),
    /// An unencrypted message carried a non-zero `auth_key_id` (it is encrypted).
    #[error("message is encrypted (auth_key_id {0:#018x}), not a plain message")]
    Encrypted(u64),
}

/// A bounded TL reader over a byte slice.
#[derive(Debug, Clone)]
pub struct Reader<'a> {
    /// The whole input.
    data: &'a [u8],
    /// Offset of the next unread byte.
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Starts reading `data` from its first byte.
    pub fn new(data: &'a [u8]) -> Self {
        Self { data, pos: 0 }
    }

    /// Bytes not read yet.
    pub fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    /// Offset of the next unread byte.
    pub fn position(&self) -> usize {
        self.pos
    }

    /// Fails with [`TlError::TrailingBytes`] unless everything has been read.
    pub fn finish(&self) -> Result<(), TlError> {
        match self.remaining() {
            0 => Ok(()),
            left => Err(TlError::TrailingBytes(left)),
        }
    }

    /// Takes the next `len` bytes.
    pub fn take(&mut self, len: usize) -> Result<&'a [u8], TlError> {
        let available = self.remaining();
        let end = self.pos.checked_add(len).filter(|_| len <= available);
        match end.and_then(|end| self.data.get(self.pos..end)) {
            Some(slice) => {
                self.pos += len;
                Ok(slice)
            }
            None => Err(TlError::Truncated {
                needed: len,
                available,
            }),
        }
    }

    /// Takes the next `N` bytes as an array (`int128`, `int256`, …).
    pub fn array<const N: usize>(&mut self) -> Result<[u8; N], TlError> {
        let mut out = [0; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    /// Reads a 32-bit unsigned value (a constructor id, a count).
    pub fn u32(&mut self) -> Result<u32, TlError> {
        self.array().map(u32::from_le_bytes)
    }

    /// Reads an `int`.
    pub fn int(&mut self) -> Result<i32, TlError> {
        self.array().map(i32::from_le_bytes)
    }

    /// Reads a `long`.
    pub fn long(&mut self) -> Result<i64, TlError> {
        self.array().map(i64::from_le_bytes)
    }

    /// Reads a constructor id and checks it is `expected`.
    pub fn expect(&mut self, expected: u32) -> Result<(), TlError> {
        let found = self.u32()?;
        if found == expected {
            Ok(())
        } else {
            Err(TlError::UnexpectedConstructor { expected, found })
        }
    }

    /// Reads a `bytes` (or `string`) value, checking its length form and its padding.
    pub fn bytes(&mut self) -> Result<&'a [u8], TlError> {
        let (len, header) = match self.array::<1>()? {
            [LONG_FORM] => {
                let [a, b, c] = self.array::<3>()?;
                let len = usize::from(a) | usize::from(b) << 8 | usize::from(c) << 16;
                if len < usize::from(LONG_FORM) {
                    return Err(TlError::BadLength);
                }
                (len, 4)
            }
            [0xff] => return Err(TlError::BadLength),
            [short] => (usize::from(short), 1),
        };
        let data = self.take(len)?;
        let padding = (4 - (header + len) % 4) % 4;
        if self.take(padding)?.iter().any(|&byte| byte != 0) {
            return Err(TlError::BadPadding);
        }
        Ok(data)
    }

    /// Reads a boxed `Vector<long>`, bounding the count by the bytes left.
    pub fn long_vector(&mut self) -> Result<Vec<i64>, TlError> {
        self.expect(VECTOR)?;
        let count = self.u32()?;
        let available = self.remaining();
        let fits = usize::try_from(count)
            .ok()
            .and_then(|count| count.checked_mul(8))
            .is_some_and(|len| len <= available);
        if !fits {
            return Err(TlError::VectorTooLong { count, available });
        }
        (0..count).map(|_| self.long()).collect()
    }
}

/// A TL writer: appends values to a byte vector.
#[derive(Debug, Clone, Default)]
pub(crate) struct Writer {
    /// The bytes written so far.
    buf: Vec<u8>,
}

impl Writer {
    /// An empty writer.
    pub fn new() -> Self {
        Self::default()
    }

    /// A writer starting with the constructor id `id`.
    pub(crate) fn with_constructor(id: u32) -> Self {
        Self::new().u32(id)
    }

    /// Appends a 32-bit unsigned value (a constructor id, a count).
    #[must_use]
    pub fn u32(mut self, value: u32) -> Self {
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends an `int`.
    #[must_use]
    pub fn int(mut self, value: i32) -> Self {
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends a `long`.
    #[must_use]
    pub fn long(mut self, value: i64) -> Self {
        self.buf.extend_from_slice(&value.to_le_bytes());
        self
    }

    /// Appends raw bytes (`int128`, `int256`).
    #[must_use]
    pub fn raw(mut self, data: &[u8]) -> Self {
        self.buf.extend_from_slice(data);
        self
    }

    /// Appends a `bytes` value. Data longer than the long form allows (16 MiB) is cut
    /// there; nothing in the handshake comes near it.
    #[must_use]
    pub fn bytes(mut self, data: &[u8]) -> Self {
        let data = data.get(..MAX_BYTES_LEN).unwrap_or(data);
        let header = if data.len() < usize::from(LONG_FORM) {
            // Fits in one byte: checked just above.
            self.buf.push(u8::try_from(data.len()).unwrap_or(0));
            1
        } else {
            self.buf.push(LONG_FORM);
            self.buf
                .extend_from_slice(&u32::try_from(data.len()).unwrap_or(0).to_le_bytes()[..3]);
            4
        };
        self.buf.extend_from_slice(data);
        let padding = (4 - (header + data.len()) % 4) % 4;
        self.buf.extend(std::iter::repeat_n(0, padding));
        self
    }

    /// Appends a boxed `Vector<long>`.
    #[must_use]
    pub fn long_vector(self, values: &[i64]) -> Self {
        let count = u32::try_from(values.len()).unwrap_or(u32::MAX);
        values
            .iter()
            .take(count as usize)
            .fold(self.u32(VECTOR).u32(count), |writer, &value| {
                writer.long(value)
            })
    }

    /// The bytes written.
    pub fn finish(self) -> Vec<u8> {
        self.buf
    }
}

/// An unencrypted MTProto message, borrowed from its frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PlainMessage<'a> {
    /// The sender's message id (client ids are divisible by 4, server answers are ≡ 1 mod 4;
    /// the high 32 bits are the sender's Unix time).
    pub message_id: i64,
    /// The TL body, exactly as long as the length field says.
    pub body: &'a [u8],
    /// Bytes after the body (transport padding), ignored.
    pub trailing: usize,
}

/// A client message id: `unix_time · 2³²` plus `4 · counter`, so it is divisible by 4.
pub(crate) fn client_message_id(unix_time: u32, counter: u32) -> i64 {
    let id = u64::from(unix_time) << 32 | u64::from(counter & 0x3fff_ffff) << 2;
    i64::from_le_bytes(id.to_le_bytes())
}

/// A server answer's message id: `unix_time · 2³²` plus `4 · counter + 1`.
pub(crate) fn server_message_id(unix_time: u32, counter: u32) -> i64 {
    client_message_id(unix_time, counter) | 1
}

/// Wraps `body` in an unencrypted message: 8 zero bytes, `message_id`, length, body.
pub fn encode_plain(message_id: i64, body: &[u8]) -> Vec<u8> {
    let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
    Writer::new()
        .long(0)
        .long(message_id)
        .u32(len)
        .raw(body)
        .finish()
}

/// Reads an unencrypted message from a frame's payload. Bytes after the body (transport
/// padding) are allowed and counted in [`PlainMessage::trailing`].
pub fn decode_plain(frame: &[u8]) -> Result<PlainMessage<'_>, TlError> {
    let mut reader = Reader::new(frame);
    let auth_key_id = u64::from_le_bytes(reader.array()?);
    if auth_key_id != 0 {
        return Err(TlError::Encrypted(auth_key_id));
    }
    let message_id = reader.long()?;
    let len = reader.u32()?;
    let body = reader.take(usize::try_from(len).unwrap_or(usize::MAX))?;
    Ok(PlainMessage {
        message_id,
        body,
        trailing: reader.remaining(),
    })
}

/// Helpers shared by the MTProto tests.
#[cfg(test)]
pub(crate) mod testing {
    /// Decodes hex written in tests.
    pub(crate) fn hex(text: &str) -> Vec<u8> {
        assert!(text.len() % 2 == 0, "odd hex length");
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex digit"))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::hex;
    use super::*;

    #[test]
    fn bytes_short_and_long_forms() {
        // Short form: length byte, data, padding to 4.
        assert_eq!(Writer::new().bytes(b"abc").finish(), b"\x03abc");
        assert_eq!(Writer::new().bytes(b"abcd").finish(), b"\x04abcd\0\0\0");
        assert_eq!(Writer::new().bytes(b"").finish(), b"\0\0\0\0");
        // 253 bytes is still short: 1 + 253 = 254, padded to 256.
        let short = Writer::new().bytes(&[7; 253]).finish();
        assert_eq!((short.len(), short[0]), (256, 253));
        // 254 bytes takes the long form: fe, 3-byte length, data, padding.
        let long = Writer::new().bytes(&[7; 254]).finish();
        assert_eq!(&long[..4], &[0xfe, 254, 0, 0]);
        assert_eq!(long.len(), 260);
        let long = Writer::new().bytes(&[7; 256]).finish();
        assert_eq!(&long[..4], &[0xfe, 0, 1, 0]);
        assert_eq!(long.len(), 260);
        for data in [
            &b""[..],
            b"a",
            b"abcd",
            &[1; 253],
            &[2; 254],
            &[3; 256],
            &[4; 1000],
        ] {
            let encoded = Writer::new().bytes(data).finish();
            let mut reader = Reader::new(&encoded);
            assert_eq!(reader.bytes().unwrap(), data);
            reader.finish().unwrap();
        }
    }

    #[test]
    fn bytes_rejects_malformed_input() {
        let cases: [(&[u8], TlError); 5] = [
            (
                b"\x05abc",
                TlError::Truncated {
                    needed: 5,
                    available: 3,
                },
            ),
            (b"\x01a\x01\x00", TlError::BadPadding),
            (b"\xfe\x03\x00\x00abc\0", TlError::BadLength),
            (b"\xff\x00\x00\x00", TlError::BadLength),
            (
                b"\xfe\xff\xff\xff",
                TlError::Truncated {
                    needed: 0xff_ffff,
                    available: 0,
                },
            ),
        ];
        for (input, error) in cases {
            assert_eq!(Reader::new(input).bytes(), Err(error), "{input:02x?}");
        }
        assert!(matches!(
            Reader::new(b"").bytes(),
            Err(TlError::Truncated { .. })
        ));
    }

    #[test]
    fn long_vector_round_trips_and_is_bounded() {
        let values = [1, -1, i64::MAX, 0x0123_4567_89ab_cdef];
        let encoded = Writer::new().long_vector(&values).finish();
        assert_eq!(&encoded[..8], &hex("15c4b51c04000000")[..]);
        assert_eq!(Reader::new(&encoded).long_vector().unwrap(), values);
        // A count far beyond the input fails before anything is allocated.
        let huge = hex("15c4b51cffffffff0100000000000000");
        assert_eq!(
            Reader::new(&huge).long_vector(),
            Err(TlError::VectorTooLong {
                count: u32::MAX,
                available: 8
            })
        );
        let wrong = hex("15c4b51d00000000");
        assert!(matches!(
            Reader::new(&wrong).long_vector(),
            Err(TlError::UnexpectedConstructor {
                found: 0x1db5_c415,
                ..
            })
        ));
    }

    #[test]
    fn plain_message_matches_the_spec_vector() {
        // docs/MTPROTO.md §4, vector B: req_pq_multi, msg_id 0x6777e5eb00000004, nonce a0..af.
        let message = hex(concat!(
            "000000000000000004000000ebe5776714000000",
            "f18e7ebea0a1a2a3a4a5a6a7a8a9aaabacadaeaf"
        ));
        let body = hex("f18e7ebea0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
        assert_eq!(encode_plain(0x6777_e5eb_0000_0004, &body), message);
        let decoded = decode_plain(&message).unwrap();
        assert_eq!(decoded.message_id, 0x6777_e5eb_0000_0004);
        assert_eq!(decoded.body, &body[..]);
        assert_eq!(decoded.trailing, 0);
        // Transport padding after the body is skipped.
        let mut padded = message.clone();
        padded.extend_from_slice(&[0xaa; 7]);
        assert_eq!(decode_plain(&padded).unwrap().trailing, 7);
        assert_eq!(decode_plain(&padded).unwrap().body, &body[..]);
    }

    #[test]
    fn plain_message_rejects_bad_envelopes() {
        let message = encode_plain(4, b"abcd");
        for len in 0..message.len() {
            assert!(decode_plain(&message[..len]).is_err(), "prefix of {len}");
        }
        let mut encrypted = message.clone();
        encrypted[0] = 1;
        assert_eq!(decode_plain(&encrypted), Err(TlError::Encrypted(1)));
        let mut too_long = message;
        too_long[16] = 0xff;
        assert!(matches!(
            decode_plain(&too_long),
            Err(TlError::Truncated { .. })
        ));
    }

    #[test]
    fn message_ids_carry_the_time_and_the_parity() {
        let id = client_message_id(0x6777_e5eb, 1);
        assert_eq!(id, 0x6777_e5eb_0000_0004);
        assert_eq!(id % 4, 0);
        assert_eq!(server_message_id(0x6777_e5eb, 1) % 4, 1);
        assert_eq!(server_message_id(0x6777_e5eb, 1) >> 32, 0x6777_e5eb);
    }

    #[test]
    fn reader_never_reads_past_the_end() {
        let mut reader = Reader::new(&[1, 2, 3]);
        assert!(reader.long().is_err());
        assert_eq!(reader.position(), 0);
        assert_eq!(
            reader.take(usize::MAX).map(<[u8]>::len),
            Err(TlError::Truncated {
                needed: usize::MAX,
                available: 3
            })
        );
        assert_eq!(reader.take(3).unwrap(), &[1, 2, 3]);
        reader.finish().unwrap();
    }
}
