//! `--htpasswd FILE`: HTTP basic auth against bcrypt entries, as
//! `htpasswd -B` writes them (distribution's htpasswd auth accepts bcrypt
//! only, and so do we).

use std::collections::{HashMap, HashSet};
use std::path::Path;
use std::sync::Mutex;

use base64::Engine as _;

/// The users of an htpasswd file.
#[derive(Debug)]
pub struct Htpasswd {
    users: HashMap<String, String>,
    /// `Authorization` values already checked: bcrypt is slow on purpose,
    /// and a push sends the header with every request.
    good: Mutex<HashSet<String>>,
}

impl Htpasswd {
    /// Reads `path`; every entry must be `user:$2y$...` (bcrypt).
    pub fn load(path: &Path) -> Result<Self, String> {
        let text = fs_err::read_to_string(path).map_err(|e| e.to_string())?;
        let mut users = HashMap::new();
        for (i, line) in text.lines().enumerate() {
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let Some((user, hash)) = line.split_once(':') else {
                return Err(format!(
                    "{} line {}: expected `user:hash`",
                    path.display(),
                    i + 1
                ));
            };
            if !(hash.starts_with("$2y$") || hash.starts_with("$2b$") || hash.starts_with("$2a$")) {
                return Err(format!(
                    "{} line {}: the password of `{user}` is not a bcrypt hash; only bcrypt entries are supported (create them with `htpasswd -B`)",
                    path.display(),
                    i + 1
                ));
            }
            users.insert(user.to_owned(), hash.to_owned());
        }
        if users.is_empty() {
            return Err(format!("{} has no users", path.display()));
        }
        Ok(Self {
            users,
            good: Mutex::new(HashSet::new()),
        })
    }

    /// True when the `Authorization` header names a user with the right password.
    pub fn check(&self, authorization: Option<&str>) -> bool {
        let Some(value) = authorization else {
            return false;
        };
        if self.good.lock().is_ok_and(|g| g.contains(value)) {
            return true;
        }
        let Some(b64) = value
            .strip_prefix("Basic ")
            .or_else(|| value.strip_prefix("basic "))
        else {
            return false;
        };
        let Ok(raw) = base64::engine::general_purpose::STANDARD.decode(b64.trim()) else {
            return false;
        };
        let Ok(raw) = String::from_utf8(raw) else {
            return false;
        };
        let Some((user, pass)) = raw.split_once(':') else {
            return false;
        };
        let Some(hash) = self.users.get(user) else {
            return false;
        };
        let ok = bcrypt::verify(pass, hash).unwrap_or(false);
        if ok && let Ok(mut g) = self.good.lock() {
            g.insert(value.to_owned());
        }
        ok
    }
}
