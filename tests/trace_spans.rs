//! Each fetch's events land in that fetch's span, also with many fetches interleaved on a
//! multi-threaded runtime (a span entered with `span.enter()` and held across `.await` leaks
//! into whatever else runs on the thread; `.instrument(span)` does not).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use federated_credentials::aws::WebIdentityProvider;
use federated_credentials::context::{Context, StaticEnv};
use federated_credentials::google::ExternalAccountCredentials;
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials::source::StaticToken;
use federated_credentials::token::TokenType;
use federated_credentials_testkit::{
    AwsStsEmulator, Fault, GcpMetadataEmulator, GoogleIdentity, GoogleStsEmulator,
    IamCredentialsEmulator, ProviderSpec, RoleSpec, ServiceAccountSpec,
};
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

const FETCH_SPANS: &[&str] = &[
    "gcp_metadata_identity",
    "aws_sts_assume_role_with_web_identity",
    "google_sts_exchange",
    "iam_generate_access_token",
];

#[derive(Debug, Default)]
struct Span {
    name: &'static str,
    fields: HashMap<String, String>,
    parent: Option<u64>,
}

#[derive(Debug)]
struct Recorded {
    fields: HashMap<String, String>,
    /// The spans the event is in, innermost first.
    scope: Vec<u64>,
}

#[derive(Default, Clone)]
struct Recorder {
    spans: Arc<Mutex<HashMap<u64, Span>>>,
    events: Arc<Mutex<Vec<Recorded>>>,
}

struct Fields<'a>(&'a mut HashMap<String, String>);

impl Visit for Fields<'_> {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        self.0.insert(
            field.name().to_string(),
            format!("{value:?}").trim_matches('"').to_string(),
        );
    }
    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl<S: Subscriber + for<'a> LookupSpan<'a>> Layer<S> for Recorder {
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let parent = match attrs.parent() {
            Some(p) => Some(p.into_u64()),
            None if attrs.is_contextual() => ctx.current_span().id().map(Id::into_u64),
            None => None,
        };
        let mut span = Span {
            name: attrs.metadata().name(),
            parent,
            ..Span::default()
        };
        attrs.record(&mut Fields(&mut span.fields));
        self.spans.lock().unwrap().insert(id.into_u64(), span);
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = HashMap::new();
        event.record(&mut Fields(&mut fields));
        let scope = ctx
            .event_scope(event)
            .map(|scope| scope.map(|s| s.id().into_u64()).collect())
            .unwrap_or_default();
        self.events.lock().unwrap().push(Recorded { fields, scope });
    }
}

#[test]
fn concurrent_fetches_keep_their_events_in_their_own_spans() {
    let recorder = Recorder::default();
    let subscriber = tracing_subscriber::registry().with(recorder.clone());
    tracing::subscriber::set_global_default(subscriber).unwrap();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    const FETCHES: usize = 24;
    runtime.block_on(async {
        let mds = GcpMetadataEmulator::start().await.unwrap();
        let sts = AwsStsEmulator::start().await.unwrap();
        let ctx = Context::builder()
            .env(StaticEnv::from_pairs([("GCE_METADATA_HOST", mds.host())]))
            .build();
        // Slow answers, so that every fetch is suspended inside its span while others run.
        mds.push_fault_times(Fault::Delay(Duration::from_millis(20)), FETCHES);
        sts.push_fault_times(Fault::Delay(Duration::from_millis(20)), FETCHES);
        let mut tasks = Vec::new();
        for i in 0..FETCHES {
            let role = sts.role_arn(&format!("role-{i}"));
            sts.add_role(
                RoleSpec::new(&role)
                    .google_aud(&mds.default_service_account().unique_id)
                    .google_oaud("sts.amazonaws.com"),
            );
            let provider = WebIdentityProvider::builder()
                .context(ctx.clone())
                .token_source(GcpMetadataIdentityToken::new("sts.amazonaws.com"))
                .role_arn(role)
                .configure_sts(|s| s.endpoint_url(sts.endpoint()))
                .build()
                .unwrap();
            tasks.push(tokio::spawn(async move { provider.credentials().await }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }

        // AWS → GCP: Google STS, then impersonation of a service account per fetch.
        let audience = "//iam.googleapis.com/projects/1/locations/global/workloadIdentityPools/p/providers/oidc";
        let google_sts = GoogleStsEmulator::builder()
            .provider(ProviderSpec::oidc(audience).trust(GoogleIdentity::shared()))
            .start()
            .await
            .unwrap();
        let mut iam = IamCredentialsEmulator::builder();
        for i in 0..FETCHES {
            iam = iam.service_account(ServiceAccountSpec::new(
                format!("sa-{i}@p.iam.gserviceaccount.com"),
                format!("1000000000000000000{i:02}"),
            ));
        }
        let iam = iam.start().await.unwrap();
        iam.trust_sts(&google_sts);
        google_sts.push_fault_times(Fault::Delay(Duration::from_millis(20)), FETCHES);
        iam.push_fault_times(Fault::Delay(Duration::from_millis(20)), FETCHES);
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let jwt = GoogleIdentity::shared().sign(&serde_json::json!({
            "iss": "https://issuer.example.com", "sub": "workload", "aud": audience,
            "iat": now, "exp": now + 600,
        }));
        let mut tasks = Vec::new();
        for i in 0..FETCHES {
            let credentials = ExternalAccountCredentials::builder()
                .context(ctx.clone())
                .audience(audience)
                .token_url(google_sts.token_url())
                .token_source(StaticToken::new(jwt.clone(), TokenType::Jwt))
                .service_account_impersonation_url(
                    iam.generate_access_token_url(&format!("sa-{i}@p.iam.gserviceaccount.com")),
                )
                .build()
                .unwrap();
            tasks.push(tokio::spawn(async move { credentials.access_token().await }));
        }
        for task in tasks {
            task.await.unwrap().unwrap();
        }
    });

    let spans = recorder.spans.lock().unwrap();
    let events = recorder.events.lock().unwrap();
    let is_fetch = |id: &u64| FETCH_SPANS.contains(&spans[id].name);
    // No fetch span was created inside another fetch's span.
    for (id, span) in spans.iter().filter(|(id, _)| is_fetch(id)) {
        let mut up = span.parent;
        while let Some(p) = up {
            assert!(
                !is_fetch(&p),
                "span {id} `{}` {:?} was created inside `{}` {:?}",
                span.name,
                span.fields,
                spans[&p].name,
                spans[&p].fields
            );
            up = spans[&p].parent;
        }
    }
    for name in [
        "aws_sts_assume_role_with_web_identity",
        "google_sts_exchange",
        "iam_generate_access_token",
    ] {
        let count = spans.values().filter(|s| s.name == name).count();
        assert_eq!(count, FETCHES, "{name}");
    }
    // Every event is in at most one fetch span, and "assumed role" in its own role's.
    let mut assumed = 0;
    for event in events.iter() {
        let fetch_spans: Vec<&u64> = event.scope.iter().filter(|id| is_fetch(id)).collect();
        assert!(fetch_spans.len() <= 1, "{event:?} is in {fetch_spans:?}");
        if event.fields.get("message").map(String::as_str) == Some("assumed role") {
            let span = &spans[fetch_spans[0]];
            let role = span.fields["role_arn"]
                .rsplit('/')
                .next()
                .unwrap()
                .to_string();
            assert!(
                event.fields["assumed_role_arn"].contains(&format!("assumed-role/{role}/")),
                "{event:?} in the span of {role}"
            );
            assumed += 1;
        }
    }
    assert_eq!(assumed, FETCHES);
}
