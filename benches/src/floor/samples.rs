//! The samples of a run: one value per round per figure, by name, and what
//! failed.

use std::collections::BTreeMap;

/// Every figure's samples, one per round (not-a-number: the round failed
/// to measure it).
#[derive(Debug, Clone, Default)]
pub struct Samples {
    values: BTreeMap<String, Vec<f64>>,
    /// What failed, in order, with the round.
    pub errors: Vec<String>,
}

impl Samples {
    /// Record one round's `value` of `figure`.
    pub fn push(&mut self, figure: &str, value: f64) {
        self.values
            .entry(figure.to_owned())
            .or_default()
            .push(value);
    }

    /// Record that a round failed to measure each of `figures`, and why.
    pub fn fail(&mut self, figures: &[&str], round: usize, what: &str, why: &str) {
        for f in figures {
            self.push(f, f64::NAN);
        }
        self.errors.push(format!("round {round}, {what}: {why}"));
    }

    /// The samples of `figure` (empty if never measured).
    pub fn get(&self, figure: &str) -> &[f64] {
        self.values.get(figure).map_or(&[], Vec::as_slice)
    }

    /// The per-round ratios `num / den` of two figures measured in the
    /// same rounds (not-a-number where either failed).
    pub fn ratio(&self, num: &str, den: &str) -> Vec<f64> {
        self.get(num)
            .iter()
            .zip(self.get(den))
            .map(|(n, d)| n / d)
            .map(|r| if r.is_finite() { r } else { f64::NAN })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ratios_pair_samples_of_the_same_round() {
        let mut s = Samples::default();
        for (a, b) in [(2.0, 1.0), (3.0, 2.0), (9.0, 0.0)] {
            s.push("a", a);
            s.push("b", b);
        }
        s.fail(&["a", "b"], 4, "pair", "timed out");
        let r = s.ratio("a", "b");
        assert_eq!(r.len(), 4);
        assert_eq!(&r[..2], &[2.0, 1.5]);
        assert!(r[2].is_nan(), "a zero floor gives no ratio");
        assert!(r[3].is_nan(), "a failed round gives no ratio");
        assert_eq!(s.errors, vec!["round 4, pair: timed out".to_owned()]);
        assert!(s.get("never").is_empty());
    }
}
