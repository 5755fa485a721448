//! Classification of proxy target addresses: public, loopback, private, link-local, ...
//!
//! Pure functions over the host text and IP addresses; nothing here resolves names or touches
//! the network. Ingestion records the result as the `address_class` field of every report
//! entry, and [`super::destination`] uses it to refuse non-public targets (proxies, list URLs
//! and their redirects) unless `--allow-private` is given.
//!
//! Hosts are classified as written in a list, so `parse_lenient_ipv4` accepts every IPv4
//! spelling the system resolver accepts (`127.1`, `0x7f.1`, `2130706433`, ...): an odd spelling
//! must not hide a loopback or cloud-metadata address. IPv6 addresses that carry an IPv4
//! address (IPv4-mapped, IPv4-compatible, NAT64, 6to4) are classified by the address they carry.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde::{Deserialize, Serialize};

use crate::proto::ipv4::parse_lenient_ipv4;

/// The kind of network a proxy target address points into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AddressClass {
    /// Globally routable unicast: the only class a probe reaches by default.
    Public,
    /// The probing host itself: `127.0.0.0/8`, `::1`, `localhost`.
    Loopback,
    /// Private networks: RFC 1918, unique-local `fc00::/7`, deprecated site-local `fec0::/10`
    /// and local-use NAT64 `64:ff9b:1::/48`.
    Private,
    /// Link-local: `169.254.0.0/16` (where cloud metadata services live) and `fe80::/10`.
    LinkLocal,
    /// Carrier-grade NAT shared address space, `100.64.0.0/10`.
    Cgnat,
    /// Multicast groups: `224.0.0.0/4` and `ff00::/8`.
    Multicast,
    /// Addresses reserved for examples: TEST-NET-1/2/3, `2001:db8::/32` and `3fff::/20`.
    Documentation,
    /// Special-purpose or unassigned space that is no plain public target: `0.0.0.0/8`,
    /// `240.0.0.0/4`, benchmarking, Teredo, IPv6 outside `2000::/3`, ...
    Reserved,
    /// The unspecified address, `0.0.0.0` or `::`.
    Unspecified,
    /// A name rather than an address: its class is unknown until it is resolved.
    Unresolved,
}

impl AddressClass {
    /// Every class, in declaration order.
    pub const ALL: [Self; 10] = [
        Self::Public,
        Self::Loopback,
        Self::Private,
        Self::LinkLocal,
        Self::Cgnat,
        Self::Multicast,
        Self::Documentation,
        Self::Reserved,
        Self::Unspecified,
        Self::Unresolved,
    ];

    /// The name used in reports: `link_local`, `cgnat`, ...; the same as the serde name.
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Public => "public",
            Self::Loopback => "loopback",
            Self::Private => "private",
            Self::LinkLocal => "link_local",
            Self::Cgnat => "cgnat",
            Self::Multicast => "multicast",
            Self::Documentation => "documentation",
            Self::Reserved => "reserved",
            Self::Unspecified => "unspecified",
            Self::Unresolved => "unresolved",
        }
    }

    /// Whether the address is an ordinary public target; true only for [`Self::Public`].
    #[must_use]
    pub(crate) fn is_public(self) -> bool {
        self == Self::Public
    }

    /// Classifies an IP address.
    #[must_use]
    pub fn of_ip(ip: IpAddr) -> Self {
        match ip {
            IpAddr::V4(v4) => Self::of_ipv4(v4),
            IpAddr::V6(v6) => Self::of_ipv6(v6),
        }
    }

    /// Classifies a host as written in a proxy list.
    ///
    /// The caller has normalised the host (lower case, IPv6 without brackets); brackets and an
    /// IPv6 zone (`%eth0`) are still tolerated. IPv4 is read leniently, as the resolver would.
    /// `localhost` and names under it are loopback (RFC 6761); any other name is
    /// [`Self::Unresolved`].
    #[must_use]
    pub(crate) fn of_host(host: &str) -> Self {
        let bare = host
            .strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host);
        // Only IPv6 literals hold a colon; skip that parser for everything else.
        if let Some(v6) = bare
            .contains(':')
            .then(|| parse_scoped_ipv6(bare))
            .flatten()
        {
            Self::of_ipv6(v6)
        } else if let Some(v4) = bare.parse().ok().or_else(|| parse_lenient_ipv4(bare)) {
            Self::of_ipv4(v4)
        } else if is_localhost_name(bare) {
            Self::Loopback
        } else {
            Self::Unresolved
        }
    }

    fn of_ipv4(ip: Ipv4Addr) -> Self {
        match ip.octets() {
            [0, 0, 0, 0] => Self::Unspecified,
            [127, ..] => Self::Loopback,
            [10, ..] | [172, 16..=31, ..] | [192, 168, ..] => Self::Private,
            [169, 254, ..] => Self::LinkLocal,
            [100, 64..=127, ..] => Self::Cgnat,
            [224..=239, ..] => Self::Multicast,
            // TEST-NET-1, TEST-NET-2, TEST-NET-3.
            [192, 0, 2, _] | [198, 51, 100, _] | [203, 0, 113, _] => Self::Documentation,
            // "This network", future use and broadcast, IETF protocol assignments, benchmarking,
            // and the retired 6to4 relay anycast.
            [0 | 240..=255, ..] | [192, 0, 0, _] | [198, 18..=19, ..] | [192, 88, 99, _] => {
                Self::Reserved
            }
            _ => Self::Public,
        }
    }

    fn of_ipv6(ip: Ipv6Addr) -> Self {
        match ip.segments() {
            [0, 0, 0, 0, 0, 0, 0, 0] => Self::Unspecified,
            [0, 0, 0, 0, 0, 0, 0, 1] => Self::Loopback,
            // The target is the IPv4 address in the last 32 bits: IPv4-compatible `::/96`
            // (deprecated), IPv4-mapped `::ffff:0:0/96`, NAT64 well-known prefix `64:ff9b::/96`.
            [0, 0, 0, 0, 0, 0 | 0xffff, high, low] | [0x64, 0xff9b, 0, 0, 0, 0, high, low] => {
                Self::of_ipv4(ipv4_from_segments(high, low))
            }
            // 6to4 `2002::/16`: the tunnel endpoint is the IPv4 address in bits 16..48.
            [0x2002, high, low, ..] => Self::of_ipv4(ipv4_from_segments(high, low)),
            [0x2001, 0x0db8, ..] | [0x3fff, 0x0000..=0x0fff, ..] => Self::Documentation,
            // IETF protocol assignments `2001::/23`, Teredo `2001::/32` among them: tunnels and
            // special services, not plain targets.
            [0x2001, 0x0000..=0x01ff, ..] => Self::Reserved,
            [0xfe80..=0xfebf, ..] => Self::LinkLocal,
            // Local-use NAT64 `64:ff9b:1::/48`, unique-local `fc00::/7`, site-local `fec0::/10`.
            [0x64, 0xff9b, 1, ..] | [0xfc00..=0xfdff | 0xfec0..=0xfeff, ..] => Self::Private,
            [0xff00..=0xffff, ..] => Self::Multicast,
            // Global unicast `2000::/3`.
            [0x2000..=0x3fff, ..] => Self::Public,
            // Everything else lies outside global unicast: discard-only `100::/64`, the rest
            // of `::/8`, unassigned space.
            _ => Self::Reserved,
        }
    }
}

impl fmt::Display for AddressClass {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// Parses an IPv6 address, ignoring any zone (`fe80::1%eth0`).
fn parse_scoped_ipv6(host: &str) -> Option<Ipv6Addr> {
    let address = host
        .split_once('%')
        .map_or(host, |(address, _zone)| address);
    address.parse().ok()
}

/// Joins two IPv6 segments into the IPv4 address they carry.
fn ipv4_from_segments(high: u16, low: u16) -> Ipv4Addr {
    Ipv4Addr::from((u32::from(high) << 16) | u32::from(low))
}

/// `localhost` and every name under it resolve to loopback (RFC 6761, section 6.3).
fn is_localhost_name(name: &str) -> bool {
    let name = name.strip_suffix('.').unwrap_or(name);
    let last_label = name.rsplit_once('.').map_or(name, |(_, label)| label);
    last_label.eq_ignore_ascii_case("localhost")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(text: &str) -> Ipv4Addr {
        text.parse()
            .unwrap_or_else(|e| panic!("bad test address {text:?}: {e}"))
    }

    fn v6(text: &str) -> Ipv6Addr {
        text.parse()
            .unwrap_or_else(|e| panic!("bad test address {text:?}: {e}"))
    }

    #[test]
    fn names_match_serde_and_display() {
        for class in AddressClass::ALL {
            let json = serde_json::to_string(&class).unwrap();
            assert_eq!(json, format!("\"{}\"", class.as_str()));
            assert_eq!(class.to_string(), class.as_str());
            assert_eq!(serde_json::from_str::<AddressClass>(&json).unwrap(), class);
        }
    }

    #[test]
    fn only_public_is_public() {
        for class in AddressClass::ALL {
            assert_eq!(class.is_public(), class == AddressClass::Public, "{class}");
        }
    }

    #[test]
    fn classifies_ipv4_on_both_sides_of_every_boundary() {
        use AddressClass::{
            Cgnat, Documentation, LinkLocal, Loopback, Multicast, Private, Public, Reserved,
            Unspecified,
        };
        let cases = [
            ("0.0.0.0", Unspecified),
            ("0.0.0.1", Reserved),
            ("0.255.255.255", Reserved),
            ("1.0.0.0", Public),
            ("1.1.1.1", Public),
            ("8.8.8.8", Public),
            ("9.255.255.255", Public),
            ("10.0.0.0", Private),
            ("10.255.255.255", Private),
            ("11.0.0.0", Public),
            ("100.63.255.255", Public),
            ("100.64.0.0", Cgnat),
            ("100.127.255.255", Cgnat),
            ("100.128.0.0", Public),
            ("126.255.255.255", Public),
            ("127.0.0.0", Loopback),
            ("127.0.0.1", Loopback),
            ("127.255.255.255", Loopback),
            ("128.0.0.0", Public),
            ("169.253.255.255", Public),
            ("169.254.0.0", LinkLocal),
            ("169.254.169.254", LinkLocal),
            ("169.254.255.255", LinkLocal),
            ("169.255.0.0", Public),
            ("172.15.255.255", Public),
            ("172.16.0.0", Private),
            ("172.31.255.255", Private),
            ("172.32.0.0", Public),
            ("191.255.255.255", Public),
            ("192.0.0.0", Reserved),
            ("192.0.0.255", Reserved),
            ("192.0.1.0", Public),
            ("192.0.1.255", Public),
            ("192.0.2.0", Documentation),
            ("192.0.2.255", Documentation),
            ("192.0.3.0", Public),
            ("192.88.98.255", Public),
            ("192.88.99.0", Reserved),
            ("192.88.99.255", Reserved),
            ("192.88.100.0", Public),
            ("192.167.255.255", Public),
            ("192.168.0.0", Private),
            ("192.168.255.255", Private),
            ("192.169.0.0", Public),
            ("198.17.255.255", Public),
            ("198.18.0.0", Reserved),
            ("198.19.255.255", Reserved),
            ("198.20.0.0", Public),
            ("198.51.99.255", Public),
            ("198.51.100.0", Documentation),
            ("198.51.100.255", Documentation),
            ("198.51.101.0", Public),
            ("203.0.112.255", Public),
            ("203.0.113.0", Documentation),
            ("203.0.113.255", Documentation),
            ("203.0.114.0", Public),
            ("223.255.255.255", Public),
            ("224.0.0.0", Multicast),
            ("239.255.255.255", Multicast),
            ("240.0.0.0", Reserved),
            ("255.255.255.254", Reserved),
            ("255.255.255.255", Reserved),
        ];
        for (text, expected) in cases {
            assert_eq!(AddressClass::of_ip(v4(text).into()), expected, "{text}");
        }
    }

    #[test]
    fn classifies_ipv6_on_both_sides_of_every_boundary() {
        use AddressClass::{
            Documentation, LinkLocal, Loopback, Multicast, Private, Public, Reserved, Unspecified,
        };
        let cases = [
            ("::", Unspecified),
            ("::1", Loopback),
            // IPv4-compatible ::2 carries 0.0.0.2.
            ("::2", Reserved),
            ("0:0:0:0:0:1::", Reserved),
            ("::fffe:808:808", Reserved),
            ("::1:0:0:0", Reserved),
            ("100::", Reserved),
            ("100::ffff:ffff:ffff:ffff", Reserved),
            ("100:0:0:1::", Reserved),
            ("1fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("2000::", Public),
            ("2001::", Reserved),
            ("2001:0:4136:e378:8000:63bf:3fff:fdd2", Reserved),
            ("2001:1ff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("2001:200::", Public),
            ("2001:db7:ffff:ffff:ffff:ffff:ffff:ffff", Public),
            ("2001:db8::", Documentation),
            ("2001:db8:ffff:ffff:ffff:ffff:ffff:ffff", Documentation),
            ("2001:db9::", Public),
            ("2001:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Public),
            ("2003::", Public),
            ("2606:4700:4700::1111", Public),
            ("3ffe:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Public),
            ("3fff::", Documentation),
            ("3fff:fff:ffff:ffff:ffff:ffff:ffff:ffff", Documentation),
            ("3fff:1000::", Public),
            ("3fff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Public),
            ("4000::", Reserved),
            ("63:ffff::", Reserved),
            ("64:ff9a:ffff::", Reserved),
            ("64:ff9b:0:0:1::808:808", Reserved),
            ("64:ff9b:1::", Private),
            ("64:ff9b:1:ffff:ffff:ffff:ffff:ffff", Private),
            ("64:ff9b:2::", Reserved),
            ("fbff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("fc00::", Private),
            ("fd12:3456:789a::1", Private),
            ("fdff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Private),
            ("fe00::", Reserved),
            ("fe7f:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Reserved),
            ("fe80::", LinkLocal),
            ("fe80::1", LinkLocal),
            ("febf:ffff:ffff:ffff:ffff:ffff:ffff:ffff", LinkLocal),
            ("fec0::", Private),
            ("feff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Private),
            ("ff00::", Multicast),
            ("ff02::1", Multicast),
            ("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", Multicast),
        ];
        for (text, expected) in cases {
            assert_eq!(AddressClass::of_ip(v6(text).into()), expected, "{text}");
        }
    }

    #[test]
    fn classifies_ipv6_by_the_ipv4_it_carries() {
        use AddressClass::{Loopback, Private, Public, Unspecified};
        let cases = [
            // IPv4-mapped
            ("::ffff:127.0.0.1", Loopback),
            ("::ffff:10.0.0.1", Private),
            ("::ffff:8.8.8.8", Public),
            ("::ffff:0.0.0.0", Unspecified),
            // IPv4-compatible
            ("::127.0.0.1", Loopback),
            ("::10.0.0.1", Private),
            ("::8.8.8.8", Public),
            // NAT64 well-known prefix
            ("64:ff9b::7f00:1", Loopback),
            ("64:ff9b::10.0.0.1", Private),
            ("64:ff9b::808:808", Public),
            // 6to4, whatever follows the embedded address
            ("2002:7f00:1::", Loopback),
            ("2002:a00:1::1", Private),
            ("2002:0808:0808::", Public),
            ("2002:808:808:ffff:ffff:ffff:ffff:ffff", Public),
        ];
        for (text, expected) in cases {
            assert_eq!(AddressClass::of_ip(v6(text).into()), expected, "{text}");
        }
    }

    #[test]
    fn classifies_hosts_as_written() {
        use AddressClass::{LinkLocal, Loopback, Private, Public, Unresolved};
        let cases = [
            ("127.0.0.1", Loopback),
            ("127.0.0.1.", Loopback),
            ("0x7f.1", Loopback),
            ("2130706433", Loopback),
            ("127.1", Loopback),
            ("0177.0.0.1", Loopback),
            ("0x7f000001", Loopback),
            ("017700000001", Loopback),
            ("169.254.169.254", LinkLocal),
            ("0xa9fea9fe", LinkLocal),
            ("2852039166", LinkLocal),
            ("0251.0376.0251.0376", LinkLocal),
            ("0xa9.0xfe.0xa9fe", LinkLocal),
            ("10.0.0.1", Private),
            ("012.1", Private),
            ("8.8.8.8", Public),
            ("::1", Loopback),
            ("[::1]", Loopback),
            ("::ffff:127.0.0.1", Loopback),
            ("[::ffff:7f00:1]", Loopback),
            ("fe80::1%eth0", LinkLocal),
            ("[fe80::1%25eth0]", LinkLocal),
            ("2606:4700:4700::1111", Public),
            ("localhost", Loopback),
            ("localhost.", Loopback),
            ("foo.localhost", Loopback),
            ("a.b.localhost.", Loopback),
            ("LocalHost", Loopback),
            ("example.com", Unresolved),
            ("Example.com", Unresolved),
            ("localhost.example.com", Unresolved),
            ("notlocalhost", Unresolved),
            ("localhost1", Unresolved),
            ("256.1.1.1", Unresolved),
            ("1.2.3.4.5", Unresolved),
            ("1.2.3.4%eth0", Unresolved),
            ("[127.0.0.1", Unresolved),
            ("", Unresolved),
        ];
        for (host, expected) in cases {
            assert_eq!(AddressClass::of_host(host), expected, "{host:?}");
        }
    }

    #[test]
    fn parses_every_inet_aton_spelling() {
        let cases = [
            ("1.2.3.4", "1.2.3.4"),
            ("1.2.772", "1.2.3.4"),
            ("1.131844", "1.2.3.4"),
            ("16909060", "1.2.3.4"),
            ("0x01020304", "1.2.3.4"),
            ("01.02.03.04", "1.2.3.4"),
            ("2130706433", "127.0.0.1"),
            ("0x7f.1", "127.0.0.1"),
            ("0X7F.1", "127.0.0.1"),
            ("127.1", "127.0.0.1"),
            ("127.0.1", "127.0.0.1"),
            ("0177.0.0.1", "127.0.0.1"),
            ("0x7f000001", "127.0.0.1"),
            ("017700000001", "127.0.0.1"),
            ("127.0.0.1.", "127.0.0.1"),
            ("0x7f.0x0.0x.1", "127.0.0.1"),
            ("0", "0.0.0.0"),
            ("00", "0.0.0.0"),
            ("0x", "0.0.0.0"),
            ("0x.0x.0x.0x", "0.0.0.0"),
            ("0000000000000000000000000000000000000001", "0.0.0.1"),
            ("0x000000000000000000000000000000000000007f.1", "127.0.0.1"),
            ("255.255.255.255", "255.255.255.255"),
            ("0xff.0xff.0xff.0xff", "255.255.255.255"),
            ("4294967295", "255.255.255.255"),
            ("0xFFFFFFFF", "255.255.255.255"),
            ("037777777777", "255.255.255.255"),
            ("1.0xffffff", "1.255.255.255"),
            ("1.16777215", "1.255.255.255"),
            ("1.2.0xffff", "1.2.255.255"),
            ("1.2.65535", "1.2.255.255"),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_lenient_ipv4(text), Some(v4(expected)), "{text:?}");
        }
    }

    #[test]
    fn rejects_what_inet_aton_rejects() {
        let long_decimal = "9".repeat(100);
        let long_hex = format!("0x{}", "f".repeat(100));
        let long_octal = format!("0{}", "7".repeat(100));
        let long_last_part = format!("1.{}", "9".repeat(50));
        let cases = [
            "",
            ".",
            "..",
            "1..2",
            ".1.2.3",
            "1.2.3.4..",
            "08",
            "09.1.1.1",
            "1.2.3.08",
            "0x1g",
            "0xx7f",
            "x7f",
            "0b1",
            "0o7",
            "1e3",
            "256.1.1.1",
            "1.256.1.1",
            "1.2.256.1",
            "1.2.3.256",
            "0x100.1",
            "0400.1.1.1",
            "1.2.3.4.5",
            "1.2.3.4.5.",
            "0x100000000",
            "4294967296",
            "040000000000",
            "18446744073709551615",
            "18446744073709551616",
            "1.16777216",
            "1.2.65536",
            "1.2.0x10000",
            "-1",
            "+1",
            "1.2.3.-4",
            "1.2.3.+4",
            "1.2.3.4 ",
            " 1.2.3.4",
            "1 .2.3.4",
            "1.2.3.4\n",
            "1.2.3.4/24",
            "1.2.3.4:80",
            "\u{663}.1.1.1",
            "\u{ff11}.1.1.1",
            "1.2.3.\u{665}",
            "0\u{663}",
            "0x\u{663}",
            "a.b.c.d",
            "localhost",
            "::1",
            &long_decimal,
            &long_hex,
            &long_octal,
            &long_last_part,
        ];
        for text in cases {
            assert_eq!(parse_lenient_ipv4(text), None, "{text:?}");
        }
    }

    /// A tiny deterministic generator (Knuth's MMIX LCG), so the sweeps need no extra crate.
    struct Lcg(u64);

    impl Lcg {
        fn next_u32(&mut self) -> u32 {
            self.0 = self
                .0
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (self.0 >> 32) as u32
        }
    }

    #[test]
    fn every_spelling_of_an_address_parses_to_it() {
        let mut rng = Lcg(0x5eed);
        let samples = (0..10_000)
            .map(|_| rng.next_u32())
            .chain([0, 1, 0xff, u32::MAX]);
        for x in samples {
            let expected = Some(Ipv4Addr::from(x));
            let [a, b, c, d] = x.to_be_bytes();
            let spellings = [
                x.to_string(),
                format!("{a}.{b}.{c}.{d}"),
                format!("{a}.{b}.{}", x & 0xffff),
                format!("{a}.{}", x & 0x00ff_ffff),
                format!("{x:#x}"),
                format!("0X{x:X}"),
                format!("0{x:o}"),
                format!("{a:#x}.0{b:o}.{c}.{d:#x}."),
            ];
            for text in spellings {
                assert_eq!(parse_lenient_ipv4(&text), expected, "{text:?}");
            }
        }
    }

    #[test]
    fn agrees_with_std_on_strict_dotted_quads_and_never_panics() {
        const ALPHABET: &[u8] = b"0123456789.xXaAfFgG -+%:";
        let mut rng = Lcg(42);
        for _ in 0..20_000 {
            let len = rng.next_u32() % 20;
            let text: String = (0..len)
                .map(|_| char::from(ALPHABET[(rng.next_u32() as usize) % ALPHABET.len()]))
                .collect();
            let lenient = parse_lenient_ipv4(&text);
            if let Ok(strict) = text.parse::<Ipv4Addr>() {
                assert_eq!(lenient, Some(strict), "{text:?}");
            }
            let _ = AddressClass::of_host(&text);
        }
    }
}
