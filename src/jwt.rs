//! Reading the claims of a JWT without verifying it. We only need the expiry (to know when
//! to fetch a new token) and a few identity claims for logs; the receiving service verifies
//! the signature.
//!
//! ```
//! use federated_credentials::jwt::decode_unverified;
//! use std::time::{Duration, UNIX_EPOCH};
//!
//! // {"alg":"none"} . {"iss":"https://accounts.google.com","sub":"1","exp":1700003600} .
//! let jwt = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2FjY291bnRzLmdvb2dsZS5jb20iLCJzdWIiOiIxIiwiZXhwIjoxNzAwMDAzNjAwfQ.";
//! let claims = decode_unverified(jwt)?;
//! assert_eq!(claims.expires_at(), Some(UNIX_EPOCH + Duration::from_secs(1_700_003_600)));
//! # Ok::<(), federated_credentials::jwt::JwtShapeError>(())
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use serde::Deserialize;

/// The claims the crate reads from an (unverified) JWT.
///
/// Claims missing from the token are `None`; other claims are ignored.
#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
#[non_exhaustive]
pub struct UnverifiedClaims {
    /// Issuer.
    pub iss: Option<String>,
    /// Subject.
    pub sub: Option<String>,
    /// Authorized party (for Google ID tokens, the service account's numeric id).
    pub azp: Option<String>,
    /// Email claim, when present.
    pub email: Option<String>,
    /// Expiry, seconds since the epoch.
    pub exp: Option<u64>,
    /// Issued-at, seconds since the epoch.
    pub iat: Option<u64>,
    /// Not-before, seconds since the epoch.
    pub nbf: Option<u64>,
    /// Audiences: the `aud` string, or the strings of an `aud` array (empty without one).
    #[serde(default)]
    pub aud: Vec<String>,
}

impl UnverifiedClaims {
    /// The expiry as a time; `None` without an `exp` (or one beyond what the platform's
    /// time can hold, which [`decode_unverified`] rejects).
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.exp
            .and_then(|s| UNIX_EPOCH.checked_add(Duration::from_secs(s)))
    }
}

/// Why a string could not be read as a JWT. Never contains the token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JwtShapeError(&'static str);

impl std::fmt::Display for JwtShapeError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for JwtShapeError {}

/// Decodes the payload of a compact JWT (`header.payload.signature`) without verifying it.
pub fn decode_unverified(jwt: &str) -> Result<UnverifiedClaims, JwtShapeError> {
    let mut parts = jwt.trim().split('.');
    let (Some(_header), Some(payload), Some(_sig), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(JwtShapeError(
            "not a compact JWT (expected three dot-separated parts)",
        ));
    };
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .map_err(|_| JwtShapeError("JWT payload is not base64url"))?;
    let value: serde_json::Value =
        serde_json::from_slice(&bytes).map_err(|_| JwtShapeError("JWT payload is not JSON"))?;
    if !value.is_object() {
        return Err(JwtShapeError("JWT payload is not a JSON object"));
    }
    // `exp`/`iat` may legally be JSON floats (NumericDate); accept them.
    let mut claims = UnverifiedClaims {
        iss: string_claim(&value, "iss"),
        sub: string_claim(&value, "sub"),
        azp: string_claim(&value, "azp"),
        email: string_claim(&value, "email"),
        exp: numeric_date(&value, "exp"),
        iat: numeric_date(&value, "iat"),
        nbf: numeric_date(&value, "nbf"),
        aud: match value.get("aud") {
            Some(serde_json::Value::String(a)) => vec![a.clone()],
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .filter_map(|a| a.as_str().map(str::to_owned))
                .collect(),
            _ => Vec::new(),
        },
    };
    if value.get("exp").is_some() && claims.exp.is_none() {
        return Err(JwtShapeError("JWT `exp` claim is not a number"));
    }
    if claims.exp.is_some() && claims.expires_at().is_none() {
        return Err(JwtShapeError("JWT `exp` claim is out of range"));
    }
    claims.iss = claims.iss.filter(|s| !s.is_empty());
    Ok(claims)
}

fn string_claim(v: &serde_json::Value, name: &str) -> Option<String> {
    v.get(name).and_then(|c| c.as_str()).map(str::to_owned)
}

fn numeric_date(v: &serde_json::Value, name: &str) -> Option<u64> {
    let c = v.get(name)?;
    c.as_u64().or_else(|| {
        c.as_f64()
            .filter(|f| f.is_finite() && *f >= 0.0)
            .map(|f| f as u64)
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jwt_with_payload(payload: &str) -> String {
        let e = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        format!(
            "{}.{}.sig",
            e.encode(r#"{"alg":"RS256"}"#),
            e.encode(payload)
        )
    }

    #[test]
    fn reads_google_claims_and_float_exp() {
        let jwt = jwt_with_payload(
            r#"{"iss":"https://accounts.google.com","azp":"1234","sub":"1234","aud":"x","exp":1.7e9,"iat":1699996400}"#,
        );
        let c = decode_unverified(&jwt).unwrap();
        assert_eq!(c.azp.as_deref(), Some("1234"));
        assert_eq!(c.exp, Some(1_700_000_000));
        assert_eq!(
            c.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_000_000))
        );
    }

    /// Regression (fuzz target jwt_payload, crash after 27k executions): an `exp` near
    /// u64::MAX overflowed `UNIX_EPOCH + Duration` in `expires_at` and panicked, for any
    /// token a metadata server, URL or IAM returned.
    #[test]
    fn out_of_range_exp_is_rejected_not_panicked_on() {
        for exp in ["18446744073709551615", "1e300"] {
            let jwt = jwt_with_payload(&format!(r#"{{"exp":{exp}}}"#));
            let err = decode_unverified(&jwt).unwrap_err();
            assert_eq!(err.to_string(), "JWT `exp` claim is out of range", "{exp}");
        }
        let huge = UnverifiedClaims {
            exp: Some(u64::MAX),
            ..Default::default()
        };
        assert_eq!(huge.expires_at(), None);
    }

    #[test]
    fn reads_present_claims_and_leaves_missing_ones_none() {
        // {"alg":"none"} . {"iss":"https://accounts.google.com","sub":"1","exp":1700003600} .
        let jwt = "eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2FjY291bnRzLmdvb2dsZS5jb20iLCJzdWIiOiIxIiwiZXhwIjoxNzAwMDAzNjAwfQ.";
        let claims = decode_unverified(jwt).unwrap();
        assert_eq!(claims.iss.as_deref(), Some("https://accounts.google.com"));
        assert_eq!(
            claims.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_003_600))
        );
        // {"alg":"none"} . {"sub":"1"} .
        let claims = decode_unverified("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIn0.").unwrap();
        assert_eq!(claims.sub.as_deref(), Some("1"));
        assert_eq!((claims.iss, claims.email, claims.exp), (None, None, None));
        // {"alg":"none"} . {"sub":"1","exp":2000000000} .
        let claims =
            decode_unverified("eyJhbGciOiJub25lIn0.eyJzdWIiOiIxIiwiZXhwIjoyMDAwMDAwMDAwfQ.")
                .unwrap();
        assert_eq!(claims.exp, Some(2_000_000_000));
        assert_eq!(claims.sub.as_deref(), Some("1"));
        let mut claims = UnverifiedClaims::default();
        assert_eq!(claims.expires_at(), None);
        claims.exp = Some(1_700_003_600);
        assert_eq!(
            claims.expires_at(),
            Some(UNIX_EPOCH + Duration::from_secs(1_700_003_600))
        );
    }

    #[test]
    fn shape_errors_say_what_is_wrong() {
        let err = decode_unverified("opaque-access-token").unwrap_err();
        assert_eq!(
            err.to_string(),
            "not a compact JWT (expected three dot-separated parts)"
        );
        assert!(decode_unverified("not a jwt").is_err());
        // {"alg":"none"} . {"exp":"soon"} .
        let err = decode_unverified("eyJhbGciOiJub25lIn0.eyJleHAiOiJzb29uIn0.").unwrap_err();
        assert_eq!(err.to_string(), "JWT `exp` claim is not a number");
    }

    #[test]
    fn rejects_bad_shapes_without_echoing_input() {
        for bad in [
            "a.b",
            "a.b.c.d",
            "a.!!!.c",
            &jwt_with_payload("[1]"),
            &jwt_with_payload(r#"{"exp":"soon"}"#),
        ] {
            let err = decode_unverified(bad).unwrap_err();
            assert!(!err.to_string().contains(bad));
        }
        assert_eq!(
            decode_unverified(&jwt_with_payload("{}")).unwrap(),
            UnverifiedClaims::default()
        );
    }
}
