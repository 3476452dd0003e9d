#!/usr/bin/env bash
# The MSRV check: `rust-version` in Cargo.toml (1.94.1, the floor the aws-smithy crates set).
#
# 1. With that toolchain installed (`rustup toolchain install <ver>` where rustup can reach
#    its server), `cargo +<ver> check` of the library, the CLI and every feature.
# 2. Always: no dependency in the resolved tree (all features, normal and build
#    dependencies) declares a `rust-version` above ours, so the lock file we ship builds on it.
# 3. Always (in the clippy step of .ci/run): clippy's `incompatible_msrv` lint, on by
#    default with -D warnings, rejects std APIs newer than `rust-version` in our own code.
#
# Where rustup cannot fetch the toolchain, step 1 says it was skipped instead of passing
# silently; steps 2 and 3 still run.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

MSRV="$(cargo metadata --format-version 1 --no-deps |
    python3 -c 'import json, sys; print(next(p["rust_version"] for p in json.load(sys.stdin)["packages"] if p["name"] == "federated-credentials"))')"
echo "msrv: rust-version = $MSRV"

cargo metadata --format-version 1 --all-features --filter-platform "$(rustc -vV | sed -n 's/^host: //p')" |
    python3 -c '
import json, sys
msrv = tuple(int(x) for x in sys.argv[1].split("."))
m = json.load(sys.stdin)
packages = {p["id"]: p for p in m["packages"]}
nodes = {n["id"]: n for n in m["resolve"]["nodes"]}
root = next(p["id"] for p in m["packages"] if p["name"] == "federated-credentials")
seen, stack = set(), [root]
while stack:
    i = stack.pop()
    if i in seen:
        continue
    seen.add(i)
    for d in nodes[i]["deps"]:
        if any(k["kind"] in (None, "build") for k in d["dep_kinds"]):
            stack.append(d["pkg"])
def version(p):
    v = p.get("rust_version") or "0"
    return tuple(int(x) for x in v.split("."))
too_new = sorted(
    (packages[i]["name"], packages[i]["version"], packages[i]["rust_version"])
    for i in seen if version(packages[i]) > msrv
)
declared = [packages[i] for i in seen if packages[i].get("rust_version")]
highest = max((version(p) for p in declared if p["id"] != root), default=(0,))
print(f"msrv: {len(seen) - 1} dependencies (all features), {len(declared)} declare a rust-version; "
      f"the highest is {str.join(chr(46), map(str, highest))}")
if too_new:
    for name, ver, rv in too_new:
        print(f"msrv: {name} {ver} needs Rust {rv}, above our {sys.argv[1]}", file=sys.stderr)
    sys.exit(1)
' "$MSRV"

if rustup toolchain list 2>/dev/null | grep -q "^$MSRV[-.]" ||
    rustup toolchain install "$MSRV" --profile minimal >/dev/null 2>&1; then
    echo "msrv: cargo +$MSRV check"
    cargo "+$MSRV" check --lib --all-features
    cargo "+$MSRV" check --bins --features cli
else
    echo "msrv: toolchain $MSRV is not installed and rustup cannot fetch it here;" \
        "compiling with it was SKIPPED (the dependency and incompatible_msrv checks ran)"
fi
