//! Test vectors of the auth-key exchange shared by the tests of its files (and the lab's
//! fake datacenter), printed by `python3 tests/vectors/auth_vectors.py`, an implementation
//! independent of this code. Vectors only one file uses stay in that file's tests.

use rand::SeedableRng as _;
use rand::rngs::StdRng;

use super::crypto::collect_array;
use super::{Int128, Int256};

/// `p_q_inner_data_dc`: pq 2289844033317725111 = 1338315091 * 1710990221, dc 2
pub(crate) const PQ_INNER_DATA_HEX: &str = concat!(
    "955ff5a9081fc7290424f363b7000000044fc511530000000465fba38d000000a0a1a2a3a4a5a6a7a8a9aaabacadaeaf",
    "b0b1b2b3b4b5b6b7b8b9babbbcbdbebfc0c1c2c3c4c5c6c7c8c9cacbcccdcecfd0d1d2d3d4d5d6d7d8d9dadbdcdddedf",
    "02000000",
);
/// RSA_PAD([`PQ_INNER_DATA_HEX`]) to the production key; `padding[i] = 7i+3`, temp_key 10..2f
pub(crate) const RSA_PAD_PRODUCTION_HEX: &str = concat!(
    "8bf82c85942ec7838f4e888d79272faed38fb7359e2be4f3cca479ecc3398aaa8218d3848e4244fd288d2c82758f555d",
    "c7106be3679207555aace466a00d5f95d9685639a6205c6538eabc9646f88affc9091e9acf7fec0a975ff301206af1e2",
    "de0c481413bab6c9b240850ec3998a5240e1a253ab230786a900fe53f2d7cf0749ab694563c6db69e65b50f7d3bfac00",
    "85788800a76288ac886f03bf15ce89bc8d88f71074c5f1ebe098ab36fb8788c0aaa22ff37d4014172554962886de9af2",
    "8a841381fab7e4798f799426a1309f5c75ca8d304cc9a01644f9841dea421bf23a7379932112f514f53bbea00011b22f",
    "89e775df16175ddeb0bfa8cb4b81ed94",
);
/// `req_DH_params` with those nonces, p, q and the production key's fingerprint, carrying
/// [`RSA_PAD_PRODUCTION_HEX`].
pub(crate) const REQ_DH_PARAMS_HEX: &str = concat!(
    "bee412d7a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf044fc511530000000465fba3",
    "8d00000085fd64de851d9dd0fe0001008bf82c85942ec7838f4e888d79272faed38fb7359e2be4f3cca479ecc3398aaa",
    "8218d3848e4244fd288d2c82758f555dc7106be3679207555aace466a00d5f95d9685639a6205c6538eabc9646f88aff",
    "c9091e9acf7fec0a975ff301206af1e2de0c481413bab6c9b240850ec3998a5240e1a253ab230786a900fe53f2d7cf07",
    "49ab694563c6db69e65b50f7d3bfac0085788800a76288ac886f03bf15ce89bc8d88f71074c5f1ebe098ab36fb8788c0",
    "aaa22ff37d4014172554962886de9af28a841381fab7e4798f799426a1309f5c75ca8d304cc9a01644f9841dea421bf2",
    "3a7379932112f514f53bbea00011b22f89e775df16175ddeb0bfa8cb4b81ed94",
);
/// `resPQ` with those nonces and pq, offering the production key and one unknown key.
pub(crate) const RES_PQ_HEX: &str = concat!(
    "63241605a0a1a2a3a4a5a6a7a8a9aaabacadaeafb0b1b2b3b4b5b6b7b8b9babbbcbdbebf081fc7290424f363b7000000",
    "15c4b51c0200000085fd64de851d9dd0efcdab8967452301",
);

/// Nonces the Python vectors use.
pub(crate) const NONCE: Int128 = [
    0xa0, 0xa1, 0xa2, 0xa3, 0xa4, 0xa5, 0xa6, 0xa7, 0xa8, 0xa9, 0xaa, 0xab, 0xac, 0xad, 0xae, 0xaf,
];
/// See [`NONCE`].
pub(crate) const SERVER_NONCE: Int128 = [
    0xb0, 0xb1, 0xb2, 0xb3, 0xb4, 0xb5, 0xb6, 0xb7, 0xb8, 0xb9, 0xba, 0xbb, 0xbc, 0xbd, 0xbe, 0xbf,
];

/// `new_nonce` of the Python vectors: c0..df.
pub(crate) fn new_nonce() -> Int256 {
    collect_array((0xc0..=0xdf_u8).collect::<Vec<_>>().iter())
}

/// The seeded generator the tests draw nonces, padding and temp_keys from.
pub(crate) fn rng() -> StdRng {
    StdRng::seed_from_u64(7)
}
