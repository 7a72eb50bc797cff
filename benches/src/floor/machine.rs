//! What a run ran on: the load average, the commit, and the release
//! binaries of other crates that a run starts as child processes.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::BenchError;

/// The 1, 5 and 15-minute load averages (`/proc/loadavg`), as printed there.
pub fn load_average() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    parse_load(&text).unwrap_or_else(|| "unknown".to_owned())
}

/// The first three fields of a `/proc/loadavg` line.
fn parse_load(text: &str) -> Option<String> {
    let f: Vec<&str> = text.split_whitespace().take(3).collect();
    (f.len() == 3).then(|| f.join(" "))
}

/// The workspace's root directory (the parent of this crate's).
pub fn workspace_root() -> PathBuf {
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    here.parent().unwrap_or(here).to_path_buf()
}

/// The commit the workspace is at, with `+changes` if its tracked files
/// differ from it (`git`), or "unknown".
pub fn commit() -> String {
    let git = |args: &[&str]| {
        Command::new("git")
            .args(args)
            .current_dir(workspace_root())
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
    };
    let Some(head) = git(&["rev-parse", "--short=12", "HEAD"]) else {
        return "unknown".to_owned();
    };
    match git(&["status", "--porcelain", "--untracked-files=no"]) {
        Some(s) if !s.is_empty() => format!("{head}+changes"),
        _ => head,
    }
}

/// Whether `cargo run` set variable `name` for this binary: passed on to
/// a nested `cargo build`, such variables would make build scripts that
/// watch them (ring's watches `CARGO_PKG_NAME`) run again and everything
/// above them rebuild.
fn set_by_cargo_run(name: &str) -> bool {
    name.starts_with("CARGO_PKG_")
        || name.starts_with("CARGO_MANIFEST_")
        || matches!(
            name,
            "CARGO_CRATE_NAME" | "CARGO_BIN_NAME" | "CARGO_PRIMARY_PACKAGE" | "OUT_DIR"
        )
}

/// The profile directory this binary runs from (`target/release`).
fn profile_dir() -> Result<PathBuf, BenchError> {
    let exe = std::env::current_exe()?;
    Ok(exe
        .parent()
        .ok_or("the running binary has no directory")?
        .to_path_buf())
}

/// An example of another crate of the workspace, built with this binary's
/// profile (`cargo build --example NAME -p PACKAGE`, a no-op when it is up
/// to date) unless `build` is false; its path.
///
/// # Errors
/// If cargo fails or the built example is not where it should be.
pub fn example(package: &str, name: &str, build: bool) -> Result<PathBuf, BenchError> {
    let dir = profile_dir()?;
    let release = dir.file_name().is_some_and(|n| n == "release");
    if build {
        let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned());
        let mut cmd = Command::new(cargo);
        cmd.args(["build", "--example", name, "-p", package])
            .current_dir(workspace_root());
        for (k, _) in std::env::vars_os() {
            if k.to_str().is_some_and(set_by_cargo_run) {
                cmd.env_remove(k);
            }
        }
        if release {
            cmd.arg("--release");
        }
        eprintln!("floor: building {package}'s example {name} ...");
        let status = cmd.status()?;
        if !status.success() {
            return Err(
                format!("`cargo build --example {name} -p {package}` failed ({status})").into(),
            );
        }
    }
    let path = dir.join("examples").join(name);
    if !path.exists() {
        return Err(format!(
            "{} not found: build it with `cargo build{} --example {name} -p {package}`",
            path.display(),
            if release { " --release" } else { "" }
        )
        .into());
    }
    Ok(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cargo_runs_package_variables_are_not_passed_on() {
        for v in [
            "CARGO_PKG_NAME",
            "CARGO_MANIFEST_DIR",
            "CARGO_BIN_NAME",
            "OUT_DIR",
        ] {
            assert!(set_by_cargo_run(v), "{v}");
        }
        for v in ["CARGO_HOME", "CARGO_TARGET_DIR", "CARGO", "PATH"] {
            assert!(!set_by_cargo_run(v), "{v}");
        }
    }

    #[test]
    fn load_is_the_first_three_fields() {
        assert_eq!(
            parse_load("2.49 2.04 1.99 3/1021 12345\n").as_deref(),
            Some("2.49 2.04 1.99")
        );
        assert_eq!(parse_load("2.49"), None);
    }
}
