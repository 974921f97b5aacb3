//! Which containers a list shows (`docker ps`), as dockerd's
//! `daemon/list.go` decides: the `filters` (every key dockerd accepts;
//! the ones about things berth does not have yet — published or exposed
//! ports, swarm tasks — match as they match a container without them), `all`, and `limit`.
//!
//! Semantics worth knowing (all dockerd's):
//! - values of one key are alternatives, keys must all match, except
//!   `label`, whose values must all match;
//! - `name` values are regular expressions matched against the name with
//!   and without its leading `/` (`name=web` matches `myweb1`); a value
//!   that is not a valid expression matches nothing;
//! - `id` values are an ID or a unique ID prefix;
//! - `status` implies `all`; `exited` does not (`docker ps -a -f exited=0`);
//! - `limit` shows stopped containers too, newest first;
//! - `before`/`since` name a container (ID, prefix or name): the ones
//!   created before or after it;
//! - `ancestor` is an image name, `name:tag`, ID or ID prefix: the
//!   containers of that image and of images committed on it.

use std::collections::{BTreeMap, BTreeSet};

use super::model::{Container, Status};
use super::{ContainerError, resolve};

/// What `GET /containers/json` asks for.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListOptions {
    /// Stopped containers too.
    pub all: bool,
    /// At most this many (newest first); 0 = no limit.
    pub limit: usize,
    /// Compute `SizeRw` and `SizeRootFs`.
    pub size: bool,
    /// Filter key -> values.
    pub filters: BTreeMap<String, Vec<String>>,
}

/// The filter keys dockerd accepts.
const ACCEPTED: &[&str] = &[
    "ancestor",
    "before",
    "exited",
    "expose",
    "health",
    "id",
    "is-task",
    "isolation",
    "label",
    "name",
    "network",
    "publish",
    "since",
    "status",
    "volume",
];

/// dockerd's `container.IsValidStateString`.
const STATES: &[&str] = &[
    "paused",
    "restarting",
    "removing",
    "running",
    "dead",
    "created",
    "exited",
];

/// dockerd's `container.IsValidHealthString`.
const HEALTH: &[&str] = &["starting", "healthy", "unhealthy", "none"];

/// What the `ancestor` filter needs to know about images.
pub trait ImageLookup {
    /// The ID (`sha256:...`) of the image `name` names, if there is one.
    fn resolve(&self, name: &str) -> Option<String>;
    /// The IDs of the images committed on image `id`.
    fn children(&self, id: &str) -> Vec<String>;
}

/// No images at all (for callers without an image store).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoImages;

impl ImageLookup for NoImages {
    fn resolve(&self, _: &str) -> Option<String> {
        None
    }
    fn children(&self, _: &str) -> Vec<String> {
        Vec::new()
    }
}

fn invalid(message: String) -> ContainerError {
    ContainerError::InvalidArgument { message }
}

/// dockerd's `invalidFilter` message.
fn invalid_filter(key: &str, value: Option<&str>) -> ContainerError {
    match value {
        Some(v) => invalid(format!("invalid filter '{key}={v}'")),
        None => invalid(format!("invalid filter '{key}'")),
    }
}

/// The filters, checked and compiled once per list.
struct Compiled<'a> {
    filters: &'a BTreeMap<String, Vec<String>>,
    all: bool,
    exited: Vec<i32>,
    names: Option<Vec<regex::Regex>>,
    ids: Option<BTreeSet<String>>,
    before: Option<String>,
    since: Option<String>,
    /// `Some` when filtering by ancestor: the allowed image IDs.
    images: Option<BTreeSet<String>>,
}

impl<'a> Compiled<'a> {
    fn new(
        opts: &'a ListOptions,
        containers: &[Container],
        images: &dyn ImageLookup,
    ) -> Result<Self, ContainerError> {
        let f = &opts.filters;
        for key in f.keys() {
            if !ACCEPTED.contains(&key.as_str()) {
                return Err(invalid_filter(key, None));
            }
        }
        let values = |k: &str| f.get(k).map(Vec::as_slice).unwrap_or_default();
        let mut exited = Vec::new();
        for v in values("exited") {
            exited
                .push(v.parse::<i32>().map_err(|_| {
                    invalid(format!("strconv.Atoi: parsing {v:?}: invalid syntax"))
                })?);
        }
        let mut all = opts.all;
        for v in values("status") {
            if !STATES.contains(&v.as_str()) {
                return Err(invalid_filter("status", Some(v)));
            }
            all = true;
        }
        for v in values("is-task") {
            if v != "true" && v != "false" {
                return Err(invalid_filter("is-task", Some(v)));
            }
        }
        for v in values("health") {
            if !HEALTH.contains(&v.as_str()) {
                return Err(invalid(format!(
                    "Unrecognised filter value for health: {v}"
                )));
            }
        }
        for key in ["publish", "expose"] {
            for v in values(key) {
                if v.contains(':') {
                    return Err(invalid(format!(
                        "filter for '{key}' should not contain ':': {v}"
                    )));
                }
            }
        }
        // A value that is not a valid expression matches nothing (dockerd
        // skips it), so it is simply left out.
        let names = f.get("name").map(|vals| {
            vals.iter()
                .filter_map(|v| regex::Regex::new(v).ok())
                .collect::<Vec<_>>()
        });
        // Only `before` and `since` look containers up (by ID, name or
        // prefix): no copy of the list without them.
        let table: BTreeMap<String, Container> =
            if f.contains_key("before") || f.contains_key("since") {
                containers
                    .iter()
                    .map(|c| (c.id.clone(), c.clone()))
                    .collect()
            } else {
                BTreeMap::new()
            };
        let ids = f.get("id").map(|vals| {
            vals.iter()
                .filter(|v| !v.is_empty())
                .filter_map(|v| {
                    let mut m = containers.iter().filter(|c| c.id.starts_with(v.as_str()));
                    match (m.next(), m.next()) {
                        (Some(c), None) => Some(c.id.clone()),
                        _ => None,
                    }
                })
                .collect::<BTreeSet<_>>()
        });
        let by_name = |key: &str| -> Result<Option<String>, ContainerError> {
            let mut found = None;
            for v in values(key) {
                found = Some(resolve(&table, v)?.id.clone());
            }
            Ok(found)
        };
        let before = by_name("before")?;
        let since = by_name("since")?;
        let images = f.get("ancestor").map(|vals| {
            let mut set = BTreeSet::new();
            for v in vals {
                if let Some(id) = images.resolve(v) {
                    add_with_children(&mut set, id, images);
                }
            }
            set
        });
        Ok(Self {
            filters: f,
            all,
            exited,
            names,
            ids,
            before,
            since,
            images,
        })
    }

    fn values(&self, key: &str) -> &[String] {
        self.filters.get(key).map(Vec::as_slice).unwrap_or_default()
    }

    fn has(&self, key: &str) -> bool {
        self.filters.contains_key(key)
    }

    /// The filters that do not depend on the position in the list.
    fn matches(&self, c: &Container) -> bool {
        if let Some(names) = &self.names {
            let slash = format!("/{}", c.name);
            let exact = self
                .values("name")
                .iter()
                .any(|v| *v == c.name || *v == slash);
            if !exact
                && !names
                    .iter()
                    .any(|r| r.is_match(&c.name) || r.is_match(&slash))
            {
                return false;
            }
        }
        if let Some(ids) = &self.ids
            && !ids.contains(&c.id)
        {
            return false;
        }
        // No container is a swarm task.
        if self.values("is-task").iter().any(|v| v == "true") {
            return false;
        }
        for want in self.values("label") {
            let ok = match want.split_once('=') {
                Some((k, v)) => c.labels.get(k).is_some_and(|x| x == v),
                None => c.labels.contains_key(want),
            };
            if !ok {
                return false;
            }
        }
        true
    }

    /// The filters dockerd applies after the limit check.
    fn matches_after_limit(&self, c: &Container) -> bool {
        let running = c.state.status == Status::Running;
        if !self.exited.is_empty()
            && !self.exited.iter().any(|code| {
                *code == c.state.exit_code && !running && !c.state.started_at.is_empty()
            })
        {
            return false;
        }
        if self.has("status")
            && !self
                .values("status")
                .iter()
                .any(|s| s == c.state.status_name())
        {
            return false;
        }
        if self.has("health") {
            let status = super::health::Healthcheck::status(c.health.as_ref());
            if !self.values("health").iter().any(|h| h == status) {
                return false;
            }
        }
        // Nor published or exposed ports.
        if ["publish", "expose"].iter().any(|k| self.has(k)) {
            return false;
        }
        // dockerd: a volume's name (a bind's source), or a mount's
        // destination in the container.
        if self.has("volume") {
            let mounted = |v: &String| {
                c.mount_points.iter().any(|m| {
                    let name = if m.name.is_empty() {
                        &m.source
                    } else {
                        &m.name
                    };
                    *name == *v || m.destination == *v
                })
            };
            if !self.values("volume").iter().any(mounted) {
                return false;
            }
        }
        // dockerd: a network's name, or a prefix of its ID.
        if self.has("network") {
            let nets = &c.options.network.endpoints;
            let on = |v: &String| {
                (nets.is_empty() && c.options.network.joined_container().is_none() && {
                    let mode = c.options.network.mode_name();
                    v == mode
                }) || nets.iter().any(|(name, ep)| {
                    name == v || (!v.is_empty() && ep.network_id.starts_with(v.as_str()))
                })
            };
            if !self.values("network").iter().any(on) {
                return false;
            }
        }
        if let Some(images) = &self.images
            && !images.contains(&c.image)
        {
            return false;
        }
        true
    }
}

/// dockerd's `populateImageFilterByParents`: `id` and every image below it.
fn add_with_children(set: &mut BTreeSet<String>, id: String, images: &dyn ImageLookup) {
    if set.contains(&id) {
        return;
    }
    let children = images.children(&id);
    set.insert(id);
    for child in children {
        add_with_children(set, child, images);
    }
}

/// The containers a list shows. `containers` must be newest first (as
/// `Containers::list` returns them); the result keeps that order.
pub fn select(
    containers: Vec<Container>,
    opts: &ListOptions,
    images: &dyn ImageLookup,
) -> Result<Vec<Container>, ContainerError> {
    let mut f = Compiled::new(opts, &containers, images)?;
    let mut out = Vec::new();
    for c in containers {
        if let Some(before) = &f.before {
            if *before == c.id {
                f.before = None;
            }
            continue;
        }
        if f.since.as_ref().is_some_and(|s| *s == c.id) {
            break;
        }
        // Restarting counts as running, as in dockerd.
        let up = matches!(c.state.status, Status::Running | Status::Restarting);
        if !up && !f.all && opts.limit == 0 {
            continue;
        }
        if !f.matches(&c) {
            continue;
        }
        if opts.limit > 0 && out.len() == opts.limit {
            break;
        }
        if !f.matches_after_limit(&c) {
            continue;
        }
        out.push(c);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::container::model::{CreateOptions, Process, State};

    fn c(n: u8, name: &str, status: Status, exit: i32, image: &str) -> Container {
        let started = if status == Status::Created {
            ""
        } else {
            "2026-01-01T00:00:00Z"
        };
        Container {
            id: format!("{n:02x}{}", "0".repeat(62)),
            name: name.to_owned(),
            created: format!("2026-01-01T00:00:{n:02}Z"),
            image: image.to_owned(),
            image_ref: "busybox".to_owned(),
            options: CreateOptions::default(),
            process: Process {
                args: vec!["sh".into()],
                env: Vec::new(),
                working_dir: String::new(),
                user: String::new(),
                hostname: String::new(),
                tty: false,
                open_stdin: false,
            },
            labels: [("app".to_owned(), name.to_owned())].into_iter().collect(),
            stop_signal: None,
            state: State {
                status,
                exit_code: exit,
                started_at: started.to_owned(),
                ..State::default()
            },
            restart: Default::default(),
            mount_points: Vec::new(),
            exits: 0,
            health: None,
            busy: false,
            published_ports: Default::default(),
        }
    }

    /// Newest first: web2 (running), web1 (exited 0), db (exited 3), new (created).
    fn sample() -> Vec<Container> {
        vec![
            c(4, "new", Status::Created, 0, "sha256:bb"),
            c(3, "db", Status::Exited, 3, "sha256:bb"),
            c(2, "web1", Status::Exited, 0, "sha256:aa"),
            c(1, "web2", Status::Running, 0, "sha256:cc"),
        ]
    }

    struct Images;
    impl ImageLookup for Images {
        fn resolve(&self, name: &str) -> Option<String> {
            match name {
                "busybox" | "busybox:latest" | "aa" | "sha256:aa" => Some("sha256:aa".into()),
                "other" => Some("sha256:bb".into()),
                _ => None,
            }
        }
        fn children(&self, id: &str) -> Vec<String> {
            if id == "sha256:aa" {
                vec!["sha256:cc".into()]
            } else {
                Vec::new()
            }
        }
    }

    fn names(filters: &[(&str, &str)], all: bool, limit: usize) -> Result<Vec<String>, String> {
        let mut f: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in filters {
            f.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        let opts = ListOptions {
            all,
            limit,
            size: false,
            filters: f,
        };
        select(sample(), &opts, &Images)
            .map(|v| v.into_iter().map(|c| c.name).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn all_limit_and_status() {
        assert_eq!(names(&[], false, 0).unwrap(), ["web2"]);
        assert_eq!(names(&[], true, 0).unwrap(), ["new", "db", "web1", "web2"]);
        assert_eq!(names(&[], false, 1).unwrap(), ["new"]);
        assert_eq!(names(&[], true, 2).unwrap(), ["new", "db"]);
        assert_eq!(
            names(&[("status", "exited")], false, 0).unwrap(),
            ["db", "web1"]
        );
        assert_eq!(
            names(&[("status", "exited"), ("status", "created")], false, 0).unwrap(),
            ["new", "db", "web1"]
        );
        assert_eq!(
            names(&[("status", "paused")], false, 0).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            names(&[("status", "bogus")], false, 0).unwrap_err(),
            "invalid filter 'status=bogus'"
        );
        assert_eq!(
            names(&[("bogus", "1")], true, 0).unwrap_err(),
            "invalid filter 'bogus'"
        );
    }

    #[test]
    fn exited_needs_all_and_a_start() {
        assert_eq!(
            names(&[("exited", "0")], false, 0).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(names(&[("exited", "0")], true, 0).unwrap(), ["web1"]);
        assert_eq!(
            names(&[("exited", "3"), ("exited", "0")], true, 0).unwrap(),
            ["db", "web1"]
        );
        assert!(
            names(&[("exited", "x")], true, 0)
                .unwrap_err()
                .contains("invalid syntax")
        );
    }

    #[test]
    fn names_ids_and_labels() {
        assert_eq!(
            names(&[("name", "web")], true, 0).unwrap(),
            ["web1", "web2"]
        );
        assert_eq!(names(&[("name", "^/web1$")], true, 0).unwrap(), ["web1"]);
        assert_eq!(names(&[("name", "^db$")], true, 0).unwrap(), ["db"]);
        assert_eq!(
            names(&[("name", "(")], true, 0).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(names(&[("id", "03")], true, 0).unwrap(), ["db"]);
        // Ambiguous prefix: nothing, as dockerd.
        assert_eq!(
            names(&[("id", "0")], true, 0).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(names(&[("label", "app=db")], true, 0).unwrap(), ["db"]);
        assert_eq!(names(&[("label", "app")], true, 0).unwrap().len(), 4);
        assert_eq!(
            names(&[("label", "app"), ("label", "app=web1")], true, 0).unwrap(),
            ["web1"]
        );
        assert_eq!(
            names(&[("label", "nope")], true, 0).unwrap(),
            Vec::<String>::new()
        );
    }

    #[test]
    fn ancestors_before_since_and_absent_features() {
        // busybox = sha256:aa, and sha256:cc was committed on it.
        assert_eq!(
            names(&[("ancestor", "busybox")], true, 0).unwrap(),
            ["web1", "web2"]
        );
        assert_eq!(
            names(&[("ancestor", "other")], true, 0).unwrap(),
            ["new", "db"]
        );
        assert_eq!(
            names(&[("ancestor", "nope")], true, 0).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(
            names(&[("before", "db")], true, 0).unwrap(),
            ["web1", "web2"]
        );
        assert_eq!(names(&[("since", "web1")], true, 0).unwrap(), ["new", "db"]);
        assert!(
            names(&[("since", "ghost")], true, 0)
                .unwrap_err()
                .contains("No such container")
        );
        assert_eq!(names(&[("health", "none")], true, 0).unwrap().len(), 4);
        assert_eq!(
            names(&[("health", "healthy")], true, 0).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(names(&[("network", "bridge")], true, 0).unwrap().len(), 4);
        assert_eq!(
            names(&[("network", "other")], true, 0).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(names(&[("is-task", "false")], true, 0).unwrap().len(), 4);
        assert!(names(&[("publish", "1:2")], true, 0).is_err());
    }
}
