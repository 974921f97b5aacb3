//! The build driver: stages, `--target`, build args, the image config each
//! instruction yields, history strings, cache probing and the classic
//! builder's progress text. Everything that touches containers or layers
//! goes through the [`StepExecutor`].

use std::collections::{BTreeMap, BTreeSet};

use berth_image::spec::{ContainerConfig, Empty, HealthConfig, History};

use crate::args::BuildArgs;
use crate::cache;
use crate::context::Context;
use crate::executor::{CopySource, CopyStep, ImageState, Progress, RunStep, StepExecutor};
use crate::expand::{Env, Lex};
use crate::gofmt;
use crate::instructions::{
    self, CmdLine, Command, CopyInstruction, Dockerfile, Instruction, Stage,
};
use crate::request::{BuildError, BuildRequest, BuildResult};

/// The `PATH` Docker gives an image that has none.
pub const DEFAULT_PATH: &str = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

const DEFAULT_SHELL: [&str; 2] = ["/bin/sh", "-c"];

/// Builds `req` with `exec`, writing the classic builder's text to
/// `progress`.
pub fn build(
    req: &BuildRequest,
    exec: &mut dyn StepExecutor,
    progress: &mut dyn Progress,
) -> Result<BuildResult, BuildError> {
    let dockerfile = instructions::parse(&req.dockerfile)?;
    let mut b = Builder {
        req,
        exec,
        progress,
        lex: Lex::new(dockerfile.escape),
        escape: dockerfile.escape,
        results: BTreeMap::new(),
        context: Context::new(&req.context),
    };
    b.run(dockerfile)
}

/// Short image ID as Docker prints it (12 hex digits, no `sha256:`).
pub fn short_id(id: Option<&str>) -> String {
    let id = id.unwrap_or("");
    let hex = id.strip_prefix("sha256:").unwrap_or(id);
    hex.chars().take(12).collect()
}

struct Builder<'a> {
    req: &'a BuildRequest,
    exec: &'a mut dyn StepExecutor,
    progress: &'a mut dyn Progress,
    lex: Lex,
    escape: char,
    /// Built stages by index, with their names.
    results: BTreeMap<usize, (Option<String>, ImageState)>,
    context: Context,
}

/// The state of the stage being built.
struct StageState {
    image: ImageState,
    config: ContainerConfig,
    args: BuildArgs,
    cmd_set: bool,
    maintainer: Option<String>,
    cache_busted: bool,
    index: usize,
}

fn invalid(message: impl Into<String>) -> BuildError {
    BuildError::Invalid(message.into())
}

fn env_of(config: &ContainerConfig) -> Vec<String> {
    config.env.clone().unwrap_or_default()
}

impl Builder<'_> {
    fn say(&mut self, text: &str) {
        self.progress.text(text);
    }

    fn run(&mut self, df: Dockerfile) -> Result<BuildResult, BuildError> {
        for w in &df.warnings {
            let w = format!("{w}\n");
            self.say(&w);
        }
        if df.stages.is_empty() {
            return Err(invalid("No image was generated. Is your Dockerfile empty?"));
        }
        // Global ARGs.
        let mut global = BuildArgs::new(&self.req.build_args);
        for meta in &df.meta_args {
            let Instruction::Arg(pairs) = &meta.instruction else {
                continue;
            };
            let env = map_env(&global.all_allowed());
            for (k, v) in pairs {
                let k = self.expand(k, &env)?;
                let v = match v {
                    Some(v) => Some(self.expand(v, &env)?),
                    None => None,
                };
                global.add_arg(&k, v.clone());
                global.add_meta_arg(&k, v);
            }
        }
        let meta_env = map_env(&global.all_meta());

        // The target and the stages it needs.
        let target = match &self.req.target {
            Some(t) if !t.is_empty() => df
                .stages
                .iter()
                .position(|s| s.name.as_deref().is_some_and(|n| n.eq_ignore_ascii_case(t)))
                .ok_or_else(|| {
                    invalid(format!("failed to reach build target {t} in Dockerfile"))
                })?,
            _ => df.stages.len() - 1,
        };
        let mut seen_names = BTreeSet::new();
        for s in &df.stages[..=target] {
            if let Some(n) = &s.name
                && !seen_names.insert(n.clone())
            {
                return Err(invalid(format!("{n} stage name already used")));
            }
        }
        let needed = self.needed_stages(&df.stages, target, &meta_env)?;

        let total = df.meta_args.len()
            + needed
                .iter()
                .map(|&i| 1 + df.stages[i].commands.len())
                .sum::<usize>()
            + self.req.labels.len();
        let mut step = 1;
        for meta in &df.meta_args {
            let t = format!("Step {step}/{total} : {}\n", meta.code);
            self.say(&t);
            step += 1;
        }

        let mut last: Option<StageState> = None;
        for &index in &needed {
            let stage = &df.stages[index];
            let t = format!("Step {step}/{total} : {}\n", stage.code);
            self.say(&t);
            step += 1;
            let mut st = self.init_stage(index, stage, &global, &meta_env)?;
            let t = format!(" ---> {}\n", short_id(st.image.id.as_deref()));
            self.say(&t);
            for cmd in &stage.commands {
                let t = format!("Step {step}/{total} : {}\n", cmd.code);
                self.say(&t);
                step += 1;
                self.dispatch(&mut st, cmd)?;
                let t = format!(" ---> {}\n", short_id(st.image.id.as_deref()));
                self.say(&t);
            }
            if index == target {
                // `--label k=v`: one `LABEL k=v` step per label (sorted),
                // not expanded, at the end of the target stage, as Docker
                // adds them.
                let labels = self.req.labels.clone();
                for (k, v) in labels {
                    let t = format!("Step {step}/{total} : LABEL {k}={v}\n");
                    self.say(&t);
                    step += 1;
                    self.label(&mut st, vec![(k, v)])?;
                    let t = format!(" ---> {}\n", short_id(st.image.id.as_deref()));
                    self.say(&t);
                }
            }
            global.merge_referenced(&st.args);
            self.results
                .insert(index, (stage.name.clone(), st.image.clone()));
            last = Some(st);
        }
        let Some(last) = last else {
            return Err(invalid("No image was generated. Is your Dockerfile empty?"));
        };
        let unused = global.unused();
        if !unused.is_empty() {
            let t = format!(
                "[Warning] One or more build-args {} were not consumed\n",
                gofmt::slice(&unused)
            );
            self.say(&t);
        }
        let image = last.image;
        if image.id.is_none() {
            return Err(invalid("No image was generated. Is your Dockerfile empty?"));
        }
        let t = format!("Successfully built {}\n", short_id(image.id.as_deref()));
        self.say(&t);
        for tag in &self.req.tags {
            self.exec.tag(&image, tag)?;
            let shown = berth_image::reference::Reference::parse_normalized(tag)
                .map(|r| r.with_default_tag().familiar_string())
                .unwrap_or_else(|_| tag.clone());
            let t = format!("Successfully tagged {shown}\n");
            self.say(&t);
        }
        Ok(BuildResult { image })
    }

    /// The stages `target` needs, in order: itself and, transitively, the
    /// stages its `FROM` and `COPY --from` name.
    fn needed_stages(
        &self,
        stages: &[Stage],
        target: usize,
        meta_env: &Env,
    ) -> Result<Vec<usize>, BuildError> {
        let by_name = |name: &str, before: usize| -> Option<usize> {
            let name = name.to_lowercase();
            stages[..before]
                .iter()
                .position(|s| s.name.as_deref() == Some(name.as_str()))
        };
        let mut needed = BTreeSet::new();
        let mut todo = vec![target];
        while let Some(i) = todo.pop() {
            if !needed.insert(i) {
                continue;
            }
            let stage = &stages[i];
            let base = self.expand(&stage.base, meta_env)?;
            if let Some(j) = by_name(&base, i) {
                todo.push(j);
            }
            for cmd in &stage.commands {
                if let Instruction::Copy(CopyInstruction { from: Some(f), .. }) = &cmd.instruction {
                    if let Some(j) = by_name(f, i) {
                        todo.push(j);
                    } else if let Ok(n) = f.parse::<usize>()
                        && n < i
                    {
                        todo.push(n);
                    }
                }
            }
        }
        Ok(needed.into_iter().collect())
    }

    fn expand(&self, word: &str, env: &Env) -> Result<String, BuildError> {
        self.lex
            .process_word(word, env)
            .map_err(|e| invalid(e.to_string()))
    }

    fn init_stage(
        &mut self,
        index: usize,
        stage: &Stage,
        global: &BuildArgs,
        meta_env: &Env,
    ) -> Result<StageState, BuildError> {
        let platform = match &stage.platform {
            Some(p) => Some(self.expand(p, meta_env)?).filter(|p| !p.is_empty()),
            None => None,
        }
        .or_else(|| self.req.platform.clone());
        let name = self.expand(&stage.base, meta_env)?;
        if name.is_empty() {
            return Err(invalid(format!(
                "base name ({}) should not be blank",
                stage.base
            )));
        }
        let lower = name.to_lowercase();
        let earlier = self
            .results
            .range(..index)
            .find(|(_, (n, _))| n.as_deref() == Some(lower.as_str()))
            .map(|(_, (_, img))| img.clone());
        let image = match earlier {
            Some(img) => img,
            None if name == "scratch" => {
                let mut img = ImageState::scratch();
                // `FROM --platform=os/arch[/variant] scratch` makes an
                // image for that platform.
                if let Some(p) = &platform {
                    let mut parts = p.split('/');
                    if let (Some(os), Some(arch)) = (parts.next(), parts.next()) {
                        img.config.os = os.to_owned();
                        img.config.architecture = arch.to_owned();
                        img.config.variant = parts.next().map(str::to_owned);
                    }
                }
                img
            }
            None => self.exec.base_image(
                &name,
                platform.as_deref(),
                self.req.pull,
                &mut *self.progress,
            )?,
        };
        let mut config = image.container_config();
        let mut env = env_of(&config);
        if !env.iter().any(|e| e.split('=').next() == Some("PATH")) {
            env.push(DEFAULT_PATH.to_owned());
        }
        config.env = Some(env);
        let triggers = config.on_build.take().unwrap_or_default();
        let mut st = StageState {
            image,
            config,
            args: global.for_stage(),
            cmd_set: false,
            maintainer: None,
            cache_busted: false,
            index,
        };
        if !triggers.is_empty() {
            let t = format!(
                "# Executing {} build trigger{}\n",
                triggers.len(),
                if triggers.len() > 1 { "s" } else { "" }
            );
            self.say(&t);
            for trigger in &triggers {
                let cmd = instructions::parse_trigger(trigger, self.escape).map_err(|e| {
                    invalid(format!(
                        "failed to process ONBUILD trigger {trigger:?} of the base image: {e}"
                    ))
                })?;
                self.dispatch(&mut st, &cmd)?;
            }
        }
        Ok(st)
    }

    /// The shell of the stage (for shell forms and history comments).
    fn shell(st: &StageState) -> Vec<String> {
        match &st.config.shell {
            Some(s) if !s.is_empty() => s.clone(),
            _ => DEFAULT_SHELL.iter().map(|s| (*s).to_owned()).collect(),
        }
    }

    fn resolve_cmd(st: &StageState, cl: &CmdLine) -> Vec<String> {
        if cl.prepend_shell {
            let mut v = Self::shell(st);
            v.extend(cl.args.iter().cloned());
            v
        } else {
            cl.args.clone()
        }
    }

    /// Looks the step up in the cache; on a hit the stage moves to the
    /// cached image.
    fn probe(&mut self, st: &mut StageState, key: &str) -> Result<bool, BuildError> {
        if self.req.no_cache || st.cache_busted {
            return Ok(false);
        }
        match self.exec.cached(&st.image, key)? {
            Some(img) => {
                self.say(" ---> Using cache\n");
                st.image = img;
                Ok(true)
            }
            None => {
                st.cache_busted = true;
                Ok(false)
            }
        }
    }

    fn history(st: &StageState, created_by: String, empty: bool) -> History {
        History {
            created_by: Some(created_by),
            author: st.maintainer.clone(),
            empty_layer: empty.then_some(true),
            ..History::default()
        }
    }

    /// Commits a config-only step (`/bin/sh -c #(nop)  <comment>`).
    fn commit(
        &mut self,
        st: &mut StageState,
        comment: &str,
        mkdir: Option<String>,
    ) -> Result<(), BuildError> {
        let shell = Self::shell(st).join(" ");
        let created_by = if mkdir.is_some() {
            format!("{shell} #(nop) {comment}")
        } else {
            format!("{shell} #(nop)  {comment}")
        };
        let key = cache::step_key(&st.image, &created_by, &st.config, mkdir.as_deref());
        if self.probe(st, &key)? {
            return Ok(());
        }
        let history = Self::history(st, created_by, true);
        st.image = self.exec.commit_config(
            &st.image,
            st.config.clone(),
            history,
            mkdir.as_deref(),
            &key,
        )?;
        Ok(())
    }

    /// `LABEL` with its pairs already expanded.
    fn label(
        &mut self,
        st: &mut StageState,
        pairs: Vec<(String, String)>,
    ) -> Result<(), BuildError> {
        let mut comment = String::from("LABEL");
        let mut labels = st.config.labels.clone().unwrap_or_default();
        for (k, v) in pairs {
            comment.push_str(&format!(" {k}={v}"));
            labels.insert(k, v);
        }
        st.config.labels = Some(labels);
        self.commit(st, &comment, None)
    }

    fn dispatch(&mut self, st: &mut StageState, cmd: &Command) -> Result<(), BuildError> {
        let env_list = env_of(&st.config);
        let mut all = env_list.clone();
        all.extend(st.args.filter_allowed(&env_list));
        let env = Env::from_list(&all);
        let x = |b: &Self, w: &str| b.expand(w, &env);
        match &cmd.instruction {
            Instruction::Env(pairs) => {
                let mut comment = String::from("ENV");
                let mut list = env_of(&st.config);
                for (k, v) in pairs {
                    let k = x(self, k)?;
                    let v = x(self, v)?;
                    let new = format!("{k}={v}");
                    comment.push(' ');
                    comment.push_str(&new);
                    match list
                        .iter_mut()
                        .find(|e| e.split('=').next() == Some(k.as_str()))
                    {
                        Some(slot) => *slot = new,
                        None => list.push(new),
                    }
                }
                st.config.env = Some(list);
                self.commit(st, &comment, None)
            }
            Instruction::Arg(pairs) => {
                let mut comment = String::from("ARG ");
                for (i, (k, v)) in pairs.iter().enumerate() {
                    let k = x(self, k)?;
                    let v = match v {
                        Some(v) => Some(x(self, v)?),
                        None => None,
                    };
                    if i > 0 {
                        comment.push(' ');
                    }
                    comment.push_str(&k);
                    if let Some(v) = &v {
                        comment.push('=');
                        comment.push_str(v);
                    }
                    st.args.add_arg(&k, v);
                }
                self.commit(st, &comment, None)
            }
            Instruction::Label(pairs) => {
                let mut expanded = Vec::new();
                for (k, v) in pairs {
                    expanded.push((x(self, k)?, x(self, v)?));
                }
                self.label(st, expanded)
            }
            Instruction::Maintainer(m) => {
                st.maintainer = Some(m.clone());
                self.commit(st, &format!("MAINTAINER {m}"), None)
            }
            Instruction::Expose(ports) => {
                let mut words = Vec::new();
                for p in ports {
                    let w = self
                        .lex
                        .process_words(p, &env)
                        .map_err(|e| invalid(e.to_string()))?;
                    words.extend(w);
                }
                let specs = parse_port_specs(&words).map_err(invalid)?;
                let mut exposed = st.config.exposed_ports.clone().unwrap_or_default();
                for s in specs {
                    exposed.insert(s, Empty::default());
                }
                st.config.exposed_ports = Some(exposed);
                self.commit(st, &format!("EXPOSE {}", words.join(" ")), None)
            }
            Instruction::User(u) => {
                let u = x(self, u)?;
                st.config.user = Some(u.clone());
                self.commit(st, &format!("USER {u}"), None)
            }
            Instruction::Workdir(p) => {
                let p = x(self, p)?;
                if p.is_empty() {
                    return Err(invalid("cannot normalize nothing".to_owned()));
                }
                let dir = if p.starts_with('/') {
                    p
                } else {
                    let cur = st.config.working_dir.clone().unwrap_or_default();
                    clean_abs(&format!("/{cur}/{p}"))
                };
                st.config.working_dir = Some(dir.clone());
                self.commit(st, &format!("WORKDIR {dir}"), Some(dir))
            }
            Instruction::Volume(vols) => {
                let mut expanded = Vec::new();
                let mut volumes = st.config.volumes.clone().unwrap_or_default();
                for v in vols {
                    let v = x(self, v)?;
                    if v.is_empty() {
                        return Err(invalid(
                            "VOLUME specified can not be an empty string".to_owned(),
                        ));
                    }
                    volumes.insert(v.clone(), Empty::default());
                    expanded.push(v);
                }
                st.config.volumes = Some(volumes);
                self.commit(st, &format!("VOLUME {}", gofmt::slice(&expanded)), None)
            }
            Instruction::StopSignal(s) => {
                let s = x(self, s)?;
                if !valid_signal(&s) {
                    return Err(invalid(format!("Invalid signal: {s}")));
                }
                st.config.stop_signal = Some(s.clone());
                self.commit(st, &format!("STOPSIGNAL {s}"), None)
            }
            Instruction::Cmd(cl) => {
                let c = Self::resolve_cmd(st, cl);
                st.config.cmd = Some(c.clone());
                st.config.args_escaped = None;
                self.commit(st, &format!("CMD {}", gofmt::quote_slice(&c)), None)?;
                if !cl.args.is_empty() {
                    st.cmd_set = true;
                }
                Ok(())
            }
            Instruction::Entrypoint(cl) => {
                let c = Self::resolve_cmd(st, cl);
                st.config.entrypoint = if c.is_empty() { None } else { Some(c.clone()) };
                st.config.args_escaped = None;
                if !st.cmd_set {
                    st.config.cmd = None;
                }
                self.commit(st, &format!("ENTRYPOINT {}", gofmt::quote_slice(&c)), None)
            }
            Instruction::Shell(s) => {
                st.config.shell = Some(s.clone());
                self.commit(st, &format!("SHELL {}", gofmt::slice(s)), None)
            }
            Instruction::Healthcheck(h) => {
                if let Some(old) = st.config.healthcheck.as_ref().and_then(|h| h.test.clone())
                    && old.first().is_some_and(|t| t != "NONE")
                {
                    let t = format!(
                        "Note: overriding previous HEALTHCHECK: {}\n",
                        gofmt::slice(&old)
                    );
                    self.say(&t);
                }
                let nz = |v: i64| (v != 0).then_some(v);
                st.config.healthcheck = Some(HealthConfig {
                    test: Some(h.test.clone()),
                    interval: nz(h.interval),
                    timeout: nz(h.timeout),
                    start_period: nz(h.start_period),
                    start_interval: nz(h.start_interval),
                    retries: nz(h.retries),
                });
                let comment = format!(
                    "HEALTHCHECK &{{{} {} {} {} {} {}}}",
                    gofmt::quote_slice(&h.test),
                    gofmt::quote(&gofmt::duration(h.interval)),
                    gofmt::quote(&gofmt::duration(h.timeout)),
                    gofmt::quote(&gofmt::duration(h.start_period)),
                    gofmt::quote(&gofmt::duration(h.start_interval)),
                    gofmt::quote_rune(h.retries),
                );
                self.commit(st, &comment, None)
            }
            Instruction::Onbuild(expr) => {
                let mut list = st.config.on_build.clone().unwrap_or_default();
                list.push(expr.clone());
                st.config.on_build = Some(list);
                self.commit(st, &format!("ONBUILD {expr}"), None)
            }
            Instruction::Run { cmd: cl, network } => {
                let argv = Self::resolve_cmd(st, cl);
                let env_list = env_of(&st.config);
                let build_env = st.args.filter_allowed(&env_list);
                let mut save = argv.clone();
                if !build_env.is_empty() {
                    let shown: Vec<String> = build_env
                        .iter()
                        .filter(|e| {
                            let k = e.split('=').next().unwrap_or("");
                            st.args.is_referenced_or_not_builtin(k)
                        })
                        .cloned()
                        .collect();
                    let mut v = vec![format!("|{}", shown.len())];
                    v.extend(shown);
                    v.extend(argv.iter().cloned());
                    save = v;
                }
                let created_by = save.join(" ");
                let key = cache::step_key(&st.image, &created_by, &st.config, None);
                if self.probe(st, &key)? {
                    return Ok(());
                }
                let mut run_env = env_list;
                run_env.extend(build_env);
                let step = RunStep {
                    argv,
                    env: run_env,
                    config: st.config.clone(),
                    history: Self::history(st, created_by, false),
                    network: network.clone().or_else(|| self.req.network.clone()),
                    cache_key: key,
                };
                st.image = self.exec.run(&st.image, &step, &mut *self.progress)?;
                Ok(())
            }
            Instruction::Copy(c) => self.copy(st, c, false, &env),
            Instruction::Add(c) => self.copy(st, c, true, &env),
        }
    }

    fn copy(
        &mut self,
        st: &mut StageState,
        c: &CopyInstruction,
        is_add: bool,
        env: &Env,
    ) -> Result<(), BuildError> {
        let name = if is_add { "ADD" } else { "COPY" };
        let failed = |m: String| invalid(format!("{name} failed: {m}"));
        let mut sources = Vec::new();
        for s in &c.sources {
            sources.push(self.expand(s, env)?);
        }
        let dest = self.expand(&c.dest, env)?;
        let chown = match &c.chown {
            Some(s) => Some(self.expand(s, env)?).filter(|s| !s.is_empty()),
            None => None,
        };
        let chmod = match &c.chmod {
            Some(s) => {
                let s = self.expand(s, env)?;
                if s.is_empty() {
                    None
                } else {
                    Some(
                        u32::from_str_radix(&s, 8)
                            .ok()
                            .filter(|m| *m <= 0o7777)
                            .ok_or_else(|| invalid(format!("invalid chmod parameter: {s}")))?,
                    )
                }
            }
            None => None,
        };

        // Where the sources come from.
        let from = match &c.from {
            None => None,
            Some(f) => Some(self.copy_from(st, f)?),
        };

        let mut urls = Vec::new();
        let mut local = Vec::new();
        for s in sources {
            if s.starts_with("http://") || s.starts_with("https://") {
                if !is_add {
                    return Err(failed(format!("source can't be a URL for {name}")));
                }
                urls.push(s);
            } else {
                local.push(s);
            }
        }

        let mut hashes = Vec::new();
        let mut paths = Vec::new();
        let mut content = String::new();
        match &from {
            None => {
                for s in &local {
                    let matched = self
                        .context
                        .match_source(s)
                        .map_err(|e| failed(e.to_string()))?;
                    for m in matched {
                        content.push_str(&format!("{}\0{}\0", m.path, m.hash));
                        hashes.push(m.hash);
                        paths.push(m.path);
                    }
                }
            }
            Some(img) => {
                let id = img.id.clone().unwrap_or_default();
                for s in &local {
                    content.push_str(&format!("{id}\0{s}\0"));
                    hashes.push(cache::hash_strings("file", &[id.clone(), s.clone()]));
                    paths.push(s.clone());
                }
            }
        }
        for u in &urls {
            hashes.push(cache::hash_strings("url", std::slice::from_ref(u)));
        }
        let count = hashes.len();
        if count == 0 {
            return Err(failed("no source files were specified".to_owned()));
        }
        if count > 1 && !dest.ends_with('/') {
            return Err(invalid(format!(
                "When using {name} with more than one source file, the destination must be a directory and end with a /"
            )));
        }
        let src_hash = if count == 1 {
            hashes[0].clone()
        } else {
            cache::hash_strings("multi", &hashes)
        };
        let chown_comment = chown
            .as_ref()
            .map(|c| format!("--chown={c}"))
            .unwrap_or_default();
        let comment = format!("{name} {chown_comment}{src_hash} in {dest} ");
        let created_by = format!("{} #(nop) {comment}", Self::shell(st).join(" "));

        let full_dest = if dest.starts_with('/') {
            dest.clone()
        } else {
            let cur = st.config.working_dir.clone().unwrap_or_default();
            let mut d = clean_abs(&format!("/{cur}/{dest}"));
            if dest.ends_with('/') && !d.ends_with('/') {
                d.push('/');
            }
            d
        };
        if let Some(m) = chmod {
            content.push_str(&format!("chmod={m:o}\0"));
        }
        content.push_str(&full_dest);
        let key = cache::step_key(&st.image, &created_by, &st.config, Some(&content));
        if urls.is_empty() {
            if self.probe(st, &key)? {
                return Ok(());
            }
        } else {
            // Remote content can change: Docker re-downloads; berth does not
            // reuse such a step.
            st.cache_busted = true;
        }
        let step = CopyStep {
            from: match from {
                None => CopySource::Context,
                Some(img) => CopySource::Image(Box::new(img)),
            },
            sources: paths,
            urls,
            dest: full_dest,
            chown,
            chmod,
            extract_archives: is_add,
            config: st.config.clone(),
            history: Self::history(st, created_by, false),
            cache_key: key,
        };
        st.image = self
            .exec
            .copy(&st.image, &step, &self.req.context, &mut *self.progress)?;
        Ok(())
    }

    /// `COPY --from=`: an earlier stage by name or index, else an image.
    fn copy_from(&mut self, st: &StageState, from: &str) -> Result<ImageState, BuildError> {
        let lower = from.to_lowercase();
        if let Some((_, (_, img))) = self
            .results
            .range(..st.index)
            .find(|(_, (n, _))| n.as_deref() == Some(lower.as_str()))
        {
            return Ok(img.clone());
        }
        if let Ok(n) = from.parse::<i64>() {
            let bad = |why: &str| invalid(format!("invalid from flag value {from}: {why}"));
            let Ok(i) = usize::try_from(n) else {
                return Err(bad("index out of bounds"));
            };
            if i == st.index {
                return Err(bad("refers to current build stage"));
            }
            return match self.results.get(&i).filter(|_| i < st.index) {
                Some((_, img)) => Ok(img.clone()),
                None => Err(bad("index out of bounds")),
            };
        }
        Ok(self.exec.base_image(
            from,
            self.req.platform.as_deref(),
            self.req.pull,
            &mut *self.progress,
        )?)
    }
}

fn map_env(m: &BTreeMap<String, String>) -> Env {
    let list: Vec<String> = m.iter().map(|(k, v)| format!("{k}={v}")).collect();
    Env::from_list(&list)
}

/// Cleans an absolute path lexically (`/a/./b/../c` -> `/a/c`).
fn clean_abs(p: &str) -> String {
    let mut out: Vec<&str> = Vec::new();
    for part in p.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                out.pop();
            }
            x => out.push(x),
        }
    }
    format!("/{}", out.join("/"))
}

/// `EXPOSE` port specs (`80`, `80/udp`, `8000-8010/tcp`) to
/// `port/proto` keys, as Docker's `nat.ParsePortSpecs` does.
fn parse_port_specs(specs: &[String]) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    for spec in specs {
        let (port, proto) = match spec.rsplit_once('/') {
            Some((p, proto)) => (p, proto.to_lowercase()),
            None => (spec.as_str(), "tcp".to_owned()),
        };
        if !matches!(proto.as_str(), "tcp" | "udp" | "sctp") {
            return Err(format!("invalid proto: {proto}"));
        }
        // `ip:host:container` forms: only the container part counts.
        let port = port.rsplit(':').next().unwrap_or(port);
        let bad = || format!("invalid containerPort: {port}");
        let (start, end) = match port.split_once('-') {
            Some((a, b)) => (
                a.parse::<u16>().map_err(|_| bad())?,
                b.parse::<u16>().map_err(|_| bad())?,
            ),
            None => {
                let p = port.parse::<u16>().map_err(|_| bad())?;
                (p, p)
            }
        };
        if end < start {
            return Err(bad());
        }
        for p in start..=end {
            out.push(format!("{p}/{proto}"));
        }
    }
    Ok(out)
}

const SIGNALS: &[&str] = &[
    "ABRT", "ALRM", "BUS", "CHLD", "CLD", "CONT", "FPE", "HUP", "ILL", "INT", "IO", "IOT", "KILL",
    "PIPE", "POLL", "PROF", "PWR", "QUIT", "SEGV", "STKFLT", "STOP", "SYS", "TERM", "TRAP", "TSTP",
    "TTIN", "TTOU", "URG", "USR1", "USR2", "VTALRM", "WINCH", "XCPU", "XFSZ", "UNUSED",
];

/// Docker's `signal.ParseSignal`: a number, a name with or without `SIG`,
/// or `RTMIN+n`/`RTMAX-n`.
fn valid_signal(s: &str) -> bool {
    if let Ok(n) = s.parse::<u32>() {
        return n > 0 && n <= 64;
    }
    let up = s.to_uppercase();
    let name = up.strip_prefix("SIG").unwrap_or(&up);
    if SIGNALS.contains(&name) || name == "RTMIN" || name == "RTMAX" {
        return true;
    }
    if let Some(n) = name
        .strip_prefix("RTMIN+")
        .or_else(|| name.strip_prefix("RTMAX-"))
    {
        return n.parse::<u32>().is_ok_and(|n| n <= 30);
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ports() {
        assert_eq!(
            parse_port_specs(&["80".into(), "53/UDP".into(), "8000-8002".into()]).unwrap(),
            vec!["80/tcp", "53/udp", "8000/tcp", "8001/tcp", "8002/tcp"]
        );
        assert_eq!(
            parse_port_specs(&["x".into()]).unwrap_err(),
            "invalid containerPort: x"
        );
        assert_eq!(
            parse_port_specs(&["80/foo".into()]).unwrap_err(),
            "invalid proto: foo"
        );
    }

    #[test]
    fn signals_and_paths() {
        assert!(valid_signal("SIGTERM"));
        assert!(valid_signal("term"));
        assert!(valid_signal("9"));
        assert!(!valid_signal("SIGFOO"));
        assert!(!valid_signal("0"));
        assert_eq!(clean_abs("/a/./b/../c/"), "/a/c");
        assert_eq!(clean_abs("//"), "/");
        assert_eq!(short_id(Some("sha256:0123456789abcdef")), "0123456789ab");
        assert_eq!(short_id(None), "");
    }
}
