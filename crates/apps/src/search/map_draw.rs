//! Drawing an [`EmbeddingMap`] with plotters: a scatter plot of the chunks on the first two
//! principal components, one colour (and, past nine groups, one marker shape) per group,
//! [`UNTAGGED`] grey, a legend beside the plot, and the variance each axis explains in the
//! title. Written atomically (a temporary file beside the target, fsync, rename), as PNG or,
//! for a `.svg` path, SVG.

use std::path::{Path, PathBuf};

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::search::error::{Result, SearchError};
use crate::search::map::{EmbeddingMap, MapGroup, UNTAGGED};

/// Image size in pixels.
const SIZE: (u32, u32) = (1100, 760);
/// Width of the legend strip on the right.
const LEGEND_WIDTH: u32 = 250;
/// Groups past which the legend is left out (the caption says so).
const MAX_LEGEND: usize = 27;
/// Tableau 10 without its grey, which marks [`UNTAGGED`].
const PALETTE: [RGBColor; 9] = [
    RGBColor(0x4e, 0x79, 0xa7),
    RGBColor(0xf2, 0x8e, 0x2b),
    RGBColor(0xe1, 0x57, 0x59),
    RGBColor(0x76, 0xb7, 0xb2),
    RGBColor(0x59, 0xa1, 0x4f),
    RGBColor(0xed, 0xc9, 0x48),
    RGBColor(0xb0, 0x7a, 0xa1),
    RGBColor(0xff, 0x9d, 0xa7),
    RGBColor(0x9c, 0x75, 0x5f),
];
const GREY: RGBColor = RGBColor(0xa0, 0xa0, 0xa0);

/// The colour and marker shape (0 circle, 1 triangle, 2 square) of group number `i` of `name`.
fn style(by: MapGroup, i: usize, name: &str) -> (RGBColor, usize) {
    if by == MapGroup::Tag && name == UNTAGGED {
        return (GREY, 0);
    }
    (PALETTE[i % PALETTE.len()], (i / PALETTE.len()) % 3)
}

impl EmbeddingMap {
    /// Draws the map to `path` (PNG, or SVG when it ends in `.svg`), atomically.
    pub fn draw(&self, path: &Path) -> Result<()> {
        let svg = match path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase).as_deref() {
            Some("png") => false,
            Some("svg") => true,
            _ => return Err(SearchError::file(path, "the map is written as .png or .svg; give a path ending in one")),
        };
        let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
        let ext = if svg { "svg" } else { "png" };
        let tmp: PathBuf = path.with_file_name(format!(".{name}.{}.tmp.{ext}", std::process::id()));
        let drawn = if svg {
            self.draw_on(SVGBackend::new(&tmp, SIZE).into_drawing_area())
        } else {
            self.draw_on(BitMapBackend::new(&tmp, SIZE).into_drawing_area())
        };
        let written = drawn.and_then(|()| std::fs::File::open(&tmp).and_then(|f| f.sync_all()).map_err(|e| e.to_string()));
        let renamed = written.and_then(|()| std::fs::rename(&tmp, path).map_err(|e| e.to_string()));
        renamed.map_err(|e| {
            let _ = std::fs::remove_file(&tmp);
            SearchError::file(path, format!("cannot draw the map: {e}"))
        })
    }

    fn draw_on<DB: DrawingBackend>(&self, root: DrawingArea<DB, Shift>) -> std::result::Result<(), String>
    where
        DB::ErrorType: 'static,
    {
        let err = |e: DrawingAreaErrorKind<DB::ErrorType>| e.to_string();
        let text = loam_lm::font_available();
        root.fill(&WHITE).map_err(err)?;
        let legend = text && self.groups.len() <= MAX_LEGEND;
        let (plot, side) = root.split_horizontally(SIZE.0 - if legend { LEGEND_WIDTH } else { 0 });
        let (xs, ys) = (self.points.iter().map(|p| p.x), self.points.iter().map(|p| p.y));
        let range = |v: &mut dyn Iterator<Item = f64>| {
            let (lo, hi) = v.fold((f64::MAX, f64::MIN), |(a, b), x| (a.min(x), b.max(x)));
            let pad = ((hi - lo) * 0.05).max(1e-9);
            lo - pad..hi + pad
        };
        let (x_range, y_range) = (range(&mut xs.into_iter()), range(&mut ys.into_iter()));
        let mut builder = ChartBuilder::on(&plot);
        builder.margin(20);
        if text {
            let [r1, r2] = self.variance_ratio.map(|r| r * 100.0);
            let mut caption = format!("{} chunks of {} documents ({}): PC1 {r1:.1} %, PC2 {r2:.1} % of variance", self.points.len(), self.documents, self.model);
            if !legend {
                caption.push_str(&format!(" · {} {}s, no legend", self.groups.len(), self.by));
            }
            builder.caption(caption, ("sans-serif", 20)).x_label_area_size(45).y_label_area_size(60);
        }
        let mut chart = builder.build_cartesian_2d(x_range, y_range).map_err(err)?;
        let mut mesh = chart.configure_mesh();
        mesh.light_line_style(WHITE.mix(0.0));
        if text {
            let [r1, r2] = self.variance_ratio.map(|r| r * 100.0);
            mesh.x_desc(format!("first principal component ({r1:.1} % of variance)"))
                .y_desc(format!("second principal component ({r2:.1} %)"))
                .label_style(("sans-serif", 14))
                .axis_desc_style(("sans-serif", 16));
        } else {
            mesh.disable_x_axis().disable_y_axis();
        }
        mesh.draw().map_err(err)?;
        for (i, group) in self.groups.iter().enumerate() {
            let (colour, shape) = style(self.by, i, group);
            let at = self.points.iter().filter(|p| p.group == *group).map(|p| (p.x, p.y));
            let fill = colour.mix(0.85).filled();
            match shape {
                0 => chart.draw_series(at.map(|p| Circle::new(p, 6, fill))).map_err(err)?,
                1 => chart.draw_series(at.map(|p| TriangleMarker::new(p, 7, fill))).map_err(err)?,
                _ => chart.draw_series(at.map(|p| EmptyElement::at(p) + Rectangle::new([(-5, -5), (5, 5)], fill))).map_err(err)?,
            };
        }
        if legend {
            let title = format!("{} (chunks)", self.by);
            side.draw(&Text::new(title, (10, 30), ("sans-serif", 18).into_font())).map_err(err)?;
            for (i, group) in self.groups.iter().enumerate() {
                let (colour, shape) = style(self.by, i, group);
                let y = 60 + 24 * i as i32;
                let fill = colour.mix(0.85).filled();
                match shape {
                    0 => side.draw(&Circle::new((20, y), 6, fill)).map_err(err)?,
                    1 => side.draw(&TriangleMarker::new((20, y), 7, fill)).map_err(err)?,
                    _ => side.draw(&Rectangle::new([(15, y - 5), (25, y + 5)], fill)).map_err(err)?,
                }
                let count = self.points.iter().filter(|p| p.group == *group).count();
                let label = format!("{group} ({count})");
                side.draw(&Text::new(label, (34, y - 8), ("sans-serif", 15).into_font())).map_err(err)?;
            }
        }
        root.present().map_err(err)
    }
}
