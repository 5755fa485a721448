//! The TLS leg of a canary check: one rustls handshake through an already-open tunnel that
//! records the certificate chain the far end presented and judges it.
//!
//! The `tls` check ([`crate::checks`]) opens a tunnel through the proxy (see
//! [`crate::probe::dial`]) and hands the stream here with the canary's name and a
//! [`TlsPolicy`] built from the profile ([`crate::config::TlsCanary`]). [`probe_tls`] never
//! sends application data: the handshake alone shows whether the proxy substituted the
//! certificate.
//!
//! The client uses rustls with the ring provider and a [`ServerCertVerifier`] that records
//! the presented chain, then delegates the verdict (chain, name, signatures) to a
//! [`WebPkiServerVerifier`] over the policy's roots. Session resumption is off, so every
//! handshake shows a certificate.
//!
//! A server whose handshake holds a message over 64 KiB (in practice a certificate chain of
//! hundreds of certificates) is refused by rustls as soon as the message's header announces
//! that size, so nothing of it is buffered; [`TlsOutcome::oversized`] records that it was
//! refused for that reason, since no canary sends such a chain.
//!
//! Names in [`CertFacts`] are RFC 4514 strings (last RDN first, `,` between RDNs, `+` inside
//! one, special and control characters escaped, non-string values as `#` and the hex DER);
//! `crate::catalog::interception::common_names` reads the CNs back.

use std::fmt::Write as _;
use std::io;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};
use std::time::Duration;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{Resumption, WebPkiServerVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use sha2::{Digest, Sha256};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use x509_parser::asn1_rs::{Tag, ToDer};
use x509_parser::certificate::X509Certificate;
use x509_parser::oid_registry::{
    OID_DOMAIN_COMPONENT, OID_USERID, OID_X509_COMMON_NAME, OID_X509_COUNTRY_NAME,
    OID_X509_LOCALITY_NAME, OID_X509_ORGANIZATION_NAME, OID_X509_ORGANIZATIONAL_UNIT,
    OID_X509_STATE_OR_PROVINCE_NAME, OID_X509_STREET_ADDRESS,
};
use x509_parser::prelude::FromDer;
use x509_parser::x509::{AttributeTypeAndValue, X509Name};

use crate::catalog::interception::InterceptionCas;
use crate::model::CertFacts;
use crate::probe::dial::is_transient;
use crate::proto::hex::to_hex;

// Lives in the protocol layer so the lab can use it too; re-exported for `dial.rs`.

/// At most this many presented certificates are recorded (leaf first); the rest are ignored
/// for pins and known-CA matching (webpki still sees them all).
pub(crate) const MAX_RECORDED_CERTS: usize = 16;

/// Subject and issuer of a certificate x509-parser cannot read.
pub(crate) const UNPARSABLE: &str = "(unparsable)";

/// What a chain must satisfy.
///
/// Build it with [`TlsPolicy::new`]. The webpki verifier for `roots` is built on first use
/// and kept (clones share it), so replace the policy rather than its `roots`.
#[derive(Debug, Clone)]
pub struct TlsPolicy {
    /// Trusted roots.
    pub roots: Arc<RootCertStore>,
    /// SPKI SHA-256 pins; when non-empty one must appear in the chain.
    pub spki_pins: Vec<[u8; 32]>,
    /// Known interception CAs.
    pub interception: Arc<InterceptionCas>,
    /// The provider and the webpki verifier over `roots`, or why they cannot be built.
    verifier: OnceLock<Result<Verifier, String>>,
}

/// The per-policy half of verification (the recording half is per connection).
#[derive(Debug, Clone)]
struct Verifier {
    /// ring, shared by the client config and the verifier.
    provider: Arc<CryptoProvider>,
    /// Chain, name and signature checks over the policy's roots.
    webpki: Arc<WebPkiServerVerifier>,
}

impl TlsPolicy {
    /// A policy over these roots, pins and known interception CAs.
    pub fn new(
        roots: Arc<RootCertStore>,
        spki_pins: Vec<[u8; 32]>,
        interception: Arc<InterceptionCas>,
    ) -> Self {
        Self {
            roots,
            spki_pins,
            interception,
            verifier: OnceLock::new(),
        }
    }

    /// The cached verifier, built on first call.
    fn verifier(&self) -> Result<&Verifier, &str> {
        self.verifier
            .get_or_init(|| {
                let provider = Arc::new(rustls::crypto::ring::default_provider());
                WebPkiServerVerifier::builder_with_provider(
                    Arc::clone(&self.roots),
                    Arc::clone(&provider),
                )
                .build()
                .map(|webpki| Verifier { provider, webpki })
                .map_err(|error| format!("cannot verify against these roots: {error}"))
            })
            .as_ref()
            .map_err(String::as_str)
    }
}

/// What a handshake showed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsOutcome {
    /// Presented chain, leaf first.
    pub chain: Vec<CertFacts>,
    /// Valid for the name against roots and pins.
    pub valid: bool,
    /// Why not valid / why the handshake failed.
    pub error: Option<String>,
    /// Matched known interception CA name.
    pub known_ca: Option<String>,
    /// The server sent a handshake message over the 64 KiB rustls accepts: a certificate
    /// chain too large to be the canary's, refused before it was read (so `chain` is empty).
    pub oversized: bool,
    /// How the handshake was cut off before any certificate, when it was: that says nothing
    /// about the server (see `crate::probe::dial::DialError::transient`).
    pub cut_off: Option<CutOff>,
}

/// How a handshake was cut off before any certificate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CutOff {
    /// Nothing came back in time.
    TimedOut,
    /// The connection was reset or aborted.
    Reset,
}

impl TlsOutcome {
    /// A handshake that never got to a certificate.
    pub fn failed(error: impl Into<String>) -> Self {
        Self {
            chain: Vec::new(),
            valid: false,
            error: Some(error.into()),
            known_ca: None,
            oversized: false,
            cut_off: None,
        }
    }

    /// A handshake (or the tunnel for it) cut off before any certificate.
    pub(crate) fn cut_off(error: impl Into<String>, how: CutOff) -> Self {
        Self {
            cut_off: Some(how),
            ..Self::failed(error)
        }
    }

    /// True when the server presented a certificate chain (or one too large to read): its
    /// validity then decides, not the way the connection ended.
    pub fn presented(&self) -> bool {
        !self.chain.is_empty() || self.oversized
    }
}

/// Runs a TLS handshake with `server_name` over `stream`.
///
/// `server_name` is a DNS name or an IP literal (IPv6 with or without brackets); it is the
/// SNI (names only) and the name the certificate must be valid for. The handshake is
/// bounded by `step`. Nothing is sent after it; the connection is dropped.
///
/// `valid` needs webpki to accept the chain for the name and, when the policy has pins,
/// one recorded certificate's SPKI hash to be a pin. `error` is then `None`; otherwise it is
/// the verification error (`invalid peer certificate: UnknownIssuer`), `pin mismatch`, or
/// why the handshake failed (timeout, I/O, protocol). `known_ca` is checked whenever a
/// chain was seen, valid or not.
pub async fn probe_tls<S>(
    stream: S,
    server_name: &str,
    policy: &TlsPolicy,
    step: Duration,
) -> TlsOutcome
where
    S: AsyncRead + AsyncWrite + Unpin + Send,
{
    let bare = server_name
        .strip_prefix('[')
        .and_then(|name| name.strip_suffix(']'))
        .unwrap_or(server_name);
    let Ok(name) = ServerName::try_from(bare.to_owned()) else {
        return TlsOutcome::failed(format!("invalid server name {server_name:?}"));
    };
    let verifier = match policy.verifier() {
        Ok(verifier) => verifier,
        Err(error) => return TlsOutcome::failed(error),
    };
    let recorder = Arc::new(Recorder::new(Arc::clone(&verifier.webpki)));
    let config = match client_config(verifier, Arc::clone(&recorder)) {
        Ok(config) => config,
        Err(error) => return TlsOutcome::failed(error),
    };
    let connector = TlsConnector::from(Arc::new(config));
    let handshake = tokio::time::timeout(step, connector.connect(name, stream)).await;
    let seen = recorder.take();

    let chain: Vec<CertFacts> = seen.chain.iter().map(|der| cert_facts(der)).collect();
    let oversized = matches!(&handshake, Ok(Err(error)) if is_oversized(error));
    let cut_off = match &handshake {
        _ if seen.verdict.is_some() => None,
        Err(_elapsed) => Some(CutOff::TimedOut),
        Ok(Err(error)) if is_transient(error.kind()) => Some(CutOff::Reset),
        Ok(_) => None,
    };
    let error = match (seen.verdict, handshake) {
        (Some(Err(error)), _) => Some(error.to_string()),
        (_, Err(_elapsed)) => Some(format!(
            "timeout: no TLS handshake within {} ms",
            step.as_millis()
        )),
        (_, Ok(Err(error))) if oversized => Some(format!(
            "the server's handshake message is too large (over 64 KiB: a certificate chain \
             no real server sends): {error}"
        )),
        (_, Ok(Err(error))) => Some(error.to_string()),
        (None, Ok(Ok(_))) => Some("the handshake ended without a certificate check".to_owned()),
        (Some(Ok(())), Ok(Ok(_stream))) => {
            (!pinned(&chain, &policy.spki_pins)).then(|| "pin mismatch".to_owned())
        }
    };
    TlsOutcome {
        known_ca: policy.interception.matches(&chain).map(str::to_owned),
        valid: error.is_none(),
        error,
        chain,
        oversized,
        cut_off,
    }
}

/// True when a handshake failed because the server sent a handshake message over rustls's
/// 64 KiB limit.
fn is_oversized(error: &io::Error) -> bool {
    error
        .get_ref()
        .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        .is_some_and(|error| {
            matches!(
                error,
                rustls::Error::InvalidMessage(rustls::InvalidMessage::HandshakePayloadTooLarge)
            )
        })
}

/// A client config for one connection: ring, safe protocol versions, no resumption, no
/// client certificate, `recorder` as the certificate verifier.
fn client_config(verifier: &Verifier, recorder: Arc<Recorder>) -> Result<ClientConfig, String> {
    let mut config = ClientConfig::builder_with_provider(Arc::clone(&verifier.provider))
        .with_safe_default_protocol_versions()
        .map_err(|error| format!("TLS client setup: {error}"))?
        .dangerous()
        .with_custom_certificate_verifier(recorder)
        .with_no_client_auth();
    config.resumption = Resumption::disabled();
    Ok(config)
}

/// True when there are no pins, or some recorded certificate's SPKI hash is one.
fn pinned(chain: &[CertFacts], pins: &[[u8; 32]]) -> bool {
    pins.is_empty()
        || pins.iter().any(|pin| {
            let pin = to_hex(pin);
            chain.iter().any(|cert| cert.spki_sha256 == pin)
        })
}

/// What the verifier saw during one handshake.
#[derive(Debug, Default)]
struct Seen {
    /// The presented chain, leaf first, at most [`MAX_RECORDED_CERTS`].
    chain: Vec<CertificateDer<'static>>,
    /// webpki's verdict, once asked.
    verdict: Option<Result<(), rustls::Error>>,
}

/// A [`ServerCertVerifier`] for one connection: records, then lets webpki decide.
#[derive(Debug)]
struct Recorder {
    /// The policy's webpki verifier.
    webpki: Arc<WebPkiServerVerifier>,
    /// Filled in by `verify_server_cert`.
    seen: Mutex<Seen>,
}

impl Recorder {
    /// A recorder in front of `webpki`.
    fn new(webpki: Arc<WebPkiServerVerifier>) -> Self {
        Self {
            webpki,
            seen: Mutex::new(Seen::default()),
        }
    }

    /// Takes what was recorded.
    fn take(&self) -> Seen {
        std::mem::take(&mut *self.seen.lock().unwrap_or_else(PoisonError::into_inner))
    }
}

impl ServerCertVerifier for Recorder {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verdict = self.webpki.verify_server_cert(
            end_entity,
            intermediates,
            server_name,
            ocsp_response,
            now,
        );
        let mut seen = self.seen.lock().unwrap_or_else(PoisonError::into_inner);
        seen.chain = std::iter::once(end_entity)
            .chain(intermediates)
            .take(MAX_RECORDED_CERTS)
            .map(|der| der.clone().into_owned())
            .collect();
        seen.verdict = Some(verdict.as_ref().map(|_| ()).map_err(Clone::clone));
        verdict
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Facts about one presented certificate. One x509-parser cannot read keeps its hash and
/// gets [`UNPARSABLE`] names and an empty `spki_sha256`.
pub(crate) fn cert_facts(der: &[u8]) -> CertFacts {
    let sha256 = to_hex(&Sha256::digest(der));
    match X509Certificate::from_der(der) {
        Ok((_, cert)) => CertFacts {
            subject: rfc4514(cert.subject()),
            issuer: rfc4514(cert.issuer()),
            sha256,
            spki_sha256: to_hex(&Sha256::digest(cert.public_key().raw)),
        },
        Err(_) => CertFacts {
            subject: UNPARSABLE.to_owned(),
            issuer: UNPARSABLE.to_owned(),
            sha256,
            spki_sha256: String::new(),
        },
    }
}

/// A distinguished name as an RFC 4514 string (see the module docs).
fn rfc4514(name: &X509Name<'_>) -> String {
    let rdns: Vec<Vec<String>> = name
        .iter_rdn()
        .map(|rdn| rdn.iter().map(attribute).collect())
        .collect();
    rdns.iter()
        .rev()
        .map(|rdn| rdn.join("+"))
        .collect::<Vec<_>>()
        .join(",")
}

/// `type=value` for one attribute.
fn attribute(attr: &AttributeTypeAndValue<'_>) -> String {
    let oid = attr.attr_type();
    let known = [
        (&OID_X509_COMMON_NAME, "CN"),
        (&OID_X509_LOCALITY_NAME, "L"),
        (&OID_X509_STATE_OR_PROVINCE_NAME, "ST"),
        (&OID_X509_ORGANIZATION_NAME, "O"),
        (&OID_X509_ORGANIZATIONAL_UNIT, "OU"),
        (&OID_X509_COUNTRY_NAME, "C"),
        (&OID_X509_STREET_ADDRESS, "STREET"),
        (&OID_DOMAIN_COMPONENT, "DC"),
        (&OID_USERID, "UID"),
    ];
    let kind = known
        .iter()
        .find(|(known, _)| *known == oid)
        .map_or_else(|| oid.to_id_string(), |(_, short)| (*short).to_owned());
    let value = attribute_text(attr).map_or_else(
        || {
            let der = attr
                .attr_value()
                .to_der_vec()
                .unwrap_or_else(|_| attr.as_slice().to_vec());
            format!("#{}", to_hex(&der))
        },
        |text| escape(&text),
    );
    format!("{kind}={value}")
}

/// The value of a string-typed attribute; `None` for other types or bad encodings.
fn attribute_text(attr: &AttributeTypeAndValue<'_>) -> Option<String> {
    let bytes = attr.as_slice();
    match attr.attr_value().tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::NumericString
        | Tag::VisibleString
        | Tag::TeletexString
        | Tag::GeneralString
        | Tag::GraphicString => std::str::from_utf8(bytes).ok().map(str::to_owned),
        Tag::BmpString => {
            let units = bytes
                .chunks_exact(2)
                .filter_map(|pair| pair.try_into().ok().map(u16::from_be_bytes));
            (bytes.len() % 2 == 0)
                .then(|| {
                    char::decode_utf16(units)
                        .collect::<Result<String, _>>()
                        .ok()
                })
                .flatten()
        }
        Tag::UniversalString => {
            let chars = bytes
                .chunks_exact(4)
                .filter_map(|quad| quad.try_into().ok().map(u32::from_be_bytes))
                .map(char::from_u32);
            (bytes.len() % 4 == 0)
                .then(|| chars.collect::<Option<String>>())
                .flatten()
        }
        _ => None,
    }
}

/// RFC 4514 escaping: `"+,;<>\` get a backslash, as do a leading space or `#` and a trailing
/// space; control characters become `\XX` hex pairs so reports stay one clean line.
fn escape(value: &str) -> String {
    let last = value.chars().count().saturating_sub(1);
    let mut out = String::with_capacity(value.len());
    for (at, c) in value.chars().enumerate() {
        match c {
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            ' ' if at == 0 || at == last => out.push_str("\\ "),
            '#' if at == 0 => out.push_str("\\#"),
            c if c.is_control() => {
                let mut buf = [0u8; 4];
                for byte in c.encode_utf8(&mut buf).bytes() {
                    let _ = write!(out, "\\{byte:02X}");
                }
            }
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use rcgen::{
        BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType, DnValue,
        IsCa, KeyPair, PublicKeyData,
    };
    use rustls::ServerConfig;
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{PrivateKeyDer, PrivatePkcs8KeyDer};
    use tokio::io::AsyncWriteExt;
    use tokio_rustls::TlsAcceptor;

    use super::*;
    use crate::catalog::interception::common_names;

    /// A CA able to issue leaves.
    struct Ca {
        /// Its certificate and signing key.
        issuer: CertifiedIssuer<'static, KeyPair>,
    }

    impl Ca {
        /// A self-signed CA with this subject.
        fn new(subject: &[(DnType, &str)]) -> Self {
            let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
            params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
            params.distinguished_name = dn(subject);
            let issuer =
                CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap();
            Self { issuer }
        }

        /// Roots holding just this CA.
        fn roots(&self) -> Arc<RootCertStore> {
            let mut roots = RootCertStore::empty();
            roots.add(self.issuer.der().clone()).unwrap();
            Arc::new(roots)
        }

        /// A leaf for `san` (a DNS name or an IP literal) with `CN=san`.
        fn leaf(&self, san: &str) -> Leaf {
            let mut params = CertificateParams::new(vec![san.to_owned()]).unwrap();
            params.distinguished_name = dn(&[(DnType::CommonName, san)]);
            let key = KeyPair::generate().unwrap();
            let cert = params.signed_by(&key, &self.issuer).unwrap();
            Leaf {
                der: cert.der().clone(),
                key,
            }
        }
    }

    /// A leaf certificate and its key.
    struct Leaf {
        /// DER certificate.
        der: CertificateDer<'static>,
        /// Its key.
        key: KeyPair,
    }

    /// An rcgen name from (type, value) pairs, in order.
    fn dn(entries: &[(DnType, &str)]) -> DistinguishedName {
        let mut name = DistinguishedName::new();
        for (kind, value) in entries {
            name.push(kind.clone(), *value);
        }
        name
    }

    /// A server presenting `chain` (leaf first) with the leaf's key.
    fn server(leaf: &Leaf, rest: &[&CertificateDer<'static>]) -> TlsAcceptor {
        let mut chain = vec![leaf.der.clone()];
        chain.extend(rest.iter().map(|der| (*der).clone()));
        let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(leaf.key.serialize_der()));
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ServerConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .unwrap();
        TlsAcceptor::from(Arc::new(config))
    }

    /// A policy over `roots` with the built-in interception list.
    fn policy(roots: Arc<RootCertStore>, pins: Vec<[u8; 32]>) -> TlsPolicy {
        TlsPolicy::new(roots, pins, Arc::new(InterceptionCas::built_in().unwrap()))
    }

    /// Probes `acceptor` over an in-memory pipe.
    async fn handshake(acceptor: TlsAcceptor, name: &str, policy: &TlsPolicy) -> TlsOutcome {
        let (client, server) = tokio::io::duplex(1 << 16);
        let serving = tokio::spawn(async move { acceptor.accept(server).await.map(drop) });
        let outcome = probe_tls(client, name, policy, Duration::from_secs(10)).await;
        serving.abort();
        outcome
    }

    /// SHA-256 as lower-case hex.
    fn sha256_hex(bytes: &[u8]) -> String {
        to_hex(&Sha256::digest(bytes))
    }

    #[tokio::test]
    async fn valid_chain_for_the_right_name() {
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        let leaf = ca.leaf("canary.test");
        let outcome = handshake(
            server(&leaf, &[ca.issuer.der()]),
            "canary.test",
            &policy(ca.roots(), vec![]),
        )
        .await;
        assert_eq!(
            (outcome.valid, outcome.error.as_deref()),
            (true, None),
            "{outcome:?}"
        );
        assert_eq!(outcome.chain.len(), 2);
        let first = &outcome.chain[0];
        assert_eq!(first.subject, "CN=canary.test");
        assert_eq!(first.issuer, "CN=Canary Test CA");
        assert_eq!(first.sha256, sha256_hex(&leaf.der));
        assert_eq!(
            first.spki_sha256,
            sha256_hex(&leaf.key.subject_public_key_info())
        );
        assert_eq!(outcome.chain[1].sha256, sha256_hex(ca.issuer.der()));
        assert_eq!(outcome.known_ca, None);
    }

    #[tokio::test]
    async fn wrong_name_is_invalid_but_recorded() {
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        let leaf = ca.leaf("canary.test");
        let outcome = handshake(
            server(&leaf, &[]),
            "other.test",
            &policy(ca.roots(), vec![]),
        )
        .await;
        assert!(!outcome.valid);
        let error = outcome.error.unwrap();
        assert!(
            error.starts_with(
                "invalid peer certificate: certificate not valid for name \"other.test\""
            ),
            "{error}"
        );
        assert_eq!(outcome.chain.len(), 1);
        assert_eq!(outcome.chain[0].sha256, sha256_hex(&leaf.der));
    }

    #[tokio::test]
    async fn unknown_issuer_is_invalid() {
        let real = Ca::new(&[(DnType::CommonName, "Real CA")]);
        let other = Ca::new(&[(DnType::CommonName, "Other CA")]);
        let leaf = other.leaf("canary.test");
        let outcome = handshake(
            server(&leaf, &[other.issuer.der()]),
            "canary.test",
            &policy(real.roots(), vec![]),
        )
        .await;
        assert!(!outcome.valid);
        assert_eq!(
            outcome.error.as_deref(),
            Some("invalid peer certificate: UnknownIssuer")
        );
        assert_eq!(outcome.chain[1].subject, "CN=Other CA");
        assert_eq!(outcome.known_ca, None);
    }

    #[tokio::test]
    async fn pins_must_appear_in_the_chain() {
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        let leaf = ca.leaf("canary.test");
        let ca_pin: [u8; 32] = Sha256::digest(ca.issuer.key().subject_public_key_info()).into();
        let pinned_ca = policy(ca.roots(), vec![[7; 32], ca_pin]);
        let outcome = handshake(server(&leaf, &[ca.issuer.der()]), "canary.test", &pinned_ca).await;
        assert_eq!((outcome.valid, outcome.error), (true, None));

        let elsewhere = policy(ca.roots(), vec![[7; 32]]);
        let outcome = handshake(server(&leaf, &[ca.issuer.der()]), "canary.test", &elsewhere).await;
        assert!(!outcome.valid);
        assert_eq!(outcome.error.as_deref(), Some("pin mismatch"));
        assert_eq!(outcome.chain.len(), 2);
    }

    #[tokio::test]
    async fn known_interception_ca_by_subject_name() {
        let real = Ca::new(&[(DnType::CommonName, "Real CA")]);
        let lab = Ca::new(&[
            (DnType::CommonName, "Qaznet Trust Network"),
            (DnType::OrganizationName, "proxy-audit lab"),
        ]);
        let leaf = lab.leaf("canary.test");
        let expected = Some("Qaznet Trust Network (Kazakhstan, 2019)");

        let outcome = handshake(
            server(&leaf, &[lab.issuer.der()]),
            "canary.test",
            &policy(real.roots(), vec![]),
        )
        .await;
        assert_eq!(
            outcome.chain[1].subject,
            "O=proxy-audit lab,CN=Qaznet Trust Network"
        );
        assert_eq!(outcome.known_ca.as_deref(), expected);
        assert!(!outcome.valid);

        // A proxy that presents only the leaf it minted is caught by the issuer's name.
        let outcome = handshake(
            server(&leaf, &[]),
            "canary.test",
            &policy(real.roots(), vec![]),
        )
        .await;
        assert_eq!(outcome.chain.len(), 1);
        assert_eq!(outcome.known_ca.as_deref(), expected);

        // Even a chain the roots trust is named.
        let outcome = handshake(
            server(&leaf, &[]),
            "canary.test",
            &policy(lab.roots(), vec![]),
        )
        .await;
        assert!(outcome.valid);
        assert_eq!(outcome.known_ca.as_deref(), expected);
    }

    #[tokio::test]
    async fn ip_literal_server_names_work() {
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        let v4 = ca.leaf("127.0.0.1");
        let outcome = handshake(server(&v4, &[]), "127.0.0.1", &policy(ca.roots(), vec![])).await;
        assert_eq!((outcome.valid, outcome.error), (true, None));
        let outcome = handshake(server(&v4, &[]), "127.0.0.2", &policy(ca.roots(), vec![])).await;
        assert!(!outcome.valid);
        let v6 = ca.leaf("::1");
        let outcome = handshake(server(&v6, &[]), "[::1]", &policy(ca.roots(), vec![])).await;
        assert_eq!((outcome.valid, outcome.error), (true, None));
    }

    #[tokio::test]
    async fn recorded_chain_is_capped() {
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        let leaf = ca.leaf("canary.test");
        let copies = vec![ca.issuer.der(); MAX_RECORDED_CERTS + 4];
        let outcome = handshake(
            server(&leaf, &copies),
            "canary.test",
            &policy(ca.roots(), vec![]),
        )
        .await;
        assert_eq!(
            outcome.chain.len(),
            MAX_RECORDED_CERTS,
            "{:?}",
            outcome.error
        );
        assert_eq!(outcome.chain[0].sha256, sha256_hex(&leaf.der));
    }

    #[tokio::test]
    async fn a_thousand_certificate_chain_is_refused_unread_and_flagged() {
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        let leaf = ca.leaf("canary.test");
        let copies = vec![ca.issuer.der(); 999];
        let outcome = handshake(
            server(&leaf, &copies),
            "canary.test",
            &policy(ca.roots(), vec![]),
        )
        .await;
        assert!(!outcome.valid);
        assert!(outcome.oversized, "{:?}", outcome.error);
        assert!(outcome.chain.is_empty());
        let error = outcome.error.unwrap_or_default();
        assert!(error.contains("too large"), "{error}");

        // A chain of a normal size is not flagged, valid or not.
        let outcome = handshake(
            server(&leaf, &[]),
            "other.test",
            &policy(ca.roots(), vec![]),
        )
        .await;
        assert!(!outcome.valid && !outcome.oversized);
    }

    // Paused time: the 30 s step passes instantly once nothing else can run.
    #[tokio::test(start_paused = true)]
    async fn silent_peer_times_out() {
        let (client, _silent_server) = tokio::io::duplex(1 << 16);
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        let policy = policy(ca.roots(), vec![]);
        let probe = probe_tls(client, "canary.test", &policy, Duration::from_secs(30));
        // The outer bound only turns a missing inner one into a failure instead of a hang.
        let outcome = tokio::time::timeout(Duration::from_secs(60), probe)
            .await
            .expect("probe_tls must bound the handshake itself");
        assert!(!outcome.valid);
        assert!(outcome.chain.is_empty());
        let error = outcome.error.unwrap();
        assert!(error.starts_with("timeout"), "{error}");
    }

    #[tokio::test]
    async fn garbage_from_the_peer_is_an_error() {
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        for garbage in [
            &b"HTTP/1.1 400 Bad Request\r\n\r\n"[..],
            &[0x16, 0x03, 0x03, 0xff, 0xff, 0x02],
            &[0x15; 64],
        ] {
            let (client, mut server) = tokio::io::duplex(1 << 16);
            server.write_all(garbage).await.unwrap();
            let outcome = probe_tls(
                client,
                "canary.test",
                &policy(ca.roots(), vec![]),
                Duration::from_secs(10),
            )
            .await;
            assert!(!outcome.valid);
            assert!(outcome.chain.is_empty());
            let error = outcome.error.unwrap();
            assert!(
                !error.is_empty() && !error.starts_with("timeout"),
                "{error}"
            );
            drop(server);
        }
    }

    #[tokio::test]
    async fn bad_names_and_unusable_roots_are_errors() {
        let (client, _server) = tokio::io::duplex(64);
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        let outcome = probe_tls(
            client,
            "not a name!",
            &policy(ca.roots(), vec![]),
            Duration::from_secs(1),
        )
        .await;
        assert!(outcome.error.unwrap().contains("invalid server name"));

        let (client, _server) = tokio::io::duplex(64);
        let empty = policy(Arc::new(RootCertStore::empty()), vec![]);
        let outcome = probe_tls(client, "canary.test", &empty, Duration::from_secs(1)).await;
        assert!(!outcome.valid);
        assert!(outcome.error.unwrap().contains("cannot verify"));
    }

    /// The 2019 Qaznet root as Chromium's blocklist publishes it
    /// (net/data/ssl/blocklist/00309c73….pem).
    const QAZNET_2019: &str = "\
MIIFSTCCAzGgAwIBAgIUPZV/yh+MD8hpLAGZTrVSMQNbnfEwDQYJKoZIhvcNAQEL
BQAwLDELMAkGA1UEBhMCS1oxHTAbBgNVBAMTFFFhem5ldCBUcnVzdCBOZXR3b3Jr
MB4XDTE2MDIwMjA1NDEwMFoXDTQ2MDIwMjA1NDEwMFowLDELMAkGA1UEBhMCS1ox
HTAbBgNVBAMTFFFhem5ldCBUcnVzdCBOZXR3b3JrMIICIjANBgkqhkiG9w0BAQEF
AAOCAg8AMIICCgKCAgEA7h21UOirIlpNf3QgRyiTUnRKqrB4MgVTvs/Gq62AQqD8
sBex3K+a2FmG77xWXUhbvc4MAZ/dnX0oziZ+7iV7iQp4tNuIiMxAO9RR2N8AAAyZ
uHN+J7jcDjYsHvqXRLxepK47GDMjDTwDfb37pXNgVNhkm3d4cZgRjlSXWPbFV6Fw
eOdmxWOIqhus4eTf7lKgIjhUMwiDs/Gz9dnTTkgG6iOh78qAmFQ0IqxAAZqHMt+r
Ec1aXIHC/P2MrwL0zCr+kREv0bUbTwHAHlt+dy3++IcE7b81hy6QabUZBo7ApxUd
puGcrGsRPvWhIMWTNj7FE6aBFEPAjVq4XPcOCfSIBH9A2fyj5PMueMtlCzD6FSSk
bVu0hdhyrnZAe0b0knBLE58EOvDPP88OWoNsPs+WykZAQo3FX1fdU34dpzaTEx+G
oMqZ8cb3bVbO+NUIvhGnvG6/JmoQIYjiRnvj/O8qqKgm2gjmADfliuuN8LBOl2yN
WeqLjsYAM9mr9xOFs8lwPCCXpW/sWqjVs2mEoeVybGBi0MIyfv3cqIiliEGCI4aR
P0+Pm1VI6JVobDFbwAgvrFniUuSxmDFVUcWoM+jEFN7kbekuEinYDxOEQVSs5WK4
W4txDGpudGzmrkBxlXBaWqfuqG7u0/Pu3Jq6a0v8TjzVRJgTcGlI0vNUUIfJ56cC
AwEAAaNjMGEwDwYDVR0TAQH/BAUwAwEB/zAdBgNVHQ4EFgQU9JS/3lC222skPZ73
vjquNtf7DgUwHwYDVR0jBBgwFoAU9JS/3lC222skPZ73vjquNtf7DgUwDgYDVR0P
AQH/BAQDAgFGMA0GCSqGSIb3DQEBCwUAA4ICAQCxhROILS3MrJB5QqEk/5eeFtnb
hvpz/cOntClxnD+0AYDscZieT7qn9fXYyRSzjZ8ZmfFGRUQILPepReuNLe3AAacG
iziWb5Xr8zEsJrLQPLX1s0PflBmH651WvjoRKk6fpU4LRj0rTzm1EUJa03PojfMJ
SBJ17PdKyffdGwEkjI9LZGxwGP96Vc+ZJalHF7QJCrsqosPy6DvmwgOyrZbEyod2
y3GW48l6i01t8324MX1jRy6l3fhhUBGdE/SFzlgQ4poyhwNIBCFSD9t0fc7GreaP
zva3ixqGEWBBDM5tBCC3r0S8fNeABi6kpmHHwO2arKxgv+EqqRozX0IC7AVFR1KK
hycGmRZQjUJyD7ayoFhpCdaGyP09lPGIhgi8VsB+7DinYogKVURCQYLDNxP3hcPy
DFzQWkThq6UvQX1EJWzEU2cCh02YdNitleIN/Yy5JYqYC5wReek0ZPNf9pbPliRN
klRmGRk91VhuLyfJrrewaWq4gnUEUkBmh17BabjVvVxIi0oWWI1R9K9fuioMzNJg
WtPi46uQYtL6pUUlvAC3pbpRzdze9gioPpkppB116NztzoZTd1aO/eI74RsEByUn
px6XqFcS4kAE1jCGA56sv9r3v+FBJgS88tYmtUqD11s81meApfpT5w6E6HMo+7oV
0L2lqTDp5kJmWjnt7g==";

    #[test]
    fn real_qaznet_root_matches_the_built_in_list_three_ways() {
        let base64: String = QAZNET_2019.split_whitespace().collect();
        let pem = format!("-----BEGIN CERTIFICATE-----\n{base64}\n-----END CERTIFICATE-----\n");
        let der = CertificateDer::from_pem_slice(pem.as_bytes()).unwrap();
        let facts = cert_facts(&der);
        assert_eq!(facts.subject, "CN=Qaznet Trust Network,C=KZ");
        assert_eq!(facts.issuer, facts.subject);
        assert_eq!(
            facts.sha256,
            "00309c736dd661da6f1eb24173aa849944c168a43a15bffd192eecfdb6f8dbd2"
        );
        assert_eq!(
            facts.spki_sha256,
            "b5ba8dd7f89564c2889d3d6453c84998c77824919b64ea0835aa62986591be50"
        );
        let list = InterceptionCas::built_in().unwrap();
        let expected = Some("Qaznet Trust Network (Kazakhstan, 2019)");
        let unnamed = |facts: &CertFacts| CertFacts {
            subject: "CN=x".to_owned(),
            issuer: "CN=x".to_owned(),
            ..facts.clone()
        };
        let by_cert = CertFacts {
            spki_sha256: String::new(),
            ..unnamed(&facts)
        };
        let by_key = CertFacts {
            sha256: String::new(),
            ..unnamed(&facts)
        };
        let by_name = CertFacts {
            sha256: String::new(),
            spki_sha256: String::new(),
            ..facts
        };
        for facts in [by_cert, by_key, by_name] {
            assert_eq!(
                list.matches(std::slice::from_ref(&facts)),
                expected,
                "{facts:?}"
            );
        }
    }

    #[test]
    fn wide_strings_and_unknown_types_are_formatted() {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        let mut name = DistinguishedName::new();
        name.push(
            DnType::CommonName,
            DnValue::BmpString("Qaznet Trust Network".try_into().unwrap()),
        );
        name.push(
            DnType::OrganizationName,
            DnValue::UniversalString("Қазнет".try_into().unwrap()),
        );
        name.push(DnType::CustomDnType(vec![1, 2, 3, 4]), "custom");
        params.distinguished_name = name;
        let cert = params.self_signed(&KeyPair::generate().unwrap()).unwrap();
        let facts = cert_facts(cert.der());
        assert_eq!(
            facts.subject,
            "1.2.3.4=custom,O=Қазнет,CN=Qaznet Trust Network"
        );
        assert_eq!(common_names(&facts.subject), ["Qaznet Trust Network"]);
    }

    #[test]
    fn the_probe_can_be_spawned() {
        fn assert_send<T: Send>(_: &T) {}
        let ca = Ca::new(&[(DnType::CommonName, "Canary Test CA")]);
        let policy = policy(ca.roots(), vec![]);
        let (client, _server) = tokio::io::duplex(64);
        assert_send(&probe_tls(
            client,
            "canary.test",
            &policy,
            Duration::from_secs(1),
        ));
    }

    #[test]
    fn unparsable_certificates_keep_their_hash() {
        let facts = cert_facts(b"not a certificate");
        assert_eq!(facts.subject, UNPARSABLE);
        assert_eq!(facts.issuer, UNPARSABLE);
        assert_eq!(facts.sha256, sha256_hex(b"not a certificate"));
        assert!(facts.spki_sha256.is_empty());
    }

    #[test]
    fn names_are_escaped_and_read_back() {
        let ca = Ca::new(&[
            (DnType::CountryName, "US"),
            (DnType::OrganizationName, "Superfish, Inc."),
            (DnType::CommonName, " #Superfish, Inc.+\"x\"\n "),
        ]);
        let facts = cert_facts(ca.issuer.der());
        assert_eq!(
            facts.subject,
            "CN=\\ #Superfish\\, Inc.\\+\\\"x\\\"\\0A\\ ,O=Superfish\\, Inc.,C=US"
        );
        assert_eq!(common_names(&facts.subject), [" #Superfish, Inc.+\"x\"\n "]);
        assert_eq!(facts.issuer, facts.subject);
    }
}
