//! [`Fault`]: scripted misbehaviour that any emulator can be told to show on its next requests,
//! to test retries, timeouts and the handling of broken responses.

use std::time::Duration;

/// A scripted misbehaviour, applied by an emulator to one request instead of (or before) its
/// normal handling.
///
/// Every emulator keeps a first-in first-out queue of faults; each incoming request takes the
/// fault at the head of the queue, if any, and requests that find the queue empty are handled
/// normally. Push faults with the emulators' `push_fault` / `push_fault_times` methods.
///
/// Responses built from a fault still carry the headers the emulated service puts on every
/// response (for example `Metadata-Flavor: Google` on the metadata server), unless the fault
/// sets a header of the same name itself.
///
/// ```
/// use federated_credentials::testkit::Fault;
/// use std::time::Duration;
///
/// let unavailable = Fault::status(503);
/// let throttled = Fault::too_many_requests(Duration::from_secs(2));
/// assert!(matches!(throttled, Fault::Status { status: 429, .. }));
/// # let _ = unavailable;
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Fault {
    /// Answer with this status, body and extra headers.
    Status {
        /// The HTTP status code.
        status: u16,
        /// The response body, sent as is.
        body: String,
        /// Extra response headers, e.g. `("retry-after", "2")`.
        headers: Vec<(String, String)>,
    },
    /// Accept the request and never answer it. The connection stays open until the client
    /// gives up or the emulator is dropped.
    Hang,
    /// Close the connection without sending any response.
    CloseConnection,
    /// Wait this long, then handle the request normally.
    Delay(Duration),
    /// Answer `200 OK` with this raw body (for tests of unparsable responses).
    Body(String),
    /// Answer `302 Found` with this `Location`.
    Redirect(String),
}

impl Fault {
    /// A [`Fault::Status`] with an empty body and no extra headers.
    pub fn status(status: u16) -> Self {
        Self::Status {
            status,
            body: String::new(),
            headers: Vec::new(),
        }
    }

    /// A [`Fault::Status`] with this body and no extra headers.
    pub fn status_with_body(status: u16, body: impl Into<String>) -> Self {
        Self::Status {
            status,
            body: body.into(),
            headers: Vec::new(),
        }
    }

    /// `429 Too Many Requests` with a `Retry-After` header in whole seconds.
    pub fn too_many_requests(retry_after: Duration) -> Self {
        Self::Status {
            status: 429,
            body: "Too Many Requests".to_owned(),
            headers: vec![("retry-after".to_owned(), retry_after.as_secs().to_string())],
        }
    }
}
