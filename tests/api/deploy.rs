//! The deployment files of `docs/deploy/`, which the Debian package installs:
//! the systemd unit is one systemd accepts and stays hardened, and the
//! environment file (`/etc/default/keyward`) offers every variable
//! `keyward serve` reads, and no other.
//!
//! The unit's checks need `systemd-analyze` (Debian's `systemd`); without it
//! they are ignored (see `build.rs`), unless `KEYWARD_SYSTEMD_TESTS=require`
//! or `CI` (`.ci/run`), where they run and fail.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const UNIT: &str = "docs/deploy/keyward.service";
const ENVIRONMENT_FILE: &str = "docs/deploy/keyward.env";
/// Where the Debian package (and docs/deploy.md) installs the binary, as the
/// unit names it.
const INSTALLED_BINARY: &str = "/usr/bin/keyward";
/// The highest `systemd-analyze security` exposure accepted (0 to 10; the
/// unit scores 1.1 with systemd 252, "OK"): a directive dropped from the
/// sandbox fails the test.
const MAX_EXPOSURE: f64 = 1.5;

#[test]
#[cfg_attr(
    not(keyward_systemd),
    ignore = "needs systemd-analyze: apt-get install systemd"
)]
fn the_systemd_unit_passes_systemd_analyze_verify() {
    let unit = unit_with_the_built_binary();
    let output = systemd_analyze(&["verify", &unit.file()]);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // Warnings about the unit (unknown keys, bad values) name its file and
    // do not change the exit status; other units' lines are not ours.
    let about_the_unit: Vec<&str> = stderr
        .lines()
        .filter(|line| line.contains("keyward.service"))
        .collect();
    assert!(
        output.status.success() && about_the_unit.is_empty(),
        "systemd-analyze verify {UNIT}: {}\n{stderr}",
        output.status
    );
}

#[test]
#[cfg_attr(
    not(keyward_systemd),
    ignore = "needs systemd-analyze: apt-get install systemd"
)]
fn the_systemd_unit_keeps_its_exposure_score() {
    let unit = unit_with_the_built_binary();
    let output = systemd_analyze(&["security", "--offline=true", "--no-pager", &unit.file()]);
    let stdout = String::from_utf8_lossy(&output.stdout);
    let exposure = stdout
        .lines()
        .find_map(|line| line.split_once("Overall exposure level for keyward.service:"))
        .and_then(|(_, rest)| rest.split_whitespace().next()?.parse::<f64>().ok())
        .unwrap_or_else(|| {
            panic!(
                "no exposure level in systemd-analyze security's output ({}):\n{stdout}\n{}",
                output.status,
                String::from_utf8_lossy(&output.stderr)
            )
        });
    assert!(
        exposure <= MAX_EXPOSURE,
        "{UNIT} is exposed {exposure} (at most {MAX_EXPOSURE}): \n{stdout}"
    );
}

#[test]
fn the_environment_file_sets_only_variables_keyward_reads() {
    let read = variables_keyward_serve_reads();
    for name in environment_file_names() {
        assert!(
            read.contains(&name) || name == "RUST_LOG",
            "{ENVIRONMENT_FILE} sets {name}, which `keyward serve --help` does not name"
        );
    }
}

#[test]
fn the_environment_file_offers_every_variable_keyward_reads() {
    let offered = environment_file_names();
    assert!(
        offered.iter().any(|name| name == "DATABASE_URL"),
        "{offered:?}"
    );
    for name in variables_keyward_serve_reads() {
        assert!(
            offered.contains(&name),
            "`keyward serve --help` reads {name}, which {ENVIRONMENT_FILE} (the package's \
             /etc/default/keyward) does not offer"
        );
    }
}

/// The variables named in `keyward serve --help`, as `[env: NAME` (or
/// `[env: NAME=value]` when set in this environment).
fn variables_keyward_serve_reads() -> Vec<String> {
    let help = Command::new(env!("CARGO_BIN_EXE_keyward"))
        .args(["serve", "--help"])
        .output()
        .expect("keyward serve --help runs");
    let help = String::from_utf8_lossy(&help.stdout);
    let names: Vec<String> = help
        .split("[env: ")
        .skip(1)
        .filter_map(|rest| {
            let end = rest.find(['=', ']'])?;
            Some(rest[..end].to_owned())
        })
        .collect();
    assert!(names.iter().any(|name| name == "KEYWARD_LISTEN"), "{help}");
    names
}

/// The variables the environment file sets, commented-out settings too:
/// they are offered at their defaults.
fn environment_file_names() -> Vec<String> {
    repository_file(ENVIRONMENT_FILE)
        .lines()
        .map(|line| line.trim_start_matches('#').trim())
        .filter_map(|line| line.split_once('=').map(|(name, _)| name))
        .filter(|name| {
            !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
        })
        .map(str::to_owned)
        .collect()
}

/// The unit, in a temporary directory, with `ExecStart` pointing at the
/// binary under test (verify refuses a command that does not exist).
fn unit_with_the_built_binary() -> UnitCopy {
    let unit = repository_file(UNIT);
    let exec_start = format!("ExecStart={INSTALLED_BINARY} ");
    assert!(
        unit.lines().any(|line| line.starts_with(&exec_start)),
        "{UNIT} starts {INSTALLED_BINARY}, where docs/deploy.md installs it"
    );
    let built = format!("ExecStart={} ", env!("CARGO_BIN_EXE_keyward"));
    let dir = tempfile::tempdir().expect("temporary directory");
    // Named as installed: systemd derives the unit's name from the file's.
    let file = dir.path().join("keyward.service");
    std::fs::write(&file, unit.replace(&exec_start, &built)).expect("unit written");
    UnitCopy { _dir: dir, file }
}

/// A copy of the unit, removed with its directory when dropped.
struct UnitCopy {
    _dir: tempfile::TempDir,
    file: PathBuf,
}

impl UnitCopy {
    fn file(&self) -> String {
        self.file.display().to_string()
    }
}

fn systemd_analyze(args: &[&str]) -> Output {
    Command::new("systemd-analyze")
        .args(args)
        .output()
        .expect("systemd-analyze runs (apt-get install systemd)")
}

fn repository_file(path: &str) -> String {
    let full = Path::new(env!("CARGO_MANIFEST_DIR")).join(path);
    std::fs::read_to_string(&full).unwrap_or_else(|err| panic!("{}: {err}", full.display()))
}
