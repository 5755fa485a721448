//! TLS interception for the lab's malicious proxies: terminate the client's TLS with a leaf
//! minted on the fly for the name it asked for, open TLS to the real server without
//! checking it, and relay the plaintext between the two.
//!
//! This is the attack the auditor's `tls` check exists to catch (the lab's CA for it mimics
//! the 2019 Kazakhstan interception, "Qaznet Trust Network"). It is hand-written on the
//! lab's own `LabCa` and tokio-rustls because an interceptor is just two handshakes and a
//! copy loop; what matters is that the substituted chain is realistic, not a proxy
//! framework.

use std::fmt;
use std::io;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use rustls::ClientConfig;
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;
use tokio::time::{Instant, timeout, timeout_at};
use tokio_rustls::{LazyConfigAcceptor, TlsConnector};

use super::ca::LabCa;
use crate::proto::tls::AcceptAnyCertificate;

/// The first byte of a TLS handshake record (content type 22): how a ClientHello starts.
const TLS_HANDSHAKE_RECORD: u8 = 0x16;

/// How long the client has to send its first byte before the relay assumes plain bytes.
const FIRST_BYTE_DEADLINE: Duration = Duration::from_secs(5);

/// How long both handshakes together (client side, then upstream) may take.
const HANDSHAKE_DEADLINE: Duration = Duration::from_secs(5);

/// The name a leaf is minted for when the ClientHello carries no SNI.
const NO_SNI_NAME: &str = "unknown.invalid";

/// Terminates the client's TLS with a leaf minted for its SNI and relays to the upstream.
pub(crate) struct Interceptor {
    /// The CA that signs minted leaves.
    pub ca: LabCa,
    /// The upstream TLS client config (accepts any server certificate), built on first use.
    upstream_config: OnceLock<Arc<ClientConfig>>,
}

impl Interceptor {
    /// An interceptor signing with `ca`.
    pub fn new(ca: LabCa) -> Self {
        Self {
            ca,
            upstream_config: OnceLock::new(),
        }
    }

    /// Relays between `client` and `upstream`, intercepting TLS when the client starts with
    /// a TLS record, passing bytes through unchanged otherwise.
    ///
    /// Intercepting: the client is answered with a leaf from [`Interceptor::ca`] for the
    /// name in its SNI (`unknown.invalid` without one); the upstream is sent the same SNI
    /// (none when the client sent none) and its certificate is not checked. A client that
    /// sends nothing within 5 s is relayed as plain bytes. Returns when either side
    /// closes; any error ends the relay and is returned (callers may ignore it).
    pub(crate) async fn relay(
        &self,
        client: TcpStream,
        upstream: TcpStream,
    ) -> std::io::Result<()> {
        if starts_with_tls(&client).await? {
            self.intercept(client, upstream).await
        } else {
            let (mut client, mut upstream) = (client, upstream);
            tokio::io::copy_bidirectional(&mut client, &mut upstream)
                .await
                .map(|_| ())
        }
    }

    /// The TLS leg of [`Interceptor::relay`]: both handshakes, then the plaintext copy.
    async fn intercept(&self, client: TcpStream, upstream: TcpStream) -> io::Result<()> {
        let deadline = Instant::now() + HANDSHAKE_DEADLINE;
        let acceptor = LazyConfigAcceptor::new(rustls::server::Acceptor::default(), client);
        let start = within(deadline, acceptor).await?;
        let sni = start.client_hello().server_name().map(str::to_owned);

        let leaf = self
            .ca
            .issue_cached(sni.as_deref().unwrap_or(NO_SNI_NAME))
            .map_err(io::Error::other)?;
        let mut client = within(deadline, start.into_stream(leaf)).await?;

        // Without SNI from the client, name the upstream by its address: rustls sends no
        // SNI for an IP address, so the upstream gets none either.
        let upstream_name = match sni {
            Some(name) => ServerName::try_from(name).map_err(io::Error::other)?,
            None => ServerName::IpAddress(upstream.peer_addr()?.ip().into()),
        };
        let connector = TlsConnector::from(self.upstream_config()?);
        let mut upstream = within(deadline, connector.connect(upstream_name, upstream)).await?;

        tokio::io::copy_bidirectional(&mut client, &mut upstream)
            .await
            .map(|_| ())
    }

    /// The upstream client config, built once: ring, safe default versions, and a
    /// verifier that accepts any certificate.
    fn upstream_config(&self) -> io::Result<Arc<ClientConfig>> {
        if let Some(config) = self.upstream_config.get() {
            return Ok(Arc::clone(config));
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = AcceptAnyCertificate::new(&provider);
        let config = ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(io::Error::other)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        // Two first connections may race here; both configs are the same, either is kept.
        Ok(Arc::clone(
            self.upstream_config.get_or_init(|| Arc::new(config)),
        ))
    }
}

impl fmt::Debug for Interceptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Interceptor")
            .field("ca", &self.ca)
            .finish_non_exhaustive()
    }
}

/// True when the first byte `client` sent opens a TLS handshake record.
///
/// The byte is peeked, not consumed. A client that closes before sending anything is not
/// TLS; one silent for [`FIRST_BYTE_DEADLINE`] is not either (it may be waiting for a
/// server that speaks first).
async fn starts_with_tls(client: &TcpStream) -> io::Result<bool> {
    let mut first = [0_u8; 1];
    match timeout(FIRST_BYTE_DEADLINE, client.peek(&mut first)).await {
        Ok(peeked) => Ok(peeked? == 1 && first == [TLS_HANDSHAKE_RECORD]),
        Err(_elapsed) => Ok(false),
    }
}

/// Awaits `step` until `deadline`; running out of time is a `TimedOut` error.
async fn within<T>(deadline: Instant, step: impl Future<Output = io::Result<T>>) -> io::Result<T> {
    timeout_at(deadline, step)
        .await
        .map_err(|_elapsed| io::Error::from(io::ErrorKind::TimedOut))?
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;
    use std::sync::Arc;

    use rustls::{CertificateError, ClientConfig, RootCertStore};
    use rustls_pki_types::{CertificateDer, ServerName};
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio_rustls::TlsConnector;
    use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

    use super::Interceptor;
    use crate::lab::ca::LabCa;
    use crate::lab::origins;
    use crate::proto::tls::AcceptAnyCertificate;

    const BODY: &[u8] = b"<html>the real canary</html>";
    const CANARY: &str = "canary.lab.test";
    const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: canary.lab.test\r\n\r\n";

    /// A TLS origin for [`CANARY`] with a leaf from `ca`.
    async fn tls_origin(ca: &LabCa) -> SocketAddr {
        let config = ca.server_config(&[CANARY]).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(origins::serve_tls_origin(listener, config, BODY));
        addr
    }

    /// A plain-HTTP canary.
    async fn http_origin() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(origins::serve_http_canary(listener, BODY));
        addr
    }

    /// A proxy that relays every connection to `target` through `interceptor`.
    async fn intercepting_proxy(interceptor: Arc<Interceptor>, target: SocketAddr) -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        tokio::spawn(async move {
            loop {
                let (client, _) = listener.accept().await.unwrap();
                let interceptor = Arc::clone(&interceptor);
                tokio::spawn(async move {
                    let upstream = TcpStream::connect(target).await.unwrap();
                    let _ = interceptor.relay(client, upstream).await;
                });
            }
        });
        addr
    }

    fn client_config(roots: RootCertStore) -> ClientConfig {
        ClientConfig::builder_with_provider(Arc::new(rustls::crypto::ring::default_provider()))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth()
    }

    /// A client config trusting only `ca`.
    fn trusting(ca: &LabCa) -> ClientConfig {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der()).unwrap();
        client_config(roots)
    }

    /// A client config that accepts any certificate, to look at what is presented.
    fn looking() -> ClientConfig {
        let provider = rustls::crypto::ring::default_provider();
        let mut config = client_config(RootCertStore::empty());
        config
            .dangerous()
            .set_certificate_verifier(Arc::new(AcceptAnyCertificate::new(&provider)));
        config
    }

    /// CNs of the subject and the issuer of `cert`.
    fn subject_and_issuer_cn(cert: &CertificateDer<'_>) -> (String, String) {
        let (_, cert) = X509Certificate::from_der(cert).unwrap();
        let cn = |name: &X509Name<'_>| {
            name.iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        };
        (cn(cert.subject()), cn(cert.issuer()))
    }

    /// A TLS origin for [`CANARY`] signed by "Lab Root", and the interceptor ("Qaznet Trust
    /// Network") relaying to it through a proxy; returns the proxy and the interceptor.
    async fn intercepted_origin() -> (SocketAddr, Arc<Interceptor>, LabCa) {
        let real_ca = LabCa::new("Lab Root", "proxy-audit lab").unwrap();
        let origin = tls_origin(&real_ca).await;
        let rogue_ca = LabCa::new("Qaznet Trust Network", "proxy-audit lab").unwrap();
        let interceptor = Arc::new(Interceptor::new(rogue_ca));
        let proxy = intercepting_proxy(Arc::clone(&interceptor), origin).await;
        (proxy, interceptor, real_ca)
    }

    /// Connects through `proxy` with TLS for `name` under `config`.
    async fn connect(
        proxy: SocketAddr,
        config: ClientConfig,
        name: ServerName<'static>,
    ) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
        let tcp = TcpStream::connect(proxy).await.unwrap();
        TlsConnector::from(Arc::new(config))
            .connect(name, tcp)
            .await
    }

    #[tokio::test]
    async fn client_trusting_the_interceptor_ca_reads_the_origin_body() {
        let (proxy, interceptor, _) = intercepted_origin().await;
        let name = ServerName::try_from(CANARY).unwrap();
        let mut tls = connect(proxy, trusting(&interceptor.ca), name)
            .await
            .unwrap();

        let chain = tls.get_ref().1.peer_certificates().unwrap().to_vec();
        assert_eq!(
            subject_and_issuer_cn(&chain[0]),
            (CANARY.to_owned(), "Qaznet Trust Network".to_owned())
        );

        tls.write_all(REQUEST).await.unwrap();
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await.unwrap();
        assert!(response.starts_with(b"HTTP/1.1 200 OK\r\n"));
        assert!(
            response.ends_with(BODY),
            "{:?}",
            String::from_utf8_lossy(&response)
        );
    }

    #[tokio::test]
    async fn client_trusting_the_real_ca_sees_an_unknown_issuer() {
        let (proxy, _interceptor, real_ca) = intercepted_origin().await;
        let name = ServerName::try_from(CANARY).unwrap();
        let error = connect(proxy, trusting(&real_ca), name).await.unwrap_err();
        let cause = error
            .get_ref()
            .and_then(|inner| inner.downcast_ref::<rustls::Error>());
        assert_eq!(
            cause,
            Some(&rustls::Error::InvalidCertificate(
                CertificateError::UnknownIssuer
            )),
            "{error:?}"
        );
    }

    #[tokio::test]
    async fn client_without_sni_gets_a_leaf_for_the_placeholder_name() {
        let (proxy, _interceptor, _) = intercepted_origin().await;
        // rustls sends no SNI when connecting to an IP address.
        let name = ServerName::IpAddress(proxy.ip().into());
        let mut tls = connect(proxy, looking(), name).await.unwrap();
        let chain = tls.get_ref().1.peer_certificates().unwrap().to_vec();
        assert_eq!(
            subject_and_issuer_cn(&chain[0]),
            (
                "unknown.invalid".to_owned(),
                "Qaznet Trust Network".to_owned()
            )
        );
        // The upstream leg works without SNI too.
        tls.write_all(REQUEST).await.unwrap();
        let mut response = Vec::new();
        tls.read_to_end(&mut response).await.unwrap();
        assert!(response.ends_with(BODY));
    }

    #[tokio::test]
    async fn plain_http_is_relayed_unchanged() {
        let origin = http_origin().await;
        let rogue_ca = LabCa::new("Qaznet Trust Network", "proxy-audit lab").unwrap();
        let proxy = intercepting_proxy(Arc::new(Interceptor::new(rogue_ca)), origin).await;

        let mut direct = Vec::new();
        let mut stream = TcpStream::connect(origin).await.unwrap();
        stream.write_all(REQUEST).await.unwrap();
        stream.read_to_end(&mut direct).await.unwrap();

        let mut relayed = Vec::new();
        let mut stream = TcpStream::connect(proxy).await.unwrap();
        stream.write_all(REQUEST).await.unwrap();
        stream.read_to_end(&mut relayed).await.unwrap();

        assert!(relayed.ends_with(BODY));
        assert_eq!(relayed, direct);
    }
}
