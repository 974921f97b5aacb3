//! Daemon addresses (`-H`, `BERTH_HOST`, `DOCKER_HOST`).

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;

use crate::Error;

/// Where berthd listens unless told otherwise.
pub const DEFAULT_HOST: &str = "unix:///run/berth/berth.sock";

/// A daemon address. Only unix sockets for now; TCP+TLS comes with the
/// daemon's TCP listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Host {
    Unix(PathBuf),
}

impl FromStr for Host {
    type Err = Error;

    fn from_str(s: &str) -> Result<Self, Error> {
        match s.split_once("://") {
            Some(("unix", path)) if path.starts_with('/') => Ok(Host::Unix(PathBuf::from(path))),
            Some(("unix", "")) => DEFAULT_HOST.parse(),
            Some(("tcp" | "ssh" | "npipe" | "fd", _)) => Err(Error::InvalidHost(format!(
                "unsupported host {s:?}: berth connects to unix:///path sockets only for now"
            ))),
            _ => Err(Error::InvalidHost(format!(
                "invalid host {s:?}: expected unix:///path"
            ))),
        }
    }
}

impl fmt::Display for Host {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Host::Unix(path) => write!(f, "unix://{}", path.display()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_and_display_round_trip() {
        let h: Host = "unix:///tmp/b.sock".parse().unwrap();
        assert_eq!(h, Host::Unix("/tmp/b.sock".into()));
        assert_eq!(h.to_string(), "unix:///tmp/b.sock");
        assert_eq!("unix://".parse::<Host>().unwrap().to_string(), DEFAULT_HOST);
        assert!("tcp://1.2.3.4:2375".parse::<Host>().is_err());
        assert!("/tmp/b.sock".parse::<Host>().is_err());
    }
}
