#!/usr/bin/env bash
# The public API (all features) of the library and of the testkit crate, one item per line,
# must match public-api.txt and testkit/public-api.txt, so that each surface grows only
# deliberately. After an intended change:
#   bash .ci/public-api.sh --bless     # rewrites both files; commit them with the change
# Uses rustdoc's JSON output (unstable; RUSTC_BOOTSTRAP=1 lets the stable toolchain emit it)
# and .ci/public_api.py to render it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
current="$(mktemp)"
trap 'rm -f "$current"' EXIT
status=0
for entry in "federated-credentials:federated_credentials:public-api.txt" \
    "federated-credentials-testkit:federated_credentials_testkit:testkit/public-api.txt"; do
    IFS=: read -r package crate listing <<<"$entry"
    RUSTC_BOOTSTRAP=1 cargo rustdoc --quiet --lib --all-features -p "$package" -- \
        -Z unstable-options --output-format json
    python3 .ci/public_api.py "target/doc/$crate.json" >"$current"
    if [[ "${1:-}" == "--bless" ]]; then
        cp "$current" "$listing"
        echo "$listing updated ($(wc -l <"$listing") lines)"
    elif ! diff -u "$listing" "$current"; then
        echo >&2
        echo "The public API of $package changed (above: - removed, + added). If that is" >&2
        echo "intended, run  bash .ci/public-api.sh --bless  and commit $listing with the" >&2
        echo "change (and say so in CHANGELOG.md)." >&2
        status=1
    else
        echo "$package: public API unchanged ($(wc -l <"$listing") items)"
    fi
done
exit "$status"
