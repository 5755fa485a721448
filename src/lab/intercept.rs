//! TLS interception for the intercepting lab proxy. (Stub: being written.)

use tokio::net::TcpStream;

use super::ca::LabCa;

/// Terminates the client's TLS with a leaf minted for its SNI and relays to the upstream.
pub struct Interceptor {
    /// The CA that signs minted leaves.
    pub ca: LabCa,
}

impl Interceptor {
    /// An interceptor signing with `ca`.
    pub fn new(ca: LabCa) -> Self {
        Self { ca }
    }

    /// Relays between `client` and `upstream`, intercepting TLS when the client starts with
    /// a TLS record, passing bytes through unchanged otherwise.
    pub async fn relay(&self, client: TcpStream, upstream: TcpStream) -> std::io::Result<()> {
        let (mut client, mut upstream) = (client, upstream);
        tokio::io::copy_bidirectional(&mut client, &mut upstream)
            .await
            .map(|_| ())
    }
}
