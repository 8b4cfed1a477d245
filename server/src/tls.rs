//! TLS on both ends, with rustls and the `ring` provider only.
//!
//! - [`LocalCa`]: the local cluster's own CA and serving certificate (rcgen),
//!   generated on first start and kept in the data dir, like a real cluster's
//!   `ca.crt`.
//! - [`server_config`]: a rustls server config from PEM files.
//! - [`client_config`]: the relay's and the app's client config for an
//!   upstream: trust exactly the Channel's `CAPem` when it is set (pinning),
//!   the system's roots otherwise.

use anyhow::Context;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// Makes `ring` the process-wide default provider, for libraries that build
/// their own rustls configs; harmless when already set.
pub fn install_default_provider() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

/// A CA and a serving certificate it signed, as PEM.
#[derive(Debug, Clone)]
pub struct LocalCa {
    /// The CA certificate, PEM: what clients trust (`certificate-authority-data`).
    pub ca_pem: String,
    /// The serving certificate, PEM (SANs `localhost`, `127.0.0.1`, `::1`).
    pub cert_pem: String,
    /// The serving key, PEM (PKCS#8).
    pub key_pem: String,
}

impl LocalCa {
    /// Loads `ca.crt`, `server.crt`, `server.key` from `dir`, or generates and
    /// writes all three when any is missing.
    pub fn load_or_create(dir: &Path) -> anyhow::Result<LocalCa> {
        let files: [PathBuf; 3] = ["ca.crt", "server.crt", "server.key"].map(|f| dir.join(f));
        if files.iter().all(|f| f.exists()) {
            let [ca_pem, cert_pem, key_pem] = files.each_ref().map(std::fs::read_to_string);
            return Ok(LocalCa { ca_pem: ca_pem?, cert_pem: cert_pem?, key_pem: key_pem? });
        }
        let ca = LocalCa::generate()?;
        crate::secrets::write_private(&files[0], ca.ca_pem.as_bytes())?;
        crate::secrets::write_private(&files[1], ca.cert_pem.as_bytes())?;
        crate::secrets::write_private(&files[2], ca.key_pem.as_bytes())?;
        Ok(ca)
    }

    /// A new CA ("Porthole local cluster CA") and a serving certificate for
    /// loopback, both ECDSA P-256.
    pub fn generate() -> anyhow::Result<LocalCa> {
        use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair, KeyUsagePurpose};
        let ca_key = KeyPair::generate()?;
        let mut ca_params = CertificateParams::new(Vec::<String>::new())?;
        ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        ca_params.distinguished_name.push(DnType::CommonName, "Porthole local cluster CA");
        ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign, KeyUsagePurpose::DigitalSignature];
        let ca_cert = ca_params.self_signed(&ca_key)?;
        let issuer = Issuer::new(ca_params, &ca_key);

        let key = KeyPair::generate()?;
        let mut params = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string(), "::1".to_string()])?;
        params.distinguished_name.push(DnType::CommonName, "porthole-local-cluster");
        let cert = params.signed_by(&key, &issuer)?;
        Ok(LocalCa { ca_pem: ca_cert.pem(), cert_pem: cert.pem(), key_pem: key.serialize_pem() })
    }
}

/// A self-signed serving certificate for `host` (an IP address or a DNS
/// name, as its only SAN), ECDSA P-256, valid for two years: what a runner's
/// session server makes at every start. Returns (certificate PEM, key PEM).
pub fn self_signed(host: &str) -> anyhow::Result<(String, String)> {
    use rcgen::{CertificateParams, DnType, ExtendedKeyUsagePurpose, KeyPair};
    let key = KeyPair::generate()?;
    let mut params = CertificateParams::new(vec![host.to_string()])?;
    params.distinguished_name.push(DnType::OrganizationName, "Porthole session server");
    params.distinguished_name.push(DnType::CommonName, host);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::hours(1);
    params.not_after = now + time::Duration::days(2 * 365);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

/// A server config for a certificate chain and key in PEM.
pub fn server_config(cert_pem: &str, key_pem: &str) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let certs = CertificateDer::pem_slice_iter(cert_pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .context("reading certificate PEM")?;
    let key = PrivateKeyDer::from_pem_slice(key_pem.as_bytes()).context("reading key PEM")?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(certs, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// Why a Channel's `CAPem` is unusable.
#[derive(Debug)]
pub struct BadCaPem(pub String);

impl std::fmt::Display for BadCaPem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CAPem: {}", self.0)
    }
}

impl std::error::Error for BadCaPem {}

/// A client config trusting only the certificates in `ca_pem` when it is not
/// empty, else the system's roots.
pub fn client_config(ca_pem: &str) -> Result<Arc<rustls::ClientConfig>, BadCaPem> {
    let mut roots = RootCertStore::empty();
    if ca_pem.trim().is_empty() {
        let native = rustls_native_certs::load_native_certs();
        roots.add_parsable_certificates(native.certs);
    } else {
        let certs = CertificateDer::pem_slice_iter(ca_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| BadCaPem(e.to_string()))?;
        if certs.is_empty() {
            return Err(BadCaPem("no certificate in PEM".into()));
        }
        for cert in certs {
            roots.add(cert).map_err(|e| BadCaPem(e.to_string()))?;
        }
    }
    let config = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| BadCaPem(e.to_string()))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_ca_makes_working_configs() {
        let ca = LocalCa::generate().unwrap();
        server_config(&ca.cert_pem, &ca.key_pem).unwrap();
        client_config(&ca.ca_pem).unwrap();
    }

    #[test]
    fn ca_is_kept_across_starts() {
        let dir = tempfile::tempdir().unwrap();
        let a = LocalCa::load_or_create(dir.path()).unwrap();
        let b = LocalCa::load_or_create(dir.path()).unwrap();
        assert_eq!(a.ca_pem, b.ca_pem);
        assert_eq!(a.key_pem, b.key_pem);
    }

    #[test]
    fn bad_ca_pem_is_an_error() {
        assert!(client_config("-----BEGIN CERTIFICATE-----\nnope\n-----END CERTIFICATE-----\n").is_err());
        assert!(client_config("just text").is_err());
    }
}

/// Serves `router` over TLS on `listener` until `shutdown` resolves. Each
/// connection runs in its own task with HTTP/1.1 upgrades (WebSockets)
/// enabled; a failed handshake is logged and affects nobody else.
pub async fn serve_tls(
    listener: tokio::net::TcpListener,
    config: Arc<rustls::ServerConfig>,
    router: axum::Router,
    shutdown: crate::shutdown::Shutdown,
) {
    use hyper_util::rt::{TokioExecutor, TokioIo};
    use hyper_util::service::TowerToHyperService;
    let acceptor = tokio_rustls::TlsAcceptor::from(config);
    loop {
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    continue;
                }
            },
            _ = shutdown.wait() => return,
        };
        // Small writes (a TLS record, a 101, the first output) go out at
        // once instead of waiting for the peer's delayed ACK (Nagle).
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let service = TowerToHyperService::new(router.clone());
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            let tls = match tokio::time::timeout(std::time::Duration::from_secs(10), acceptor.accept(tcp)).await {
                Ok(Ok(tls)) => tls,
                Ok(Err(e)) => return tracing::debug!(%peer, error = %e, "TLS handshake failed"),
                Err(_) => return tracing::debug!(%peer, "TLS handshake timed out"),
            };
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            let conn = builder.serve_connection_with_upgrades(TokioIo::new(tls), service);
            tokio::select! {
                result = conn => if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "connection ended with an error");
                },
                _ = shutdown.wait() => {}
            }
        });
    }
}
