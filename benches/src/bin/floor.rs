//! Issue 14's ratio table, every goal measured against its floor in one
//! run (see `benches/FLOOR.md`).
//!
//! `cargo run --release -p n2n-benches --bin floor [-- --only rtt,tput,mem,hub,idle,crash,interop,sim]
//! [--rounds N] [--quick] [--hub N] [--lite] [--sim 1000,10000,100000] ...]` (`--help`)
#![forbid(unsafe_code)]

use std::process::ExitCode;

use n2n_benches::floor::options::{ArgError, Options};

fn main() -> ExitCode {
    n2n_benches::scale::child_main_if_requested();
    let args: Vec<String> = std::env::args().skip(1).collect();
    let options = match Options::parse(args.clone()) {
        Ok(o) => o,
        Err(ArgError::Help) => {
            println!("{}", ArgError::Help);
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("floor: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut command = "cargo run --release -p n2n-benches --bin floor".to_owned();
    if !args.is_empty() {
        command = format!("{command} -- {}", args.join(" "));
    }
    match n2n_benches::floor::run(&options, &command) {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("floor: {e}");
            ExitCode::FAILURE
        }
    }
}
