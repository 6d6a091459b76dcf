# Sourced by test.sh and bench.sh, from the checkout's root ($root) with
# .tools/env.sh sourced: the shared Cargo target directory they build in.
#
# The shared target directory (CARGO_TARGET_DIR, when set, is used instead).
# One run builds in it at a time: file descriptor 8 holds its lock until the
# sourcing script ends.
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
# Incremental artifacts only grow a shared directory; a run gains nothing.
export CARGO_INCREMENTAL=0
