//! [`TlsFront`]: an https endpoint on loopback in front of any emulator, with a private CA of
//! its own, for clients that refuse plain http (azure-identity and the Azure SDK for Rust
//! require an https authority; boto3 and google-auth can be pointed at a CA bundle too).
//! Requires the testkit feature `tls`.

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::net::{TcpListener, TcpStream};
use tokio::task::JoinHandle;

/// A TLS-terminating proxy on `127.0.0.1`: each connection is decrypted and forwarded as it is
/// to the backend (a plain-http emulator). Its certificate is for `localhost` and `127.0.0.1`,
/// signed by a CA made for this front alone ([`ca_pem`](Self::ca_pem)). Stops when dropped.
///
/// ```
/// use federated_credentials_testkit::{GcpMetadataEmulator, TlsFront};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let mds = GcpMetadataEmulator::builder().start().await?;
/// let front = TlsFront::start(mds.local_addr()).await?;
/// assert!(front.url().starts_with("https://localhost:"));
/// assert!(front.ca_pem().starts_with("-----BEGIN CERTIFICATE-----"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug)]
pub struct TlsFront {
    addr: SocketAddr,
    ca_pem: String,
    task: JoinHandle<()>,
}

impl Drop for TlsFront {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn other(e: impl std::fmt::Display) -> std::io::Error {
    std::io::Error::other(e.to_string())
}

impl TlsFront {
    /// Starts the front for `backend` on an ephemeral port.
    pub async fn start(backend: SocketAddr) -> std::io::Result<TlsFront> {
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).map_err(other)?;
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(
            rcgen::DnType::CommonName,
            "federated-credentials testkit CA",
        );
        let ca = rcgen::CertifiedIssuer::self_signed(
            ca_params,
            rcgen::KeyPair::generate().map_err(other)?,
        )
        .map_err(other)?;
        let leaf_key = rcgen::KeyPair::generate().map_err(other)?;
        let leaf =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .map_err(other)?
                .signed_by(&leaf_key, &ca)
                .map_err(other)?;
        let server = rustls::ServerConfig::builder_with_provider(Arc::new(
            rustls::crypto::aws_lc_rs::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .map_err(other)?
        .with_no_client_auth()
        .with_single_cert(
            vec![leaf.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(leaf_key.serialize_der().into()),
        )
        .map_err(other)?;
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let task = tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut plain) = TcpStream::connect(backend).await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut plain).await;
                });
            }
        });
        Ok(TlsFront {
            addr,
            ca_pem: ca.pem(),
            task,
        })
    }

    /// `https://localhost:PORT`.
    pub fn url(&self) -> String {
        format!("https://localhost:{}", self.addr.port())
    }

    /// The address it listens on.
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The CA certificate (PEM) to trust for it.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }
}
