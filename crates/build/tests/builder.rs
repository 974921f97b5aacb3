//! The builder's decisions against an in-memory executor: progress text,
//! image configs, history strings, stages, args, cache and ONBUILD.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{Call, Fake, build, busybox, config, request, scrub};

fn ctx() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    fs_err::write(dir.path().join("a.txt"), "a").unwrap();
    fs_err::write(dir.path().join("b.txt"), "b").unwrap();
    fs_err::create_dir(dir.path().join("sub")).unwrap();
    fs_err::write(dir.path().join("sub/c"), "c").unwrap();
    dir
}

#[test]
fn progress_text_and_config() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox", busybox());
    let mut req = request(
        "FROM busybox\nENV A=1\nWORKDIR app\nRUN echo $A\nCOPY a.txt .\nLABEL l=$A\nCMD [\"run\"]\n",
        dir.path(),
    );
    req.tags = vec!["foo".into()];
    let (r, out) = build(&req, &mut fake);
    let r = r.unwrap();
    assert_eq!(
        scrub(&out),
        "Step 1/7 : FROM busybox\n ---> ID\nStep 2/7 : ENV A=1\n ---> ID\nStep 3/7 : WORKDIR app\n ---> ID\nStep 4/7 : RUN echo $A\n ---> Running in 0123456789ab\nRemoving intermediate container 0123456789ab\n ---> ID\nStep 5/7 : COPY a.txt .\n ---> ID\nStep 6/7 : LABEL l=$A\n ---> ID\nStep 7/7 : CMD [\"run\"]\n ---> ID\nSuccessfully built ID\nSuccessfully tagged foo:latest\n"
    );
    let c = config(&r);
    assert_eq!(
        c.env.unwrap(),
        vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "A=1"
        ]
    );
    assert_eq!(c.working_dir.as_deref(), Some("/app"));
    assert_eq!(c.labels.unwrap().get("l").map(String::as_str), Some("1"));
    assert_eq!(c.cmd.unwrap(), vec!["run"]);
    let runs = fake.runs();
    assert_eq!(runs[0].argv, vec!["/bin/sh", "-c", "echo $A"]);
    let copies = fake.copies();
    assert_eq!(copies[0].sources, vec!["a.txt"]);
    assert_eq!(copies[0].dest, "/app");
    assert!(matches!(copies[0].from, berth_build::CopySource::Context));
    let h = fake.history();
    assert_eq!(h[0], "/bin/sh -c #(nop)  ENV A=1");
    assert_eq!(h[1], "/bin/sh -c #(nop) WORKDIR /app");
    assert_eq!(h[2], "/bin/sh -c echo $A");
    assert!(h[3].starts_with("/bin/sh -c #(nop) COPY file:"), "{}", h[3]);
    assert!(h[3].ends_with(" in . "), "{}", h[3]);
    assert_eq!(h[4], "/bin/sh -c #(nop)  LABEL l=1");
    assert_eq!(h[5], "/bin/sh -c #(nop)  CMD [\"run\"]");
    assert!(fake.calls.contains(&Call::Tag("foo".into())));
    // WORKDIR asks for its directory.
    assert!(
        fake.calls
            .iter()
            .any(|c| matches!(c, Call::Config(_, _, Some(d)) if d == "/app"))
    );
}

#[test]
fn scratch_and_empty_layers() {
    let dir = ctx();
    let mut fake = Fake::default();
    let (r, out) = build(
        &request("FROM scratch\nCOPY a.txt /\n", dir.path()),
        &mut fake,
    );
    let r = r.unwrap();
    assert!(
        out.starts_with("Step 1/2 : FROM scratch\n ---> \nStep 2/2 : COPY a.txt /\n"),
        "{out}"
    );
    // A scratch image gets Docker's default PATH.
    assert_eq!(
        config(&r).env.unwrap(),
        vec!["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"]
    );
    assert!(fake.calls.iter().all(|c| !matches!(c, Call::Base(..))));
    let e = build(&request("FROM scratch\n", dir.path()), &mut Fake::default())
        .0
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "No image was generated. Is your Dockerfile empty?"
    );
}

#[test]
fn entrypoint_resets_inherited_cmd_only() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox", busybox());
    let r = build(
        &request("FROM busybox\nENTRYPOINT [\"/e\"]\n", dir.path()),
        &mut fake,
    )
    .0
    .unwrap();
    let c = config(&r);
    assert_eq!(c.entrypoint.unwrap(), vec!["/e"]);
    assert_eq!(c.cmd, None);
    let r = build(
        &request("FROM busybox\nCMD [\"c\"]\nENTRYPOINT /e x\n", dir.path()),
        &mut fake,
    )
    .0
    .unwrap();
    let c = config(&r);
    assert_eq!(c.entrypoint.unwrap(), vec!["/bin/sh", "-c", "/e x"]);
    assert_eq!(c.cmd.unwrap(), vec!["c"]);
    let r = build(
        &request(
            "FROM busybox\nENTRYPOINT [\"/e\"]\nCMD [\"c\"]\n",
            dir.path(),
        ),
        &mut fake,
    )
    .0
    .unwrap();
    let c = config(&r);
    assert_eq!(c.cmd.unwrap(), vec!["c"]);
    assert_eq!(
        fake.history().last().unwrap(),
        "/bin/sh -c #(nop)  CMD [\"c\"]"
    );
}

#[test]
fn every_config_instruction() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox", busybox());
    let r = build(
        &request(
            concat!(
                "FROM busybox\n",
                "SHELL [\"/bin/bash\", \"-c\"]\n",
                "RUN echo hi\n",
                "USER nobody\n",
                "EXPOSE 80 53/udp\n",
                "VOLUME /data [\"x\"]\n",
                "VOLUME [\"/v\"]\n",
                "STOPSIGNAL SIGINT\n",
                "HEALTHCHECK --interval=5m --timeout=3s CMD curl -f http://localhost/ || exit 1\n",
                "ONBUILD RUN echo triggered\n",
                "MAINTAINER me\n",
                "WORKDIR /a\n",
                "WORKDIR b/../c\n",
                "ENV x=1 y=\"two words\"\n",
                "ENV x 3\n",
            ),
            dir.path(),
        ),
        &mut fake,
    )
    .0
    .unwrap();
    let c = config(&r);
    assert_eq!(c.shell.unwrap(), vec!["/bin/bash", "-c"]);
    assert_eq!(c.user.as_deref(), Some("nobody"));
    assert_eq!(
        c.exposed_ports.unwrap().keys().cloned().collect::<Vec<_>>(),
        vec!["53/udp", "80/tcp"]
    );
    assert_eq!(
        c.volumes.unwrap().keys().cloned().collect::<Vec<_>>(),
        vec!["/data", "/v", "[x]"]
    );
    assert_eq!(c.stop_signal.as_deref(), Some("SIGINT"));
    let hc = c.healthcheck.unwrap();
    assert_eq!(
        hc.test.unwrap(),
        vec!["CMD-SHELL", "curl -f http://localhost/ || exit 1"]
    );
    assert_eq!(hc.interval, Some(300_000_000_000));
    assert_eq!(hc.timeout, Some(3_000_000_000));
    assert_eq!(hc.retries, None);
    assert_eq!(c.on_build.unwrap(), vec!["RUN echo triggered"]);
    assert_eq!(c.working_dir.as_deref(), Some("/a/c"));
    assert_eq!(
        c.env.unwrap(),
        vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "x=3",
            "y=two words"
        ]
    );
    let h = fake.history();
    assert_eq!(
        h,
        vec![
            "/bin/bash -c #(nop)  SHELL [/bin/bash -c]",
            "/bin/bash -c echo hi",
            "/bin/bash -c #(nop)  USER nobody",
            "/bin/bash -c #(nop)  EXPOSE 53/udp 80",
            "/bin/bash -c #(nop)  VOLUME [/data [x]]",
            "/bin/bash -c #(nop)  VOLUME [/v]",
            "/bin/bash -c #(nop)  STOPSIGNAL SIGINT",
            "/bin/bash -c #(nop)  HEALTHCHECK &{[\"CMD-SHELL\" \"curl -f http://localhost/ || exit 1\"] \"5m0s\" \"3s\" \"0s\" \"0s\" '\\x00'}",
            "/bin/bash -c #(nop)  ONBUILD RUN echo triggered",
            "/bin/bash -c #(nop)  MAINTAINER me",
            "/bin/bash -c #(nop) WORKDIR /a",
            "/bin/bash -c #(nop) WORKDIR /a/c",
            "/bin/bash -c #(nop)  ENV x=1 y=two words",
            "/bin/bash -c #(nop)  ENV x=3",
        ]
    );
    // MAINTAINER sets the author of later steps.
    let last = fake
        .calls
        .iter()
        .rev()
        .find_map(|c| {
            if let Call::Config(_, h, _) = c {
                Some(h.clone())
            } else {
                None
            }
        })
        .unwrap();
    assert_eq!(last.author.as_deref(), Some("me"));
    assert_eq!(last.empty_layer, Some(true));
}

#[test]
fn build_args_scope_and_history() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox:1", busybox());
    let mut req = request(
        concat!(
            "ARG TAG=1\n",
            "FROM busybox:$TAG\n",
            "RUN echo before $TAG\n",
            "ARG TAG\n",
            "ARG foo=default\n",
            "RUN echo $foo $TAG\n",
            "ENV foo=env\n",
            "RUN echo $foo\n",
        ),
        dir.path(),
    );
    req.build_args.insert("foo".into(), "bar".into());
    req.build_args.insert("unused".into(), "x".into());
    req.build_args
        .insert("HTTP_PROXY".into(), "http://p".into());
    let (r, out) = build(&req, &mut fake);
    r.unwrap();
    let h = fake.history();
    // An unreferenced proxy arg reaches RUN but not its history.
    assert_eq!(h[0], "|0 /bin/sh -c echo before $TAG");
    assert_eq!(h[1], "/bin/sh -c #(nop)  ARG TAG");
    assert_eq!(h[2], "/bin/sh -c #(nop)  ARG foo=default");
    assert_eq!(h[3], "|2 TAG=1 foo=bar /bin/sh -c echo $foo $TAG");
    // ENV wins over ARG and hides it from RUN's history.
    assert_eq!(h[5], "|1 TAG=1 /bin/sh -c echo $foo");
    let runs = fake.runs();
    assert!(runs[1].env.contains(&"foo=bar".to_owned()));
    assert!(runs[1].env.contains(&"HTTP_PROXY=http://p".to_owned()));
    assert!(runs[2].env.contains(&"foo=env".to_owned()));
    assert!(!runs[2].env.contains(&"foo=bar".to_owned()));
    assert!(
        out.contains("Step 1/8 : ARG TAG=1\nStep 2/8 : FROM busybox:$TAG\n"),
        "{out}"
    );
    assert!(
        out.contains("[Warning] One or more build-args [unused] were not consumed\n"),
        "{out}"
    );
    assert!(fake.calls.contains(&Call::Base("busybox:1".into(), None)));
}

#[test]
fn multi_stage_target_and_copy_from() {
    let dir = ctx();
    let df = concat!(
        "FROM busybox AS base\n",
        "RUN echo base\n",
        "FROM busybox AS unused\n",
        "RUN echo unused\n",
        "FROM base AS build\n",
        "RUN echo build\n",
        "FROM scratch AS final\n",
        "COPY --from=build /out /out\n",
        "COPY --from=0 /a /a\n",
        "COPY --from=alpine /etc/os-release /\n",
    );
    let mut fake = Fake::default()
        .with_image("busybox", busybox())
        .with_image("alpine", busybox());
    let (r, out) = build(&request(df, dir.path()), &mut fake);
    r.unwrap();
    // The unused stage is skipped and not counted.
    assert!(!out.contains("unused"), "{out}");
    assert!(out.contains("Step 1/8 : FROM busybox AS base\n"), "{out}");
    let copies = fake.copies();
    assert_eq!(copies.len(), 3);
    let runs = fake.runs();
    assert_eq!(runs.len(), 2);
    match &copies[0].from {
        berth_build::CopySource::Image(img) => {
            assert_eq!(
                img.config
                    .history
                    .as_ref()
                    .unwrap()
                    .last()
                    .unwrap()
                    .created_by
                    .as_deref(),
                Some("/bin/sh -c echo build")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(copies[0].sources, vec!["/out"]);
    assert!(fake.calls.contains(&Call::Base("alpine".into(), None)));

    // --target stops early.
    let mut req = request(df, dir.path());
    req.target = Some("BUILD".into());
    let mut fake2 = Fake::default().with_image("busybox", busybox());
    let (r, out) = build(&req, &mut fake2);
    r.unwrap();
    assert!(out.contains("Step 4/4 : RUN echo build\n"), "{out}");
    req.target = Some("nope".into());
    let e = build(&req, &mut fake2).0.unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to reach build target nope in Dockerfile"
    );

    let e = build(
        &request("FROM busybox\nCOPY --from=3 /a /b\n", dir.path()),
        &mut fake2,
    )
    .0
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid from flag value 3: index out of bounds"
    );
    let e = build(
        &request("FROM busybox\nCOPY --from=0 /a /b\n", dir.path()),
        &mut fake2,
    )
    .0
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "invalid from flag value 0: refers to current build stage"
    );
}

#[test]
fn cache_hits_and_misses() {
    let dir = ctx();
    let df = "FROM busybox\nCOPY a.txt /a\nRUN cat /a\n";
    let mut fake = Fake::default().with_image("busybox", busybox());
    let (r1, _) = build(&request(df, dir.path()), &mut fake);
    let id1 = r1.unwrap().image.id;
    let (r2, out) = build(&request(df, dir.path()), &mut fake);
    assert_eq!(r2.unwrap().image.id, id1);
    assert_eq!(out.matches(" ---> Using cache\n").count(), 2, "{out}");

    // Touching the file (mtime) still hits.
    let f = fs_err::File::options()
        .write(true)
        .open(dir.path().join("a.txt"))
        .unwrap();
    f.set_modified(std::time::SystemTime::UNIX_EPOCH).unwrap();
    let (r3, out) = build(&request(df, dir.path()), &mut fake);
    assert_eq!(r3.unwrap().image.id, id1);
    assert_eq!(out.matches("Using cache").count(), 2);

    // New content misses, and so does everything after it.
    fs_err::write(dir.path().join("a.txt"), "changed").unwrap();
    let before = fake.calls.len();
    let (r4, out) = build(&request(df, dir.path()), &mut fake);
    assert_ne!(r4.unwrap().image.id, id1);
    assert_eq!(out.matches("Using cache").count(), 0, "{out}");
    // After the first miss the builder stops asking.
    let asked = fake.calls[before..]
        .iter()
        .filter(|c| matches!(c, Call::Cached(_)))
        .count();
    assert_eq!(asked, 1);

    // --no-cache never asks.
    let mut req = request(df, dir.path());
    req.no_cache = true;
    let before = fake.calls.len();
    build(&req, &mut fake).0.unwrap();
    assert!(
        fake.calls[before..]
            .iter()
            .all(|c| !matches!(c, Call::Cached(_)))
    );
}

#[test]
fn onbuild_triggers_run_after_from() {
    let dir = ctx();
    let mut base = busybox();
    base.on_build = Some(vec!["RUN echo triggered".into(), "ENV T=1".into()]);
    let mut fake = Fake::default().with_image("parent", base);
    let (r, out) = build(
        &request("FROM parent\nRUN echo child\n", dir.path()),
        &mut fake,
    );
    let r = r.unwrap();
    assert!(
        out.starts_with("Step 1/2 : FROM parent\n# Executing 2 build triggers\n ---> Running in"),
        "{out}"
    );
    let h = fake.history();
    assert_eq!(h[0], "/bin/sh -c echo triggered");
    assert_eq!(h[1], "/bin/sh -c #(nop)  ENV T=1");
    assert_eq!(h[2], "/bin/sh -c echo child");
    // The triggers are not inherited.
    assert_eq!(config(&r).on_build, None);
}

#[test]
fn copy_errors() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox", busybox());
    let e = |df: &str, fake: &mut Fake| {
        build(&request(df, dir.path()), fake)
            .0
            .unwrap_err()
            .to_string()
    };
    assert_eq!(
        e("FROM busybox\nCOPY foo /x\n", &mut fake),
        "COPY failed: file not found in build context or excluded by .dockerignore: stat foo: file does not exist"
    );
    assert_eq!(
        e("FROM busybox\nCOPY ../x /x\n", &mut fake),
        "COPY failed: forbidden path outside the build context: ../x"
    );
    assert_eq!(
        e("FROM busybox\nCOPY a.txt b.txt /x\n", &mut fake),
        "When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    assert_eq!(
        e("FROM busybox\nCOPY *.txt /x\n", &mut fake),
        "When using COPY with more than one source file, the destination must be a directory and end with a /"
    );
    assert_eq!(
        e("FROM busybox\nCOPY *.none /x/\n", &mut fake),
        "COPY failed: no source files were specified"
    );
    assert_eq!(
        e("FROM busybox\nCOPY http://x/y /x\n", &mut fake),
        "COPY failed: source can't be a URL for COPY"
    );
    assert_eq!(
        e("FROM nope\n", &mut fake),
        "pull access denied for nope, repository does not exist or may require 'docker login'"
    );
    let ok = build(
        &request(
            "FROM busybox\nCOPY --chown=1:2 --chmod=640 *.txt sub /x/\nADD https://e.x/f a.txt /y/\n",
            dir.path(),
        ),
        &mut fake,
    );
    ok.0.unwrap();
    let copies = fake.copies();
    let c = copies[copies.len() - 2];
    assert_eq!(c.sources, vec!["a.txt", "b.txt", "sub"]);
    assert_eq!(c.chown.as_deref(), Some("1:2"));
    assert_eq!(c.chmod, Some(0o640));
    assert!(
        c.history
            .created_by
            .as_deref()
            .unwrap()
            .starts_with("/bin/sh -c #(nop) COPY --chown=1:2multi:")
    );
    let a = copies[copies.len() - 1];
    assert_eq!(a.urls, vec!["https://e.x/f"]);
    assert_eq!(a.sources, vec!["a.txt"]);
    assert!(a.extract_archives);
}

#[test]
fn run_failure_and_labels_option() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox", busybox());
    fake.fail.insert("/bin/sh -c false".into(), 1);
    let e = build(&request("FROM busybox\nRUN false\n", dir.path()), &mut fake)
        .0
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "The command '/bin/sh -c false' returned a non-zero code: 1"
    );

    let mut req = request("FROM busybox AS one\nFROM busybox\n", dir.path());
    req.labels.insert("b".into(), "it's".into());
    req.labels.insert("a".into(), "$x".into());
    req.target = Some("one".into());
    let (r, out) = build(&req, &mut fake);
    let c = config(&r.unwrap());
    // One step per label, sorted, not expanded, in the target stage.
    assert!(
        out.contains("Step 1/3 : FROM busybox AS one\n ---> ")
            && out.contains("Step 2/3 : LABEL a=$x\n")
            && out.contains("Step 3/3 : LABEL b=it's\n"),
        "{out}"
    );
    let labels = c.labels.unwrap();
    assert_eq!(labels.get("a").map(String::as_str), Some("$x"));
    assert_eq!(labels.get("b").map(String::as_str), Some("it's"));
    assert_eq!(
        fake.history().last().unwrap(),
        "/bin/sh -c #(nop)  LABEL b=it's"
    );
}

#[test]
fn parse_errors_surface_with_line() {
    let dir = ctx();
    let e = build(
        &request("FROM busybox\n\nBOGUS x\n", dir.path()),
        &mut Fake::default(),
    )
    .0
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "dockerfile parse error on line 3: unknown instruction: BOGUS"
    );
}

#[test]
fn escape_directive_shell_and_expose_words() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox", busybox());
    let df = concat!(
        "# escape=`\n",
        "FROM busybox\n",
        "ENV PORTS=\"80 443/udp\" P=c:\\dir\n",
        "RUN echo a `\n",
        "  b\n",
        "EXPOSE $PORTS\n",
        "SHELL [\"/bin/bash\", \"-c\"]\n",
        "CMD echo $P\n",
        "LABEL p=$P x=`$P\n",
    );
    let r = build(&request(df, dir.path()), &mut fake).0.unwrap();
    let c = config(&r);
    assert_eq!(fake.runs()[0].argv, vec!["/bin/sh", "-c", "echo a   b"]);
    assert_eq!(
        c.exposed_ports.unwrap().keys().cloned().collect::<Vec<_>>(),
        vec!["443/udp", "80/tcp"]
    );
    assert_eq!(c.cmd.unwrap(), vec!["/bin/bash", "-c", "echo $P"]);
    let labels = c.labels.unwrap();
    assert_eq!(labels.get("p").map(String::as_str), Some("c:\\dir"));
    assert_eq!(labels.get("x").map(String::as_str), Some("$P"));
    assert!(
        fake.history()
            .contains(&"/bin/sh -c #(nop)  EXPOSE 80 443/udp".to_owned())
    );
}

#[test]
fn stages_inherit_and_onbuild_through_a_stage() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox", busybox());
    let df = concat!(
        "ARG PLAT=linux/amd64\n",
        "FROM --platform=$PLAT busybox AS base\n",
        "ENV FROM_BASE=1\n",
        "ONBUILD RUN echo from-trigger\n",
        "FROM base\n",
        "RUN echo $FROM_BASE\n",
    );
    let (r, out) = build(&request(df, dir.path()), &mut fake);
    let c = config(&r.unwrap());
    assert!(c.env.unwrap().contains(&"FROM_BASE=1".to_owned()));
    assert!(
        fake.calls
            .contains(&Call::Base("busybox".into(), Some("linux/amd64".into())))
    );
    assert!(
        out.contains("Step 5/6 : FROM base\n# Executing 1 build trigger\n"),
        "{out}"
    );
    let runs = fake.runs();
    assert_eq!(runs[0].argv, vec!["/bin/sh", "-c", "echo from-trigger"]);
    assert_eq!(runs[1].argv, vec!["/bin/sh", "-c", "echo $FROM_BASE"]);
}

#[test]
fn stage_and_name_errors() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox", busybox());
    let e = build(
        &request("FROM busybox AS a\nFROM busybox AS a\n", dir.path()),
        &mut fake,
    )
    .0
    .unwrap_err();
    assert_eq!(e.to_string(), "a stage name already used");
    let e = build(&request("ARG IMG\nFROM $IMG\n", dir.path()), &mut fake)
        .0
        .unwrap_err();
    assert_eq!(e.to_string(), "base name ($IMG) should not be blank");
    let e = build(&request("FROM busybox\nENV a=${b\n", dir.path()), &mut fake)
        .0
        .unwrap_err();
    assert_eq!(
        e.to_string(),
        "failed to process \"${b\": syntax error: missing '}'"
    );
    let e = build(
        &request("FROM busybox\nSTOPSIGNAL SIGFOO\n", dir.path()),
        &mut fake,
    )
    .0
    .unwrap_err();
    assert_eq!(e.to_string(), "Invalid signal: SIGFOO");
    let e = build(
        &request("FROM busybox\nEXPOSE 80/xyz\n", dir.path()),
        &mut fake,
    )
    .0
    .unwrap_err();
    assert_eq!(e.to_string(), "invalid proto: xyz");
}

#[test]
fn global_arg_consumes_build_arg_and_copy_from_index() {
    let dir = ctx();
    let mut fake = Fake::default().with_image("busybox:2", busybox());
    let mut req = request(
        "ARG V=1\nFROM busybox:$V\nRUN make\nFROM busybox:$V\nCOPY --from=0 /bin/app /app\n",
        dir.path(),
    );
    req.build_args.insert("V".into(), "2".into());
    let (r, out) = build(&req, &mut fake);
    r.unwrap();
    assert!(!out.contains("[Warning]"), "{out}");
    let copies = fake.copies();
    match &copies[0].from {
        berth_build::CopySource::Image(img) => assert_eq!(
            img.config
                .history
                .as_ref()
                .unwrap()
                .last()
                .unwrap()
                .created_by
                .as_deref(),
            Some("/bin/sh -c make")
        ),
        other => panic!("{other:?}"),
    }
    // RUN in a stage that did not redeclare the global ARG does not see it.
    assert!(!fake.runs()[0].env.iter().any(|e| e.starts_with("V=")));
}

#[test]
fn a_typical_multi_stage_dockerfile() {
    let dir = ctx();
    fs_err::write(dir.path().join("go.mod"), "module x\n").unwrap();
    fs_err::write(dir.path().join("main.go"), "package main\n").unwrap();
    let df = r#"# syntax=docker/dockerfile:1
# A comment before everything.
ARG GO_VERSION=1.22
ARG ALPINE=3.19

FROM golang:${GO_VERSION}-alpine${ALPINE} AS build
WORKDIR /src
COPY go.mod ./
RUN go mod download \
    # comments inside a continuation are dropped
    && echo done
COPY *.go ./
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -ldflags "-X main.version=${VERSION}" -o /out/app .

FROM alpine:${ALPINE}
LABEL org.opencontainers.image.title="My App" \
      org.opencontainers.image.version=${VERSION:-unknown}
LABEL maintainer "someone <a@b.c>"
RUN addgroup -S app && adduser -S app -G app
COPY --from=build --chown=app:app /out/app /usr/local/bin/app
USER app
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --retries=3 CMD ["/usr/local/bin/app", "health"]
ENTRYPOINT ["/usr/local/bin/app"]
CMD ["serve"]
"#;
    let mut fake = Fake::default()
        .with_image("golang:1.22-alpine3.19", busybox())
        .with_image("alpine:3.19", busybox());
    let mut req = request(df, dir.path());
    req.build_args.insert("VERSION".into(), "1.2.3".into());
    req.tags = vec!["me/app:1".into(), "docker.io/library/app".into()];
    let (r, out) = build(&req, &mut fake);
    let r = r.unwrap();
    let c = config(&r);
    let labels = c.labels.unwrap();
    assert_eq!(
        labels
            .get("org.opencontainers.image.title")
            .map(String::as_str),
        Some("My App")
    );
    // VERSION is not declared in the second stage.
    assert_eq!(
        labels
            .get("org.opencontainers.image.version")
            .map(String::as_str),
        Some("unknown")
    );
    assert_eq!(
        labels.get("maintainer").map(String::as_str),
        Some("someone <a@b.c>")
    );
    assert_eq!(c.user.as_deref(), Some("app"));
    assert_eq!(c.entrypoint.unwrap(), vec!["/usr/local/bin/app"]);
    assert_eq!(c.cmd.unwrap(), vec!["serve"]);
    let hc = c.healthcheck.unwrap();
    assert_eq!(
        hc.test.unwrap(),
        vec!["CMD", "/usr/local/bin/app", "health"]
    );
    assert_eq!(hc.retries, Some(3));
    let runs = fake.runs();
    assert_eq!(runs[0].argv[2], "go mod download     && echo done");
    assert_eq!(
        runs[1].history.created_by.as_deref(),
        Some(
            "|1 VERSION=1.2.3 /bin/sh -c CGO_ENABLED=0 go build -ldflags \"-X main.version=${VERSION}\" -o /out/app ."
        )
    );
    let copies = fake.copies();
    assert_eq!(copies[0].dest, "/src/");
    assert_eq!(copies[1].sources, vec!["main.go"]);
    assert_eq!(copies[2].chown.as_deref(), Some("app:app"));
    assert!(out.contains("Step 1/19 : ARG GO_VERSION=1.22\n"), "{out}");
    assert!(
        out.contains("Step 3/19 : FROM golang:${GO_VERSION}-alpine${ALPINE} AS build\n"),
        "{out}"
    );
    assert!(
        out.contains("Step 6/19 : RUN go mod download     && echo done\n"),
        "{out}"
    );
    assert!(
        out.ends_with("Successfully tagged me/app:1\nSuccessfully tagged app:latest\n"),
        "{out}"
    );
    assert!(!out.contains("[Warning]"), "{out}");
}
