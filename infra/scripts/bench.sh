#!/usr/bin/env bash
# The benchmark: the release functions as whole processes on the local
# stand-ins (DynamoDB Local and moto behind counting latency proxies, the
# release HealthLake emulator, a recording Lambda Runtime API), beside a boto3
# script doing the same tick, with binary and deploy package sizes and a cost
# model. Prints the report and writes it as JSON.
#
#   infra/scripts/bench.sh [--out PATH] [--sam-build] [PERF OPTIONS...]
#
#   --out PATH     the JSON report (default $CARGO_TARGET_DIR/perf/report.json)
#   --sam-build    run `sam build` first (arm64, as infra/scripts/check-template.sh
#                  does), so that the arm64 deploy packages are measured too;
#                  HLM_BENCH_SAM_BUILD=1 does the same. Without it, the packages
#                  of an earlier `sam build` (.aws-sam/build) are measured if present.
#   PERF OPTIONS   passed to the harness (tests/src/bin/perf.rs), such as
#                  --repeat 3, --layout 100x2, --latency-ms 10, --no-baseline,
#                  --env KEY=VALUE (a setting of the status monitor)
#
# Builds each function alone (`cargo build --release -p <function>`), so each
# gets exactly the features it is deployed with, the emulator in release too,
# and the harness as a debug build (it only starts processes and serves
# loopback HTTP). Builds go to the target directory of infra/scripts/test.sh
# (CARGO_TARGET_DIR, when set, is used instead).
#
# Exit codes: 0 the report was written and every tick made the fewest calls;
# 1 a tick made more or fewer calls than its minimum, or reported a problem;
# 2 the benchmark could not run.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$root"

command_line="bash infra/scripts/bench.sh${*:+ $*}"
if [ "${HLM_BENCH_SAM_BUILD:-0}" = 1 ]; then
    command_line="HLM_BENCH_SAM_BUILD=1 $command_line"
fi
out=""
sam_build="${HLM_BENCH_SAM_BUILD:-0}"
perf_args=()
while [ $# -gt 0 ]; do
    case "$1" in
        --out) out="$2"; shift 2 ;;
        --out=*) out="${1#--out=}"; shift ;;
        --sam-build) sam_build=1; shift ;;
        *) perf_args+=("$1"); shift ;;
    esac
done

step() { printf '\n==> %s\n' "$*" >&2; }

step "tools: infra/scripts/setup-tools.sh"
bash infra/scripts/setup-tools.sh >&2
# shellcheck source=/dev/null
source .tools/env.sh

# shellcheck source=infra/scripts/target-dir.sh
source infra/scripts/target-dir.sh
out="${out:-$CARGO_TARGET_DIR/perf/report.json}"

for package in status-monitor slack-notifier healthlake-emulator; do
    step "cargo build --release -p $package"
    cargo build --release -p "$package" >&2
done
step "cargo build -p integration-tests --bin perf"
cargo build -p integration-tests --bin perf >&2

if [ "$sam_build" = 1 ]; then
    step "sam build (arm64)"
    export AWS_DEFAULT_REGION="${AWS_DEFAULT_REGION:-us-east-1}"
    export AWS_REGION="${AWS_REGION:-$AWS_DEFAULT_REGION}"
    export SAM_CLI_TELEMETRY=0 SAM_CLI_DISABLE_TELEMETRY=1
    if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
        rustup target add aarch64-unknown-linux-gnu >&2
    fi
    "${HLM_SAM:-sam}" build --template-file template.yaml >&2
fi

step "sizes"
sizes="$(mktemp)"
trap 'rm -f "$sizes"' EXIT
python="${HLM_PYTHON:-python3}"
"$python" - "$sizes" "$CARGO_TARGET_DIR/release" <<'PY'
"""Each binary's size, and the size of a zip of it alone named `bootstrap`,
deflated, as `sam package` zips a function's build folder."""
import datetime, json, os, sys, tempfile, zipfile

out, release = sys.argv[1], sys.argv[2]

def measure(name, path):
    with tempfile.TemporaryDirectory() as folder:
        archive = os.path.join(folder, "package.zip")
        with zipfile.ZipFile(archive, "w", compression=zipfile.ZIP_DEFLATED) as zipped:
            zipped.write(path, "bootstrap")
        built = datetime.datetime.fromtimestamp(os.path.getmtime(path), datetime.timezone.utc)
        return {"name": name, "path": path, "bytes": os.path.getsize(path),
                "zipped": os.path.getsize(archive),
                "built": built.isoformat(timespec="seconds")}

sizes = {"x86_64": [measure(n, os.path.join(release, n))
                    for n in ("status-monitor", "slack-notifier")]}
build = os.path.join(".aws-sam", "build")
functions = sorted(f for f in os.listdir(build)
                   if os.path.isfile(os.path.join(build, f, "bootstrap"))) if os.path.isdir(build) else []
if functions:
    sizes["arm64"] = [measure(f, os.path.join(build, f, "bootstrap")) for f in functions]
else:
    sizes["arm64_missing"] = ("no .aws-sam/build/*/bootstrap: run with HLM_BENCH_SAM_BUILD=1 "
                              "(or infra/scripts/check-template.sh) to measure the arm64 packages")
with open(out, "w") as f:
    json.dump(sizes, f)
PY

step "benchmark"
status=0
"$CARGO_TARGET_DIR/debug/perf" \
    --status-monitor "$CARGO_TARGET_DIR/release/status-monitor" \
    --slack-notifier "$CARGO_TARGET_DIR/release/slack-notifier" \
    --emulator "$CARGO_TARGET_DIR/release/healthlake-emulator" \
    --sizes "$sizes" \
    --out "$out" \
    --command "$command_line" \
    "${perf_args[@]}" || status=$?
exit "$status"
