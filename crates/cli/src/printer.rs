//! All output goes through [`Printer`]: data to stdout, warnings to stderr.
//!
//! A closed stdout (`berth info | head -1`) is not an error: writes after it
//! are dropped and the command still exits 0, as ripgrep does.

use std::io::{self, Write};

#[derive(Debug, Default)]
pub(crate) struct Printer {
    broken_pipe: bool,
}

impl Printer {
    /// Writes `text` to stdout as is.
    pub(crate) fn data(&mut self, text: &str) -> io::Result<()> {
        if self.broken_pipe {
            return Ok(());
        }
        let mut out = io::stdout().lock();
        match out.write_all(text.as_bytes()).and_then(|()| out.flush()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.broken_pipe = true;
                Ok(())
            }
            other => other,
        }
    }

    /// A line on stderr the user should read (docker prints daemon warnings
    /// this way).
    pub(crate) fn warn(&self, line: &str) {
        let _ = writeln!(io::stderr().lock(), "{line}");
    }
}
