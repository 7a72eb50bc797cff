//! Median and range of the samples a figure got over the rounds of a run.

/// The median, smallest and largest of a figure's samples (one per round).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    /// The middle sample (the mean of the two middle ones for an even count).
    pub median: f64,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
    /// How many samples.
    pub n: usize,
}

impl Summary {
    /// The summary of `samples`; `None` if there is no finite sample
    /// (not-a-number samples are left out).
    pub fn of(samples: &[f64]) -> Option<Summary> {
        let mut v: Vec<f64> = samples.iter().copied().filter(|x| x.is_finite()).collect();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let (&min, &max) = (v.first()?, v.last()?);
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            median,
            min,
            max,
            n,
        })
    }

    /// The median of `samples`, if any is a number.
    pub fn median_of(samples: &[f64]) -> Option<f64> {
        Summary::of(samples).map(|s| s.median)
    }

    /// `median` formatted by `f`, then the range `(min–max)` when there is
    /// more than one sample and they differ.
    /// A unit after the number (" µs") is written once, after the median.
    pub fn show(&self, f: impl Fn(f64) -> String) -> String {
        let median = f(self.median);
        let (lo, hi) = (f(self.min), f(self.max));
        if self.n < 2 || lo == hi {
            return median;
        }
        // The unit: what follows the median's last digit.
        let unit = median
            .rfind(|c: char| c.is_ascii_digit())
            .map_or("", |i| &median[i + 1..]);
        let bare = |s: &str| s.strip_suffix(unit).unwrap_or(s).to_owned();
        format!("{median} ({}–{})", bare(&lo), bare(&hi))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn odd_count_takes_the_middle_sample() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).expect("samples");
        assert_eq!((s.median, s.min, s.max, s.n), (2.0, 1.0, 3.0, 3));
    }

    #[test]
    fn even_count_takes_the_mean_of_the_middle_two() {
        let s = Summary::of(&[4.0, 1.0, 2.0, 10.0]).expect("samples");
        assert_eq!(s.median, 3.0);
        assert_eq!((s.min, s.max), (1.0, 10.0));
    }

    #[test]
    fn not_a_number_is_left_out_and_nothing_gives_none() {
        assert_eq!(Summary::of(&[]), None);
        assert_eq!(Summary::of(&[f64::NAN]), None);
        let s = Summary::of(&[f64::NAN, 5.0]).expect("one sample");
        assert_eq!((s.median, s.n), (5.0, 1));
    }

    #[test]
    fn show_gives_the_range_only_when_it_is_one() {
        let f = |v: f64| format!("{v:.1}");
        let one = Summary::of(&[1.25]).expect("sample");
        assert_eq!(one.show(f), "1.2");
        let same = Summary::of(&[1.0, 1.01]).expect("samples");
        assert_eq!(same.show(f), "1.0");
        let spread = Summary::of(&[1.0, 2.0, 4.0]).expect("samples");
        assert_eq!(spread.show(f), "2.0 (1.0–4.0)");
        let unit = |v: f64| format!("{v:.0} µs");
        assert_eq!(spread.show(unit), "2 µs (1–4)");
    }
}
