//! TLS pieces shared by the prober and the lab: a certificate verifier that accepts any
//! certificate. It sits in the protocol layer, below both, because the lab's intercepting
//! proxy must not depend on the probe that audits it. No sockets here: rustls calls the
//! verifier during a handshake that its user drives.

use rustls::DigitallySignedStruct;
use rustls::SignatureScheme;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};

/// A server certificate verifier that accepts every certificate, for every name; handshake
/// signatures are still checked against whatever certificate was presented.
///
/// Two users, each with its reason: the probe's TLS to an `https` proxy itself (its own
/// certificate is not a canary; see the probe's `dial` module) and the lab's intercepting
/// proxy (the malicious part: it does not care who the upstream is). Canary certificates are
/// never checked with this.
#[derive(Debug)]
pub(crate) struct AcceptAnyCertificate {
    /// Signature algorithms for the handshake signature checks.
    algorithms: WebPkiSupportedAlgorithms,
}

impl AcceptAnyCertificate {
    /// A verifier using `provider`'s signature algorithms.
    pub(crate) fn new(provider: &CryptoProvider) -> Self {
        Self {
            algorithms: provider.signature_verification_algorithms,
        }
    }
}

impl ServerCertVerifier for AcceptAnyCertificate {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}
