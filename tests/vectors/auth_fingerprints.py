#!/usr/bin/env python3
"""Fingerprints of the RSA keys in rules/profiles/telegram-keys.pem, computed without the
Rust code: the PEM is parsed by `cryptography`, n and e are TL-serialised by hand, and the
fingerprint is the low 64 bits of SHA-1 (bytes 12..20, little-endian).

Usage: python3 tests/vectors/auth_fingerprints.py [PEM-FILE ...]
"""
import hashlib
import re
import sys

from cryptography.hazmat.primitives.serialization import load_pem_public_key


def tl_bytes(data: bytes) -> bytes:
    """TL `bytes`: short (1-byte length) or long (0xfe + 3-byte length) form, padded to 4."""
    if len(data) < 254:
        out = bytes([len(data)]) + data
    else:
        out = b"\xfe" + len(data).to_bytes(3, "little") + data
    return out + b"\x00" * (-len(out) % 4)


def big_endian(number: int) -> bytes:
    return number.to_bytes((number.bit_length() + 7) // 8, "big")


def fingerprint(n: int, e: int) -> int:
    digest = hashlib.sha1(tl_bytes(big_endian(n)) + tl_bytes(big_endian(e))).digest()
    return int.from_bytes(digest[12:20], "little")


def main() -> None:
    paths = sys.argv[1:] or ["rules/profiles/telegram-keys.pem"]
    armour = re.compile(r"-----BEGIN ([A-Z ]+)-----.*?-----END \1-----", re.S)
    for path in paths:
        text = open(path, encoding="utf-8").read()
        for match in armour.finditer(text):
            key = load_pem_public_key(match.group(0).encode())
            numbers = key.public_numbers()
            print(f"{path}: n starts {big_endian(numbers.n)[:4].hex()} "
                  f"fingerprint 0x{fingerprint(numbers.n, numbers.e):016x}")


if __name__ == "__main__":
    main()
