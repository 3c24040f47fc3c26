//! Pictures: valid PNG and GIF files of the stated size, decoded here.

#![allow(clippy::disallowed_methods)] // an independent oracle may use the C library

mod common;

use std::path::Path;
use std::process::Command;

use common::normal;
use ganflow::plot::{
    CurvePanel, DATA_COLOR, DATA_CURVE_COLOR, DISC_COLOR, DensityPanel, Disc, PARTICLE_COLOR,
    Panel, PlaneLabels, Projection, curves_png, density_png, flow_gif, image_grid_png, log_ticks,
    scatter_png, tick_label,
};
use image::AnimationDecoder;

fn png_size(path: &Path) -> (u32, u32) {
    let img = image::ImageReader::open(path)
        .unwrap()
        .with_guessed_format()
        .unwrap()
        .decode()
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    (img.width(), img.height())
}

fn gif_frames(path: &Path) -> Vec<(u32, u32)> {
    let file = std::io::BufReader::new(std::fs::File::open(path).unwrap());
    let decoder = image::codecs::gif::GifDecoder::new(file).unwrap();
    decoder
        .into_frames()
        .map(|f| {
            let f = f.unwrap();
            (f.buffer().width(), f.buffer().height())
        })
        .collect()
}

#[test]
fn pictures_have_the_stated_size() {
    let dir = tempfile::tempdir().unwrap();
    let data = normal(300, 5, 1);
    let proj = Projection::fit(&data);
    let xy = proj.apply(&data);
    let panel = |k: usize| Panel {
        title: format!("panel {k}"),
        particles: proj.apply(&normal(100, 5, 10 + k as u64)),
        arrows: Some(vec![(0.1, -0.2); 100]),
        discs: Vec::new(),
    };
    let p = dir.path().join("s.png");
    scatter_png(&p, &xy, &[panel(0), panel(1)], 300).unwrap();
    assert_eq!(png_size(&p), (600, 300));

    let p = dir.path().join("c.png");
    let t: Vec<f64> = (0..20).map(f64::from).collect();
    let decay: Vec<f64> = t.iter().map(|x| (-x).exp()).collect();
    let signed: Vec<f64> = t.iter().map(|x| x.sin()).collect();
    let panels = [
        CurvePanel {
            title: "decay".into(),
            lines: vec![
                ("a".into(), decay.clone()),
                ("b".into(), decay.iter().map(|v| v * 2.0).collect()),
            ],
            log: true,
        },
        CurvePanel {
            title: "signed".into(),
            lines: vec![("s".into(), signed)],
            log: true,
        },
    ];
    curves_png(&p, &t, &panels, (500, 400)).unwrap();
    assert_eq!(png_size(&p), (500, 400));

    let p = dir.path().join("f.gif");
    flow_gif(
        &p,
        &xy,
        &[panel(0), panel(1), panel(2)],
        200,
        50,
        &PlaneLabels::default(),
    )
    .unwrap();
    assert_eq!(gif_frames(&p), vec![(200, 200); 3]);

    let p = dir.path().join("g.png");
    let images = normal(12, 64, 2);
    image_grid_png(&p, &images, 8, 5, 3, (-2.0, 2.0)).unwrap();
    assert_eq!(png_size(&p), (5 * 26, 3 * 26));
    assert!(image_grid_png(&p, &normal(3, 10, 3), 8, 5, 3, (0.0, 1.0)).is_err());
}

/// The projection of 2-D data is the identity; above 2-D it finds the widest directions.
#[test]
fn projection_finds_principal_axes() {
    let p = normal(50, 2, 4);
    let xy = Projection::fit(&p).apply(&p);
    assert!(
        xy.iter()
            .zip(p.rows())
            .all(|((x, y), r)| *x == r[0] && *y == r[1])
    );
    // Spread 10 along axis 3, 3 along axis 0, 0.1 elsewhere.
    let base = normal(2000, 6, 5);
    let scaled: Vec<f64> = base
        .rows()
        .flat_map(|r| {
            r.iter()
                .enumerate()
                .map(|(k, v)| v * [3.0, 0.1, 0.1, 10.0, 0.1, 0.1][k])
                .collect::<Vec<_>>()
        })
        .collect();
    let pts = ganflow::Points::new("p", scaled, 6).unwrap();
    let xy = Projection::fit(&pts).apply(&pts);
    let var = |f: &dyn Fn(&(f64, f64)) -> f64| {
        xy.iter().map(|p| f(p).powi(2)).sum::<f64>() / xy.len() as f64
    };
    let (v1, v2) = (var(&|p| p.0), var(&|p| p.1));
    assert!(
        (v1.sqrt() - 10.0).abs() < 0.5 && (v2.sqrt() - 3.0).abs() < 0.2,
        "{v1} {v2}"
    );
}

#[test]
fn run_plot_and_plot_subcommand() {
    let dir = tempfile::tempdir().unwrap();
    let g = env!("CARGO_BIN_EXE_ganflow");
    let o = Command::new(g)
        .current_dir(dir.path())
        .args([
            "run",
            "--n",
            "80",
            "--m",
            "80",
            "--steps",
            "6",
            "--every",
            "2",
            "--record-velocity",
            "--plot",
            "--out",
            "r",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let r = dir.path().join("r");
    assert_eq!(png_size(&r.join("particles.png")), (3 * 420, 420));
    assert_eq!(png_size(&r.join("metrics.png")), (640, 400));
    assert_eq!(gif_frames(&r.join("flow.gif")), vec![(420, 420); 4]);
    let o = Command::new(g)
        .current_dir(dir.path())
        .args(["plot", "r", "--steps", "2,6", "--arrows"])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    assert_eq!(png_size(&r.join("particles.png")), (2 * 420, 420));
    let o = Command::new(g)
        .current_dir(dir.path())
        .args(["plot", "r", "--steps", "3"])
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("recorded steps are 0,2,4,6"));
    // No temporary file is left beside the pictures.
    assert!(
        std::fs::read_dir(&r)
            .unwrap()
            .all(|e| !ganflow::output::is_temp_name(&e.unwrap().file_name().to_string_lossy()))
    );
}

#[test]
fn bench_writes_one_row_per_configuration_and_a_picture() {
    let dir = tempfile::tempdir().unwrap();
    let o = Command::new(env!("CARGO_BIN_EXE_ganflow"))
        .current_dir(dir.path())
        .args([
            "bench",
            "--n",
            "200,400",
            "--dim",
            "1,3",
            "--tol",
            "1e-3,1e-6",
            "--estimators",
            "exact,kdtree,grid",
            "--accuracy-points",
            "50",
            "--out",
            "b",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(dir.path().join("b/bench.csv")).unwrap();
    let mut lines = csv.lines();
    assert_eq!(
        lines.next(),
        Some(
            "geometry,estimator,n,m,dim,tol,seconds,density_rel_err_median,density_rel_err_max,score_err_median,score_err_max,tree_share,work_median,work_max"
        )
    );
    let rows: Vec<Vec<&str>> = lines.map(|l| l.split(',').collect()).collect();
    // 2 sizes x 2 dimensions x (exact + 2 tolerances of the tree + 2 of the grid).
    assert_eq!(rows.len(), 2 * 2 * 5);
    for r in &rows {
        assert_eq!(r[0], "gaussian");
        let tol: f64 = r[5].parse().unwrap();
        let (dens_max, score_max): (f64, f64) = (r[8].parse().unwrap(), r[10].parse().unwrap());
        let bound = if r[1] == "exact" { 1e-12 } else { tol };
        assert!(dens_max <= bound && score_max <= bound, "{r:?}");
        assert!(r[6].parse::<f64>().unwrap() > 0.0);
        // Who answers, and the samples a query touches: every one for exact sums, at most
        // every one for the tree (all its queries), the grid's uncertified share for it.
        let m: usize = r[3].parse().unwrap();
        let (share, med, max): (f64, usize, usize) = (
            r[11].parse().unwrap(),
            r[12].parse().unwrap(),
            r[13].parse().unwrap(),
        );
        match r[1] {
            "exact" => assert_eq!((share, med, max), (0.0, m, m), "{r:?}"),
            "kdtree" => assert!(share == 1.0 && 0 < med && med <= max && max <= m, "{r:?}"),
            _ => assert!(
                (0.0..=1.0).contains(&share) && med <= max && max <= m,
                "{r:?}"
            ),
        }
    }
    assert_eq!(png_size(&dir.path().join("b/bench.png")), (800, 560));

    // --skip-after 0: every series stops after its first (smallest) N.
    let o = Command::new(env!("CARGO_BIN_EXE_ganflow"))
        .current_dir(dir.path())
        .args([
            "bench",
            "--n",
            "400,200",
            "--estimators",
            "exact,grid",
            "--skip-after",
            "0",
            "--accuracy-points",
            "20",
            "--out",
            "c",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(dir.path().join("c/bench.csv")).unwrap();
    let ns: Vec<&str> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').nth(2).unwrap())
        .collect();
    assert_eq!(ns, ["200", "200"]);
    assert!(String::from_utf8_lossy(&o.stdout).contains("skipped"));

    // The tail geometries: against four point masses at distance 6, the grid hands most of
    // the queries from N(0, I) to its fallback (measured: 66 % at N = 400, 98 % at 3000),
    // and the far-field tree answers each from the four masses' nodes, whatever M; the
    // ring's rows are written too.
    let o = Command::new(env!("CARGO_BIN_EXE_ganflow"))
        .current_dir(dir.path())
        .args([
            "bench",
            "--geometry",
            "far-points,ring",
            "--n",
            "400",
            "--estimators",
            "grid",
            "--tol",
            "1e-6",
            "--accuracy-points",
            "20",
            "--out",
            "t",
        ])
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let csv = std::fs::read_to_string(dir.path().join("t/bench.csv")).unwrap();
    let rows: Vec<Vec<&str>> = csv
        .lines()
        .skip(1)
        .map(|l| l.split(',').collect())
        .collect();
    assert_eq!(rows.len(), 2);
    assert_eq!((rows[0][0], rows[1][0]), ("far-points", "ring"));
    let share: f64 = rows[0][11].parse().unwrap();
    assert!(share > 0.5, "{share}");
    assert_eq!(rows[0][13], "4");
    let o = Command::new(env!("CARGO_BIN_EXE_ganflow"))
        .current_dir(dir.path())
        .args(["bench", "--geometry", "ring", "--dim", "1", "--out", "u"])
        .output()
        .unwrap();
    assert!(String::from_utf8_lossy(&o.stderr).contains("--geometry ring: needs --dim 2"));
}

/// An environment's disc is drawn round and filled: its pixels fill pi/4 of their bounding
/// box, which is as wide as it is tall. The axes are equal in data units per pixel only when
/// the panel's two ranges match, so the data span the same square in x and y.
#[test]
fn discs_are_drawn_round_and_filled() {
    let dir = tempfile::tempdir().unwrap();
    let corners = [(-1.0, -1.0), (1.0, 1.0), (-1.0, 1.0), (1.0, -1.0)];
    let panel = Panel {
        title: "disc".into(),
        particles: Vec::new(),
        arrows: None,
        discs: vec![Disc {
            centre: (0.0, 0.0),
            radius: 0.5,
        }],
    };
    let p = dir.path().join("d.png");
    scatter_png(&p, &corners, &[panel], 400).unwrap();
    let img = image::open(&p).unwrap().to_rgb8();
    let blue: Vec<(u32, u32)> = img
        .enumerate_pixels()
        .filter(|(_, _, px)| px.0 == [DISC_COLOR.0, DISC_COLOR.1, DISC_COLOR.2])
        .map(|(x, y, _)| (x, y))
        .collect();
    let (x0, x1) = blue
        .iter()
        .fold((u32::MAX, 0), |(a, b), p| (a.min(p.0), b.max(p.0)));
    let (y0, y1) = blue
        .iter()
        .fold((u32::MAX, 0), |(a, b), p| (a.min(p.1), b.max(p.1)));
    let (w, h) = (f64::from(x1 - x0 + 1), f64::from(y1 - y0 + 1));
    // The plot area is not square (caption and label areas), so the disc is an ellipse whose
    // axes are in the ratio of the area's pixels per unit; a filled ellipse covers pi/4 of its
    // box. At w, h of ~100 px the edge's rasterisation moves the share by ~2/w.
    let share = blue.len() as f64 / (w * h);
    assert!(w > 60.0 && h > 60.0, "{w} x {h}");
    assert!(
        (share - std::f64::consts::FRAC_PI_4).abs() < 0.03,
        "fills {share} of its box"
    );
    // Its centre is inside it: the middle of its box is blue.
    let mid = img.get_pixel((x0 + x1) / 2, (y0 + y1) / 2).0;
    assert_eq!(mid, [DISC_COLOR.0, DISC_COLOR.1, DISC_COLOR.2]);
}

fn count(img: &image::RgbImage, color: plotters::style::RGBColor) -> usize {
    img.pixels()
        .filter(|p| p.0 == [color.0, color.1, color.2])
        .count()
}

/// A known case: 100 data points on a grid on the left, 100 particles on the same grid
/// shifted right. Both colours show with equal counts (each point is the same disc; each
/// legend marker adds the same). With the particles on the data, the data are drawn above
/// them: red is left only in the legend. The axis titles are drawn: dark pixels in the band
/// left of the y axis's tick labels, and below the x axis's.
#[test]
fn scatter_draws_data_above_particles_with_axis_titles() {
    let dir = tempfile::tempdir().unwrap();
    let grid: Vec<(f64, f64)> = (0..100)
        .map(|k| (f64::from(k % 10) * 0.1, f64::from(k / 10) * 0.1))
        .collect();
    let right: Vec<(f64, f64)> = grid.iter().map(|&(x, y)| (x + 1.5, y)).collect();
    let draw = |particles: &[(f64, f64)], name: &str| {
        let panel = Panel {
            title: "known".into(),
            particles: particles.to_vec(),
            arrows: None,
            discs: Vec::new(),
        };
        let p = dir.path().join(name);
        // A data point at the top right keeps the axes the same in both pictures, and the
        // legend above the grids.
        let mut data = grid.clone();
        data.push((2.4, 2.0));
        scatter_png(&p, &data, &[panel], 400).unwrap();
        image::open(&p).unwrap().to_rgb8()
    };
    // Counted inside the plotting area below the legend (rows 120 to 380, where the grids
    // are), away from the text, whose anti-aliased edges can take any grey.
    let inside = |img: &image::RgbImage, color: plotters::style::RGBColor| {
        img.enumerate_pixels()
            .filter(|(x, y, p)| {
                *x > 60 && *y > 120 && *y < 380 && p.0 == [color.0, color.1, color.2]
            })
            .count()
    };
    let apart = draw(&right, "apart.png");
    let (grey, red) = (inside(&apart, DATA_COLOR), inside(&apart, PARTICLE_COLOR));
    assert!(red > 300, "{red} particle pixels");
    // The same discs at the same spacing: the same count.
    assert_eq!(grey, red);
    let on_top = draw(&grid, "on_top.png");
    assert_eq!(
        inside(&on_top, PARTICLE_COLOR),
        0,
        "the data hide the particles"
    );
    assert_eq!(inside(&on_top, DATA_COLOR), grey);
    assert!(count(&on_top, PARTICLE_COLOR) > 0, "the legend's marker");
    // Axis titles: the y title is drawn turned, in the 16 columns at the picture's left
    // edge; the x title in the 26 rows at its bottom, below the tick labels. Nothing else is
    // drawn there.
    let dark = |x: u32, y: u32| on_top.get_pixel(x, y).0.iter().all(|&c| c < 110);
    let y_title = (0..16)
        .flat_map(|x| (0..400).map(move |y| (x, y)))
        .filter(|&(x, y)| dark(x, y))
        .count();
    let x_title = (0..400)
        .flat_map(|x| (374..400).map(move |y| (x, y)))
        .filter(|&(x, y)| dark(x, y))
        .count();
    assert!(
        y_title > 15 && x_title > 15,
        "title pixels: y {y_title}, x {x_title}"
    );
}

/// Log axes are labelled at decades, and at 2 and 5 times them over two decades or less:
/// metrics.png's JSD axis from 0.39 to 0.018 gets 0.02, 0.05, 0.1 and 0.2, not one label.
#[test]
fn log_axes_get_labels_between_decades() {
    let (labelled, minor) = log_ticks(0.018, 0.39);
    let values: Vec<String> = labelled
        .iter()
        .map(|v| tick_label(10f64.powf(*v)))
        .collect();
    assert_eq!(values, ["0.02", "0.05", "0.1", "0.2"]);
    let minor: Vec<String> = minor.iter().map(|v| tick_label(10f64.powf(*v))).collect();
    assert_eq!(
        minor,
        ["0.03", "0.04", "0.06", "0.07", "0.08", "0.09", "0.3"]
    );
    let (wide, _) = log_ticks(1e-6, 1.0);
    let wide: Vec<String> = wide.iter().map(|v| tick_label(10f64.powf(*v))).collect();
    assert_eq!(wide, ["1e-6", "1e-5", "1e-4", "0.001", "0.01", "0.1", "1"]);
    assert_eq!(tick_label(2.0), "2");
    assert_eq!(tick_label(0.25), "0.25");
    assert_eq!(tick_label(-1.5e-5), "-1.5e-5");
    assert_eq!(tick_label(123456.0), "1.23e5");
}

/// A 1-D run is drawn as densities: the particles' curve (red) peaks where they are, on the
/// left, the data's (dark grey) on the right; both histograms are drawn translucent.
#[test]
fn one_dimensional_runs_are_density_curves() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<f64> = normal(400, 1, 5)
        .as_slice()
        .iter()
        .map(|v| v + 4.0)
        .collect();
    let particles: Vec<f64> = normal(400, 1, 6)
        .as_slice()
        .iter()
        .map(|v| 0.5 * v)
        .collect();
    let p = dir.path().join("d.png");
    let panel = DensityPanel {
        title: "densities".into(),
        particles,
        h_particles: 0.2,
        h_data: 0.3,
    };
    density_png(&p, &data, &[panel], 420).unwrap();
    let img = image::open(&p).unwrap().to_rgb8();
    // Between the legend (the top 80 rows) and the flat tails along the axis (the bottom
    // 60), each curve's pixels lie on its own side.
    let mean_x = |color: plotters::style::RGBColor| {
        let xs: Vec<f64> = img
            .enumerate_pixels()
            .filter(|(_, y, px)| *y > 80 && *y < 360 && px.0 == [color.0, color.1, color.2])
            .map(|(x, _, _)| f64::from(x))
            .collect();
        assert!(xs.len() > 100, "{} pixels", xs.len());
        xs.iter().sum::<f64>() / xs.len() as f64
    };
    assert!(mean_x(PARTICLE_COLOR) < 190.0);
    assert!(mean_x(DATA_CURVE_COLOR) > 230.0);
    // The translucent histograms: pixels mixed from each colour with white.
    let mixed = |c: plotters::style::RGBColor| {
        img.pixels()
            .filter(|p| {
                let q = p.0;
                (q[0] as i32 - (0.35 * f64::from(c.0) + 0.65 * 255.0) as i32).abs() <= 2
                    && (q[1] as i32 - (0.35 * f64::from(c.1) + 0.65 * 255.0) as i32).abs() <= 2
            })
            .count()
    };
    assert!(mixed(PARTICLE_COLOR) > 500 && mixed(DATA_COLOR) > 500);
}
