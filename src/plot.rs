//! Plots of a sweep, drawn by the project itself: one line per strategy, concurrency on a
//! log scale (work per page, on the work site); SVG for the README, PNG for viewers that want
//! a picture.

use std::{
    io,
    path::{Path, PathBuf},
    sync::OnceLock,
};

use plotters::{
    coord::{
        Shift,
        ranged1d::{AsRangedCoord, ValueFormatter},
    },
    prelude::*,
};

use crate::sweep::{Results, Run};

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
    charts
}

/// The charts a sweep has: file stem and caption.
pub fn charts(results: &Results) -> Vec<(String, String)> {
    charts_of(results)
        .into_iter()
        .filter(|c| !c.series.is_empty())
        .map(|c| (c.file, c.caption))
        .collect()
}

/// Draws every chart of `results` into `dir`, as SVG and PNG; returns the files written.
pub fn draw(results: &Results, dir: &Path) -> io::Result<Vec<PathBuf>> {
    register_font()?;
    let mut written = Vec::new();
    for chart in charts_of(results).iter().filter(|c| !c.series.is_empty()) {
        let svg = dir.join(format!("{}.svg", chart.file));
        render(SVGBackend::new(&svg, (800, 500)).into_drawing_area(), chart)?;
        written.push(svg);
        let png = dir.join(format!("{}.png", chart.file));
        render(
            BitMapBackend::new(&png, (800, 500)).into_drawing_area(),
            chart,
        )?;
        written.push(png);
    }
    Ok(written)
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
    let y_log = ((y_min * 0.8)..(y_max * 1.25)).log_scale();
    if chart.log_x {
        let x = ((x_min * 0.8)..(x_max * 1.25)).log_scale();
        if log_y {
            draw_series(root, chart, x, y_log)
        } else {
            draw_series(root, chart, x, y_lin)
        }
    } else {
        let pad = ((x_max - x_min) * 0.05).max(1.0);
        let x = (x_min - pad)..(x_max + pad);
        if log_y {
            draw_series(root, chart, x, y_log)
        } else {
            draw_series(root, chart, x, y_lin)
        }
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
        .x_label_formatter(&|v| format!("{v:.0}"))
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in chart.series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        plot.draw_series(LineSeries::new(
            points.iter().copied(),
            color.stroke_width(2),
        ))
        .map_err(err)?
        .label(name)
        .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
        plot.draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
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

/// Plot text needs a TrueType font; the machine's DejaVu Sans (Debian's fonts-dejavu-core) or
/// any other found under `/usr/share/fonts`. Registered once per process (criterion's own
/// plots need it too, since plotters is built to take fonts from this registry).
pub fn register_font() -> io::Result<()> {
    static REGISTERED: OnceLock<Result<(), String>> = OnceLock::new();
    REGISTERED
        .get_or_init(|| {
            let preferred = Path::new("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf");
            let path = if preferred.exists() {
                Some(preferred.to_path_buf())
            } else {
                find_ttf(Path::new("/usr/share/fonts"))
            };
            let path =
                path.ok_or("no TrueType font under /usr/share/fonts (install fonts-dejavu-core)")?;
            let bytes = std::fs::read(&path).map_err(|e| format!("{}: {e}", path.display()))?;
            // Registered once for the life of the process, as plotters requires.
            let bytes: &'static [u8] = Box::leak(bytes.into_boxed_slice());
            plotters::style::register_font("sans-serif", FontStyle::Normal, bytes)
                .map_err(|_| format!("{} is not a usable font", path.display()))
        })
        .clone()
        .map_err(io::Error::other)
}

fn find_ttf(dir: &Path) -> Option<PathBuf> {
    for entry in std::fs::read_dir(dir).ok()?.flatten() {
        let path = entry.path();
        if path.is_dir() {
            if let Some(found) = find_ttf(&path) {
                return Some(found);
            }
        } else if path.extension().is_some_and(|e| e == "ttf") {
            return Some(path);
        }
    }
    None
}
