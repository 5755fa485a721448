#!/usr/bin/env python3
"""Writes the seed inputs of each fuzz target into fuzz/corpus/<target>/seed-*.

Run from anywhere: python3 fuzz/seed_corpora.py. Existing seeds are overwritten; other
corpus files are left alone. The byte layouts follow each target's header comment.
"""
import pathlib
import re
import struct

FUZZ = pathlib.Path(__file__).resolve().parent
ROOT = FUZZ.parent


def write(target, seeds):
    folder = FUZZ / "corpus" / target
    folder.mkdir(parents=True, exist_ok=True)
    for i, seed in enumerate(seeds):
        (folder / f"seed-{i:02}").write_bytes(seed)


def faketls_vector(name):
    """A hex constant from the faketls unit tests (Python-generated vectors)."""
    text = (ROOT / "src/proto/mtproto/faketls.rs").read_text()
    match = re.search(rf'const {name}: &str =\s*"((?:[^"\\]|\\\n)*)"', text)
    return bytes.fromhex(re.sub(r"\\\n|\s", "", match.group(1)))


HEADS = [
    b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: 1\r\n\r\nhello",
    b"HTTP/1.0 200 Connection established\r\n\r\n",
    b"HTTP/1.1 407 Proxy Authentication Required\r\nProxy-Authenticate: Basic\r\n\r\n",
    b"HTTP/1.1 100 Continue\n\nHTTP/1.1 204 No Content\n\n",
    b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=1\r\nhello\r\n0\r\n\r\n",
    b"HTTP/1.1 200 OK\r\nContent-Length: 3, 3\r\n\r\nabc",
    b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\nuntil the end",
]
write("http_head", HEADS)
write("http_body", [bytes([2, 255]) + h for h in HEADS] + [bytes([0, 4]) + HEADS[4]])

V4 = bytes([192, 0, 2, 1]) + struct.pack(">H", 80)
socks = [
    (0x00, b"\x05\x00" + b"\x05\x00\x00\x01" + V4 + b"tunnel"),
    (0x09, b"\x05\x02" + b"\x01\x00" + b"\x05\x00\x00\x01" + V4 + b"tunnel"),
    (0x10, b"\x05\x00" + b"\x05\x00\x00\x03\x0bexample.com\x01\xbb" + b"x"),
    (0x20, b"\x05\x00" + b"\x05\x00\x00\x04" + bytes(16) + b"\x01\xbb"),
    (0x00, b"\x05\x00\x05\x05\x00\x01" + V4),
    (0x09, b"\x05\x02\x01\x01"),
    (0x01, b"\x00\x5a" + b"\x00\x00\x00\x00\x00\x00" + b"tunnel"),
    (0x19, b"\x00\x5b" + V4),
    (0x02, b"HTTP/1.1 200 Connection established\r\n\r\ntunnel"),
    (0x0b, b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 407 Nope\r\n\r\n"),
    (0x22, b"HTTP/1.0 200 OK\r\n\r\n"),
]
write("socks_reply", [bytes([mode, 2]) + reply for mode, reply in socks]
      + [bytes([0, 0]) + socks[1][1]])

write("judge_json", [
    b'{"address":"1.2.3.4","headers":[["Via","1.1 x"],["X-Forwarded-For","203.0.113.9, 10.0.0.1"]]}',
    b'{"address":null,"headers":[["Forwarded","for=\\"[2001:db8::1]:4711\\";proto=http"]]}',
    b'{"headers":[]}',
    b"<html>not json</html>",
])

hello = faketls_vector("PY_HELLO_HEAD")
answer = faketls_vector("PY_ANSWER")
records = b"\x14\x03\x03\x00\x01\x01" + b"\x17\x03\x03\x00\x05hello" + b"\x17\x03\x03\x00\x00"
write("faketls", [b"\x00" + answer, b"\x01" + records, b"\x02" + hello,
                  b"\x03mask.lab.test", b"\x01" + b"\x15\x03\x03\x00\x02\x02\x28"])

RES_PQ, VECTOR = 0x05162463, 0x1CB5C415
NONCE, SERVER_NONCE = bytes(range(16)), bytes(range(16, 32))
PQ = bytes.fromhex("17ED48941A08F981")
TELEGRAM_FP = 0xD09D1D85DE64FD85


def tl_bytes(data):
    head = bytes([len(data)]) if len(data) < 254 else b"\xfe" + struct.pack("<I", len(data))[:3]
    body = head + data
    return body + bytes(-len(body) % 4)


res_pq = (struct.pack("<I", RES_PQ) + NONCE + SERVER_NONCE + tl_bytes(PQ)
          + struct.pack("<IIQ", VECTOR, 1, TELEGRAM_FP))
dh_fail = struct.pack("<I", 0x79CB045D) + NONCE + SERVER_NONCE + bytes(16)
dh_ok = struct.pack("<I", 0xD0E8075C) + NONCE + SERVER_NONCE + tl_bytes(bytes(592))
inner = (struct.pack("<I", 0xB5890DBA) + NONCE + SERVER_NONCE + struct.pack("<i", 3)
         + tl_bytes(bytes(256)) + tl_bytes(bytes(256)) + struct.pack("<i", 1700000000))
plain = bytes(8) + struct.pack("<qI", (1700000000 << 32) | 1, len(res_pq)) + res_pq + b"pad"
frames = struct.pack("<I", 5) + b"hello" + struct.pack("<I", 0x80000000) + struct.pack("<I", 2)
reader = bytes([4, 0, 3, 4, 8]) + struct.pack("<I", 7) + tl_bytes(b"abc") + struct.pack("<II", VECTOR, 0)
write("mtproto_tl", [b"\x00" + reader, b"\x01" + res_pq, b"\x01" + dh_fail, b"\x01" + dh_ok,
                     b"\x01" + inner, b"\x02" + plain, b"\x03" + frames, b"\x04" + res_pq])

rules = [p.read_bytes() for p in sorted((ROOT / "rules").glob("*.toml"))]
rules.append((ROOT / "rules/profiles/internet.toml").read_bytes())
rules.append((ROOT / "rules/profiles/telegram-keys.pem").read_bytes())
rules += [b"http://example.com:8080/path?q=1", b"http://[2001:db8::1]/", b"http://Host"]
write("rule_files", rules)
