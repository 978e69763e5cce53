//! A run's output directory: `history.jsonl` (one operation per line), `nemesis.jsonl` (the
//! fault windows), `verdict.json` (the checker's verdict with witnesses), and `plot.svg`
//! (latency of every operation and throughput over time, fault windows shaded).

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::history::{Op, Outcome, Verdict};
use crate::nemesis::{Event, Fault};

pub fn write<V: Serialize>(dir: &Path, ops: &[Op<V>], timeline: &[Event], verdict: &Verdict) -> anyhow::Result<()> {
    let mut history = std::io::BufWriter::new(std::fs::File::create(dir.join("history.jsonl"))?);
    for op in ops {
        serde_json::to_writer(&mut history, op)?;
        history.write_all(b"\n")?;
    }
    history.flush()?;
    let mut nemesis = std::io::BufWriter::new(std::fs::File::create(dir.join("nemesis.jsonl"))?);
    for event in timeline {
        serde_json::to_writer(&mut nemesis, event)?;
        nemesis.write_all(b"\n")?;
    }
    nemesis.flush()?;
    std::fs::write(dir.join("verdict.json"), serde_json::to_string_pretty(verdict)?)?;
    std::fs::write(dir.join("plot.svg"), plot(ops, timeline))?;
    Ok(())
}

const WIDTH: f64 = 1000.0;
const LEFT: f64 = 60.0;
const RIGHT: f64 = 20.0;
const LAT_TOP: f64 = 30.0;
const LAT_HEIGHT: f64 = 280.0;
const TPUT_TOP: f64 = 350.0;
const TPUT_HEIGHT: f64 = 120.0;
const HEIGHT: f64 = 500.0;
/// Latency axis: 0.1 ms to 10 s, log scale.
const LAT_MIN_MS: f64 = 0.1;
const LAT_MAX_MS: f64 = 10_000.0;

fn fault_color(fault: Fault) -> &'static str {
    match fault {
        Fault::Kill => "#e63946",
        Fault::Pause => "#8e44ad",
        Fault::Partition => "#f4a261",
        Fault::Clock => "#2a9d8f",
        Fault::Split => "#457b9d",
        Fault::Transfer => "#6a994e",
        Fault::GatewayPartition => "#e9c46a",
        Fault::GatewayKill => "#264653",
    }
}

/// Latency (log scale) of every completed operation by invocation time, indeterminate ones
/// on the top edge, throughput per second below, fault windows shaded across both.
pub fn plot<V>(ops: &[Op<V>], timeline: &[Event]) -> String {
    let end_ns = ops
        .iter()
        .map(|o| o.return_ns.unwrap_or(o.call_ns))
        .chain(timeline.iter().map(|e| e.end_ns))
        .max()
        .unwrap_or(1)
        .max(1);
    let seconds = (end_ns as f64 / 1e9).ceil().max(1.0);
    let x = |ns: u64| LEFT + (ns as f64 / 1e9) / seconds * (WIDTH - LEFT - RIGHT);
    let y_lat = |ms: f64| {
        let f =
            (ms.clamp(LAT_MIN_MS, LAT_MAX_MS).log10() - LAT_MIN_MS.log10()) / (LAT_MAX_MS.log10() - LAT_MIN_MS.log10());
        LAT_TOP + LAT_HEIGHT * (1.0 - f)
    };
    let mut svg = String::new();
    let _ = writeln!(
        svg,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" font-family="sans-serif" font-size="11">"#
    );
    let _ = writeln!(svg, r#"<rect width="100%" height="100%" fill="white"/>"#);
    for e in timeline {
        let (x0, x1) = (x(e.start_ns), x(e.end_ns).max(x(e.start_ns) + 2.0));
        let color = fault_color(e.fault);
        let _ = writeln!(
            svg,
            r#"<rect x="{x0:.1}" y="{LAT_TOP}" width="{:.1}" height="{:.1}" fill="{color}" fill-opacity="0.18"><title>{}</title></rect>"#,
            x1 - x0,
            TPUT_TOP + TPUT_HEIGHT - LAT_TOP,
            escape(&e.detail)
        );
        let _ = writeln!(svg, r#"<text x="{x0:.1}" y="{}" fill="{color}">{:?}</text>"#, LAT_TOP - 4.0, e.fault);
    }
    // Axes and grid.
    let _ = writeln!(
        svg,
        r#"<text x="{LEFT}" y="14">latency (ms, log) by invocation time; green ok, orange fail, red indeterminate</text>"#
    );
    for ms in [0.1, 1.0, 10.0, 100.0, 1000.0, 10_000.0] {
        let y = y_lat(ms);
        let _ = writeln!(
            svg,
            r##"<line x1="{LEFT}" x2="{}" y1="{y:.1}" y2="{y:.1}" stroke="#ddd"/><text x="4" y="{:.1}">{ms}</text>"##,
            WIDTH - RIGHT,
            y + 4.0
        );
    }
    for op in ops {
        let (ms, color) = match (op.outcome, op.return_ns) {
            (Outcome::Info, _) | (_, None) => (LAT_MAX_MS, "#d62828"),
            (Outcome::Ok, Some(r)) => ((r.saturating_sub(op.call_ns)) as f64 / 1e6, "#2a9d8f"),
            (Outcome::Fail, Some(r)) => ((r.saturating_sub(op.call_ns)) as f64 / 1e6, "#f4a261"),
        };
        let _ = writeln!(
            svg,
            r#"<circle cx="{:.1}" cy="{:.1}" r="1.3" fill="{color}" fill-opacity="0.6"/>"#,
            x(op.call_ns),
            y_lat(ms)
        );
    }
    // Throughput: completed ok operations per second.
    let buckets = seconds as usize;
    let mut per_second = vec![0u32; buckets + 1];
    for op in ops.iter().filter(|o| o.outcome == Outcome::Ok) {
        if let Some(r) = op.return_ns {
            per_second[((r / 1_000_000_000) as usize).min(buckets)] += 1;
        }
    }
    let peak = per_second.iter().copied().max().unwrap_or(1).max(1) as f64;
    let _ = writeln!(svg, r#"<text x="{LEFT}" y="{}">ok operations per second (peak {peak})</text>"#, TPUT_TOP - 4.0);
    let mut points = String::new();
    for (s, n) in per_second.iter().enumerate() {
        let px = x(s as u64 * 1_000_000_000);
        let py = TPUT_TOP + TPUT_HEIGHT * (1.0 - *n as f64 / peak);
        let _ = write!(points, "{px:.1},{py:.1} ");
    }
    let _ = writeln!(svg, r##"<polyline points="{points}" fill="none" stroke="#264653" stroke-width="1.5"/>"##);
    let base = TPUT_TOP + TPUT_HEIGHT;
    let _ = writeln!(svg, r##"<line x1="{LEFT}" x2="{}" y1="{base}" y2="{base}" stroke="#999"/>"##, WIDTH - RIGHT);
    for s in (0..=seconds as u64).step_by(((seconds / 10.0).ceil() as usize).max(1)) {
        let _ = writeln!(svg, r#"<text x="{:.1}" y="{}">{s}s</text>"#, x(s * 1_000_000_000) - 6.0, base + 14.0);
    }
    svg.push_str("</svg>\n");
    svg
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plot_shows_every_operation_and_fault() {
        let ops = vec![
            Op { process: 0, call_ns: 1_000_000, return_ns: Some(3_000_000), outcome: Outcome::Ok, value: () },
            Op { process: 1, call_ns: 2_000_000_000, return_ns: None, outcome: Outcome::Info, value: () },
        ];
        let timeline = vec![Event {
            fault: Fault::Kill,
            start_ns: 1_000_000_000,
            end_ns: 2_500_000_000,
            detail: "kill -9 node 2 <x>".into(),
        }];
        let svg = plot(&ops, &timeline);
        assert_eq!(svg.matches("<circle").count(), 2);
        assert!(svg.contains("kill -9 node 2 &lt;x&gt;"));
        assert!(svg.starts_with("<svg") && svg.trim_end().ends_with("</svg>"));
    }
}
