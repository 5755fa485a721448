//! The lab's certificate authorities: a self-signed root that issues leaf certificates on
//! demand (rcgen), and the rustls server configs that present them.
//!
//! The lab needs two kinds of CA: the "real" one behind its TLS origins (which the auditor is
//! told to trust), and the one a malicious proxy mints substitute leaves with (which it is
//! not). Both are plain `LabCa`s; only who trusts them differs. Keys are ECDSA P-256 so
//! minting a leaf per intercepted name stays cheap.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    ExtendedKeyUsagePurpose, IsCa, KeyPair, KeyUsagePurpose, SanType,
};
use rustls::crypto::CryptoProvider;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// ALPN protocol every lab TLS server offers: the lab speaks nothing but HTTP/1.1.
const ALPN_HTTP1: &[u8] = b"http/1.1";

/// How far back certificates are valid from, so clocks a little behind still accept them.
const BACKDATE: Duration = Duration::from_secs(24 * 60 * 60);

/// How long certificates stay valid: far longer than any lab run.
const LIFETIME: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// Most server configs [`LabCa::issue_cached`] keeps; the cache is emptied when full.
const CACHE_CAPACITY: usize = 256;

/// A CA that issues leaf certificates on demand.
///
/// `Send + Sync`: one CA is shared by every connection of a lab proxy.
pub(crate) struct LabCa {
    /// The self-signed CA certificate together with its signing key and subject.
    issuer: CertifiedIssuer<'static, KeyPair>,
    /// The crypto provider behind every server config (ring).
    provider: Arc<CryptoProvider>,
    /// Server configs already minted by [`LabCa::issue_cached`], by lower-case name.
    cache: Mutex<HashMap<String, Arc<rustls::ServerConfig>>>,
}

/// Why a certificate could not be made.
pub(crate) type CaError = rcgen::Error;

impl LabCa {
    /// A new self-signed CA with this subject (CN and O).
    ///
    /// Valid from a day ago to a year from now; basic constraints CA (no path length
    /// limit); key usages certificate signing and CRL signing.
    pub fn new(common_name: &str, organization: &str) -> Result<Self, CaError> {
        let mut params = CertificateParams::default();
        params.distinguished_name = DistinguishedName::new();
        params
            .distinguished_name
            .push(DnType::CommonName, common_name);
        params
            .distinguished_name
            .push(DnType::OrganizationName, organization);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        set_validity(&mut params);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(Self {
            issuer,
            provider: Arc::new(rustls::crypto::ring::default_provider()),
            cache: Mutex::new(HashMap::new()),
        })
    }

    /// The CA certificate, PEM.
    pub(crate) fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    /// The CA certificate, DER.
    pub(crate) fn cert_der(&self) -> CertificateDer<'static> {
        self.issuer.der().clone()
    }

    /// A leaf for `names` (DNS names or IP literals), with the chain leaf-first.
    ///
    /// Each name becomes a subject alternative name (an IP address SAN when it parses as
    /// one, a DNS name otherwise); the first is also the subject CN. The leaf is for server
    /// authentication only. Returns `([leaf, ca], leaf_key)`; the key is PKCS#8. A name that
    /// is neither an IP address nor ASCII is an error; no names at all give a leaf with an
    /// empty subject that is valid for nothing.
    pub fn issue(
        &self,
        names: &[&str],
    ) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), CaError> {
        let mut params = CertificateParams::default();
        params.subject_alt_names = names
            .iter()
            .map(|name| {
                Ok(match name.parse::<IpAddr>() {
                    Ok(ip) => SanType::IpAddress(ip),
                    Err(_) => SanType::DnsName((*name).try_into()?),
                })
            })
            .collect::<Result<_, CaError>>()?;
        params.distinguished_name = DistinguishedName::new();
        if let Some(first) = names.first() {
            params.distinguished_name.push(DnType::CommonName, *first);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        set_validity(&mut params);

        let key = KeyPair::generate()?;
        let leaf = params.signed_by(&key, &self.issuer)?;
        let key_der = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(key.serialize_der()));
        Ok((vec![leaf.into(), self.cert_der()], key_der))
    }

    /// A rustls server config presenting a leaf for `names`.
    ///
    /// Ring provider, safe default protocol versions, no client authentication, ALPN
    /// `http/1.1`.
    pub(crate) fn server_config(
        &self,
        names: &[&str],
    ) -> Result<Arc<rustls::ServerConfig>, CaError> {
        let (chain, key) = self.issue(names)?;
        self.server_config_with_chain(chain, key)
    }

    /// A server config like [`LabCa::server_config`]'s presenting `chain` (leaf first) with
    /// the leaf's `key`, whatever the chain holds (the hostile lab presents a huge one).
    pub(crate) fn server_config_with_chain(
        &self,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
    ) -> Result<Arc<rustls::ServerConfig>, CaError> {
        let mut config = rustls::ServerConfig::builder_with_provider(Arc::clone(&self.provider))
            .with_safe_default_protocol_versions()
            .map_err(|error| rustls_error(&error))?
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .map_err(|error| rustls_error(&error))?;
        config.alpn_protocols = vec![ALPN_HTTP1.to_vec()];
        Ok(Arc::new(config))
    }

    /// Like [`LabCa::server_config`] for the single name `name`, reusing the config minted
    /// for it before (names compare case-insensitively).
    ///
    /// For interceptors, which mint per SNI name: the cache holds at most 256 names and is
    /// emptied when full, so a client cycling through names cannot grow it without bound.
    pub(crate) fn issue_cached(&self, name: &str) -> Result<Arc<rustls::ServerConfig>, CaError> {
        let key = name.to_ascii_lowercase();
        if let Some(config) = self.lock_cache().get(&key) {
            return Ok(Arc::clone(config));
        }
        // Minted without the lock held: two connections racing for a new name both mint,
        // and one of the configs wins the cache; both are equally valid.
        let config = self.server_config(&[&key])?;
        let mut cache = self.lock_cache();
        if cache.len() >= CACHE_CAPACITY {
            cache.clear();
        }
        cache.insert(key, Arc::clone(&config));
        Ok(config)
    }

    /// The leaf cache; a panic elsewhere while it was held leaves a still-usable map.
    fn lock_cache(&self) -> std::sync::MutexGuard<'_, HashMap<String, Arc<rustls::ServerConfig>>> {
        self.cache.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl fmt::Debug for LabCa {
    /// Shows the CA certificate's size and how many leaves are cached, never the key.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LabCa")
            .field("cert_der_len", &self.issuer.der().len())
            .field("cached_leaves", &self.lock_cache().len())
            .finish_non_exhaustive()
    }
}

/// Sets `params` valid from [`BACKDATE`] ago to [`LIFETIME`] from now.
///
/// rcgen takes `time::OffsetDateTime`, which this crate does not depend on directly; the
/// current time is built from rcgen's epoch date plus the system clock's offset from it.
fn set_validity(params: &mut CertificateParams) {
    // A clock set before 1970 counts as the epoch itself rather than failing.
    let since_epoch = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    let now = rcgen::date_time_ymd(1970, 1, 1) + since_epoch;
    params.not_before = now - BACKDATE;
    params.not_after = now + LIFETIME;
}

/// Carries a rustls configuration error in [`CaError`].
///
/// rustls only rejects a fresh ring key or the ring provider's protocol versions if
/// something is deeply wrong; the message is kept so it can still be reported.
fn rustls_error(error: &rustls::Error) -> CaError {
    rcgen::Error::RingKeyRejected(error.to_string())
}

#[cfg(test)]
mod tests {
    use std::time::{SystemTime, UNIX_EPOCH};

    use rustls::client::WebPkiServerVerifier;
    use rustls::client::danger::ServerCertVerifier;
    use rustls::{CertificateError, RootCertStore};
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, ServerName, UnixTime};
    use x509_parser::extensions::GeneralName;
    use x509_parser::prelude::{FromDer, X509Certificate};

    use super::{CACHE_CAPACITY, LabCa};

    /// A verifier trusting only `ca`, as a client of a lab origin would.
    fn verifier_trusting(ca: &LabCa) -> std::sync::Arc<WebPkiServerVerifier> {
        let mut roots = RootCertStore::empty();
        roots.add(ca.cert_der()).unwrap();
        WebPkiServerVerifier::builder_with_provider(
            roots.into(),
            rustls::crypto::ring::default_provider().into(),
        )
        .build()
        .unwrap()
    }

    /// Verifies `chain` (leaf first) for `name` with `verifier`.
    fn verify(
        verifier: &WebPkiServerVerifier,
        chain: &[CertificateDer<'static>],
        name: &str,
    ) -> Result<(), rustls::Error> {
        let (leaf, rest) = chain.split_first().unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(leaf, rest, &name, &[], UnixTime::now())
            .map(|_| ())
    }

    fn seconds_since_epoch() -> i64 {
        let secs = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        i64::try_from(secs).unwrap()
    }

    #[test]
    fn leaf_verifies_for_its_dns_name_and_ip_only() {
        let ca = LabCa::new("Lab Root", "proxy-audit lab").unwrap();
        let (chain, _key) = ca.issue(&["canary.lab.test", "127.0.0.1"]).unwrap();
        assert_eq!(chain.len(), 2);
        assert_eq!(chain[1], ca.cert_der());

        let verifier = verifier_trusting(&ca);
        verify(&verifier, &chain, "canary.lab.test").unwrap();
        verify(&verifier, &chain, "127.0.0.1").unwrap();
        let wrong = verify(&verifier, &chain, "other.lab.test").unwrap_err();
        assert!(
            matches!(
                wrong,
                rustls::Error::InvalidCertificate(
                    CertificateError::NotValidForName
                        | CertificateError::NotValidForNameContext { .. }
                )
            ),
            "{wrong:?}"
        );
        let wrong_ip = verify(&verifier, &chain, "127.0.0.2").unwrap_err();
        assert!(
            matches!(wrong_ip, rustls::Error::InvalidCertificate(_)),
            "{wrong_ip:?}"
        );
    }

    #[test]
    fn leaf_from_another_ca_is_an_unknown_issuer() {
        let trusted = LabCa::new("Lab Root", "proxy-audit lab").unwrap();
        let other = LabCa::new("Qaznet Trust Network", "proxy-audit lab").unwrap();
        let (chain, _key) = other.issue(&["canary.lab.test"]).unwrap();
        let error = verify(&verifier_trusting(&trusted), &chain, "canary.lab.test").unwrap_err();
        assert_eq!(
            error,
            rustls::Error::InvalidCertificate(CertificateError::UnknownIssuer)
        );
    }

    #[test]
    fn ca_certificate_has_the_subject_and_constraints_asked_for() {
        let ca = LabCa::new("Qaznet Trust Network", "proxy-audit lab").unwrap();
        let der = ca.cert_der();
        let (_, cert) = X509Certificate::from_der(&der).unwrap();
        let subject = cert.subject();
        let cn = subject.iter_common_name().next().unwrap().as_str().unwrap();
        let org = subject
            .iter_organization()
            .next()
            .unwrap()
            .as_str()
            .unwrap();
        assert_eq!(cn, "Qaznet Trust Network");
        assert_eq!(org, "proxy-audit lab");
        assert_eq!(cert.issuer(), cert.subject(), "self-signed");
        assert!(cert.is_ca());
        let usage = cert.key_usage().unwrap().unwrap().value;
        assert!(usage.key_cert_sign() && usage.crl_sign());

        let now = seconds_since_epoch();
        let not_before = cert.validity().not_before.timestamp();
        let not_after = cert.validity().not_after.timestamp();
        assert!((now - 86_400 - 60..=now - 86_400 + 60).contains(&not_before));
        assert!((now + 365 * 86_400 - 60..=now + 365 * 86_400 + 60).contains(&not_after));
    }

    #[test]
    fn pem_and_der_are_the_same_certificate() {
        let ca = LabCa::new("Lab Root", "proxy-audit lab").unwrap();
        let pem = ca.cert_pem();
        assert!(pem.starts_with("-----BEGIN CERTIFICATE-----"));
        let from_pem = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        assert_eq!(from_pem, ca.cert_der());
    }

    #[test]
    fn leaf_names_usage_and_issuer() {
        let ca = LabCa::new("Lab Root", "proxy-audit lab").unwrap();
        let (chain, _key) = ca.issue(&["canary.lab.test", "127.0.0.1"]).unwrap();
        let (_, leaf) = X509Certificate::from_der(&chain[0]).unwrap();
        let cn = leaf.subject().iter_common_name().next().unwrap();
        assert_eq!(cn.as_str().unwrap(), "canary.lab.test");
        let issuer_cn = leaf.issuer().iter_common_name().next().unwrap();
        assert_eq!(issuer_cn.as_str().unwrap(), "Lab Root");
        assert!(!leaf.is_ca());
        let eku = leaf.extended_key_usage().unwrap().unwrap().value;
        assert!(eku.server_auth);
        let sans = &leaf
            .subject_alternative_name()
            .unwrap()
            .unwrap()
            .value
            .general_names;
        assert_eq!(
            sans,
            &vec![
                GeneralName::DNSName("canary.lab.test"),
                GeneralName::IPAddress(&[127, 0, 0, 1]),
            ]
        );
    }

    #[test]
    fn server_config_offers_http1_only() {
        let ca = LabCa::new("Lab Root", "proxy-audit lab").unwrap();
        let config = ca.server_config(&["canary.lab.test"]).unwrap();
        assert_eq!(config.alpn_protocols, vec![b"http/1.1".to_vec()]);
    }

    #[test]
    fn issue_cached_reuses_per_name_and_stays_bounded() {
        let ca = LabCa::new("Lab Root", "proxy-audit lab").unwrap();
        let first = ca.issue_cached("canary.lab.test").unwrap();
        let again = ca.issue_cached("CANARY.lab.test").unwrap();
        let other = ca.issue_cached("other.lab.test").unwrap();
        assert!(std::sync::Arc::ptr_eq(&first, &again));
        assert!(!std::sync::Arc::ptr_eq(&first, &other));

        for index in 0..=CACHE_CAPACITY {
            ca.issue_cached(&format!("n{index}.lab.test")).unwrap();
        }
        assert!(ca.lock_cache().len() <= CACHE_CAPACITY);
    }

    #[test]
    fn lab_ca_is_shareable_across_tasks() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<LabCa>();
    }
}
