//! Trust anchors and the rustls client configuration behind every [`HttpClient`]: the
//! platform's roots, Mozilla's roots compiled in (`webpki-roots`) when the platform has none,
//! and private CAs added on the builder. Building a configuration never fails: with no trust
//! anchors at all, https requests fail with a configuration error and plain http (metadata
//! servers, loopback) keeps working.
//!
//! [`HttpClient`]: super::HttpClient

use std::sync::{Arc, OnceLock};

use rustls::RootCertStore;
use rustls::client::danger::ServerCertVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::CertificateDer;

/// Where a configuration's trust anchors come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Anchors {
    /// The platform's roots (`rustls-platform-verifier`: the OS store, `SSL_CERT_FILE`,
    /// `SSL_CERT_DIR`), plus any private CAs.
    Platform,
    /// Mozilla's roots compiled into this crate, plus any private CAs.
    Bundled,
    /// Only the private CAs the caller added.
    PrivateOnly,
    /// None: https is refused before a connection is made.
    None,
}

/// A client configuration and where its anchors come from.
#[derive(Debug, Clone)]
pub(super) struct TlsSetup {
    pub(super) config: rustls::ClientConfig,
    pub(super) anchors: Anchors,
}

/// What the caller asked to trust.
#[derive(Debug, Clone, Default)]
pub(super) struct TrustChoice {
    pub(super) platform: bool,
    pub(super) bundled_fallback: bool,
    pub(super) extra: Vec<CertificateDer<'static>>,
}

/// The configuration every default [`HttpClient`](super::HttpClient) in the process shares,
/// built once: loading the platform roots is most of the cost of building a client (about
/// 2 ms), so sharing it makes a new provider cheap; connection pools stay per client. The
/// platform's roots when it has any, else the bundled ones (logged once at DEBUG).
pub(super) fn shared_default() -> Result<&'static TlsSetup, rustls::Error> {
    static SHARED: OnceLock<Result<TlsSetup, rustls::Error>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            build(&TrustChoice {
                platform: true,
                bundled_fallback: true,
                extra: Vec::new(),
            })
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// A configuration for `choice`. Private CAs are added to the platform's roots, or to the
/// bundled ones where the platform has none (or `platform` is off and the fallback is on).
/// Fails only if no crypto provider offers TLS 1.2 or 1.3, which the compiled-in aws-lc-rs
/// always does.
pub(super) fn build(choice: &TrustChoice) -> Result<TlsSetup, rustls::Error> {
    let provider = crypto_provider();
    // With private CAs, the shared default already knows whether this platform has roots of
    // its own: they are not loaded a second time only to find out again. (The shared default
    // has no private CAs, so this never recurses into its own initialisation.)
    let platform = choice.platform
        && (choice.extra.is_empty()
            || shared_default().is_ok_and(|s| s.anchors == Anchors::Platform));
    if platform {
        match rustls_platform_verifier::Verifier::new_with_extra_roots(
            choice.extra.iter().cloned(),
            provider.clone(),
        ) {
            Ok(verifier) => {
                return Ok(TlsSetup {
                    config: client_config(&provider, Arc::new(verifier))?,
                    anchors: Anchors::Platform,
                });
            }
            Err(e) => tracing::debug!(
                error = %e,
                "no usable platform CA certificates (SSL_CERT_FILE, SSL_CERT_DIR or the OS store)"
            ),
        }
    }
    let mut roots = RootCertStore::empty();
    if choice.bundled_fallback {
        roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    }
    let (added, ignored) = roots.add_parsable_certificates(choice.extra.iter().cloned());
    if ignored > 0 {
        tracing::debug!(
            ignored,
            "private CA certificates rustls could not parse were skipped"
        );
    }
    let anchors = match (choice.bundled_fallback, added) {
        (true, _) => Anchors::Bundled,
        (false, 0) => Anchors::None,
        (false, _) => Anchors::PrivateOnly,
    };
    if anchors == Anchors::Bundled && choice.platform {
        tracing::debug!(
            roots = webpki_roots::TLS_SERVER_ROOTS.len(),
            "the platform has no CA certificates: trusting the Mozilla roots compiled into federated-credentials (webpki-roots)"
        );
    }
    let verifier: Arc<dyn ServerCertVerifier> =
        match rustls::client::WebPkiServerVerifier::builder_with_provider(
            Arc::new(roots),
            provider.clone(),
        )
        .build()
        {
            Ok(v) => v,
            // Only an empty store is refused; https is never attempted with it.
            Err(_) => Arc::new(NoAnchors(provider.clone())),
        };
    Ok(TlsSetup {
        config: client_config(&provider, verifier)?,
        anchors,
    })
}

/// The process's default crypto provider when it supports TLS 1.2/1.3, else aws-lc-rs.
fn crypto_provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| {
            CryptoProvider::get_default()
                .filter(|p| {
                    rustls::ClientConfig::builder_with_provider(Arc::clone(p))
                        .with_safe_default_protocol_versions()
                        .is_ok()
                })
                .cloned()
                .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()))
        })
        .clone()
}

/// TLS 1.2 and 1.3, HTTP/1.1 ALPN, no client certificate: what reqwest would build.
fn client_config(
    provider: &Arc<CryptoProvider>,
    verifier: Arc<dyn ServerCertVerifier>,
) -> Result<rustls::ClientConfig, rustls::Error> {
    let mut config = rustls::ClientConfig::builder_with_provider(provider.clone())
        .with_safe_default_protocol_versions()?
        .dangerous()
        .with_custom_certificate_verifier(verifier)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(config)
}

/// A verifier with no trust anchors: refuses every certificate. Requests never get this far
/// (https is refused up front when there are no anchors); it keeps the configuration total.
#[derive(Debug)]
struct NoAnchors(Arc<CryptoProvider>);

impl ServerCertVerifier for NoAnchors {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &rustls::pki_types::ServerName<'_>,
        _ocsp_response: &[u8],
        _now: rustls::pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Err(rustls::Error::InvalidCertificate(
            rustls::CertificateError::UnknownIssuer,
        ))
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
