//! The engine's event bus: what happened to containers, images (and later
//! volumes, networks), in docker's event model (type, action, actor ID and
//! attributes, time), for `GET /events` and `docker events`.
//!
//! Emitting is one call that never blocks on readers:
//!
//! ```
//! use berth_engine::events::{Event, EventBus, EventType};
//! let bus = EventBus::new();
//! let mut sub = bus.subscribe(None);
//! bus.emit(Event::new(EventType::Container, "pause", "0123abcd").attr("name", "web"));
//! let ev = sub.next_until(None).unwrap();
//! assert_eq!((ev.action.as_str(), ev.attributes["name"].as_str()), ("pause", "web"));
//! ```
//!
//! The bus keeps the last [`HISTORY`] events in memory (dockerd keeps 256),
//! so a subscriber may ask for the past (`--since`). A subscriber reads at
//! its own pace from a cursor into that history; one that falls more than
//! [`HISTORY`] events behind skips what it missed (as dockerd drops events
//! for a slow reader) rather than holding up anyone who emits.
//!
//! Docker's names for container actions: `create`, `start`, `attach`,
//! `resize` (`height`, `width`), `kill` (`signal`), `die` (`exitCode`,
//! `execDuration`), `stop`, `destroy`, `pause`, `unpause`, `rename`
//! (`oldName`), `restart`, `update`, `commit`, `exec_create: <cmd>`,
//! `exec_start: <cmd>`, `exec_die` (`execID`, `exitCode`), `health_status:
//! healthy`, `oom`; image actions: `tag`, `untag`, `delete`, `import`,
//! `load`, `save`, `pull`, `push`.

use std::collections::{BTreeMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// How many past events the bus keeps.
pub const HISTORY: usize = 1024;

/// What an event is about (docker's `Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EventType {
    Container,
    Image,
    Volume,
    Network,
    Daemon,
    Plugin,
    Node,
    Service,
    Secret,
    Config,
}

impl EventType {
    /// Docker's name (`container`, `image`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Container => "container",
            Self::Image => "image",
            Self::Volume => "volume",
            Self::Network => "network",
            Self::Daemon => "daemon",
            Self::Plugin => "plugin",
            Self::Node => "node",
            Self::Service => "service",
            Self::Secret => "secret",
            Self::Config => "config",
        }
    }

    /// Every type, in docker's order.
    pub const ALL: [EventType; 10] = [
        Self::Container,
        Self::Image,
        Self::Volume,
        Self::Network,
        Self::Daemon,
        Self::Plugin,
        Self::Node,
        Self::Service,
        Self::Secret,
        Self::Config,
    ];

    /// The type named `name`, if docker has one.
    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// One event (docker's `events.Message` without its deprecated fields).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub kind: EventType,
    /// `start`, `die`, `tag`, `exec_start: sh -c ls`, ...
    pub action: String,
    /// The object's ID (container ID, image ID `sha256:...`, volume name).
    pub actor_id: String,
    /// `name`, `image`, `exitCode`, `signal`, the object's labels, ...
    pub attributes: BTreeMap<String, String>,
    /// Nanoseconds since the Unix epoch.
    pub time_nano: i128,
}

impl Event {
    /// An event happening now, without attributes.
    pub fn new(kind: EventType, action: impl Into<String>, actor_id: impl Into<String>) -> Self {
        Self {
            kind,
            action: action.into(),
            actor_id: actor_id.into(),
            attributes: BTreeMap::new(),
            time_nano: now_nanos(),
        }
    }

    /// A container event with docker's attributes: the container's labels,
    /// `image` (as the user named it) and `name`.
    pub fn container(
        id: &str,
        name: &str,
        image: &str,
        labels: &BTreeMap<String, String>,
        action: impl Into<String>,
    ) -> Self {
        let mut ev = Self::new(EventType::Container, action, id);
        ev.attributes.extend(labels.clone());
        if !image.is_empty() {
            ev.attributes.insert("image".into(), image.to_owned());
        }
        ev.attributes
            .insert("name".into(), name.trim_start_matches('/').to_owned());
        ev
    }

    /// An image event: the image's labels and `name` (a reference, or the
    /// ID when the event is about the image rather than one of its names).
    pub fn image(
        id: &str,
        name: &str,
        labels: &BTreeMap<String, String>,
        action: impl Into<String>,
    ) -> Self {
        let mut ev = Self::new(EventType::Image, action, id);
        ev.attributes.extend(labels.clone());
        if !name.is_empty() {
            ev.attributes.insert("name".into(), name.to_owned());
        }
        ev
    }

    /// Adds (or replaces) one attribute.
    #[must_use]
    pub fn attr(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.attributes.insert(key.into(), value.into());
        self
    }

    /// Seconds since the epoch (docker's `time`).
    pub fn time(&self) -> i64 {
        i64::try_from(self.time_nano.div_euclid(1_000_000_000)).unwrap_or(0)
    }
}

/// Nanoseconds since the Unix epoch, now.
pub fn now_nanos() -> i128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i128::try_from(d.as_nanos()).unwrap_or(0))
}

/// The bus: cheap to clone (all clones are one bus).
#[derive(Clone, Default)]
pub struct EventBus {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for EventBus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let h = lock(&self.shared.history);
        f.debug_struct("EventBus")
            .field("kept", &h.events.len())
            .field("emitted", &h.next_seq)
            .finish()
    }
}

#[derive(Default)]
struct Shared {
    history: Mutex<History>,
    changed: Condvar,
}

#[derive(Default)]
struct History {
    /// The last [`HISTORY`] events; the first has sequence number
    /// `next_seq - events.len()`.
    events: VecDeque<Event>,
    /// How many events were ever emitted.
    next_seq: u64,
}

impl History {
    fn first_seq(&self) -> u64 {
        self.next_seq - self.events.len() as u64
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl EventBus {
    pub fn new() -> Self {
        Self::default()
    }

    /// Records `event` and wakes every subscriber. Never blocks on them.
    pub fn emit(&self, event: Event) {
        tracing::debug!(
            kind = event.kind.as_str(),
            action = %event.action,
            id = %event.actor_id,
            "event"
        );
        let mut h = lock(&self.shared.history);
        if h.events.len() >= HISTORY {
            h.events.pop_front();
        }
        h.events.push_back(event);
        h.next_seq += 1;
        drop(h);
        self.shared.changed.notify_all();
    }

    /// A reader of the events emitted from now on; with `since`
    /// (nanoseconds since the epoch), first the kept ones at or after it.
    pub fn subscribe(&self, since: Option<i128>) -> Subscription {
        let h = lock(&self.shared.history);
        let cursor = match since {
            None => h.next_seq,
            Some(since) => {
                let skip = h.events.iter().take_while(|e| e.time_nano < since).count();
                h.first_seq() + skip as u64
            }
        };
        Subscription {
            bus: self.clone(),
            cursor,
        }
    }

    /// The kept events, oldest first (for tests and diagnostics).
    pub fn history(&self) -> Vec<Event> {
        lock(&self.shared.history).events.iter().cloned().collect()
    }
}

/// A reader's place in the bus ([`EventBus::subscribe`]).
#[derive(Debug)]
pub struct Subscription {
    bus: EventBus,
    cursor: u64,
}

impl Subscription {
    /// The next event, waiting for one until `deadline` (forever if
    /// `None`); `None` when the deadline passed first.
    pub fn next_until(&mut self, deadline: Option<Instant>) -> Option<Event> {
        let shared = &self.bus.shared;
        let mut h = lock(&shared.history);
        loop {
            // Fell behind the kept history: skip what is gone.
            self.cursor = self.cursor.max(h.first_seq());
            if self.cursor < h.next_seq {
                let index = usize::try_from(self.cursor - h.first_seq()).unwrap_or(usize::MAX);
                let ev = h.events.get(index).cloned();
                self.cursor += 1;
                if ev.is_some() {
                    return ev;
                }
                continue;
            }
            h = match deadline {
                None => shared
                    .changed
                    .wait(h)
                    .unwrap_or_else(std::sync::PoisonError::into_inner),
                Some(d) => {
                    let now = Instant::now();
                    if now >= d {
                        return None;
                    }
                    shared
                        .changed
                        .wait_timeout(h, d - now)
                        .unwrap_or_else(std::sync::PoisonError::into_inner)
                        .0
                }
            };
        }
    }

    /// Like [`Subscription::next_until`] with a timeout.
    pub fn next_timeout(&mut self, timeout: Duration) -> Option<Event> {
        self.next_until(Some(Instant::now() + timeout))
    }
}

/// Docker's event filters (`docker events --filter`): `container`,
/// `event`, `image`, `label`, `type`, `volume`, `network`, `daemon`,
/// `plugin`, `node`, `service`, `secret`, `config`, `scope`. Values of one
/// key are alternatives; different keys must all match.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    filters: BTreeMap<String, Vec<String>>,
}

/// A filter key docker does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid filter '{0}'")]
pub struct InvalidEventFilter(pub String);

impl EventFilter {
    /// Checks the keys as dockerd does (`filters.Validate`).
    pub fn new(filters: BTreeMap<String, Vec<String>>) -> Result<Self, InvalidEventFilter> {
        const KEYS: [&str; 14] = [
            "container",
            "daemon",
            "event",
            "image",
            "label",
            "network",
            "node",
            "plugin",
            "scope",
            "secret",
            "service",
            "type",
            "volume",
            "config",
        ];
        if let Some(bad) = filters.keys().find(|k| !KEYS.contains(&k.as_str())) {
            return Err(InvalidEventFilter(bad.clone()));
        }
        Ok(Self { filters })
    }

    fn values(&self, key: &str) -> Option<&[String]> {
        self.filters
            .get(key)
            .map(Vec::as_slice)
            .filter(|v| !v.is_empty())
    }

    /// `key` absent, or one of its values equals `value`.
    fn exact(&self, key: &str, value: &str) -> bool {
        self.values(key)
            .is_none_or(|vs| vs.iter().any(|v| v == value))
    }

    /// Docker's `FuzzyMatch`: equal, or the value is a prefix of `source`.
    fn fuzzy(&self, key: &str, source: &str) -> bool {
        self.values(key).is_none_or(|vs| {
            vs.iter()
                .any(|v| !source.is_empty() && source.starts_with(v.as_str()))
        })
    }

    /// Whether `ev` passes every filter.
    pub fn matches(&self, ev: &Event) -> bool {
        self.matches_event(ev)
            && self.exact("type", ev.kind.as_str())
            && self.exact("scope", "local")
            && self.matches_names(ev)
            && self.matches_image(ev)
            && self.matches_labels(&ev.attributes)
    }

    fn matches_event(&self, ev: &Event) -> bool {
        // dockerd: `health_status`, `exec_create`, `exec_start` match the
        // actions that carry a detail after a colon.
        let Some(vs) = self.values("event") else {
            return true;
        };
        vs.iter().any(|v| {
            ev.action == *v
                || (matches!(v.as_str(), "health_status" | "exec_create" | "exec_start")
                    && ev.action.starts_with(&format!("{v}:")))
        })
    }

    /// `container=`, `volume=`, ... match an event of that type by the
    /// actor's ID (or a prefix of it) or its `name`.
    fn matches_names(&self, ev: &Event) -> bool {
        EventType::ALL
            .into_iter()
            .filter(|t| *t != EventType::Image)
            .all(|t| {
                let key = t.as_str();
                if self.values(key).is_none() {
                    return true;
                }
                if ev.kind != t {
                    return false;
                }
                let name = ev.attributes.get("name").map_or("", String::as_str);
                self.fuzzy(key, &ev.actor_id) || self.fuzzy(key, name)
            })
    }

    /// `image=` matches image events by ID or name and container events by
    /// the image they were created from; with or without the tag.
    fn matches_image(&self, ev: &Event) -> bool {
        let Some(vs) = self.values("image") else {
            return true;
        };
        let attr = if ev.kind == EventType::Image {
            "name"
        } else {
            "image"
        };
        let name = ev.attributes.get(attr).map_or("", String::as_str);
        let candidates = [
            ev.actor_id.clone(),
            name.to_owned(),
            strip_tag(&ev.actor_id),
            strip_tag(name),
        ];
        vs.iter()
            .any(|v| candidates.iter().any(|c| !c.is_empty() && c == v))
    }

    /// `label=key` or `label=key=value`; every label filter must match.
    fn matches_labels(&self, attrs: &BTreeMap<String, String>) -> bool {
        let Some(vs) = self.values("label") else {
            return true;
        };
        vs.iter().all(|l| match l.split_once('=') {
            Some((k, v)) => attrs.get(k).is_some_and(|a| a == v),
            None => attrs.contains_key(l.as_str()),
        })
    }
}

/// The familiar name without tag or digest (`busybox` for
/// `docker.io/library/busybox:1.36`), or `s` itself when it is no name.
fn strip_tag(s: &str) -> String {
    if s.starts_with("sha256:") {
        return s.to_owned();
    }
    berth_image::reference::Reference::parse_normalized(s)
        .map_or_else(|_| s.to_owned(), |r| r.familiar_name())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn filter(pairs: &[(&str, &str)]) -> EventFilter {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        EventFilter::new(m).unwrap()
    }

    fn start(id: &str, name: &str) -> Event {
        let labels = BTreeMap::from([("tier".to_owned(), "web".to_owned())]);
        Event::container(id, name, "busybox:1.36", &labels, "start")
    }

    #[test]
    fn history_since_and_live_events() {
        let bus = EventBus::new();
        let mut a = start("aaa", "/one");
        a.time_nano = 1_000;
        let mut b = start("bbb", "two");
        b.time_nano = 2_000;
        bus.emit(a);
        bus.emit(b);
        let mut all = bus.subscribe(Some(0));
        assert_eq!(all.next_until(None).unwrap().actor_id, "aaa");
        let mut later = bus.subscribe(Some(1_500));
        assert_eq!(later.next_until(None).unwrap().actor_id, "bbb");
        assert_eq!(later.next_timeout(Duration::from_millis(1)), None);
        let mut live = bus.subscribe(None);
        assert_eq!(live.next_timeout(Duration::from_millis(1)), None);
        let bus2 = bus.clone();
        let t = std::thread::spawn(move || bus2.emit(start("ccc", "three")));
        assert_eq!(live.next_until(None).unwrap().actor_id, "ccc");
        t.join().unwrap();
        assert_eq!(all.next_until(None).unwrap().actor_id, "bbb");
        assert_eq!(all.next_until(None).unwrap().actor_id, "ccc");
        let ev = &bus.history()[0];
        assert_eq!(ev.attributes["name"], "one");
        assert_eq!(ev.attributes["image"], "busybox:1.36");
        assert_eq!(ev.attributes["tier"], "web");
    }

    #[test]
    fn a_slow_reader_skips_what_fell_out_of_the_history() {
        let bus = EventBus::new();
        let mut sub = bus.subscribe(None);
        for i in 0..HISTORY + 5 {
            bus.emit(Event::new(EventType::Image, "tag", i.to_string()));
        }
        assert_eq!(sub.next_until(None).unwrap().actor_id, "5");
        assert_eq!(bus.history().len(), HISTORY);
    }

    #[test]
    fn filters_as_dockerd() {
        let ev = start("abcdef", "web1");
        assert!(filter(&[]).matches(&ev));
        assert!(filter(&[("container", "abc")]).matches(&ev));
        assert!(filter(&[("container", "web1")]).matches(&ev));
        assert!(filter(&[("container", "nope"), ("container", "web")]).matches(&ev));
        assert!(!filter(&[("container", "nope")]).matches(&ev));
        assert!(!filter(&[("volume", "abc")]).matches(&ev));
        assert!(filter(&[("event", "start")]).matches(&ev));
        assert!(!filter(&[("event", "die")]).matches(&ev));
        assert!(filter(&[("type", "container")]).matches(&ev));
        assert!(!filter(&[("type", "image")]).matches(&ev));
        assert!(filter(&[("image", "busybox")]).matches(&ev));
        assert!(filter(&[("image", "busybox:1.36")]).matches(&ev));
        assert!(!filter(&[("image", "alpine")]).matches(&ev));
        assert!(filter(&[("label", "tier")]).matches(&ev));
        assert!(filter(&[("label", "tier=web")]).matches(&ev));
        assert!(!filter(&[("label", "tier=db")]).matches(&ev));
        assert!(filter(&[("scope", "local")]).matches(&ev));
        let exec = Event::new(EventType::Container, "exec_start: sh -c ls", "abcdef");
        assert!(filter(&[("event", "exec_start")]).matches(&exec));
        assert!(!filter(&[("event", "exec")]).matches(&exec));
        let tag = Event::image("sha256:1234", "mine:v1", &BTreeMap::new(), "tag");
        assert!(filter(&[("image", "mine")]).matches(&tag));
        assert!(filter(&[("image", "sha256:1234")]).matches(&tag));
        assert!(filter(&[("image", "mine"), ("type", "image")]).matches(&tag));
        assert_eq!(
            EventFilter::new(BTreeMap::from([("nope".to_owned(), vec![])]))
                .unwrap_err()
                .to_string(),
            "invalid filter 'nope'"
        );
    }
}
