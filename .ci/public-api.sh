#!/usr/bin/env bash
# The library's public API (all features), one item per line, must match public-api.txt, so
# that the surface grows only deliberately. After an intended change:
#   bash .ci/public-api.sh --bless     # rewrites public-api.txt; commit it with the change
# Uses rustdoc's JSON output (unstable; RUSTC_BOOTSTRAP=1 lets the stable toolchain emit it)
# and .ci/public_api.py to render it.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RUSTC_BOOTSTRAP=1 cargo rustdoc --quiet --lib --all-features -p federated-credentials -- \
    -Z unstable-options --output-format json
current="$(mktemp)"
trap 'rm -f "$current"' EXIT
python3 .ci/public_api.py target/doc/federated_credentials.json >"$current"
if [[ "${1:-}" == "--bless" ]]; then
    cp "$current" public-api.txt
    echo "public-api.txt updated ($(wc -l <public-api.txt) lines)"
    exit 0
fi
if ! diff -u public-api.txt "$current"; then
    echo >&2
    echo "The public API changed (above: - removed, + added). If that is intended, run" >&2
    echo "  bash .ci/public-api.sh --bless" >&2
    echo "and commit public-api.txt with the change (and say so in CHANGELOG.md)." >&2
    exit 1
fi
echo "public API unchanged ($(wc -l <public-api.txt) items)"
