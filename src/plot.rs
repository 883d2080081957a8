//! Plots of a sweep, drawn by the project itself: one line per strategy, concurrency on a
//! log scale; SVG for the README, PNG for viewers that want a picture.

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

fn metrics(site: &str) -> &'static [Metric] {
    if site == "memory" {
        &MEMORY_METRICS
    } else {
        &METRICS
    }
}

/// The charts a sweep has: file stem and caption.
pub fn charts(results: &Results) -> Vec<(String, String)> {
    let sites = results
        .plan
        .as_ref()
        .map(|p| p.sites.clone())
        .unwrap_or_default();
    sites
        .iter()
        .flat_map(|site| {
            metrics(&site.name).iter().map(move |(file, what, _)| {
                (
                    format!("{}-{file}", site.name),
                    format!("{} site: {what} vs concurrency", site.name),
                )
            })
        })
        .collect()
}

/// Draws every chart of `results` into `dir`, as SVG and PNG; returns the files written.
pub fn draw(results: &Results, dir: &Path) -> io::Result<Vec<PathBuf>> {
    register_font()?;
    let mut written = Vec::new();
    let sites = results
        .plan
        .as_ref()
        .map(|p| p.sites.clone())
        .unwrap_or_default();
    for site in &sites {
        for &(file, what, metric) in metrics(&site.name) {
            let mut series: Vec<(String, Vec<(f64, f64)>)> = Vec::new();
            for run in results
                .runs
                .iter()
                .filter(|r| r.site == site.name && r.error.is_none())
            {
                let point = (run.concurrency as f64, metric(run));
                match series.iter_mut().find(|(name, _)| *name == run.strategy) {
                    Some((_, points)) => points.push(point),
                    None => series.push((run.strategy.clone(), vec![point])),
                }
            }
            if series.is_empty() {
                continue;
            }
            let title = format!("{} site — {what}", site.name);
            let svg = dir.join(format!("{}-{file}.svg", site.name));
            chart(
                SVGBackend::new(&svg, (800, 500)).into_drawing_area(),
                &title,
                what,
                &series,
            )?;
            written.push(svg);
            let png = dir.join(format!("{}-{file}.png", site.name));
            chart(
                BitMapBackend::new(&png, (800, 500)).into_drawing_area(),
                &title,
                what,
                &series,
            )?;
            written.push(png);
        }
    }
    Ok(written)
}

fn chart<DB: DrawingBackend>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
) -> io::Result<()> {
    let points = || series.iter().flat_map(|(_, p)| p.iter());
    let (x_min, x_max) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.0), hi.max(p.0))
    });
    let (y_min, y_max) = points().fold((f64::MAX, f64::MIN), |(lo, hi), p| {
        (lo.min(p.1), hi.max(p.1))
    });
    let x = (x_min * 0.8)..(x_max * 1.25);
    // A log scale when the values span decades (RSS of threads vs. the rest, latencies).
    if y_min > 0.0 && y_max / y_min > 30.0 {
        draw_series(
            root,
            title,
            y_desc,
            series,
            x,
            ((y_min * 0.8)..(y_max * 1.25)).log_scale(),
        )
    } else {
        draw_series(
            root,
            title,
            y_desc,
            series,
            x,
            0.0..(y_max * 1.15).max(1e-9),
        )
    }
}

fn draw_series<DB: DrawingBackend, Y>(
    root: DrawingArea<DB, Shift>,
    title: &str,
    y_desc: &str,
    series: &[(String, Vec<(f64, f64)>)],
    x: std::ops::Range<f64>,
    y: Y,
) -> io::Result<()>
where
    Y: AsRangedCoord<Value = f64>,
    Y::CoordDescType: Ranged<ValueType = f64> + ValueFormatter<f64>,
{
    let err = |e: DrawingAreaErrorKind<DB::ErrorType>| io::Error::other(e.to_string());
    root.fill(&WHITE).map_err(err)?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 22))
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d(x.log_scale(), y)
        .map_err(err)?;
    chart
        .configure_mesh()
        .x_desc("concurrency C (log scale)")
        .y_desc(y_desc)
        .x_label_formatter(&|c| format!("{c:.0}"))
        .draw()
        .map_err(err)?;
    for (i, (name, points)) in series.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        chart
            .draw_series(LineSeries::new(
                points.iter().copied(),
                color.stroke_width(2),
            ))
            .map_err(err)?
            .label(name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2))
            });
        chart
            .draw_series(points.iter().map(|&p| Circle::new(p, 4, color.filled())))
            .map_err(err)?;
    }
    chart
        .configure_series_labels()
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
