//! What OAuth 2.0 token endpoints share (Google STS now; Microsoft Entra next): client
//! authentication, the lenient token response, and the error body (RFC 6749 §5.2, with the
//! fields Entra adds) turned into a typed error with a hint chosen by the endpoint.

use std::time::{Duration, SystemTime};

use base64::Engine;
use serde::Deserialize;

use crate::error::{Error, ErrorKind, Service, sanitize_upstream_text};
use crate::http::HttpResponse;
use crate::token::AccessToken;

/// HTTP Basic client authentication (RFC 6749 §2.3.1): `Basic base64(id:secret)`; a public
/// client has an empty secret.
pub(crate) fn basic_client_auth(client_id: &str, client_secret: &str) -> String {
    let pair = format!("{client_id}:{client_secret}");
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(pair)
    )
}

/// A 200 token response: `access_token` (required), `token_type`, and `expires_in` counted
/// from `requested_at` (a number, a float, or a string of digits, as endpoints differ; absent
/// means unknown). `endpoint` names the endpoint in errors ("the token exchange").
pub(crate) fn parse_token_response(
    response: &HttpResponse,
    service: Service,
    endpoint: &str,
    requested_at: SystemTime,
) -> Result<AccessToken, Error> {
    #[derive(Deserialize)]
    struct Body {
        access_token: Option<String>,
        token_type: Option<String>,
        expires_in: Option<serde_json::Value>,
    }
    let invalid = |what: &str| {
        Error::new(
            ErrorKind::InvalidResponse,
            service,
            format!("{endpoint} answered HTTP {} but {what}", response.status),
        )
        .with_http_status(response.status)
    };
    let body: Body = serde_json::from_slice(&response.body)
        .map_err(|_| invalid("the body is not a JSON object"))?;
    let token = body
        .access_token
        .filter(|t| !t.is_empty())
        .ok_or_else(|| invalid("access_token is missing"))?;
    let expires_at = match body.expires_in {
        None | Some(serde_json::Value::Null) => None,
        Some(v) => {
            let secs = v
                .as_i64()
                .or_else(|| v.as_f64().map(|f| f as i64))
                .or_else(|| v.as_str().and_then(|s| s.trim().parse::<i64>().ok()))
                .ok_or_else(|| invalid("expires_in is not a number"))?;
            if secs <= 0 {
                return Err(invalid("expires_in is not positive"));
            }
            // Checked: a huge expires_in from a broken endpoint must not overflow the time.
            Some(
                requested_at
                    .checked_add(Duration::from_secs(secs as u64))
                    .ok_or_else(|| invalid("expires_in is out of range"))?,
            )
        }
    };
    let mut access = AccessToken::new(token, expires_at);
    if let Some(t) = body.token_type.filter(|t| !t.is_empty()) {
        access = access.with_token_type(t);
    }
    Ok(access)
}

/// An OAuth error body: RFC 6749 `error`, `error_description`, `error_uri`, and Entra's
/// `correlation_id` and `trace_id` (absent elsewhere).
#[derive(Debug, Deserialize)]
pub(crate) struct OAuthErrorBody {
    pub(crate) error: String,
    pub(crate) error_description: Option<String>,
    pub(crate) error_uri: Option<String>,
    pub(crate) correlation_id: Option<String>,
    pub(crate) trace_id: Option<String>,
    /// Entra's AADSTS numbers.
    pub(crate) error_codes: Option<Vec<i64>>,
}

/// The error for a non-200 answer of a token endpoint. An OAuth error body becomes an
/// upstream error with `error` as its code, the (sanitized) description, and `hint`'s advice
/// for that body; anything else (an HTML page from a proxy, an empty 503) is described by
/// status, transient when the status is.
pub(crate) fn token_endpoint_error(
    response: &HttpResponse,
    service: Service,
    endpoint: &str,
    hint: impl Fn(&OAuthErrorBody) -> Option<String>,
) -> Error {
    let Ok(body) = serde_json::from_slice::<OAuthErrorBody>(&response.body) else {
        return response.error(
            if response.is_transient_status() {
                ErrorKind::Upstream
            } else {
                ErrorKind::InvalidResponse
            },
            service,
            format!(
                "{endpoint} answered HTTP {}: {}",
                response.status,
                sanitize_upstream_text(&response.body_text(), 200)
            ),
        );
    };
    let mut text = format!(
        "{}: {}",
        sanitize_upstream_text(&body.error, 100),
        sanitize_upstream_text(
            body.error_description
                .as_deref()
                .unwrap_or("(no description)"),
            500
        )
    );
    if let Some(uri) = &body.error_uri {
        text.push_str(&format!(" - {}", sanitize_upstream_text(uri, 200)));
    }
    if let Some(hint) = hint(&body) {
        text.push_str(". ");
        text.push_str(&hint);
    }
    let mut err = response.error(ErrorKind::Upstream, service, text);
    if let Some(id) = body.trace_id.as_deref().or(body.correlation_id.as_deref()) {
        err = err.with_request_id(sanitize_upstream_text(id, 100));
    }
    err.with_upstream_code(body.error)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::UNIX_EPOCH;

    fn response(status: u16, body: &str) -> HttpResponse {
        HttpResponse::with_body(status, body)
    }

    #[test]
    fn basic_auth_encodes_id_and_secret_and_public_clients() {
        assert_eq!(basic_client_auth("id", "secret"), "Basic aWQ6c2VjcmV0");
        assert_eq!(basic_client_auth("id", ""), "Basic aWQ6");
    }

    #[test]
    fn token_responses_name_the_endpoint_and_the_field() {
        let at = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ok = parse_token_response(
            &response(
                200,
                r#"{"access_token":"t","expires_in":"3599","token_type":"Bearer"}"#,
            ),
            Service::GoogleSts,
            "the token exchange",
            at,
        )
        .unwrap();
        assert_eq!(ok.expires_at(), Some(at + Duration::from_secs(3599)));
        let err = parse_token_response(
            &response(200, r#"{"expires_in":60}"#),
            Service::GoogleSts,
            "the token endpoint",
            at,
        )
        .unwrap_err();
        assert_eq!(err.kind(), ErrorKind::InvalidResponse);
        assert_eq!(
            err.message(),
            "the token endpoint answered HTTP 200 but access_token is missing"
        );
    }

    #[test]
    fn error_bodies_keep_code_hint_and_trace_id() {
        let body = r#"{"error":"invalid_client","error_description":"AADSTS700213: No matching federated identity record found.","error_codes":[700213],"trace_id":"t-1","correlation_id":"c-1"}"#;
        let err = token_endpoint_error(
            &response(401, body),
            Service::GoogleSts,
            "the token endpoint",
            |b| {
                b.error_description
                    .as_deref()
                    .is_some_and(|d| d.starts_with("AADSTS700213"))
                    .then(|| "add a federated credential".to_string())
            },
        );
        assert_eq!(err.kind(), ErrorKind::Upstream);
        assert_eq!(err.upstream_code(), Some("invalid_client"));
        assert_eq!(err.request_id(), Some("t-1"));
        assert!(
            err.message().ends_with(
                "No matching federated identity record found.. add a federated credential"
            ),
            "{err}"
        );
        let page = token_endpoint_error(
            &response(502, "<html>bad gateway</html>"),
            Service::GoogleSts,
            "the token endpoint",
            |_| None,
        );
        assert!(page.is_transient());
        assert_eq!(page.upstream_code(), None);
        let teapot = token_endpoint_error(&response(418, ""), Service::GoogleSts, "x", |_| None);
        assert_eq!(teapot.kind(), ErrorKind::InvalidResponse);
    }
}
