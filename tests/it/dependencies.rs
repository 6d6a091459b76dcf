//! What each function links, as its own build resolves it (`cargo lambda
//! build` and `sam build` build one function at a time, so the command's and
//! the tests' features are not in it): one HTTP and TLS stack, the SDK's
//! current client (hyper 1, rustls 0.23 with aws-lc); none of the legacy
//! client (hyper 0.14, rustls 0.21, ring), the SSO credential SDKs or a
//! regex engine.

use integration_tests::services::workspace_root;
use std::collections::BTreeSet;
use std::process::Command;

/// The crates `package` links (normal dependencies, with its own features
/// only), each as `name vX.Y.Z`.
fn linked(package: &str) -> BTreeSet<String> {
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let out = Command::new(cargo)
        .current_dir(workspace_root())
        .args([
            "tree",
            "--locked",
            "--offline",
            "-e",
            "normal",
            "--prefix",
            "none",
        ])
        .args(["--format", "{p}", "-p", package])
        .output()
        .expect("cargo tree runs");
    assert!(
        out.status.success(),
        "cargo tree -p {package}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| l.trim_end_matches(" (*)").to_owned())
        .filter(|l| !l.is_empty())
        .collect()
}

/// The versions of crate `name` in `crates`.
fn versions<'a>(crates: &'a BTreeSet<String>, name: &str) -> Vec<&'a str> {
    crates
        .iter()
        .filter_map(|c| c.strip_prefix(name)?.strip_prefix(' '))
        .map(|v| v.split(' ').next().unwrap_or(v))
        .collect()
}

fn check(package: &str) {
    let crates = linked(package);
    let mut problems = Vec::new();
    for (name, wanted) in [("hyper", "v1."), ("rustls", "v0.23."), ("h2", "v0.4.")] {
        let found = versions(&crates, name);
        if found.len() != 1 || !found[0].starts_with(wanted) {
            problems.push(format!("{name}: {found:?}, expected one {wanted}x"));
        }
    }
    for absent in [
        "ring",
        "hyper-rustls v0.24",
        "aws-sdk-sso",
        "aws-sdk-ssooidc",
        "regex",
        "openssl",
        "native-tls",
    ] {
        let (name, version) = absent.split_once(' ').unwrap_or((absent, ""));
        for v in versions(&crates, name) {
            if v.starts_with(version) {
                problems.push(format!("{name} {v} is linked"));
            }
        }
    }
    assert!(problems.is_empty(), "{package}: {problems:?}");
}

#[test]
fn the_status_monitor_links_one_http_and_tls_stack_and_nothing_unused() {
    check("status-monitor");
}

#[test]
fn the_slack_notifier_links_one_http_and_tls_stack_and_nothing_unused() {
    check("slack-notifier");
}

#[test]
fn the_check_sees_a_crate_that_is_linked() {
    // The emulator links a regex engine (its validation table): the check
    // must find a crate that is there.
    let crates = linked("healthlake-emulator");
    assert_eq!(versions(&crates, "regex").len(), 1, "{crates:?}");
}
