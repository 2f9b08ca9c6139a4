//! TLS on the public HTTP port (raftvisor's `tls_certificate`/`tls_key` in `[inet_http_server]`;
//! Supervisor has none and is put behind a proxy for it).
//!
//! The files are read once, when the daemon starts: a certificate renewed on disk is served
//! after a restart. HTTP/1.1 only, as the plain port: every client of Supervisor's API speaks
//! it, and the connection cap and timeouts of [`crate::ServerOptions`] apply unchanged.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::TlsAcceptor;

/// Why the server's certificate or key could not be used; each names its file.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: cannot read the certificate chain: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("{path}: no certificate in this PEM file")]
    NoCertificate { path: PathBuf },
    #[error("{path}: cannot read the private key (PKCS#8, PKCS#1 or SEC1 PEM): {reason}")]
    Key { path: PathBuf, reason: String },
    #[error("{certificate} with {key}: {reason}")]
    Mismatch {
        certificate: PathBuf,
        key: PathBuf,
        reason: String,
    },
}

/// A server TLS acceptor from a PEM certificate chain (leaf first) and its PEM private key.
pub fn server_acceptor(certificate: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
    let chain = CertificateDer::pem_file_iter(certificate)
        .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
        .map_err(|e| TlsError::Certificate {
            path: certificate.to_path_buf(),
            reason: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate {
            path: certificate.to_path_buf(),
        });
    }
    let private_key = PrivateKeyDer::from_pem_file(key).map_err(|e| TlsError::Key {
        path: key.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mismatch = |reason: String| TlsError::Mismatch {
        certificate: certificate.to_path_buf(),
        key: key.to_path_buf(),
        reason,
    };
    let provider = Arc::new(provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| mismatch(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(chain, private_key)
        .map_err(|e| mismatch(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// rustls' ring provider: no post-quantum key exchange (aws-lc-rs has it, at the price of a
/// second, larger C library in the binary, whose code pages count in the daemon's resident
/// memory), which neither Supervisor's clients nor Python's `ssl` offer today.
#[allow(deprecated)]
fn provider() -> rustls::crypto::CryptoProvider {
    rustls::crypto::ring::default_provider()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_and_empty_files_name_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let cert = dir.path().join("cert.pem");
        let key = dir.path().join("key.pem");
        let e = server_acceptor(&cert, &key).err().unwrap().to_string();
        assert!(
            e.starts_with(&format!("{}: cannot read", cert.display())),
            "{e}"
        );
        std::fs::write(&cert, "not a pem\n").unwrap();
        let e = server_acceptor(&cert, &key).err().unwrap().to_string();
        assert_eq!(
            e,
            format!("{}: no certificate in this PEM file", cert.display())
        );
    }
}
