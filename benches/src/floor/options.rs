//! The `floor` command's arguments: which sections, how big, how many rounds.

use thiserror::Error;

use super::speed::SpeedPlan;

/// A part of the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Section {
    /// Round trip against raw str0m.
    Rtt,
    /// One-way throughput against the tuned raw loop.
    Tput,
    /// Memory per idle pair (webrtc-rs goal; str0m for information).
    Mem,
    /// The hub: memory per connection, fits, setup rate.
    Hub,
    /// The hub's idle CPU and traffic.
    Idle,
    /// Crash detection on both backends.
    Crash,
    /// Setup when webrtc-rs offers to other stacks.
    Interop,
    /// The simulator.
    Sim,
}

impl Section {
    /// Every section, in table order.
    pub const ALL: [Section; 8] = [
        Section::Rtt,
        Section::Tput,
        Section::Mem,
        Section::Hub,
        Section::Idle,
        Section::Crash,
        Section::Interop,
        Section::Sim,
    ];

    /// Its name on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Section::Rtt => "rtt",
            Section::Tput => "tput",
            Section::Mem => "mem",
            Section::Hub => "hub",
            Section::Idle => "idle",
            Section::Crash => "crash",
            Section::Interop => "interop",
            Section::Sim => "sim",
        }
    }
}

/// What is wrong with the command line.
#[derive(Debug, Error, PartialEq, Eq)]
pub enum ArgError {
    /// An unknown section name.
    #[error("unknown section {0:?}: use rtt, tput, mem, hub, idle, crash, interop, sim")]
    Section(String),
    /// A flag that needs a value had none or a bad one.
    #[error("{flag} needs {what}, got {got:?}")]
    Value {
        /// The flag.
        flag: String,
        /// What it needs.
        what: &'static str,
        /// What it got.
        got: String,
    },
    /// An unknown argument.
    #[error("unknown argument {0:?} (see --help)")]
    Unknown(String),
    /// `--help`.
    #[error("{}", USAGE)]
    Help,
}

/// The command line's help.
pub const USAGE: &str = "cargo run --release -p n2n-benches --bin floor -- [--only rtt,tput,mem,hub,idle,crash,interop,sim] [--rounds N] [--quick] [--hub N] [--lite] [--window W] [--mem-pairs N] [--rtts N] [--count-1k N] [--count-16k N] [--interop-n N] [--stacks str0m,libwebrtc,libdatachannel,chromium] [--sim 1000,10000[,100000]] [--no-build]";

/// Everything a run does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Options {
    /// Sections to measure.
    pub sections: Vec<Section>,
    /// Rounds (each section measured once per round).
    pub rounds: usize,
    /// RTT and throughput sizes.
    pub speed: SpeedPlan,
    /// Pairs per memory measurement.
    pub mem_pairs: usize,
    /// Hub connections.
    pub hub: usize,
    /// The hub accepts with ICE-lite.
    pub lite: bool,
    /// Hub handshakes in flight.
    pub window: usize,
    /// Connections per interop row.
    pub interop_n: usize,
    /// Answering stacks of the interop rows.
    pub stacks: Vec<String>,
    /// Simulator sizes.
    pub sim: Vec<usize>,
    /// Build the other crates' examples first (`cargo build`).
    pub build: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            sections: Section::ALL.to_vec(),
            rounds: 3,
            speed: SpeedPlan {
                rtts: 200,
                count_1k: 20_000,
                count_16k: 2_000,
            },
            mem_pairs: 100,
            hub: 1000,
            lite: false,
            window: 128,
            interop_n: 20,
            stacks: super::interop::STACKS
                .iter()
                .map(|s| (*s).to_owned())
                .collect(),
            sim: vec![1000, 10_000],
            build: true,
        }
    }
}

impl Options {
    /// Whether `section` is measured.
    pub fn has(&self, section: Section) -> bool {
        self.sections.contains(&section)
    }

    /// Parse the arguments (without the program name).
    ///
    /// # Errors
    /// [`ArgError`].
    pub fn parse<I: IntoIterator<Item = String>>(args: I) -> Result<Options, ArgError> {
        let mut o = Options::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let mut value = |what: &'static str| {
                it.next().ok_or_else(|| ArgError::Value {
                    flag: a.clone(),
                    what,
                    got: String::new(),
                })
            };
            let number = |v: String, flag: &str| {
                v.replace('_', "")
                    .parse::<usize>()
                    .ok()
                    .filter(|n| *n > 0)
                    .ok_or(ArgError::Value {
                        flag: flag.to_owned(),
                        what: "a positive number",
                        got: v,
                    })
            };
            match a.as_str() {
                "--only" => {
                    o.sections = value("a list of sections")?
                        .split(',')
                        .map(|s| {
                            Section::ALL
                                .into_iter()
                                .find(|x| x.name() == s.trim())
                                .ok_or_else(|| ArgError::Section(s.to_owned()))
                        })
                        .collect::<Result<_, _>>()?;
                    o.sections.sort();
                    o.sections.dedup();
                }
                "--rounds" => o.rounds = number(value("a number")?, &a)?,
                "--quick" => {
                    o.speed = SpeedPlan {
                        rtts: 50,
                        count_1k: 4_000,
                        count_16k: 400,
                    };
                    o.mem_pairs = 20;
                    o.hub = 200;
                    o.interop_n = 5;
                    o.sim = vec![1000];
                    o.rounds = 1;
                }
                "--hub" => o.hub = number(value("a number")?, &a)?,
                "--lite" => o.lite = true,
                "--window" => o.window = number(value("a number")?, &a)?,
                "--mem-pairs" => o.mem_pairs = number(value("a number")?, &a)?,
                "--rtts" => o.speed.rtts = number(value("a number")?, &a)?,
                "--count-1k" => {
                    o.speed.count_1k =
                        u32::try_from(number(value("a number")?, &a)?).unwrap_or(u32::MAX);
                }
                "--count-16k" => {
                    o.speed.count_16k =
                        u32::try_from(number(value("a number")?, &a)?).unwrap_or(u32::MAX);
                }
                "--interop-n" => o.interop_n = number(value("a number")?, &a)?,
                "--stacks" => {
                    o.stacks = value("a list of stacks")?
                        .split(',')
                        .map(|s| s.trim().to_owned())
                        .filter(|s| !s.is_empty())
                        .collect();
                }
                "--sim" => {
                    o.sim = value("a list of peer counts")?
                        .split(',')
                        .map(|v| number(v.trim().to_owned(), "--sim"))
                        .collect::<Result<_, _>>()?;
                }
                "--no-build" => o.build = false,
                "--help" | "-h" => return Err(ArgError::Help),
                _ => return Err(ArgError::Unknown(a)),
            }
        }
        Ok(o)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<Options, ArgError> {
        Options::parse(s.split_whitespace().map(str::to_owned))
    }

    #[test]
    fn defaults_measure_everything() {
        let o = parse("").expect("defaults");
        assert_eq!(o.sections, Section::ALL.to_vec());
        assert_eq!(
            (o.rounds, o.hub, o.sim.clone()),
            (3, 1000, vec![1000, 10_000])
        );
    }

    #[test]
    fn sections_sizes_and_errors() {
        let o = parse("--only sim,rtt,sim --hub 10_000 --lite --sim 1000,100000 --rounds 5")
            .expect("valid");
        assert_eq!(o.sections, vec![Section::Rtt, Section::Sim]);
        assert_eq!((o.hub, o.lite, o.rounds), (10_000, true, 5));
        assert_eq!(o.sim, vec![1000, 100_000]);
        assert_eq!(
            parse("--only rtt,speed"),
            Err(ArgError::Section("speed".into()))
        );
        assert!(matches!(parse("--rounds 0"), Err(ArgError::Value { .. })));
        assert!(matches!(parse("--hub"), Err(ArgError::Value { .. })));
        assert_eq!(parse("--fast"), Err(ArgError::Unknown("--fast".into())));
    }
}
