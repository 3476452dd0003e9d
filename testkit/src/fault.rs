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
/// use federated_credentials::source::{GcpMetadataIdentityToken, SubjectTokenSource};
/// use federated_credentials_testkit::{Fault, GcpMetadataEmulator};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let mds = GcpMetadataEmulator::start().await?;
/// // Two failures the client retries, then a normal answer.
/// mds.push_fault(Fault::status(503));
/// mds.push_fault(Fault::too_many_requests(std::time::Duration::ZERO));
/// let source = GcpMetadataIdentityToken::new("sts.amazonaws.com").metadata_host(mds.host());
/// source.subject_token(&Default::default()).await?;
/// assert_eq!((mds.request_count(), mds.pending_faults()), (3, 0));
/// # Ok(())
/// # }
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
    /// Handle the request normally. A placeholder that aims the faults queued after it at a
    /// later request (e.g. at the third request of a three-step fetch).
    Pass,
    /// Handle the request normally, then set these response headers, replacing any of the
    /// same name (e.g. a wrong `Content-Type`, or a missing service header set to empty).
    Headers(Vec<(String, String)>),
    /// Handle the request normally but send the body one byte every `interval` (the first at
    /// once), with the full `Content-Length` announced up front.
    Drip {
        /// The pause between two bytes.
        interval: Duration,
    },
    /// Handle the request normally, announce the full `Content-Length`, send only the first
    /// half of the body, then close the connection (an orderly close, FIN).
    Truncated,
    /// Like [`Fault::Truncated`], but the connection is reset (TCP RST) after the first half
    /// of the body instead of closed.
    ResetMidBody,
    /// Answer `200 OK` (with the service's usual content type) with a body of `bytes` bytes of
    /// filler, announced in `Content-Length` and produced chunk by chunk only as fast as the
    /// client reads, so that even a very large body never sits in the emulator's memory. See
    /// the emulators' `body_bytes_sent`.
    HugeBody {
        /// The announced and (if the client reads it all) sent body length.
        bytes: u64,
    },
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

    /// A [`Fault::Drip`] of one byte every `interval`.
    pub fn drip(interval: Duration) -> Self {
        Self::Drip { interval }
    }

    /// A [`Fault::HugeBody`] of `bytes` bytes.
    ///
    /// ```
    /// use federated_credentials_testkit::{Fault, GcpMetadataEmulator};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let mds = GcpMetadataEmulator::start().await?;
    /// mds.push_fault(Fault::huge_body(100 * 1024 * 1024));
    /// let http = reqwest::Client::builder().no_proxy().build()?;
    /// let response = http.get(mds.base_url()).header("Metadata-Flavor", "Google").send().await?;
    /// drop(response); // a careful client gives up on such a body without reading it
    /// assert!(mds.body_bytes_sent() < 100 * 1024 * 1024);
    /// # Ok(())
    /// # }
    /// ```
    pub fn huge_body(bytes: u64) -> Self {
        Self::HugeBody { bytes }
    }

    /// A [`Fault::Headers`] replacing the `Content-Type` of the normal answer.
    pub fn content_type(content_type: impl Into<String>) -> Self {
        Self::Headers(vec![("content-type".to_owned(), content_type.into())])
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

#[cfg(test)]
mod tests;
