//! Fuzzes MTProto decoding of what a datacenter or proxy sends: the TL reader driven by a
//! fuzzed sequence of reads, every message parser (a parsed value re-encodes to bytes that
//! parse to the same value), the unencrypted envelope, the intermediate framing (fed whole
//! or in chunks, which must agree) and the client's handling of resPQ / server_DH_params.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_audit::proto::mtproto::auth::{
    AuthClient, PqInnerData, ReqDhParams, ResPq, ServerDhInnerData, ServerDhParams, pq_from_bytes,
};
use proxy_audit::proto::mtproto::rsa::TrustedKeys;
use proxy_audit::proto::mtproto::tl::{Reader, decode_plain, encode_plain};
use proxy_audit::proto::mtproto::transport::{FrameDecoder, TransportError};
use rand::SeedableRng as _;

/// Reads `input` with the ops in `program`; the reader must stay within its input.
fn run_reader(program: &[u8], input: &[u8]) {
    let mut reader = Reader::new(input);
    for &op in program {
        let before = reader.position();
        let ok = match op % 9 {
            0 => reader.u32().is_ok(),
            1 => reader.int().is_ok(),
            2 => reader.long().is_ok(),
            3 => reader.bytes().is_ok(),
            4 => reader.long_vector().is_ok(),
            5 => reader.array::<16>().is_ok(),
            6 => reader.take(usize::from(op >> 4)).is_ok(),
            7 => reader.expect(0x1cb5_c415).is_ok(),
            _ => reader.finish().is_ok(),
        };
        assert!(reader.position() >= before);
        assert!(!ok || op % 9 == 8 || reader.position() > before || op % 9 == 6);
        assert_eq!(reader.position() + reader.remaining(), input.len());
    }
}

/// Frames from `data` pushed `chunk` bytes at a time.
fn frames(data: &[u8], chunk: usize) -> (Vec<Vec<u8>>, Option<TransportError>) {
    let mut decoder = FrameDecoder::new(1 << 16);
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        decoder.push(piece);
        loop {
            match decoder.next_frame() {
                Ok(Some(frame)) => out.push(frame),
                Ok(None) => break,
                Err(error) => return (out, Some(error)),
            }
        }
    }
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let [selector, data @ ..] = data else { return };
    match selector % 5 {
        0 => {
            let split = usize::from(data.first().copied().unwrap_or(0) % 16);
            let (program, input) = data.split_at(split.min(data.len()));
            run_reader(program, input);
        }
        1 => {
            if let Ok(value) = ResPq::parse(data) {
                assert_eq!(ResPq::parse(&value.encode()), Ok(value.clone()));
                let _ = pq_from_bytes(&value.pq);
            }
            if let Ok(value) = ServerDhParams::parse(data) {
                assert_eq!(ServerDhParams::parse(&value.encode()), Ok(value));
            }
            if let Ok(value) = ServerDhInnerData::parse(data) {
                assert_eq!(ServerDhInnerData::parse(&value.encode()), Ok(value));
            }
            if let Ok(value) = PqInnerData::parse(data) {
                assert_eq!(PqInnerData::parse(&value.encode()), Ok(value));
            }
            if let Ok(value) = ReqDhParams::parse(data) {
                assert_eq!(ReqDhParams::parse(&value.encode()), Ok(value));
            }
        }
        2 => {
            if let Ok(message) = decode_plain(data) {
                assert_eq!(20 + message.body.len() + message.trailing, data.len());
                let again = encode_plain(message.message_id, message.body);
                assert_eq!(
                    decode_plain(&again),
                    Ok(proxy_audit::proto::mtproto::tl::PlainMessage {
                        trailing: 0,
                        ..message
                    })
                );
            }
        }
        3 => {
            let (whole, whole_error) = frames(data, usize::MAX);
            let chunk = usize::from(data.first().copied().unwrap_or(1) % 7) + 1;
            assert_eq!((whole.clone(), whole_error), frames(data, chunk));
            assert!(whole.iter().map(|frame| frame.len() + 4).sum::<usize>() <= data.len());
        }
        _ => {
            // The client's side: our nonce is whatever the answer echoes, so the parser
            // and the checks after it are reached.
            thread_local! {
                static KEYS: TrustedKeys = TrustedKeys::telegram().expect("built-in keys");
            }
            let nonce: [u8; 16] = data
                .get(4..20)
                .and_then(|n| n.try_into().ok())
                .unwrap_or_default();
            let mut client = AuthClient::new(nonce, [0x42; 32], 2);
            let mut rng = rand::rngs::StdRng::seed_from_u64(1);
            let outcome = KEYS.with(|keys| client.on_res_pq(data, keys, &mut rng));
            if let Ok(outcome) = outcome {
                assert_eq!(outcome.p * outcome.q, outcome.pq);
                let _ = client.on_server_dh_params(data);
            }
        }
    }
});
