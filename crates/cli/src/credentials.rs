//! Registry credentials stored as the docker CLI stores them:
//! `$DOCKER_CONFIG/config.json` (or `~/.docker/config.json`),
//! `auths.<server>.auth` = base64(`user:password`), or a credential
//! helper (`credsStore`, `credHelpers`) run as `docker-credential-<name>`.
//! Other keys of the file are kept as they are.

use fs_err::os::unix::fs::OpenOptionsExt;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, anyhow, bail};
use berth_registry::client::{base64_decode, base64_encode};
use serde_json::{Map, Value, json};

/// Docker Hub's key in `auths` (and the default `login` server).
pub(crate) const DOCKER_HUB: &str = "https://index.docker.io/v1/";

/// A user name and password (or token).
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Login {
    pub(crate) username: String,
    pub(crate) password: String,
}

impl std::fmt::Debug for Login {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Login")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The config file directory: `$DOCKER_CONFIG`, else `~/.docker`.
pub(crate) fn config_dir() -> PathBuf {
    if let Some(d) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return PathBuf::from(d);
    }
    let home = std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map_or_else(|| PathBuf::from("/root"), PathBuf::from);
    home.join(".docker")
}

/// The registry domain of an image reference (`docker.io` when the first
/// component does not look like a host).
pub(crate) fn image_domain(image: &str) -> String {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first.to_owned(),
        _ => "docker.io".to_owned(),
    }
}

/// The domain `login`/`logout` mean by a server argument.
pub(crate) fn server_domain(server: &str) -> String {
    let s = server.trim();
    let s = s
        .strip_prefix("https://")
        .or_else(|| s.strip_prefix("http://"))
        .unwrap_or(s);
    match s.split('/').next().unwrap_or(s) {
        "" | "index.docker.io" | "registry-1.docker.io" | "docker.io" => "docker.io".to_owned(),
        h => h.to_owned(),
    }
}

/// The key a domain has in `auths` (and the server URL given to helpers).
pub(crate) fn server_key(domain: &str) -> String {
    if domain == "docker.io" {
        DOCKER_HUB.to_owned()
    } else {
        domain.to_owned()
    }
}

/// `config.json`, read (or empty when there is none).
pub(crate) struct ConfigFile {
    path: PathBuf,
    doc: Map<String, Value>,
}

impl ConfigFile {
    pub(crate) fn load() -> anyhow::Result<Self> {
        Self::load_from(&config_dir().join("config.json"))
    }

    pub(crate) fn load_from(path: &Path) -> anyhow::Result<Self> {
        let doc = match fs_err::read(path) {
            Ok(b) if b.iter().all(u8::is_ascii_whitespace) => Map::new(),
            Ok(b) => match serde_json::from_slice::<Value>(&b) {
                Ok(Value::Object(m)) => m,
                Ok(_) | Err(_) => bail!(
                    "the docker config file {} is not a JSON object; fix or remove it",
                    path.display()
                ),
            },
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Map::new(),
            Err(e) => return Err(e.into()),
        };
        Ok(Self {
            path: path.to_owned(),
            doc,
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The credential helper for `domain`: `credHelpers[key]`, else `credsStore`.
    fn helper(&self, domain: &str) -> Option<String> {
        let key = server_key(domain);
        self.doc
            .get("credHelpers")
            .and_then(Value::as_object)
            .and_then(|h| h.get(&key).or_else(|| h.get(domain)))
            .and_then(Value::as_str)
            .or_else(|| self.doc.get("credsStore").and_then(Value::as_str))
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
    }

    /// The `auths` entry key for `domain`, as stored (docker also matches
    /// `http://host` and `https://host/...` spellings).
    fn auths_key(&self, domain: &str) -> Option<String> {
        let auths = self.doc.get("auths")?.as_object()?;
        let want = server_key(domain);
        if auths.contains_key(&want) {
            return Some(want);
        }
        auths.keys().find(|k| server_domain(k) == domain).cloned()
    }

    /// The stored credentials for `domain`, if any.
    pub(crate) fn get(&self, domain: &str) -> anyhow::Result<Option<Login>> {
        if let Some(h) = self.helper(domain) {
            return helper_get(&h, &server_key(domain));
        }
        let Some(key) = self.auths_key(domain) else {
            return Ok(None);
        };
        let entry = &self.doc["auths"][&key];
        let Some(auth) = entry
            .get("auth")
            .and_then(Value::as_str)
            .filter(|a| !a.is_empty())
        else {
            return Ok(None);
        };
        let decoded = base64_decode(auth)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|s| s.split_once(':').map(|(u, p)| (u.to_owned(), p.to_owned())));
        match decoded {
            Some((username, password)) => Ok(Some(Login { username, password })),
            None => bail!(
                "the credentials for {key} in {} are not base64(\"user:password\"); run `berth login {key}` again",
                self.path.display()
            ),
        }
    }

    /// Stores credentials for `domain`: in its helper, or in `auths`.
    /// Returns whether they went to the file (unencrypted).
    pub(crate) fn store(&mut self, domain: &str, login: &Login) -> anyhow::Result<bool> {
        let key = server_key(domain);
        if let Some(h) = self.helper(domain) {
            helper_store(&h, &key, login)?;
            return Ok(false);
        }
        let auth = base64_encode(format!("{}:{}", login.username, login.password).as_bytes());
        let auths = self
            .doc
            .entry("auths")
            .or_insert_with(|| Value::Object(Map::new()));
        if !auths.is_object() {
            *auths = Value::Object(Map::new());
        }
        if let Some(a) = auths.as_object_mut() {
            let old = a.keys().find(|k| server_domain(k) == domain).cloned();
            if let Some(old) = old.filter(|o| *o != key) {
                a.remove(&old);
            }
            a.insert(key, json!({ "auth": auth }));
        }
        self.save()?;
        Ok(true)
    }

    /// Removes the credentials for `domain`; whether there were any.
    pub(crate) fn erase(&mut self, domain: &str) -> anyhow::Result<bool> {
        if let Some(h) = self.helper(domain) {
            return helper_erase(&h, &server_key(domain));
        }
        let Some(key) = self.auths_key(domain) else {
            return Ok(false);
        };
        if let Some(a) = self.doc.get_mut("auths").and_then(Value::as_object_mut) {
            a.remove(&key);
        }
        self.save()?;
        Ok(true)
    }

    /// Writes the file atomically with mode 0600.
    fn save(&self) -> anyhow::Result<()> {
        let dir = self
            .path
            .parent()
            .map_or_else(|| PathBuf::from("."), Path::to_path_buf);
        fs_err::create_dir_all(&dir)?;
        let tmp = dir.join(format!(".config.json.tmp-{}", std::process::id()));
        let mut bytes = serde_json::to_vec_pretty(&self.doc)?;
        bytes.push(b'\n');
        let write = || -> anyhow::Result<()> {
            let mut f = fs_err::OpenOptions::new()
                .write(true)
                .create(true)
                .truncate(true)
                .mode(0o600)
                .open(&tmp)?;
            f.write_all(&bytes)?;
            f.sync_all()?;
            fs_err::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600))?;
            fs_err::rename(&tmp, &self.path)?;
            Ok(())
        };
        let r = write();
        if r.is_err() {
            let _ = fs_err::remove_file(&tmp);
        }
        r.with_context(|| format!("cannot save credentials in {}", self.path.display()))
    }
}

/// Runs `docker-credential-<name> <action>` with `input` on stdin.
fn run_helper(name: &str, action: &str, input: &str) -> anyhow::Result<(bool, String)> {
    let program = format!("docker-credential-{name}");
    let mut child = Command::new(&program)
        .arg(action)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                anyhow!(
                    "the docker config file {} says to keep credentials with the credential helper `{name}`, but `{program}` is not installed (not found in PATH); install it, or remove `credsStore`/`credHelpers` from the file",
                    config_dir().join("config.json").display()
                )
            } else {
                anyhow!("cannot run `{program}`: {e}")
            }
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        stdin.write_all(input.as_bytes())?;
    }
    let out = child.wait_with_output()?;
    let mut text = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    if text.is_empty() {
        text = String::from_utf8_lossy(&out.stderr).trim().to_owned();
    }
    Ok((out.status.success(), text))
}

fn helper_get(name: &str, server: &str) -> anyhow::Result<Option<Login>> {
    let (ok, out) = run_helper(name, "get", server)?;
    if !ok {
        if out.contains("credentials not found") {
            return Ok(None);
        }
        bail!("error getting credentials - err: docker-credential-{name} get: {out}");
    }
    let v: Value = serde_json::from_str(&out).with_context(|| {
        format!("docker-credential-{name} get answered something else than JSON")
    })?;
    let username = v["Username"].as_str().unwrap_or("").to_owned();
    let password = v["Secret"].as_str().unwrap_or("").to_owned();
    if username.is_empty() && password.is_empty() {
        return Ok(None);
    }
    Ok(Some(Login { username, password }))
}

fn helper_store(name: &str, server: &str, login: &Login) -> anyhow::Result<()> {
    let input = json!({"ServerURL": server, "Username": login.username, "Secret": login.password});
    let (ok, out) = run_helper(name, "store", &input.to_string())?;
    if !ok {
        bail!("error storing credentials - err: docker-credential-{name} store: {out}");
    }
    Ok(())
}

fn helper_erase(name: &str, server: &str) -> anyhow::Result<bool> {
    let (ok, out) = run_helper(name, "erase", server)?;
    if !ok {
        if out.contains("credentials not found") {
            return Ok(false);
        }
        bail!("error erasing credentials - err: docker-credential-{name} erase: {out}");
    }
    Ok(true)
}

/// `X-Registry-Auth` for `login` at `domain`: base64url JSON, as the
/// docker CLI sends it.
pub(crate) fn registry_auth_header(login: &Login, domain: &str) -> String {
    let v = json!({
        "username": login.username,
        "password": login.password,
        "serveraddress": server_key(domain),
    });
    base64_encode(v.to_string().as_bytes())
        .replace('+', "-")
        .replace('/', "_")
}

/// The `X-Registry-Auth` value for pulling or pushing `image`, from the
/// stored credentials (`None` when there are none).
pub(crate) fn header_for_image(image: &str) -> anyhow::Result<Option<String>> {
    let domain = image_domain(image);
    let config = ConfigFile::load()?;
    Ok(config
        .get(&domain)?
        .map(|l| registry_auth_header(&l, &domain)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn domains_and_keys() {
        assert_eq!(image_domain("busybox"), "docker.io");
        assert_eq!(image_domain("me/app"), "docker.io");
        assert_eq!(image_domain("127.0.0.1:5000/app"), "127.0.0.1:5000");
        assert_eq!(image_domain("localhost/app"), "localhost");
        assert_eq!(server_domain("https://index.docker.io/v1/"), "docker.io");
        assert_eq!(server_domain("http://127.0.0.1:5000"), "127.0.0.1:5000");
        assert_eq!(server_key("docker.io"), DOCKER_HUB);
    }

    #[test]
    fn store_get_erase_keep_other_keys() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("config.json");
        fs_err::write(
            &path,
            r#"{"psFormat":"table {{.ID}}","auths":{"other:1":{"auth":"eDp5"}}}"#,
        )
        .unwrap_or_else(|e| panic!("{e}"));
        let mut c = ConfigFile::load_from(&path).unwrap_or_else(|e| panic!("{e}"));
        let login = Login {
            username: "u".into(),
            password: "p:w".into(),
        };
        assert!(
            c.store("127.0.0.1:5000", &login)
                .unwrap_or_else(|e| panic!("{e}"))
        );
        let c = ConfigFile::load_from(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.get("127.0.0.1:5000").ok().flatten(), Some(login));
        assert_eq!(c.doc["psFormat"], "table {{.ID}}");
        assert_eq!(c.doc["auths"]["127.0.0.1:5000"]["auth"], "dTpwOnc=");
        let mode = fs_err::metadata(&path)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let mut c = c;
        assert!(c.erase("127.0.0.1:5000").unwrap_or_else(|e| panic!("{e}")));
        assert!(!c.erase("127.0.0.1:5000").unwrap_or_else(|e| panic!("{e}")));
        let c = ConfigFile::load_from(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(c.doc["auths"]["other:1"]["auth"], "eDp5");
        assert_eq!(c.get("127.0.0.1:5000").ok().flatten(), None);
    }

    #[test]
    fn a_missing_helper_is_a_clear_error() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let path = dir.path().join("config.json");
        fs_err::write(&path, r#"{"credsStore":"berth-test-nonexistent"}"#)
            .unwrap_or_else(|e| panic!("{e}"));
        let c = ConfigFile::load_from(&path).unwrap_or_else(|e| panic!("{e}"));
        let e = c
            .get("127.0.0.1:5000")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            e.contains("docker-credential-berth-test-nonexistent"),
            "{e}"
        );
        assert!(e.contains("is not installed"), "{e}");
    }
}
