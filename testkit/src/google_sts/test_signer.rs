//! A test-only client side of `aws4_request` subject tokens: signs `GetCallerIdentity` with
//! the `aws-sigv4` crate (an implementation independent of the emulator's verifier) and
//! serializes it the ways the reference clients do (AIP-4117).

use std::time::SystemTime;

use aws_credential_types::Credentials;
use aws_sigv4::http_request::{SignableBody, SignableRequest, SigningSettings, sign};
use aws_sigv4::sign::v4;
use serde_json::Value;

/// The regional `GetCallerIdentity` URL for `region`.
pub(crate) fn sts_url(region: &str) -> String {
    format!("https://sts.{region}.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15")
}

/// What to sign.
#[derive(Debug, Clone)]
pub(crate) struct Signer<'a> {
    pub(crate) access_key_id: &'a str,
    pub(crate) secret_access_key: &'a str,
    pub(crate) session_token: Option<&'a str>,
    pub(crate) region: &'a str,
    pub(crate) url: String,
    pub(crate) audience: &'a str,
    /// Whether `x-goog-cloud-target-resource` is signed (Python: no; the others: yes).
    pub(crate) sign_target: bool,
    pub(crate) at: SystemTime,
}

/// A signed request: its URL and headers (lower-case names, sorted, `authorization` last).
#[derive(Debug, Clone)]
pub(crate) struct Signed {
    pub(crate) url: String,
    pub(crate) headers: Vec<(String, String)>,
}

impl Signer<'_> {
    pub(crate) fn sign(&self) -> Signed {
        let identity = Credentials::new(
            self.access_key_id,
            self.secret_access_key,
            self.session_token.map(str::to_owned),
            None,
            "testkit",
        )
        .into();
        let params = v4::SigningParams::builder()
            .identity(&identity)
            .region(self.region)
            .name("sts")
            .time(self.at)
            .settings(SigningSettings::default())
            .build()
            .expect("complete signing params")
            .into();
        let target = ("x-goog-cloud-target-resource", self.audience);
        let signed_target = self.sign_target.then_some(target);
        let signable = SignableRequest::new(
            "POST",
            &self.url,
            signed_target.into_iter(),
            SignableBody::Bytes(&[]),
        )
        .expect("signable request");
        let (instructions, _) = sign(signable, &params).expect("signing").into_parts();
        let host = url::Url::parse(&self.url)
            .unwrap()
            .host_str()
            .unwrap()
            .to_owned();
        let mut headers = vec![
            ("host".to_owned(), host),
            (target.0.to_owned(), target.1.to_owned()),
        ];
        let mut authorization = None;
        for (name, value) in instructions.headers() {
            let name = name.to_ascii_lowercase();
            if name == "authorization" {
                authorization = Some(value.to_owned());
            } else {
                headers.push((name, value.to_owned()));
            }
        }
        headers.sort();
        headers.push(("authorization".to_owned(), authorization.expect("signed")));
        Signed {
            url: self.url.clone(),
            headers,
        }
    }
}

/// How a client lays out and encodes the serialized request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Style {
    /// Our crate's recommendation: lower-case names, `host, x-amz-date, [token], target,
    /// Authorization`, `{url, method, headers}`, form encoding.
    Recommended,
    /// Sorted top-level keys, `Authorization` first, `urllib.parse.quote` (`%20`, `/` kept).
    Python,
    /// `{url, method, headers}`, Go-canonical names sorted, `url.QueryEscape` (`+`).
    Go,
    /// Sorted top-level keys, target resource listed twice, form encoding.
    Java,
    /// `{url, method, headers, body: ""}`, sorted lower-case names then `Authorization`.
    GoogleCloudRust,
}

impl Signed {
    /// The header `name` (lower-case) of this request.
    pub(crate) fn header(&self, name: &str) -> &str {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
            .unwrap_or_default()
    }

    /// The `subject_token` value, before the STS form encoding.
    pub(crate) fn subject_token(&self, style: Style) -> String {
        self.subject_token_with(style, |_| {})
    }

    /// Like [`subject_token`](Self::subject_token), with the header list edited first.
    pub(crate) fn subject_token_with(
        &self,
        style: Style,
        edit: impl FnOnce(&mut Vec<(String, String)>),
    ) -> String {
        let mut headers = self.ordered_headers(style);
        edit(&mut headers);
        let list: Vec<Value> = headers
            .iter()
            .map(|(k, v)| serde_json::json!({"key": k, "value": v}))
            .collect();
        let list = Value::Array(list).to_string();
        let url = Value::from(self.url.as_str()).to_string();
        let json = match style {
            Style::Python | Style::Java => {
                format!(r#"{{"headers":{list},"method":"POST","url":{url}}}"#)
            }
            Style::Recommended | Style::Go => {
                format!(r#"{{"url":{url},"method":"POST","headers":{list}}}"#)
            }
            Style::GoogleCloudRust => {
                format!(r#"{{"url":{url},"method":"POST","headers":{list},"body":""}}"#)
            }
        };
        match style {
            Style::Python => python_quote(&json),
            _ => url::form_urlencoded::byte_serialize(json.as_bytes()).collect(),
        }
    }

    fn ordered_headers(&self, style: Style) -> Vec<(String, String)> {
        let get = |name: &str| (name.to_owned(), self.header(name).to_owned());
        let has_token = !self.header("x-amz-security-token").is_empty();
        let mut names = vec!["host", "x-amz-date"];
        if has_token {
            names.push("x-amz-security-token");
        }
        names.push("x-goog-cloud-target-resource");
        match style {
            Style::Recommended | Style::GoogleCloudRust => {
                let mut headers: Vec<_> = names.into_iter().map(get).collect();
                headers.push((
                    "Authorization".to_owned(),
                    self.header("authorization").to_owned(),
                ));
                headers
            }
            Style::Python => {
                let mut headers = vec![(
                    "Authorization".to_owned(),
                    self.header("authorization").to_owned(),
                )];
                headers.extend(names.into_iter().map(get));
                headers
            }
            Style::Go => {
                names.insert(0, "authorization");
                names
                    .into_iter()
                    .map(|name| (go_canonical(name), self.header(name).to_owned()))
                    .collect()
            }
            Style::Java => {
                let mut headers: Vec<_> = names.into_iter().map(get).collect();
                headers.push((
                    "Authorization".to_owned(),
                    self.header("authorization").to_owned(),
                ));
                headers.push(get("x-goog-cloud-target-resource"));
                headers
            }
        }
    }
}

/// `X-Amz-Date` from `x-amz-date`.
fn go_canonical(name: &str) -> String {
    name.split('-')
        .map(|part| {
            let mut chars = part.chars();
            chars
                .next()
                .map(|first| first.to_ascii_uppercase().to_string() + chars.as_str())
                .unwrap_or_default()
        })
        .collect::<Vec<_>>()
        .join("-")
}

/// Python's `urllib.parse.quote`: everything but `A-Za-z0-9_.-~/` as `%XX`.
pub(crate) fn python_quote(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'.' | b'-' | b'~' | b'/' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}
