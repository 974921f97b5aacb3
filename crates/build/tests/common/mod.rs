//! An in-memory executor: it records every call and makes image IDs from
//! hashes of the parent and the step, so the builder's decisions can be
//! checked without an engine (the real one is tested in `berth-engine`).

#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::path::Path;

use berth_build::{
    BuildError, BuildRequest, BuildResult, CopyStep, ExecError, ImageState, Progress, RunStep,
    StepExecutor,
};
use berth_image::spec::{ContainerConfig, History, ImageConfig};
use sha2::{Digest as _, Sha256};

#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Base(String, Option<String>),
    Cached(String),
    Run(RunStep),
    Copy(CopyStep),
    Config(ContainerConfig, History, Option<String>),
    Tag(String),
}

#[derive(Default)]
pub struct Fake {
    pub calls: Vec<Call>,
    /// Images `base_image` knows.
    pub images: BTreeMap<String, ImageState>,
    /// cache key -> image, filled by every committing call.
    pub cache: BTreeMap<String, ImageState>,
    /// RUN argv (joined) -> exit code.
    pub fail: BTreeMap<String, i64>,
}

fn id_of(parts: &[&str]) -> String {
    let mut h = Sha256::new();
    for p in parts {
        h.update(p.as_bytes());
        h.update([0]);
    }
    format!("sha256:{}", hex::encode(h.finalize()))
}

impl Fake {
    pub fn with_image(mut self, name: &str, config: ContainerConfig) -> Self {
        let img = ImageState {
            id: Some(id_of(&["base", name])),
            config: ImageConfig {
                architecture: "amd64".into(),
                os: "linux".into(),
                config: Some(config),
                ..ImageConfig::default()
            },
        };
        self.images.insert(name.to_owned(), img);
        self
    }

    fn child(
        &mut self,
        parent: &ImageState,
        config: ContainerConfig,
        history: History,
        key: &str,
    ) -> ImageState {
        let mut ic = parent.config.clone();
        ic.config = Some(config);
        let mut h = ic.history.clone().unwrap_or_default();
        h.push(history);
        ic.history = Some(h);
        let img = ImageState {
            id: Some(id_of(&[parent.id.as_deref().unwrap_or(""), key])),
            config: ic,
        };
        self.cache.insert(key.to_owned(), img.clone());
        img
    }

    pub fn runs(&self) -> Vec<&RunStep> {
        self.calls
            .iter()
            .filter_map(|c| if let Call::Run(r) = c { Some(r) } else { None })
            .collect()
    }

    pub fn copies(&self) -> Vec<&CopyStep> {
        self.calls
            .iter()
            .filter_map(|c| if let Call::Copy(r) = c { Some(r) } else { None })
            .collect()
    }

    pub fn history(&self) -> Vec<String> {
        self.calls
            .iter()
            .filter_map(|c| match c {
                Call::Run(r) => r.history.created_by.clone(),
                Call::Copy(r) => r.history.created_by.clone(),
                Call::Config(_, h, _) => h.created_by.clone(),
                _ => None,
            })
            .collect()
    }
}

impl StepExecutor for Fake {
    fn base_image(
        &mut self,
        reference: &str,
        platform: Option<&str>,
        _pull: bool,
        _progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError> {
        self.calls.push(Call::Base(
            reference.to_owned(),
            platform.map(str::to_owned),
        ));
        self.images
            .get(reference)
            .cloned()
            .ok_or_else(|| ExecError::ImageNotFound(format!("pull access denied for {reference}, repository does not exist or may require 'docker login'")))
    }

    fn cached(
        &mut self,
        _parent: &ImageState,
        cache_key: &str,
    ) -> Result<Option<ImageState>, ExecError> {
        self.calls.push(Call::Cached(cache_key.to_owned()));
        Ok(self.cache.get(cache_key).cloned())
    }

    fn run(
        &mut self,
        parent: &ImageState,
        step: &RunStep,
        progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError> {
        self.calls.push(Call::Run(step.clone()));
        progress.text(" ---> Running in 0123456789ab\n");
        let joined = step.argv.join(" ");
        if let Some(code) = self.fail.get(&joined) {
            return Err(ExecError::CommandFailed {
                command: joined,
                code: *code,
            });
        }
        progress.text("Removing intermediate container 0123456789ab\n");
        Ok(self.child(
            parent,
            step.config.clone(),
            step.history.clone(),
            &step.cache_key,
        ))
    }

    fn copy(
        &mut self,
        parent: &ImageState,
        step: &CopyStep,
        _context: &Path,
        _progress: &mut dyn Progress,
    ) -> Result<ImageState, ExecError> {
        self.calls.push(Call::Copy(step.clone()));
        Ok(self.child(
            parent,
            step.config.clone(),
            step.history.clone(),
            &step.cache_key,
        ))
    }

    fn commit_config(
        &mut self,
        parent: &ImageState,
        config: ContainerConfig,
        history: History,
        mkdir: Option<&str>,
        cache_key: &str,
    ) -> Result<ImageState, ExecError> {
        self.calls.push(Call::Config(
            config.clone(),
            history.clone(),
            mkdir.map(str::to_owned),
        ));
        Ok(self.child(parent, config, history, cache_key))
    }

    fn tag(&mut self, _image: &ImageState, reference: &str) -> Result<(), ExecError> {
        self.calls.push(Call::Tag(reference.to_owned()));
        Ok(())
    }
}

pub fn busybox() -> ContainerConfig {
    ContainerConfig {
        env: Some(vec![
            "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into(),
        ]),
        cmd: Some(vec!["sh".into()]),
        ..ContainerConfig::default()
    }
}

pub fn request(dockerfile: &str, context: &Path) -> BuildRequest {
    BuildRequest {
        dockerfile: dockerfile.to_owned(),
        dockerfile_name: "Dockerfile".into(),
        context: context.to_owned(),
        ..BuildRequest::default()
    }
}

pub fn build(req: &BuildRequest, fake: &mut Fake) -> (Result<BuildResult, BuildError>, String) {
    let mut out: Vec<u8> = Vec::new();
    let r = berth_build::build(req, fake, &mut out);
    (r, String::from_utf8(out).unwrap())
}

pub fn config(r: &BuildResult) -> ContainerConfig {
    r.image.container_config()
}

/// Replaces every ` ---> <12 hex>` with ` ---> ID` and `Successfully built <hex>` likewise.
pub fn scrub(out: &str) -> String {
    out.lines()
        .map(|l| {
            if let Some(rest) = l.strip_prefix(" ---> ")
                && rest.len() == 12
                && rest.chars().all(|c| c.is_ascii_hexdigit())
            {
                return " ---> ID".to_owned();
            }
            if let Some(rest) = l.strip_prefix("Successfully built ")
                && rest.len() == 12
            {
                return "Successfully built ID".to_owned();
            }
            l.to_owned()
        })
        .collect::<Vec<_>>()
        .join("\n")
        + "\n"
}
