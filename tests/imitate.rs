//! Demonstrations: the built-in experts, the CSV format and its errors.

mod common;

use common::ganflow;
use ganflow::imitate::experts::{GOALS, OBSTACLE_RADIUS};
use ganflow::imitate::{Expert, Trajectories, read_demos};

fn write(dir: &std::path::Path, name: &str, text: &str) -> std::path::PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, text).unwrap();
    path
}

fn csv_of(t: &Trajectories) -> String {
    let mut out = Vec::new();
    t.write_csv(&mut out).unwrap();
    String::from_utf8(out).unwrap()
}

/// around-obstacle: from (-1, 0) to (1, 0), never within the obstacle (the arcs
/// `(-1 + 2u, h sin(pi u))`, `h >= 0.7`, keep at least 0.692 from the origin), half above
/// and half below.
#[test]
fn around_obstacle_goes_around_half_each_way() {
    let d = Expert::AroundObstacle.demos(100, 20, 1.0, 3).unwrap();
    let (mut above, mut nearest) = (0, f64::INFINITY);
    for i in 0..d.len() {
        assert_eq!(d.state(i, 0)[0], -1.0);
        assert!(d.state(i, 0)[1].abs() < 1e-15);
        assert!((d.state(i, 20)[0] - 1.0).abs() < 1e-15 && d.state(i, 20)[1].abs() < 1e-15);
        for t in 0..=20 {
            let s = d.state(i, t);
            nearest = nearest.min((s[0] * s[0] + s[1] * s[1]).sqrt());
        }
        above += usize::from(d.state(i, 10)[1] > 0.0);
    }
    assert_eq!(above, 50);
    assert!(nearest >= 0.69, "{nearest}");
    const { assert!(OBSTACLE_RADIUS < 0.69) };
}

/// two-goals: from the origin to each goal, half each; circle: a closed loop.
#[test]
fn two_goals_and_circle_reach_their_ends() {
    let d = Expert::TwoGoals.demos(10, 20, 1.0, 1).unwrap();
    for i in 0..d.len() {
        assert_eq!(d.state(i, 0), &[0.0, 0.0]);
        let g = GOALS[i % 2];
        let end = d.state(i, 20);
        assert!((end[0] - g[0]).abs() < 1e-15 && (end[1] - g[1]).abs() < 1e-15);
    }
    let c = Expert::Circle.demos(5, 20, 1.0, 1).unwrap();
    for i in 0..c.len() {
        let (a, b) = (c.state(i, 0), c.state(i, 20));
        assert!((a[0] - b[0]).abs() < 1e-12 && (a[1] - b[1]).abs() < 1e-12);
    }
}

/// The CSV round trip keeps every bit, with actions or without them, and the dynamics hold:
/// each action is the state increment over tau.
#[test]
fn demos_round_trip_through_csv() {
    let dir = tempfile::tempdir().unwrap();
    let d = Expert::AroundObstacle.demos(6, 8, 0.5, 2).unwrap();
    let text = csv_of(&d);
    let back = read_demos(&write(dir.path(), "d.csv", &text), 0.5).unwrap();
    assert_eq!(back, d);
    // Without the action columns.
    let states_only: String = text
        .lines()
        .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(","))
        .map(|l| l + "\n")
        .collect();
    let back = read_demos(&write(dir.path(), "s.csv", &states_only), 0.5).unwrap();
    assert_eq!(back, d);
    for i in 0..d.len() {
        for t in 0..8 {
            let a = d.action(i, t);
            for (k, ak) in a.iter().enumerate() {
                let next = d.state(i, t)[k] + 0.5 * ak;
                assert!((next - d.state(i, t + 1)[k]).abs() < 1e-15);
            }
        }
    }
}

/// Bad demonstrations are refused with the file, the line and the column at fault.
#[test]
fn bad_demos_are_named() {
    let dir = tempfile::tempdir().unwrap();
    let h = "traj,t,s0,s1,a0,a1\n";
    let cases = [
        (
            "gap.csv",
            format!("{h}0,0,0,0,1,1\n0,2,1,1,,\n"),
            "gap.csv: line 3, column 2",
            "a gap in t",
        ),
        (
            "ragged.csv",
            format!("{h}0,0,0,0,1,1\n0,1,1,1,,\n1,0,0,0,1,1\n1,1,1,1,1,1\n1,2,2,2,,\n"),
            "ragged.csv: line 4",
            "trajectories must be of one length",
        ),
        (
            "action.csv",
            format!("{h}0,0,0,0,1,0.5\n0,1,1,1,,\n"),
            "action.csv: line 2, column 6",
            "contradicts the dynamics",
        ),
        (
            "split.csv",
            format!("{h}0,0,0,0,1,1\n1,0,0,0,1,1\n0,1,1,1,,\n"),
            "split.csv: line 4, column 1",
            "must be together",
        ),
        (
            "header.csv",
            "traj,time,s0\n0,0,1\n".to_string(),
            "header.csv: line 1",
            "the header must be traj,t,s0",
        ),
        (
            "number.csv",
            format!("{h}0,0,0,x,1,1\n0,1,1,1,,\n"),
            "number.csv: line 2, column 4",
            "is not a finite number",
        ),
    ];
    for (name, text, place, message) in cases {
        let e = read_demos(&write(dir.path(), name, &text), 1.0)
            .unwrap_err()
            .to_string();
        assert!(e.contains(place) && e.contains(message), "{name}: {e}");
    }
    // tau is checked against the actions: demos made with tau 0.5 are refused at tau 1.
    let d = Expert::TwoGoals.demos(2, 4, 0.5, 0).unwrap();
    let path = write(dir.path(), "tau.csv", &csv_of(&d));
    let e = read_demos(&path, 1.0).unwrap_err().to_string();
    assert!(
        e.contains("contradicts the dynamics") && e.contains("tau = 1"),
        "{e}"
    );
}

/// `ganflow demos` writes what the library makes.
#[test]
fn demos_command() {
    let dir = tempfile::tempdir().unwrap();
    let o = ganflow(
        dir.path(),
        &[
            "demos",
            "two-goals",
            "--n",
            "6",
            "--horizon",
            "5",
            "--seed",
            "4",
            "--out",
            "d.csv",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let text = std::fs::read_to_string(dir.path().join("d.csv")).unwrap();
    assert_eq!(text, csv_of(&Expert::TwoGoals.demos(6, 5, 1.0, 4).unwrap()));
    let o = ganflow(dir.path(), &["demos", "maze"]);
    assert!(!o.status.success());
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("one of: around-obstacle, two-goals, circle")
    );
}

mod flows {
    use ganflow::imitate::flow::{Objective, points_of};
    use ganflow::imitate::{Expert, Imitation, Trajectories};
    use ganflow::kde::Estimator;
    use ganflow::{BandwidthSpec, FlowConfig, Scheme};

    fn config(scheme: Scheme) -> FlowConfig {
        FlowConfig {
            scheme,
            bandwidth_g: BandwidthSpec::fixed(0.4),
            bandwidth_q: BandwidthSpec::fixed(0.4),
            estimator: Estimator::Exact,
            dt: 0.05,
            ..FlowConfig::default()
        }
    }

    /// Learners: the experts' routes bent by a smooth offset (start states kept).
    fn bent(e: &Trajectories, amount: f64) -> Trajectories {
        let (d, t_max) = (e.dim, e.horizon);
        let mut s = e.states().to_vec();
        for i in 0..e.len() {
            for t in 1..=t_max {
                let u = t as f64 / t_max as f64;
                s[(i * (t_max + 1) + t) * d + 1] += amount * u * (1.0 + 0.3 * i as f64);
            }
        }
        Trajectories::new(d, t_max, e.tau, s).unwrap()
    }

    /// With the variational scheme the occupancy pull-back is `-N_pairs` times the gradient
    /// of the energy in the path coordinates: against central differences (step 1e-6), to
    /// 1e-6 of the largest velocity (3.2 here).
    #[test]
    fn occupancy_pull_back_is_the_energy_gradient() {
        let experts = Expert::TwoGoals.demos(5, 3, 0.5, 1).unwrap();
        let learners = bent(&Expert::TwoGoals.demos(4, 3, 0.5, 2).unwrap(), 0.3);
        let flow = Imitation::new(
            Objective::Occupancy,
            config(Scheme::Variational),
            learners.clone(),
            &experts,
        )
        .unwrap();
        let v = flow.velocity().unwrap();
        let pairs = (learners.len() * learners.horizon) as f64;
        let (d, t_max) = (learners.dim, learners.horizon);
        let energy = |tr: &Trajectories| {
            Imitation::new(
                Objective::Occupancy,
                config(Scheme::Variational),
                tr.clone(),
                &experts,
            )
            .unwrap()
            .energy()
            .unwrap()
        };
        let eps = 1e-6;
        let scale = v.iter().map(|a| a.abs()).fold(0.0, f64::max);
        for i in 0..learners.len() {
            for t in 1..=t_max {
                for k in 0..d {
                    let shifted = |s: f64| {
                        let mut st = learners.states().to_vec();
                        st[(i * (t_max + 1) + t) * d + k] += s;
                        Trajectories::new(d, t_max, learners.tau, st).unwrap()
                    };
                    let grad = (energy(&shifted(eps)) - energy(&shifted(-eps))) / (2.0 * eps);
                    let got = v[(i * t_max + t - 1) * d + k];
                    assert!(
                        (got + pairs * grad).abs() < 1e-6 * scale.max(1.0),
                        "i {i} t {t} k {k}: {got} vs {}",
                        -pairs * grad
                    );
                }
            }
        }
    }

    /// Learners equal to the experts are at rest, for each objective and scheme.
    #[test]
    fn demos_are_at_rest() {
        let experts = Expert::AroundObstacle.demos(8, 10, 1.0, 3).unwrap();
        for objective in [Objective::Occupancy, Objective::Path] {
            for scheme in [Scheme::PlugIn, Scheme::Variational] {
                let flow =
                    Imitation::new(objective, config(scheme), experts.clone(), &experts).unwrap();
                let v = flow.velocity().unwrap();
                let top = v.iter().map(|a| a.abs()).fold(0.0, f64::max);
                assert!(top < 1e-12, "{objective:?} {scheme:?}: {top}");
            }
        }
    }

    /// Along a flow the start states never move and the energy falls (variational, small
    /// steps); the dynamics hold by construction, to rounding, on the written states.
    #[test]
    fn flows_keep_starts_and_lower_the_energy() {
        let experts = Expert::AroundObstacle.demos(10, 10, 1.0, 3).unwrap();
        let learners = bent(&Expert::AroundObstacle.demos(6, 10, 1.0, 4).unwrap(), 0.4);
        for objective in [Objective::Occupancy, Objective::Path] {
            let mut flow = Imitation::new(
                objective,
                config(Scheme::Variational),
                learners.clone(),
                &experts,
            )
            .unwrap();
            let e0 = flow.energy().unwrap();
            for _ in 0..20 {
                flow.step().unwrap();
            }
            let e1 = flow.energy().unwrap();
            assert!(e1 < e0, "{objective:?}: {e0} -> {e1}");
            let now = flow.learners();
            for i in 0..now.len() {
                assert_eq!(now.state(i, 0), learners.state(i, 0));
            }
            let pairs = points_of(Objective::Occupancy, now).unwrap();
            for i in 0..now.len() {
                for t in 0..now.horizon {
                    let p = pairs.row(i * now.horizon + t);
                    for k in 0..2 {
                        let next = p[k] + now.tau * p[2 + k];
                        assert!((next - now.state(i, t + 1)[k]).abs() < 1e-12);
                    }
                }
            }
        }
    }
}

/// On around-obstacle the path flow keeps whole routes: both at 0.5 ± 0.1, collisions at
/// most 5 %, the state-action sliced W2 down at least 60 % from the random start; behaviour
/// cloning, which averages the two routes, collides more. Measured: routes 0.54 / 0.46,
/// collisions 0.015, sliced W2 down 78 %; behaviour cloning collides every time.
#[test]
fn path_flow_keeps_routes_where_behaviour_cloning_collides() {
    use ganflow::imitate::baselines::{behaviour_cloning, random_rollouts};
    use ganflow::imitate::measures::{distances, routes};
    use ganflow::imitate::{Imitation, Objective};
    use ganflow::kde::Estimator;
    use ganflow::{BandwidthSpec, FlowConfig, Loss};
    let experts = Expert::AroundObstacle.demos(200, 20, 1.0, 1).unwrap();
    let start = random_rollouts(&experts, 200, 2).unwrap();
    let config = FlowConfig {
        loss: Loss::NonSaturating,
        bandwidth_g: BandwidthSpec::fixed(1.0),
        bandwidth_q: BandwidthSpec::fixed(1.0),
        estimator: Estimator::Exact,
        dt: 0.1,
        ..FlowConfig::default()
    };
    let before = distances(&start, &experts, 1).unwrap();
    let mut flow = Imitation::new(Objective::Path, config, start, &experts).unwrap();
    for _ in 0..200 {
        flow.step().unwrap();
    }
    let r = routes(flow.learners());
    assert!(
        (r.above - 0.5).abs() <= 0.1 && (r.below - 0.5).abs() <= 0.1,
        "{r:?}"
    );
    assert!(r.collisions <= 0.05, "{r:?}");
    let after = distances(flow.learners(), &experts, 1).unwrap();
    assert!(
        after.pairs <= 0.4 * before.pairs,
        "{after:?} from {before:?}"
    );
    let bc = routes(&behaviour_cloning(&experts).unwrap());
    assert!(bc.collisions > r.collisions, "bc {bc:?} against path {r:?}");
}

/// `ganflow imitate`: the three files, a final set that reads back as demonstrations with
/// the learners' starts, the same bits at one and two threads; behaviour cloning written
/// once; bad demonstrations refused before any folder is made.
#[test]
fn imitate_command() {
    let dir = tempfile::tempdir().unwrap();
    let run = |extra: &[&str]| {
        let mut a = vec![
            "imitate",
            "--m",
            "40",
            "--n",
            "40",
            "--horizon",
            "10",
            "--steps",
            "30",
            "--quiet",
        ];
        a.extend(extra);
        ganflow(dir.path(), &a)
    };
    for (threads, out) in [("1", "one"), ("2", "two")] {
        let o = run(&["--threads", threads, "--out", out]);
        assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    }
    for name in ["paths.csv", "metrics.csv", "final_paths.csv"] {
        let a = std::fs::read(dir.path().join("one").join(name)).unwrap();
        assert_eq!(
            a,
            std::fs::read(dir.path().join("two").join(name)).unwrap(),
            "{name}"
        );
    }
    let metrics = std::fs::read_to_string(dir.path().join("one/metrics.csv")).unwrap();
    assert!(metrics.starts_with(
        "step,flow_t,energy,jsd,pairs_sw2,paths_sw2,above,below,mixed,collisions,goal\n"
    ));
    assert_eq!(metrics.lines().count(), 1 + 4); // steps 0, 10, 20, 30
    let last = read_demos(&dir.path().join("one/final_paths.csv"), 1.0).unwrap();
    assert_eq!((last.len(), last.horizon), (40, 10));
    for i in 0..last.len() {
        assert_eq!(last.state(i, 0), &[-1.0, 0.0]);
    }
    let paths = std::fs::read_to_string(dir.path().join("one/paths.csv")).unwrap();
    assert!(paths.starts_with("step,flow_t,id,t,s0,s1,a0,a1\n"));
    // The demonstrations are kept beside the learners, and `plot` draws both: two panels,
    // each with the learners in red.
    let demos = read_demos(&dir.path().join("one/demos.csv"), 1.0).unwrap();
    assert_eq!((demos.len(), demos.horizon), (40, 10));
    let o = ganflow(dir.path(), &["plot", "one"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let img = image::open(dir.path().join("one/paths.png"))
        .unwrap()
        .to_rgb8();
    assert_eq!(img.dimensions(), (2 * 420, 420));
    for panel in 0..2u32 {
        let red = (panel * 420..(panel + 1) * 420)
            .flat_map(|x| (0..420).map(move |y| (x, y)))
            .filter(|&(x, y)| {
                let p = img.get_pixel(x, y).0;
                p[0] > 150 && p[1] < 90 && p[2] < 90
            })
            .count();
        assert!(red > 200, "panel {panel}: {red} red pixels");
    }
    // The obstacle is drawn in each panel (filled, under the paths: most of its ~10^4
    // pixels stay uncovered).
    for panel in 0..2u32 {
        let disc = (panel * 420..(panel + 1) * 420)
            .flat_map(|x| (0..420).map(move |y| (x, y)))
            .filter(|&(x, y)| img.get_pixel(x, y).0 == [120, 170, 230])
            .count();
        assert!(disc > 2000, "panel {panel}: {disc} obstacle pixels");
    }
    assert!(dir.path().join("one/flow.gif").exists());
    assert_eq!(paths.lines().count(), 1 + 4 * 40 * 11);
    // run.toml names the command and reproduces the folder bit for bit; `resume` and
    // `run --config` refuse it, naming the command that reads it.
    let toml = std::fs::read_to_string(dir.path().join("one/run.toml")).unwrap();
    assert!(
        toml.contains("command = \"imitate\"") && toml.contains("status = \"complete\""),
        "{toml}"
    );
    let o = ganflow(
        dir.path(),
        &[
            "imitate",
            "--config",
            "one/run.toml",
            "--out",
            "again",
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    for name in [
        "paths.csv",
        "metrics.csv",
        "final_paths.csv",
        "demos.csv",
        "run.toml",
    ] {
        let a = std::fs::read(dir.path().join("one").join(name)).unwrap();
        assert_eq!(
            a,
            std::fs::read(dir.path().join("again").join(name)).unwrap(),
            "{name}"
        );
    }
    // An option on the command line overrides the file.
    let o = ganflow(
        dir.path(),
        &[
            "imitate",
            "--config",
            "one/run.toml",
            "--steps",
            "10",
            "--out",
            "short",
            "--quiet",
        ],
    );
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = std::fs::read_to_string(dir.path().join("short/metrics.csv")).unwrap();
    assert_eq!(m.lines().count(), 1 + 2, "{m}");
    for args in [&["resume", "one"][..], &["run", "--config", "one/run.toml"]] {
        let o = ganflow(dir.path(), args);
        let e = String::from_utf8_lossy(&o.stderr);
        assert!(
            !o.status.success() && e.contains("`ganflow imitate --config`"),
            "{args:?}: {e}"
        );
    }
    // Behaviour cloning: one record, every rollout into the obstacle.
    let o = run(&["--objective", "bc", "--out", "bc"]);
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let m = std::fs::read_to_string(dir.path().join("bc/metrics.csv")).unwrap();
    assert_eq!(m.lines().count(), 2);
    let collisions: f64 = m
        .lines()
        .nth(1)
        .unwrap()
        .split(',')
        .nth(9)
        .unwrap()
        .parse()
        .unwrap();
    assert_eq!(collisions, 1.0);
    // Bad demonstrations: a message naming the place, a failure, no folder.
    write(dir.path(), "gap.csv", "traj,t,s0,s1\n0,0,0,0\n0,2,1,1\n");
    let o = run(&["--demos", "gap.csv", "--out", "bad"]);
    assert!(!o.status.success());
    assert!(String::from_utf8_lossy(&o.stderr).contains("gap.csv: line 3, column 2"));
    assert!(!dir.path().join("bad").exists());
    let o = run(&["--init", "gap.csv", "--out", "bad"]);
    assert!(!o.status.success());
    assert!(!dir.path().join("bad").exists());
}
