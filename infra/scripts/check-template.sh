#!/usr/bin/env bash
# Checks the SAM stack: cfn-lint (no errors and no warnings), `sam validate
# --lint`, then `sam build`, and that every function's bootstrap is an arm64
# (aarch64) ELF executable. None of it needs AWS credentials or Docker.
#
#   infra/scripts/check-template.sh            lint, validate, build
#   infra/scripts/check-template.sh --no-build lint and validate only
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
sam=${HLM_SAM:-sam}

# sam and cfn-lint resolve a region but never call AWS for these commands.
export AWS_DEFAULT_REGION=${AWS_DEFAULT_REGION:-us-east-1}
export AWS_REGION=${AWS_REGION:-$AWS_DEFAULT_REGION}
export SAM_CLI_TELEMETRY=0
export SAM_CLI_DISABLE_TELEMETRY=1

step() { printf '\n==> %s\n' "$*"; }

step "cfn-lint $template"
# Exits non-zero on any error (2) or warning (4).
"$cfn_lint" --format parseable -- "$template"
echo "cfn-lint: no errors, no warnings"

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
