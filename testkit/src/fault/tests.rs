//! Tests of the fault constructors against real emulators, as a client sees them.

use std::time::{Duration, Instant};

use super::*;
use crate::test_support::{client, send};
use crate::{AwsStsEmulator, GcpMetadataEmulator, GoogleStsEmulator};

const PROJECT_ID: &str = "/computeMetadata/v1/project/project-id";

#[tokio::test]
async fn status_faults_with_and_without_a_body() {
    let sts = GoogleStsEmulator::start().await.unwrap();
    sts.push_fault(Fault::status(500));
    sts.push_fault(Fault::status_with_body(502, "<html>Bad Gateway</html>"));
    let reply = send(client().post(sts.token_url())).await;
    assert_eq!((reply.status, reply.body.as_str()), (500, ""));
    let reply = send(client().post(sts.token_url())).await;
    assert_eq!(
        (reply.status, reply.body.as_str()),
        (502, "<html>Bad Gateway</html>")
    );
}

#[tokio::test]
async fn too_many_requests_says_when_to_retry() {
    let sts = AwsStsEmulator::start().await.unwrap();
    sts.push_fault(Fault::too_many_requests(Duration::from_secs(2)));
    let reply = send(client().post(sts.endpoint())).await;
    assert_eq!(reply.status, 429);
    assert_eq!(reply.header("retry-after"), Some("2"));
}

#[tokio::test]
async fn drip_and_content_type_keep_the_normal_body() {
    let mds = GcpMetadataEmulator::start().await.unwrap();
    let get = || {
        client()
            .get(format!("{}{PROJECT_ID}", mds.base_url()))
            .header("Metadata-Flavor", "Google")
    };
    mds.push_fault(Fault::drip(Duration::from_millis(5)));
    let started = Instant::now();
    let reply = send(get()).await;
    assert_eq!(reply.body, "test-project", "the normal answer, just slow");
    assert!(
        started.elapsed() >= Duration::from_millis(5 * 11),
        "12 bytes, 11 pauses"
    );

    mds.push_fault(Fault::content_type("text/html"));
    let reply = send(get()).await;
    assert_eq!(reply.header("content-type"), Some("text/html"));
    assert_eq!(reply.body, "test-project", "the body is the normal one");
}

#[tokio::test]
async fn huge_body_announces_its_length() {
    let mds = GcpMetadataEmulator::start().await.unwrap();
    mds.push_fault(Fault::huge_body(100 * 1024 * 1024));
    let response = client()
        .get(mds.base_url())
        .header("Metadata-Flavor", "Google")
        .send()
        .await
        .unwrap();
    assert_eq!(response.content_length(), Some(100 * 1024 * 1024));
    drop(response);
    assert!(mds.body_bytes_sent() < 100 * 1024 * 1024);
}
