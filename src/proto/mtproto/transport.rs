//! MTProto transport framing inside obfuscated2: intermediate and padded intermediate.
//!
//! Hand-written (a few lines) because the crates that have it (grammers-mtproto) lack the
//! padded variant MTProto proxies need, and pulling a client stack in for a length prefix
//! is not worth it. `docs/MTPROTO.md` §2:
//!
//! - intermediate (tag `ee ee ee ee`): 4-byte little-endian length, then the payload;
//! - padded intermediate (tag `dd dd dd dd`): the same, with 0–15 random bytes appended and
//!   counted in the length. The receiver cannot tell padding from payload; an MTProto
//!   message carries its own length (`message_data_length`), so [`FrameDecoder`] returns
//!   the whole frame and the caller trims.
//!
//! The decoder is incremental and bounded: a frame announced larger than its maximum is an
//! error at once, so a hostile peer cannot make it buffer more than one maximum frame.

use rand::Rng as _;

use super::obfs2::ProtocolTag;

/// Largest frame the decoder accepts by default (1 MiB).
pub(crate) const MAX_FRAME: usize = 1 << 20;

/// Longest padding padded intermediate adds.
pub(crate) const MAX_PADDING: usize = 15;

/// Length of the frame header.
const HEADER_LEN: usize = 4;

/// Bit of the intermediate length word that asks for a quick acknowledgement; never part
/// of the length.
const QUICK_ACK: u32 = 0x8000_0000;

/// How frames are delimited.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Framing {
    /// 4-byte length + payload.
    Intermediate,
    /// 4-byte length + payload + 0–15 random bytes counted in the length.
    PaddedIntermediate,
}

impl Framing {
    /// The obfuscated2 tag announcing this framing.
    pub fn tag(self) -> ProtocolTag {
        match self {
            Self::Intermediate => ProtocolTag::Intermediate,
            Self::PaddedIntermediate => ProtocolTag::PaddedIntermediate,
        }
    }

    /// Appends `payload` framed to `out`; padded intermediate adds 0–15 random bytes.
    pub fn encode(self, payload: &[u8], out: &mut Vec<u8>) -> Result<(), TransportError> {
        let padding: Vec<u8> = match self {
            Self::Intermediate => Vec::new(),
            Self::PaddedIntermediate => {
                let mut rng = rand::rng();
                let len = rng.random_range(0..=MAX_PADDING);
                (0..len).map(|_| rng.random()).collect()
            }
        };
        encode_with_padding(payload, &padding, out)
    }
}

/// Appends one frame: length of `payload ‖ padding` (LE), `payload`, `padding`.
///
/// Deterministic, for tests and for intermediate framing (empty padding).
pub(crate) fn encode_with_padding(
    payload: &[u8],
    padding: &[u8],
    out: &mut Vec<u8>,
) -> Result<(), TransportError> {
    let len = payload.len() + padding.len();
    if len > MAX_FRAME {
        return Err(TransportError::TooLarge(len));
    }
    let word = u32::try_from(len).map_err(|_| TransportError::TooLarge(len))?;
    out.reserve(HEADER_LEN + len);
    out.extend_from_slice(&word.to_le_bytes());
    out.extend_from_slice(payload);
    out.extend_from_slice(padding);
    Ok(())
}

/// Why a byte stream is not a valid frame sequence.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// A frame announced (or asked to send) more than the maximum.
    #[error("frame of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

/// Incremental decoder: feed bytes with [`FrameDecoder::push`], take frames with
/// [`FrameDecoder::next_frame`].
#[derive(Debug, Clone)]
pub struct FrameDecoder {
    /// Bytes received and not yet returned.
    buf: Vec<u8>,
    /// Largest frame accepted.
    max: usize,
}

impl FrameDecoder {
    /// A decoder accepting frames up to `max` bytes (never more than `MAX_FRAME`).
    pub fn new(max: usize) -> Self {
        Self {
            buf: Vec::new(),
            max: max.min(MAX_FRAME),
        }
    }

    /// Changes the largest frame accepted (never more than [`MAX_FRAME`]).
    pub(crate) fn set_max(&mut self, max: usize) {
        self.max = max.min(MAX_FRAME);
    }

    /// Appends received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    /// Bytes buffered and not yet returned.
    pub fn buffered(&self) -> usize {
        self.buf.len()
    }

    /// The next complete frame's payload (padding included), `None` when more bytes are
    /// needed, an error when the announced length exceeds the maximum.
    pub fn next_frame(&mut self) -> Result<Option<Vec<u8>>, TransportError> {
        let Some(&[b0, b1, b2, b3]) = self.buf.get(..HEADER_LEN) else {
            return Ok(None);
        };
        let word = u32::from_le_bytes([b0, b1, b2, b3]) & !QUICK_ACK;
        let len = usize::try_from(word).unwrap_or(usize::MAX);
        if len > self.max {
            return Err(TransportError::TooLarge(len));
        }
        let end = HEADER_LEN + len;
        let Some(payload) = self.buf.get(HEADER_LEN..end) else {
            return Ok(None);
        };
        let frame = payload.to_vec();
        self.buf.drain(..end);
        Ok(Some(frame))
    }
}

impl Default for FrameDecoder {
    /// A decoder with the `MAX_FRAME` limit.
    fn default() -> Self {
        Self::new(MAX_FRAME)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn intermediate_round_trips_byte_by_byte() {
        let mut wire = Vec::new();
        Framing::Intermediate.encode(b"hello", &mut wire).unwrap();
        Framing::Intermediate.encode(b"", &mut wire).unwrap();
        assert_eq!(&wire[..9], b"\x05\x00\x00\x00hello");
        let mut decoder = FrameDecoder::default();
        let mut frames = Vec::new();
        for byte in wire {
            decoder.push(&[byte]);
            while let Some(frame) = decoder.next_frame().unwrap() {
                frames.push(frame);
            }
        }
        assert_eq!(frames, vec![b"hello".to_vec(), Vec::new()]);
        assert_eq!(decoder.buffered(), 0);
    }

    #[test]
    fn padded_counts_padding_in_the_length() {
        for _ in 0..50 {
            let mut wire = Vec::new();
            Framing::PaddedIntermediate
                .encode(b"payload", &mut wire)
                .unwrap();
            let len = u32::from_le_bytes(wire[..4].try_into().unwrap()) as usize;
            assert_eq!(wire.len(), 4 + len);
            assert!((7..=7 + MAX_PADDING).contains(&len));
            assert_eq!(&wire[4..11], b"payload");
        }
        let mut wire = Vec::new();
        encode_with_padding(b"ab", b"xyz", &mut wire).unwrap();
        assert_eq!(wire, b"\x05\x00\x00\x00abxyz");
    }

    #[test]
    fn oversized_frames_are_refused_without_buffering() {
        let mut decoder = FrameDecoder::new(16);
        decoder.push(&17_u32.to_le_bytes());
        assert_eq!(decoder.next_frame(), Err(TransportError::TooLarge(17)));
        let mut decoder = FrameDecoder::default();
        decoder.push(&[0xff, 0xff, 0xff, 0x7f]);
        assert!(decoder.next_frame().is_err());
        assert!(encode_with_padding(&vec![0; MAX_FRAME + 1], &[], &mut Vec::new()).is_err());
    }

    #[test]
    fn quick_ack_bit_is_not_part_of_the_length() {
        let mut decoder = FrameDecoder::default();
        decoder.push(&[0x02, 0, 0, 0x80, b'o', b'k']);
        assert_eq!(decoder.next_frame().unwrap(), Some(b"ok".to_vec()));
    }

    #[test]
    fn truncated_input_waits_for_more() {
        let mut decoder = FrameDecoder::default();
        decoder.push(&[0x03, 0]);
        assert_eq!(decoder.next_frame().unwrap(), None);
        decoder.push(&[0, 0, b'a']);
        assert_eq!(decoder.next_frame().unwrap(), None);
        decoder.push(b"bc");
        assert_eq!(decoder.next_frame().unwrap(), Some(b"abc".to_vec()));
    }

    #[test]
    fn tags_match_framings() {
        assert_eq!(Framing::Intermediate.tag(), ProtocolTag::Intermediate);
        assert_eq!(
            Framing::PaddedIntermediate.tag(),
            ProtocolTag::PaddedIntermediate
        );
    }
}
