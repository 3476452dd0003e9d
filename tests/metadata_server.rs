//! `server::MetadataServer` (`google serve-metadata`) in front of the AWS → GCP configuration of
//! the emulated clouds (IMDSv2, Google STS, impersonation): the GCE metadata paths Google
//! clients ask for, the per-scope and per-audience caches, and the real server's refusals.

use federated_credentials::config::ExternalAccountConfig;
use federated_credentials::server::MetadataServer;
use federated_credentials_testkit::{AWS_PROVIDER_AUDIENCE, Clouds, SERVICE_ACCOUNT};

struct World {
    clouds: Clouds,
    base: String,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl World {
    async fn new(edit: impl FnOnce(&mut serde_json::Value)) -> World {
        let clouds = Clouds::start().await.unwrap();
        let mut config = clouds.external_account_config();
        edit(&mut config);
        let server = MetadataServer::builder()
            .config(ExternalAccountConfig::from_json(&config.to_string()).unwrap())
            .project_id("emulated-project")
            .bind()
            .await
            .unwrap();
        server.prefetch().await.unwrap();
        let base = format!("http://{}", server.host());
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        World {
            clouds,
            base,
            _stop: stop,
        }
    }

    async fn get_with(&self, path: &str, headers: &[(&str, &str)]) -> (u16, String, bool) {
        let mut request = reqwest::Client::new().get(format!("{}{path}", self.base));
        for (k, v) in headers {
            request = request.header(*k, *v);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let flavored = response
            .headers()
            .get("metadata-flavor")
            .is_some_and(|v| v == "Google");
        (status, response.text().await.unwrap(), flavored)
    }

    async fn get(&self, path: &str) -> (u16, String) {
        let (status, body, flavored) = self.get_with(path, &[("Metadata-Flavor", "Google")]).await;
        assert!(
            flavored,
            "{path}: every answer says Metadata-Flavor: Google"
        );
        (status, body)
    }
}

const SA_PATH: &str = "/computeMetadata/v1/instance/service-accounts/default";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_what_google_clients_ask_of_a_metadata_server() {
    let w = World::new(|_| {}).await;
    assert_eq!(w.get("/").await.0, 200, "the ping");
    assert_eq!(w.get("/computeMetadata/v1/").await.0, 200);

    // The token: the impersonated service account's, fetched once (at prefetch).
    let (status, body) = w.get(&format!("{SA_PATH}/token")).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    let issued = w.clouds.iam.issued_access_tokens();
    assert_eq!(issued.len(), 1);
    assert_eq!(json["access_token"], issued[0].access_token.as_str());
    assert_eq!(json["token_type"], "Bearer");
    assert!(json["expires_in"].as_u64().unwrap() > 3000);
    // Under the email alias too, from the cache.
    let (_, again) = w
        .get(&format!(
            "/computeMetadata/v1/instance/service-accounts/{SERVICE_ACCOUNT}/token"
        ))
        .await;
    assert_eq!(again, body);
    assert_eq!(w.clouds.iam.issued_access_tokens().len(), 1);

    // Other scopes: a token of their own, cached too.
    let storage = "https://www.googleapis.com/auth/devstorage.read_only";
    let path = format!("{SA_PATH}/token?scopes={storage}");
    let (status, scoped) = w.get(&path).await;
    assert_eq!(status, 200, "{scoped}");
    w.get(&path).await;
    let issued = w.clouds.iam.issued_access_tokens();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[1].scopes, [storage]);

    // Identity tokens through generateIdToken, cached per audience and format.
    let (status, jwt) = w
        .get(&format!(
            "{SA_PATH}/identity?audience=https://app.example&format=full"
        ))
        .await;
    assert_eq!(status, 200, "{jwt}");
    w.get(&format!(
        "{SA_PATH}/identity?audience=https://app.example&format=full"
    ))
    .await;
    let ids = w.clouds.iam.issued_id_tokens();
    assert_eq!(ids.len(), 1);
    assert_eq!(ids[0].token, jwt);
    assert_eq!(ids[0].audience, "https://app.example");
    assert!(ids[0].include_email);
    assert_eq!(w.get(&format!("{SA_PATH}/identity")).await.0, 400);

    // Account facts.
    assert_eq!(w.get(&format!("{SA_PATH}/email")).await.1, SERVICE_ACCOUNT);
    let (_, recursive) = w.get(&format!("{SA_PATH}/?recursive=true")).await;
    let recursive: serde_json::Value = serde_json::from_str(&recursive).unwrap();
    assert_eq!(recursive["email"], SERVICE_ACCOUNT);
    assert_eq!(
        recursive["scopes"],
        serde_json::json!(["https://www.googleapis.com/auth/cloud-platform"])
    );
    let (_, accounts) = w
        .get("/computeMetadata/v1/instance/service-accounts/")
        .await;
    assert!(accounts.contains("default/") && accounts.contains(SERVICE_ACCOUNT));
    assert_eq!(
        w.get("/computeMetadata/v1/project/project-id").await.1,
        "emulated-project"
    );
    let number = AWS_PROVIDER_AUDIENCE.split('/').nth(4).unwrap();
    assert_eq!(
        w.get("/computeMetadata/v1/project/numeric-project-id")
            .await
            .1,
        number
    );
    assert_eq!(
        w.get("/computeMetadata/v1/universe/universe-domain")
            .await
            .1,
        "googleapis.com"
    );
    assert_eq!(w.get("/computeMetadata/v1/instance/zone").await.0, 404);
    assert_eq!(
        w.get(
            "/computeMetadata/v1/instance/service-accounts/other@x.iam.gserviceaccount.com/token"
        )
        .await
        .0,
        404
    );
    assert_eq!(w.get("/readyz").await.0, 200);
    let (_, metrics) = w.get("/metrics").await;
    assert!(metrics.contains("federated_credentials_server_requests_total{status=\"200\"}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_what_the_real_server_refuses() {
    let w = World::new(|_| {}).await;
    let token = format!("{SA_PATH}/token");
    let before = w.clouds.iam.issued_access_tokens().len();
    // No Metadata-Flavor.
    let (status, body, _) = w.get_with(&token, &[]).await;
    assert_eq!(status, 403);
    assert!(body.contains("Metadata-Flavor"), "{body}");
    // Forwarded by a proxy.
    let (status, body, _) = w
        .get_with(
            &token,
            &[
                ("Metadata-Flavor", "Google"),
                ("X-Forwarded-For", "10.0.0.9"),
            ],
        )
        .await;
    assert_eq!(status, 403, "{body}");
    // A foreign Host (DNS rebinding).
    let (status, body, _) = w
        .get_with(
            &token,
            &[
                ("Metadata-Flavor", "Google"),
                ("Host", "attacker.example:80"),
            ],
        )
        .await;
    assert_eq!(status, 403, "{body}");
    assert!(!body.contains("access_token"));
    // The names a client may use for the real server are accepted.
    let (status, _, _) = w
        .get_with(
            &token,
            &[
                ("Metadata-Flavor", "Google"),
                ("Host", "metadata.google.internal"),
            ],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(w.clouds.iam.issued_access_tokens().len(), before);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_impersonation_identity_tokens_are_a_clear_404() {
    let w = World::new(|config| {
        config
            .as_object_mut()
            .unwrap()
            .remove("service_account_impersonation_url");
    })
    .await;
    let (status, body) = w
        .get(&format!("{SA_PATH}/identity?audience=https://app.example"))
        .await;
    assert_eq!(status, 404);
    assert!(body.contains("service_account_impersonation_url"), "{body}");
    // The email is the GKE-style principal name; the token is the federated one.
    assert_eq!(
        w.get(&format!("{SA_PATH}/email")).await.1,
        "emulated-project.svc.id.goog"
    );
    let (status, body) = w.get(&format!("{SA_PATH}/token")).await;
    assert_eq!(status, 200, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(
        json["access_token"],
        w.clouds.google_sts.issued_tokens()[0].access_token.as_str()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_server_serves_its_persisted_tokens_without_sts() {
    use federated_credentials::file_cache::{CacheKey, FileCache};

    let clouds = Clouds::start().await.unwrap();
    let config =
        ExternalAccountConfig::from_json(&clouds.external_account_config().to_string()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let files = FileCache::open(dir.path().join("cache")).unwrap();
    let key = CacheKey::new(["metadata server restart"]);
    let run = |persist: Option<CacheKey>| {
        let mut builder = MetadataServer::builder()
            .config(config.clone())
            .project_id("emulated-project");
        if let Some(key) = persist {
            builder = builder.persist(files.clone(), key);
        }
        async move {
            let server = builder.bind().await.unwrap();
            server.prefetch().await.unwrap();
            let base = format!("http://{}", server.host());
            let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
            tokio::spawn(server.run(async {
                let _ = stopped.await;
            }));
            (base, stop)
        }
    };
    let ask = |base: String, path: String| async move {
        let response = reqwest::Client::new()
            .get(format!("{base}{path}"))
            .header("Metadata-Flavor", "Google")
            .send()
            .await
            .unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    };
    let token_of = |body: &str| {
        serde_json::from_str::<serde_json::Value>(body).unwrap()["access_token"]
            .as_str()
            .unwrap()
            .to_string()
    };

    let (base, stop) = run(Some(key.clone())).await;
    let (status, first) = ask(base.clone(), format!("{SA_PATH}/token")).await;
    assert_eq!(status, 200);
    let (status, _) = ask(
        base,
        format!("{SA_PATH}/identity?audience=https://a.example"),
    )
    .await;
    assert_eq!(status, 200, "the federated token is fetched for identity");
    // Both entries (the configured scopes' token, the federated one) are written by the
    // server's tasks: wait for them (polling for the files, not sleeping for correctness).
    let entries = || {
        std::fs::read_dir(files.dir())
            .map(|d| {
                d.filter_map(Result::ok)
                    .filter(|e| e.path().extension().is_some_and(|x| x == "json"))
                    .count()
            })
            .unwrap_or(0)
    };
    for _ in 0..500 {
        if entries() >= 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert_eq!(entries(), 2);
    let _ = stop.send(());

    // Restarted: the same token, and no Google STS request at all (identity tokens for a new
    // audience go to IAM with the persisted federated token).
    let sts_before = clouds.google_sts.request_count();
    let (base, _stop) = run(Some(key.clone())).await;
    let (status, again) = ask(base.clone(), format!("{SA_PATH}/token")).await;
    assert_eq!(status, 200);
    assert_eq!(token_of(&again), token_of(&first));
    let (status, _) = ask(
        base,
        format!("{SA_PATH}/identity?audience=https://b.example"),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        clouds.google_sts.request_count(),
        sts_before,
        "no STS exchange after the restart"
    );

    // Without persistence a restart exchanges again.
    let (base, _stop) = run(None).await;
    let (status, _) = ask(base, format!("{SA_PATH}/token")).await;
    assert_eq!(status, 200);
    assert!(clouds.google_sts.request_count() > sts_before);
}
