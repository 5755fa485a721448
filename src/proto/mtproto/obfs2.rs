//! Obfuscated2: the 64-byte init header and the AES-256-CTR streams of MTProto proxies.
//!
//! Hand-written because no maintained crate implements the proxy variant of this layer:
//! grammers' `Obfuscated` transport neither hashes the proxy secret into the keys nor
//! writes the DC id (see `docs/MTPROTO.md` §5). The layout follows §1 there:
//!
//! | init bytes | content                                                  | on the wire |
//! |------------|----------------------------------------------------------|-------------|
//! | 0..8       | random, with the forbidden prefixes of [`is_allowed_init`] | clear     |
//! | 8..40      | random: client→server key material                       | clear       |
//! | 40..56     | random: client→server IV                                 | clear       |
//! | 56..60     | protocol tag ([`ProtocolTag`])                           | encrypted   |
//! | 60..62     | DC id, i16 little-endian                                 | encrypted   |
//! | 62..64     | random                                                   | encrypted   |
//!
//! Client→server key = SHA-256(init[8..40] ‖ key16), IV = init[40..56]; server→client: the
//! same over `init[8..56]` reversed. Both are AES-256-CTR with a 128-bit big-endian counter.
//! The client→server stream encrypts the whole init and carries on from byte 64.
//!
//! A proxy talking to a datacenter uses the same layer without a secret ("direct"): the keys
//! are init[8..40] and the reversed `init[8..56]`'s first 32 bytes as they are, unhashed
//! ([`derive_direct_keys`], [`accept_direct_init`]); the lab's datacenter accepts it so that
//! real proxy servers can relay to it.
//!
//! Pure functions, no I/O: the prober ([`crate::probe::mtproto_conn`]) and the lab proxy
//! ([`crate::lab::mtproxy`]) both build on them.

use std::fmt;

use aes::Aes256;
use aes::cipher::{KeyIvInit as _, StreamCipher as _};
use sha2::{Digest as _, Sha256};

use super::secret::KEY_LEN;

/// Length of the init header.
pub(crate) const INIT_LEN: usize = 64;

/// Where the protocol tag sits in the init.
const TAG_AT: usize = 56;
/// Where the DC id sits in the init.
const DC_AT: usize = 60;

/// First four bytes a client must never send: they would read as another protocol
/// (HTTP methods, an unobfuscated intermediate/padded tag, a TLS ClientHello).
const FORBIDDEN_PREFIXES: [[u8; 4]; 7] = [
    *b"HEAD",
    *b"POST",
    *b"GET ",
    *b"OPTI",
    [0xdd; 4],
    [0xee; 4],
    [0x16, 0x03, 0x01, 0x02],
];

/// The transport a client announces in the init (bytes 56..60).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ProtocolTag {
    /// `ef ef ef ef`: abridged (1-byte lengths in words).
    Abridged,
    /// `ee ee ee ee`: intermediate (4-byte LE lengths).
    Intermediate,
    /// `dd dd dd dd`: padded intermediate (lengths include 0–15 padding bytes).
    PaddedIntermediate,
}

impl ProtocolTag {
    /// The four tag bytes.
    pub fn bytes(self) -> [u8; 4] {
        match self {
            Self::Abridged => [0xef; 4],
            Self::Intermediate => [0xee; 4],
            Self::PaddedIntermediate => [0xdd; 4],
        }
    }

    /// Reads a tag; `None` for anything but the three known ones.
    pub fn from_bytes(bytes: [u8; 4]) -> Option<Self> {
        match bytes {
            [0xef, 0xef, 0xef, 0xef] => Some(Self::Abridged),
            [0xee, 0xee, 0xee, 0xee] => Some(Self::Intermediate),
            [0xdd, 0xdd, 0xdd, 0xdd] => Some(Self::PaddedIntermediate),
            _ => None,
        }
    }
}

/// One direction's AES-256-CTR keystream, positioned where the next byte goes.
///
/// `Clone` copies the position too: a clone taken after the init continues exactly where
/// the original did, which is what replaying a handshake needs.
#[derive(Clone)]
pub(crate) struct CtrStream(ctr::Ctr128BE<Aes256>);

impl CtrStream {
    /// A stream at counter position 0.
    pub fn new(keys: &DirectionKeys) -> Self {
        Self(ctr::Ctr128BE::<Aes256>::new(
            (&keys.key).into(),
            (&keys.iv).into(),
        ))
    }

    /// XORs the next `data.len()` keystream bytes into `data` (encrypts or decrypts).
    pub fn apply(&mut self, data: &mut [u8]) {
        self.0.apply_keystream(data);
    }
}

impl fmt::Debug for CtrStream {
    /// Never shows key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("CtrStream(..)")
    }
}

/// Both directions of one obfuscated2 connection, from one endpoint's point of view.
#[derive(Debug, Clone)]
pub(crate) struct Obfs2Cipher {
    /// Applied to bytes this endpoint sends.
    pub encrypt: CtrStream,
    /// Applied to bytes this endpoint receives.
    pub decrypt: CtrStream,
}

/// Key and IV of one direction.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct DirectionKeys {
    /// AES-256 key: SHA-256 of 32 init bytes and the secret's key.
    pub key: [u8; 32],
    /// Initial counter block.
    pub iv: [u8; 16],
}

impl fmt::Debug for DirectionKeys {
    /// Never shows key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DirectionKeys(..)")
    }
}

/// The keys both directions use, derived from an init and the secret's key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Obfs2Keys {
    /// Client→server.
    pub client_to_server: DirectionKeys,
    /// Server→client.
    pub server_to_client: DirectionKeys,
}

/// Derives both directions' keys from `init` (only bytes 8..56 matter) and `key`.
pub(crate) fn derive_keys(init: &[u8; INIT_LEN], key: &[u8; KEY_LEN]) -> Obfs2Keys {
    derive(init, Some(key))
}

/// Derives both directions' keys of a secret-less ("direct") init: a proxy or client
/// talking to a datacenter itself.
pub(crate) fn derive_direct_keys(init: &[u8; INIT_LEN]) -> Obfs2Keys {
    derive(init, None)
}

/// Both directions, hashed with `key` or (direct) not.
fn derive(init: &[u8; INIT_LEN], key: Option<&[u8; KEY_LEN]>) -> Obfs2Keys {
    let mut material = [0_u8; 48];
    material.copy_from_slice(init.get(8..56).unwrap_or(&[0; 48]));
    let forward = direction_keys(&material, key);
    material.reverse();
    let backward = direction_keys(&material, key);
    Obfs2Keys {
        client_to_server: forward,
        server_to_client: backward,
    }
}

/// Key = SHA-256(material[0..32] ‖ key), or material[0..32] itself without a key;
/// IV = material[32..48].
fn direction_keys(material: &[u8; 48], key: Option<&[u8; KEY_LEN]>) -> DirectionKeys {
    let (key_part, iv_part) = material.split_at(32);
    let mut iv = [0_u8; 16];
    iv.copy_from_slice(iv_part);
    let mut aes_key = [0_u8; 32];
    match key {
        Some(key) => {
            aes_key = Sha256::new()
                .chain_update(key_part)
                .chain_update(key)
                .finalize()
                .into();
        }
        None => aes_key.copy_from_slice(key_part),
    }
    DirectionKeys { key: aes_key, iv }
}

/// True when `init` may go on the wire: byte 0 is not `ef`, the first four bytes are none
/// of `HEAD`, `POST`, `GET `,
/// `OPTI`, `dd dd dd dd`, `ee ee ee ee`, `16 03 01 02`, and bytes 4..8 are not all zero.
pub(crate) fn is_allowed_init(init: &[u8; INIT_LEN]) -> bool {
    let [b0, b1, b2, b3, b4, b5, b6, b7, ..] = *init;
    b0 != 0xef && !FORBIDDEN_PREFIXES.contains(&[b0, b1, b2, b3]) && [b4, b5, b6, b7] != [0; 4]
}

/// A client's init header in clear, tag and DC id written in.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct ObfuscatedInit {
    /// The 64 plaintext bytes.
    bytes: [u8; INIT_LEN],
}

impl fmt::Debug for ObfuscatedInit {
    /// Shows the tag and DC only: the rest is key material.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ObfuscatedInit")
            .field("tag", &self.tag())
            .field("dc", &self.dc())
            .finish_non_exhaustive()
    }
}

impl ObfuscatedInit {
    /// A fresh random init announcing `tag` and `dc`, redrawn until [`is_allowed_init`].
    pub fn generate(tag: ProtocolTag, dc: i16) -> Self {
        loop {
            let candidate = Self::from_bytes(rand::random(), tag, dc);
            if is_allowed_init(&candidate.bytes) {
                return candidate;
            }
        }
    }

    /// `bytes` with `tag` and `dc` written in at 56..62 (for fixed test vectors; the
    /// prefix rules are not checked).
    pub fn from_bytes(mut bytes: [u8; INIT_LEN], tag: ProtocolTag, dc: i16) -> Self {
        if let Some(slot) = bytes.get_mut(TAG_AT..DC_AT) {
            slot.copy_from_slice(&tag.bytes());
        }
        if let Some(slot) = bytes.get_mut(DC_AT..DC_AT + 2) {
            slot.copy_from_slice(&dc.to_le_bytes());
        }
        Self { bytes }
    }

    /// The plaintext bytes.
    #[cfg(test)]
    pub fn as_bytes(&self) -> &[u8; INIT_LEN] {
        &self.bytes
    }

    /// The announced tag (`None` is impossible for inits built here).
    pub fn tag(&self) -> Option<ProtocolTag> {
        read_tag(&self.bytes)
    }

    /// The announced DC id.
    pub fn dc(&self) -> i16 {
        read_dc(&self.bytes)
    }

    /// Encrypts the init for `key`: returns the 64 bytes to send (0..56 clear, 56..64
    /// encrypted) and the client's cipher, its encrypt stream already 64 bytes in.
    pub(crate) fn seal(&self, key: &[u8; KEY_LEN]) -> ([u8; INIT_LEN], Obfs2Cipher) {
        self.seal_with(&derive_keys(&self.bytes, key))
    }

    /// Encrypts the init without a secret, as a proxy does towards a datacenter.
    #[cfg(test)]
    pub(crate) fn seal_direct(&self) -> ([u8; INIT_LEN], Obfs2Cipher) {
        self.seal_with(&derive_direct_keys(&self.bytes))
    }

    /// [`Self::seal`] with the keys given.
    fn seal_with(&self, keys: &Obfs2Keys) -> ([u8; INIT_LEN], Obfs2Cipher) {
        let mut encrypt = CtrStream::new(&keys.client_to_server);
        let mut sealed = self.bytes;
        encrypt.apply(&mut sealed);
        let mut wire = self.bytes;
        if let (Some(dst), Some(src)) = (wire.get_mut(TAG_AT..), sealed.get(TAG_AT..)) {
            dst.copy_from_slice(src);
        }
        let cipher = Obfs2Cipher {
            encrypt,
            decrypt: CtrStream::new(&keys.server_to_client),
        };
        (wire, cipher)
    }
}

/// Reads the tag at 56..60.
fn read_tag(init: &[u8; INIT_LEN]) -> Option<ProtocolTag> {
    let [.., t0, t1, t2, t3, _, _, _, _] = *init;
    ProtocolTag::from_bytes([t0, t1, t2, t3])
}

/// Reads the DC id at 60..62.
fn read_dc(init: &[u8; INIT_LEN]) -> i16 {
    let [.., d0, d1, _, _] = *init;
    i16::from_le_bytes([d0, d1])
}

/// Why a server rejects an init.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Obfs2Error {
    /// Decrypted bytes 56..60 are no known tag: wrong secret, or not obfuscated2.
    #[error("unknown protocol tag {0:02x?} (wrong secret?)")]
    UnknownTag([u8; 4]),
}

/// What a server learns from a valid init.
#[derive(Debug, Clone)]
pub(crate) struct AcceptedInit {
    /// The transport the client announced.
    pub tag: ProtocolTag,
    /// The DC the client asked for.
    #[cfg_attr(
        not(test),
        expect(
            dead_code,
            reason = "the lab relays every client to its one datacenter"
        )
    )]
    pub dc: i16,
    /// The server's cipher: `decrypt` is the client's encrypt stream (64 bytes in),
    /// `encrypt` the client's decrypt stream (at 0).
    pub cipher: Obfs2Cipher,
}

/// Server side: derives the ciphers from the 64 received bytes, decrypts 56..64 and reads
/// the tag and DC id. Fails when the tag is not one of the three known ones.
pub(crate) fn accept_init(
    wire: &[u8; INIT_LEN],
    key: &[u8; KEY_LEN],
) -> Result<AcceptedInit, Obfs2Error> {
    accept(wire, &derive_keys(wire, key))
}

/// Server side of a secret-less ("direct") init, as a datacenter sees a proxy's.
pub(crate) fn accept_direct_init(wire: &[u8; INIT_LEN]) -> Result<AcceptedInit, Obfs2Error> {
    accept(wire, &derive_direct_keys(wire))
}

/// Decrypts 56..64 of `wire` with `keys` and reads the tag and DC id.
fn accept(wire: &[u8; INIT_LEN], keys: &Obfs2Keys) -> Result<AcceptedInit, Obfs2Error> {
    let mut decrypt = CtrStream::new(&keys.client_to_server);
    let mut plain = *wire;
    decrypt.apply(&mut plain);
    let tag = read_tag(&plain).ok_or_else(|| {
        let [.., t0, t1, t2, t3, _, _, _, _] = plain;
        Obfs2Error::UnknownTag([t0, t1, t2, t3])
    })?;
    Ok(AcceptedInit {
        tag,
        dc: read_dc(&plain),
        cipher: Obfs2Cipher {
            encrypt: CtrStream::new(&keys.server_to_client),
            decrypt,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Hex to bytes (tests only).
    fn hex(text: &str) -> Vec<u8> {
        let text: String = text.split_whitespace().collect();
        (0..text.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&text[i..i + 2], 16).unwrap())
            .collect()
    }

    fn array<const N: usize>(text: &str) -> [u8; N] {
        hex(text).try_into().unwrap()
    }

    // Vectors from tests/vectors/mtproto_vectors.py (obfs2.*).
    const PY_KEY: &str = "00112233445566778899aabbccddeeff";
    const PY_INIT: &str = "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\
                           c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7ddddddddfeffdedf";

    #[test]
    fn python_vector_key_derivation() {
        let keys = derive_keys(&array(PY_INIT), &array(PY_KEY));
        assert_eq!(
            keys.client_to_server.key.to_vec(),
            hex("90ea708b513a3cec5f1d0b30a2d433376f08d5b7ef6c857a58fe4d870a203fb8")
        );
        assert_eq!(
            keys.client_to_server.iv.to_vec(),
            hex("c8c9cacbcccdcecfd0d1d2d3d4d5d6d7")
        );
        assert_eq!(
            keys.server_to_client.key.to_vec(),
            hex("95891d116fd64e7e4fd99b0044ac0e4df3d8e27b967acb57367ed0a356b3dbf0")
        );
        assert_eq!(
            keys.server_to_client.iv.to_vec(),
            hex("b7b6b5b4b3b2b1b0afaeadacabaaa9a8")
        );
    }

    #[test]
    fn python_vector_client_seal_and_both_directions() {
        let init = ObfuscatedInit::from_bytes(array(PY_INIT), ProtocolTag::PaddedIntermediate, -2);
        assert_eq!(init.as_bytes().to_vec(), hex(PY_INIT));
        let (wire, mut client) = init.seal(&array(PY_KEY));
        assert_eq!(
            wire.to_vec(),
            hex(
                "a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf\
                 c0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d768d5da45f7cfb2cf"
            )
        );
        let mut c2s = b"client to server, after the init".to_vec();
        client.encrypt.apply(&mut c2s);
        assert_eq!(
            c2s,
            hex("8ea4c4ca52c9d9a0c9e7ef58bb78ce7abd901cdef6393ceea9738efc330cc656")
        );
        let mut s2c = hex("be96d8bd050aaf88fae14abd06b733f27f341f25fbd6116310cc9ee71a2ec1");
        client.decrypt.apply(&mut s2c);
        assert_eq!(s2c, b"server to client, from offset 0");

        let mut server = accept_init(&wire, &array(PY_KEY)).unwrap();
        assert_eq!(server.tag, ProtocolTag::PaddedIntermediate);
        assert_eq!(server.dc, -2);
        server.cipher.decrypt.apply(&mut c2s);
        assert_eq!(c2s, b"client to server, after the init");
    }

    #[test]
    fn spec_vector_a_server_side() {
        // docs/MTPROTO.md §4, vector A (mtg's testdata).
        let key = array("367a189aee18fa31c190054efd4a8e95");
        let frame = array(
            "803717c1a318e11c2547e9c9c3e20b0ebd76dd42471e38c4fd4e691789bf634e\
             00987ee512910be946119c86036c394e1d20f17354e8ce23ef36524987c44ca3",
        );
        let keys = derive_keys(&frame, &key);
        assert_eq!(
            keys.client_to_server.key.to_vec(),
            hex("5718e0e2c67876e474a1fed6e7a638f1a785325360f92a6f361f6dd43caf59f3")
        );
        assert_eq!(
            keys.server_to_client.iv.to_vec(),
            hex("c4381e4742dd76bd0e0be2c3c9e94725")
        );
        let mut accepted = accept_init(&frame, &key).unwrap();
        assert_eq!(accepted.tag, ProtocolTag::PaddedIntermediate);
        assert_eq!(accepted.dc, 2);
        let mut data = hex("61626364656667");
        accepted.cipher.decrypt.apply(&mut data);
        assert_eq!(data, hex("e30663ea65147b"));
        let mut reply = hex("0102030405060708090a");
        accepted.cipher.encrypt.apply(&mut reply);
        assert_eq!(reply, hex("c195774d1dfd97d9d1a1"));
    }

    #[test]
    fn spec_vector_b_client_side() {
        // docs/MTPROTO.md §4, vector B.
        let key = array("0123456789abcdeffedcba9876543210");
        let init = ObfuscatedInit::from_bytes(
            array(
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
                 202122232425262728292a2b2c2d2e2f3031323334353637dddddddd02003e3f",
            ),
            ProtocolTag::PaddedIntermediate,
            2,
        );
        let (wire, mut cipher) = init.seal(&key);
        assert_eq!(
            wire.to_vec(),
            hex(
                "000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f\
                 202122232425262728292a2b2c2d2e2f30313233343536378474af9931927338"
            )
        );
        let mut frame = hex("28000000000000000000000004000000ebe5776714000000f18e7ebe\
             a0a1a2a3a4a5a6a7a8a9aaabacadaeaf");
        cipher.encrypt.apply(&mut frame);
        assert_eq!(
            frame,
            hex(
                "cd605f5d66f5e2e8b015d52c36b44a382962a3b44101840a12a49d5011a18faf\
                 579f2aa664ac143567bf1458"
            )
        );
    }

    #[test]
    fn wrong_key_gives_unknown_tag() {
        let (wire, _) = ObfuscatedInit::generate(ProtocolTag::Intermediate, 2).seal(&[1; 16]);
        assert!(matches!(
            accept_init(&wire, &[2; 16]),
            Err(Obfs2Error::UnknownTag(_))
        ));
    }

    #[test]
    fn generated_inits_obey_the_prefix_rules_and_carry_tag_and_dc() {
        for _ in 0..200 {
            let init = ObfuscatedInit::generate(ProtocolTag::Intermediate, -4);
            assert!(is_allowed_init(init.as_bytes()));
            assert_eq!(init.tag(), Some(ProtocolTag::Intermediate));
            assert_eq!(init.dc(), -4);
        }
        let mut bad = [0x11_u8; INIT_LEN];
        bad[0] = 0xef;
        assert!(!is_allowed_init(&bad));
        let mut bad = [0x11_u8; INIT_LEN];
        bad[..4].copy_from_slice(b"GET ");
        assert!(!is_allowed_init(&bad));
        let mut bad = [0x11_u8; INIT_LEN];
        bad[4..8].fill(0);
        assert!(!is_allowed_init(&bad));
        assert!(is_allowed_init(&[0x11; INIT_LEN]));
    }

    #[test]
    fn tags_round_trip() {
        for tag in [
            ProtocolTag::Abridged,
            ProtocolTag::Intermediate,
            ProtocolTag::PaddedIntermediate,
        ] {
            assert_eq!(ProtocolTag::from_bytes(tag.bytes()), Some(tag));
        }
        assert_eq!(ProtocolTag::from_bytes([0xdd, 0xdd, 0xdd, 0xde]), None);
    }

    #[test]
    fn direct_inits_use_the_init_bytes_as_keys_unhashed() {
        let plain = ObfuscatedInit::generate(ProtocolTag::PaddedIntermediate, -2);
        let bytes = plain.as_bytes();
        let keys = derive_direct_keys(bytes);
        assert_eq!(&keys.client_to_server.key[..], &bytes[8..40]);
        assert_eq!(&keys.client_to_server.iv[..], &bytes[40..56]);
        let reversed: Vec<u8> = bytes[8..56].iter().rev().copied().collect();
        assert_eq!(&keys.server_to_client.key[..], &reversed[..32]);
        assert_eq!(&keys.server_to_client.iv[..], &reversed[32..]);

        // A proxy seals the init with those keys; the datacenter reads it back.
        let (wire, cipher) = plain.seal_direct();
        assert_eq!(wire[..56], bytes[..56]);
        let mut encrypt = cipher.encrypt;
        let accepted = accept_direct_init(&wire).unwrap();
        assert_eq!(accepted.tag, ProtocolTag::PaddedIntermediate);
        assert_eq!(accepted.dc, -2);
        // The same init read as a proxy client's (hashed with a key) fails.
        assert!(accept_init(&wire, &[0; KEY_LEN]).is_err());
        // Both streams continue in step: what the proxy sends next, the datacenter reads.
        let mut decrypt = accepted.cipher.decrypt;
        let mut message = *b"req_pq_multi";
        encrypt.apply(&mut message);
        decrypt.apply(&mut message);
        assert_eq!(&message, b"req_pq_multi");
    }
}
