//! [`Response`]: what a [`Handler`](super::Handler) answers, turned into a hyper response by
//! the server.

use super::body::ResponseBody;

/// A response produced by a [`Handler`](super::Handler).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Response {
    pub(crate) status: u16,
    pub(crate) headers: Vec<(String, String)>,
    pub(crate) body: Vec<u8>,
}

impl Response {
    /// A response with this status, content type and body.
    pub(crate) fn new(status: u16, content_type: &str, body: impl Into<Vec<u8>>) -> Self {
        Self {
            status,
            headers: vec![("content-type".to_owned(), content_type.to_owned())],
            body: body.into(),
        }
    }

    /// A `text/plain` response, the usual shape of short error bodies.
    pub(crate) fn text(status: u16, body: impl Into<String>) -> Self {
        Self::new(status, "text/plain; charset=utf-8", body.into())
    }

    /// An `application/json` response.
    pub(crate) fn json(status: u16, body: &serde_json::Value) -> Self {
        Self::new(status, "application/json", body.to_string())
    }

    /// Adds (or replaces) header `name`.
    pub(crate) fn with_header(mut self, name: &str, value: impl Into<String>) -> Self {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        self.headers.push((name.to_owned(), value.into()));
        self
    }

    /// The first value of header `name` (case-insensitive), if set.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Adds header `name` unless the response already has one of that name.
    pub(crate) fn set_header_if_absent(&mut self, name: &str, value: impl Into<String>) {
        if self.header(name).is_none() {
            self.headers.push((name.to_owned(), value.into()));
        }
    }

    /// The hyper response, its body made by `make_body` from this response's bytes.
    pub(super) fn into_hyper(
        self,
        make_body: impl FnOnce(Vec<u8>) -> ResponseBody,
    ) -> hyper::Response<ResponseBody> {
        let mut builder = hyper::Response::builder().status(self.status);
        for (name, value) in &self.headers {
            builder = builder.header(name.as_str(), value.as_str());
        }
        match builder.body(()) {
            Ok(response) => response.map(|()| make_body(self.body)),
            Err(e) => {
                // Only reachable through a malformed header or status scripted by a test.
                let mut response = hyper::Response::new(make_body(
                    format!("testkit: cannot send the scripted response: {e}").into_bytes(),
                ));
                *response.status_mut() = hyper::StatusCode::INTERNAL_SERVER_ERROR;
                response
            }
        }
    }
}
