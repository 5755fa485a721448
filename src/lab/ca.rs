//! The lab's certificate authorities (rcgen). (Stub: being written.)

use std::sync::Arc;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

/// A CA that issues leaf certificates on demand.
pub struct LabCa {
    /// Placeholder.
    _private: (),
}

/// Why a certificate could not be made.
pub type CaError = rcgen::Error;

impl LabCa {
    /// A new self-signed CA with this subject (CN and O).
    pub fn new(common_name: &str, organization: &str) -> Result<Self, CaError> {
        let _ = (common_name, organization);
        Err(rcgen::Error::CouldNotParseCertificate)
    }

    /// The CA certificate, PEM.
    pub fn cert_pem(&self) -> String {
        String::new()
    }

    /// The CA certificate, DER.
    pub fn cert_der(&self) -> CertificateDer<'static> {
        CertificateDer::from(Vec::new())
    }

    /// A leaf for `names` (DNS names or IP literals), with the chain leaf-first.
    pub fn issue(
        &self,
        names: &[&str],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        let _ = names;
        Err(rcgen::Error::CouldNotParseCertificate)
    }

    /// A rustls server config presenting a leaf for `names`.
    pub fn server_config(&self, names: &[&str]) -> Result<Arc<rustls::ServerConfig>, CaError> {
        let _ = names;
        Err(rcgen::Error::CouldNotParseCertificate)
    }
}
