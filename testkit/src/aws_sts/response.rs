//! The XML bodies of STS answers: the `AssumeRoleWithWebIdentityResponse` success document and
//! the `ErrorResponse` document, and the `Expiration` timestamp format.

use std::time::SystemTime;

use super::error::StsError;
use super::{IssuedCredentials, IssuedWebIdentityToken};
use crate::server::Response;
use crate::timestamp;

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";
const CONTENT_TYPE: &str = "text/xml";
/// The header that carries the request id on every STS response.
pub(crate) const REQUEST_ID_HEADER: &str = "x-amzn-RequestId";

/// The success response for `issued`.
pub(crate) fn success(issued: &IssuedCredentials, request_id: &str, fractional: bool) -> Response {
    let packed_policy_size = issued
        .packed_policy_size
        .map(|size| format!("\n    <PackedPolicySize>{size}</PackedPolicySize>"))
        .unwrap_or_default();
    let body = format!(
        r#"<AssumeRoleWithWebIdentityResponse xmlns="{NAMESPACE}">
  <AssumeRoleWithWebIdentityResult>
    <Audience>{audience}</Audience>
    <AssumedRoleUser>
      <AssumedRoleId>{role_id}</AssumedRoleId>
      <Arn>{arn}</Arn>
    </AssumedRoleUser>
    <Provider>{provider}</Provider>
    <Credentials>
      <AccessKeyId>{key_id}</AccessKeyId>
      <SecretAccessKey>{secret}</SecretAccessKey>
      <SessionToken>{session_token}</SessionToken>
      <Expiration>{expiration}</Expiration>
    </Credentials>
    <SubjectFromWebIdentityToken>{subject}</SubjectFromWebIdentityToken>{packed_policy_size}
  </AssumeRoleWithWebIdentityResult>
  <ResponseMetadata>
    <RequestId>{request_id}</RequestId>
  </ResponseMetadata>
</AssumeRoleWithWebIdentityResponse>
"#,
        audience = escape(&issued.audience),
        role_id = escape(&issued.assumed_role_id),
        arn = escape(&issued.assumed_role_arn),
        provider = escape(&issued.provider),
        key_id = escape(&issued.access_key_id),
        secret = escape(&issued.secret_access_key),
        session_token = escape(&issued.session_token),
        expiration = timestamp::format_rfc3339(issued.expiration, expiration_digits(fractional)),
        subject = escape(&issued.subject),
        request_id = escape(request_id),
    );
    Response::new(200, CONTENT_TYPE, body).with_header(REQUEST_ID_HEADER, request_id)
}

/// The `GetWebIdentityTokenResponse` for `issued`.
pub(crate) fn web_identity_token(issued: &IssuedWebIdentityToken, request_id: &str) -> Response {
    let body = format!(
        r#"<GetWebIdentityTokenResponse xmlns="{NAMESPACE}">
  <GetWebIdentityTokenResult>
    <WebIdentityToken>{token}</WebIdentityToken>
    <Expiration>{expiration}</Expiration>
  </GetWebIdentityTokenResult>
  <ResponseMetadata>
    <RequestId>{request_id}</RequestId>
  </ResponseMetadata>
</GetWebIdentityTokenResponse>
"#,
        token = escape(&issued.token),
        expiration = timestamp::format_rfc3339(issued.expiration, 0),
        request_id = escape(request_id),
    );
    Response::new(200, CONTENT_TYPE, body).with_header(REQUEST_ID_HEADER, request_id)
}

/// The `ErrorResponse` for `error`, with its HTTP status.
pub(crate) fn error(error: &StsError, request_id: &str) -> Response {
    let body = format!(
        r#"<ErrorResponse xmlns="{NAMESPACE}">
  <Error>
    <Type>{fault_type}</Type>
    <Code>{code}</Code>
    <Message>{message}</Message>
  </Error>
  <RequestId>{request_id}</RequestId>
</ErrorResponse>
"#,
        fault_type = error.code.fault_type(),
        code = error.code.code(),
        message = escape(&error.message),
        request_id = escape(request_id),
    );
    Response::new(error.code.http_status(), CONTENT_TYPE, body)
        .with_header(REQUEST_ID_HEADER, request_id)
}

/// Fractional digits of `Expiration`: microseconds (as moto sends them) or none.
fn expiration_digits(fractional: bool) -> u8 {
    if fractional { 6 } else { 0 }
}

/// `at` cut to what the response shows, so the recorded expiration equals the sent one.
pub(crate) fn wire_precision(at: SystemTime, fractional: bool) -> SystemTime {
    timestamp::truncate(at, expiration_digits(fractional))
}

/// Escapes text for an XML element.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aws_sts::StsErrorCode;

    use std::time::{Duration, UNIX_EPOCH};

    #[test]
    fn expiration_precision() {
        let at = UNIX_EPOCH + Duration::new(1_795_320_000, 123_456_789);
        let whole = wire_precision(at, false);
        assert_eq!(whole, UNIX_EPOCH + Duration::from_secs(1_795_320_000));
        assert_eq!(
            wire_precision(at, true),
            whole + Duration::from_micros(123_456)
        );
    }

    #[test]
    fn error_document_shape() {
        let e = StsError::new(StsErrorCode::ServiceUnavailable, "a <b> & c");
        let response = error(&e, "req-1");
        assert_eq!(response.status, 503);
        let body = String::from_utf8(response.body).unwrap();
        assert!(body.contains("<Type>Receiver</Type>\n    <Code>ServiceUnavailable</Code>"));
        assert!(body.contains("<Message>a &lt;b&gt; &amp; c</Message>"));
        assert!(body.contains("</Error>\n  <RequestId>req-1</RequestId>\n</ErrorResponse>"));
        assert!(
            response
                .headers
                .contains(&(REQUEST_ID_HEADER.to_owned(), "req-1".to_owned()))
        );
    }
}
