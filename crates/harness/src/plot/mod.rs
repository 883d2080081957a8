//! Plots of a sweep, drawn by the project itself: one line per strategy, concurrency on a
//! log scale (work per page, on the work site); SVG for the README, PNG for viewers that want
//! a picture. How they look — a colour per strategy, dashes per variant, ticks, the font — is
//! in `style.rs`.

mod style;

use std::{
    io,
    path::{Path, PathBuf},
};

use plotters::{
    coord::{
        Shift,
        ranged1d::{AsRangedCoord, DefaultFormatting, KeyPointHint, ValueFormatter},
        types::RangedCoordf64,
    },
    element::DashedPathElement,
    prelude::*,
};

use crate::results::{Results, Run};
use style::{label, log_ticks, register_font, series_style, strategy_of};

type Metric = (&'static str, &'static str, fn(&Run) -> f64);

/// The metrics plotted against C for the CPU- and latency-bound sites.
const METRICS: [Metric; 4] = [
    ("pages_per_s", "responses per second", |r| r.pages_per_s),
    ("peak_rss", "peak RSS of the crawler (MiB)", |r| {
        r.max_rss_kib as f64 / 1024.0
    }),
    ("cpu_per_page", "crawler CPU per response (µs)", |r| {
        r.cpu_us_per_page
    }),
    ("p99_latency", "p99 latency (ms)", |r| r.latency_ms.p99),
];

/// The metric plotted for the memory site.
const MEMORY_METRICS: [Metric; 1] = [(
    "rss_at_widest",
    "crawler RSS with the most connections in flight (MiB)",
    |r| r.rss_kib_at_widest as f64 / 1024.0,
)];

/// The metrics plotted against the work per page, on the work site.
const WORK_METRICS: [Metric; 3] = [
    ("pages_per_s", "responses per second", |r| r.pages_per_s),
    ("p99_latency", "p99 latency (ms)", |r| r.latency_ms.p99),
    // Threads have no loop: no point rather than a misleading zero.
    ("loop_lag_p99", "p99 loop lag (ms)", |r| {
        r.loop_lag_ms.map_or(f64::NAN, |l| l.p99)
    }),
];

/// The metrics plotted against the crawler's cores, on the cores site.
const CORES_METRICS: [Metric; 2] = [
    ("pages_per_s", "responses per second", |r| r.pages_per_s),
    (
        "scaling_efficiency",
        "scaling efficiency (rate on k cores / k × rate on 1)",
        |r| r.scaling_efficiency.unwrap_or(f64::NAN),
    ),
];

/// The counted runs' metrics, against C.
const COUNTS_METRICS: [Metric; 2] = [
    (
        "instructions_per_page",
        "user-space instructions per response",
        |r| r.instructions_per_page.unwrap_or(f64::NAN),
    ),
    ("syscalls_per_page", "system calls per response", |r| {
        r.syscalls_per_page.unwrap_or(f64::NAN)
    }),
];

/// One chart: where it goes, what it shows, its lines.
struct Chart {
    file: String,
    caption: String,
    x_desc: &'static str,
    log_x: bool,
    y_desc: &'static str,
    series: Vec<(String, Vec<(f64, f64)>)>,
}

/// Every chart of a sweep, with its data.
fn charts_of(results: &Results) -> Vec<Chart> {
    let Some(plan) = &results.plan else {
        return Vec::new();
    };
    let mut charts = Vec::new();
    let mut add = |site: &str,
                   x_desc,
                   log_x,
                   metric: &Metric,
                   x: fn(&Run) -> f64,
                   name: fn(&Run) -> String| {
        let (file, what, y) = *metric;
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for run in results
            .runs
            .iter()
            .filter(|r| r.site == site && r.error.is_none())
        {
            let point = (x(run), y(run));
            if !point.1.is_finite() {
                continue;
            }
            match series.iter_mut().find(|(n, _)| *n == name(run)) {
                Some((_, points)) => points.push(point),
                None => series.push((name(run), vec![point])),
            }
        }
        charts.push(Chart {
            file: format!("{site}-{file}"),
            caption: format!("{site} site: {what}"),
            x_desc,
            log_x,
            y_desc: what,
            series,
        });
    };
    for site in &plan.sites {
        let metrics: &[Metric] = if site.name == "memory" {
            &MEMORY_METRICS
        } else {
            &METRICS
        };
        for metric in metrics {
            add(
                &site.name,
                "concurrency C (log scale)",
                true,
                metric,
                |r| r.concurrency as f64,
                |r| r.strategy.clone(),
            );
        }
    }
    if plan.work.is_some() {
        for metric in &WORK_METRICS {
            add(
                "work",
                "CPU work per page (µs)",
                false,
                metric,
                |r| r.work_us as f64,
                Run::variant,
            );
        }
    }
    if plan.counts.is_some() {
        for metric in &COUNTS_METRICS {
            add(
                "counts",
                "concurrency C (log scale)",
                true,
                metric,
                |r| r.concurrency as f64,
                Run::variant,
            );
        }
    }
    if plan.cores.is_some() {
        for metric in &CORES_METRICS {
            add(
                "cores",
                "crawler cores (loops, runtime threads)",
                false,
                metric,
                |r| r.cores.unwrap_or_default() as f64,
                Run::variant,
            );
        }
    }
    if let Some(axis) = &plan.connections {
        connection_charts(results, axis, &mut charts);
    }
    charts
}

/// The metrics plotted against C on the connection axis's sites, one chart per transport.
const CONNECTION_METRICS: [Metric; 2] = [
    ("pages_per_s", "responses per second", |r| r.pages_per_s),
    ("cpu_per_page", "crawler CPU per response (µs)", |r| {
        r.cpu_us_per_page
    }),
];

/// The connection axis: for each site and transport, a line per strategy and form (`async+
/// per-core`, `callbacks+2 loops`) against C; the memory site over https like the memory
/// site.
fn connection_charts(
    results: &Results,
    axis: &crate::plan::ConnectionsAxis,
    charts: &mut Vec<Chart>,
) {
    let name = |r: &Run| match (&r.runtime, r.parallel) {
        (Some(runtime), _) => format!("{}+{runtime}", r.strategy),
        (None, Some(n)) => format!("{}+{n} loops", r.strategy),
        _ => r.strategy.clone(),
    };
    let series_of = |runs: Vec<&Run>, metric: &Metric| {
        let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
        for run in runs {
            let point = (run.concurrency as f64, (metric.2)(run));
            if !point.1.is_finite() {
                continue;
            }
            match series.iter_mut().find(|(n, _)| *n == name(run)) {
                Some((_, points)) => points.push(point),
                None => series.push((name(run), vec![point])),
            }
        }
        series
    };
    for at in &axis.sites {
        for &transport in &axis.transports {
            let slug = transport.name().replace(", no resumption", " no-resume");
            let slug = slug.replace(' ', "-");
            for metric in &CONNECTION_METRICS {
                let runs = results
                    .runs
                    .iter()
                    .filter(|r| r.site == at.site.name && r.transport == transport)
                    .filter(|r| r.cores.is_none() && r.error.is_none())
                    .collect();
                charts.push(Chart {
                    file: format!("{}-{slug}-{}", at.site.name, metric.0),
                    caption: format!("{} site, {}: {}", at.site.name, transport.name(), metric.1),
                    x_desc: "concurrency C (log scale)",
                    log_x: true,
                    y_desc: metric.1,
                    series: series_of(runs, metric),
                });
            }
        }
    }
    if let Some(at) = &axis.tls_memory {
        for metric in &MEMORY_METRICS {
            let runs = results
                .runs
                .iter()
                .filter(|r| r.site == at.site.name && r.error.is_none())
                .collect();
            charts.push(Chart {
                file: format!("{}-{}", at.site.name, metric.0),
                caption: format!("{} site (https): {}", at.site.name, metric.1),
                x_desc: "concurrency C (log scale)",
                log_x: true,
                y_desc: metric.1,
                series: series_of(runs, metric),
            });
        }
    }
}

/// The charts a sweep has: file stem and caption.
pub fn charts(results: &Results) -> Vec<(String, String)> {
    charts_of(results)
        .into_iter()
        .filter(|c| !c.series.is_empty())
        .map(|c| (c.file, c.caption))
        .collect()
}

/// What [`draw`] did: the files written, and the ones that failed, each with its reason.
#[derive(Debug, Default)]
pub struct Drawn {
    /// Files written.
    pub written: Vec<PathBuf>,
    /// Files that could not be drawn, and why.
    pub failed: Vec<(PathBuf, String)>,
}

impl Drawn {
    /// Prints one line on stderr per file: `wrote PATH`, or `plot failed: PATH: reason`.
    pub fn print(&self) {
        for path in &self.written {
            eprintln!("wrote {}", path.display());
        }
        for (path, reason) in &self.failed {
            eprintln!("plot failed: {}: {reason}", path.display());
        }
    }
}

/// Draws every chart of `results` into `dir`, as SVG and PNG. A chart that cannot be drawn
/// does not stop the others: it is listed in [`Drawn::failed`].
pub fn draw(results: &Results, dir: &Path) -> Drawn {
    let mut drawn = Drawn::default();
    let charts = charts_of(results);
    let charts: Vec<&Chart> = charts.iter().filter(|c| !c.series.is_empty()).collect();
    if let Err(err) = register_font() {
        drawn.failed.push((dir.to_path_buf(), err.to_string()));
        return drawn;
    }
    if let Err(err) = std::fs::create_dir_all(dir) {
        drawn.failed.push((dir.to_path_buf(), err.to_string()));
        return drawn;
    }
    for chart in charts {
        let svg = dir.join(format!("{}.svg", chart.file));
        let result = render(SVGBackend::new(&svg, (800, 500)).into_drawing_area(), chart);
        drawn.record(svg, result);
        let png = dir.join(format!("{}.png", chart.file));
        let result = render(
            BitMapBackend::new(&png, (800, 500)).into_drawing_area(),
            chart,
        );
        drawn.record(png, result);
    }
    drawn
}

impl Drawn {
    fn record(&mut self, path: PathBuf, result: io::Result<()>) {
        match result {
            Ok(()) => self.written.push(path),
            Err(err) => self.failed.push((path, err.to_string())),
        }
    }
}

fn render<DB: DrawingBackend>(root: DrawingArea<DB, Shift>, chart: &Chart) -> io::Result<()> {
    let points = || chart.series.iter().flat_map(|(_, p)| p.iter());
    let (x_min, x_max) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (y_min, y_max) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    // A log scale for y when the values span decades (RSS of threads vs. the rest, latencies).
    let log_y = y_min > 0.0 && y_max / y_min > 30.0;
    let y_lin = 0.0..(y_max * 1.15).max(1e-9);
    let log_axis = |lo: f64, hi: f64| {
        let (lo, hi) = (lo * 0.8, hi * 1.25);
        (lo..hi).log_scale().with_key_points(log_ticks(lo, hi))
    };
    if chart.log_x && x_min > 0.0 {
        let x = log_axis(x_min, x_max);
        if log_y {
            draw_series(root, chart, x, log_axis(y_min, y_max))
        } else {
            draw_series(root, chart, x, y_lin)
        }
    } else {
        let pad = ((x_max - x_min) * 0.05).max(1.0);
        let x = WholeTicks(((x_min - pad)..(x_max + pad)).into());
        if log_y {
            draw_series(root, chart, x, log_axis(y_min, y_max))
        } else {
            draw_series(root, chart, x, y_lin)
        }
    }
}

/// A linear axis whose ticks fall on round whole numbers only: a linear x counts cores (half
/// a core is no step) or µs of work. (`with_key_points` would do, but it drops the value
/// formatter that `x_label_formatter` needs.)
struct WholeTicks(RangedCoordf64);

impl Ranged for WholeTicks {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        self.0.map(value, limit)
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        let range = self.0.range();
        // The smallest round step (1, 2 or 5 times a power of ten, at least 1) that keeps
        // the ticks within the hint.
        let wanted = (range.end - range.start) / hint.max_num_points().max(1) as f64;
        if !wanted.is_finite() {
            return Vec::new();
        }
        let step = std::iter::successors(Some(1.0_f64), |power| Some(power * 10.0))
            .take(20)
            .flat_map(|power| [power, 2.0 * power, 5.0 * power])
            .find(|&step| step >= wanted)
            .unwrap_or(wanted.max(1.0));
        let first = (range.start / step).ceil() as i64;
        let last = (range.end / step).floor() as i64;
        (first..=last).map(|tick| tick as f64 * step).collect()
    }

    fn range(&self) -> std::ops::Range<f64> {
        self.0.range()
    }
}

fn draw_series<DB: DrawingBackend, X, Y>(
    root: DrawingArea<DB, Shift>,
    chart: &Chart,
    x: X,
    y: Y,
) -> io::Result<()>
where
    X: AsRangedCoord<Value = f64>,
    X::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| io::Error::other(e.to_string());
    root.fill(&WHITE).map_err(err)?;
    let mut plot = ChartBuilder::on(&root)
        .caption(&chart.caption, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x, y)
        .map_err(err)?;
    plot.configure_mesh()
        .x_desc(chart.x_desc)
        .y_desc(chart.y_desc)
        .x_label_formatter(&|v| label(*v))
        .y_label_formatter(&|v| label(*v))
        .draw()
        .map_err(err)?;
    let mut variants_seen: Vec<&str> = Vec::new();
    for (name, points) in &chart.series {
        // The n-th variant of a strategy in this chart gets the n-th dash pattern.
        let strategy = strategy_of(name);
        let index = variants_seen.iter().filter(|s| **s == strategy).count();
        if name.as_str() != strategy {
            variants_seen.push(strategy);
        }
        let style = series_style(name, index);
        let line = style.color.stroke_width(2);
        let legend_line = line;
        let drawn = match style.dash {
            None => plot.draw_series(LineSeries::new(points.iter().copied(), line)),
            Some((dash, gap)) => plot.draw_series(DashedLineSeries::new(
                points.iter().copied(),
                dash,
                gap,
                line,
            )),
        };
        let dash = style.dash;
        drawn
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| match dash {
                None => PathElement::new(vec![(x, y), (x + 24, y)], legend_line).into_dyn(),
                Some(_) => {
                    DashedPathElement::new(vec![(x, y), (x + 24, y)], 5, 3, legend_line).into_dyn()
                }
            });
        // Filled markers for a strategy, hollow ones for its variants.
        let marker = if style.dash.is_none() {
            style.color.filled()
        } else {
            style.color.stroke_width(2)
        };
        plot.draw_series(points.iter().map(|&p| Circle::new(p, 4, marker)))
            .map_err(err)?;
    }
    plot.configure_series_labels()
        .position(SeriesLabelPosition::UpperLeft)
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .draw()
        .map_err(err)?;
    root.present().map_err(err)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_linear_axis_ticks_round_whole_numbers() {
        let ticks = |lo: f64, hi: f64, most: usize| WholeTicks((lo..hi).into()).key_points(most);
        // Cores: no half core, whatever room there is.
        assert_eq!(ticks(-0.5, 3.5, 10), [0.0, 1.0, 2.0, 3.0]);
        assert_eq!(ticks(0.0, 16.0, 5), [0.0, 5.0, 10.0, 15.0]);
        // µs of work: a round step.
        assert_eq!(
            ticks(-50.0, 1050.0, 12),
            [
                0.0, 100.0, 200.0, 300.0, 400.0, 500.0, 600.0, 700.0, 800.0, 900.0, 1000.0
            ]
        );
    }
}
