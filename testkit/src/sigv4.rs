//! AWS Signature Version 4 as the emulators re-verify it (Google STS for `aws4_request`
//! subject tokens, AWS STS for `GetWebIdentityToken` calls): the `Authorization`
//! header, the canonical request over exactly the headers that header lists, the string to sign
//! and the HMAC-SHA256 key chain (AWS Signature Version 4).

use aws_lc_rs::{digest, hmac};
use url::Url;

/// The signing algorithm of every `aws4_request` subject token.
const ALGORITHM: &str = "AWS4-HMAC-SHA256";
/// The last element of a SigV4 credential scope.
pub(crate) const TERMINATOR: &str = "aws4_request";

/// A parsed `Authorization: AWS4-HMAC-SHA256 Credential=AKID/DATE/REGION/SERVICE/aws4_request,
/// SignedHeaders=a;b, Signature=hex` header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Authorization {
    pub(crate) access_key_id: String,
    /// `YYYYMMDD`.
    pub(crate) date: String,
    pub(crate) region: String,
    pub(crate) service: String,
    pub(crate) terminator: String,
    /// Lower-case names, in the order listed.
    pub(crate) signed_headers: Vec<String>,
    pub(crate) signature: String,
}

impl Authorization {
    /// Parses the header value; `None` when it is not a complete SigV4 header.
    pub(crate) fn parse(value: &str) -> Option<Self> {
        let rest = value.trim().strip_prefix(ALGORITHM)?.strip_prefix(' ')?;
        let (mut credential, mut signed_headers, mut signature) = (None, None, None);
        for part in rest.split(',') {
            let (name, value) = part.trim().split_once('=')?;
            let slot = match name {
                "Credential" => &mut credential,
                "SignedHeaders" => &mut signed_headers,
                "Signature" => &mut signature,
                _ => return None,
            };
            if slot.replace(value).is_some() {
                return None;
            }
        }
        let scope: Vec<&str> = credential?.split('/').collect();
        let [access_key_id, date, region, service, terminator] = scope[..] else {
            return None;
        };
        let signed_headers: Vec<String> = signed_headers?
            .split(';')
            .map(str::to_ascii_lowercase)
            .collect();
        let signature = signature?;
        let complete = !access_key_id.is_empty()
            && !signature.is_empty()
            && signed_headers.iter().all(|name| !name.is_empty());
        complete.then(|| Self {
            access_key_id: access_key_id.to_owned(),
            date: date.to_owned(),
            region: region.to_owned(),
            service: service.to_owned(),
            terminator: terminator.to_owned(),
            signed_headers,
            signature: signature.to_owned(),
        })
    }

    /// `DATE/REGION/SERVICE/aws4_request`.
    pub(crate) fn scope(&self) -> String {
        format!(
            "{}/{}/{}/{}",
            self.date, self.region, self.service, self.terminator
        )
    }

    /// The signature the request should carry, given the secret key and the canonical request.
    pub(crate) fn expected_signature(
        &self,
        secret: &str,
        amz_date: &str,
        canonical_request: &str,
    ) -> String {
        let string_to_sign = format!(
            "{ALGORITHM}\n{amz_date}\n{}\n{}",
            self.scope(),
            hex(digest::digest(&digest::SHA256, canonical_request.as_bytes()).as_ref())
        );
        let key = [&self.date, &self.region, &self.service, &self.terminator]
            .iter()
            .fold(format!("AWS4{secret}").into_bytes(), |key, part| {
                hmac_sha256(&key, part.as_bytes())
            });
        hex(&hmac_sha256(&key, string_to_sign.as_bytes()))
    }
}

/// The canonical request: `method`, `url`, the headers named in `signed_headers` (in that
/// order) with the value `value_of` gives for each, and the SHA-256 of `body`. Fails with the
/// name of a signed header that has no value.
pub(crate) fn canonical_request<'a>(
    method: &str,
    url: &Url,
    signed_headers: &'a [String],
    value_of: impl Fn(&str) -> Option<String>,
    body: &[u8],
) -> Result<String, &'a str> {
    let path = match url.path() {
        "" => "/",
        path => path,
    };
    let mut query: Vec<(String, String)> = url
        .query_pairs()
        .map(|(k, v)| (uri_encode(&k), uri_encode(&v)))
        .collect();
    query.sort();
    let query: Vec<String> = query.iter().map(|(k, v)| format!("{k}={v}")).collect();
    let mut headers = String::new();
    for name in signed_headers {
        let value = value_of(name).ok_or(name.as_str())?;
        headers.push_str(&format!("{name}:{}\n", canonical_value(&value)));
    }
    let body_hash = hex(digest::digest(&digest::SHA256, body).as_ref());
    Ok(format!(
        "{method}\n{path}\n{}\n{headers}\n{}\n{body_hash}",
        query.join("&"),
        signed_headers.join(";")
    ))
}

/// A header value trimmed, with runs of spaces collapsed to one.
fn canonical_value(value: &str) -> String {
    value.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// RFC 3986 encoding: everything but `A-Za-z0-9-_.~` as upper-case `%XX`.
fn uri_encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                char::from(b).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let key = hmac::Key::new(hmac::HMAC_SHA256, key);
    hmac::sign(&key, data).as_ref().to_vec()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) const SECRET: &str = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY";
    pub(crate) const URL: &str =
        "https://sts.us-east-2.amazonaws.com?Action=GetCallerIdentity&Version=2011-06-15";
    pub(crate) const AMZ_DATE: &str = "20200811T065522Z";
    pub(crate) const TOKEN: &str = "AQoEXAMPLEH4aoAH0gNCAPyJxz4BlCFFxWNE1OPTgk5TthT+FvwqnKwRcOIfrRh3c/LTo6UDdyJwOOvEVPvLXCrrrUtdnniCEXAMPLE/IvU1dYUg2RVAJBanLiHb4IgRmpRV3zrkuWJOgQs8IZZaIv2BXIa2R4OlgkBN9bkUDNCJiBeb/AXlzBBko7b15fjrBs2+cTQtpZ3CYWFXG8C5zqx37wnOE49mRl/+OtkIKGO7fAE";
    pub(crate) const AUDIENCE: &str = "//iam.googleapis.com/projects/123456/locations/global/workloadIdentityPools/POOL_ID/providers/PROVIDER_ID";

    fn header(name: &str) -> Option<String> {
        match name {
            "host" => Some("sts.us-east-2.amazonaws.com".to_owned()),
            "x-amz-date" => Some(AMZ_DATE.to_owned()),
            "x-amz-security-token" => Some(TOKEN.to_owned()),
            "x-goog-cloud-target-resource" => Some(AUDIENCE.to_owned()),
            _ => None,
        }
    }

    /// The four golden signatures.
    #[test]
    fn golden_vectors() {
        let url = Url::parse(URL).unwrap();
        let vectors = [
            (
                "host;x-amz-date",
                "9e722e5b7bfa163447e2a14df118b45ebd283c5aea72019bdf921d6e7dc01a9a",
            ),
            (
                "host;x-amz-date;x-amz-security-token",
                "596aa990b792d763465d73703e684ca273c45536c6d322c31be01a41d02e5b60",
            ),
            (
                "host;x-amz-date;x-goog-cloud-target-resource",
                "fae09118e41357ad87677b120e1977871dadb5d8b4110e6d46fb50c8f7a4ff7f",
            ),
            (
                "host;x-amz-date;x-amz-security-token;x-goog-cloud-target-resource",
                "460b491cd92b746345219747e679bf55541e3f8bb18eb11516305dbecded91b8",
            ),
        ];
        for (signed, expected) in vectors {
            let value = format!(
                "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20200811/us-east-2/sts/aws4_request, SignedHeaders={signed}, Signature={expected}"
            );
            let auth = Authorization::parse(&value).unwrap();
            let canonical =
                canonical_request("POST", &url, &auth.signed_headers, header, b"").unwrap();
            assert!(canonical.starts_with(
                "POST\n/\nAction=GetCallerIdentity&Version=2011-06-15\nhost:sts.us-east-2.amazonaws.com\nx-amz-date:20200811T065522Z\n"
            ));
            assert!(
                canonical.ends_with(
                    "\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
                )
            );
            assert_eq!(
                auth.expected_signature(SECRET, AMZ_DATE, &canonical),
                expected,
                "{signed}"
            );
        }
    }

    #[test]
    fn authorization_parsing() {
        let auth = Authorization::parse(
            "AWS4-HMAC-SHA256 Credential=AKID/20200811/us-east-2/sts/aws4_request,SignedHeaders=Host;X-Amz-Date,Signature=ab",
        )
        .unwrap();
        assert_eq!(auth.access_key_id, "AKID");
        assert_eq!(auth.signed_headers, ["host", "x-amz-date"]);
        assert_eq!(auth.scope(), "20200811/us-east-2/sts/aws4_request");
        for bad in [
            "",
            "AWS4-HMAC-SHA1 Credential=A/d/r/s/aws4_request, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=A/d/r/s, SignedHeaders=host, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=A/d/r/s/aws4_request, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=A/d/r/s/aws4_request, SignedHeaders=host, Signature=",
            "AWS4-HMAC-SHA256 Credential=A/d/r/s/aws4_request, SignedHeaders=host;;x, Signature=ab",
            "AWS4-HMAC-SHA256 Credential=A/d/r/s/aws4_request, SignedHeaders=host, Signature=ab, Extra=1",
        ] {
            assert_eq!(Authorization::parse(bad), None, "{bad}");
        }
    }

    #[test]
    fn canonical_parts() {
        let url = Url::parse("https://sts.amazonaws.com/?b=x y&a=2&a=1&c=~*").unwrap();
        let signed = ["host".to_owned(), "x-amz-date".to_owned()];
        let canonical = canonical_request(
            "POST",
            &url,
            &signed,
            |name| (name == "host").then(|| "  sts.amazonaws.com   x ".to_owned()),
            b"",
        );
        assert_eq!(canonical, Err("x-amz-date"));
        let canonical = canonical_request(
            "POST",
            &url,
            &signed[..1],
            |_| Some("  a   b ".to_owned()),
            b"",
        )
        .unwrap();
        assert_eq!(
            canonical,
            "POST\n/\na=1&a=2&b=x%20y&c=~%2A\nhost:a b\n\nhost\ne3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
        );
    }
}
