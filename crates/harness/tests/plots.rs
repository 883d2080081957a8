//! Every kind of chart, drawn from a small fixed sweep: the only input is that sweep's JSON
//! (compiled in), and the font is the one compiled into the binary, so this passes on a
//! machine with no fonts installed.

use std::{collections::BTreeSet, path::PathBuf};

use c10k_harness::{Results, plot};

const SWEEP: &str = include_str!("fixtures/sweep.json");

fn out_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("c10k-plots-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[test]
fn every_chart_kind_is_drawn_as_svg_and_png_in_the_strategies_colours() {
    let results: Results = serde_json::from_str(SWEEP).expect("the fixture is a sweep");
    let dir = out_dir("all");
    let drawn = plot::draw(&results, &dir);
    assert!(drawn.failed.is_empty(), "{:?}", drawn.failed);

    let charts = plot::charts(&results);
    let kinds: BTreeSet<&str> = charts
        .iter()
        .map(|(file, _)| file.split_once('-').map_or(file.as_str(), |(site, _)| site))
        .collect();
    assert_eq!(
        kinds,
        BTreeSet::from([
            "conn", "cores", "counts", "cpu", "latency", "memory", "tls", "work"
        ]),
        "a chart of every site"
    );
    // The connection axis: its CPU-bound site over each of 5 transports, rate and CPU per
    // page (the fixture has no runs of its latency-bound site: no chart), and the memory
    // site over https.
    assert_eq!(charts.len(), 4 + 4 + 1 + 3 + 2 + 2 + 5 * 2 + 1);
    assert!(
        charts
            .iter()
            .any(|(file, _)| file == "conn-cpu-https-close-no-resume-pages_per_s")
    );
    assert_eq!(drawn.written.len(), 2 * charts.len());

    // The same colour for the same strategy in every chart (Okabe–Ito; see plot/style.rs).
    let colours = [
        ("threads", "#D55E00"),
        ("callbacks", "#0072B2"),
        ("generators", "#009E73"),
        ("async", "#CC79A7"),
        ("uring", "#E69F00"),
    ];
    for (file, caption) in &charts {
        let svg = std::fs::read_to_string(dir.join(format!("{file}.svg"))).expect("the SVG");
        assert!(svg.contains(caption.as_str()), "{file}: caption");
        for (strategy, colour) in colours {
            if file.ends_with("loop_lag_p99") && strategy == "threads" {
                continue; // threads have no loop
            }
            assert!(
                svg.contains(strategy),
                "{file}: no {strategy} in the legend"
            );
            assert!(svg.contains(colour), "{file}: {strategy} is not {colour}");
        }
        if file.starts_with("work-") {
            // Offloaded variants: dashed lines of their strategy's colour.
            assert!(svg.contains("callbacks+offload"), "{file}");
        }
        let png = std::fs::read(dir.join(format!("{file}.png"))).expect("the PNG");
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "{file}.png is a PNG");
    }
    std::fs::remove_dir_all(&dir).expect("the temporary folder is removed");
}

#[test]
fn a_plot_that_cannot_be_written_is_reported_and_the_others_are_not_affected() {
    let results: Results = serde_json::from_str(SWEEP).expect("the fixture is a sweep");
    let dir = out_dir("blocked");
    std::fs::create_dir_all(&dir).unwrap();
    // A directory where one chart's SVG should go: that file alone cannot be written.
    std::fs::create_dir(dir.join("cpu-pages_per_s.svg")).unwrap();
    let drawn = plot::draw(&results, &dir);
    assert_eq!(drawn.failed.len(), 1, "{:?}", drawn.failed);
    assert!(drawn.failed[0].0.ends_with("cpu-pages_per_s.svg"));
    assert_eq!(drawn.written.len(), 2 * plot::charts(&results).len() - 1);
    std::fs::remove_dir_all(&dir).unwrap();
}
