#!/usr/bin/env bash
# The one command that runs every check and test, on a fresh machine too:
# installs the tools (infra/scripts/setup-tools.sh), then formatting, lints,
# one debug build of the workspace (the functions and the command that the
# integration tests run, and every test), the tests, and the SAM template
# checks with the arm64 deploy build. Local services are started by the tests
# themselves.
#
# Every compilation goes through sccache, whose cache lives beside the tools
# (setup-tools.sh), so a fresh clone on a machine that built the project once
# compiles only what changed. Each step's duration is printed at the end.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

timings=()
step_name=""
step_start=0
step() {
    finish_step
    step_name="$*"
    step_start=$SECONDS
    printf '\n==> %s\n' "$*"
}
finish_step() {
    if [ -n "$step_name" ]; then
        timings+=("$(printf '%5ds  %s' $((SECONDS - step_start)) "$step_name")")
    fi
    step_name=""
}

step "tools: infra/scripts/setup-tools.sh"
bash infra/scripts/setup-tools.sh
# shellcheck source=/dev/null
source .tools/env.sh

# The compiler cache: its own server port, so that a server started elsewhere
# with another cache folder is never borrowed; incremental builds cannot be
# cached, and a test run gains nothing from them.
export RUSTC_WRAPPER="$HLM_SCCACHE"
export SCCACHE_DIR="$HLM_CACHE_DIR/sccache"
export SCCACHE_CACHE_SIZE="${SCCACHE_CACHE_SIZE:-20G}"
export SCCACHE_SERVER_PORT="${SCCACHE_SERVER_PORT:-4231}"
export SCCACHE_IDLE_TIMEOUT="${SCCACHE_IDLE_TIMEOUT:-120}"
export CARGO_INCREMENTAL=0
"$RUSTC_WRAPPER" --zero-stats >/dev/null 2>&1 || true

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The integration tests run the functions' and the command's binaries of this
# build, which `cargo test` alone would not build.
step "cargo build --workspace --bins"
cargo build --workspace --bins

step "cargo test --workspace"
test_log=.tools/cargo-test.log
cargo test --workspace 2>&1 | tee "$test_log"

# --- SAM template checks ---------------------------------------------------------
step "template: infra/scripts/check-template.sh (cfn-lint, checkov, sam validate, sam build)"
bash infra/scripts/check-template.sh

finish_step
printf '\n==> all checks passed\n'
printf '%s\n' "${timings[@]}"
printf '%5ds  total\n' "$SECONDS"
"$RUSTC_WRAPPER" --show-stats 2>/dev/null | grep -E '^(Compile requests|Cache hits|Cache misses|Non-cacheable calls)' || true
# One closing line for the whole run: the sum of every cargo test summary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;/) p += $(i-1); if ($(i) ~ /^failed;/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
