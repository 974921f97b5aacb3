//! Typed Dockerfile instructions, checked the way Docker's
//! `frontend/dockerfile/instructions/parse.go` checks them (argument counts,
//! flags, stage names), with Docker's messages.

use crate::parser::{self, Node};
use crate::request::BuildError;

/// A parsed Dockerfile.
#[derive(Debug, Clone, PartialEq)]
pub struct Dockerfile {
    /// The escape token (`\` or `` ` ``).
    pub escape: char,
    /// `ARG`s before the first `FROM` (global scope).
    pub meta_args: Vec<Command>,
    /// The stages, in order.
    pub stages: Vec<Stage>,
    /// Parser warnings to show the user.
    pub warnings: Vec<String>,
}

/// A stage: `FROM` and the instructions up to the next `FROM`.
#[derive(Debug, Clone, PartialEq)]
pub struct Stage {
    /// The image (or earlier stage) as written, before expansion.
    pub base: String,
    /// `AS name`, lower-cased.
    pub name: Option<String>,
    /// `--platform`, before expansion.
    pub platform: Option<String>,
    /// The `FROM` line as written (for `Step 1/3 : ...`).
    pub code: String,
    /// 1-based line of the `FROM`.
    pub line: usize,
    /// The stage's instructions.
    pub commands: Vec<Command>,
}

/// One instruction with where it came from.
#[derive(Debug, Clone, PartialEq)]
pub struct Command {
    /// The line as written (for `Step 2/3 : ...`).
    pub code: String,
    /// 1-based first line.
    pub line: usize,
    /// What it says.
    pub instruction: Instruction,
}

/// The shell-or-exec argument of `RUN`, `CMD` and `ENTRYPOINT`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CmdLine {
    /// Exec form: the argv; shell form: one element, the line.
    pub args: Vec<String>,
    /// Shell form: run through the stage's `SHELL`.
    pub prepend_shell: bool,
}

/// `COPY`/`ADD`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CopyInstruction {
    /// Sources as written.
    pub sources: Vec<String>,
    /// Destination as written.
    pub dest: String,
    /// `--from` (COPY only).
    pub from: Option<String>,
    /// `--chown`.
    pub chown: Option<String>,
    /// `--chmod`.
    pub chmod: Option<String>,
    /// `--link` (accepted; the classic builder's layers are the same).
    pub link: bool,
}

/// `HEALTHCHECK`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healthcheck {
    /// `["NONE"]`, `["CMD", ...]` or `["CMD-SHELL", line]`.
    pub test: Vec<String>,
    /// Nanoseconds, 0 = default.
    pub interval: i64,
    /// Nanoseconds, 0 = default.
    pub timeout: i64,
    /// Nanoseconds, 0 = default.
    pub start_period: i64,
    /// Nanoseconds, 0 = default.
    pub start_interval: i64,
    /// 0 = default.
    pub retries: i64,
}

/// What an instruction says (arguments not yet expanded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Instruction {
    /// `RUN`.
    Run {
        /// The command.
        cmd: CmdLine,
        /// `--network`.
        network: Option<String>,
    },
    /// `CMD`.
    Cmd(CmdLine),
    /// `ENTRYPOINT`.
    Entrypoint(CmdLine),
    /// `SHELL` (always exec form).
    Shell(Vec<String>),
    /// `ENV` pairs.
    Env(Vec<(String, String)>),
    /// `ARG` names with optional defaults.
    Arg(Vec<(String, Option<String>)>),
    /// `LABEL` pairs.
    Label(Vec<(String, String)>),
    /// `EXPOSE` ports (sorted as written, as Docker does).
    Expose(Vec<String>),
    /// `USER`.
    User(String),
    /// `WORKDIR`.
    Workdir(String),
    /// `VOLUME`.
    Volume(Vec<String>),
    /// `COPY`.
    Copy(CopyInstruction),
    /// `ADD`.
    Add(CopyInstruction),
    /// `ONBUILD` and its trigger as written.
    Onbuild(String),
    /// `STOPSIGNAL`.
    StopSignal(String),
    /// `HEALTHCHECK`.
    Healthcheck(Healthcheck),
    /// `MAINTAINER`.
    Maintainer(String),
}

impl Instruction {
    /// The instruction's word, upper-case.
    pub fn name(&self) -> &'static str {
        match self {
            Self::Run { .. } => "RUN",
            Self::Cmd(_) => "CMD",
            Self::Entrypoint(_) => "ENTRYPOINT",
            Self::Shell(_) => "SHELL",
            Self::Env(_) => "ENV",
            Self::Arg(_) => "ARG",
            Self::Label(_) => "LABEL",
            Self::Expose(_) => "EXPOSE",
            Self::User(_) => "USER",
            Self::Workdir(_) => "WORKDIR",
            Self::Volume(_) => "VOLUME",
            Self::Copy(_) => "COPY",
            Self::Add(_) => "ADD",
            Self::Onbuild(_) => "ONBUILD",
            Self::StopSignal(_) => "STOPSIGNAL",
            Self::Healthcheck(_) => "HEALTHCHECK",
            Self::Maintainer(_) => "MAINTAINER",
        }
    }
}

/// Parses a Dockerfile (the fuzzing entry point: any text gives a value or
/// an error, never a panic).
pub fn parse(text: &str) -> Result<Dockerfile, BuildError> {
    let ast = parser::parse_ast(text)?;
    let mut meta_args = Vec::new();
    let mut stages: Vec<Stage> = Vec::new();
    for node in &ast.nodes {
        let err = |message: String| BuildError::Parse {
            line: node.start_line,
            message,
        };
        if node.cmd == "from" {
            stages.push(parse_from(node).map_err(err)?);
            continue;
        }
        let command = parse_command(node).map_err(err)?;
        match stages.last_mut() {
            Some(stage) => stage.commands.push(command),
            None if matches!(command.instruction, Instruction::Arg(_)) => meta_args.push(command),
            None => {
                return Err(err("no build stage in current context".to_owned()));
            }
        }
    }
    Ok(Dockerfile {
        escape: ast.escape,
        meta_args,
        stages,
        warnings: ast.warnings,
    })
}

/// Parses one instruction line that is not `FROM` (an `ONBUILD` trigger).
pub fn parse_trigger(line: &str, escape: char) -> Result<Command, BuildError> {
    let node = parser::parse_line(line, escape, 1)?;
    if node.cmd == "from" {
        return Err(BuildError::Parse {
            line: 1,
            message: "FROM isn't allowed as an ONBUILD trigger".to_owned(),
        });
    }
    parse_command(&node).map_err(|message| BuildError::Parse { line: 1, message })
}

/// Docker's pointer after a "requires BuildKit" error.
const BUILDKIT_HINT: &str = "Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled";

/// Flags an instruction accepts; anything else is `Unknown flag: x`.
struct Flags {
    values: Vec<(String, Option<String>)>,
}

impl Flags {
    /// Parses `node.flags` against the allowed names (`name` or `name?`
    /// for a boolean).
    fn parse(node: &Node, allowed: &[&str]) -> Result<Self, String> {
        let mut values: Vec<(String, Option<String>)> = Vec::new();
        for arg in &node.flags {
            let Some(arg) = arg.strip_prefix("--") else {
                return Err(format!("Arg should start with -- : {arg}"));
            };
            if arg.is_empty() {
                break;
            }
            let (name, value) = match arg.split_once('=') {
                Some((n, v)) => (n, Some(v.to_owned())),
                None => (arg, None),
            };
            let is_bool = allowed.contains(&format!("{name}?").as_str());
            if !is_bool && !allowed.contains(&name) {
                return Err(format!("Unknown flag: {name}"));
            }
            if values.iter().any(|(n, _)| n == name) {
                return Err(format!("Duplicate flag specified: {name}"));
            }
            let value = if is_bool {
                match value.as_deref().map(str::to_ascii_lowercase) {
                    None => "true".to_owned(),
                    Some(v) if v.is_empty() => {
                        return Err(format!("Missing a value on flag: {name}"));
                    }
                    Some(v) if v == "true" || v == "false" => v,
                    Some(_) => {
                        return Err(format!(
                            "Expecting boolean value for flag {name}, not: {}",
                            value.unwrap_or_default()
                        ));
                    }
                }
            } else {
                match value {
                    Some(v) => v,
                    None => return Err(format!("Missing a value on flag: {name}")),
                }
            };
            values.push((name.to_owned(), Some(value)));
        }
        Ok(Self { values })
    }

    fn get(&self, name: &str) -> Option<String> {
        self.values
            .iter()
            .find(|(n, _)| n == name)
            .and_then(|(_, v)| v.clone())
    }

    fn is_true(&self, name: &str) -> bool {
        self.get(name).as_deref() == Some("true")
    }
}

fn parse_from(node: &Node) -> Result<Stage, String> {
    let args = &node.args;
    let name = match args.len() {
        3 if args[1].eq_ignore_ascii_case("as") => {
            let name = args[2].to_lowercase();
            if !valid_stage_name(&name) {
                return Err(format!(
                    "invalid name for build stage: {}, name can't start with a number or contain symbols",
                    crate::gofmt::quote(&args[2])
                ));
            }
            Some(name)
        }
        1 => None,
        _ => return Err("FROM requires either one or three arguments".to_owned()),
    };
    let flags = Flags::parse(node, &["platform"])?;
    Ok(Stage {
        base: args[0].clone(),
        name,
        platform: flags.get("platform").filter(|p| !p.is_empty()),
        code: node.original.trim().to_owned(),
        line: node.start_line,
        commands: Vec::new(),
    })
}

/// `^[a-z][a-z0-9-_.]*$`
fn valid_stage_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '-' | '_' | '.'))
}

fn at_least_one(cmd: &str) -> String {
    format!("{cmd} requires at least one argument")
}

fn exactly_one(cmd: &str) -> String {
    format!("{cmd} requires exactly one argument")
}

fn kvps(args: &[String], cmd: &str) -> Result<Vec<(String, String)>, String> {
    if args.is_empty() {
        return Err(at_least_one(cmd));
    }
    if !args.len().is_multiple_of(2) {
        return Err(format!("Bad input to {cmd}, too many arguments"));
    }
    let mut out = Vec::new();
    for pair in args.chunks(2) {
        if pair[0].is_empty() {
            return Err(format!("{cmd} names can not be blank"));
        }
        out.push((pair[0].clone(), pair[1].clone()));
    }
    Ok(out)
}

fn cmd_line(node: &Node, empty_as_nil: bool) -> CmdLine {
    let args = if node.json {
        node.args.clone()
    } else {
        vec![node.args.join(" ")]
    };
    let args = if empty_as_nil && node.json && args.is_empty() {
        Vec::new()
    } else {
        args
    };
    CmdLine {
        args,
        prepend_shell: !node.json,
    }
}

/// A heredoc (`<<EOF`) in a RUN/COPY/ADD: BuildKit only.
fn check_heredoc(node: &Node) -> Result<(), String> {
    if node.json {
        return Ok(());
    }
    let has = node.args.iter().any(|a| {
        a.split_whitespace().any(|w| {
            let Some(rest) = w.strip_prefix("<<") else {
                return false;
            };
            let rest = rest.strip_prefix('-').unwrap_or(rest);
            let rest = rest.trim_start_matches(['"', '\'']);
            rest.chars()
                .next()
                .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        })
    });
    if has {
        return Err(format!(
            "{} uses a heredoc (`<<EOF`), which only BuildKit supports; berth builds like Docker's classic builder: put the content in a file in the build context and COPY it, or write it with `RUN printf`",
            node.cmd.to_uppercase()
        ));
    }
    Ok(())
}

fn parse_command(node: &Node) -> Result<Command, String> {
    let args = &node.args;
    let instruction = match node.cmd.as_str() {
        "env" => {
            Flags::parse(node, &[])?;
            Instruction::Env(kvps(args, "ENV")?)
        }
        "maintainer" => {
            if args.len() != 1 {
                return Err(exactly_one("MAINTAINER"));
            }
            Flags::parse(node, &[])?;
            Instruction::Maintainer(args[0].clone())
        }
        "label" => {
            Flags::parse(node, &[])?;
            Instruction::Label(kvps(args, "LABEL")?)
        }
        "add" | "copy" => {
            let upper = node.cmd.to_uppercase();
            if args.len() < 2 {
                return Err(format!(
                    "{upper} requires at least two arguments, but only one was provided. Destination could not be determined"
                ));
            }
            let flags = if upper == "ADD" {
                Flags::parse(
                    node,
                    &["chown", "chmod", "link?", "keep-git-dir?", "checksum"],
                )?
            } else {
                Flags::parse(node, &["chown", "chmod", "from", "link?"])?
            };
            if flags.get("checksum").is_some() {
                return Err(format!(
                    "the --checksum option requires BuildKit. {BUILDKIT_HINT}"
                ));
            }
            if flags.is_true("keep-git-dir") {
                return Err(format!(
                    "the --keep-git-dir option requires BuildKit. {BUILDKIT_HINT}"
                ));
            }
            check_heredoc(node)?;
            let (dest, sources) = args.split_last().ok_or_else(|| at_least_one(&upper))?;
            let c = CopyInstruction {
                sources: sources.to_vec(),
                dest: dest.clone(),
                from: flags.get("from"),
                chown: flags.get("chown").filter(|s| !s.is_empty()),
                chmod: flags.get("chmod").filter(|s| !s.is_empty()),
                link: flags.is_true("link"),
            };
            if upper == "ADD" {
                Instruction::Add(c)
            } else {
                Instruction::Copy(c)
            }
        }
        "onbuild" => {
            if args.is_empty() {
                return Err(at_least_one("ONBUILD"));
            }
            Flags::parse(node, &[])?;
            let trigger = args[0].trim().to_uppercase();
            match trigger.as_str() {
                "ONBUILD" => {
                    return Err("Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed".to_owned());
                }
                "MAINTAINER" | "FROM" => {
                    return Err(format!("{trigger} isn't allowed as an ONBUILD trigger"));
                }
                _ => {}
            }
            Instruction::Onbuild(strip_onbuild(&node.original))
        }
        "workdir" => {
            if args.len() != 1 {
                return Err(exactly_one("WORKDIR"));
            }
            Flags::parse(node, &[])?;
            Instruction::Workdir(args[0].clone())
        }
        "run" => {
            let flags = Flags::parse(node, &["network", "mount", "security"])?;
            if flags.get("mount").is_some() {
                return Err(format!(
                    "the --mount option requires BuildKit. {BUILDKIT_HINT}"
                ));
            }
            if flags.get("security").is_some() {
                return Err(format!(
                    "the --security option requires BuildKit. {BUILDKIT_HINT}"
                ));
            }
            let network = flags.get("network");
            if let Some(n) = &network
                && !matches!(n.as_str(), "default" | "none" | "host")
            {
                return Err(format!(
                    "unsupported network mode {n:?}: use default, none or host"
                ));
            }
            check_heredoc(node)?;
            Instruction::Run {
                cmd: cmd_line(node, false),
                network,
            }
        }
        "cmd" => {
            Flags::parse(node, &[])?;
            Instruction::Cmd(cmd_line(node, false))
        }
        "entrypoint" => {
            Flags::parse(node, &[])?;
            Instruction::Entrypoint(cmd_line(node, true))
        }
        "healthcheck" => Instruction::Healthcheck(parse_healthcheck(node)?),
        "expose" => {
            if args.is_empty() {
                return Err(at_least_one("EXPOSE"));
            }
            Flags::parse(node, &[])?;
            let mut ports = args.clone();
            ports.sort();
            Instruction::Expose(ports)
        }
        "user" => {
            if args.len() != 1 {
                return Err(exactly_one("USER"));
            }
            Flags::parse(node, &[])?;
            Instruction::User(args[0].clone())
        }
        "volume" => {
            if args.is_empty() {
                return Err(at_least_one("VOLUME"));
            }
            Flags::parse(node, &[])?;
            let mut vols = Vec::new();
            for v in args {
                let v = v.trim();
                if v.is_empty() {
                    return Err("VOLUME specified can not be an empty string".to_owned());
                }
                vols.push(v.to_owned());
            }
            Instruction::Volume(vols)
        }
        "stopsignal" => {
            if args.len() != 1 {
                return Err(exactly_one("STOPSIGNAL"));
            }
            Flags::parse(node, &[])?;
            Instruction::StopSignal(args[0].clone())
        }
        "arg" => {
            if args.is_empty() {
                return Err(at_least_one("ARG"));
            }
            Flags::parse(node, &[])?;
            let mut pairs = Vec::new();
            for a in args {
                match a.split_once('=') {
                    Some(("", _)) => return Err("ARG names can not be blank".to_owned()),
                    Some((k, v)) => pairs.push((k.to_owned(), Some(v.to_owned()))),
                    None => pairs.push((a.clone(), None)),
                }
            }
            Instruction::Arg(pairs)
        }
        "shell" => {
            Flags::parse(node, &[])?;
            let c = cmd_line(node, false);
            if !node.json {
                if c.args.iter().all(String::is_empty) {
                    return Err(at_least_one("SHELL"));
                }
                return Err("SHELL requires the arguments to be in JSON form".to_owned());
            }
            if c.args.is_empty() {
                return Err(at_least_one("SHELL"));
            }
            Instruction::Shell(c.args)
        }
        other => return Err(format!("unknown instruction: {}", other.to_uppercase())),
    };
    Ok(Command {
        code: node.original.trim().to_owned(),
        line: node.start_line,
        instruction,
    })
}

/// `(?i)^\s*ONBUILD\s*` removed from the line.
fn strip_onbuild(original: &str) -> String {
    let t = original.trim_start();
    match (t.get(..7), t.get(7..)) {
        (Some(head), Some(rest)) if head.eq_ignore_ascii_case("onbuild") => {
            rest.trim_start().to_owned()
        }
        _ => t.to_owned(),
    }
}

fn parse_healthcheck(node: &Node) -> Result<Healthcheck, String> {
    let args = &node.args;
    if args.is_empty() {
        return Err(at_least_one("HEALTHCHECK"));
    }
    let typ = args[0].to_uppercase();
    let rest = &args[1..];
    if typ == "NONE" {
        if !rest.is_empty() {
            return Err("HEALTHCHECK NONE takes no arguments".to_owned());
        }
        return Ok(Healthcheck {
            test: vec![typ],
            interval: 0,
            timeout: 0,
            start_period: 0,
            start_interval: 0,
            retries: 0,
        });
    }
    let flags = Flags::parse(
        node,
        &[
            "interval",
            "timeout",
            "start-period",
            "start-interval",
            "retries",
        ],
    )?;
    if typ != "CMD" {
        return Err(format!(
            "Unknown type {} in HEALTHCHECK (try CMD)",
            crate::gofmt::quote(&typ)
        ));
    }
    let cmd: Vec<String> = if node.json {
        rest.to_vec()
    } else {
        vec![rest.join(" ")]
    };
    if cmd.is_empty() || (!node.json && cmd[0].is_empty()) {
        return Err("Missing command after HEALTHCHECK CMD".to_owned());
    }
    let mut test = vec![if node.json { "CMD" } else { "CMD-SHELL" }.to_owned()];
    test.extend(cmd);
    let interval = |name: &str| -> Result<i64, String> {
        let Some(v) = flags.get(name).filter(|v| !v.is_empty()) else {
            return Ok(0);
        };
        let d = crate::gofmt::parse_duration(&v)?;
        if d == 0 {
            return Ok(0);
        }
        if d < 1_000_000 {
            return Err(format!(
                "Interval {} cannot be less than 1ms",
                crate::gofmt::quote(name)
            ));
        }
        Ok(d)
    };
    let retries = match flags.get("retries").filter(|v| !v.is_empty()) {
        None => 0,
        Some(v) => {
            let r: i64 = v.parse().map_err(|_| {
                format!(
                    "strconv.ParseInt: parsing {}: invalid syntax",
                    crate::gofmt::quote(&v)
                )
            })?;
            if r < 0 {
                return Err(format!("--retries cannot be negative ({r})"));
            }
            r
        }
    };
    Ok(Healthcheck {
        test,
        interval: interval("interval")?,
        timeout: interval("timeout")?,
        start_period: interval("start-period")?,
        start_interval: interval("start-interval")?,
        retries,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn stages_and_meta_args() {
        let d = parse(
            "ARG V=1\nFROM busybox:$V AS Build\nRUN true\nFROM scratch\nCOPY --from=build /a /b\n",
        )
        .unwrap();
        assert_eq!(d.meta_args.len(), 1);
        assert_eq!(d.stages.len(), 2);
        assert_eq!(d.stages[0].name.as_deref(), Some("build"));
        assert_eq!(d.stages[0].code, "FROM busybox:$V AS Build");
        assert_eq!(d.stages[1].commands.len(), 1);
        match &d.stages[1].commands[0].instruction {
            Instruction::Copy(c) => {
                assert_eq!(c.from.as_deref(), Some("build"));
                assert_eq!(c.sources, vec!["/a"]);
                assert_eq!(c.dest, "/b");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn docker_messages() {
        assert_eq!(
            err("FROM a\nFOO bar\n"),
            "dockerfile parse error on line 2: unknown instruction: FOO"
        );
        assert_eq!(
            err("FROM a b\n"),
            "dockerfile parse error on line 1: FROM requires either one or three arguments"
        );
        assert_eq!(
            err("FROM\n"),
            "dockerfile parse error on line 1: FROM requires either one or three arguments"
        );
        assert_eq!(
            err("FROM a\nENV =x\n"),
            "dockerfile parse error on line 2: ENV names can not be blank"
        );
        assert_eq!(
            err("FROM a\nENV\n"),
            "dockerfile parse error on line 2: ENV requires at least one argument"
        );
        assert_eq!(
            err("FROM a\nARG =x\n"),
            "dockerfile parse error on line 2: ARG names can not be blank"
        );
        assert_eq!(
            err("FROM a\nCOPY x\n"),
            "dockerfile parse error on line 2: COPY requires at least two arguments, but only one was provided. Destination could not be determined"
        );
        assert_eq!(
            err("FROM a\nCOPY --foo=1 x y\n"),
            "dockerfile parse error on line 2: Unknown flag: foo"
        );
        assert_eq!(
            err("FROM a\nADD --from=x x y\n"),
            "dockerfile parse error on line 2: Unknown flag: from"
        );
        assert_eq!(
            err("FROM a\nCOPY --from x y\n"),
            "dockerfile parse error on line 2: Missing a value on flag: from"
        );
        assert_eq!(
            err("FROM a\nWORKDIR\n"),
            "dockerfile parse error on line 2: WORKDIR requires exactly one argument"
        );
        assert_eq!(
            err("FROM a\nSHELL /bin/bash -c\n"),
            "dockerfile parse error on line 2: SHELL requires the arguments to be in JSON form"
        );
        assert_eq!(
            err("FROM a\nONBUILD ONBUILD RUN x\n"),
            "dockerfile parse error on line 2: Chaining ONBUILD via `ONBUILD ONBUILD` isn't allowed"
        );
        assert_eq!(
            err("FROM a\nONBUILD FROM x\n"),
            "dockerfile parse error on line 2: FROM isn't allowed as an ONBUILD trigger"
        );
        assert_eq!(
            err("FROM a\nHEALTHCHECK NONE x\n"),
            "dockerfile parse error on line 2: HEALTHCHECK NONE takes no arguments"
        );
        assert_eq!(
            err("FROM a\nHEALTHCHECK FOO x\n"),
            "dockerfile parse error on line 2: Unknown type \"FOO\" in HEALTHCHECK (try CMD)"
        );
        assert_eq!(
            err("FROM a\nHEALTHCHECK --interval=1us CMD x\n"),
            "dockerfile parse error on line 2: Interval \"interval\" cannot be less than 1ms"
        );
        assert_eq!(
            err("FROM a\nHEALTHCHECK CMD\n"),
            "dockerfile parse error on line 2: Missing command after HEALTHCHECK CMD"
        );
        assert_eq!(
            err("FROM a AS 1x\n"),
            "dockerfile parse error on line 1: invalid name for build stage: \"1x\", name can't start with a number or contain symbols"
        );
        assert_eq!(
            err("RUN x\n"),
            "dockerfile parse error on line 1: no build stage in current context"
        );
        assert_eq!(
            err("FROM a\nCMD [1]\n"),
            "dockerfile parse error on line 2: when using JSON array syntax, arrays must be comprised of strings only"
        );
        assert!(err("FROM a\nRUN <<EOF\necho\nEOF\n").contains("only BuildKit supports"));
        assert!(err("FROM a\nCOPY <<EOF /x\nhi\nEOF\n").contains("only BuildKit supports"));
        assert_eq!(
            err("FROM a\nRUN --mount=type=cache,target=/x true\n"),
            "dockerfile parse error on line 2: the --mount option requires BuildKit. Refer to https://docs.docker.com/go/buildkit/ to learn how to build images with BuildKit enabled"
        );
    }

    #[test]
    fn all_instructions() {
        let d = parse(concat!(
            "FROM --platform=linux/amd64 a\n",
            "RUN --network=none echo hi\n",
            "CMD [\"a\", \"b\"]\n",
            "ENTRYPOINT []\n",
            "SHELL [\"/bin/bash\", \"-c\"]\n",
            "ENV a=1 b=2\n",
            "ENV c 3 4\n",
            "ARG x y=z\n",
            "LABEL k=v\n",
            "EXPOSE 443 80/udp\n",
            "USER nobody\n",
            "WORKDIR /app\n",
            "VOLUME [\"/data\"]\n",
            "VOLUME /a /b\n",
            "COPY --chown=1:1 --chmod=644 a b\n",
            "ADD https://x/y /z\n",
            "onbuild run echo x\n",
            "STOPSIGNAL SIGINT\n",
            "HEALTHCHECK --interval=5s --retries=3 CMD curl -f x\n",
            "HEALTHCHECK NONE\n",
            "MAINTAINER me <me@x>\n",
        ))
        .unwrap();
        let s = &d.stages[0];
        assert_eq!(s.platform.as_deref(), Some("linux/amd64"));
        let ins: Vec<&Instruction> = s.commands.iter().map(|c| &c.instruction).collect();
        assert_eq!(ins.len(), 20);
        assert_eq!(
            ins[0],
            &Instruction::Run {
                cmd: CmdLine {
                    args: vec!["echo hi".into()],
                    prepend_shell: true
                },
                network: Some("none".into())
            }
        );
        assert_eq!(
            ins[2],
            &Instruction::Entrypoint(CmdLine {
                args: vec![],
                prepend_shell: false
            })
        );
        assert_eq!(ins[5], &Instruction::Env(vec![("c".into(), "3 4".into())]));
        assert_eq!(
            ins[6],
            &Instruction::Arg(vec![("x".into(), None), ("y".into(), Some("z".into()))])
        );
        assert_eq!(
            ins[8],
            &Instruction::Expose(vec!["443".into(), "80/udp".into()])
        );
        assert_eq!(
            ins[12],
            &Instruction::Volume(vec!["/a".into(), "/b".into()])
        );
        assert_eq!(ins[15], &Instruction::Onbuild("run echo x".into()));
        match ins[17] {
            Instruction::Healthcheck(h) => {
                assert_eq!(h.test, vec!["CMD-SHELL", "curl -f x"]);
                assert_eq!(h.interval, 5_000_000_000);
                assert_eq!(h.retries, 3);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(ins[19], &Instruction::Maintainer("me <me@x>".into()));
    }
}
