#!/usr/bin/env python3
"""Independent test vectors for the MTProto proxy layer (obfuscated2 and FakeTLS).

Written from docs/MTPROTO.md (sections 1 and 3) and the public sources it names, not from the Rust code,
so the Rust unit tests in src/proto/mtproto/{obfs2,faketls}.rs check against a second
implementation. Only the standard library plus the `cryptography` package (AES-CTR).

Regenerate:
    python3 -m pip install cryptography   # if `python3 -c "import cryptography"` fails
    python3 tests/vectors/mtproto_vectors.py > tests/vectors/mtproto_vectors.txt
then paste the changed values into the Rust tests (they cite the key names printed here).
"""

import hashlib
import hmac
import struct

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes


def ctr(key, iv):
    """AES-256-CTR with the IV as a 128-bit big-endian counter."""
    return Cipher(algorithms.AES(key), modes.CTR(iv)).encryptor()


def out(name, data):
    print(f"{name} = {data.hex()}")


# ---------------------------------------------------------------- obfuscated2
KEY = bytes.fromhex("00112233445566778899aabbccddeeff")
# 64 fixed bytes: 0xa0.. counting up, tag dd, dc -2 (fe ff), then 2 filler bytes.
INIT = bytearray((0xA0 + i) % 256 for i in range(64))
INIT[56:60] = b"\xdd\xdd\xdd\xdd"
INIT[60:62] = struct.pack("<h", -2)
INIT = bytes(INIT)

enc_key = hashlib.sha256(INIT[8:40] + KEY).digest()
enc_iv = INIT[40:56]
rev = INIT[8:56][::-1]
dec_key = hashlib.sha256(rev[0:32] + KEY).digest()
dec_iv = rev[32:48]

enc = ctr(enc_key, enc_iv)
sealed = enc.update(INIT)
wire = INIT[:56] + sealed[56:64]
c2s_payload = b"client to server, after the init"
c2s_cipher = enc.update(c2s_payload)
dec = ctr(dec_key, dec_iv)
s2c_payload = b"server to client, from offset 0"
s2c_cipher = dec.update(s2c_payload)

print("# obfuscated2")
out("obfs2.key", KEY)
out("obfs2.init", INIT)
out("obfs2.enc_key", enc_key)
out("obfs2.enc_iv", enc_iv)
out("obfs2.dec_key", dec_key)
out("obfs2.dec_iv", dec_iv)
out("obfs2.wire", wire)
out("obfs2.c2s_plain", c2s_payload)
out("obfs2.c2s_cipher", c2s_cipher)
out("obfs2.s2c_plain", s2c_payload)
out("obfs2.s2c_cipher", s2c_cipher)

# ---------------------------------------------------------------- FakeTLS ClientHello
DOMAIN = b"mask.lab.test"
SESSION_ID = bytes(range(0x40, 0x60))
KEY_SHARE = bytes(range(0x80, 0xA0))
# GREASE values (high nibble chosen, low nibble 0xa, both bytes equal), in the order the
# hello uses them: cipher suite, first extension, supported group, key share, version,
# last extension.
GREASE = [0x0A0A, 0x1A1A, 0x2A2A, 0x3A3A, 0x4A4A, 0x5A5A]
NOW = 1_700_000_000


def u16(n):
    return struct.pack(">H", n)


def ext(kind, body):
    return u16(kind) + u16(len(body)) + body


def client_hello(random):
    suites = [GREASE[0], 0x1301, 0x1302, 0x1303, 0xC02B, 0xC02F, 0xC02C, 0xC030,
              0xCCA9, 0xCCA8, 0xC013, 0xC014, 0x009C, 0x009D, 0x002F, 0x0035]
    exts = b"".join([
        ext(GREASE[1], b""),
        ext(0x0000, u16(len(DOMAIN) + 3) + b"\x00" + u16(len(DOMAIN)) + DOMAIN),
        ext(0x0017, b""),
        ext(0xFF01, b"\x00"),
        ext(0x000A, u16(8) + u16(GREASE[2]) + u16(0x001D) + u16(0x0017) + u16(0x0018)),
        ext(0x000B, b"\x01\x00"),
        ext(0x0023, b""),
        ext(0x0010, u16(12) + b"\x02h2\x08http/1.1"),
        ext(0x0005, b"\x01\x00\x00\x00\x00"),
        ext(0x000D, u16(16) + b"".join(u16(a) for a in [
            0x0403, 0x0804, 0x0401, 0x0503, 0x0805, 0x0501, 0x0806, 0x0601])),
        ext(0x0012, b""),
        ext(0x0033, u16(5 + 36) + u16(GREASE[3]) + u16(1) + b"\x00"
            + u16(0x001D) + u16(32) + KEY_SHARE),
        ext(0x002D, b"\x01\x01"),
        ext(0x002B, b"\x0a" + b"".join(u16(v) for v in [GREASE[4], 0x0304, 0x0303, 0x0302, 0x0301])),
        ext(0x001B, b"\x02\x00\x02"),
        ext(GREASE[5], b"\x00"),
    ])
    body_fixed = (b"\x03\x03" + random + bytes([32]) + SESSION_ID
                  + u16(2 * len(suites)) + b"".join(u16(s) for s in suites)
                  + b"\x01\x00")
    # record header 5 + handshake header 4 + body + extensions length 2 + extensions
    # + padding extension header 4 + padding = 517
    pad = 517 - (5 + 4 + len(body_fixed) + 2 + len(exts) + 4)
    assert pad >= 0
    exts += ext(0x0015, bytes(pad))
    body = body_fixed + u16(len(exts)) + exts
    handshake = b"\x01" + struct.pack(">I", len(body))[1:] + body
    return b"\x16\x03\x01" + u16(len(handshake)) + handshake


zeroed = client_hello(bytes(32))
digest = hmac.new(KEY, zeroed, hashlib.sha256).digest()
client_random = digest[:28] + bytes(
    a ^ b for a, b in zip(digest[28:], struct.pack("<I", NOW)))
hello = client_hello(client_random)
assert len(hello) == 517 and hello[:5] == bytes.fromhex("1603010200")

print("# FakeTLS ClientHello")
out("hello.key", KEY)
out("hello.domain", DOMAIN)
print(f"hello.now = {NOW}")
out("hello.session_id", SESSION_ID)
out("hello.key_share", KEY_SHARE)
out("hello.hmac", digest)
out("hello.client_random", client_random)
out("hello.record", hello)

# ---------------------------------------------------------------- FakeTLS server answer
SERVER_KEY_SHARE = bytes([0x77]) * 32
APP_DATA = bytes((i * 7) % 256 for i in range(100))


def server_answer(random):
    exts = (ext(0x0033, u16(0x001D) + u16(32) + SERVER_KEY_SHARE)
            + ext(0x002B, u16(0x0304)))
    body = (b"\x03\x03" + random + bytes([32]) + SESSION_ID + u16(0x1301) + b"\x00"
            + u16(len(exts)) + exts)
    handshake = b"\x02" + struct.pack(">I", len(body))[1:] + body
    return (b"\x16\x03\x03" + u16(len(handshake)) + handshake
            + bytes.fromhex("140303000101")
            + b"\x17\x03\x03" + u16(len(APP_DATA)) + APP_DATA)


server_random = hmac.new(KEY, client_random + server_answer(bytes(32)), hashlib.sha256).digest()
answer = server_answer(server_random)

print("# FakeTLS server answer (session id and client random from the hello above)")
out("answer.key_share", SERVER_KEY_SHARE)
out("answer.app_data", APP_DATA)
out("answer.server_random", server_random)
out("answer.record", answer)
