//! The scaled part of the lab, for benchmarks: `--scale N` endpoints split by a `--mix` of
//! honest SOCKS5 proxies, refused ports and blackholes, each on a loopback address of its
//! own counting up from `--bind` (127.1.0.1, 127.1.0.2, …), as the proxies of a real list
//! are on distinct hosts: the audit runs at most `--per-host` entries of one host at once.
//! (IPv6 has one loopback address, `::1`: given that, every endpoint shares it.)
//!
//! - `live`: an honest SOCKS5 proxy, as the lab's `honest-socks5`.
//! - `refused`: a socket bound but not listening. A connect gets a reset at once
//!   (`ECONNREFUSED`), and the port stays reserved so no other server takes it.
//! - `blackhole`: a listener that is never accepted from. The kernel completes the TCP
//!   handshake from its backlog, then nothing is ever read or written: the client waits for
//!   the SOCKS5 answer until its own timeout. It costs the lab no task and no descriptor per
//!   connection, and one probe connection per entry never fills the backlog, so every
//!   blackhole costs the auditor exactly one `--timeout`.
//!
//! The kinds are interleaved evenly through the list (as dead entries are in real lists),
//! and each is named in the comment before its line (`# scale-refused-7: …`), so a harness
//! can tell from the list which entries must come out alive and which dead.

use std::fmt;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::str::FromStr;

use tokio::net::{TcpListener, TcpSocket};

/// Backlog of a blackhole listener: far above the one connection per entry a liveness
/// probe makes, so its handshakes always complete.
const BLACKHOLE_BACKLOG: u32 = 64;

/// The first scaled endpoint's address unless told otherwise.
pub(crate) const DEFAULT_BIND: IpAddr = IpAddr::V4(Ipv4Addr::new(127, 1, 0, 1));

/// The address of the `index`-th scaled endpoint: `first` plus `index` for IPv4, `first`
/// itself for IPv6. Refused when it would leave loopback (127.0.0.0/8).
pub(crate) fn nth_address(first: IpAddr, index: usize) -> io::Result<IpAddr> {
    let ip = match first {
        IpAddr::V4(v4) => u32::try_from(index)
            .ok()
            .and_then(|index| u32::from(v4).checked_add(index))
            .map(|ip| IpAddr::V4(Ipv4Addr::from(ip))),
        IpAddr::V6(_) => Some(first),
    };
    ip.filter(IpAddr::is_loopback).ok_or_else(|| {
        io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("endpoint {index} counting from {first} would leave 127.0.0.0/8"),
        )
    })
}

/// What a scaled endpoint is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// An honest SOCKS5 proxy.
    Live,
    /// A port that refuses connections.
    Refused,
    /// A port that completes the TCP handshake and then never answers.
    Blackhole,
}

impl Kind {
    /// Every kind, in `--mix` order.
    pub const ALL: [Self; 3] = [Self::Live, Self::Refused, Self::Blackhole];

    /// The name used in `--mix` and in the list's comments.
    pub fn name(self) -> &'static str {
        match self {
            Self::Live => "live",
            Self::Refused => "refused",
            Self::Blackhole => "blackhole",
        }
    }

    /// What it does, in a sentence (the list's comment).
    pub fn about(self) -> &'static str {
        match self {
            Self::Live => "honest SOCKS5 proxy (scale)",
            Self::Refused => "port that refuses connections (scale)",
            Self::Blackhole => "port that accepts the TCP handshake and never answers (scale)",
        }
    }
}

/// Shares of `--scale` per kind, in percent (they add up to 100).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Mix {
    /// Percent of honest SOCKS5 proxies.
    pub live: u8,
    /// Percent of refused ports.
    pub refused: u8,
    /// Percent of blackholes.
    pub blackhole: u8,
}

impl Default for Mix {
    /// Every scaled endpoint is an honest proxy (the lab before `--mix` existed).
    fn default() -> Self {
        Self {
            live: 100,
            refused: 0,
            blackhole: 0,
        }
    }
}

impl fmt::Display for Mix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "live={},refused={},blackhole={}",
            self.live, self.refused, self.blackhole
        )
    }
}

/// Why a `--mix` did not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MixError {
    /// A part is not `kind=percent`.
    #[error("{0:?}: expected kind=percent, e.g. live=60")]
    NotAPair(String),
    /// A kind the lab does not have.
    #[error("{0:?}: unknown kind (expected live, refused or blackhole)")]
    UnknownKind(String),
    /// A kind given twice.
    #[error("{0:?}: {1} is given twice")]
    Repeated(String, &'static str),
    /// A percentage that is not a whole number from 0 to 100.
    #[error("{0:?}: the percentage must be a whole number from 0 to 100")]
    BadPercent(String),
    /// The percentages do not add up to 100.
    #[error("the percentages add up to {0}, not 100")]
    NotHundred(u32),
}

impl FromStr for Mix {
    type Err = MixError;

    /// Parses `live=60,refused=30,blackhole=10`; kinds left out are 0 %.
    fn from_str(text: &str) -> Result<Self, MixError> {
        let mut shares: [Option<u8>; 3] = [None; 3];
        for part in text.split(',').map(str::trim) {
            let (kind, percent) = part
                .split_once('=')
                .ok_or_else(|| MixError::NotAPair(part.to_owned()))?;
            let kind = kind.trim();
            let slot = Kind::ALL
                .iter()
                .position(|k| k.name() == kind)
                .ok_or_else(|| MixError::UnknownKind(part.to_owned()))?;
            let percent: u8 = percent
                .trim()
                .parse()
                .ok()
                .filter(|p| *p <= 100)
                .ok_or_else(|| MixError::BadPercent(part.to_owned()))?;
            let share = shares.get_mut(slot).ok_or(MixError::NotHundred(0))?;
            if share.is_some() {
                return Err(MixError::Repeated(
                    part.to_owned(),
                    Kind::ALL.get(slot).map_or("", |k| k.name()),
                ));
            }
            *share = Some(percent);
        }
        let [live, refused, blackhole] = shares.map(Option::unwrap_or_default);
        let total = u32::from(live) + u32::from(refused) + u32::from(blackhole);
        if total != 100 {
            return Err(MixError::NotHundred(total));
        }
        Ok(Self {
            live,
            refused,
            blackhole,
        })
    }
}

impl Mix {
    /// How many of `total` endpoints are refused and blackholes (rounded down), the rest
    /// live: the three counts always add up to `total`.
    pub fn counts(self, total: usize) -> Counts {
        let share = |percent: u8| total.saturating_mul(usize::from(percent)) / 100;
        let refused = share(self.refused);
        let blackhole = share(self.blackhole);
        Counts {
            live: total.saturating_sub(refused).saturating_sub(blackhole),
            refused,
            blackhole,
        }
    }

    /// The kind of each of `total` endpoints in list order: the counts of
    /// [`Mix::counts`], interleaved evenly (smooth weighted round-robin).
    pub fn sequence(self, total: usize) -> impl Iterator<Item = Kind> {
        let counts = self.counts(total);
        let weights = [counts.live, counts.refused, counts.blackhole];
        let mut current = [0_isize; 3];
        let total = isize::try_from(total).unwrap_or(isize::MAX);
        let weights = weights.map(|w| isize::try_from(w).unwrap_or(isize::MAX));
        (0..total).map(move |_| {
            for (current, weight) in current.iter_mut().zip(weights) {
                *current += weight;
            }
            let mut best = 0;
            for (slot, value) in current.iter().enumerate() {
                if current.get(best).is_some_and(|b| value > b) {
                    best = slot;
                }
            }
            if let Some(value) = current.get_mut(best) {
                *value -= total;
            }
            Kind::ALL.get(best).copied().unwrap_or(Kind::Live)
        })
    }
}

/// Endpoints per kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    /// Honest SOCKS5 proxies.
    pub live: usize,
    /// Refused ports.
    pub refused: usize,
    /// Blackholes.
    pub blackhole: usize,
}

/// Checks a `--bind` address: the lab only ever listens on loopback.
pub(crate) fn check_bind(ip: IpAddr) -> io::Result<IpAddr> {
    if ip.is_loopback() {
        Ok(ip)
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{ip} is not a loopback address (127.0.0.0/8 or ::1)"),
        ))
    }
}

/// A port that refuses connections: bound (so the port stays reserved) but not listening.
/// Keep the socket for as long as the port must refuse.
pub fn refused(ip: IpAddr) -> io::Result<(TcpSocket, SocketAddr)> {
    let socket = socket_for(ip)?;
    socket.bind(SocketAddr::new(ip, 0))?;
    let addr = socket.local_addr()?;
    Ok((socket, addr))
}

/// A listener that is never accepted from. Keep it for as long as the port must hang.
pub(crate) fn blackhole(ip: IpAddr) -> io::Result<(TcpListener, SocketAddr)> {
    listen_on(ip, BLACKHOLE_BACKLOG)
}

/// Accept queue of the lab's listeners: the kernel's cap (`net.core.somaxconn`, 4096 by
/// default) instead of the 128 a plain bind got. The lab's origins take a connection per
/// live proxy per check, and at `--scale` under an audit at `--concurrency 1024` the bursts
/// overflowed a queue of 128: the kernel dropped the handshakes, the proxies retried a second
/// later, and now and then an honest proxy missed its 2 s timeout and came out dead.
const LISTEN_BACKLOG: u32 = 4096;

/// A listener on `ip`, port chosen by the OS, with a deep accept queue.
pub fn listener(ip: IpAddr) -> io::Result<(TcpListener, SocketAddr)> {
    listen_on(ip, LISTEN_BACKLOG)
}

/// A listener on `ip`, port chosen by the OS, queueing at most `backlog` connections.
fn listen_on(ip: IpAddr, backlog: u32) -> io::Result<(TcpListener, SocketAddr)> {
    let socket = socket_for(ip)?;
    socket.bind(SocketAddr::new(ip, 0))?;
    let listener = socket.listen(backlog)?;
    let addr = listener.local_addr()?;
    Ok((listener, addr))
}

/// A TCP socket of `ip`'s family.
fn socket_for(ip: IpAddr) -> io::Result<TcpSocket> {
    match ip {
        IpAddr::V4(_) => TcpSocket::new_v4(),
        IpAddr::V6(_) => TcpSocket::new_v6(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn listeners_queue_hundreds_of_connections_before_accepting() {
        // 300 handshakes complete while nothing accepts: a queue of 128 would make the
        // kernel drop the rest, and their connects would hang for a retransmission.
        let (_listener, addr) = listener(IpAddr::V4(Ipv4Addr::LOCALHOST)).unwrap();
        let clients = tokio::task::spawn_blocking(move || {
            (0..300)
                .map(|_| {
                    std::net::TcpStream::connect_timeout(
                        &addr,
                        std::time::Duration::from_millis(500),
                    )
                })
                .collect::<Result<Vec<_>, _>>()
        })
        .await
        .unwrap();
        assert_eq!(clients.unwrap().len(), 300);
    }

    #[test]
    fn parses_a_mix() {
        assert_eq!(
            "live=60,refused=30,blackhole=10".parse(),
            Ok(Mix {
                live: 60,
                refused: 30,
                blackhole: 10
            })
        );
        assert_eq!(
            " blackhole = 10 , live=90".parse(),
            Ok(Mix {
                live: 90,
                refused: 0,
                blackhole: 10
            })
        );
        assert_eq!("live=100".parse(), Ok(Mix::default()));
        let mix = Mix {
            live: 60,
            refused: 30,
            blackhole: 10,
        };
        assert_eq!(mix.to_string().parse(), Ok(mix));
    }

    #[test]
    fn refuses_bad_mixes_naming_the_part() {
        assert_eq!(
            "live=60,refused=30".parse::<Mix>(),
            Err(MixError::NotHundred(90))
        );
        assert_eq!(
            "live=60,tarpit=40".parse::<Mix>(),
            Err(MixError::UnknownKind("tarpit=40".to_owned()))
        );
        assert_eq!(
            "live=sixty,refused=40".parse::<Mix>(),
            Err(MixError::BadPercent("live=sixty".to_owned()))
        );
        assert_eq!(
            "live=60.5,refused=39.5".parse::<Mix>(),
            Err(MixError::BadPercent("live=60.5".to_owned()))
        );
        assert_eq!(
            "live=-10,refused=110".parse::<Mix>(),
            Err(MixError::BadPercent("live=-10".to_owned()))
        );
        assert_eq!(
            "live=50,live=50".parse::<Mix>(),
            Err(MixError::Repeated("live=50".to_owned(), "live"))
        );
        assert_eq!(
            "live".parse::<Mix>(),
            Err(MixError::NotAPair("live".to_owned()))
        );
        assert_eq!("".parse::<Mix>(), Err(MixError::NotAPair(String::new())));
        let message = "live=60,refused=3O,blackhole=10"
            .parse::<Mix>()
            .map_err(|e| e.to_string());
        assert!(message.is_err_and(|m| m.contains("refused=3O")));
    }

    #[test]
    fn counts_add_up() {
        let mix: Mix = "live=60,refused=30,blackhole=10".parse().unwrap();
        assert_eq!(
            mix.counts(10_000),
            Counts {
                live: 6000,
                refused: 3000,
                blackhole: 1000
            }
        );
        let odd: Mix = "live=33,refused=33,blackhole=34".parse().unwrap();
        for total in [0, 1, 2, 7, 99, 101, 1001, 14_287] {
            for mix in [mix, odd, Mix::default()] {
                let counts = mix.counts(total);
                assert_eq!(counts.live + counts.refused + counts.blackhole, total);
                let sequence: Vec<Kind> = mix.sequence(total).collect();
                assert_eq!(sequence.len(), total);
                let count = |kind| sequence.iter().filter(|k| **k == kind).count();
                assert_eq!(count(Kind::Live), counts.live, "{mix} of {total}");
                assert_eq!(count(Kind::Refused), counts.refused, "{mix} of {total}");
                assert_eq!(count(Kind::Blackhole), counts.blackhole, "{mix} of {total}");
            }
        }
    }

    #[test]
    fn kinds_are_interleaved() {
        let mix: Mix = "live=60,refused=30,blackhole=10".parse().unwrap();
        let first: Vec<Kind> = mix.sequence(1000).take(10).collect();
        assert_eq!(first.iter().filter(|k| **k == Kind::Blackhole).count(), 1);
        assert_eq!(first.iter().filter(|k| **k == Kind::Refused).count(), 3);
    }

    #[test]
    fn each_endpoint_gets_the_next_loopback_address() {
        let first: IpAddr = "127.1.0.1".parse().unwrap();
        assert_eq!(nth_address(first, 0).unwrap(), first);
        assert_eq!(nth_address(first, 255).unwrap().to_string(), "127.1.1.0");
        assert_eq!(
            nth_address(first, 70_000).unwrap().to_string(),
            "127.2.17.113"
        );
        assert!(nth_address("127.255.255.250".parse().unwrap(), 10).is_err());
        let v6: IpAddr = "::1".parse().unwrap();
        assert_eq!(nth_address(v6, 9).unwrap(), v6);
    }

    #[test]
    fn binds_only_loopback() {
        assert!(check_bind("127.0.0.2".parse().unwrap()).is_ok());
        assert!(check_bind("::1".parse().unwrap()).is_ok());
        assert!(check_bind("0.0.0.0".parse().unwrap()).is_err());
        assert!(check_bind("192.168.1.1".parse().unwrap()).is_err());
    }

    #[tokio::test]
    async fn refused_refuses_and_blackhole_hangs() {
        let (_held, addr) = refused(DEFAULT_BIND).unwrap();
        let error = tokio::net::TcpStream::connect(addr).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::ConnectionRefused);

        let (_listener, addr) = blackhole(DEFAULT_BIND).unwrap();
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let mut byte = [0];
        let read = tokio::time::timeout(
            std::time::Duration::from_millis(200),
            tokio::io::AsyncReadExt::read(&mut stream, &mut byte),
        )
        .await;
        assert!(read.is_err(), "a blackhole never answers");
    }
}
