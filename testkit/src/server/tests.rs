//! Tests of the server scaffolding with a minimal handler: request log, fault queue, shutdown.

use super::*;
use crate::test_support::{client, send};

/// Answers `200 ok` with an `x-echo` header; scripted faults are status codes.
#[derive(Debug)]
struct Echo;

impl Handler for Echo {
    type Fault = u16;
    const BODY_CONTENT_TYPE: &'static str = "text/plain";

    fn handle(&self, request: &RecordedRequest) -> Response {
        Response::text(200, "ok").with_header("x-echo", request.method.clone())
    }

    fn handle_fault(&self, _: &RecordedRequest, status: u16) -> Response {
        Response::text(status, "scripted")
    }

    fn decorate(&self, response: &mut Response) {
        response.set_header_if_absent("x-service", "echo");
    }
}

async fn echo() -> Server<Echo> {
    Server::start(Echo).await.unwrap()
}

#[tokio::test]
async fn records_requests_decoded() {
    let server = echo().await;
    let url = format!("{}/a%40b/c?x=1%2B1&y=a+b&x=2", server.base_url());
    let reply = send(client().post(url).header("X-Custom", "V").body("payload")).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    assert_eq!(reply.header("x-service"), Some("echo"));
    let recorded = server.requests();
    assert_eq!(recorded.len(), 1);
    let r = &recorded[0];
    assert_eq!((r.method.as_str(), r.path.as_str()), ("POST", "/a%40b/c"));
    let query: Vec<(&str, &str)> = r
        .query
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    assert_eq!(query, [("x", "1+1"), ("y", "a b"), ("x", "2")]);
    assert!(r.headers.contains(&("x-custom".to_owned(), "V".to_owned())));
    assert_eq!(r.body, b"payload");
    assert_eq!(server.request_count(), 1);
    server.clear_requests();
    assert!(server.requests().is_empty());
    assert_eq!(server.request_count(), 1);
}

#[tokio::test]
async fn faults_are_consumed_in_push_order() {
    let server = echo().await;
    let throttled = Fault::too_many_requests(Duration::from_secs(3));
    server.push(Scripted::Generic(throttled), 1);
    server.push(Scripted::Emulator(418), 2);
    server.push(Scripted::Generic(Fault::Redirect("/elsewhere".into())), 1);
    server.push(Scripted::Generic(Fault::Delay(Duration::from_millis(5))), 1);
    assert_eq!(server.pending_faults(), 5);
    let no_redirects = reqwest::Client::builder()
        .no_proxy()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut replies = Vec::new();
    for _ in 0..6 {
        replies.push(send(no_redirects.get(server.base_url())).await);
    }
    assert_eq!(replies[0].status, 429);
    assert_eq!(replies[0].header("retry-after"), Some("3"));
    assert_eq!(replies[0].header("x-service"), Some("echo"));
    assert_eq!((replies[1].status, replies[2].status), (418, 418));
    assert_eq!(replies[3].status, 302);
    assert_eq!(replies[3].header("location"), Some("/elsewhere"));
    assert_eq!(
        replies[4].header("x-echo"),
        Some("GET"),
        "delayed, then normal"
    );
    assert_eq!(replies[5].status, 200);
    assert_eq!(server.pending_faults(), 0);

    server.push(Scripted::Emulator(500), 3);
    server.clear_faults();
    assert_eq!(send(client().get(server.base_url())).await.status, 200);
}

#[tokio::test]
async fn fault_headers_override_decorations() {
    let server = echo().await;
    let fault = Fault::Status {
        status: 503,
        body: "down".into(),
        headers: vec![("X-Service".into(), "proxy".into())],
    };
    server.push(Scripted::Generic(fault), 1);
    let reply = send(client().get(server.base_url())).await;
    assert_eq!((reply.status, reply.body.as_str()), (503, "down"));
    assert_eq!(reply.header("x-service"), Some("proxy"));
}

#[tokio::test]
async fn hang_holds_the_request_until_the_client_gives_up() {
    let server = echo().await;
    server.push(Scripted::Generic(Fault::Hang), 1);
    let error = client()
        .get(server.base_url())
        .timeout(Duration::from_millis(200))
        .send()
        .await
        .expect_err("no answer");
    assert!(error.is_timeout(), "{error}");
    assert_eq!(server.request_count(), 1);
    assert_eq!(send(client().get(server.base_url())).await.status, 200);
}

#[tokio::test]
async fn close_connection_sends_no_response() {
    let server = echo().await;
    server.push(Scripted::Generic(Fault::CloseConnection), 1);
    let error = client()
        .get(server.base_url())
        .send()
        .await
        .expect_err("connection closed");
    assert!(!error.is_timeout() && error.status().is_none(), "{error}");
    assert_eq!(send(client().get(server.base_url())).await.status, 200);
}

#[tokio::test]
async fn shutdown_closes_the_port() {
    let server = echo().await;
    let addr = server.addr();
    assert!(TcpStream::connect(addr).await.is_ok());
    server.shutdown().await;
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn drop_stops_the_server_and_its_hanging_connections() {
    let server = echo().await;
    let addr = server.addr();
    server.push(Scripted::Generic(Fault::Hang), 1);
    let hanging = tokio::spawn(client().get(server.base_url()).send());
    for _ in 0..10_000 {
        if server.request_count() > 0 {
            break;
        }
        tokio::task::yield_now().await;
    }
    assert_eq!(server.request_count(), 1, "the request never arrived");
    drop(server);
    let error = hanging
        .await
        .unwrap()
        .expect_err("the hung connection is closed");
    assert!(!error.is_timeout(), "{error}");
    // Aborting is asynchronous: the listener closes once the runtime polls the task.
    let mut refused = false;
    for _ in 0..1000 {
        if TcpStream::connect(addr).await.is_err() {
            refused = true;
            break;
        }
        tokio::task::yield_now().await;
    }
    assert!(refused, "the port still accepts connections");
}

#[tokio::test]
async fn pass_and_headers_handle_the_request_normally() {
    let server = echo().await;
    server.push(Scripted::Generic(Fault::Pass), 1);
    server.push(Scripted::Generic(Fault::content_type("text/html")), 1);
    server.push(Scripted::Generic(Fault::status(503)), 1);
    let first = send(client().get(server.base_url())).await;
    assert_eq!((first.status, first.body.as_str()), (200, "ok"));
    let second = send(client().get(server.base_url())).await;
    assert_eq!((second.status, second.body.as_str()), (200, "ok"));
    assert_eq!(second.header("content-type"), Some("text/html"));
    assert_eq!(second.header("x-echo"), Some("GET"));
    assert_eq!(second.header("x-service"), Some("echo"));
    assert_eq!(send(client().get(server.base_url())).await.status, 503);
}

#[tokio::test]
async fn drip_sends_the_whole_body_slowly() {
    let server = echo().await;
    server.push(Scripted::Generic(Fault::drip(Duration::from_millis(20))), 1);
    let started = tokio::time::Instant::now();
    let reply = send(client().get(server.base_url())).await;
    assert_eq!((reply.status, reply.body.as_str()), (200, "ok"));
    assert_eq!(reply.header("content-length"), Some("2"));
    assert!(started.elapsed() >= Duration::from_millis(20));

    server.push(Scripted::Generic(Fault::drip(Duration::from_secs(60))), 1);
    let response = client().get(server.base_url()).send().await.unwrap();
    assert_eq!(response.status(), 200, "the headers come at once");
    let error = tokio::time::timeout(Duration::from_millis(200), response.text()).await;
    assert!(error.is_err(), "the second byte takes a minute");
}

#[tokio::test]
async fn truncated_and_reset_bodies_break_after_half() {
    for fault in [Fault::Truncated, Fault::ResetMidBody] {
        let server = echo().await;
        server.push(Scripted::Generic(fault.clone()), 1);
        let response = client().get(server.base_url()).send().await.unwrap();
        assert_eq!(response.status(), 200, "{fault:?}");
        assert_eq!(response.content_length(), Some(2), "{fault:?}");
        let error = response.bytes().await.expect_err("the body is cut short");
        assert!(!error.is_timeout(), "{fault:?}: {error}");
        assert_eq!(server.body_bytes_sent(), 1, "{fault:?}");
        // The emulator keeps serving new connections.
        assert_eq!(send(client().get(server.base_url())).await.body, "ok");
    }
}

#[tokio::test]
async fn reset_mid_body_resets_the_connection() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let server = echo().await;
    server.push(Scripted::Generic(Fault::ResetMidBody), 1);
    let mut stream = TcpStream::connect(server.addr()).await.unwrap();
    stream
        .write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        .await
        .unwrap();
    let mut received = Vec::new();
    let mut buf = [0u8; 1024];
    let error = loop {
        match stream.read(&mut buf).await {
            Ok(0) => panic!("orderly close instead of a reset after {received:?}"),
            Ok(n) => received.extend_from_slice(&buf[..n]),
            Err(e) => break e,
        }
    };
    assert_eq!(error.kind(), std::io::ErrorKind::ConnectionReset);
    let text = String::from_utf8_lossy(&received);
    assert!(text.starts_with("HTTP/1.1 200"), "{text}");
    assert!(text.ends_with("\r\n\r\no"), "half the body: {text}");
}

#[tokio::test]
async fn huge_body_is_streamed_only_as_fast_as_it_is_read() {
    let server = echo().await;
    let bytes = 100 * 1024 * 1024;
    server.push(Scripted::Generic(Fault::huge_body(bytes)), 1);
    let mut response = client().get(server.base_url()).send().await.unwrap();
    assert_eq!(response.content_length(), Some(bytes));
    let mut read = 0;
    while read < 1024 * 1024 {
        read += response.chunk().await.unwrap().unwrap().len();
    }
    drop(response);
    let sent = server.body_bytes_sent();
    assert!(
        sent < 32 * 1024 * 1024,
        "{sent} bytes produced for a client that read {read}"
    );
    assert_eq!(send(client().get(server.base_url())).await.body, "ok");
}

/// The checks the accessors' doc examples used to make, stamped for one emulator type started
/// with its default settings, as `emulator_controls!` stamps the accessors.
macro_rules! controls_hold {
    ($test:ident, $emulator:ty) => {
        #[tokio::test]
        async fn $test() {
            let start = || async { <$emulator>::start().await.unwrap() };
            let http = client();

            let emulator = start().await;
            assert!(emulator.local_addr().ip().is_loopback());
            assert_ne!(emulator.local_addr().port(), 0, "an ephemeral port");
            assert_eq!(
                emulator.base_url(),
                format!("http://{}", emulator.local_addr())
            );
            assert!(emulator.last_request().is_none());

            // request_count counts faulted requests too
            emulator.push_fault(Fault::status(503));
            http.get(emulator.base_url()).send().await.unwrap();
            http.get(emulator.base_url()).send().await.unwrap();
            assert_eq!(emulator.request_count(), 2);

            // body_bytes_sent
            let emulator = start().await;
            emulator.push_fault(Fault::Body("not what you expected".into()));
            let body = send(http.get(emulator.base_url())).await.body;
            assert_eq!(emulator.body_bytes_sent(), body.len() as u64);

            // requests, last_request, clear_requests
            let emulator = start().await;
            let url = format!("{}/some/path?x=1", emulator.base_url());
            http.get(url).send().await.unwrap();
            http.delete(emulator.base_url()).send().await.unwrap();
            let requests = emulator.requests();
            assert_eq!(requests.len(), 2);
            assert_eq!(
                (requests[0].path.as_str(), requests[0].query_param("x")),
                ("/some/path", Some("1"))
            );
            assert_eq!(requests[1].method, "DELETE");
            http.post(emulator.base_url())
                .body("a=1&b=2")
                .send()
                .await
                .unwrap();
            let last = emulator.last_request().expect("one request arrived");
            assert_eq!(last.method, "POST");
            assert_eq!(last.form_param("b").as_deref(), Some("2"));
            emulator.clear_requests();
            assert!(emulator.requests().is_empty());
            assert_eq!(emulator.request_count(), 3);

            // push_fault, push_fault_times, pending_faults, clear_faults
            let status = |emulator: &$emulator| {
                let request = http.get(emulator.base_url());
                async move { request.send().await.unwrap().status().as_u16() }
            };
            let emulator = start().await;
            emulator.push_fault(Fault::status(503));
            assert_eq!(status(&emulator).await, 503);
            assert_ne!(status(&emulator).await, 503);
            emulator.push_fault_times(Fault::status(500), 2);
            emulator.push_fault(Fault::status(502));
            assert_eq!(emulator.pending_faults(), 3);
            let mut statuses = Vec::new();
            for _ in 0..4 {
                statuses.push(status(&emulator).await);
            }
            assert_eq!(statuses[..3], [500, 500, 502]);
            assert!(
                !matches!(statuses[3], 500 | 502),
                "the queue is empty again"
            );
            emulator.push_fault_times(Fault::status(503), 2);
            assert_eq!(emulator.pending_faults(), 2);
            status(&emulator).await;
            assert_eq!(emulator.pending_faults(), 1);
            emulator.push_fault_times(Fault::status(503), 3);
            emulator.clear_faults();
            assert_eq!(emulator.pending_faults(), 0);
            assert_ne!(status(&emulator).await, 503);

            // shutdown refuses connections
            let url = emulator.base_url();
            emulator.shutdown().await;
            assert!(http.get(url).send().await.is_err(), "connection refused");
        }
    };
}

controls_hold!(
    controls_of_the_metadata_emulator,
    crate::GcpMetadataEmulator
);
controls_hold!(controls_of_the_aws_sts_emulator, crate::AwsStsEmulator);
controls_hold!(controls_of_the_imds_emulator, crate::Ec2MetadataEmulator);
controls_hold!(
    controls_of_the_google_sts_emulator,
    crate::GoogleStsEmulator
);
controls_hold!(controls_of_the_iam_emulator, crate::IamCredentialsEmulator);
