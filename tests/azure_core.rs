//! `AzureTokenCredential` through `Arc<dyn azure_core::credentials::TokenCredential>` and
//! `AzureClientAssertion` through `azure_identity::ClientAssertion`, against the Entra emulator
//! trusting the GCE metadata emulator's Google identity.

use std::error::Error as _;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use azure_core::credentials::TokenCredential;
use azure_core::error::ErrorKind;
use federated_credentials::azure::EntraCredentials;
use federated_credentials::context::{Context, InstantSleep, ManualClock, StaticEnv};
use federated_credentials::integrations::azure_core::{AzureTokenCredential, MAX_SCOPE_SETS};
use federated_credentials::integrations::azure_identity::AzureClientAssertion;
use federated_credentials::source::GcpMetadataIdentityToken;
use federated_credentials_testkit::{
    EntraApplication, EntraEmulator, Fault, FederatedCredential, GcpMetadataEmulator,
};

const T0: u64 = 1_800_000_000;
const CLIENT: &str = "0000c11d-0000-4000-8000-000000000001";
const AUDIENCE: &str = "api://AzureADTokenExchange";
const STORAGE: &str = "https://storage.azure.com/.default";
const VAULT: &str = "https://vault.azure.net/.default";
const GOOGLE: &str = "https://accounts.google.com";

struct World {
    clock: ManualClock,
    mds: GcpMetadataEmulator,
    entra: EntraEmulator,
}

impl World {
    async fn new() -> World {
        let clock = ManualClock::new(UNIX_EPOCH + Duration::from_secs(T0));
        let mds = GcpMetadataEmulator::builder()
            .clock(clock.clone())
            .start()
            .await
            .unwrap();
        let subject = mds.default_service_account().unique_id.clone();
        let entra = EntraEmulator::builder()
            .clock(clock.clone())
            .trust_issuer(GOOGLE, mds.identity())
            .application(
                EntraApplication::new(CLIENT)
                    .federated_credential(FederatedCredential::new(GOOGLE, subject)),
            )
            .start()
            .await
            .unwrap();
        World { clock, mds, entra }
    }

    fn ctx(&self) -> Context {
        Context::builder()
            .clock(self.clock.clone())
            .env(StaticEnv::empty())
            .sleep(InstantSleep)
            .build()
    }

    fn source(&self) -> GcpMetadataIdentityToken {
        GcpMetadataIdentityToken::new(AUDIENCE).metadata_host(self.mds.host())
    }

    fn credentials(&self, client_id: &str) -> EntraCredentials {
        EntraCredentials::builder()
            .context(self.ctx())
            .token_source(self.source())
            .tenant_id(self.entra.tenant_id())
            .client_id(client_id)
            .scope(STORAGE)
            .authority_host(self.entra.authority_host())
            .build()
            .unwrap()
    }
}

#[tokio::test]
async fn each_scope_set_gets_its_own_cached_token() {
    let w = World::new().await;
    let credential: Arc<dyn TokenCredential> =
        Arc::new(AzureTokenCredential::new(w.credentials(CLIENT)));

    let storage = credential.get_token(&[STORAGE], None).await.unwrap();
    let issued = w.entra.issued_tokens();
    assert_eq!(issued.len(), 1);
    assert!(storage.token.secret() == issued[0].access_token);
    assert_eq!(issued[0].scope, STORAGE);
    assert_eq!(
        SystemTime::from(storage.expires_on),
        issued[0].expires_at,
        "the expiry Entra gave, by the injected clock"
    );
    assert!(!format!("{storage:?} {credential:?}").contains(&issued[0].access_token));

    // The same scope again (however written): the cache, no request.
    let again = credential
        .get_token(&[" https://storage.azure.com/.default", STORAGE], None)
        .await
        .unwrap();
    assert!(again.token.secret() == storage.token.secret());
    assert_eq!(w.entra.issued_tokens().len(), 1);

    // Another resource: a token of its own, cached too.
    let vault = credential.get_token(&[VAULT], None).await.unwrap();
    credential.get_token(&[VAULT], None).await.unwrap();
    let issued = w.entra.issued_tokens();
    assert_eq!(issued.len(), 2);
    assert_eq!(issued[1].scope, VAULT);
    assert!(vault.token.secret() == issued[1].access_token);
    // The storage token is still the first.
    let storage = credential.get_token(&[STORAGE], None).await.unwrap();
    assert!(storage.token.secret() == issued[0].access_token);

    // Once it has expired: a new token, never the old one.
    w.clock.advance(Duration::from_secs(3600));
    let fresh = credential.get_token(&[VAULT], None).await.unwrap();
    assert!(fresh.token.secret() != vault.token.secret());
    assert_eq!(w.entra.issued_tokens().len(), 3);
}

#[tokio::test]
async fn errors_keep_our_kind_code_and_transience() {
    let w = World::new().await;
    let unknown = "0000c11d-0000-4000-8000-00000000dead";
    let credential: Arc<dyn TokenCredential> =
        Arc::new(AzureTokenCredential::new(w.credentials(unknown)));
    let err = credential.get_token(&[STORAGE], None).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Credential), "{err:?}");
    let ours = err
        .source()
        .and_then(|s| s.downcast_ref::<federated_credentials::Error>())
        .expect("our error as the source");
    assert_eq!(ours.upstream_code(), Some("AADSTS700016"));
    assert!(!ours.is_transient());

    // No scope: a configuration error that says what to ask for.
    let credential = AzureTokenCredential::new(w.credentials(CLIENT));
    let err = credential.get_token(&[], None).await.unwrap_err();
    assert!(err.to_string().contains("/.default"), "{err}");
    assert!(w.entra.issued_tokens().is_empty());

    // A scope Entra's client-credentials grant refuses is refused before sending.
    let err = credential
        .get_token(&["https://storage.azure.com/user_impersonation"], None)
        .await
        .unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Credential), "{err:?}");
    assert!(w.entra.issued_tokens().is_empty(), "{err}");

    // The number of scope sets is bounded.
    for i in 0..MAX_SCOPE_SETS {
        credential
            .credentials_for(&[&format!("https://resource{i}.example/.default")])
            .unwrap();
    }
    let err = credential
        .credentials_for(&["https://one-too-many.example/.default"])
        .unwrap_err();
    assert!(err.to_string().contains("scope sets"), "{err}");
    // Known ones still work.
    credential
        .credentials_for(&["https://resource0.example/.default"])
        .unwrap();
}

#[tokio::test]
async fn client_assertion_is_the_sources_token() {
    use azure_identity::ClientAssertion;

    let w = World::new().await;
    let assertion = AzureClientAssertion::new(w.source()).context(w.ctx());
    let jwt = assertion.secret(None).await.unwrap();
    let claims = w
        .mds
        .identity()
        .verify(&jwt)
        .expect("signed by the metadata server's key");
    assert_eq!(claims["aud"], AUDIENCE);
    assert!(!format!("{assertion:?}").contains(&jwt));

    // A source that fails: azure_core's Credential kind, ours as the source, named.
    w.mds.push_fault_times(Fault::status(503), 50);
    let err = assertion.secret(None).await.unwrap_err();
    assert!(matches!(err.kind(), ErrorKind::Credential), "{err:?}");
    let ours = err
        .source()
        .and_then(|s| s.downcast_ref::<federated_credentials::Error>())
        .expect("our error as the source");
    assert!(ours.is_transient(), "{ours}");
}
