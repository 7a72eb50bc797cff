//! The ratio table: one row per goal (and rows for where the time goes),
//! as markdown.

use std::fmt;

use super::goal::{Goal, Verdict};
use super::summary::Summary;

/// One row of the table.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    /// What is measured.
    pub figure: String,
    /// The goal, as written in the table.
    pub goal: String,
    /// The overlay's value (median and range over the rounds).
    pub overlay: String,
    /// The floor's value, same rounds.
    pub floor: String,
    /// The per-round ratio overlay / floor (or floor / overlay for a rate).
    pub ratio: String,
    /// Whether the goal was met, computed from the samples.
    pub met: Verdict,
    /// Where the time or memory goes, from the same run.
    pub notes: String,
}

/// `v` rounded to an integer, thousands separated by commas ("10,000").
pub fn int(v: f64) -> String {
    let digits = format!("{:.0}", v.abs());
    let mut out = String::new();
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    if v.round() < 0.0 {
        format!("-{out}")
    } else {
        out
    }
}

/// `samples` as "median (min–max)" through `f`; "failed" when no round
/// measured it, "-" when there are none.
pub fn cell(samples: &[f64], f: impl Fn(f64) -> String) -> String {
    if samples.is_empty() {
        return "-".to_owned();
    }
    Summary::of(samples).map_or_else(|| "failed".to_owned(), |s| s.show(f))
}

impl Row {
    /// A row whose goal is judged on `judged` (the ratio, or the value
    /// itself for a goal without a floor).
    pub fn new(figure: impl Into<String>, goal: Goal, judged: &[f64]) -> Row {
        Row {
            figure: figure.into(),
            goal: goal.to_string(),
            overlay: String::new(),
            floor: String::new(),
            ratio: String::new(),
            met: goal.judge(judged),
            notes: String::new(),
        }
    }

    /// The goal's text, when the table says it better than [`Goal`]'s.
    pub fn goal_text(mut self, text: impl Into<String>) -> Row {
        self.goal = text.into();
        self
    }

    /// The overlay's cell.
    pub fn overlay(mut self, text: impl Into<String>) -> Row {
        self.overlay = text.into();
        self
    }

    /// The floor's cell.
    pub fn floor(mut self, text: impl Into<String>) -> Row {
        self.floor = text.into();
        self
    }

    /// The ratio cell, from per-round ratios.
    pub fn ratio(mut self, ratios: &[f64]) -> Row {
        self.ratio = cell(ratios, |v| format!("{v:.2}"));
        self
    }

    /// Where the time or memory goes.
    pub fn notes(mut self, text: impl Into<String>) -> Row {
        self.notes = text.into();
        self
    }
}

/// The run: what it ran on, the table, what failed.
#[derive(Debug, Clone, Default)]
pub struct Report {
    /// Lines above the table (commit, load, settings).
    pub head: Vec<String>,
    /// The rows.
    pub rows: Vec<Row>,
    /// Lines below the table (load at the end, failures).
    pub foot: Vec<String>,
}

/// A cell's text with the characters that would break a markdown table
/// row escaped.
fn escape(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for l in &self.head {
            writeln!(f, "{l}")?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "| figure | goal | overlay | floor (same rounds) | ratio | met | where the time or memory goes |"
        )?;
        writeln!(f, "|---|---|---|---|---|---|---|")?;
        for r in &self.rows {
            let cells = [
                &r.figure,
                &r.goal,
                &r.overlay,
                &r.floor,
                &r.ratio,
                &r.met.to_string(),
                &r.notes,
            ];
            let cells: Vec<String> = cells.iter().map(|c| escape(c)).collect();
            writeln!(f, "| {} |", cells.join(" | "))?;
        }
        if !self.foot.is_empty() {
            writeln!(f)?;
        }
        for l in &self.foot {
            writeln!(f, "{l}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_row_is_judged_and_printed_from_its_samples() {
        let ratios = [1.4, 1.1, 1.2];
        let row = Row::new("RTT", Goal::AtMost(1.3), &ratios)
            .overlay(cell(&[60.0, 50.0, 55.0], |v| format!("{v:.0} µs")))
            .floor(cell(&[45.0, 45.0, 45.0], |v| format!("{v:.0} µs")))
            .ratio(&ratios)
            .notes("a | b");
        let report = Report {
            head: vec!["commit x".into()],
            rows: vec![row],
            foot: vec![],
        };
        let text = report.to_string();
        let line = text
            .lines()
            .find(|l| l.starts_with("| RTT"))
            .expect("the row");
        assert_eq!(
            line,
            "| RTT | ≤ 1.3 | 55 µs (50–60) | 45 µs | 1.20 (1.10–1.40) | yes (2 of 3 rounds) | a \\| b |"
        );
    }

    #[test]
    fn integers_get_thousands_separators() {
        assert_eq!(int(783_844.0), "783,844");
        assert_eq!(int(1000.0), "1,000");
        assert_eq!(int(999.4), "999");
        assert_eq!(int(-12_345.0), "-12,345");
    }

    #[test]
    fn cells_say_failed_and_not_measured() {
        assert_eq!(cell(&[], |v| v.to_string()), "-");
        assert_eq!(cell(&[f64::NAN], |v| v.to_string()), "failed");
    }
}
