//! The user's terminal: raw mode for `run -it` and `start -ai`, and its
//! size for the container's terminal.
//!
//! Raw mode is held by a [`RawMode`] guard that restores the saved
//! attributes when dropped. The release profile aborts on panic, where no
//! destructor runs, so the saved attributes are also kept in a static that
//! a panic hook restores ([`install_panic_hook`]); signals that end berth
//! (SIGTERM, SIGINT, SIGHUP) are caught by the caller, which drops the
//! guard before exiting.

use std::io::{IsTerminal, Stdin};
use std::sync::Mutex;

use rustix::termios::{OptionalActions, Termios, tcgetattr, tcgetwinsize, tcsetattr};

/// The attributes to put back, while raw mode is on.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Puts stdin's terminal back as it was, if raw mode is on.
fn restore_saved() {
    let saved = match SAVED.lock() {
        Ok(mut s) => s.take(),
        Err(poisoned) => poisoned.into_inner().take(),
    };
    if let Some(t) = saved {
        let _ = tcsetattr(std::io::stdin(), OptionalActions::Now, &t);
    }
}

/// Restores the terminal before a panic report (and the abort after it).
pub(crate) fn install_panic_hook() {
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_saved();
        previous(info);
    }));
}

/// Raw mode on stdin's terminal until dropped.
#[derive(Debug)]
pub(crate) struct RawMode {
    _private: (),
}

impl RawMode {
    /// Saves stdin's attributes and switches it to raw mode (no echo, no
    /// line editing, no signals from ^C: every key goes to the container,
    /// as `cfmakeraw(3)`).
    pub(crate) fn enable(stdin: &Stdin) -> std::io::Result<Self> {
        let saved = tcgetattr(stdin)?;
        let mut raw = saved.clone();
        raw.make_raw();
        match SAVED.lock() {
            Ok(mut s) => *s = Some(saved),
            Err(poisoned) => *poisoned.into_inner() = Some(saved),
        }
        if let Err(e) = tcsetattr(stdin, OptionalActions::Now, &raw) {
            restore_saved();
            return Err(e.into());
        }
        Ok(Self { _private: () })
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_saved();
    }
}

/// The size (rows, columns) of the terminal on stdout, if it is one and
/// knows its size.
pub(crate) fn size() -> Option<(u16, u16)> {
    let out = std::io::stdout();
    if !out.is_terminal() {
        return None;
    }
    let ws = tcgetwinsize(&out).ok()?;
    (ws.ws_row > 0 && ws.ws_col > 0).then_some((ws.ws_row, ws.ws_col))
}
