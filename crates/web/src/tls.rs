//! TLS on the public HTTP port (raftvisor's `tls_certificate`/`tls_key` in `[inet_http_server]`;
//! Supervisor has none and is put behind a proxy for it).
//!
//! The files are read when the daemon starts and again at each SIGHUP ([`ServerTls::reload`]),
//! so that a renewed certificate is served without stopping the programs; files that no longer
//! load leave the previous certificate in place. HTTP/1.1 only, as the plain port: every client
//! of Supervisor's API speaks it, and the connection cap and timeouts of
//! [`crate::ServerOptions`] apply unchanged.

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
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

/// The server side of the inet port's TLS: its files, and the acceptor they last loaded into.
pub struct ServerTls {
    certificate: PathBuf,
    key: PathBuf,
    current: RwLock<TlsAcceptor>,
}

impl ServerTls {
    /// Loads `certificate` (PEM chain, leaf first) and `key` (its PEM private key).
    pub fn load(certificate: &Path, key: &Path) -> Result<ServerTls, TlsError> {
        Ok(ServerTls {
            certificate: certificate.to_path_buf(),
            key: key.to_path_buf(),
            current: RwLock::new(server_acceptor(certificate, key)?),
        })
    }

    /// Reads the same files again; on an error the previous certificate stays in use. New
    /// connections get the new one, open ones keep theirs.
    pub fn reload(&self) -> Result<(), TlsError> {
        let fresh = server_acceptor(&self.certificate, &self.key)?;
        if let Ok(mut current) = self.current.write() {
            *current = fresh;
        }
        Ok(())
    }

    /// The acceptor for the next connection (a cheap clone of a shared config).
    pub(crate) fn acceptor(&self) -> TlsAcceptor {
        match self.current.read() {
            Ok(current) => current.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// The certificate file, for messages.
    pub fn certificate(&self) -> &Path {
        &self.certificate
    }
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("certificate", &self.certificate)
            .field("key", &self.key)
            .finish()
    }
}

/// A server TLS acceptor from a PEM certificate chain (leaf first) and its PEM private key.
fn server_acceptor(certificate: &Path, key: &Path) -> Result<TlsAcceptor, TlsError> {
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
