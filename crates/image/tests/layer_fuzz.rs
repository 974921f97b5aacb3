//! Property test: random archives built from a vocabulary of dangerous
//! names (`..`, absolute paths, whiteouts) and link targets (`/`, `../..`,
//! the canary's absolute path) never change anything outside the target,
//! never panic, and either apply or fail with the target removed.

mod common;

use berth_image::layer::{ApplyOptions, apply_layer};
use common::{E, Sandbox, tar};
use proptest::prelude::*;

const COMPONENTS: &[&str] = &[
    "a",
    "b",
    "etc",
    "..",
    ".",
    "",
    ".wh.a",
    ".wh..wh..opq",
    "ABS",
];
const TARGETS: &[&str] = &[
    "/",
    "..",
    "../..",
    "../canary",
    "ABS",
    "ABS/file",
    "a",
    "a/b",
    "../../../../..",
    "/etc/passwd",
    "b/../..",
];

#[derive(Debug, Clone)]
enum Kind {
    File,
    Dir,
    Sym(usize),
    Hard(usize),
    Char,
    Fifo,
}

fn kind() -> impl Strategy<Value = Kind> {
    prop_oneof![
        3 => Just(Kind::File),
        2 => Just(Kind::Dir),
        3 => (0..TARGETS.len()).prop_map(Kind::Sym),
        2 => (0..TARGETS.len()).prop_map(Kind::Hard),
        1 => Just(Kind::Char),
        1 => Just(Kind::Fifo),
    ]
}

fn name() -> impl Strategy<Value = (bool, Vec<usize>)> {
    (
        any::<bool>(),
        prop::collection::vec(0..COMPONENTS.len(), 1..4),
    )
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 200, ..ProptestConfig::default() })]

    #[test]
    fn random_archives_stay_inside(entries in prop::collection::vec((name(), kind()), 1..10)) {
        let sb = Sandbox::new();
        let abs = format!("{}/canary", sb.abs());
        let names: Vec<String> = entries
            .iter()
            .map(|((lead, comps), _)| {
                let joined = comps.iter().map(|&i| COMPONENTS[i].replace("ABS", &abs[1..])).collect::<Vec<_>>().join("/");
                if *lead { format!("/{joined}") } else { joined }
            })
            .collect();
        let targets: Vec<String> = TARGETS.iter().map(|t| t.replace("ABS", &abs)).collect();
        let list: Vec<E<'_>> = entries
            .iter()
            .zip(&names)
            .map(|((_, k), n)| match k {
                Kind::File => E::File(n, b"data"),
                Kind::Dir => E::Dir(n),
                Kind::Sym(t) => E::Sym(n, &targets[*t]),
                Kind::Hard(t) => E::Hard(n, &targets[*t]),
                Kind::Char => E::Char(n),
                Kind::Fifo => E::Fifo(n),
            })
            .collect();
        let before = sb.fingerprint();
        let r = apply_layer(&tar(&list)[..], &sb.target(), &ApplyOptions::default());
        prop_assert_eq!(sb.fingerprint(), before);
        if r.is_err() {
            prop_assert!(!sb.target().exists());
        }
    }
}
