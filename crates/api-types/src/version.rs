//! Engine API version strings (`1.24` ... `1.51`) and how they compare.
//!
//! Shared by the server (range checks, per-version adapters) and the client
//! (negotiation), so both sides order versions identically.

use std::cmp::Ordering;

/// Compares dotted versions numerically, as moby's `versions.Compare`: missing
/// or unparsable components count as 0, so `1.5` < `1.24` and `1.24.0` ==
/// `1.24`.
pub fn compare(a: &str, b: &str) -> Ordering {
    let parse = |v: &str| -> Vec<u64> { v.split('.').map(|c| c.parse().unwrap_or(0)).collect() };
    let (a, b) = (parse(a), parse(b));
    (0..a.len().max(b.len()))
        .map(|i| {
            let x = a.get(i).copied().unwrap_or(0);
            let y = b.get(i).copied().unwrap_or(0);
            x.cmp(&y)
        })
        .find(|o| o.is_ne())
        .unwrap_or(Ordering::Equal)
}

/// `a` < `b`.
pub fn less_than(a: &str, b: &str) -> bool {
    compare(a, b) == Ordering::Less
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn numeric_not_lexical() {
        assert_eq!(compare("1.5", "1.24"), Ordering::Less);
        assert_eq!(compare("1.24.0", "1.24"), Ordering::Equal);
        assert_eq!(compare("1.51", "1.52"), Ordering::Less);
        assert_eq!(compare("2", "1.51"), Ordering::Greater);
        assert_eq!(compare("1..51", "1.0.51"), Ordering::Equal);
        assert!(less_than("1.9", "1.10"));
    }
}
