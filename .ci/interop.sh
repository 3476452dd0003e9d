#!/usr/bin/env bash
# Interop tests against independent implementations, from one venv in
# target/interop-venv (reused on later runs) with pinned packages:
# * moto, an independent AWS implementation (interop/tests/moto.rs): starts
#   moto_server on a free loopback port, runs the tests against it and always
#   stops it again;
# * google-auth, the Python reference client of workload identity federation
#   (interop/tests/google_auth.rs, driving interop/google_auth_driver.py with
#   the venv's python, GOOGLE_AUTH_PYTHON): both clients against the same
#   loopback emulators. Its table of request counts is printed at the end
#   (target/interop-request-counts.txt);
# * botocore, the credential resolution of the AWS CLI and boto3
#   (interop/tests/botocore_profile.rs, INTEROP_PYTHON): it reads the documented
#   ~/.aws/config profile and runs our CLI (FEDERATED_CREDENTIALS_BIN, built here)
#   as its credential_process;
# * azure-identity/MSAL, the reference managed identity client
#   (interop/tests/azure_managed_identity.rs, INTEROP_PYTHON): the same requests as ours
#   to the testkit's Azure emulator;
# * azure-identity's ClientAssertionCredential (Python) and ours send the same Entra token
#   request to the testkit's Entra emulator behind an https front; azure_identity (Rust) takes
#   our ClientAssertion and azure_storage_blob our TokenCredential (interop/tests/azure_entra.rs);
# * the aws serve broker (interop/tests/aws_broker.rs): aws-config's default chain and 24
#   boto3 sessions get its credentials through AWS_CONTAINER_CREDENTIALS_FULL_URI and use
#   them against moto with SigV4 and IAM policies checked (the broker's role is moto's);
# * the google serve-metadata broker (interop/tests/google_metadata.rs): google-auth's
#   compute_engine credentials, default() and IDTokenCredentials use it as the metadata server;
# * boto3/botocore's GetWebIdentityToken (interop/tests/aws_outbound_token.rs): the
#   testkit's AWS STS emulator verifies its SigV4 signature and ours (moto has no handler).
#
# A test whose tool is missing fails; FEDERATED_CREDENTIALS_SKIP_INTEROP=1 skips it.
#
# Usage: .ci/interop.sh [extra cargo test args]
# Needs: python3 with the venv module (Debian: python3-venv), pip access to PyPI.
set -euo pipefail
exec </dev/null

MOTO_VERSION=5.2.5
GOOGLE_AUTH_VERSION=2.63.0
BOTOCORE_VERSION=1.44.8
# boto3 (matching botocore) backs the AwsSecurityCredentialsSupplier of interop/tests/aws_container.rs.
BOTO3_VERSION=1.44.8
# azure-identity (managed identity requests through MSAL): interop/tests/azure_managed_identity.rs.
AZURE_IDENTITY_VERSION=1.27.0
MSAL_VERSION=1.39.0
# google-auth's transport (google.auth.transport.requests); moto needs it too.
REQUESTS_VERSION=2.34.2
PYTHON="${PYTHON:-python3}"

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
VENV="$ROOT/target/interop-venv"
LOG="$ROOT/target/interop-moto.log"
COUNTS="$ROOT/target/interop-request-counts.txt"
mkdir -p "$ROOT/target"

log() { printf 'interop: %s\n' "$*" >&2; }

# --- moto and google-auth, in a venv of their own ----------------------------
installed() {
    "$VENV/bin/python" -c 'import sys, importlib.metadata as m; print(m.version(sys.argv[1]))' "$1" 2>/dev/null || true
}
if ! "$VENV/bin/python" -c 'pass' 2>/dev/null; then
    log "creating venv $VENV"
    rm -rf "$VENV"
    "$PYTHON" -m venv "$VENV"
fi
if [[ "$(installed moto)" != "$MOTO_VERSION" || ! -x "$VENV/bin/moto_server" ||
    "$(installed google-auth)" != "$GOOGLE_AUTH_VERSION" ||
    "$(installed requests)" != "$REQUESTS_VERSION" ||
    "$(installed botocore)" != "$BOTOCORE_VERSION" ||
    "$(installed boto3)" != "$BOTO3_VERSION" ||
    "$(installed azure-identity)" != "$AZURE_IDENTITY_VERSION" ||
    "$(installed msal)" != "$MSAL_VERSION" ]]; then
    log "installing moto[server]==$MOTO_VERSION google-auth==$GOOGLE_AUTH_VERSION requests==$REQUESTS_VERSION botocore==$BOTOCORE_VERSION boto3==$BOTO3_VERSION azure-identity==$AZURE_IDENTITY_VERSION msal==$MSAL_VERSION"
    PIP_NO_INPUT=1 "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check \
        "moto[server]==$MOTO_VERSION" "google-auth==$GOOGLE_AUTH_VERSION" "requests==$REQUESTS_VERSION" \
        "botocore==$BOTOCORE_VERSION" "boto3==$BOTO3_VERSION" \
        "azure-identity==$AZURE_IDENTITY_VERSION" "msal==$MSAL_VERSION"
fi

# --- the CLI, for botocore's credential_process --------------------------------
log "building the federated-credentials CLI"
cargo build --quiet --features cli --bin federated-credentials
BIN="$ROOT/target/debug/federated-credentials"

# --- start moto_server --------------------------------------------------------
PORT="$("$VENV/bin/python" -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
ENDPOINT="http://127.0.0.1:$PORT"

MOTO_PID=""
cleanup() {
    local status=$?
    if [[ -n "$MOTO_PID" ]]; then
        kill "$MOTO_PID" 2>/dev/null || true
        wait "$MOTO_PID" 2>/dev/null || true
    fi
    if [[ $status -ne 0 && -s "$LOG" ]]; then
        log "moto_server log (last 40 lines of $LOG):"
        tail -n 40 "$LOG" >&2 || true
    fi
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

log "starting moto_server $MOTO_VERSION on $ENDPOINT"
# Auth checking starts off (INITIAL_NO_AUTH_ACTION_COUNT unset = inf); each test
# switches it on itself through POST /moto-api/reset-auth.
env -u INITIAL_NO_AUTH_ACTION_COUNT "$VENV/bin/moto_server" -H 127.0.0.1 -p "$PORT" >"$LOG" 2>&1 &
MOTO_PID=$!

ready=""
for _ in $(seq 1 60); do # 60 x 0.5 s = 30 s
    if ! kill -0 "$MOTO_PID" 2>/dev/null; then
        log "moto_server exited during startup"
        exit 1
    fi
    if "$VENV/bin/python" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=2)' \
        "$ENDPOINT/moto-api/" 2>/dev/null; then
        ready=1
        break
    fi
    sleep 0.5
done
if [[ -z "$ready" ]]; then
    log "moto_server did not answer on $ENDPOINT within 30 s"
    exit 1
fi

# --- the tests ----------------------------------------------------------------
# moto's auth switch is global to the server, so the tests run one at a time
# (they also take a lock of their own; --test-threads=1 keeps the output tidy).
# The google-auth tests run the same way: one python at a time on 2 cores.
log "running the interop tests (moto, google-auth, botocore)"
rm -f "$COUNTS"
MOTO_ENDPOINT="$ENDPOINT" GOOGLE_AUTH_PYTHON="$VENV/bin/python" \
    INTEROP_PYTHON="$VENV/bin/python" FEDERATED_CREDENTIALS_BIN="$BIN" \
    NO_PROXY="127.0.0.1,localhost${NO_PROXY:+,$NO_PROXY}" no_proxy="127.0.0.1,localhost${no_proxy:+,$no_proxy}" \
    cargo test -p federated-credentials-interop "$@" -- --test-threads=1
if [[ -s "$COUNTS" ]]; then
    cat "$COUNTS" >&2
fi
