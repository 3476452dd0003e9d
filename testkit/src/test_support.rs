//! Helpers for the testkit's own unit tests: a plain HTTP client that talks to the emulators
//! as the crate under test would, and a fixed starting time for manual clocks.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use federated_credentials::context::ManualClock;

/// 2023-11-14T22:13:20Z, the instant every test's [`ManualClock`] starts at.
pub(crate) const T0_SECS: u64 = 1_700_000_000;

/// A manual clock standing at [`T0_SECS`].
pub(crate) fn clock() -> ManualClock {
    ManualClock::new(at(T0_SECS))
}

/// `UNIX_EPOCH + secs`.
pub(crate) fn at(secs: u64) -> SystemTime {
    UNIX_EPOCH + Duration::from_secs(secs)
}

/// A client that never uses a proxy, even when the environment names one.
pub(crate) fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .no_proxy()
        .build()
        .expect("reqwest client")
}

/// A status, the response headers (names lower-case) and the body text.
#[derive(Debug)]
pub(crate) struct Reply {
    pub(crate) status: u16,
    pub(crate) headers: reqwest::header::HeaderMap,
    pub(crate) body: String,
}

impl Reply {
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// Sends `request` and reads the whole reply; panics on transport errors.
pub(crate) async fn send(request: reqwest::RequestBuilder) -> Reply {
    let response = request.send().await.expect("request reaches the emulator");
    Reply {
        status: response.status().as_u16(),
        headers: response.headers().clone(),
        body: response.text().await.expect("readable body"),
    }
}

/// Form-encodes `pairs`.
pub(crate) fn form(pairs: &[(&str, &str)]) -> String {
    url::form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}
