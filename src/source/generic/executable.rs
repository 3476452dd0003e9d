//! [`ExecutableToken`]: a subject token printed by a program (Google's "pluggable auth",
//! `credential_source.executable`). Gated by `GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1`,
//! bounded by a timeout, with the optional output-file cache and the version-1 response schema.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use async_trait::async_trait;
use serde::Deserialize;

use crate::context::Context;
use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::source::SubjectTokenSource;
use crate::token::{SubjectToken, TokenType, format_rfc3339};

/// The variable that must be `1` for executables to run.
pub const ALLOW_EXECUTABLES_ENV: &str = "GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES";
const MIN_TIMEOUT: Duration = Duration::from_millis(5_000);
const MAX_TIMEOUT: Duration = Duration::from_millis(120_000);
const DEFAULT_TIMEOUT: Duration = Duration::from_millis(30_000);

/// A token printed by a program, as JSON (`version`, `success`, `token_type`, `id_token` or
/// `saml_response`, `expiration_time`).
///
/// Nothing runs unless [`ALLOW_EXECUTABLES_ENV`] is `1` in the context's environment.
///
/// ```
/// use federated_credentials::source::{ExecutableToken, SubjectTokenSource};
/// use std::time::Duration;
///
/// let source = ExecutableToken::new("/usr/local/bin/get-token --audience=x")
///     .timeout(Duration::from_secs(10))
///     .output_file("/var/run/token-cache.json");
/// source.validate()?; // checked without running anything
/// # Ok::<(), federated_credentials::Error>(())
/// ```
#[derive(Debug, Clone)]
pub struct ExecutableToken {
    command: String,
    timeout: Duration,
    output_file: Option<PathBuf>,
    audience: Option<String>,
    token_type: TokenType,
    impersonated_email: Option<String>,
}

impl ExecutableToken {
    /// Runs `command` (split like a shell would, but run without one).
    pub fn new(command: impl Into<String>) -> Self {
        Self {
            command: command.into(),
            timeout: DEFAULT_TIMEOUT,
            output_file: None,
            audience: None,
            token_type: TokenType::Jwt,
            impersonated_email: None,
        }
    }

    /// How long the program may run, 5–120 s (default 30 s).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// A file the program writes its response to, read first as a cache.
    pub fn output_file(mut self, path: impl Into<PathBuf>) -> Self {
        self.output_file = Some(path.into());
        self
    }

    /// The audience passed as `GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE`.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = Some(audience.into());
        self
    }

    /// The expected token type, passed as `GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE`.
    pub fn token_type(mut self, token_type: TokenType) -> Self {
        self.token_type = token_type;
        self
    }

    /// The impersonated service account, passed as `GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL`.
    pub fn impersonated_email(mut self, email: impl Into<String>) -> Self {
        self.impersonated_email = Some(email.into());
        self
    }

    fn program_and_args(&self) -> Result<Vec<String>, Error> {
        let words = split_command(&self.command).ok_or_else(|| {
            Error::config(
                "credential_source.executable.command",
                "has an unterminated quote",
            )
        })?;
        if words.is_empty() {
            return Err(Error::config(
                "credential_source.executable.command",
                "is empty",
            ));
        }
        Ok(words)
    }

    fn error(&self, kind: ErrorKind, message: impl std::fmt::Display) -> Error {
        let program = self
            .program_and_args()
            .ok()
            .and_then(|w| w.into_iter().next())
            .unwrap_or_default();
        Error::new(kind, Service::Executable, format!("`{program}`: {message}"))
    }

    fn cached(&self, now: SystemTime) -> Result<Option<SubjectToken>, Error> {
        let Some(path) = &self.output_file else {
            return Ok(None);
        };
        let contents = match std::fs::read_to_string(path) {
            Ok(c) if c.trim().is_empty() => return Ok(None),
            Ok(c) => c,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => {
                return Err(self.error(
                    ErrorKind::Configuration,
                    format!("cannot read output_file {}: {e}", path.display()),
                ));
            }
        };
        let response: ExecutableResponse = serde_json::from_str(&contents).map_err(|_| {
            self.error(
                ErrorKind::InvalidResponse,
                format!(
                    "output_file {} is not a valid executable response",
                    path.display()
                ),
            )
        })?;
        // Expired, failed, or undated responses are not reused: the program runs again.
        if response.success != Some(true)
            || response.expiration_time.is_none_or(|t| epoch(t) <= now)
        {
            return Ok(None);
        }
        self.interpret(response, now, true).map(Some)
    }

    fn interpret(
        &self,
        r: ExecutableResponse,
        now: SystemTime,
        need_expiry: bool,
    ) -> Result<SubjectToken, Error> {
        let invalid =
            |what: &str| self.error(ErrorKind::InvalidResponse, format!("the response {what}"));
        match r.version {
            None => return Err(invalid("has no `version`")),
            Some(1) => {}
            Some(v) => {
                return Err(self.error(
                    ErrorKind::InvalidResponse,
                    format!("response version {v} is not supported (only 1)"),
                ));
            }
        }
        match r.success {
            None => return Err(invalid("has no `success`")),
            Some(false) => {
                let code = r
                    .code
                    .ok_or_else(|| invalid("reports failure without a `code`"))?;
                let message = r
                    .message
                    .ok_or_else(|| invalid("reports failure without a `message`"))?;
                return Err(self
                    .error(
                        ErrorKind::Upstream,
                        format!(
                            "reported failure: {code}: {}",
                            sanitize_upstream_text(&message, 300)
                        ),
                    )
                    .with_upstream_code(code));
            }
            Some(true) => {}
        }
        let urn = r.token_type.ok_or_else(|| invalid("has no `token_type`"))?;
        let token_type = match TokenType::from_urn(&urn) {
            Some(t @ (TokenType::Jwt | TokenType::IdToken | TokenType::Saml2)) => t,
            _ => return Err(invalid(&format!("has an unsupported token_type `{urn}`"))),
        };
        let token = match token_type {
            TokenType::Saml2 => r
                .saml_response
                .ok_or_else(|| invalid("has no `saml_response`"))?,
            _ => r.id_token.ok_or_else(|| invalid("has no `id_token`"))?,
        };
        if token.is_empty() {
            return Err(invalid("has an empty token"));
        }
        let mut subject = SubjectToken::new(token, token_type);
        match r.expiration_time {
            Some(t) if epoch(t) <= now => {
                return Err(self.error(
                    ErrorKind::Expired,
                    format!(
                        "returned a token that expired at {}",
                        format_rfc3339(epoch(t))
                    ),
                ));
            }
            Some(t) => subject = subject.with_expiry(epoch(t)),
            None if need_expiry => {
                return Err(invalid(
                    "has no `expiration_time`, which is required when output_file is configured",
                ));
            }
            None => {}
        }
        Ok(subject)
    }

    async fn run(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        let words = self.program_and_args()?;
        let mut cmd = tokio::process::Command::new(&words[0]);
        // Its own process group, so that a timeout kills what it started too (`sh -c`, a
        // wrapper script), not only the direct child.
        #[cfg(unix)]
        cmd.process_group(0);
        cmd.args(&words[1..])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .env("GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE", self.token_type.urn())
            .env("GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE", "0");
        if let Some(aud) = &self.audience {
            cmd.env("GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE", aud);
        }
        if let Some(email) = &self.impersonated_email {
            cmd.env("GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL", email);
        }
        if let Some(path) = &self.output_file {
            cmd.env("GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE", path);
        }
        let child = cmd.spawn().map_err(|e| {
            self.error(
                ErrorKind::Configuration,
                format!("cannot be started ({e}); check credential_source.executable.command"),
            )
        })?;
        let group = child.id();
        let output = match tokio::time::timeout(self.timeout, child.wait_with_output()).await {
            Ok(r) => r.map_err(|e| {
                self.error(ErrorKind::Transport, format!("failed while running ({e})"))
            })?,
            Err(_) => {
                // Dropping the child kills it (kill_on_drop); this kills the rest of its group.
                kill_process_group(group);
                return Err(self.error(
                    ErrorKind::Transport,
                    format!(
                        "did not finish within {} ms (credential_source.executable.timeout_millis)",
                        self.timeout.as_millis()
                    ),
                ));
            }
        };
        if !output.status.success() {
            let stderr = String::from_utf8_lossy(&output.stderr);
            return Err(self.error(
                ErrorKind::Upstream,
                format!(
                    "exited with {}: {}",
                    output.status,
                    sanitize_upstream_text(&stderr, 300)
                ),
            ));
        }
        // The response is on stdout only; stderr is the program's diagnostics.
        let text = String::from_utf8_lossy(&output.stdout);
        if text.trim().is_empty() {
            return Err(self.error(
                ErrorKind::InvalidResponse,
                "exited successfully but printed nothing on stdout; it must print the executable response JSON there",
            ));
        }
        self.parse_output(text.trim(), ctx.now(), self.output_file.is_some())
    }

    /// Reads what the program printed: the version-1 executable response JSON.
    pub(crate) fn parse_output(
        &self,
        text: &str,
        now: SystemTime,
        need_expiry: bool,
    ) -> Result<SubjectToken, Error> {
        let response: ExecutableResponse = serde_json::from_str(text).map_err(|_| {
            self.error(
                ErrorKind::InvalidResponse,
                "printed something that is not the executable response JSON",
            )
        })?;
        self.interpret(response, now, need_expiry)
    }
}

/// Sends SIGKILL to the process group `leader` leads (the executable was started as a group
/// leader). Best effort: the group may already be gone.
#[cfg(unix)]
fn kill_process_group(leader: Option<u32>) {
    let Some(pid) = leader
        .and_then(|id| i32::try_from(id).ok())
        .and_then(rustix::process::Pid::from_raw)
    else {
        return;
    };
    if let Err(e) = rustix::process::kill_process_group(pid, rustix::process::Signal::KILL) {
        tracing::debug!(error = %e, "could not kill the executable's process group (already gone?)");
    }
}

#[cfg(not(unix))]
fn kill_process_group(_leader: Option<u32>) {}

fn epoch(secs: i64) -> SystemTime {
    if secs <= 0 {
        UNIX_EPOCH
    } else {
        UNIX_EPOCH + Duration::from_secs(secs as u64)
    }
}

/// The version-1 response a pluggable-auth executable prints.
#[derive(Deserialize)]
struct ExecutableResponse {
    version: Option<i64>,
    success: Option<bool>,
    token_type: Option<String>,
    id_token: Option<String>,
    saml_response: Option<String>,
    expiration_time: Option<i64>,
    code: Option<String>,
    message: Option<String>,
}

/// Splits a command line into words: whitespace separates, single quotes keep everything,
/// double quotes keep everything but `\"` and `\\`, a backslash outside quotes escapes the
/// next character. `None` for an unterminated quote.
fn split_command(line: &str) -> Option<Vec<String>> {
    let mut words = Vec::new();
    let mut word = String::new();
    let mut in_word = false;
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            c if c.is_whitespace() => {
                if in_word {
                    words.push(std::mem::take(&mut word));
                    in_word = false;
                }
            }
            '\'' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '\'' => break,
                        c => word.push(c),
                    }
                }
            }
            '"' => {
                in_word = true;
                loop {
                    match chars.next()? {
                        '"' => break,
                        '\\' => match chars.next()? {
                            c @ ('"' | '\\') => word.push(c),
                            c => {
                                word.push('\\');
                                word.push(c);
                            }
                        },
                        c => word.push(c),
                    }
                }
            }
            '\\' => {
                in_word = true;
                word.push(chars.next()?);
            }
            c => {
                in_word = true;
                word.push(c);
            }
        }
    }
    if in_word {
        words.push(word);
    }
    Some(words)
}

#[async_trait]
impl SubjectTokenSource for ExecutableToken {
    async fn subject_token(&self, ctx: &Context) -> Result<SubjectToken, Error> {
        self.validate()?;
        if ctx.env().get(ALLOW_EXECUTABLES_ENV).as_deref() != Some("1") {
            return Err(Error::config(
                "credential_source.executable",
                format!(
                    "running executables is disabled: set {ALLOW_EXECUTABLES_ENV}=1 to allow it"
                ),
            ));
        }
        if let Some(token) = self.cached(ctx.now())? {
            tracing::debug!("using the executable's output_file cache");
            return Ok(token);
        }
        self.run(ctx).await
    }

    fn name(&self) -> &'static str {
        "executable"
    }

    fn validate(&self) -> Result<(), Error> {
        self.program_and_args()?;
        if !(MIN_TIMEOUT..=MAX_TIMEOUT).contains(&self.timeout) {
            return Err(Error::config(
                "credential_source.executable.timeout_millis",
                format!(
                    "{} is out of range: 5000 to 120000",
                    self.timeout.as_millis()
                ),
            ));
        }
        if !matches!(
            self.token_type,
            TokenType::Jwt | TokenType::IdToken | TokenType::Saml2
        ) {
            return Err(Error::config(
                "subject_token_type",
                "an executable can provide jwt, id_token or saml2 tokens",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::{ManualClock, StaticEnv};

    const NOW: u64 = 1_800_000_000;

    fn ctx(allow: bool) -> Context {
        let env = if allow {
            StaticEnv::from_pairs([(ALLOW_EXECUTABLES_ENV, "1")])
        } else {
            StaticEnv::empty()
        };
        Context::builder()
            .env(env)
            .clock(ManualClock::new(UNIX_EPOCH + Duration::from_secs(NOW)))
            .build()
    }

    /// A script that prints `body` (and records its environment next to itself).
    fn script(dir: &std::path::Path, body: &str, exit: i32) -> String {
        let path = dir.join("tool.sh");
        let env_out = dir.join("env.txt");
        std::fs::write(
            &path,
            format!("#!/bin/sh\nenv | grep GOOGLE_EXTERNAL_ACCOUNT > '{}'\ncat <<'JSON'\n{body}\nJSON\nexit {exit}\n", env_out.display()),
        )
        .unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
        path.display().to_string()
    }

    fn ok_body(exp: u64) -> String {
        format!(
            r#"{{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:id_token","id_token":"header.payload.sig","expiration_time":{exp}}}"#
        )
    }

    #[test]
    fn splits_like_a_shell() {
        assert_eq!(
            split_command(r#"/bin/x --a=1  'two words' "q \" x" back\ slash"#).unwrap(),
            vec!["/bin/x", "--a=1", "two words", "q \" x", "back slash"]
        );
        assert!(split_command("x 'open").is_none());
        assert_eq!(split_command("  ").unwrap(), Vec::<String>::new());
    }

    #[tokio::test]
    async fn gated_by_the_allow_variable() {
        let err = ExecutableToken::new("/bin/true")
            .subject_token(&ctx(false))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Configuration);
        assert!(err.message().contains(ALLOW_EXECUTABLES_ENV), "{err}");
    }

    #[test]
    fn timeout_bounds() {
        assert!(
            ExecutableToken::new("x")
                .timeout(Duration::from_millis(4999))
                .validate()
                .is_err()
        );
        assert!(
            ExecutableToken::new("x")
                .timeout(Duration::from_millis(120_001))
                .validate()
                .is_err()
        );
        assert!(
            ExecutableToken::new("x")
                .timeout(Duration::from_millis(5000))
                .validate()
                .is_ok()
        );
        assert!(ExecutableToken::new("  ").validate().is_err());
    }

    #[test]
    fn documented_settings_validate() {
        ExecutableToken::new("/usr/local/bin/get-token")
            .timeout(Duration::from_secs(10))
            .validate()
            .unwrap();
        let err = ExecutableToken::new("/usr/local/bin/get-token")
            .timeout(Duration::from_secs(1))
            .validate()
            .unwrap_err();
        assert!(
            err.message()
                .starts_with("credential_source.executable.timeout_millis"),
            "{err}"
        );
        ExecutableToken::new("/usr/local/bin/get-saml-assertion")
            .token_type(TokenType::Saml2)
            .validate()
            .unwrap();
        assert!(
            ExecutableToken::new("/usr/local/bin/get-token")
                .token_type(TokenType::AccessToken)
                .validate()
                .unwrap_err()
                .message()
                .starts_with("subject_token_type")
        );
    }

    #[tokio::test]
    async fn without_the_opt_in_the_error_says_how_to_opt_in() {
        let source = ExecutableToken::new("/usr/local/bin/get-token");
        let err = source
            .subject_token(&Context::builder().env(StaticEnv::empty()).build())
            .await
            .unwrap_err();
        assert!(
            err.to_string()
                .contains("GOOGLE_EXTERNAL_ACCOUNT_ALLOW_EXECUTABLES=1"),
            "{err}"
        );
    }

    /// The programs the documentation used to run: `echo`, a cached output file with `false`
    /// as the program, and `sh -c` echoing the variables it was given.
    #[cfg(unix)]
    #[tokio::test]
    async fn runs_echo_and_sh_and_reads_a_cached_output_file() {
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([(ALLOW_EXECUTABLES_ENV, "1")]))
            .build();
        let source = ExecutableToken::new(
            r#"echo '{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"eyJhbGciOiJSUzI1NiJ9.e30.sig"}'"#,
        );
        let token = source.subject_token(&ctx).await.unwrap();
        assert_eq!(
            token.token().expose_secret(),
            "eyJhbGciOiJSUzI1NiJ9.e30.sig"
        );

        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("token-cache.json");
        let expires = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs()
            + 3600;
        std::fs::write(&cache, format!(
            r#"{{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"eyJhbGciOiJSUzI1NiJ9.e30.sig","expiration_time":{expires}}}"#
        )).unwrap();
        let source = ExecutableToken::new("false").output_file(&cache);
        let token = source.subject_token(&ctx).await.unwrap();
        assert_eq!(
            token.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(expires))
        );

        let source = ExecutableToken::new(
            r#"sh -c 'echo "{\"version\":1,\"success\":true,\"token_type\":\"urn:ietf:params:oauth:token-type:jwt\",\"id_token\":\"$GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE\"}"'"#,
        )
        .audience("//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/pool/providers/oidc");
        let token = source.subject_token(&ctx).await.unwrap();
        assert!(token.token().expose_secret().ends_with("/providers/oidc"));

        let source = ExecutableToken::new(
            r#"sh -c 'echo "{\"version\":1,\"success\":true,\"token_type\":\"urn:ietf:params:oauth:token-type:jwt\",\"id_token\":\"$GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL\"}"'"#,
        )
        .impersonated_email("app@my-project.iam.gserviceaccount.com");
        let token = source.subject_token(&ctx).await.unwrap();
        assert_eq!(
            token.token().expose_secret(),
            "app@my-project.iam.gserviceaccount.com"
        );
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn runs_the_program_with_the_documented_environment() {
        let dir = tempfile::tempdir().unwrap();
        let cmd = script(dir.path(), &ok_body(NOW + 600), 0);
        let t = ExecutableToken::new(cmd)
            .audience("//aud")
            .token_type(TokenType::IdToken)
            .impersonated_email("sa@p.iam.gserviceaccount.com")
            .subject_token(&ctx(true))
            .await
            .unwrap();
        assert_eq!(t.token().expose_secret(), "header.payload.sig");
        assert_eq!(t.token_type(), TokenType::IdToken);
        assert_eq!(
            t.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(NOW + 600))
        );
        let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
        assert!(env.contains("GOOGLE_EXTERNAL_ACCOUNT_AUDIENCE=//aud"));
        assert!(env.contains(
            "GOOGLE_EXTERNAL_ACCOUNT_TOKEN_TYPE=urn:ietf:params:oauth:token-type:id_token"
        ));
        assert!(env.contains("GOOGLE_EXTERNAL_ACCOUNT_INTERACTIVE=0"));
        assert!(
            env.contains("GOOGLE_EXTERNAL_ACCOUNT_IMPERSONATED_EMAIL=sa@p.iam.gserviceaccount.com")
        );
        assert!(!env.contains("GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE"));
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn response_schema_errors() {
        let cases = [
            (r#"{"success":true}"#, "version"),
            (
                r#"{"version":2,"success":true}"#,
                "version 2 is not supported",
            ),
            (
                r#"{"version":1,"success":false,"code":"401","message":"denied"}"#,
                "reported failure: 401: denied",
            ),
            (r#"{"version":1,"success":false}"#, "without a `code`"),
            (
                r#"{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt"}"#,
                "no `id_token`",
            ),
            (
                r#"{"version":1,"success":true,"token_type":"urn:x","id_token":"t"}"#,
                "unsupported token_type",
            ),
            ("not json", "not the executable response"),
        ];
        for (body, expect) in cases {
            let dir = tempfile::tempdir().unwrap();
            let err = ExecutableToken::new(script(dir.path(), body, 0))
                .subject_token(&ctx(true))
                .await
                .unwrap_err();
            assert!(err.message().contains(expect), "{body}: {err}");
        }
        let dir = tempfile::tempdir().unwrap();
        let err = ExecutableToken::new(script(dir.path(), &ok_body(NOW - 1), 0))
            .subject_token(&ctx(true))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::Expired);
        let dir = tempfile::tempdir().unwrap();
        let err = ExecutableToken::new(script(dir.path(), "oops", 3))
            .subject_token(&ctx(true))
            .await
            .unwrap_err();
        assert!(err.message().contains("exit"), "{err}");
        let err = ExecutableToken::new("/nonexistent/tool")
            .subject_token(&ctx(true))
            .await
            .unwrap_err();
        assert!(err.message().contains("cannot be started"), "{err}");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn output_file_cache() {
        let dir = tempfile::tempdir().unwrap();
        let cache = dir.path().join("cache.json");
        // a valid cached response is used without running the program
        std::fs::write(&cache, ok_body(NOW + 100)).unwrap();
        let t = ExecutableToken::new("/nonexistent/tool")
            .output_file(&cache)
            .subject_token(&ctx(true))
            .await
            .unwrap();
        assert_eq!(
            t.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(NOW + 100))
        );
        // an expired one is ignored: the program runs (and must then give an expiration_time)
        std::fs::write(&cache, ok_body(NOW - 100)).unwrap();
        let cmd = script(dir.path(), &ok_body(NOW + 900), 0);
        let t = ExecutableToken::new(&cmd)
            .output_file(&cache)
            .subject_token(&ctx(true))
            .await
            .unwrap();
        assert_eq!(
            t.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(NOW + 900))
        );
        let env = std::fs::read_to_string(dir.path().join("env.txt")).unwrap();
        assert!(env.contains("GOOGLE_EXTERNAL_ACCOUNT_OUTPUT_FILE="));
        // a malformed cache is an error
        std::fs::write(&cache, "{broken").unwrap();
        assert!(
            ExecutableToken::new(&cmd)
                .output_file(&cache)
                .subject_token(&ctx(true))
                .await
                .is_err()
        );
        // with output_file, the program's response needs an expiration_time
        std::fs::remove_file(&cache).unwrap();
        let cmd = script(
            dir.path(),
            r#"{"version":1,"success":true,"token_type":"urn:ietf:params:oauth:token-type:jwt","id_token":"a.b.c"}"#,
            0,
        );
        let err = ExecutableToken::new(&cmd)
            .output_file(&cache)
            .subject_token(&ctx(true))
            .await
            .unwrap_err();
        assert!(err.message().contains("expiration_time"), "{err}");
    }

    /// Regression: the timeout killed only the direct child; what it started survived.
    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn timeout_kills_the_program_and_what_it_started() {
        let dir = tempfile::tempdir().unwrap();
        let pid_file = dir.path().join("grandchild.pid");
        let path = dir.path().join("slow.sh");
        // The grandchild is a separate `sleep` the script waits for.
        std::fs::write(
            &path,
            format!(
                "#!/bin/sh\nsleep 300 &\necho $! > '{0}.tmp'\nmv '{0}.tmp' '{0}'\nwait\n",
                pid_file.display()
            ),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut src = ExecutableToken::new(path.display().to_string());
        // Below the 5 s minimum a configuration may ask for, to keep the test short; `run`
        // does not validate.
        src.timeout = Duration::from_secs(2);
        let err = src.run(&ctx(true)).await.unwrap_err();
        assert!(
            err.message().contains("did not finish within 2000 ms"),
            "{err}"
        );
        let pid: u32 = std::fs::read_to_string(&pid_file)
            .expect("the script started its grandchild within the timeout")
            .trim()
            .parse()
            .unwrap();
        // Killed: gone, or a zombie until whoever inherited it reaps it. The kill is
        // synchronous, but the kernel may take a moment to change the state it reports.
        let mut state = None;
        for _ in 0..100 {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            state = stat
                .rsplit_once(") ")
                .and_then(|(_, rest)| rest.chars().next());
            if matches!(state, None | Some('Z') | Some('X')) {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("the grandchild {pid} survived the timeout (state {state:?})");
    }

    #[cfg(unix)]
    #[tokio::test]
    async fn stderr_is_never_read_as_the_response() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("stderr.sh");
        std::fs::write(
            &path,
            format!("#!/bin/sh\necho '{}' >&2\n", ok_body(NOW + 600)),
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let err = ExecutableToken::new(path.display().to_string())
            .subject_token(&ctx(true))
            .await
            .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse, "{err}");
        assert!(err.message().contains("printed nothing on stdout"), "{err}");
    }
}
