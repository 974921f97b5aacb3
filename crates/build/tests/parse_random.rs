//! The parser and the expander on random input: any text gives a value or
//! an error, never a panic (the same entry points a fuzzer would drive).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use berth_build::expand::{Env, Lex};
use common::{Fake, busybox, request};
use proptest::prelude::*;

/// Dockerfile-ish text: instruction words, flags, quotes, escapes,
/// continuations, JSON brackets, `$` forms and some arbitrary unicode.
fn dockerfile_text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        Just("FROM ".to_owned()),
        Just("from busybox AS b\n".to_owned()),
        Just("RUN ".to_owned()),
        Just("COPY ".to_owned()),
        Just("ADD ".to_owned()),
        Just("ENV ".to_owned()),
        Just("ARG ".to_owned()),
        Just("LABEL ".to_owned()),
        Just("ONBUILD ".to_owned()),
        Just("HEALTHCHECK ".to_owned()),
        Just("SHELL ".to_owned()),
        Just("EXPOSE ".to_owned()),
        Just("--from=".to_owned()),
        Just("--".to_owned()),
        Just("--chown=1:1 ".to_owned()),
        Just("--interval=".to_owned()),
        Just("# escape=`\n".to_owned()),
        Just("# comment\n".to_owned()),
        Just("\\\n".to_owned()),
        Just("`\n".to_owned()),
        Just("\n".to_owned()),
        Just(" ".to_owned()),
        Just("\"".to_owned()),
        Just("'".to_owned()),
        Just("[\"a\", ".to_owned()),
        Just("]".to_owned()),
        Just("=".to_owned()),
        Just("${A:-x}".to_owned()),
        Just("$".to_owned()),
        Just("{".to_owned()),
        Just("}".to_owned()),
        Just("<<EOF".to_owned()),
        any::<String>(),
    ];
    prop::collection::vec(piece, 0..40).prop_map(|v| v.concat())
}

/// Instruction lines that mostly parse, with words that stress expansion,
/// stages and sources.
fn instruction_line() -> impl Strategy<Value = String> {
    let word = prop_oneof![
        Just("a.txt".to_owned()),
        Just("*.txt".to_owned()),
        Just("/".to_owned()),
        Just(".".to_owned()),
        Just("../x".to_owned()),
        Just("$A".to_owned()),
        Just("${A:-d}".to_owned()),
        Just("\"q w\"".to_owned()),
        Just("'s'".to_owned()),
        Just("80/tcp".to_owned()),
        Just("x=1".to_owned()),
        Just("[\"j\"]".to_owned()),
        Just("0".to_owned()),
        Just("busybox".to_owned()),
        Just("AS".to_owned()),
        Just("s1".to_owned()),
        "[a-z$={}:/.*-]{0,8}",
    ];
    let instr = prop_oneof![
        Just("FROM"),
        Just("RUN"),
        Just("CMD"),
        Just("ENTRYPOINT"),
        Just("ENV"),
        Just("ARG"),
        Just("LABEL"),
        Just("EXPOSE"),
        Just("USER"),
        Just("WORKDIR"),
        Just("VOLUME"),
        Just("COPY"),
        Just("COPY --from=s1"),
        Just("COPY --from=0"),
        Just("ADD"),
        Just("ONBUILD RUN"),
        Just("STOPSIGNAL"),
        Just("HEALTHCHECK CMD"),
        Just("SHELL"),
        Just("MAINTAINER"),
    ];
    (instr, prop::collection::vec(word, 0..4)).prop_map(|(i, w)| format!("{i} {}\n", w.join(" ")))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn build_never_panics(lines in prop::collection::vec(instruction_line(), 0..12)) {
        let dir = tempfile::tempdir().unwrap();
        fs_err::write(dir.path().join("a.txt"), "a").unwrap();
        let text = format!("ARG A=1\nFROM busybox AS s1\n{}", lines.concat());
        let mut fake = Fake::default().with_image("busybox", busybox());
        let mut out: Vec<u8> = Vec::new();
        let _ = berth_build::build(&request(&text, dir.path()), &mut fake, &mut out);
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(1000))]

    #[test]
    fn parse_never_panics(text in dockerfile_text()) {
        let _ = berth_build::parse(&text);
    }

    #[test]
    fn parse_arbitrary_unicode(text in any::<String>()) {
        let _ = berth_build::parse(&text);
    }

    #[test]
    fn expand_never_panics(word in "[a-zA-Z0-9_$@*#?!{}:+%/\\-'\"\\\\ ]{0,40}") {
        let env = Env::from_list(&["A=a", "EMPTY=", "P=/usr/bin:/bin"]);
        let _ = Lex::new('\\').process_word(&word, &env);
        let _ = Lex::new('`').process_words(&word, &env);
    }

    #[test]
    fn expand_without_specials_is_identity(word in "[a-zA-Z0-9_./:,=+-]{0,40}") {
        let env = Env::from_list(&["A=a"]);
        prop_assert_eq!(Lex::new('\\').process_word(&word, &env).unwrap(), word);
    }
}

#[test]
fn many_stars_stay_fast() {
    let env = Env::from_list(&[format!("A={}", "a".repeat(200))]);
    let word = format!("${{A#{}b}}", "*".repeat(30));
    assert_eq!(
        Lex::new('\\').process_word(&word, &env).unwrap(),
        "a".repeat(200)
    );
}
