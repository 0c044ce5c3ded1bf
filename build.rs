//! Decides, when the tests are built, which of the components some tests
//! need are on this machine: PostgreSQL, Chromium, nginx/Caddy, Prometheus,
//! Python and its `standardwebhooks` package, `systemd-analyze`, Node.js
//! with the OpenID provider of `tests/oidc`. Each one found sets a cfg,
//! and a test needing a missing one carries
//! `#[cfg_attr(not(keyward_...), ignore = "needs ...")]`: `cargo test` then
//! counts it as ignored, with the reason, instead of as a pass. A test
//! cannot ignore itself once running, which is why this happens here.
//!
//! Where a component is required (`KEYWARD_*_TESTS=require`, a set
//! `KEYWARD_TEST_POSTGRES_URL`, or `CI`), its cfg is set whether or not it
//! is found: the tests run and fail when it is missing, never skip.
//!
//! The cfgs change no code outside tests; flipping one rebuilds the crate
//! once. Nothing is probed over the network.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    let ci = env_flag("CI");

    println!("cargo::rerun-if-env-changed=KEYWARD_TEST_POSTGRES_URL");
    let postgres = std::env::var("KEYWARD_TEST_POSTGRES_URL").is_ok_and(|url| !url.is_empty());
    decide("keyward_postgres", postgres || ci, &[]);

    let browser = ["/usr/bin/chromium", "/usr/bin/chromedriver"];
    decide(
        "keyward_browser",
        required("KEYWARD_BROWSER_TESTS", ci) || watch_all(&browser),
        &[],
    );

    // One proxy is enough to run the proxy tests; they name the other.
    let proxies = ["/usr/sbin/nginx", "/usr/bin/caddy"];
    // Each one watched: no short-circuit.
    let found: Vec<bool> = proxies.iter().map(|binary| watch_all(&[binary])).collect();
    let any_proxy = found.contains(&true);
    decide(
        "keyward_proxies",
        required("KEYWARD_PROXY_TESTS", ci) || any_proxy,
        &[],
    );

    decide(
        "keyward_prometheus",
        required("KEYWARD_PROMETHEUS_TESTS", ci) || prometheus_found(),
        &["KEYWARD_PROMETHEUS"],
    );

    decide(
        "keyward_systemd",
        required("KEYWARD_SYSTEMD_TESTS", ci) || watch_all(&["/usr/bin/systemd-analyze"]),
        &[],
    );

    // A real OpenID provider (npm's oidc-provider), run with Node.js from
    // the packages `npm ci --prefix tests/oidc` installs.
    // Both asked, whatever the first answers: the second watches.
    let (node, oidc_provider) = (node_found(), oidc_provider_installed());
    decide(
        "keyward_oidc",
        required("KEYWARD_OIDC_TESTS", ci) || (node && oidc_provider),
        &[],
    );

    let (python, standardwebhooks) = python_and_standardwebhooks();
    let webhooks_required = required("KEYWARD_WEBHOOK_TESTS", ci);
    decide("keyward_python3", ci || webhooks_required || python, &[]);
    decide(
        "keyward_standardwebhooks",
        webhooks_required || standardwebhooks,
        &[],
    );
}

/// Declares `cfg` and sets it when `present`.
fn decide(cfg: &str, present: bool, more_vars: &[&str]) {
    println!("cargo::rustc-check-cfg=cfg({cfg})");
    for var in more_vars {
        println!("cargo::rerun-if-env-changed={var}");
    }
    if present {
        println!("cargo::rustc-cfg={cfg}");
    }
}

/// Whether `CI` says this is a CI run: there nothing may be skipped.
fn env_flag(var: &str) -> bool {
    println!("cargo::rerun-if-env-changed={var}");
    std::env::var(var).is_ok_and(|value| !matches!(value.as_str(), "" | "0" | "false"))
}

/// Whether `var=require` (as `.ci/run` sets it) or CI requires a component.
fn required(var: &str, ci: bool) -> bool {
    println!("cargo::rerun-if-env-changed={var}");
    ci || std::env::var(var).is_ok_and(|value| value == "require")
}

/// Whether every one of `paths` exists; watched so that installing or
/// removing one reruns this script. A missing file is watched through its
/// folder: Cargo reruns a script watching a missing path on every build.
fn watch_all(paths: &[&str]) -> bool {
    let mut all = true;
    for path in paths {
        let path = Path::new(path);
        if path.exists() {
            println!("cargo::rerun-if-changed={}", path.display());
        } else {
            all = false;
            if let Some(folder) = path.parent().filter(|folder| folder.is_dir()) {
                println!("cargo::rerun-if-changed={}", folder.display());
            }
        }
    }
    all
}

/// Prometheus as tests/api/metrics.rs finds it: `KEYWARD_PROMETHEUS`, else
/// on the PATH. Without it, only Debian's /usr/bin is watched: watching
/// every folder of the PATH would make each build scan them.
fn prometheus_found() -> bool {
    if let Some(named) = std::env::var_os("KEYWARD_PROMETHEUS") {
        return watch_all(&[&PathBuf::from(named).to_string_lossy()]);
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|folder| folder.join("prometheus"))
            .find(|candidate| candidate.is_file())
    });
    match on_path {
        Some(binary) => watch_all(&[&binary.to_string_lossy()]),
        None => watch_all(&["/usr/bin/prometheus"]),
    }
}

/// Whether `node` runs (Debian's `nodejs`, or any on the PATH).
fn node_found() -> bool {
    Command::new("node")
        .arg("--version")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|status| status.success())
}

/// Whether `npm ci --prefix tests/oidc` has installed the provider. Its
/// package.json is watched; while it is missing, the small `tests/oidc`
/// folder is (Cargo scans a watched folder), so installing it reruns this
/// script.
fn oidc_provider_installed() -> bool {
    let package = "tests/oidc/node_modules/oidc-provider/package.json";
    if Path::new(package).is_file() {
        return watch_all(&[package]);
    }
    println!("cargo::rerun-if-changed=tests/oidc");
    false
}

/// Whether `python3` runs, and whether it imports `standardwebhooks`. The
/// package, when found, is watched; a package installed later is seen when
/// this script next runs (or at once with `KEYWARD_WEBHOOK_TESTS=require`):
/// watching every site-packages folder would make each build scan
/// thousands of files.
fn python_and_standardwebhooks() -> (bool, bool) {
    let output = Command::new("python3")
        .args([
            "-c",
            "import standardwebhooks, sys; sys.stdout.write(standardwebhooks.__file__)",
        ])
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output();
    let Ok(output) = output else {
        return (false, false);
    };
    if !output.status.success() {
        return (true, false);
    }
    let package = String::from_utf8_lossy(&output.stdout).into_owned();
    watch_all(&[&package]);
    (true, true)
}
