#!/usr/bin/env bash
# The one command that runs every check and test, on a fresh machine too:
# installs the tools (infra/scripts/setup-tools.sh), then formatting, lints,
# one debug build of the workspace (the functions and the command that the
# integration tests run, and every test), the tests, and the SAM template
# checks with the arm64 deploy build. Local services are started by the tests
# themselves.
#
# Builds go to one Cargo target directory kept beside the tools (setup-tools.sh),
# so a fresh clone on a machine that built the project once compiles only the
# workspace's own crates, not its dependencies. Each step's duration is printed
# at the end.
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

# The shared target directory (CARGO_TARGET_DIR, when set, is used instead).
# One run builds in it at a time.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$HLM_CACHE_DIR/target}"
mkdir -p "$CARGO_TARGET_DIR"
exec 8>"$CARGO_TARGET_DIR/.hlm-run.lock"
if ! flock -n 8; then
    echo "another run is using $CARGO_TARGET_DIR; waiting for it" >&2
    flock 8
fi
# Cargo takes a workspace crate as built when its sources are older than its
# artifacts. After another checkout built here, this checkout's sources may be
# older than that build, so they are touched once: its own code is compiled.
checkout_marker="$CARGO_TARGET_DIR/.hlm-checkout"
if [ "$(cat "$checkout_marker" 2>/dev/null)" != "$root" ]; then
    git ls-files -z | xargs -0 touch -c --
    printf '%s\n' "$root" >"$checkout_marker"
fi
# Incremental artifacts only grow a shared directory; a test run gains nothing.
export CARGO_INCREMENTAL=0

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The integration tests run the functions' and the command's binaries of this
# build, which `cargo test` alone would not build; bins and tests in one build,
# so that both see the same features.
step "cargo build --workspace --bins --tests"
cargo build --workspace --bins --tests

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
# One closing line for the whole run: the sum of every cargo test summary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;/) p += $(i-1); if ($(i) ~ /^failed;/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
