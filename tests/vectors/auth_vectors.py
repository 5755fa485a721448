#!/usr/bin/env python3
"""Test vectors for src/proto/mtproto/{tl,auth}.rs, computed without the Rust code.

Only `hashlib` and raw AES-ECB blocks from `cryptography` are used; AES-IGE, TL
serialisation, RSA_PAD and the tmp_aes key derivation are re-implemented here from
core.telegram.org/mtproto/auth_key. The IGE block chaining is first checked against the
published AES-128 IGE vector of OpenSSL's test/igetest.c, so both implementations agree
on which half of the 32-byte IV chains which side.

Usage: python3 tests/vectors/auth_vectors.py   (prints Rust constants to paste into tests)
"""
import hashlib
import re

from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.serialization import load_pem_public_key


def ecb(key: bytes, decrypt: bool = False):
    cipher = Cipher(algorithms.AES(key), modes.ECB())
    return cipher.decryptor() if decrypt else cipher.encryptor()


def xor(a: bytes, b: bytes) -> bytes:
    return bytes(x ^ y for x, y in zip(a, b))


def ige_encrypt(key: bytes, iv: bytes, plain: bytes) -> bytes:
    assert len(plain) % 16 == 0
    block = ecb(key)
    prev_cipher, prev_plain, out = iv[:16], iv[16:], b""
    for i in range(0, len(plain), 16):
        p = plain[i:i + 16]
        c = xor(block.update(xor(p, prev_cipher)), prev_plain)
        out, prev_cipher, prev_plain = out + c, c, p
    return out


def ige_decrypt(key: bytes, iv: bytes, data: bytes) -> bytes:
    assert len(data) % 16 == 0
    block = ecb(key, decrypt=True)
    prev_cipher, prev_plain, out = iv[:16], iv[16:], b""
    for i in range(0, len(data), 16):
        c = data[i:i + 16]
        p = xor(block.update(xor(c, prev_plain)), prev_cipher)
        out, prev_cipher, prev_plain = out + p, c, p
    return out


def tl_bytes(data: bytes) -> bytes:
    if len(data) < 254:
        out = bytes([len(data)]) + data
    else:
        out = b"\xfe" + len(data).to_bytes(3, "little") + data
    return out + b"\x00" * (-len(out) % 4)


def u32(v: int) -> bytes:
    return (v & 0xFFFFFFFF).to_bytes(4, "little")


def i64(v: int) -> bytes:
    return (v & 0xFFFFFFFFFFFFFFFF).to_bytes(8, "little")


def be(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def tmp_aes(new_nonce: bytes, server_nonce: bytes):
    a = hashlib.sha1(new_nonce + server_nonce).digest()
    b = hashlib.sha1(server_nonce + new_nonce).digest()
    c = hashlib.sha1(new_nonce + new_nonce).digest()
    return a + b[:12], b[12:20] + c + new_nonce[:4]


def rsa_pad(data: bytes, n: int, e: int, padding: bytes, temp_key: bytes):
    """Returns the 256-byte ciphertext, or None when key_aes_encrypted >= n (retry)."""
    assert len(data) <= 144 and len(data) + len(padding) == 192 and len(temp_key) == 32
    padded = data + padding
    data_with_hash = padded[::-1] + hashlib.sha256(temp_key + padded).digest()
    aes_encrypted = ige_encrypt(temp_key, bytes(32), data_with_hash)
    temp_key_xor = xor(temp_key, hashlib.sha256(aes_encrypted).digest())
    key_aes_encrypted = int.from_bytes(temp_key_xor + aes_encrypted, "big")
    if key_aes_encrypted >= n:
        return None
    return pow(key_aes_encrypted, e, n).to_bytes(256, "big")


def rust(name: str, data: bytes) -> str:
    text = data.hex()
    lines = [text[i:i + 96] for i in range(0, len(text), 96)]
    if len(lines) == 1:
        return f'const {name}_HEX: &str = "{text}";'
    body = "\n".join(f'    "{line}",' for line in lines)
    return f"const {name}_HEX: &str = concat!(\n{body}\n);"


def main() -> None:
    # OpenSSL test/igetest.c, first AES-128 IGE vector: key 00..0f, iv 00..1f, 32 zero bytes.
    published = bytes.fromhex("1a8519a6557be652e9da8e43da4ef445"
                              "3cf456b4ca488aa383c79c98b34797cb")
    assert ige_encrypt(bytes(range(16)), bytes(range(32)), bytes(32)) == published
    assert ige_decrypt(bytes(range(16)), bytes(range(32)), published) == bytes(32)

    # 1. AES-256-IGE.
    key, iv, plain = bytes(range(32)), bytes(range(32, 64)), bytes(range(64, 128))
    cipher = ige_encrypt(key, iv, plain)
    assert ige_decrypt(key, iv, cipher) == plain
    print("// AES-256-IGE: key 00..1f, iv 20..3f, plaintext 40..7f")
    print(rust("IGE_CIPHERTEXT", cipher))

    # 2. tmp_aes key and iv.
    nonce = bytes(range(0xA0, 0xB0))
    server_nonce = bytes(range(0xB0, 0xC0))
    new_nonce = bytes(range(0xC0, 0xE0))
    tmp_key, tmp_iv = tmp_aes(new_nonce, server_nonce)
    print("// tmp_aes from nonce a0..af, server_nonce b0..bf, new_nonce c0..df")
    print(rust("TMP_AES_KEY", tmp_key))
    print(rust("TMP_AES_IV", tmp_iv))

    # 3. p_q_inner_data_dc, with the pq of core.telegram.org/mtproto/samples-auth_key.
    pq, p, q = 2289844033317725111, 1338315091, 1710990221
    assert p * q == pq
    inner = (u32(0xA9F55F95) + tl_bytes(be(pq)) + tl_bytes(be(p)) + tl_bytes(be(q))
             + nonce + server_nonce + new_nonce + u32(2))
    print("// p_q_inner_data_dc: pq 2289844033317725111 = 1338315091 * 1710990221, dc 2")
    print(rust("PQ_INNER_DATA", inner))

    # 4. RSA_PAD to Telegram's production key with fixed randomness.
    text = open("rules/profiles/telegram-keys.pem", encoding="utf-8").read()
    block = re.search(r"-----BEGIN RSA PUBLIC KEY-----.*?-----END RSA PUBLIC KEY-----",
                      text, re.S).group(0)
    numbers = load_pem_public_key(block.encode()).public_numbers()
    padding = bytes((7 * i + 3) & 0xFF for i in range(192 - len(inner)))
    temp_key = bytes(range(0x10, 0x30))
    encrypted = rsa_pad(inner, numbers.n, numbers.e, padding, temp_key)
    assert encrypted is not None, "choose another temp_key"
    print("// RSA_PAD(PQ_INNER_DATA) to the production key; padding[i] = 7i+3, "
          "temp_key 10..2f")
    print(rust("RSA_PAD_PRODUCTION", encrypted))
    # A temp_key whose key_aes_encrypted is >= n must be rejected (caller retries).
    rejected = next(bytes([t]) * 32 for t in range(256)
                    if rsa_pad(inner, numbers.n, numbers.e, padding, bytes([t]) * 32) is None)
    print(f"// first temp_key of the form [t; 32] that RSA_PAD must refuse: t = {rejected[0]:#04x}")

    # 5. req_DH_params carrying that ciphertext.
    req = (u32(0xD712E4BE) + nonce + server_nonce + tl_bytes(be(p)) + tl_bytes(be(q))
           + i64(0xD09D1D85DE64FD85) + tl_bytes(encrypted))
    print(rust("REQ_DH_PARAMS", req))

    # 6. server_DH_params_ok for the nonces above (Telegram's published 2048-bit dh_prime).
    dh_prime = bytes.fromhex(
        "c71caeb9c6b1c9048e6c522f70f13f73980d40238e3e21c14934d037563d930f"
        "48198a0aa7c14058229493d22530f4dbfa336f6e0ac925139543aed44cce7c37"
        "20fd51f69458705ac68cd4fe6b6b13abdc9746512969328454f18faf8c595f64"
        "2477fe96bb2a941d5bcd1d4ac8cc49880708fa9b378e3c4f3a9060bee67cf9a4"
        "a4a695811051907e162753b56b0f6b410dba74d8a84b2a14b3144e0ef1284754"
        "fd17ed950d5965b4b9dd46582db1178d169c6bc465b0d6ff9ca3928fef5b9ae4"
        "e418fc15e83ebea0f87fa9ff5eed70050ded2849f47bf959d956850ce929851f"
        "0d8115f635b105ee2e4e15d04b2454bf6f4fadf034b10403119cd8e3b92fcc5b")
    g_a = bytes((13 * i + 1) & 0xFF for i in range(256))
    server_time = 1_700_000_000
    answer = (u32(0xB5890DBA) + nonce + server_nonce + u32(3) + tl_bytes(dh_prime)
              + tl_bytes(g_a) + u32(server_time))
    with_hash = hashlib.sha1(answer).digest() + answer
    with_hash += bytes(range(0xF0, 0xF0 + (-len(with_hash) % 16)))
    ok = (u32(0xD0E8075C) + nonce + server_nonce
          + tl_bytes(ige_encrypt(tmp_key, tmp_iv, with_hash)))
    print(f"// server_DH_params_ok: g 3, Telegram's dh_prime, g_a[i] = 13i+1, "
          f"server_time {server_time}, answer {len(answer)} bytes, "
          f"padding {len(with_hash) - 20 - len(answer)} bytes f0..")
    print(rust("SERVER_DH_PARAMS_OK", ok))

    # 7. resPQ as the fake DC builds it.
    res_pq = (u32(0x05162463) + nonce + server_nonce + tl_bytes(be(pq)) + u32(0x1CB5C415)
              + u32(2) + i64(0xD09D1D85DE64FD85) + i64(0x0123456789ABCDEF))
    print(rust("RES_PQ", res_pq))


if __name__ == "__main__":
    main()
