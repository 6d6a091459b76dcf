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

# shellcheck source=infra/scripts/target-dir.sh
source infra/scripts/target-dir.sh

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
