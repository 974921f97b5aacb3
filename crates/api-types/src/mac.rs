//! MAC addresses as clients send them (`--mac-address`,
//! `EndpointSettings.MacAddress`, the deprecated `Config.MacAddress`).
//!
//! Go's `net.ParseMAC` (what the docker CLI and dockerd check with) takes
//! three spellings of a 6-byte address: `02:42:ac:11:00:02`,
//! `02-42-AC-11-00-02` and `0242.ac11.0002`. It also takes 8- and 20-byte
//! addresses (EUI-64, InfiniBand), which no veth can carry; those are
//! refused here, as are multicast and all-zero addresses, which the kernel
//! would refuse when the container starts.

/// Why a MAC address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MacError {
    /// Not one of the three spellings of 6 bytes.
    Syntax,
    /// The lowest bit of the first byte is set: a group address.
    Multicast,
    /// `00:00:00:00:00:00`.
    Zero,
}

impl MacError {
    /// What is wrong, for the end of a message that names the address.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Syntax => {
                "write it as six hexadecimal bytes, e.g. 02:42:ac:11:00:02 (or 02-42-ac-11-00-02, 0242.ac11.0002)"
            }
            Self::Multicast => {
                "it is a multicast address (the lowest bit of its first byte is set), which no interface can have; use e.g. 02:42:ac:11:00:02"
            }
            Self::Zero => "the all-zero address cannot be an interface's address",
        }
    }
}

/// The 6 bytes of `text`.
pub fn parse(text: &str) -> Result<[u8; 6], MacError> {
    let groups: Vec<&str> = if text.contains(':') {
        text.split(':').collect()
    } else if text.contains('-') {
        text.split('-').collect()
    } else {
        text.split('.').collect()
    };
    let width = if text.contains('.') && !text.contains([':', '-']) {
        4
    } else {
        2
    };
    if groups.len() != 12 / width || groups.iter().any(|g| g.len() != width) {
        return Err(MacError::Syntax);
    }
    let hex: String = groups.concat();
    if !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(MacError::Syntax);
    }
    let mut out = [0u8; 6];
    for (i, b) in out.iter_mut().enumerate() {
        *b = u8::from_str_radix(&hex[2 * i..2 * i + 2], 16).map_err(|_| MacError::Syntax)?;
    }
    if out[0] & 1 == 1 {
        return Err(MacError::Multicast);
    }
    if out == [0; 6] {
        return Err(MacError::Zero);
    }
    Ok(out)
}

/// `aa:bb:cc:dd:ee:ff` (Go's `net.HardwareAddr.String`).
pub fn format(mac: [u8; 6]) -> String {
    mac.iter()
        .map(|b| format!("{b:02x}"))
        .collect::<Vec<_>>()
        .join(":")
}

/// `text` in the canonical spelling, if it is a usable MAC address.
pub fn normalize(text: &str) -> Result<String, MacError> {
    parse(text).map(format)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_spellings_go_accepts() {
        let want = Ok([0x02, 0x42, 0xac, 0x11, 0x00, 0x02]);
        assert_eq!(parse("02:42:ac:11:00:02"), want);
        assert_eq!(parse("02-42-AC-11-00-02"), want);
        assert_eq!(parse("0242.ac11.0002"), want);
        assert_eq!(
            normalize("02-42-AC-11-00-02").as_deref(),
            Ok("02:42:ac:11:00:02")
        );
    }

    #[test]
    fn refusals() {
        for bad in [
            "",
            "zz",
            "02:42:ac:11:00",
            "02:42:ac:11:00:02:03",
            "2:42:ac:11:00:02",
            "02:42-ac:11:00:02",
            "0242.ac11",
            "02:42:ac:11:00:0g",
            "+2:42:ac:11:00:02",
            "02:42:ac:11:00:02:03:04",
        ] {
            assert_eq!(parse(bad), Err(MacError::Syntax), "{bad}");
        }
        assert_eq!(parse("01:00:5e:00:00:01"), Err(MacError::Multicast));
        assert_eq!(parse("00:00:00:00:00:00"), Err(MacError::Zero));
    }
}
