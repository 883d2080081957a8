//! How a chart looks: one colour per strategy in every chart, a line style per variant, axis
//! ticks through the whole of a log range, and a font compiled into the binary.

use std::{io, sync::OnceLock};

use plotters::style::{FontStyle, RGBColor};

/// The Okabe–Ito palette, safe for the common forms of colour blindness, one colour per
/// strategy, the same in every chart (and none of them pale on white); the peers in muted
/// tones.
const COLORS: &[(&str, RGBColor)] = &[
    ("threads", RGBColor(213, 94, 0)),     // vermillion
    ("callbacks", RGBColor(0, 114, 178)),  // blue
    ("generators", RGBColor(0, 158, 115)), // bluish green
    ("async", RGBColor(204, 121, 167)),    // reddish purple
    ("uring", RGBColor(230, 159, 0)),      // orange
    // The reference rows, muted beside the Rust strategies.
    ("python-asyncio", RGBColor(140, 180, 205)), // greyed sky blue
    ("go", RGBColor(130, 130, 130)),             // grey
];

/// For a strategy the palette does not know yet.
const OTHER: RGBColor = RGBColor(120, 120, 120);

/// How a series is drawn.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct SeriesStyle {
    /// The strategy's colour.
    pub(crate) color: RGBColor,
    /// `None` for a solid line (the strategy as it is); the dash and gap lengths, in pixels,
    /// for a variant of it (offloaded, more loops, another runtime).
    pub(crate) dash: Option<(u32, u32)>,
}

/// The style of the series named `name`: a strategy (`callbacks`) or a variant of one
/// (`callbacks+offload`; whatever follows the first `+` names the variant). The n-th variant
/// of a strategy in one chart gets the n-th dash pattern.
pub(crate) fn series_style(name: &str, variant_index: usize) -> SeriesStyle {
    let (strategy, variant) = match name.split_once('+') {
        Some((strategy, variant)) => (strategy, Some(variant)),
        None => (name, None),
    };
    let color = COLORS
        .iter()
        .find(|(known, _)| *known == strategy)
        .map_or(OTHER, |&(_, color)| color);
    const DASHES: [(u32, u32); 3] = [(10, 6), (3, 4), (14, 4)];
    SeriesStyle {
        color,
        dash: variant.map(|_| DASHES[variant_index % DASHES.len()]),
    }
}

/// The strategy a series belongs to (`callbacks` for `callbacks+offload`).
pub(crate) fn strategy_of(name: &str) -> &str {
    name.split_once('+').map_or(name, |(strategy, _)| strategy)
}

/// Ticks for a log axis over `[lo, hi]`: 1-2-5 steps of every decade when they fit, whole
/// decades when the range is wide, every step 1–9 when it is narrow — never a stretch of the
/// axis without a label.
pub(crate) fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let in_range = |steps: &[f64]| -> Vec<f64> {
        let first = lo.log10().floor() as i32;
        let last = hi.log10().ceil() as i32;
        (first..=last)
            .flat_map(|exp| steps.iter().map(move |m| m * 10f64.powi(exp)))
            .filter(|v| *v >= lo * 0.999 && *v <= hi * 1.001)
            .collect()
    };
    let ticks = in_range(&[1.0, 2.0, 5.0]);
    if ticks.len() > 12 {
        return in_range(&[1.0]);
    }
    if ticks.len() >= 4 {
        return ticks;
    }
    let ticks = in_range(&[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0]);
    if ticks.len() >= 3 {
        return ticks;
    }
    // Less than a decade: five steps, geometric, at two significant digits.
    (0..5)
        .map(|i| two_digits(lo * (hi / lo).powf(f64::from(i) / 4.0)))
        .collect()
}

fn two_digits(value: f64) -> f64 {
    let scale = 10f64.powi(value.log10().floor() as i32 - 1);
    (value / scale).round() * scale
}

/// A tick label: no trailing zeros, as many decimals as a value below 1 needs.
pub(crate) fn label(value: f64) -> String {
    if value.abs() >= 100.0 || value == value.round() {
        format!("{value:.0}")
    } else {
        let text = format!("{value:.3}");
        text.trim_end_matches('0').trim_end_matches('.').to_owned()
    }
}

/// Registers the font every chart's text is set in: DejaVu Sans, compiled into the binary
/// (the `dejavu` crate), so that no plot depends on the fonts a machine has installed. Once
/// per process, as plotters requires.
pub(crate) fn register_font() -> io::Result<()> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let ok = *REGISTERED.get_or_init(|| {
        plotters::style::register_font("sans-serif", FontStyle::Normal, dejavu::sans::regular())
            .is_ok()
    });
    if ok {
        Ok(())
    } else {
        Err(io::Error::other(
            "the embedded DejaVu Sans font could not be read",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_strategy_has_one_colour_and_its_variants_are_dashed() {
        let plain = series_style("generators", 0);
        let offload = series_style("generators+offload", 0);
        assert_eq!(plain.color, offload.color);
        assert_eq!(plain.dash, None);
        assert!(offload.dash.is_some());
        assert_ne!(series_style("threads", 0).color, plain.color);
        assert_eq!(strategy_of("async+per-core"), "async");
    }

    #[test]
    fn log_ticks_label_the_whole_range() {
        // The loop-lag chart: 2.9 ms offloaded to 111 ms inline.
        let ticks = log_ticks(2.3, 139.0);
        assert_eq!(ticks, [5.0, 10.0, 20.0, 50.0, 100.0]);
        assert_eq!(
            log_ticks(1.0, 10_000.0),
            [1.0, 10.0, 100.0, 1000.0, 10_000.0]
        );
        assert_eq!(log_ticks(12.0, 25.0), [12.0, 14.0, 17.0, 21.0, 25.0]);
        assert_eq!(label(0.5), "0.5");
        assert_eq!(label(20.0), "20");
    }
}
