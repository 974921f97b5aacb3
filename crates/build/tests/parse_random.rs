//! The parser and the expander on random input: any text gives a value or
//! an error, never a panic (the same entry points a fuzzer would drive).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use berth_build::expand::{Env, Lex};
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
