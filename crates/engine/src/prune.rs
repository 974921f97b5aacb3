//! Disk usage and clean-up across services (`docker system df`,
//! `container prune`, `image prune`), with dockerd's filters and figures.
//!
//! - Disk usage: every image with its unique and shared layer bytes and
//!   how many containers use it, every container with its writable
//!   layer's size, and the bytes of all distinct layers.
//! - Container prune: every container that is not running, filtered by
//!   `until` (created before) and `label` / `label!`; the space is the
//!   sum of their writable layers.
//! - Image prune: images no container uses, only untagged ones unless
//!   `dangling=false`, filtered by `until` and `label` / `label!`; the
//!   space is what the store's distinct layers shrank by.

use std::collections::{BTreeMap, HashMap};

use crate::container::filter::ListOptions;
use crate::container::{ContainerError, ListedContainer, Status};
use crate::events::{Event, EventType};
use crate::image::{DeleteItem, ImageDetails, ImageError};
use crate::{Classify, Engine, ErrorClass};

/// A bad prune filter (dockerd's wording).
#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("invalid filter '{0}'")]
    InvalidFilter(String),
    #[error(transparent)]
    Containers(#[from] ContainerError),
    #[error(transparent)]
    Images(#[from] ImageError),
}

impl Classify for PruneError {
    fn class(&self) -> ErrorClass {
        match self {
            Self::InvalidFilter(_) => ErrorClass::InvalidArgument,
            Self::Containers(e) => e.class(),
            Self::Images(e) => e.class(),
        }
    }
}

/// One image's share of the disk.
#[derive(Debug, Clone)]
pub struct ImageUsage {
    pub details: ImageDetails,
    /// Bytes of its layers that other images use too.
    pub shared_size: u64,
    /// How many containers were created from it.
    pub containers: usize,
}

/// What `docker system df` shows.
#[derive(Debug, Clone, Default)]
pub struct DiskUsage {
    /// Bytes of every distinct layer in the store.
    pub layers_size: u64,
    pub images: Vec<ImageUsage>,
    /// Every container, with its sizes.
    pub containers: Vec<ListedContainer>,
    /// Volumes without driver options, with their usage.
    pub volumes: Vec<crate::volume::Volume>,
}

/// What a prune removed.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneReport {
    /// Container IDs (container prune).
    pub containers: Vec<String>,
    /// Untagged references and deleted IDs (image prune).
    pub images: Vec<DeleteItem>,
    pub space_reclaimed: u64,
}

/// Parsed prune filters.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PruneFilters {
    /// Only objects created before this (nanoseconds since the epoch).
    pub until: Option<i128>,
    /// `label=k` / `label=k=v`: all must match.
    pub labels: Vec<String>,
    /// `label!=k` / `label!=k=v`: the object is kept when all match.
    pub not_labels: Vec<String>,
    /// Images: only untagged ones (the default).
    pub dangling_only: bool,
}

impl PruneFilters {
    /// From docker's filter map; `accepted` are the keys this prune
    /// takes, `time` reads an `until` value as nanoseconds since the epoch
    /// (the API layer's reading of docker's times).
    pub fn parse(
        filters: &BTreeMap<String, Vec<String>>,
        accepted: &[&str],
        time: impl Fn(&str) -> Option<i128>,
    ) -> Result<Self, PruneError> {
        if let Some(bad) = filters.keys().find(|k| !accepted.contains(&k.as_str())) {
            return Err(PruneError::InvalidFilter(bad.clone()));
        }
        let get = |k: &str| filters.get(k).cloned().unwrap_or_default();
        let until = match get("until").as_slice() {
            [] => None,
            [one] => {
                Some(time(one).ok_or_else(|| PruneError::InvalidFilter(format!("until={one}")))?)
            }
            _ => {
                return Err(PruneError::InvalidFilter(
                    "until: more than one value".into(),
                ));
            }
        };
        // dockerd's `GetBoolOrDefault`: true or false, not both nor neither.
        let dangling = get("dangling");
        let dangling_only = if filters.contains_key("dangling") {
            let has = |vs: [&str; 2]| dangling.iter().any(|v| vs.contains(&v.as_str()));
            let (t, f) = (has(["1", "true"]), has(["0", "false"]));
            if t == f {
                return Err(PruneError::InvalidFilter(format!(
                    "dangling={}",
                    dangling.join(",")
                )));
            }
            t
        } else {
            true
        };
        Ok(Self {
            until,
            labels: get("label"),
            not_labels: get("label!"),
            dangling_only,
        })
    }

    /// dockerd's `matchLabels`.
    pub(crate) fn labels_match(&self, labels: &BTreeMap<String, String>) -> bool {
        let all = |list: &[String]| {
            list.iter().all(|l| match l.split_once('=') {
                Some((k, v)) => labels.get(k).is_some_and(|x| x == v),
                None => labels.contains_key(l.as_str()),
            })
        };
        all(&self.labels) && (self.not_labels.is_empty() || !all(&self.not_labels))
    }

    pub(crate) fn before_until(&self, created: Option<&str>) -> bool {
        match (self.until, created) {
            (None, _) => true,
            (Some(u), Some(c)) => {
                crate::container::logs::parse_rfc3339_nanos(c).is_some_and(|t| t < u)
            }
            (Some(_), None) => false,
        }
    }
}

/// Each layer of an image, identified by the stack below and including
/// it (its chain), with its size.
fn layer_keys(d: &ImageDetails) -> Vec<(String, u64)> {
    let mut key = String::new();
    d.record
        .diff_ids
        .iter()
        .zip(&d.record.layer_sizes)
        .map(|(id, size)| {
            key.push_str(&id.to_string());
            key.push(' ');
            (key.clone(), *size)
        })
        .collect()
}

/// Bytes of the distinct layers of `images`.
fn distinct_layers_size(images: &[ImageDetails]) -> u64 {
    let mut seen: HashMap<String, u64> = HashMap::new();
    for d in images {
        seen.extend(layer_keys(d));
    }
    seen.values().sum()
}

impl Engine {
    /// `docker system df`.
    pub fn disk_usage(&self) -> Result<DiskUsage, PruneError> {
        let images = self.images().list()?;
        let containers = self.containers().list_with(&ListOptions {
            all: true,
            size: true,
            ..ListOptions::default()
        })?;
        let mut users: HashMap<String, usize> = HashMap::new();
        for c in &containers {
            *users.entry(c.container.image.clone()).or_default() += 1;
        }
        let mut layer_users: HashMap<String, usize> = HashMap::new();
        for d in &images {
            for (key, _) in layer_keys(d) {
                *layer_users.entry(key).or_default() += 1;
            }
        }
        let usage = images
            .iter()
            .map(|d| ImageUsage {
                shared_size: layer_keys(d)
                    .into_iter()
                    .filter(|(k, _)| layer_users.get(k).copied().unwrap_or(0) > 1)
                    .map(|(_, s)| s)
                    .sum(),
                containers: users.get(&d.record.id.to_string()).copied().unwrap_or(0),
                details: d.clone(),
            })
            .collect();
        Ok(DiskUsage {
            layers_size: distinct_layers_size(&images),
            images: usage,
            containers,
            volumes: self.volumes().disk_usage(),
        })
    }

    /// `docker container prune`: removes every container that is not
    /// running and passes `filters` (`until`, `label`, `label!`).
    pub fn prune_containers(&self, filters: &PruneFilters) -> Result<PruneReport, PruneError> {
        let listed = self.containers().list_with(&ListOptions {
            all: true,
            size: true,
            ..ListOptions::default()
        })?;
        let mut report = PruneReport::default();
        for l in listed {
            let c = &l.container;
            if c.state.status == Status::Running
                || !filters.before_until(Some(&c.created))
                || !filters.labels_match(&c.labels)
            {
                continue;
            }
            match self.containers().remove(&c.id, false) {
                Ok(()) => {
                    report.containers.push(c.id.clone());
                    report.space_reclaimed += l.size.map_or(0, |s| s.rw);
                }
                // Started or removed meanwhile: not ours to prune.
                Err(e) if matches!(e.class(), ErrorClass::Conflict | ErrorClass::NotFound) => {}
                Err(e) => return Err(e.into()),
            }
        }
        self.events().emit(
            Event::new(EventType::Container, "prune", "")
                .attr("reclaimed", report.space_reclaimed.to_string()),
        );
        Ok(report)
    }

    /// `docker image prune`: removes images no container uses (untagged
    /// ones only with `dangling_only`) that pass `until` and the labels.
    pub fn prune_images(&self, filters: &PruneFilters) -> Result<PruneReport, PruneError> {
        let images = self.images().list()?;
        let before = distinct_layers_size(&images);
        let used: Vec<String> = self
            .containers()
            .list()
            .into_iter()
            .map(|c| c.image)
            .collect();
        let mut report = PruneReport::default();
        for d in &images {
            let id = d.record.id.to_string();
            let dangling = d.repo_tags.is_empty();
            let labels = d
                .config
                .config
                .as_ref()
                .and_then(|c| c.labels.clone())
                .unwrap_or_default();
            if used.contains(&id)
                || (filters.dangling_only && !dangling)
                || !filters.before_until(d.config.created.as_deref())
                || !filters.labels_match(&labels)
            {
                continue;
            }
            // By reference, so each tag's removal is reported (and the
            // image goes with its last one); an untagged image by ID.
            let names: Vec<String> = if dangling {
                vec![id.clone()]
            } else {
                d.repo_tags.iter().map(ToString::to_string).collect()
            };
            for name in names {
                match self.images().delete(&name, false) {
                    Ok(items) => report.images.extend(items),
                    // In use, a parent, or gone meanwhile: kept.
                    Err(e) if e.class() != ErrorClass::Internal => {}
                    Err(e) => return Err(e.into()),
                }
            }
        }
        let after = distinct_layers_size(&self.images().list()?);
        report.space_reclaimed = before.saturating_sub(after);
        self.events().emit(
            Event::new(EventType::Image, "prune", "")
                .attr("reclaimed", report.space_reclaimed.to_string()),
        );
        Ok(report)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(pairs: &[(&str, &str)]) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for (k, v) in pairs {
            m.entry((*k).to_owned()).or_default().push((*v).to_owned());
        }
        m
    }

    #[test]
    fn filters_as_dockerd() {
        // The API layer reads docker's times; here, plain nanoseconds.
        let time = |v: &str| v.parse::<i128>().ok();
        let accepted = ["until", "label", "label!", "dangling"];
        let f = PruneFilters::parse(&map(&[("until", "1700")]), &accepted, time).unwrap();
        assert_eq!(f.until, Some(1700));
        assert!(f.dangling_only);
        assert_eq!(
            PruneFilters::parse(&map(&[("until", "soon")]), &accepted, time)
                .unwrap_err()
                .to_string(),
            "invalid filter 'until=soon'"
        );
        assert_eq!(
            PruneFilters::parse(&map(&[("until", "1"), ("until", "2")]), &accepted, time)
                .unwrap_err()
                .to_string(),
            "invalid filter 'until: more than one value'"
        );
        assert_eq!(
            PruneFilters::parse(&map(&[("nope", "x")]), &accepted, time)
                .unwrap_err()
                .to_string(),
            "invalid filter 'nope'"
        );
        let f = PruneFilters::parse(&map(&[("dangling", "false")]), &accepted, time).unwrap();
        assert!(!f.dangling_only);
        let pairs = [("dangling", "maybe"), ("dangling", "true")];
        assert!(
            PruneFilters::parse(&map(&pairs), &accepted, time)
                .unwrap()
                .dangling_only
        );
        let bad = |pairs: &[(&str, &str)]| {
            PruneFilters::parse(&map(pairs), &accepted, time)
                .unwrap_err()
                .to_string()
        };
        assert_eq!(
            bad(&[("dangling", "maybe")]),
            "invalid filter 'dangling=maybe'"
        );
        assert_eq!(
            bad(&[("dangling", "true"), ("dangling", "0")]),
            "invalid filter 'dangling=true,0'"
        );

        let labels = BTreeMap::from([("a".to_owned(), "1".to_owned())]);
        let f = |pairs: &[(&str, &str)]| PruneFilters::parse(&map(pairs), &accepted, time).unwrap();
        assert!(f(&[]).labels_match(&labels));
        assert!(f(&[("label", "a")]).labels_match(&labels));
        assert!(f(&[("label", "a=1")]).labels_match(&labels));
        assert!(!f(&[("label", "a=2")]).labels_match(&labels));
        assert!(!f(&[("label", "a"), ("label", "b")]).labels_match(&labels));
        assert!(!f(&[("label!", "a")]).labels_match(&labels));
        assert!(f(&[("label!", "a=2")]).labels_match(&labels));
        assert!(f(&[("label!", "b")]).labels_match(&BTreeMap::new()));
        // 2023-11-14 and 2019-01-01, in nanoseconds.
        let until_2023 = f(&[("until", "1700000000000000000")]);
        assert!(until_2023.before_until(Some("2020-01-01T00:00:00Z")));
        assert!(!until_2023.before_until(None));
        let until_2019 = f(&[("until", "1546300800000000000")]);
        assert!(!until_2019.before_until(Some("2020-01-01T00:00:00Z")));
    }
}
