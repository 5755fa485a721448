//! Fuzzes FakeTLS parsing of peer bytes: the server answer (its length scan and its HMAC
//! check), the data-phase record reader (fed whole or in chunks, which must agree), the
//! ClientHello verifier, and the build/verify round trips.
#![no_main]

use libfuzzer_sys::fuzz_target;
use proxy_audit::proto::mtproto::faketls::{
    AnswerParams, FakeTlsError, HelloParams, RecordReader, build_client_hello, build_server_answer,
    hello_random, server_answer_len, verify_client_hello, verify_server_answer,
};

const KEY: [u8; 16] = *b"\x00\x11\x22\x33\x44\x55\x66\x77\x88\x99\xaa\xbb\xcc\xdd\xee\xff";
const NOW: u32 = 1_700_000_000;

/// Every payload the reader gives for `data` pushed `chunk` bytes at a time, then its end.
fn payloads(data: &[u8], chunk: usize) -> (Vec<Vec<u8>>, Option<FakeTlsError>) {
    let mut reader = RecordReader::new();
    let mut out = Vec::new();
    for piece in data.chunks(chunk.max(1)) {
        reader.push(piece);
        loop {
            match reader.next_payload() {
                Ok(Some(payload)) => out.push(payload),
                Ok(None) => break,
                Err(error) => return (out, Some(error)),
            }
        }
    }
    assert!(reader.buffered() <= data.len());
    (out, None)
}

fuzz_target!(|data: &[u8]| {
    let [selector, data @ ..] = data else { return };
    let _ = hello_random(data);
    match selector % 4 {
        0 => {
            if let Ok(Some(len)) = server_answer_len(data) {
                assert!(len <= data.len());
                let answer = &data[..len];
                assert_eq!(server_answer_len(answer), Ok(Some(len)));
                assert_eq!(server_answer_len(&answer[..len - 1]), Ok(None));
                let random = hello_random(data).unwrap_or_default();
                assert!(matches!(
                    verify_server_answer(&KEY, &random, answer),
                    Err(FakeTlsError::BadHmac) | Ok(())
                ));
            }
        }
        1 => {
            let (whole, whole_error) = payloads(data, usize::MAX);
            let chunk = usize::from(data.first().copied().unwrap_or(1) % 7) + 1;
            let (pieces, pieces_error) = payloads(data, chunk);
            assert_eq!(whole, pieces);
            assert_eq!(whole_error, pieces_error);
            assert!(whole.iter().map(Vec::len).sum::<usize>() <= data.len());
        }
        2 => {
            if let Ok(info) = verify_client_hello(data, &KEY, NOW, 120) {
                assert!(info.session_id.len() <= 32);
                assert_eq!(Some(info.client_random), hello_random(data));
            }
        }
        _ => {
            // Round trip: a hello for any domain verifies, and so does the answer to it.
            let domain = String::from_utf8_lossy(data.get(..data.len().min(200)).unwrap_or(data));
            let params = HelloParams {
                session_id: [7; 32],
                key_share: [9; 32],
                grease: [0x3a; 6],
            };
            let record = build_client_hello(&domain, &KEY, NOW, &params);
            let info = verify_client_hello(&record, &KEY, NOW, 0).expect("our hello verifies");
            assert_eq!(info.sni.as_deref(), Some(&*domain));
            let answer_params = AnswerParams {
                key_share: [5; 32],
                app_data: data.to_vec(),
            };
            let answer = build_server_answer(&KEY, &info, &answer_params);
            assert_eq!(server_answer_len(&answer), Ok(Some(answer.len())));
            verify_server_answer(&KEY, &info.client_random, &answer).expect("our answer verifies");
        }
    }
});
