#!/usr/bin/env bash
# The one command that runs every check and test, on a fresh machine too:
# installs the tools (infra/scripts/setup-tools.sh), then formatting, lints,
# the release build of the status-monitor function, the debug build of the
# slack-notifier function, the whole workspace's tests, and the SAM template
# checks when there is a template. Local services are started by the tests
# themselves.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

step() { printf '\n==> %s\n' "$*"; }

step "tools: infra/scripts/setup-tools.sh"
bash infra/scripts/setup-tools.sh
# shellcheck source=/dev/null
source .tools/env.sh

step "cargo fmt --all -- --check"
cargo fmt --all -- --check

step "cargo clippy --workspace --all-targets -- -D warnings"
cargo clippy --workspace --all-targets -- -D warnings

# The end-to-end tests (tests/it/lambda_e2e.rs) run the release binary of the
# function, as Lambda would, and refuse one older than its sources.
step "cargo build --release -p status-monitor"
cargo build --release -p status-monitor

# tests/it/slack_notifier.rs runs the debug binary of the Slack notifier.
step "cargo build -p slack-notifier"
cargo build -p slack-notifier

step "cargo build -p healthlake-monitor (the command the CLI tests run)"
cargo build -p healthlake-monitor

step "cargo test --workspace"
test_log=.tools/cargo-test.log
cargo test --workspace 2>&1 | tee "$test_log"

# --- SAM template checks ---------------------------------------------------------
# infra/scripts/check-template.sh, when present, owns these checks; without it
# the template gets the two offline checks.
if [ -f template.yaml ]; then
    if [ -f infra/scripts/check-template.sh ]; then
        step "template: infra/scripts/check-template.sh"
        bash infra/scripts/check-template.sh
    else
        step "template: cfn-lint, sam validate --lint"
        cfn-lint template.yaml
        sam validate --lint
    fi
fi

step "all checks passed"
# One closing line for the whole run: the sum of every cargo test summary.
awk '/^test result:/ { for (i = 1; i <= NF; i++) { if ($(i) ~ /^passed;/) p += $(i-1); if ($(i) ~ /^failed;/) f += $(i-1) } }
     END { printf "tests: %d passed, %d failed\n", p, f }' "$test_log"
