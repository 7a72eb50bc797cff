//! `n2n`: the n2n-overlay command.
//!
//! - `n2n demo` (also what `n2n` with no arguments runs): an embedded
//!   signaling server and N peers in one process, joined through the server,
//!   grown by bridges; prints a summary and writes the topology (DOT, SVG).
//! - `n2n signal --listen ADDR`: the signaling server.
//! - `n2n peer --signal ws://HOST:PORT/ --room R`: one peer; prints its
//!   events; stdin lines are messages to its neighbours, `/help` lists the
//!   commands (`/peers`, `/bridge A B`, ...).
//! - `n2n sim --peers N`: the demo in the simulator (virtual clock).
//! - `n2n spray --peers N --cycles C`: the Spray peer-sampling protocol in
//!   the simulator, measured as in its paper (tables and SVG plots).
//!
//! Every failure is one line on stderr saying what to do, and exit code 1.

mod backend;
mod demo;
mod error;
mod peer;
mod report;
mod scenario;
mod signal;
mod sim;
mod spray;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::error::CliError;

/// mimalloc: the simulator allocates and frees per event (frames, signals,
/// outputs); with glibc's allocator `malloc`/`free` took ~16 % of a
/// 10,000-peer `n2n spray` run.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// n2n-overlay: peer-to-peer overlay networks over WebRTC.
///
/// With no command, runs `n2n demo`.
#[derive(Debug, Parser)]
#[command(name = "n2n", version)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Start a signaling server and N peers in this process, join them through
    /// the server, grow the overlay by bridges, exchange messages, summarize.
    Demo(demo::DemoArgs),
    /// Run a signaling server.
    Signal(signal::SignalArgs),
    /// Join a network as one peer; stdin lines go to the neighbours.
    Peer(peer::PeerArgs),
    /// Run the demo's scenario in the simulator (in memory, virtual clock).
    Sim(sim::SimArgs),
    /// Run the Spray peer-sampling protocol in the simulator and measure it
    /// as its paper does (view size vs ln N, in-degree, clustering, paths).
    Spray(spray::SprayArgs),
    /// Measure the backends against each other and against the raw libraries;
    /// print a markdown table (needs the `bench` feature).
    Bench {
        /// Fewer runs (about 30 s instead of a few minutes).
        #[arg(long)]
        quick: bool,
    },
}

#[cfg(feature = "bench")]
fn bench(quick: bool) -> Result<(), CliError> {
    let table = n2n_benches::report::run(quick).map_err(CliError::Bench)?;
    println!("{table}");
    Ok(())
}

#[cfg(not(feature = "bench"))]
fn bench(_quick: bool) -> Result<(), CliError> {
    Err(CliError::BenchNotBuilt)
}

/// Warnings of this project's crates; the WebRTC libraries' own warnings
/// (routine on loopback) only with `RUST_LOG`.
const DEFAULT_LOG: &str =
    "error,n2n=warn,n2n_overlay=warn,overlay_core=warn,overlay_signaling=warn,transport_str0m=warn,transport_webrtcrs=warn,rtc_common=warn";

fn main() -> ExitCode {
    // The memory measurements re-run this binary in a child mode.
    #[cfg(feature = "bench")]
    n2n_benches::scale::child_main_if_requested();
    let cli = Cli::parse();
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(DEFAULT_LOG));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .init();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let command = cli
        .command
        .unwrap_or_else(|| Command::Demo(demo::DemoArgs::defaults()));
    let result = match command {
        Command::Demo(args) => runtime.block_on(demo::run(args)),
        Command::Signal(args) => runtime.block_on(signal::run(args)),
        Command::Peer(args) => runtime.block_on(peer::run(args)),
        Command::Sim(args) => sim::run(args),
        // spray.rs (the Spray lane's) still reports its errors as text.
        Command::Spray(args) => spray::run(args),
        Command::Bench { quick } => bench(quick),
    };
    // Background tasks (transports, clients) are not waited for.
    runtime.shutdown_background();
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}
