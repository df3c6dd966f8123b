//! A client for one registry: oci-client with Docker's credentials, blob
//! transfers with progress, and digest checks on everything fetched.

use std::path::Path;

use bytes::Bytes;
use futures_util::StreamExt;
use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::OciDescriptor;
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference, RegistryOperation};
use sha2::{Digest, Sha256};
use tokio::io::AsyncWriteExt;

use crate::cache::sha256_digest;
use crate::progress::{Progress, short};
use crate::reference::display;
use crate::{Error, media_types};

/// How to reach a registry.
#[derive(Debug, Clone, Default)]
pub struct RegistryOptions {
    /// Plain HTTP instead of HTTPS (a registry on loopback or a private network).
    pub insecure: bool,
    /// Draw progress bars for blob transfers on stderr.
    pub progress: bool,
}

/// A registry client for the registry of one reference.
pub struct Registry {
    pub(crate) client: Client,
    pub(crate) auth: RegistryAuth,
    pub(crate) host: String,
    pub(crate) progress: Progress,
    insecure: bool,
}

/// Upload chunk size (and progress granularity).
const CHUNK: usize = 1 << 20;

impl Registry {
    /// A client for `reference`'s registry, authenticating with the credentials
    /// Docker's config holds for it (anonymous when there are none).
    pub fn new(reference: &Reference, options: &RegistryOptions) -> Result<Self, Error> {
        let host = reference.resolve_registry().to_string();
        let auth = crate::auth::credentials_for(&host);
        Ok(Self::with_auth(host, auth, options))
    }

    /// A client for `host` with explicit credentials.
    pub fn with_auth(host: String, auth: RegistryAuth, options: &RegistryOptions) -> Self {
        let client = Client::new(ClientConfig {
            protocol: if options.insecure {
                ClientProtocol::Http
            } else {
                ClientProtocol::Https
            },
            ..Default::default()
        });
        Registry {
            client,
            auth,
            host,
            progress: Progress::new(options.progress),
            insecure: options.insecure,
        }
    }

    /// Checks the client's credentials against the registry (`GET /v2/`, then
    /// the bearer-token exchange when the registry asks for one). Fails with
    /// [`Error::Unauthorized`] when they are refused.
    pub async fn check_credentials(&self) -> Result<(), Error> {
        let scheme = if self.insecure { "http" } else { "https" };
        let url = format!("{scheme}://{}/v2/", self.host);
        let unauthorized = || Error::Unauthorized {
            reference: self.host.clone(),
            registry: self.host.clone(),
        };
        let mut request = reqwest::Client::new().get(&url);
        if let RegistryAuth::Basic(user, password) = &self.auth {
            request = request.basic_auth(user, Some(password));
        }
        let response = request
            .send()
            .await
            .map_err(|e| Error::from_client(&self.host, &self.host, e.into()))?;
        match response.status().as_u16() {
            200 => Ok(()),
            401 => {
                let bearer = response
                    .headers()
                    .get(reqwest::header::WWW_AUTHENTICATE)
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|v| v.trim_start().to_ascii_lowercase().starts_with("bearer"));
                if !bearer {
                    return Err(unauthorized());
                }
                // The token endpoint checks the credentials.
                let probe = Reference::with_tag(
                    self.host.clone(),
                    "skiff/login-check".into(),
                    "latest".into(),
                );
                match self
                    .client
                    .auth(&probe, &self.auth, RegistryOperation::Pull)
                    .await
                {
                    Ok(_) => Ok(()),
                    Err(OciDistributionError::AuthenticationFailure(_)) => Err(unauthorized()),
                    Err(e) => Err(Error::from_client(&self.host, &self.host, e)),
                }
            }
            status => Err(Error::from_client(
                &self.host,
                &self.host,
                OciDistributionError::ServerError {
                    code: status,
                    url,
                    message: "unexpected status for the API version check".into(),
                },
            )),
        }
    }

    /// The tags of `reference`'s repository.
    pub async fn list_tags(&self, reference: &Reference) -> Result<Vec<String>, Error> {
        self.client
            .list_tags(reference, &self.auth, None, None)
            .await
            .map(|response| response.tags)
            .map_err(|e| self.error(reference, e))
    }

    pub(crate) fn error(&self, reference: &Reference, e: OciDistributionError) -> Error {
        if let OciDistributionError::DigestError(inner) = &e {
            // oci-client checked a manifest against the reference's digest or
            // the registry's `Docker-Content-Digest` ("… Expected X, got Y").
            let text = inner.to_string();
            let (expected, actual) = match text.split_once("Expected ") {
                Some((_, rest)) => match rest.split_once(", got ") {
                    Some((expected, actual)) => (expected.to_string(), actual.to_string()),
                    None => (rest.to_string(), "something else".to_string()),
                },
                None => (
                    reference.digest().unwrap_or("its digest").to_string(),
                    text.clone(),
                ),
            };
            return Error::DigestMismatch {
                reference: display(reference),
                expected,
                actual,
            };
        }
        Error::from_client(&display(reference), &self.host, e)
    }

    /// Uploads `data` as the blob `digest` unless the repository has it already.
    pub(crate) async fn push_blob(
        &self,
        reference: &Reference,
        data: Bytes,
        digest: &str,
        label: &str,
    ) -> Result<(), Error> {
        self.client
            .store_auth_if_needed(&self.host, &self.auth)
            .await;
        if let Ok(true) = self.client.blob_exists(reference, digest).await {
            tracing::debug!("blob {digest} already in {}", display(reference));
            return Ok(());
        }
        let bar = self.progress.bar(label, Some(data.len() as u64));
        let chunks: Vec<Bytes> = (0..data.len().div_ceil(CHUNK))
            .map(|i| data.slice(i * CHUNK..((i + 1) * CHUNK).min(data.len())))
            .collect();
        let progress = bar.clone();
        let stream = futures_util::stream::iter(chunks).map(move |chunk| {
            progress.inc(chunk.len() as u64);
            Ok(chunk)
        });
        let result = self
            .client
            .push_blob_stream(reference, stream, digest)
            .await;
        bar.finish_and_clear();
        if let Err(e) = result {
            return Err(self.push_error(reference, e).await);
        }
        Ok(())
    }

    /// Classifies a failed upload. A refusal with credentials that the registry
    /// accepts (the login check passes) means they lack push access, which is
    /// worth saying instead of "wrong or missing credentials".
    async fn push_error(&self, reference: &Reference, e: OciDistributionError) -> Error {
        let error = self.error(reference, e);
        if let (Error::Unauthorized { .. }, RegistryAuth::Basic(user, _)) = (&error, &self.auth)
            && self.check_credentials().await.is_ok()
        {
            return Error::PushDenied {
                reference: display(reference),
                registry: self.host.clone(),
                user: user.clone(),
            };
        }
        error
    }

    /// Uploads a manifest; returns its digest.
    pub(crate) async fn push_manifest(
        &self,
        reference: &Reference,
        body: Vec<u8>,
    ) -> Result<String, Error> {
        let digest = sha256_digest(&body);
        let result = self
            .client
            .push_manifest_raw(
                reference,
                body,
                media_types::OCI_MANIFEST
                    .parse()
                    .expect("a valid header value"),
            )
            .await;
        if let Err(e) = result {
            return Err(self.push_error(reference, e).await);
        }
        Ok(digest)
    }

    /// Fetches the manifest `reference` names and checks it: it must hash to the
    /// reference's digest (when it has one). Returns the bytes and their digest.
    pub(crate) async fn fetch_manifest(
        &self,
        reference: &Reference,
    ) -> Result<(Bytes, String), Error> {
        let (body, _) = self
            .client
            .pull_manifest_raw(
                reference,
                &self.auth,
                &[media_types::OCI_MANIFEST, media_types::DOCKER_MANIFEST],
            )
            .await
            .map_err(|e| self.error(reference, e))?;
        let actual = sha256_digest(&body);
        if let Some(expected) = reference.digest()
            && expected != actual
        {
            return Err(Error::DigestMismatch {
                reference: display(reference),
                expected: expected.to_string(),
                actual,
            });
        }
        Ok((body, actual))
    }

    /// Downloads the blob `descriptor` names into `dest`, checking its size and
    /// digest; on any mismatch `dest` is removed and the error names the digest.
    pub(crate) async fn fetch_blob(
        &self,
        reference: &Reference,
        descriptor: &OciDescriptor,
        dest: &Path,
    ) -> Result<(), Error> {
        let result = self.fetch_blob_inner(reference, descriptor, dest).await;
        if result.is_err() {
            let _ = std::fs::remove_file(dest);
        }
        result
    }

    async fn fetch_blob_inner(
        &self,
        reference: &Reference,
        descriptor: &OciDescriptor,
        dest: &Path,
    ) -> Result<(), Error> {
        let expected = descriptor.digest.as_str();
        let size = u64::try_from(descriptor.size).unwrap_or(0);
        let mut stream = self
            .client
            .pull_blob_stream(reference, descriptor)
            .await
            .map_err(|e| self.error(reference, e))?;
        let mut file = tokio::fs::File::create(dest)
            .await
            .map_err(|e| Error::io("could not create", dest, e))?;
        let bar = self.progress.bar(short(expected), Some(size));
        let mut hasher = Sha256::new();
        let mut received = 0u64;
        let mismatch = |actual: String| Error::DigestMismatch {
            reference: display(reference),
            expected: expected.to_string(),
            actual,
        };
        while let Some(chunk) = stream.next().await {
            let chunk = match chunk {
                Ok(chunk) => chunk,
                Err(e) => {
                    bar.finish_and_clear();
                    // oci-client's own check fails the stream at its end: report
                    // what arrived in our words.
                    let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
                    if received == size && actual != expected {
                        return Err(mismatch(actual));
                    }
                    return Err(Error::from_client(
                        &display(reference),
                        &self.host,
                        OciDistributionError::IoError(e),
                    ));
                }
            };
            received += chunk.len() as u64;
            if received > size {
                bar.finish_and_clear();
                return Err(mismatch(format!(
                    "a blob larger than the {size} bytes the manifest declares"
                )));
            }
            hasher.update(&chunk);
            bar.inc(chunk.len() as u64);
            file.write_all(&chunk)
                .await
                .map_err(|e| Error::io("could not write", dest, e))?;
        }
        bar.finish_and_clear();
        file.flush()
            .await
            .map_err(|e| Error::io("could not write", dest, e))?;
        file.sync_all()
            .await
            .map_err(|e| Error::io("could not write", dest, e))?;
        let actual = format!("sha256:{}", hex::encode(hasher.finalize()));
        if actual != expected || received != size {
            return Err(mismatch(actual));
        }
        Ok(())
    }
}
