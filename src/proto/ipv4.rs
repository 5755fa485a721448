//! IPv4 as lists and resolvers spell it: every legacy `inet_aton` form, so that the address
//! guard, the blocklist and host normalisation agree on what a host really is.

use std::net::Ipv4Addr;

/// Parses IPv4 the way `inet_aton` and `getaddrinfo` do, every legacy spelling included.
///
/// The text is one to four dot-separated parts, each decimal, octal (leading `0`) or hex
/// (`0x`/`0X`; a bare `0x` is zero). Every part but the last is one byte; the last fills all the
/// remaining bytes and must fit in them: `a.b.c.d`, `a.b.c16`, `a.b24`, `a32`. One trailing dot
/// is allowed, as in a fully qualified name. Signs, spaces, empty parts and non-ASCII digits
/// are rejected, and so is any value that overflows.
///
/// `127.1`, `0x7f.1`, `0177.0.0.1`, `0x7f000001` and `2130706433` all give `127.0.0.1`.
#[must_use]
pub(crate) fn parse_lenient_ipv4(text: &str) -> Option<Ipv4Addr> {
    // Every spelling starts with a digit; names are turned away before any splitting.
    if !text.as_bytes().first().is_some_and(u8::is_ascii_digit) {
        return None;
    }
    let text = text.strip_suffix('.').unwrap_or(text);
    let mut parts = [0_u32; 4];
    let mut count = 0;
    for part in text.split('.') {
        *parts.get_mut(count)? = parse_ipv4_part(part)?;
        count += 1;
    }
    let (&last, leading) = parts.get(..count)?.split_last()?;
    pack_ipv4(leading, last)
}

/// Reads one part of a lenient IPv4 spelling, in C notation, with checked arithmetic.
fn parse_ipv4_part(part: &str) -> Option<u32> {
    let (digits, radix) = match part.as_bytes() {
        [] => return None,
        [b'0', b'x' | b'X', ..] => (part.get(2..)?, 16),
        [b'0', _, ..] => (part.get(1..)?, 8),
        _ => (part, 10),
    };
    digits.chars().try_fold(0_u32, |value, c| {
        value.checked_mul(radix)?.checked_add(c.to_digit(radix)?)
    })
}

/// Builds the address from one byte per leading part, then the last part's big-endian bytes
/// in whatever room is left; a last part too big for that room is rejected.
fn pack_ipv4(leading: &[u32], last: u32) -> Option<Ipv4Addr> {
    let mut octets = [0_u8; 4];
    let (head, room) = octets.split_at_mut_checked(leading.len())?;
    for (octet, &part) in head.iter_mut().zip(leading) {
        *octet = u8::try_from(part).ok()?;
    }
    let last_bytes = last.to_be_bytes();
    let (overflow, fill) = last_bytes.split_at_checked(leading.len())?;
    if overflow.iter().any(|&byte| byte != 0) {
        return None;
    }
    room.copy_from_slice(fill);
    Some(Ipv4Addr::from(octets))
}
