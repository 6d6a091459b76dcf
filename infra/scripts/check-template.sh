#!/usr/bin/env bash
# Checks the SAM stack and every other CloudFormation template of the project:
# cfn-lint (no errors and no warnings) and checkov (no failed check; a check
# that does not apply is skipped in the resource's Metadata with its reason) on
# each, then `sam validate --lint` and `sam build` of template.yaml, and that
# every function's bootstrap is an arm64 (aarch64) ELF executable. None of it
# needs AWS credentials, Docker or the network.
#
#   infra/scripts/check-template.sh            lint, scan, validate, build
#   infra/scripts/check-template.sh --no-build lint, scan and validate only
#
# Tools come from .tools/env.sh (written by infra/scripts/setup-tools.sh) when
# present, else from PATH.
set -euo pipefail

build=1
for arg in "$@"; do
    case "$arg" in
        --no-build) build=0 ;;
        *) echo "usage: $0 [--no-build]" >&2; exit 2 ;;
    esac
done

cd "$(dirname "${BASH_SOURCE[0]}")/../.."
template=template.yaml

if [[ -f .tools/env.sh ]]; then
    # shellcheck disable=SC1091
    source .tools/env.sh
fi
cfn_lint=${HLM_CFN_LINT:-cfn-lint}
checkov=${HLM_CHECKOV:-checkov}
sam=${HLM_SAM:-sam}

# sam and cfn-lint resolve a region but never call AWS for these commands.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_REGION=${AWS_REGION:-$AWS_DEFAULT_REGION}
export SAM_CLI_TELEMETRY=0
export SAM_CLI_DISABLE_TELEMETRY=1

step() { printf '\n==> %s\n' "$*"; }

# Every tracked YAML or JSON file that declares a CloudFormation template.
mapfile -t templates < <(
    git ls-files -- '*.yaml' '*.yml' '*.json' 2>/dev/null \
        | xargs -r grep -lE '^[[:space:]]*"?AWSTemplateFormatVersion"?[[:space:]]*:' -- \
        | sort
)
if [[ ! " ${templates[*]} " == *" $template "* ]]; then
    templates=("$template" "${templates[@]}")
fi

# checkov fetches nothing with --skip-download and BC_SKIP_MAPPING; where a user
# namespace can be made, it also runs without a network, so a finding can never
# depend on what some server answered.
export BC_SKIP_MAPPING=TRUE
offline=()
if unshare -rn true 2>/dev/null; then
    offline=(unshare -rn)
fi

for t in "${templates[@]}"; do
    step "cfn-lint $t"
    # Exits non-zero on any error (2) or warning (4).
    "$cfn_lint" --format parseable -- "$t"
    echo "cfn-lint: no errors, no warnings"

    step "checkov $t"
    # As security teams run it (checkov -f <template> --framework cloudformation),
    # with its report as JSON so that the summary below can also insist on a reason
    # for every skipped check and on the template having been parsed at all (an
    # unparsable file passes silently). Exits non-zero on any failed check.
    set +e
    report=$("${offline[@]}" "$checkov" -f "$t" --framework cloudformation \
        --compact --skip-download --output json)
    status=$?
    set -e
    python3 - "$t" "$status" "$report" <<'PY'
import json, sys
path, status, text = sys.argv[1], int(sys.argv[2]), sys.argv[3]
try:
    report = json.loads(text)
except ValueError:
    sys.exit(f"FAIL checkov: exit {status} and no JSON report for {path}:\n{text[:2000]}")
if not isinstance(report, dict) or "summary" not in report:
    sys.exit(f"FAIL checkov: no CloudFormation results for {path}")
summary, results = report["summary"], report["results"]
problems = []
if summary.get("parsing_errors"):
    problems.append(f"{summary['parsing_errors']} parsing error(s)")
if summary.get("passed", 0) + summary.get("failed", 0) == 0:
    problems.append("no check ran")
for c in results.get("failed_checks", []):
    lines = "-".join(str(n) for n in c.get("file_line_range", []))
    problems.append(f"{c['check_id']} {c['check_name']}: {c['resource']} ({path}:{lines})")
for c in results.get("skipped_checks", []):
    # checkov fills in this text when a skip in Metadata gives no comment.
    reason = ((c.get("check_result") or {}).get("suppress_comment") or "").strip()
    if reason in ("", "No comment provided"):
        problems.append(f"{c['check_id']} on {c['resource']} is skipped without a reason")
if status != 0 and not problems:
    problems.append(f"checkov exited {status}")
for p in problems:
    print(f"FAIL checkov: {p}", file=sys.stderr)
if problems:
    sys.exit(1)
skipped = results.get("skipped_checks", [])
print(f"checkov: {summary['passed']} passed, 0 failed, {len(skipped)} skipped with a reason:")
for c in skipped:
    print(f"  {c['check_id']} {c['resource']}")
PY
done

step "sam validate --lint"
"$sam" validate --lint --template-file "$template"

if [[ $build -eq 0 ]]; then
    exit 0
fi

step "sam build"
if command -v rustup >/dev/null && ! rustup target list --installed | grep -qx aarch64-unknown-linux-gnu; then
    rustup target add aarch64-unknown-linux-gnu
fi
"$sam" build --template-file "$template"

step "arm64 bootstraps"
# Logical ids of the template's functions: a resource line followed by its Type.
mapfile -t functions < <(awk '
    /^  [A-Za-z0-9]+:[[:space:]]*$/ { id = $1; sub(":", "", id) }
    /^    Type:[[:space:]]*AWS::Serverless::Function[[:space:]]*$/ { print id }
' "$template")
if [[ ${#functions[@]} -eq 0 ]]; then
    echo "no AWS::Serverless::Function found in $template" >&2
    exit 1
fi

failed=0
for fn in "${functions[@]}"; do
    bootstrap=.aws-sam/build/$fn/bootstrap
    if [[ ! -f $bootstrap ]]; then
        echo "FAIL $fn: $bootstrap is missing" >&2
        failed=1
        continue
    fi
    # ELF magic, then e_machine (2 bytes, little-endian, at offset 18):
    # 183 is EM_AARCH64.
    magic=$(od -An -tx1 -N4 "$bootstrap" | tr -d ' \n')
    machine=$(od -An -tu2 -j18 -N2 --endian=little "$bootstrap" | tr -d ' \n')
    if [[ $magic != 7f454c46 ]]; then
        echo "FAIL $fn: $bootstrap is not an ELF file" >&2
        failed=1
    elif [[ $machine != 183 ]]; then
        echo "FAIL $fn: $bootstrap is built for e_machine $machine, not aarch64 (183)" >&2
        failed=1
    else
        echo "ok   $fn: $bootstrap is an aarch64 ELF ($(du -h "$bootstrap" | cut -f1))"
    fi
done
exit $failed
