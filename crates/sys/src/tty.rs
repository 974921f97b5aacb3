//! Terminal ioctls that `nix` does not wrap safely.

use std::os::fd::{AsRawFd, BorrowedFd};

use crate::{Result, SysError};

/// `ioctl(fd, TIOCSCTTY, 0)`: makes the terminal the controlling terminal of
/// the calling session leader.
pub fn set_controlling_terminal(fd: BorrowedFd<'_>) -> Result<()> {
    // SAFETY: TIOCSCTTY takes an integer argument and no pointer; `fd` is a
    // valid borrowed descriptor for the duration of the call.
    let ret = unsafe { libc::ioctl(fd.as_raw_fd(), libc::TIOCSCTTY, 0 as libc::c_int) };
    if ret < 0 {
        Err(SysError::last("ioctl(TIOCSCTTY)"))
    } else {
        Ok(())
    }
}

/// A terminal size in characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WinSize {
    pub rows: u16,
    pub cols: u16,
}

/// `ioctl(fd, TIOCSWINSZ)`.
pub fn set_window_size(fd: BorrowedFd<'_>, size: WinSize) -> Result<()> {
    let ws = libc::winsize {
        ws_row: size.rows,
        ws_col: size.cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads a `struct winsize` from the pointer, which
    // points to a live local value of exactly that type.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCSWINSZ,
            &ws as *const libc::winsize,
        )
    };
    if ret < 0 {
        Err(SysError::last("ioctl(TIOCSWINSZ)"))
    } else {
        Ok(())
    }
}

/// `ioctl(fd, TIOCGWINSZ)`.
pub fn window_size(fd: BorrowedFd<'_>) -> Result<WinSize> {
    let mut ws = libc::winsize {
        ws_row: 0,
        ws_col: 0,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCGWINSZ writes a `struct winsize` through the pointer, which
    // points to a live, writable local value of exactly that type.
    let ret = unsafe {
        libc::ioctl(
            fd.as_raw_fd(),
            libc::TIOCGWINSZ,
            &mut ws as *mut libc::winsize,
        )
    };
    if ret < 0 {
        Err(SysError::last("ioctl(TIOCGWINSZ)"))
    } else {
        Ok(WinSize {
            rows: ws.ws_row,
            cols: ws.ws_col,
        })
    }
}
