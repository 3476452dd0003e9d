//! Entry points for the cargo-fuzz targets in `fuzz/` and for the seed-corpus smoke test
//! (`tests/fuzz_smoke.rs`). Feature `fuzzing`; **not** part of the public API and not
//! covered by semver.
//!
//! Most parsers of upstream answers are private. Rather than make them public, this module
//! (compiled only with the `fuzzing` feature, and hidden from the documentation) wraps each one
//! in a function taking raw bytes. A feature rather than the `cfg(fuzzing)` that cargo-fuzz
//! sets was chosen so that the same entry points also build on stable in `cargo test
//! --all-features`, where the smoke test replays the committed corpora.
//!
//! Every entry point must not panic on any input; beyond that each checks a few invariants
//! of its parser (an accepted credential is unexpired, a region is a region name, an error
//! message stays bounded whatever the input).

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::Error;
use crate::config::ExternalAccountConfig;
use crate::context::{Context, StaticEnv};
use crate::exchange::{AssumeRoleWithWebIdentity, GoogleStsExchange};
use crate::http::HttpResponse;
use crate::source::{ExecutableToken, TokenFormat};
use crate::token::format_rfc3339;

/// The fixed "now" every entry point judges expiry against (2027-01-15).
pub const NOW_UNIX_SECS: u64 = 1_800_000_000;

/// A fuzz entry point: raw bytes in, a panic on a bug.
pub type Entry = fn(&[u8]);

/// Every fuzz target: its name (the file `fuzz/fuzz_targets/<name>.rs` and the corpus
/// directory `fuzz/corpus/<name>/`) and its entry point.
pub const TARGETS: &[(&str, Entry)] = &[
    ("sts_xml_success", sts_xml_success),
    ("sts_xml_error", sts_xml_error),
    ("google_sts_json", google_sts_json),
    ("iam_json", iam_json),
    ("imds_credentials_json", imds_credentials_json),
    ("external_account_config", external_account_config),
    ("executable_output", executable_output),
    ("jwt_payload", jwt_payload),
    ("region", region),
];

fn now() -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(NOW_UNIX_SECS)
}

/// An answer with this status and body, as the HTTP layer hands it to a parser.
fn response(status: u16, body: &[u8]) -> HttpResponse {
    HttpResponse::with_body(status, body)
}

/// The first byte picks a mode, the rest is the input.
fn split(data: &[u8]) -> (u8, &[u8]) {
    match data.split_first() {
        Some((mode, rest)) => (*mode, rest),
        None => (0, data),
    }
}

/// Formats the error every way a caller might, and checks that upstream text cannot make
/// the message grow without bound (every upstream string is sanitized and truncated).
fn exercise_error(err: &Error, input_len: usize) {
    let shown = format!("{err} {err:?}");
    let mut source = std::error::Error::source(err);
    while let Some(s) = source {
        let _ = s.to_string();
        source = s.source();
    }
    // Fixed text (hints, role ARNs) plus at most a few sanitized fields of upstream text.
    assert!(
        shown.len() <= 4096 + input_len.min(4096),
        "an error message of {} bytes from a {input_len}-byte input",
        shown.len()
    );
}

/// A context with an empty environment, built once (it owns an HTTP client, which is slow to
/// create).
fn empty_env() -> &'static Context {
    static CTX: std::sync::OnceLock<Context> = std::sync::OnceLock::new();
    CTX.get_or_init(|| Context::builder().env(StaticEnv::empty()).build())
}

fn sts() -> AssumeRoleWithWebIdentity {
    AssumeRoleWithWebIdentity::new("arn:aws:iam::123456789012:role/fuzz")
}

/// STS `AssumeRoleWithWebIdentityResponse` XML, as a `200` body.
pub fn sts_xml_success(data: &[u8]) {
    match sts().parse_success(&response(200, data), now()) {
        Ok(creds) => {
            assert!(creds.expiration() > now(), "accepted expired credentials");
            let _ = format_rfc3339(creds.expiration());
            assert!(!creds.access_key_id().is_empty());
            let _ = format!("{creds:?}");
        }
        Err(e) => exercise_error(&e, data.len()),
    }
}

/// STS `ErrorResponse` XML (or anything else) with an error status picked by the first byte.
pub fn sts_xml_error(data: &[u8]) {
    let (mode, body) = split(data);
    let status = [400, 403, 404, 408, 429, 500, 502, 503][usize::from(mode % 8)];
    let err = sts().parse_error(&response(status, body));
    if status >= 500 || status == 429 || status == 408 {
        assert!(err.is_transient(), "HTTP {status} must stay transient");
    }
    exercise_error(&err, body.len());
}

/// Google STS token-exchange JSON: a success body (even first byte) or an OAuth error body
/// with an error status.
pub fn google_sts_json(data: &[u8]) {
    let (mode, body) = split(data);
    if mode % 2 == 0 {
        match GoogleStsExchange::parse_success(&response(200, body), now()) {
            Ok(token) => {
                if let Some(at) = token.expires_at() {
                    assert!(at > now(), "accepted an expired access token");
                    let _ = format_rfc3339(at);
                }
                let _ = format!("{token:?}");
            }
            Err(e) => exercise_error(&e, body.len()),
        }
    } else {
        let status = [400, 401, 403, 429, 500, 503][usize::from(mode / 2 % 6)];
        let err = GoogleStsExchange::parse_error(&response(status, body));
        exercise_error(&err, body.len());
    }
}

/// IAM Credentials JSON: `generateAccessToken` success, `generateIdToken` success, or a
/// `google.rpc.Status` error body, by the first byte.
pub fn iam_json(data: &[u8]) {
    use crate::exchange::impersonation::{parse_access_token, parse_id_token, rpc_error};
    let (mode, body) = split(data);
    match mode % 3 {
        0 => match parse_access_token(body) {
            Ok(token) => {
                let _ = token.expires_at().map(format_rfc3339);
                let _ = format!("{token:?}");
            }
            Err(e) => exercise_error(&e, body.len()),
        },
        1 => match parse_id_token(body) {
            Ok(token) => {
                let _ = token.expires_at().map(format_rfc3339);
                let _ = format!("{token:?}");
            }
            Err(e) => exercise_error(&e, body.len()),
        },
        _ => {
            let status = [400, 401, 403, 404, 429, 500, 503][usize::from(mode / 3 % 7)];
            let err = rpc_error(&response(status, body), "sa@p.iam.gserviceaccount.com");
            exercise_error(&err, body.len());
        }
    }
}

/// The IMDS role-credentials JSON.
pub fn imds_credentials_json(data: &[u8]) {
    use crate::source::aws::imds::parse::parse_credentials;
    match parse_credentials(data, "fuzz-role") {
        Ok(creds) => {
            assert!(!creds.access_key_id().is_empty());
            let _ = creds.expiry().map(format_rfc3339);
            let _ = format!("{creds:?}");
        }
        Err(e) => exercise_error(&e, data.len()),
    }
}

/// An `external_account` credential configuration file.
pub fn external_account_config(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match ExternalAccountConfig::from_json(text) {
        Ok(config) => {
            let _ = format!("{config:?}");
            let _ = config.impersonated_service_account();
        }
        Err(e) => {
            assert_eq!(e.kind(), crate::ErrorKind::Configuration, "{e}");
            exercise_error(&e, data.len());
        }
    }
}

/// What a pluggable-auth executable prints (version-1 response JSON). The first byte says
/// whether an `output_file` is configured (which makes `expiration_time` required).
pub fn executable_output(data: &[u8]) {
    let (mode, body) = split(data);
    let Ok(text) = std::str::from_utf8(body) else {
        return;
    };
    let source = ExecutableToken::new("/usr/bin/fuzz-token --flag");
    match source.parse_output(text, now(), mode % 2 == 1) {
        Ok(token) => {
            if let Some(at) = token.expires_at() {
                assert!(at > now(), "accepted an expired token");
                let _ = format_rfc3339(at);
            }
            let _ = format!("{token:?}");
        }
        Err(e) => exercise_error(&e, body.len()),
    }
}

/// JWT payload decoding: the input as a compact JWT (even first byte), or as the payload of
/// one (odd: the bytes are base64url-encoded into the middle part, to reach the JSON parser).
pub fn jwt_payload(data: &[u8]) {
    use base64::Engine;
    let (mode, body) = split(data);
    let jwt = if mode % 2 == 0 {
        match std::str::from_utf8(body) {
            Ok(s) => s.to_string(),
            Err(_) => return,
        }
    } else {
        format!(
            "eyJhbGciOiJSUzI1NiJ9.{}.c2ln",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(body)
        )
    };
    match crate::jwt::decode_unverified(&jwt) {
        Ok(claims) => {
            let _ = claims.expires_at().map(format_rfc3339);
            let _ = format!("{claims:?}");
        }
        Err(e) => assert!(e.to_string().len() < 200),
    }
}

/// Region strings: the availability-zone-to-region strip of IMDS placement answers, the
/// role listing, and the region that builds the STS host name.
pub fn region(data: &[u8]) {
    use crate::source::aws::imds::parse::{region_from_placement, role_from_listing};
    use crate::source::aws::is_region_name;
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match region_from_placement(text) {
        Ok(region) => {
            assert!(is_region_name(&region), "`{region}` is not a region name");
            assert!(text.trim().starts_with(&region));
        }
        Err(e) => exercise_error(&e, data.len()),
    }
    if let Some(role) = role_from_listing(text) {
        assert!(!role.is_empty() && !role.contains(['/', '\n', ' ']));
    }
    if let Ok(url) = sts().region(text).resolve_endpoint(empty_env()) {
        let host = url.host_str().unwrap_or_default();
        let region = text.trim();
        assert!(
            host == format!("sts.{region}.amazonaws.com")
                || host == format!("sts.{region}.amazonaws.com.cn"),
            "region `{region}` made host `{host}`"
        );
        assert_eq!(url.path(), "/");
        assert!(url.query().is_none());
    }
    let _ = TokenFormat::Text.extract(text);
}
