//! [`RecordedRequest`]: what an emulator saw of one incoming HTTP request, kept in its request
//! log so tests can assert on exactly what the crate under test sent.

use std::borrow::Cow;

/// One HTTP request as received by an emulator, in arrival order in the emulator's log.
///
/// Requests are recorded before any scripted [`Fault`](super::Fault) is applied, so a request
/// that was answered with a fault (or never answered) is in the log too.
///
/// ```
/// use federated_credentials::source::{GcpMetadataIdentityToken, SubjectTokenSource};
/// use federated_credentials_testkit::GcpMetadataEmulator;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mds = GcpMetadataEmulator::start().await?;
/// let source = GcpMetadataIdentityToken::new("sts.amazonaws.com").metadata_host(mds.host());
/// source.subject_token(&Default::default()).await?;
/// let request = mds.last_request().expect("the identity request");
/// assert_eq!(request.query_param("audience"), Some("sts.amazonaws.com"));
/// # Ok(())
/// # }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedRequest {
    /// The method, upper-case (`GET`, `POST`, ...).
    pub method: String,
    /// The path exactly as sent, still percent-encoded (`/computeMetadata/v1/...`).
    pub path: String,
    /// The query parameters in order, percent- and `+`-decoded. Repeated keys are kept.
    pub query: Vec<(String, String)>,
    /// The headers in order, names lower-cased. Repeated headers are kept.
    pub headers: Vec<(String, String)>,
    /// The raw body.
    pub body: Vec<u8>,
}

impl RecordedRequest {
    /// The first value of header `name` (case-insensitive), if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether header `name` (case-insensitive) is present, whatever its value.
    pub fn has_header(&self, name: &str) -> bool {
        self.header(name).is_some()
    }

    /// The first value of query parameter `name` (case-sensitive), if present.
    pub fn query_param(&self, name: &str) -> Option<&str> {
        first_value(&self.query, name)
    }

    /// The body decoded as `application/x-www-form-urlencoded` pairs, whatever the
    /// `Content-Type` said.
    pub fn form(&self) -> Vec<(String, String)> {
        decode_pairs(&self.body)
    }

    /// The first value of form field `name` in the body (see [`form`](Self::form)).
    pub fn form_param(&self, name: &str) -> Option<String> {
        let form = self.form();
        first_value(&form, name).map(str::to_owned)
    }

    /// The body as UTF-8 text, with invalid sequences replaced.
    pub fn body_text(&self) -> Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    /// The path split on `/`, each segment percent-decoded, without the empty segments
    /// produced by leading, trailing or doubled slashes.
    pub fn path_segments(&self) -> Vec<String> {
        self.path
            .split('/')
            .filter(|s| !s.is_empty())
            .map(percent_decode)
            .collect()
    }

    /// Whether the `Content-Type` is `mime`, ignoring case and parameters such as `charset`.
    pub(crate) fn content_type_is(&self, mime: &str) -> bool {
        self.header("content-type").is_some_and(|value| {
            let essence = value.split(';').next().unwrap_or_default();
            essence.trim().eq_ignore_ascii_case(mime)
        })
    }

    /// The scheme and credentials of the `Authorization` header (`Basic`, `abc=`), if any.
    pub(crate) fn authorization(&self) -> Option<(&str, &str)> {
        let value = self.header("authorization")?.trim();
        Some(
            value
                .split_once(' ')
                .map_or((value, ""), |(scheme, rest)| (scheme, rest.trim())),
        )
    }
}

/// Decodes `application/x-www-form-urlencoded` data (also the query-string encoding).
pub(crate) fn decode_pairs(data: &[u8]) -> Vec<(String, String)> {
    url::form_urlencoded::parse(data).into_owned().collect()
}

fn first_value<'a>(pairs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pairs
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Decodes one `application/x-www-form-urlencoded` value: `+` is a space, then `%XX` escapes.
/// Invalid escapes are kept as is.
pub(crate) fn decode_form_value(value: &str) -> String {
    percent_decode(&value.replace('+', " "))
}

/// Decodes `%XX` escapes (not `+`, which is literal in a path). Invalid escapes are kept as is.
pub(crate) fn percent_decode(segment: &str) -> String {
    let bytes = segment.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%')
            .then(|| bytes.get(i + 1..i + 3))
            .flatten()
            .and_then(|hex| std::str::from_utf8(hex).ok())
            .and_then(|hex| u8::from_str_radix(hex, 16).ok());
        match escaped {
            Some(byte) => {
                out.push(byte);
                i += 3;
            }
            None => {
                out.push(bytes[i]);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(path: &str, body: &str) -> RecordedRequest {
        RecordedRequest {
            method: "POST".into(),
            path: path.into(),
            query: decode_pairs(b"a=1&b=x+y&a=2"),
            headers: vec![("metadata-flavor".into(), "Google".into())],
            body: body.as_bytes().to_vec(),
        }
    }

    #[test]
    fn accessors_decode_query_form_and_path() {
        let r = request("/v1//sa/a%40b.com/%zz/", "X=1%2B1&Y=a+b");
        assert_eq!(r.query_param("a"), Some("1"));
        assert_eq!(r.query_param("b"), Some("x y"));
        assert_eq!(r.query_param("A"), None);
        assert_eq!(r.header("Metadata-Flavor"), Some("Google"));
        assert!(!r.has_header("x-forwarded-for"));
        assert_eq!(r.form_param("X").as_deref(), Some("1+1"));
        assert_eq!(r.form_param("Y").as_deref(), Some("a b"));
        assert_eq!(r.path_segments(), ["v1", "sa", "a@b.com", "%zz"]);
        assert_eq!(r.body_text(), "X=1%2B1&Y=a+b");
        assert_eq!(decode_form_value("a+b%2Bc%20d%zz"), "a b+c d%zz");
    }

    #[test]
    fn content_type_and_authorization() {
        let mut r = request("/", "");
        assert!(!r.content_type_is("application/json"));
        r.headers.push((
            "content-type".into(),
            "Application/X-WWW-Form-Urlencoded ; charset=utf-8".into(),
        ));
        r.headers
            .push(("authorization".into(), "Bearer  ya29.x ".into()));
        assert!(r.content_type_is("application/x-www-form-urlencoded"));
        assert!(!r.content_type_is("application/x-www-form"));
        assert_eq!(r.authorization(), Some(("Bearer", "ya29.x")));
        r.headers.pop();
        r.headers.push(("authorization".into(), "Basic".into()));
        assert_eq!(r.authorization(), Some(("Basic", "")));
    }
}
