//! The lab's network edge: where lab servers may connect, and how they accept, wait and close.
//!
//! Every lab proxy resolves its clients' targets through a [`Router`], which knows only the
//! lab's own names (all loopback) and loopback literals. A target it does not know is refused
//! ("host unreachable") rather than looked up, and `dial` refuses anything but loopback
//! whatever it is handed: this is what keeps the lab offline. No lab server ever opens a
//! connection, or sends a DNS query, that leaves the machine.
//!
//! The servers also share the accept loop (`serve_sessions`), the per-step time bound
//! (`STEP`, `within`) and the polite close (`close_gracefully`) defined here.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinSet;

/// The longest any single protocol step of a lab server may take: one handshake message,
/// one request head, one connect.
pub(crate) const STEP: Duration = Duration::from_secs(5);

/// Pause after a failed `accept` (e.g. out of file descriptors) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(100);

/// The lab's resolver: only its own names and loopback addresses are reachable.
#[derive(Debug, Clone, Default)]
pub(crate) struct Router {
    /// Lower-case `name` → address (all loopback; any other address is ignored).
    pub names: HashMap<String, IpAddr>,
}

impl Router {
    /// Adds `name` (stored lower-case, as [`Router::resolve_name`] looks it up) → `ip`.
    #[cfg(test)]
    pub fn insert(&mut self, name: &str, ip: IpAddr) {
        self.names.insert(name.to_ascii_lowercase(), ip);
    }

    /// Resolves a name the way an honest lab proxy does: case-insensitively, to its loopback
    /// address. `None` for names the lab does not know (and for a name mapped off loopback
    /// by mistake), which a proxy answers with "host unreachable".
    pub(crate) fn resolve_name(&self, name: &str, port: u16) -> Option<SocketAddr> {
        self.names
            .get(&name.to_ascii_lowercase())
            .map(|ip| SocketAddr::new(*ip, port))
            .and_then(|addr| self.resolve_addr(addr))
    }

    /// Lets an address through when it is loopback (`127.0.0.0/8` or `::1`); `None` for
    /// anything else, IPv4-mapped loopback included.
    #[expect(
        clippy::unused_self,
        reason = "a method like the other resolvers, so callers need not know which use the table"
    )]
    pub(crate) fn resolve_addr(&self, addr: SocketAddr) -> Option<SocketAddr> {
        is_lab_address(addr.ip()).then_some(addr)
    }

    /// Resolves a host as written in a request: an IP literal through
    /// [`Router::resolve_addr`], anything else as a name.
    pub(crate) fn resolve_host(&self, host: &str, port: u16) -> Option<SocketAddr> {
        match host.parse::<IpAddr>() {
            Ok(ip) => self.resolve_addr(SocketAddr::new(ip, port)),
            Err(_) => self.resolve_name(host, port),
        }
    }
}

/// True for the only addresses a lab server may reach: loopback, `127.0.0.0/8` and `::1`.
fn is_lab_address(ip: IpAddr) -> bool {
    ip.is_loopback()
}

/// Runs `step`, failing with [`io::ErrorKind::TimedOut`] when it takes longer than [`STEP`].
pub(crate) async fn within<T>(step: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    tokio::time::timeout(STEP, step)
        .await
        .map_err(|_| io::Error::from(io::ErrorKind::TimedOut))?
}

/// Connects to `addr` within [`STEP`]; anything but loopback is refused with
/// [`io::ErrorKind::PermissionDenied`] without being tried, whoever resolved it.
pub(crate) async fn dial(addr: SocketAddr) -> io::Result<TcpStream> {
    if !is_lab_address(addr.ip()) {
        return Err(io::Error::new(
            io::ErrorKind::PermissionDenied,
            format!("the lab never connects off loopback ({addr})"),
        ));
    }
    within(TcpStream::connect(addr)).await
}

/// Accepts connections on `listener` forever, running `session` for each in its own task.
///
/// The sessions belong to the loop: when the future running it is dropped (the lab shutting
/// down, a test ending), every session is aborted with it, so a client that never leaves a
/// hostile endpoint leaks nothing. A failed accept is retried after a short pause rather than
/// in a busy loop.
pub(crate) async fn serve_sessions<F, S>(listener: TcpListener, mut session: F)
where
    F: FnMut(TcpStream, SocketAddr) -> S,
    S: Future<Output = ()> + Send + 'static,
{
    let mut sessions = JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, peer)) => {
                    sessions.spawn(session(stream, peer));
                }
                Err(_) => tokio::time::sleep(ACCEPT_RETRY).await,
            },
            // Reaps finished sessions so the set does not grow with every connection.
            Some(_) = sessions.join_next() => {}
        }
    }
}

/// Closes `stream` so that the bytes already written reach the client: sends FIN, then reads
/// and discards whatever the client still sends until it closes too, for at most [`STEP`].
/// (Closing with unread bytes pending would send a reset that can destroy the reply.)
pub(crate) async fn close_gracefully(mut stream: TcpStream) {
    if stream.shutdown().await.is_err() {
        return;
    }
    let mut sink = [0_u8; 4096];
    let drain = async { while matches!(stream.read(&mut sink).await, Ok(read) if read > 0) {} };
    // Timing out here only means the client lingered; the stream is dropped either way.
    let _ = tokio::time::timeout(STEP, drain).await;
}

#[cfg(test)]
mod tests {
    use std::net::{Ipv4Addr, Ipv6Addr};

    use super::*;

    fn router() -> Router {
        let mut router = Router::default();
        router.insert("Canary.Lab.Test", IpAddr::V4(Ipv4Addr::new(127, 0, 0, 7)));
        router.insert("six.lab.test", IpAddr::V6(Ipv6Addr::LOCALHOST));
        router.insert("public.lab.test", IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)));
        router
    }

    fn addr(text: &str) -> SocketAddr {
        text.parse().unwrap()
    }

    #[test]
    fn names_resolve_case_insensitively_to_their_loopback_address() {
        let router = router();
        assert_eq!(
            router.resolve_name("canary.lab.test", 80),
            Some(addr("127.0.0.7:80"))
        );
        assert_eq!(
            router.resolve_name("CANARY.lab.TEST", 443),
            Some(addr("127.0.0.7:443"))
        );
        assert_eq!(
            router.resolve_name("six.lab.test", 1),
            Some(addr("[::1]:1"))
        );
    }

    #[test]
    fn unknown_names_and_names_mapped_off_loopback_do_not_resolve() {
        let router = router();
        assert_eq!(router.resolve_name("example.com", 80), None);
        assert_eq!(router.resolve_name("localhost", 80), None);
        assert_eq!(router.resolve_name("public.lab.test", 80), None);
    }

    #[test]
    fn only_loopback_addresses_pass() {
        let router = Router::default();
        for allowed in ["127.0.0.1:1", "127.255.0.9:2", "[::1]:3"] {
            assert_eq!(router.resolve_addr(addr(allowed)), Some(addr(allowed)));
        }
        for refused in [
            "0.0.0.0:1",
            "10.0.0.1:1",
            "192.0.2.1:1",
            "8.8.8.8:53",
            "[::]:1",
            "[::ffff:127.0.0.1]:1",
            "[fe80::1]:1",
            "[2001:db8::1]:1",
        ] {
            assert_eq!(router.resolve_addr(addr(refused)), None, "{refused}");
        }
    }

    #[test]
    fn hosts_are_literals_or_names() {
        let router = router();
        assert_eq!(
            router.resolve_host("127.0.0.2", 8),
            Some(addr("127.0.0.2:8"))
        );
        assert_eq!(router.resolve_host("::1", 8), Some(addr("[::1]:8")));
        assert_eq!(router.resolve_host("1.1.1.1", 8), None);
        assert_eq!(
            router.resolve_host("canary.lab.test", 8),
            Some(addr("127.0.0.7:8"))
        );
        assert_eq!(router.resolve_host("nowhere.test", 8), None);
    }

    #[tokio::test]
    async fn dial_refuses_off_loopback_without_trying() {
        let error = dial(addr("192.0.2.1:80")).await.unwrap_err();
        assert_eq!(error.kind(), io::ErrorKind::PermissionDenied);
    }

    #[tokio::test]
    async fn sessions_end_with_the_accept_loop() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let local = listener.local_addr().unwrap();
        let (ended_tx, mut ended_rx) = tokio::sync::mpsc::unbounded_channel::<()>();
        let server = tokio::spawn(serve_sessions(listener, move |mut stream, _| {
            let ended = ended_tx.clone();
            async move {
                let _guard = DropSignal(ended);
                let _ = stream.write_all(b"hi").await;
                std::future::pending::<()>().await;
            }
        }));
        let mut client = TcpStream::connect(local).await.unwrap();
        let mut greeting = [0_u8; 2];
        client.read_exact(&mut greeting).await.unwrap();
        server.abort();
        // The session signals when it is dropped; the channel closes once every sender is gone.
        let ended = tokio::time::timeout(STEP, async {
            (ended_rx.recv().await, ended_rx.recv().await)
        });
        assert_eq!(ended.await.unwrap(), (Some(()), None));
    }

    /// Sends `()` when dropped.
    struct DropSignal(tokio::sync::mpsc::UnboundedSender<()>);

    impl Drop for DropSignal {
        fn drop(&mut self) {
            let _ = self.0.send(());
        }
    }
}
