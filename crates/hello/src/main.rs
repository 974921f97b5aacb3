//! The program inside berth's built-in `hello-world` image.
//!
//! It has no dependencies so that it can be compiled on its own into a
//! fully static binary (`rustc -C target-feature=+crt-static`), which runs
//! in an image that holds nothing else. berthd embeds that binary, so
//! `berth run hello-world` works on a fresh machine without a network.

use std::io::Write;
use std::process::ExitCode;

/// What the container prints: what just happened, and where to go next.
const GREETING: &str = "
Hello from berth!
This message shows that your installation appears to be working correctly.

To generate this message, berth took the following steps:
 1. The berth client contacted the berth daemon (berthd).
 2. berthd found the \"hello-world\" image. It is built into berthd, so this
    works even without a network connection.
 3. berthd created a new container from that image, which runs the
    program that produced the output you are currently reading.
 4. berthd streamed that output to the berth client, which sent it
    to your terminal.

To try something more ambitious, load an image and run a shell in it.
From a berth checkout, make busybox from Debian's busybox-static:
 $ scripts/make-busybox-image --docker-archive busybox.tar
 $ berth load -i busybox.tar
 $ berth run -it localhost/busybox sh

berth speaks Docker's Engine API, so the docker CLI works too:
 $ DOCKER_HOST=unix:///run/berth/berth.sock docker run hello-world
";

fn main() -> ExitCode {
    // A closed stdout (`berth run hello-world | head -1`) is not an error
    // worth a panic message; report it through the exit code only.
    match std::io::stdout().lock().write_all(GREETING.as_bytes()) {
        Ok(()) => ExitCode::SUCCESS,
        Err(_) => ExitCode::FAILURE,
    }
}
