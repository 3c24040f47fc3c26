//! Property tests: every reader of user input, fed arbitrary bytes, returns a value or an
//! error that names the file (and, where the content is to blame, the line and column);
//! none panics. The case count is bounded for CI (256 per property unless PROPTEST_CASES
//! says otherwise).

use std::path::Path;

use ganflow::Error;
use ganflow::datasets::read_csv_with_header;
use ganflow::run::Checkpoint;
use ganflow::run::spec::{AnnealText, BandwidthText, NumberList, RunSpec, Start, parse_list};
use proptest::prelude::*;

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: std::env::var("PROPTEST_CASES")
            .ok()
            .and_then(|v| v.parse().ok())
            .unwrap_or(256),
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Bytes that look like CSV often enough to reach deep into the reader: digits, signs,
/// separators, quotes, line ends, exponents, and now and then anything at all.
fn csvish() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        8 => prop::sample::select(vec![
            b'0', b'1', b'7', b'.', b'-', b'+', b'e', b'E', b',', b',', b'\n', b'\n', b'\r',
            b'"', b' ', b'x', b'i', b'n', b'f', b'a',
        ]),
        1 => any::<u8>(),
    ];
    prop::collection::vec(piece, 0..400)
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn csv_reader_never_panics_and_positions_its_errors(bytes in csvish()) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("in.csv");
        std::fs::write(&path, &bytes).unwrap();
        match read_csv_with_header(&path) {
            Ok((points, header)) => {
                prop_assert!(!points.is_empty() && points.dim() >= 1);
                prop_assert!(points.as_slice().iter().all(|v| v.is_finite()));
                if let Some(h) = header {
                    prop_assert_eq!(h.len(), points.dim());
                }
            }
            Err(Error::Csv { path: p, line, message, .. }) => {
                prop_assert_eq!(&p, &path);
                // Line 0 only when the whole file is to blame.
                prop_assert!(line >= 1 || message == "the file has no data row", "{message}");
            }
            Err(e) => prop_assert!(false, "not a positioned CSV error: {e}"),
        }
    }

    #[test]
    fn config_files_never_panic_and_name_the_file(text in "[a-z_\\-=\" 0-9.\\[\\]{}\n:#]{0,200}") {
        let path = Path::new("conf.toml");
        if let Err(e) = RunSpec::merge(Some((path, &text)), toml::Table::new()) {
            let msg = e.to_string();
            prop_assert!(msg.starts_with("conf.toml: ") || msg.starts_with("--"), "{msg}");
        }
    }

    #[test]
    fn known_keys_with_any_values_are_checked(
        key in prop::sample::select(vec![
            "n", "m", "dim", "steps", "time", "dt", "every", "tol", "bandwidth", "bandwidth-g",
            "anneal", "mean", "std", "init", "target", "metrics", "seed", "connection-tol",
        ]),
        value in prop_oneof![
            any::<i64>().prop_map(|v| v.to_string()),
            any::<f64>().prop_map(|v| format!("{v:?}")),
            "\"[a-z0-9:.,\\-]{0,12}\"",
            Just("true".to_string()),
            Just("nan".to_string()),
            Just("-inf".to_string()),
        ],
    ) {
        let text = format!("{key} = {value}\n");
        let path = Path::new("conf.toml");
        match RunSpec::merge(Some((path, &text)), toml::Table::new()) {
            // Whatever is accepted passes every rule.
            Ok(spec) => prop_assert!(spec.check().is_ok()),
            Err(e) => {
                let msg = e.to_string();
                prop_assert!(msg.starts_with("conf.toml: ") || msg.starts_with("--"), "{msg}");
            }
        }
    }

    #[test]
    fn option_parsers_never_panic(s in "[0-9a-z:.,\\-+eE ]{0,24}") {
        let _ = parse_list::<f64>(&s);
        let _ = parse_list::<usize>(&s);
        let _ = parse_list::<u64>(&s);
        let _ = s.parse::<BandwidthText>();
        let _ = s.parse::<NumberList>();
        let _ = s.parse::<Start>();
        if let Ok(AnnealText(a)) = s.parse::<AnnealText>() {
            prop_assert!(a.factor >= 1.0 && a.factor.is_finite() && a.steps >= 1);
        }
        if let Ok(BandwidthText(b)) = s.parse::<BandwidthText>()
            && let ganflow::Bandwidth::Fixed(h) = b.rule
        {
            prop_assert!(h > 0.0 && h.is_finite());
        }
    }

    #[test]
    fn checkpoints_refuse_damage(bytes in prop::collection::vec(any::<u8>(), 0..300), cut in 0usize..2000, flip in 0usize..2000) {
        let path = Path::new("checkpoint.bin");
        // Arbitrary bytes.
        if let Err(e) = Checkpoint::from_bytes(path, &bytes) {
            prop_assert!(e.to_string().starts_with("checkpoint.bin: not a usable checkpoint"));
        }
        // A real checkpoint, cut short or with one bit flipped.
        let good = valid_checkpoint();
        let n = good.len();
        let cut = cut % n;
        prop_assert!(Checkpoint::from_bytes(path, &good[..cut]).is_err());
        let mut bad = good.clone();
        bad[flip % n] ^= 1 << (flip % 8);
        prop_assert!(Checkpoint::from_bytes(path, &bad).is_err());
        prop_assert!(Checkpoint::from_bytes(path, &good).is_ok());
    }
}

fn valid_checkpoint() -> Vec<u8> {
    use ganflow::run::InputDigest;
    use ganflow::{FlowState, Points};
    Checkpoint {
        version: "0.2.0".into(),
        digest: InputDigest([7; 32]),
        state: FlowState {
            step: 12,
            t: 1.2,
            t_base: 0.0,
            uniform_steps: 12,
            base_g: 0.3,
            base_q: 0.4,
            dt: 0.1,
            disc: Some(vec![0.25, -1.5, 3.0]),
        },
        particles: Points::new("p", vec![0.5, -1.0, 2.0, 3.0], 2).unwrap(),
        dissipation: None,
        decay: Some(ganflow::metrics::DecayPoint {
            t: 1.1,
            connection_norm2: 0.25,
        }),
        trajectories_len: 100,
        metrics_len: 50,
        discriminator_len: 30,
    }
    .to_bytes()
}
