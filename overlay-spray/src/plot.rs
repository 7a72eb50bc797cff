//! Minimal SVG charts (line and bar), written without any external tool.

use std::fmt::Write as _;

/// One line of a [`line_chart`].
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Its name in the legend.
    pub name: String,
    /// Its points, in x order.
    pub points: Vec<(f64, f64)>,
    /// Draw it dashed (a reference curve).
    pub dashed: bool,
}

const W: f64 = 640.0;
const H: f64 = 400.0;
const LEFT: f64 = 64.0;
const RIGHT: f64 = 16.0;
const TOP: f64 = 36.0;
const BOTTOM: f64 = 48.0;
const COLORS: [&str; 6] = [
    "#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b",
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A "nice" tick step for a range.
fn step(range: f64) -> f64 {
    if range <= 0.0 || !range.is_finite() {
        return 1.0;
    }
    let raw = range / 6.0;
    let mag = 10f64.powf(raw.log10().floor());
    let r = raw / mag;
    let nice = if r < 1.5 {
        1.0
    } else if r < 3.5 {
        2.0
    } else if r < 7.5 {
        5.0
    } else {
        10.0
    };
    nice * mag
}

struct Frame {
    x0: f64,
    x1: f64,
    y0: f64,
    y1: f64,
}

impl Frame {
    fn x(&self, x: f64) -> f64 {
        LEFT + (x - self.x0) / (self.x1 - self.x0).max(1e-12) * (W - LEFT - RIGHT)
    }
    fn y(&self, y: f64) -> f64 {
        H - BOTTOM - (y - self.y0) / (self.y1 - self.y0).max(1e-12) * (H - TOP - BOTTOM)
    }
}

fn axes(svg: &mut String, f: &Frame, title: &str, xl: &str, yl: &str) {
    let _ = write!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{W}" height="{H}" viewBox="0 0 {W} {H}" font-family="sans-serif" font-size="12">"#
    );
    let _ = write!(svg, r#"<rect width="{W}" height="{H}" fill="white"/>"#);
    let _ = write!(
        svg,
        r#"<text x="{}" y="20" text-anchor="middle" font-size="14">{}</text>"#,
        W / 2.0,
        escape(title)
    );
    let (bx, by) = (f.x(f.x0), f.y(f.y0));
    let _ = write!(
        svg,
        r#"<line x1="{bx}" y1="{by}" x2="{}" y2="{by}" stroke="black"/><line x1="{bx}" y1="{by}" x2="{bx}" y2="{}" stroke="black"/>"#,
        f.x(f.x1),
        f.y(f.y1)
    );
    let sx = step(f.x1 - f.x0);
    let mut t = (f.x0 / sx).ceil() * sx;
    while t <= f.x1 + 1e-9 {
        let x = f.x(t);
        let _ = write!(
            svg,
            r#"<line x1="{x}" y1="{by}" x2="{x}" y2="{}" stroke="black"/><text x="{x}" y="{}" text-anchor="middle">{}</text>"#,
            by + 4.0,
            by + 18.0,
            fmt_tick(t)
        );
        t += sx;
    }
    let sy = step(f.y1 - f.y0);
    let mut t = (f.y0 / sy).ceil() * sy;
    while t <= f.y1 + 1e-9 {
        let y = f.y(t);
        let _ = write!(
            svg,
            r##"<line x1="{bx}" y1="{y}" x2="{}" y2="{y}" stroke="#ddd"/><text x="{}" y="{}" text-anchor="end">{}</text>"##,
            f.x(f.x1),
            bx - 6.0,
            y + 4.0,
            fmt_tick(t)
        );
        t += sy;
    }
    let _ = write!(
        svg,
        r#"<text x="{}" y="{}" text-anchor="middle">{}</text>"#,
        (LEFT + W - RIGHT) / 2.0,
        H - 10.0,
        escape(xl)
    );
    let _ = write!(
        svg,
        r#"<text x="16" y="{}" text-anchor="middle" transform="rotate(-90 16 {})">{}</text>"#,
        (TOP + H - BOTTOM) / 2.0,
        (TOP + H - BOTTOM) / 2.0,
        escape(yl)
    );
}

fn fmt_tick(t: f64) -> String {
    if t.abs() >= 1000.0 && (t / 1000.0).fract().abs() < 1e-9 {
        format!("{}k", t / 1000.0)
    } else if t.fract().abs() < 1e-9 {
        format!("{t:.0}")
    } else {
        format!("{t:.2}")
    }
}

fn bounds(points: impl Iterator<Item = (f64, f64)>) -> Frame {
    let (mut x0, mut x1, mut y1) = (f64::INFINITY, f64::NEG_INFINITY, f64::NEG_INFINITY);
    for (x, y) in points {
        x0 = x0.min(x);
        x1 = x1.max(x);
        y1 = y1.max(y);
    }
    if !x0.is_finite() {
        (x0, x1, y1) = (0.0, 1.0, 1.0);
    }
    if x1 <= x0 {
        x1 = x0 + 1.0;
    }
    Frame {
        x0,
        x1,
        y0: 0.0,
        y1: if y1 > 0.0 { y1 * 1.1 } else { 1.0 },
    }
}

/// A chart of lines, the y axis from 0.
pub fn line_chart(title: &str, x_label: &str, y_label: &str, series: &[Series]) -> String {
    let f = bounds(series.iter().flat_map(|s| s.points.iter().copied()));
    let mut svg = String::new();
    axes(&mut svg, &f, title, x_label, y_label);
    for (i, s) in series.iter().enumerate() {
        let color = COLORS[i % COLORS.len()];
        let pts: Vec<String> = s
            .points
            .iter()
            .map(|(x, y)| format!("{:.1},{:.1}", f.x(*x), f.y(*y)))
            .collect();
        let dash = if s.dashed {
            r#" stroke-dasharray="6 4""#
        } else {
            ""
        };
        let _ = write!(
            svg,
            r#"<polyline points="{}" fill="none" stroke="{color}" stroke-width="2"{dash}/>"#,
            pts.join(" ")
        );
        let ly = TOP + 8.0 + 16.0 * i as f64;
        let _ = write!(
            svg,
            r#"<line x1="{}" y1="{ly}" x2="{}" y2="{ly}" stroke="{color}" stroke-width="2"{dash}/><text x="{}" y="{}">{}</text>"#,
            LEFT + 12.0,
            LEFT + 36.0,
            LEFT + 42.0,
            ly + 4.0,
            escape(&s.name)
        );
    }
    svg.push_str("</svg>\n");
    svg
}

/// A bar chart (a histogram: one bar per x, width 1).
pub fn bar_chart(title: &str, x_label: &str, y_label: &str, bars: &[(f64, f64)]) -> String {
    let mut f = bounds(bars.iter().copied());
    f.x0 -= 0.5;
    f.x1 += 0.5;
    let mut svg = String::new();
    axes(&mut svg, &f, title, x_label, y_label);
    let w = (f.x(1.0) - f.x(0.0)) * 0.8;
    for (x, y) in bars {
        let (px, py) = (f.x(*x) - w / 2.0, f.y(*y));
        let _ = write!(
            svg,
            r#"<rect x="{px:.1}" y="{py:.1}" width="{w:.1}" height="{:.1}" fill="{}"/>"#,
            (f.y(0.0) - py).max(0.0),
            COLORS[0]
        );
    }
    svg.push_str("</svg>\n");
    svg
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn charts_are_svg() {
        let s = line_chart(
            "t <1>",
            "x",
            "y",
            &[Series {
                name: "a".into(),
                points: vec![(0.0, 1.0), (10.0, 3.0)],
                dashed: true,
            }],
        );
        assert!(s.starts_with("<svg") && s.trim_end().ends_with("</svg>"));
        assert!(s.contains("t &lt;1&gt;") && s.contains("polyline"));
        let b = bar_chart("h", "x", "y", &[(1.0, 2.0), (2.0, 5.0)]);
        assert_eq!(b.matches("<rect").count(), 3); // background + 2 bars
    }
}
