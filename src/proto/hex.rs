//! Lower-case hex, as reports, rule files and keys write bytes.

/// `bytes` as lower-case hex, two digits per byte.
pub fn to_hex(bytes: &[u8]) -> String {
    use std::fmt::Write as _;
    bytes
        .iter()
        .fold(String::with_capacity(bytes.len() * 2), |mut out, b| {
            let _ = write!(out, "{b:02x}");
            out
        })
}

#[cfg(test)]
mod tests {
    #[test]
    fn two_lower_case_digits_per_byte() {
        assert_eq!(super::to_hex(&[0x00, 0x0f, 0xab, 0xff]), "000fabff");
        assert_eq!(super::to_hex(&[]), "");
    }
}
