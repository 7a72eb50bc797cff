//! A goal of issue 14 and whether a figure met it, computed from the
//! samples, never written by hand.

use std::fmt;

use super::summary::Summary;

/// What a figure must be.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Goal {
    /// The median sample at most this.
    AtMost(f64),
    /// The median sample at least this.
    AtLeast(f64),
    /// Every sample at most this (a bound: "reported within 5 s").
    AllAtMost(f64),
    /// Every sample is 1 (a yes/no figure: "fits", "runs").
    Holds,
    /// No goal: shown for where the time goes.
    Info,
}

/// Whether a figure met its goal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Met; `of` rounds of `rounds` met it on their own.
    Met {
        /// Rounds whose own sample met the goal.
        of: usize,
        /// Rounds measured.
        rounds: usize,
    },
    /// Missed; `of` rounds of `rounds` met it on their own.
    Missed {
        /// Rounds whose own sample met the goal.
        of: usize,
        /// Rounds measured.
        rounds: usize,
    },
    /// Not measured in this run (why).
    NotMeasured(String),
    /// A figure without a goal.
    Info,
}

impl Goal {
    /// Whether one sample meets the goal.
    pub fn sample_meets(&self, v: f64) -> bool {
        match *self {
            Goal::AtMost(x) | Goal::AllAtMost(x) => v <= x,
            Goal::AtLeast(x) => v >= x,
            Goal::Holds => v >= 1.0,
            Goal::Info => true,
        }
    }

    /// The verdict on `samples` (one per round; not-a-number samples are
    /// rounds that failed to measure and count as not meeting the goal).
    pub fn judge(&self, samples: &[f64]) -> Verdict {
        if *self == Goal::Info {
            return Verdict::Info;
        }
        let Some(s) = Summary::of(samples) else {
            return Verdict::NotMeasured("no round measured it".to_owned());
        };
        let rounds = samples.len();
        let of = samples
            .iter()
            .filter(|v| v.is_finite() && self.sample_meets(**v))
            .count();
        let met = match *self {
            Goal::AtMost(x) => s.median <= x,
            Goal::AtLeast(x) => s.median >= x,
            Goal::AllAtMost(_) | Goal::Holds => of == rounds,
            Goal::Info => true,
        };
        if met {
            Verdict::Met { of, rounds }
        } else {
            Verdict::Missed { of, rounds }
        }
    }
}

impl fmt::Display for Goal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Goal::AtMost(x) => write!(f, "≤ {x}"),
            Goal::AtLeast(x) => write!(f, "≥ {x}"),
            Goal::AllAtMost(x) => write!(f, "≤ {x} (every sample)"),
            Goal::Holds => f.write_str("holds"),
            Goal::Info => f.write_str("(info)"),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rounds = |f: &mut fmt::Formatter<'_>, of: usize, rounds: usize| {
            if rounds > 1 {
                write!(f, " ({of} of {rounds} rounds)")
            } else {
                Ok(())
            }
        };
        match self {
            Verdict::Met { of, rounds: r } => {
                f.write_str("yes")?;
                rounds(f, *of, *r)
            }
            Verdict::Missed { of, rounds: r } => {
                f.write_str("**no**")?;
                rounds(f, *of, *r)
            }
            Verdict::NotMeasured(why) => write!(f, "not measured: {why}"),
            Verdict::Info => f.write_str("-"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_most_is_judged_on_the_median() {
        // Two of three rounds over 1.3, so the median misses.
        let v = Goal::AtMost(1.3).judge(&[1.2, 1.4, 1.5]);
        assert_eq!(v, Verdict::Missed { of: 1, rounds: 3 });
        assert_eq!(v.to_string(), "**no** (1 of 3 rounds)");
        let v = Goal::AtMost(1.3).judge(&[1.2, 1.3, 1.5]);
        assert_eq!(v, Verdict::Met { of: 2, rounds: 3 });
        assert_eq!(v.to_string(), "yes (2 of 3 rounds)");
    }

    #[test]
    fn at_least_is_judged_on_the_median() {
        assert_eq!(
            Goal::AtLeast(0.9).judge(&[0.8]),
            Verdict::Missed { of: 0, rounds: 1 }
        );
        assert_eq!(Goal::AtLeast(0.9).judge(&[0.9]).to_string(), "yes");
    }

    #[test]
    fn a_bound_needs_every_sample() {
        // Median 4.0 s is within 5 s, but one sample is not.
        assert_eq!(
            Goal::AllAtMost(5.0).judge(&[4.0, 3.9, 5.2]),
            Verdict::Missed { of: 2, rounds: 3 }
        );
        assert_eq!(
            Goal::AllAtMost(5.0).judge(&[4.0, 3.9, 4.1]),
            Verdict::Met { of: 3, rounds: 3 }
        );
    }

    #[test]
    fn a_failed_round_counts_against_the_goal() {
        // The failed round is not a sample of the median, but it is a round
        // that did not meet the goal.
        assert_eq!(
            Goal::Holds.judge(&[1.0, f64::NAN]),
            Verdict::Missed { of: 1, rounds: 2 }
        );
        assert_eq!(
            Goal::AtMost(2.0).judge(&[1.0, f64::NAN]),
            Verdict::Met { of: 1, rounds: 2 }
        );
    }

    #[test]
    fn nothing_measured_and_info() {
        assert!(matches!(
            Goal::AtMost(1.0).judge(&[]),
            Verdict::NotMeasured(_)
        ));
        assert_eq!(Goal::Info.judge(&[100.0]), Verdict::Info);
    }
}
