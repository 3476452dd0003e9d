//! `aws4_request` subject tokens: decoding the serialized `GetCallerIdentity` request by the
//! decoding rule of AIP-4117 (URL-encoded JSON of the signed request), checking it names AWS STS and this provider, and
//! replaying AWS's authentication (key, session token, time skew, SigV4 signature).

use std::time::{Duration, SystemTime};

use serde_json::Value;
use time::macros::format_description;
use time::{OffsetDateTime, PrimitiveDateTime};
use url::Url;

use super::error::OAuthError;
use super::provider::AwsKey;
use crate::request::decode_form_value;
use crate::sigv4::{Authorization, TERMINATOR, canonical_request};

/// How far `x-amz-date` may be from the emulator clock, as AWS allows.
const MAX_SKEW: Duration = Duration::from_secs(15 * 60);
/// The headers Google requires in the serialized request.
const REQUIRED_HEADERS: [&str; 4] = [
    "authorization",
    "host",
    "x-amz-date",
    "x-goog-cloud-target-resource",
];
const SIGNATURE_MISMATCH: &str = "The request signature we calculated does not match the signature you provided. Check your AWS Secret Access Key and signing method. Consult the service documentation for details.";
const INVALID_TOKEN: &str = "The security token included in the request is invalid.";

/// The `GetCallerIdentity` request a client signed, as serialized in the subject token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct SignedRequest {
    url: String,
    method: String,
    /// Names lower-cased, in order, duplicates kept.
    headers: Vec<(String, String)>,
}

impl SignedRequest {
    /// Decodes a subject token that was form-decoded once (by the form parser): decode again
    /// with `+` as space, then parse the JSON `{url, method, headers:[{key, value}]}`.
    pub(super) fn decode(subject_token: &str) -> Result<Self, OAuthError> {
        if subject_token.trim_start().starts_with('{') {
            return Err(OAuthError::invalid_grant(
                "The AWS subject token must be the URL-encoded JSON serialization of the signed GetCallerIdentity request.",
            ));
        }
        let malformed = |why: &str| {
            OAuthError::invalid_grant(format!("Unable to parse the AWS subject token: {why}."))
        };
        let json: Value = serde_json::from_str(&decode_form_value(subject_token))
            .map_err(|_| malformed("not JSON"))?;
        let text = |name: &str| {
            json.get(name)
                .and_then(Value::as_str)
                .map(str::to_owned)
                .ok_or_else(|| malformed(&format!("\"{name}\" must be a string")))
        };
        let (url, method) = (text("url")?, text("method")?);
        let headers = json
            .get("headers")
            .and_then(Value::as_array)
            .ok_or_else(|| malformed("\"headers\" must be a list"))?
            .iter()
            .map(|header| {
                let field = |name| header.get(name).and_then(Value::as_str);
                match (field("key"), field("value")) {
                    (Some(key), Some(value)) => Ok((key.to_ascii_lowercase(), value.to_owned())),
                    _ => Err(malformed(
                        "each header must be {\"key\": ..., \"value\": ...}",
                    )),
                }
            })
            .collect::<Result<_, _>>()?;
        Ok(Self {
            url,
            method,
            headers,
        })
    }

    /// The value of header `name`: its distinct values joined by `,` (a header listed twice
    /// with the same value, as Java does, counts once).
    fn header(&self, name: &str) -> Option<String> {
        let mut values: Vec<&str> = Vec::new();
        for (key, value) in &self.headers {
            if key == name && !values.contains(&value.as_str()) {
                values.push(value);
            }
        }
        (!values.is_empty()).then(|| values.join(","))
    }

    /// Checks the request is a `GetCallerIdentity` call for `audience`, then authenticates it
    /// like AWS would, with `keys` standing for AWS's key store. Returns the signing key.
    pub(super) fn verify<'k>(
        &self,
        audience: &str,
        keys: &'k [AwsKey],
        now: SystemTime,
    ) -> Result<&'k AwsKey, OAuthError> {
        let (url, region) = self.check_shape(audience)?;
        let authorization = self.header("authorization").unwrap_or_default();
        let auth = Authorization::parse(&authorization).ok_or_else(|| {
            OAuthError::aws(
                "IncompleteSignature",
                format!("Authorization header requires 'Credential', 'Signature' and 'SignedHeaders' parameters. Authorization={authorization}"),
            )
        })?;
        let key = keys
            .iter()
            .find(|key| key.access_key_id == auth.access_key_id)
            .ok_or_else(|| OAuthError::aws("InvalidClientTokenId", INVALID_TOKEN))?;
        if let Some(expected) = &key.session_token
            && self.header("x-amz-security-token").as_ref() != Some(expected)
        {
            return Err(OAuthError::aws("InvalidClientTokenId", INVALID_TOKEN));
        }
        let amz_date = self.header("x-amz-date").unwrap_or_default();
        check_skew(&amz_date, now)?;
        check_scope(&auth, &amz_date, &region)?;
        for required in ["host", "x-amz-date"] {
            if !auth.signed_headers.iter().any(|name| name == required) {
                return Err(OAuthError::aws(
                    "SignatureDoesNotMatch",
                    format!("'{required}' must be a 'SignedHeader' in the AWS Authorization."),
                ));
            }
        }
        let canonical = canonical_request(
            &self.method,
            &url,
            &auth.signed_headers,
            |name| self.header(name),
            b"",
        )
        .map_err(|missing| {
            OAuthError::aws(
                "SignatureDoesNotMatch",
                format!("Signed header '{missing}' is missing from the request."),
            )
        })?;
        if auth.expected_signature(&key.secret_access_key, &amz_date, &canonical) != auth.signature
        {
            return Err(OAuthError::aws("SignatureDoesNotMatch", SIGNATURE_MISMATCH));
        }
        Ok(key)
    }

    /// Method, URL, required headers and target resource; returns the URL and its region.
    fn check_shape(&self, audience: &str) -> Result<(Url, String), OAuthError> {
        let invalid =
            |why: String| OAuthError::invalid_grant(format!("Invalid AWS subject token: {why}"));
        if self.method != "POST" {
            return Err(invalid(format!(
                "the method must be POST, not {:?}.",
                self.method
            )));
        }
        let url = Url::parse(&self.url)
            .map_err(|_| invalid(format!("the url {:?} is not a URL.", self.url)))?;
        let region = sts_region(&url).ok_or_else(|| {
            invalid(format!(
                "the url {:?} is not an AWS STS GetCallerIdentity endpoint (https://sts[.REGION].amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15).",
                self.url
            ))
        })?;
        for name in REQUIRED_HEADERS {
            if self.header(name).is_none() {
                return Err(invalid(format!(
                    "the request must include the {name} header."
                )));
            }
        }
        let host = self.header("host").unwrap_or_default();
        if !url
            .host_str()
            .is_some_and(|h| h.eq_ignore_ascii_case(&host))
        {
            return Err(invalid(format!(
                "the host header {host:?} does not match the url."
            )));
        }
        let target = self
            .header("x-goog-cloud-target-resource")
            .unwrap_or_default();
        if target != audience && target.strip_prefix("https:") != Some(audience) {
            return Err(invalid(format!(
                "the x-goog-cloud-target-resource header {target:?} does not match the audience {audience:?}."
            )));
        }
        Ok((url, region))
    }
}

/// The region of an STS `GetCallerIdentity` URL (`us-east-1` for the global endpoint), or
/// `None` when the URL is something else.
fn sts_region(url: &Url) -> Option<String> {
    let host = url.host_str()?.to_ascii_lowercase();
    let region = match host.strip_prefix("sts.")?.strip_suffix("amazonaws.com")? {
        "" => "us-east-1".to_owned(),
        region => {
            let region = region.strip_suffix('.')?;
            let valid = !region.is_empty()
                && region
                    .bytes()
                    .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
            valid.then(|| region.to_owned())?
        }
    };
    let mut query: Vec<(String, String)> = url.query_pairs().into_owned().collect();
    query.sort();
    let expected = [
        ("Action".to_owned(), "GetCallerIdentity".to_owned()),
        ("Version".to_owned(), "2011-06-15".to_owned()),
    ];
    let valid =
        url.scheme() == "https" && url.path() == "/" && url.port().is_none() && query == expected;
    valid.then_some(region)
}

/// Rejects an `x-amz-date` more than [`MAX_SKEW`] away from `now`, with AWS's messages.
fn check_skew(amz_date: &str, now: SystemTime) -> Result<(), OAuthError> {
    let format = format_description!("[year][month][day]T[hour][minute][second]Z");
    let signed_at = PrimitiveDateTime::parse(amz_date, format)
        .map(PrimitiveDateTime::assume_utc)
        .map_err(|_| {
            OAuthError::aws(
                "IncompleteSignature",
                format!("Date must be in ISO-8601 'basic format'. Got '{amz_date}'."),
            )
        })?;
    let now = OffsetDateTime::from(now);
    let show = |at: OffsetDateTime| at.format(format).unwrap_or_default();
    let skew = " (clock skew: x-amz-date must be within 15 minutes of the server time)";
    if signed_at < now - MAX_SKEW {
        return Err(OAuthError::aws(
            "SignatureDoesNotMatch",
            format!(
                "Signature expired: {amz_date} is now earlier than {} ({} - 15 min.){skew}",
                show(now - MAX_SKEW),
                show(now)
            ),
        ));
    }
    if signed_at > now + MAX_SKEW {
        return Err(OAuthError::aws(
            "SignatureDoesNotMatch",
            format!(
                "Signature not yet current: {amz_date} is still later than {} ({} + 15 min.){skew}",
                show(now + MAX_SKEW),
                show(now)
            ),
        ));
    }
    Ok(())
}

/// The credential scope must be `DATE/REGION/sts/aws4_request` for this request.
fn check_scope(auth: &Authorization, amz_date: &str, region: &str) -> Result<(), OAuthError> {
    let problem = if !amz_date.starts_with(&auth.date) || auth.date.len() != 8 {
        Some(format!(
            "Date in Credential scope does not match YYYYMMDD from ISO-8601 version of date from HTTP: '{}' != '{}'",
            auth.date,
            amz_date.get(..8).unwrap_or_default()
        ))
    } else if auth.region != region {
        Some(format!(
            "Credential should be scoped to a valid region, not '{}'.",
            auth.region
        ))
    } else if auth.service != "sts" {
        Some(format!(
            "Credential should be scoped to correct service: 'sts', not '{}'.",
            auth.service
        ))
    } else if auth.terminator != TERMINATOR {
        Some(format!(
            "Credential should be scoped with a valid terminator: 'aws4_request', not '{}'.",
            auth.terminator
        ))
    } else {
        None
    };
    problem.map_or(Ok(()), |message| {
        Err(OAuthError::aws("SignatureDoesNotMatch", message))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{T0_SECS, at};

    #[test]
    fn sts_urls() {
        let region = |url: &str| sts_region(&Url::parse(url).unwrap());
        let query = "?Action=GetCallerIdentity&Version=2011-06-15";
        assert_eq!(
            region(&format!("https://sts.amazonaws.com{query}")).as_deref(),
            Some("us-east-1")
        );
        assert_eq!(
            region(&format!("https://STS.eu-west-3.amazonaws.com/{query}")).as_deref(),
            Some("eu-west-3")
        );
        assert_eq!(
            region(
                "https://sts.us-east-2.amazonaws.com?Version=2011-06-15&Action=GetCallerIdentity"
            )
            .as_deref(),
            Some("us-east-2")
        );
        for bad in [
            format!("http://sts.amazonaws.com{query}"),
            format!("https://sts.evil.com{query}"),
            format!("https://sts.us-east-1.amazonaws.com.evil.com{query}"),
            format!("https://xsts.amazonaws.com{query}"),
            format!("https://sts..amazonaws.com{query}"),
            format!("https://sts.amazonaws.com/x{query}"),
            format!("https://sts.amazonaws.com:8443{query}"),
            "https://sts.amazonaws.com?Action=GetCallerIdentity".to_owned(),
            format!("https://sts.amazonaws.com{query}&Extra=1"),
        ] {
            assert_eq!(region(&bad), None, "{bad}");
        }
    }

    #[test]
    fn decoding_rule_and_header_lookup() {
        let json = r#"{"body":"","headers":[{"key":"X-Goog-Cloud-Target-Resource","value":"a b+c"},{"key":"x-goog-cloud-target-resource","value":"a b+c"},{"key":"Host","value":"h"}],"method":"POST","url":"u"}"#;
        let encoded: String = url::form_urlencoded::byte_serialize(json.as_bytes()).collect();
        let request = SignedRequest::decode(&encoded).unwrap();
        assert_eq!(request.url, "u");
        assert_eq!(
            request.header("x-goog-cloud-target-resource").as_deref(),
            Some("a b+c")
        );
        assert_eq!(
            request.header("HOST"),
            None,
            "names are looked up lower-case"
        );
        assert_eq!(request.header("host").as_deref(), Some("h"));
        assert!(
            SignedRequest::decode(json).is_err(),
            "raw JSON is not encoded"
        );
        assert!(SignedRequest::decode("%7B%7D").is_err());
        assert!(SignedRequest::decode("%5B%5D").is_err());
    }

    #[test]
    fn skew_window() {
        let now = at(T0_SECS);
        let date = |secs: i64| {
            let t = OffsetDateTime::from(now) + time::Duration::seconds(secs);
            t.format(format_description!(
                "[year][month][day]T[hour][minute][second]Z"
            ))
            .unwrap()
        };
        assert!(check_skew(&date(-900), now).is_ok());
        assert!(check_skew(&date(900), now).is_ok());
        let late = check_skew(&date(-901), now).unwrap_err();
        assert!(late.description.contains("Signature expired"), "{late:?}");
        assert!(late.description.contains("clock skew"));
        let early = check_skew(&date(901), now).unwrap_err();
        assert!(early.description.contains("Signature not yet current"));
        assert!(check_skew("2020-08-11T06:55:22Z", now).is_err());
    }
}
