//! [`TokenFile`]: a token read from a file on every fetch, so that rotation by the kubelet,
//! EKS or any sidecar is picked up. Serves `AWS_WEB_IDENTITY_TOKEN_FILE` and the
//! `credential_source.file` of Google credential configurations.

use std::io::Read;
use std::path::{Path, PathBuf};

use async_trait::async_trait;

use super::TokenFormat;
use crate::context::Context;
use crate::error::{Error, ErrorKind, Service};
use crate::source::SubjectTokenSource;
use crate::token::{SubjectToken, TokenType, format_rfc3339};

/// The largest token file accepted (1 MiB); real tokens are a few KB.
const MAX_TOKEN_FILE_BYTES: u64 = 1024 * 1024;

/// A token file, re-read on every fetch.
///
/// ```
/// use federated_credentials::source::TokenFile;
/// use federated_credentials::token::TokenType;
///
/// // EKS / Kubernetes projected service account token (a JWT).
/// let projected = TokenFile::text("/var/run/secrets/eks.amazonaws.com/serviceaccount/token")
///     .setting_name("AWS_WEB_IDENTITY_TOKEN_FILE");
/// // A sidecar that writes `{"access_token": "...", ...}`.
/// let sidecar = TokenFile::json("/run/broker/token.json", "access_token")
///     .token_type(TokenType::AccessToken);
/// ```
#[derive(Debug, Clone)]
pub struct TokenFile {
    path: PathBuf,
    format: TokenFormat,
    token_type: TokenType,
    setting: &'static str,
}

impl TokenFile {
    /// A text file holding a JWT.
    pub fn text(path: impl AsRef<Path>) -> Self {
        Self {
            path: path.as_ref().to_path_buf(),
            format: TokenFormat::Text,
            token_type: TokenType::Jwt,
            setting: "token file",
        }
    }

    /// A JSON file with the token at `field`.
    pub fn json(path: impl AsRef<Path>, field: impl Into<String>) -> Self {
        Self {
            format: TokenFormat::json(field),
            ..Self::text(path)
        }
    }

    /// Sets the token type (default [`TokenType::Jwt`]).
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }

    /// Names the setting the path came from, so errors point at it, e.g.
    /// `"AWS_WEB_IDENTITY_TOKEN_FILE"` or `"credential_source.file"`.
    pub fn setting_name(mut self, setting: &'static str) -> Self {
        self.setting = setting;
        self
    }

    /// The path read.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn error(&self, kind: ErrorKind, problem: impl std::fmt::Display) -> Error {
        Error::new(
            kind,
            Service::TokenFile,
            format!("{}: {problem} {}", self.setting, self.path.display()),
        )
    }

    fn read(&self) -> Result<String, Error> {
        let file = std::fs::File::open(&self.path).map_err(|e| self.io_error(&e))?;
        let mut bytes = Vec::new();
        file.take(MAX_TOKEN_FILE_BYTES + 1)
            .read_to_end(&mut bytes)
            .map_err(|e| self.io_error(&e))?;
        if bytes.len() as u64 > MAX_TOKEN_FILE_BYTES {
            return Err(self.error(
                ErrorKind::Configuration,
                format!("larger than {MAX_TOKEN_FILE_BYTES} bytes, not a token file:"),
            ));
        }
        String::from_utf8(bytes).map_err(|_| {
            self.error(
                ErrorKind::Configuration,
                "is not UTF-8 text, not a token file:",
            )
        })
    }

    /// A missing file may appear (a projected token not mounted yet): transient. A file we
    /// may not read, or a directory, is a configuration to fix.
    fn io_error(&self, e: &std::io::Error) -> Error {
        match e.kind() {
            std::io::ErrorKind::NotFound => self
                .error(ErrorKind::NotAvailable, "no such file")
                .with_transient(true),
            std::io::ErrorKind::PermissionDenied => {
                self.error(ErrorKind::Configuration, "permission denied reading")
            }
            std::io::ErrorKind::IsADirectory => self.error(
                ErrorKind::Configuration,
                "is a directory, not a token file:",
            ),
            _ => self.error(ErrorKind::NotAvailable, format!("cannot read ({e})")),
        }
    }

    fn extract(&self, contents: String) -> Result<String, Error> {
        self.format
            .extract(&contents)
            .map_err(|problem| self.error(ErrorKind::InvalidResponse, format!("{problem}:")))
    }
}

#[async_trait]
impl SubjectTokenSource for TokenFile {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        let token = self.extract(self.read()?)?;
        if token.is_empty() {
            return Err(self
                .error(ErrorKind::NotAvailable, "empty file")
                .with_transient(true));
        }
        let mut subject = SubjectToken::new(token, self.token_type);
        if let Some(exp) = subject.jwt_exp() {
            if exp <= ctx.now() {
                return Err(self.error(
                    ErrorKind::Expired,
                    format!(
                        "holds a token that expired at {}; whatever writes the file is not rotating it:",
                        format_rfc3339(exp)
                    ),
                ));
            }
            subject = subject.with_expiry(exp);
        }
        tracing::debug!(path = %self.path.display(), "read token file");
        Ok(subject)
    }

    fn name(&self) -> &'static str {
        "token-file"
    }

    fn validate(&self) -> Result<(), Error> {
        if self.path.as_os_str().is_empty() {
            return Err(Error::config(self.setting, "the token file path is empty"));
        }
        self.format.validate()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::ManualClock;
    use base64::Engine;
    use std::time::{Duration, UNIX_EPOCH};

    fn jwt(exp: u64) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            e.encode(r#"{"alg":"RS256"}"#),
            e.encode(format!(r#"{{"sub":"s","exp":{exp}}}"#))
        )
    }

    fn ctx_at(secs: u64) -> Context {
        Context::builder()
            .clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(secs)))
            .build()
    }

    #[tokio::test]
    async fn rereads_rotated_file_and_trims() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("token");
        let src = TokenFile::text(&path);
        std::fs::write(&path, format!("{}\n\n", jwt(1000))).unwrap();
        let first = src.subject_token(&ctx_at(10)).await.unwrap();
        assert_eq!(first.token().expose_secret(), jwt(1000));
        assert_eq!(
            first.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1000))
        );
        std::fs::write(&path, jwt(2000)).unwrap();
        let second = src.subject_token(&ctx_at(10)).await.unwrap();
        assert_eq!(
            second.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(2000))
        );
    }

    #[tokio::test]
    async fn missing_empty_and_expired_files_name_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nope");
        let err = TokenFile::text(&missing)
            .setting_name("AWS_WEB_IDENTITY_TOKEN_FILE")
            .subject_token(&ctx_at(0))
            .await
            .unwrap_err();
        assert_eq!(
            err.message(),
            format!(
                "AWS_WEB_IDENTITY_TOKEN_FILE: no such file {}",
                missing.display()
            )
        );

        let empty = dir.path().join("empty");
        std::fs::write(&empty, " \n").unwrap();
        let err = TokenFile::text(&empty)
            .subject_token(&ctx_at(0))
            .await
            .unwrap_err();
        assert!(err.message().contains("empty file"), "{err}");
        assert!(err.message().contains(&empty.display().to_string()));

        let expired = dir.path().join("expired");
        std::fs::write(&expired, jwt(5)).unwrap();
        let err = TokenFile::text(&expired)
            .subject_token(&ctx_at(5))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
        assert!(!err.to_string().contains(&jwt(5)));
    }

    #[tokio::test]
    async fn token_type_path_and_setting_name_are_used() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("id-token");
        std::fs::write(&path, "eyJhbGciOiJSUzI1NiJ9.e30.sig").unwrap();
        let source = TokenFile::text(&path).token_type(TokenType::IdToken);
        assert_eq!(source.path(), path.as_path());
        let token = source.subject_token(&ctx_at(0)).await.unwrap();
        assert_eq!(
            token.token_type().urn(),
            "urn:ietf:params:oauth:token-type:id_token"
        );
        let source = TokenFile::text("/no/such/token").setting_name("AWS_WEB_IDENTITY_TOKEN_FILE");
        let err = source.subject_token(&ctx_at(0)).await.unwrap_err();
        assert_eq!(err.kind(), ErrorKind::NotAvailable);
        assert_eq!(
            err.message(),
            "AWS_WEB_IDENTITY_TOKEN_FILE: no such file /no/such/token"
        );
    }

    #[tokio::test]
    async fn json_format_reads_field() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.json");
        std::fs::write(&path, r#"{"access_token":"opaque-token","n":1}"#).unwrap();
        let tok = TokenFile::json(&path, "access_token")
            .token_type(TokenType::AccessToken)
            .subject_token(&ctx_at(0))
            .await
            .unwrap();
        assert_eq!(tok.token().expose_secret(), "opaque-token");
        let err = TokenFile::json(&path, "id_token")
            .subject_token(&ctx_at(0))
            .await
            .unwrap_err();
        assert!(err.message().contains("no field `id_token`"));
        let err = TokenFile::json(&path, "n")
            .subject_token(&ctx_at(0))
            .await
            .unwrap_err();
        assert!(err.message().contains("not a string"));
        std::fs::write(&path, "not json").unwrap();
        assert!(
            TokenFile::json(&path, "x")
                .subject_token(&ctx_at(0))
                .await
                .is_err()
        );
        assert!(TokenFile::json(&path, "").validate().is_err());
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn unreadable_file_is_a_configuration_error() {
        // As root (CI) file permissions are not enforced, so the permission case is checked
        // on the classification; a directory is unreadable for everyone.
        let source = TokenFile::text("/var/run/secrets/token");
        let denied = source.io_error(&std::io::Error::from(std::io::ErrorKind::PermissionDenied));
        assert_eq!(denied.kind(), ErrorKind::Configuration, "{denied}");
        assert!(!denied.is_transient());
        let missing = source.io_error(&std::io::Error::from(std::io::ErrorKind::NotFound));
        assert_eq!(missing.kind(), ErrorKind::NotAvailable);
        assert!(
            missing.is_transient(),
            "a projected token may not be mounted yet"
        );
        let dir = tempfile::tempdir().unwrap();
        let err = TokenFile::text(dir.path())
            .subject_token(&ctx_at(0))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration, "{err}");
        assert!(err.message().contains("is a directory"), "{err}");
    }

    #[tokio::test]
    async fn oversized_file_is_rejected() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("huge");
        std::fs::write(&path, vec![b'a'; (MAX_TOKEN_FILE_BYTES + 10) as usize]).unwrap();
        let err = TokenFile::text(&path)
            .subject_token(&ctx_at(0))
            .await
            .unwrap_err();
        assert!(err.message().contains("larger than"));
    }
}
