//! The shim's state and its event loop.
//!
//! One thread, one `poll`: the signalfd (SIGCHLD and friends), the two
//! listening sockets, control connections, attach clients, and the
//! container's (and execs') output and stdin. Nothing here blocks on a peer:
//! every socket and pipe is non-blocking and has an output buffer, so a
//! stuck daemon or a container that never reads stdin cannot stall the log.
//!
//! Order on the init's exit (SIGCHLD): drain its output into the log and to
//! attach clients, flush partial log lines, write `exit.json` atomically,
//! and only then answer `Wait`ers, so whoever hears of the exit can read the
//! complete log and a restarted daemon finds the exit status on disk.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use berth_runtime::{CreateOptions, Runtime};
use berth_shim_proto::attach::{AttachRequest, StdStream, mux_header};
use berth_shim_proto::frame::{self, Decoder, FrameError};
use berth_shim_proto::{
    ATTACH_SOCKET, CONTROL_SOCKET, EXIT_FILE, ErrorClass, ExitStatus, PID_FILE, Reply, Request,
    Response, ShimError, Status,
};
use nix::errno::Errno;
use nix::poll::{PollFd, PollFlags, PollTimeout, poll};
use nix::sys::signal::{SigSet, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::wait::{WaitPidFlag, WaitStatus, waitpid};
use nix::unistd::Pid;

use crate::args::Args;
use crate::jsonlog::{JsonLog, Stream};
use crate::stdio::{Stdio, set_nonblocking};

/// An attach client that does not read its output for this long is dropped
/// rather than making the shim grow.
const CLIENT_BUFFER_MAX: usize = 4 << 20;
/// Stdin accepted from clients but not yet read by the process; above it
/// clients are not read (back-pressure instead of memory).
const STDIN_BUFFER_MAX: usize = 1 << 20;
const READ_CHUNK: usize = 32 * 1024;
/// How long the loop waits without events before it gives back its text
/// pages (see `settle`).
const IDLE_SETTLE_MS: u16 = 1000;

/// Errors that stop the shim (request errors go back to the client).
#[derive(Debug, thiserror::Error)]
pub enum ShimFatal {
    #[error("cannot set up signal handling: {0}")]
    Signals(Errno),
    #[error("poll failed: {0}")]
    Poll(Errno),
    #[error("{what} {path}: {source}")]
    Io {
        what: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Stdio(#[from] crate::stdio::StdioError),
    #[error(transparent)]
    Runtime(#[from] berth_runtime::Error),
    #[error(transparent)]
    Log(#[from] crate::jsonlog::LogError),
    #[error("{0}")]
    Other(String),
    /// An error already classified (by the process that created the
    /// container).
    #[error("{}", .0.message)]
    Reported(ShimError),
}

fn io_err(what: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> ShimFatal {
    let path = path.to_path_buf();
    move |source| ShimFatal::Io { what, path, source }
}

/// The error class a runtime error maps to.
pub fn class_of(err: &berth_runtime::Error) -> ErrorClass {
    use berth_runtime::Error as E;
    use berth_runtime::state::StateError;
    match err {
        E::State(StateError::NotFound(_)) => ErrorClass::NotFound,
        E::State(StateError::Exists(_)) | E::WrongStatus { .. } => ErrorClass::Conflict,
        E::State(StateError::InvalidId(_)) | E::Spec(_) | E::Seccomp(_) => {
            ErrorClass::InvalidArgument
        }
        _ => ErrorClass::Internal,
    }
}

fn rt_err(err: berth_runtime::Error) -> ShimError {
    ShimError::new(class_of(&err), err.to_string())
}

/// A process whose stdio the shim owns: the init or an exec.
#[derive(Debug)]
struct Proc {
    pid: i32,
    terminal: bool,
    /// The pty master, for resizing (output and stdin use dups of it).
    pty: Option<OwnedFd>,
    stdin: Option<OwnedFd>,
    stdin_buf: Vec<u8>,
    /// Close stdin once `stdin_buf` is written (a client half-closed).
    stdin_close: bool,
    /// stdout, stderr (a pty's output counts as stdout).
    out: [Option<OwnedFd>; 2],
    clients: Vec<Client>,
    exit: Option<ExitStatus>,
    /// An exited exec the daemon is done with (`ForgetExec`) that still
    /// had clients: dropped once the last one has had its output.
    forget: bool,
}

impl Proc {
    fn new(pid: i32, stdio: Stdio, pty: Option<OwnedFd>) -> Result<Self, ShimFatal> {
        let mut proc = Self {
            pid,
            terminal: pty.is_some(),
            pty: None,
            stdin: stdio.stdin,
            stdin_buf: Vec::new(),
            stdin_close: false,
            out: stdio.out,
            clients: Vec::new(),
            exit: None,
            forget: false,
        };
        if let Some(master) = pty {
            set_nonblocking(&master)?;
            let dup = |fd: &OwnedFd| {
                fd.try_clone()
                    .map_err(|e| ShimFatal::Other(format!("cannot dup the pty master: {e}")))
            };
            proc.out = [Some(dup(&master)?), None];
            proc.stdin = Some(dup(&master)?);
            proc.pty = Some(master);
        }
        Ok(proc)
    }

    fn output_open(&self) -> bool {
        self.out.iter().any(Option::is_some)
    }

    /// Sends output to every client that asked for the stream.
    fn broadcast(&mut self, stream: usize, data: &[u8]) {
        for c in &mut self.clients {
            let wanted = if stream == 0 {
                c.opts.stdout
            } else {
                c.opts.stderr
            };
            if !wanted || c.dead || c.closing {
                continue;
            }
            if !self.terminal {
                let kind = if stream == 0 {
                    StdStream::Stdout
                } else {
                    StdStream::Stderr
                };
                c.out
                    .extend_from_slice(&mux_header(kind, data.len() as u32));
            }
            c.out.extend_from_slice(data);
            c.flush();
            if c.out.len() > CLIENT_BUFFER_MAX {
                c.dead = true;
            }
        }
    }

    fn flush_stdin(&mut self) {
        if let Some(fd) = &self.stdin {
            while !self.stdin_buf.is_empty() {
                match nix::unistd::write(fd, &self.stdin_buf) {
                    Ok(n) => {
                        self.stdin_buf.drain(..n);
                    }
                    Err(Errno::EINTR) => {}
                    Err(Errno::EAGAIN) => return,
                    Err(_) => {
                        // The process closed its stdin: drop what is left.
                        self.stdin_buf.clear();
                        self.stdin = None;
                        return;
                    }
                }
            }
        } else {
            self.stdin_buf.clear();
        }
        if self.stdin_close && !self.terminal {
            self.stdin = None;
        }
    }

    /// Once the process is gone and its output is drained, clients are
    /// told (end-of-stream) after their buffers are written.
    fn close_clients_if_done(&mut self) {
        if self.exit.is_some() && !self.output_open() {
            for c in &mut self.clients {
                c.closing = true;
            }
        }
    }
}

/// An attach connection after its handshake.
#[derive(Debug)]
struct Client {
    stream: UnixStream,
    opts: AttachRequest,
    out: Vec<u8>,
    /// Still reading stdin from it.
    reading: bool,
    closing: bool,
    dead: bool,
}

impl Client {
    fn flush(&mut self) {
        if !write_pending(&mut self.stream, &mut self.out) {
            self.dead = true;
        }
    }
}

/// Writes as much of `out` as the non-blocking `stream` takes now (what
/// is written leaves `out`); false once the peer is gone.
fn write_pending(stream: &mut UnixStream, out: &mut Vec<u8>) -> bool {
    while !out.is_empty() {
        match stream.write(out) {
            Ok(0) => return false,
            Ok(n) => {
                out.drain(..n);
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return true,
            Err(_) => return false,
        }
    }
    true
}

/// An attach connection still sending its handshake frame.
#[derive(Debug)]
struct Handshake {
    stream: UnixStream,
    dec: Decoder,
    dead: bool,
}

/// A control connection.
#[derive(Debug)]
struct Conn {
    stream: UnixStream,
    dec: Decoder,
    out: Vec<u8>,
    /// A pending `Wait` on the init (`Some(None)`) or an exec.
    waiting: Option<Option<String>>,
    eof: bool,
    dead: bool,
}

impl Conn {
    fn flush(&mut self) {
        if !write_pending(&mut self.stream, &mut self.out) {
            self.dead = true;
        }
    }
}

#[derive(Debug, Clone)]
enum Token {
    Signals,
    ControlListener,
    AttachListener,
    Conn(usize),
    Handshake(usize),
    Out(Option<String>, usize),
    Stdin(Option<String>),
    Client(Option<String>, usize),
}

/// The running shim.
#[derive(Debug)]
pub struct Shim {
    id: String,
    runtime: Runtime,
    state_dir: PathBuf,
    signals: SignalFd,
    control: UnixListener,
    attach: UnixListener,
    conns: Vec<Conn>,
    handshakes: Vec<Handshake>,
    init: Proc,
    execs: BTreeMap<String, Proc>,
    /// Clients that attached to an exec before it was started.
    early: Vec<(String, Client)>,
    log: Option<JsonLog>,
    buf: Vec<u8>,
    quit: bool,
}

/// Signals the shim takes through its signalfd. SIGPIPE is blocked so a
/// client that hangs up gives EPIPE, not death; SIGTERM/SIGINT/SIGHUP are
/// ignored so a daemon's process group or session going away does not take
/// the container's monitor with it.
fn signal_set() -> SigSet {
    let mut set = SigSet::empty();
    for s in [
        Signal::SIGCHLD,
        Signal::SIGPIPE,
        Signal::SIGTERM,
        Signal::SIGINT,
        Signal::SIGHUP,
    ] {
        set.add(s);
    }
    set
}

fn bind(path: &Path) -> Result<UnixListener, ShimFatal> {
    // A stale socket from an earlier shim of the same container.
    let _ = fs_err::remove_file(path);
    let listener = UnixListener::bind(path).map_err(io_err("cannot listen on", path))?;
    listener
        .set_nonblocking(true)
        .map_err(io_err("cannot configure", path))?;
    Ok(listener)
}

fn now() -> String {
    berth_runtime::state::now_rfc3339()
}

impl Shim {
    /// Creates the container (init blocked until `Start`) and listens on
    /// the control and attach sockets.
    pub fn create(args: &Args) -> Result<Self, ShimFatal> {
        berth_sys::process::SingleThreaded::check().map_err(|e| ShimFatal::Other(e.to_string()))?;
        // Blocked before init exists, so its SIGCHLD waits in the signalfd.
        let set = signal_set();
        set.thread_block().map_err(ShimFatal::Signals)?;
        let signals = SignalFd::with_flags(&set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
            .map_err(ShimFatal::Signals)?;

        let log = match &args.log_path {
            Some(p) => {
                let mut log = JsonLog::open(p, args.rotation)?;
                log.set_attrs(&args.log_attrs);
                Some(log)
            }
            None => None,
        };
        let runtime = Runtime::new(&args.runtime_root);
        let mut stdio = Stdio::new(args.stdin, args.terminal)?;
        let opts = CreateOptions {
            bundle: args.bundle.clone(),
            ..Default::default()
        };
        // In a throwaway child, so the runtime's memory is not the shim's
        // for the container's whole life (see `detach::in_child`).
        let (init_pid, pty) = crate::detach::in_child(|| {
            match stdio.around_spawn(|| runtime.create_with_pty(&args.id, &opts)) {
                Ok(Ok((state, pty))) => Ok((state.pid, pty)),
                Ok(Err(e)) => Err(rt_err(e)),
                Err(e) => Err(ShimError::new(ErrorClass::Internal, e.to_string())),
            }
        })
        .map_err(|e| ShimFatal::Other(e.to_string()))?
        .map_err(ShimFatal::Reported)?;
        if pty.is_some() != args.terminal {
            let _ = runtime.delete(&args.id, true);
            return Err(ShimFatal::Other(format!(
                "process.terminal in the bundle's config.json is {}, but berth-shim was {} `--terminal`",
                pty.is_some(),
                if args.terminal { "given" } else { "not given" }
            )));
        }
        let init = match Proc::new(init_pid, stdio, pty) {
            Ok(p) => p,
            Err(e) => {
                let _ = runtime.delete(&args.id, true);
                return Err(e);
            }
        };
        let listeners = bind(&args.state_dir.join(CONTROL_SOCKET))
            .and_then(|c| Ok((c, bind(&args.state_dir.join(ATTACH_SOCKET))?)));
        let (control, attach) = match listeners {
            Ok(l) => l,
            Err(e) => {
                let _ = runtime.delete(&args.id, true);
                return Err(e);
            }
        };
        Ok(Self {
            id: args.id.clone(),
            runtime,
            state_dir: args.state_dir.clone(),
            signals,
            control,
            attach,
            conns: Vec::new(),
            handshakes: Vec::new(),
            init,
            execs: BTreeMap::new(),
            early: Vec::new(),
            log,
            buf: vec![0; READ_CHUNK],
            quit: false,
        })
    }

    /// The container's init pid.
    pub fn init_pid(&self) -> i32 {
        self.init.pid
    }

    fn proc_mut(&mut self, key: &Option<String>) -> Option<&mut Proc> {
        match key {
            None => Some(&mut self.init),
            Some(id) => self.execs.get_mut(id),
        }
    }

    /// Serves until `Delete` or `Shutdown`.
    pub fn run(mut self) -> Result<(), ShimFatal> {
        settle();
        self.reap();
        // Text pages the loop touched get dropped again once it has been
        // idle for IDLE_SETTLE_MS, so an idle shim keeps only what it uses.
        let mut settled = true;
        while !self.quit {
            let mut tokens = Vec::new();
            let mut events = Vec::new();
            {
                let mut fds: Vec<PollFd<'_>> = Vec::new();
                add(
                    &mut fds,
                    &mut tokens,
                    self.signals.as_fd(),
                    PollFlags::POLLIN,
                    Token::Signals,
                );
                add(
                    &mut fds,
                    &mut tokens,
                    self.control.as_fd(),
                    PollFlags::POLLIN,
                    Token::ControlListener,
                );
                add(
                    &mut fds,
                    &mut tokens,
                    self.attach.as_fd(),
                    PollFlags::POLLIN,
                    Token::AttachListener,
                );
                for (i, c) in self.conns.iter().enumerate() {
                    let mut ev = PollFlags::empty();
                    if c.waiting.is_none() && !c.eof {
                        ev |= PollFlags::POLLIN;
                    }
                    if !c.out.is_empty() {
                        ev |= PollFlags::POLLOUT;
                    }
                    add(&mut fds, &mut tokens, c.stream.as_fd(), ev, Token::Conn(i));
                }
                for (i, h) in self.handshakes.iter().enumerate() {
                    add(
                        &mut fds,
                        &mut tokens,
                        h.stream.as_fd(),
                        PollFlags::POLLIN,
                        Token::Handshake(i),
                    );
                }
                let procs = std::iter::once((None, &self.init))
                    .chain(self.execs.iter().map(|(k, p)| (Some(k.clone()), p)));
                for (key, p) in procs {
                    for (s, fd) in p.out.iter().enumerate() {
                        if let Some(fd) = fd {
                            add(
                                &mut fds,
                                &mut tokens,
                                fd.as_fd(),
                                PollFlags::POLLIN,
                                Token::Out(key.clone(), s),
                            );
                        }
                    }
                    if let Some(fd) = &p.stdin
                        && !p.stdin_buf.is_empty()
                    {
                        add(
                            &mut fds,
                            &mut tokens,
                            fd.as_fd(),
                            PollFlags::POLLOUT,
                            Token::Stdin(key.clone()),
                        );
                    }
                    for (i, c) in p.clients.iter().enumerate() {
                        let mut ev = PollFlags::empty();
                        if c.reading && p.stdin_buf.len() < STDIN_BUFFER_MAX {
                            ev |= PollFlags::POLLIN;
                        }
                        if !c.out.is_empty() {
                            ev |= PollFlags::POLLOUT;
                        }
                        add(
                            &mut fds,
                            &mut tokens,
                            c.stream.as_fd(),
                            ev,
                            Token::Client(key.clone(), i),
                        );
                    }
                }
                let timeout = if settled {
                    PollTimeout::NONE
                } else {
                    PollTimeout::from(IDLE_SETTLE_MS)
                };
                let mut polled = poll(&mut fds, timeout);
                if matches!(polled, Ok(0)) {
                    // Idle: give back what ran, then wait on the same set.
                    // Rebuilding it first would fault much of the loop's
                    // code straight back in.
                    settle();
                    settled = true;
                    polled = poll(&mut fds, PollTimeout::NONE);
                }
                match polled {
                    Ok(0) => continue,
                    Ok(_) => settled = false,
                    Err(Errno::EINTR) => continue,
                    Err(e) => return Err(ShimFatal::Poll(e)),
                }
                events.extend(
                    fds.iter()
                        .map(|f| f.revents().unwrap_or(PollFlags::empty())),
                );
            }
            for (token, ev) in tokens.into_iter().zip(events) {
                if ev.is_empty() {
                    continue;
                }
                self.dispatch(token, ev);
                if self.quit {
                    break;
                }
            }
            self.collect_garbage();
        }
        self.finish();
        Ok(())
    }

    fn dispatch(&mut self, token: Token, ev: PollFlags) {
        let readable = ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR);
        match token {
            Token::Signals => self.on_signals(),
            Token::ControlListener => {
                while let Ok((stream, _)) = self.control.accept() {
                    if stream.set_nonblocking(true).is_ok() {
                        self.conns.push(Conn {
                            stream,
                            dec: Decoder::new(),
                            out: Vec::new(),
                            waiting: None,
                            eof: false,
                            dead: false,
                        });
                    }
                }
            }
            Token::AttachListener => {
                while let Ok((stream, _)) = self.attach.accept() {
                    if stream.set_nonblocking(true).is_ok() {
                        self.handshakes.push(Handshake {
                            stream,
                            dec: Decoder::new(),
                            dead: false,
                        });
                    }
                }
            }
            Token::Conn(i) => {
                if ev.contains(PollFlags::POLLOUT) {
                    self.conns[i].flush();
                }
                if ev.contains(PollFlags::POLLIN) || (readable && self.conns[i].waiting.is_none()) {
                    self.read_conn(i);
                } else if ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                    // Gone while waiting: nobody to answer.
                    self.conns[i].dead = true;
                }
            }
            Token::Handshake(i) => self.read_handshake(i),
            Token::Out(key, s) => self.read_output(&key, s, false),
            Token::Stdin(key) => {
                if let Some(p) = self.proc_mut(&key) {
                    p.flush_stdin();
                }
            }
            Token::Client(key, i) => self.on_client(&key, i, ev),
        }
    }

    fn on_signals(&mut self) {
        let mut chld = false;
        while let Ok(Some(info)) = self.signals.read_signal() {
            if info.ssi_signo == Signal::SIGCHLD as u32 {
                chld = true;
            }
        }
        if chld {
            self.reap();
        }
    }

    /// Reaps every exited child: our init and execs, and orphans the
    /// container left behind (we are their subreaper).
    fn reap(&mut self) {
        loop {
            match waitpid(Pid::from_raw(-1), Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(pid, code)) => self.exited(pid.as_raw(), code),
                Ok(WaitStatus::Signaled(pid, sig, _)) => {
                    self.exited(pid.as_raw(), 128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) => return,
                Ok(_) => {}
                Err(Errno::EINTR) => {}
                Err(_) => return,
            }
        }
    }

    fn exited(&mut self, pid: i32, code: i32) {
        let mut status = ExitStatus {
            exit_code: code,
            exited_at: now(),
            oom_killed: false,
        };
        let key = if pid == self.init.pid && self.init.exit.is_none() {
            None
        } else if let Some((id, _)) = self
            .execs
            .iter()
            .find(|(_, p)| p.pid == pid && p.exit.is_none())
        {
            Some(id.clone())
        } else {
            return;
        };
        // Whatever it wrote last goes out before anyone hears it exited.
        for s in 0..2 {
            self.read_output(&key, s, true);
        }
        if key.is_none() {
            // Read before `Delete` removes the cgroup: docker's
            // `State.OOMKilled` (any OOM kill in the container's run).
            status.oom_killed = self.runtime.oom_kills(&self.id).is_ok_and(|n| n > 0);
            if let Some(log) = &mut self.log {
                let t = now();
                for s in [Stream::Stdout, Stream::Stderr] {
                    if let Err(e) = log.flush_partial(s, &t) {
                        eprintln!("berth-shim: {e}");
                    }
                }
            }
            if let Err(e) = write_exit_file(&self.state_dir, &status) {
                eprintln!("berth-shim: {e}");
            }
        }
        if let Some(p) = self.proc_mut(&key) {
            p.exit = Some(status.clone());
            p.close_clients_if_done();
        }
        for i in 0..self.conns.len() {
            if self.conns[i].waiting.as_ref() == Some(&key) {
                self.conns[i].waiting = None;
                self.respond(i, Ok(Reply::Exited(status.clone())));
                self.pump(i);
            }
        }
    }

    /// Reads what the process wrote on stream `s`: one chunk when polled
    /// (so one chatty stream cannot starve the others), everything there is
    /// when `drain`ing after the process exited.
    fn read_output(&mut self, key: &Option<String>, s: usize, drain: bool) {
        let mut buf = std::mem::take(&mut self.buf);
        while let Some(p) = self.proc_mut(key) {
            let Some(fd) = &p.out[s] else { break };
            match nix::unistd::read(fd, &mut buf) {
                Ok(0) | Err(Errno::EIO) => {
                    // EIO: the pty's last slave was closed.
                    p.out[s] = None;
                    p.close_clients_if_done();
                    if key.is_none()
                        && let Some(log) = &mut self.log
                        && let Err(e) = log.flush_partial(stream_of(s), &now())
                    {
                        eprintln!("berth-shim: {e}");
                    }
                    break;
                }
                Ok(n) => {
                    p.broadcast(s, &buf[..n]);
                    if key.is_none()
                        && let Some(log) = &mut self.log
                        && let Err(e) = log.write(stream_of(s), &buf[..n], &now())
                    {
                        eprintln!("berth-shim: {e}");
                    }
                    if !drain {
                        break;
                    }
                }
                Err(Errno::EINTR) => {}
                Err(_) => break,
            }
        }
        self.buf = buf;
    }

    fn on_client(&mut self, key: &Option<String>, i: usize, ev: PollFlags) {
        let mut buf = std::mem::take(&mut self.buf);
        if let Some(p) = self.proc_mut(key) {
            let c = &mut p.clients[i];
            if ev.contains(PollFlags::POLLOUT) {
                c.flush();
            }
            if c.reading && ev.intersects(PollFlags::POLLIN | PollFlags::POLLHUP) {
                match c.stream.read(&mut buf) {
                    Ok(0) => {
                        c.reading = false;
                        if c.opts.close_stdin {
                            p.stdin_close = true;
                            p.flush_stdin();
                        }
                    }
                    Ok(n) => {
                        if c.opts.stdin {
                            p.stdin_buf.extend_from_slice(&buf[..n]);
                            p.flush_stdin();
                        }
                    }
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                    Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                    Err(_) => c.dead = true,
                }
            } else if ev.intersects(PollFlags::POLLHUP | PollFlags::POLLERR) {
                c.dead = true;
            }
        }
        self.buf = buf;
    }

    fn read_handshake(&mut self, i: usize) {
        let mut buf = [0u8; 4096];
        let h = &mut self.handshakes[i];
        match h.stream.read(&mut buf) {
            Ok(0) => {
                h.dead = true;
                return;
            }
            Ok(n) => h.dec.push(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => return,
            Err(_) => {
                h.dead = true;
                return;
            }
        }
        let req = match h.dec.next_frame::<AttachRequest>() {
            Ok(Some(req)) => req,
            Ok(None) => return,
            Err(e) => {
                let resp = Response::Err(ShimError::new(
                    ErrorClass::InvalidArgument,
                    format!("attach handshake: {e}"),
                ));
                if let Ok(bytes) = frame::encode(&resp) {
                    let _ = h.stream.write_all(&bytes);
                }
                h.dead = true;
                return;
            }
        };
        let early_stdin = h.dec.take_rest();
        h.dead = true;
        let Ok(stream) = h.stream.try_clone() else {
            return;
        };
        let mut client = Client {
            stream,
            reading: req.stdin || req.close_stdin,
            opts: req,
            out: frame::encode(&Response::Ok(Reply::Done)).unwrap_or_default(),
            closing: false,
            dead: false,
        };
        client.flush();
        let key = client.opts.exec_id.clone();
        match self.proc_mut(&key) {
            Some(p) => {
                if client.opts.stdin && !early_stdin.is_empty() {
                    p.stdin_buf.extend_from_slice(&early_stdin);
                    p.flush_stdin();
                }
                p.clients.push(client);
                p.close_clients_if_done();
            }
            None => {
                if let Some(id) = key {
                    self.early.push((id, client));
                }
            }
        }
    }

    fn read_conn(&mut self, i: usize) {
        let mut buf = [0u8; 4096];
        loop {
            let c = &mut self.conns[i];
            match c.stream.read(&mut buf) {
                Ok(0) => {
                    c.eof = true;
                    break;
                }
                Ok(n) => c.dec.push(&buf[..n]),
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    c.dead = true;
                    break;
                }
            }
        }
        self.pump(i);
    }

    /// Handles the complete requests a connection has sent, one at a time.
    fn pump(&mut self, i: usize) {
        while !self.quit && self.conns[i].waiting.is_none() && !self.conns[i].dead {
            match self.conns[i].dec.next_frame::<Request>() {
                Ok(Some(req)) => self.handle(i, req),
                Ok(None) => break,
                Err(e) => {
                    self.respond(
                        i,
                        Err(ShimError::new(ErrorClass::InvalidArgument, e.to_string())),
                    );
                    // A frame that is not a known request was consumed
                    // whole (a newer daemon's request, say): carry on. Any
                    // other error means the stream is out of sync, and
                    // nothing after it starts at a frame boundary.
                    if matches!(e, FrameError::Json(_)) {
                        continue;
                    }
                    self.conns[i].eof = true;
                    self.conns[i].dec = Decoder::new();
                    break;
                }
            }
        }
    }

    fn respond(&mut self, i: usize, result: Result<Reply, ShimError>) {
        let resp = Response::from(result);
        let c = &mut self.conns[i];
        match frame::encode(&resp) {
            Ok(bytes) => c.out.extend_from_slice(&bytes),
            Err(e) => {
                let fallback = Response::Err(ShimError::new(ErrorClass::Internal, e.to_string()));
                c.out
                    .extend_from_slice(&frame::encode(&fallback).unwrap_or_default());
            }
        }
        c.flush();
    }

    fn handle(&mut self, i: usize, req: Request) {
        let result = match req {
            Request::Wait { exec_id } => {
                let exit = match &exec_id {
                    None => Some(self.init.exit.clone()),
                    Some(id) => self.execs.get(id).map(|p| p.exit.clone()),
                };
                match exit {
                    Some(Some(status)) => Ok(Reply::Exited(status)),
                    Some(None) => {
                        self.conns[i].waiting = Some(exec_id);
                        return;
                    }
                    None => Err(no_exec(exec_id.as_deref().unwrap_or_default())),
                }
            }
            Request::Start => {
                let result = self.runtime.start(&self.id);
                settle();
                result.map(|()| Reply::Done).map_err(rt_err)
            }
            Request::State => self.state(),
            Request::Kill { signal, all } => self.kill(signal, all),
            Request::Exec {
                exec_id,
                process,
                stdin,
            } => {
                let result = self.exec(exec_id, &process, stdin);
                settle();
                result
            }
            Request::ExecState { exec_id } => match self.execs.get(&exec_id) {
                Some(p) => Ok(Reply::ExecState {
                    pid: p.pid,
                    exit: p.exit.clone(),
                }),
                None => Err(no_exec(&exec_id)),
            },
            Request::ForgetExec { exec_id } => match self.execs.get_mut(&exec_id) {
                Some(p) if p.exit.is_none() => Err(ShimError::new(
                    ErrorClass::Conflict,
                    format!("exec \"{exec_id}\" is running"),
                )),
                // Its clients still get the rest of its output first (see
                // `collect_garbage`).
                Some(p) if !p.clients.is_empty() => {
                    p.forget = true;
                    Ok(Reply::Done)
                }
                Some(_) => {
                    self.execs.remove(&exec_id);
                    Ok(Reply::Done)
                }
                None => {
                    self.early.retain(|(id, _)| *id != exec_id);
                    Ok(Reply::Done)
                }
            },
            Request::Resize {
                exec_id,
                width,
                height,
            } => self.resize(exec_id, width, height),
            Request::Stats => self.runtime.stats(&self.id).map_err(rt_err).and_then(|s| {
                serde_json::to_value(s)
                    .map(|stats| Reply::Stats { stats })
                    .map_err(|e| ShimError::new(ErrorClass::Internal, e.to_string()))
            }),
            Request::Update { resources } => self
                .runtime
                .update(&self.id, &resources)
                .map(|()| Reply::Done)
                .map_err(rt_err),
            Request::Pause => self
                .runtime
                .pause(&self.id)
                .map(|()| Reply::Done)
                .map_err(rt_err),
            Request::Resume => self
                .runtime
                .resume(&self.id)
                .map(|()| Reply::Done)
                .map_err(rt_err),
            Request::Delete { force } => self.delete(force),
            Request::Shutdown => self.delete(true),
        };
        self.respond(i, result);
    }

    fn state(&self) -> Result<Reply, ShimError> {
        let status = if self.init.exit.is_some() {
            Status::Stopped
        } else {
            match self.runtime.state(&self.id).map_err(rt_err)?.1 {
                berth_runtime::Status::Creating | berth_runtime::Status::Created => Status::Created,
                berth_runtime::Status::Running => Status::Running,
                berth_runtime::Status::Paused => Status::Paused,
                // Exited but not reaped yet: SIGCHLD is on its way.
                berth_runtime::Status::Stopped => Status::Running,
            }
        };
        Ok(Reply::State {
            status,
            pid: self.init.pid,
            exit: self.init.exit.clone(),
        })
    }

    fn kill(&mut self, signal: i32, all: bool) -> Result<Reply, ShimError> {
        let sig = Signal::try_from(signal).map_err(|_| {
            ShimError::new(
                ErrorClass::InvalidArgument,
                format!("invalid signal number {signal}"),
            )
        })?;
        if self.init.exit.is_some() && !all {
            return Err(ShimError::new(
                ErrorClass::Conflict,
                format!("container \"{}\" is not running", self.id),
            ));
        }
        self.runtime
            .kill(&self.id, sig, all)
            .map(|()| Reply::Done)
            .map_err(rt_err)
    }

    fn exec(
        &mut self,
        exec_id: String,
        process: &oci_spec::runtime::Process,
        stdin: bool,
    ) -> Result<Reply, ShimError> {
        if self.execs.contains_key(&exec_id) {
            return Err(ShimError::new(
                ErrorClass::Conflict,
                format!("exec \"{exec_id}\" already exists"),
            ));
        }
        if self.init.exit.is_some() {
            return Err(ShimError::new(
                ErrorClass::Conflict,
                format!("container \"{}\" is not running", self.id),
            ));
        }
        let internal = |e: ShimFatal| ShimError::new(ErrorClass::Internal, e.to_string());
        let terminal = process.terminal().unwrap_or(false);
        let mut stdio = Stdio::new(stdin, terminal).map_err(|e| internal(e.into()))?;
        let spawned = stdio
            .around_spawn(|| self.runtime.exec_start(&self.id, process, 0))
            .map_err(|e| internal(e.into()))?
            .map_err(rt_err)?;
        let pid = spawned.pid;
        let mut proc = Proc::new(pid, stdio, spawned.pty_master).map_err(internal)?;
        let (mine, rest): (Vec<_>, Vec<_>) = std::mem::take(&mut self.early)
            .into_iter()
            .partition(|(id, _)| *id == exec_id);
        self.early = rest;
        proc.clients.extend(mine.into_iter().map(|(_, c)| c));
        self.execs.insert(exec_id, proc);
        Ok(Reply::Started { pid })
    }

    fn resize(
        &mut self,
        exec_id: Option<String>,
        width: u16,
        height: u16,
    ) -> Result<Reply, ShimError> {
        let name = exec_id.clone();
        let Some(p) = self.proc_mut(&exec_id) else {
            return Err(no_exec(name.as_deref().unwrap_or_default()));
        };
        let Some(pty) = &p.pty else {
            return Err(ShimError::new(
                ErrorClass::InvalidArgument,
                "cannot resize: the process has no terminal",
            ));
        };
        let size = berth_sys::tty::WinSize {
            rows: height,
            cols: width,
        };
        berth_sys::tty::set_window_size(pty.as_fd(), size)
            .map(|()| Reply::Done)
            .map_err(|e| ShimError::new(ErrorClass::Internal, e.to_string()))
    }

    fn delete(&mut self, force: bool) -> Result<Reply, ShimError> {
        if self.init.exit.is_none() {
            let status = match self.runtime.state(&self.id) {
                Ok((_, s)) => s,
                Err(e) => return Err(rt_err(e)),
            };
            let live = matches!(
                status,
                berth_runtime::Status::Running | berth_runtime::Status::Paused
            );
            if live && !force {
                return Err(ShimError::new(
                    ErrorClass::Conflict,
                    format!(
                        "container \"{}\" is {status}: stop it first, or delete with force",
                        self.id
                    ),
                ));
            }
            // Kill and reap it here rather than in the runtime's delete,
            // which would reap our child itself and lose the exit status.
            self.kill_and_reap_init();
        }
        let result = match self.runtime.delete(&self.id, true) {
            Ok(()) => Ok(Reply::Done),
            Err(berth_runtime::Error::State(berth_runtime::state::StateError::NotFound(_))) => {
                Ok(Reply::Done)
            }
            Err(e) => Err(rt_err(e)),
        };
        if result.is_ok() {
            self.quit = true;
        }
        result
    }

    fn kill_and_reap_init(&mut self) {
        // `all` also thaws a paused container, so SIGKILL can take effect.
        let _ = self.runtime.kill(&self.id, Signal::SIGKILL, true);
        let pid = Pid::from_raw(self.init.pid);
        let _ = nix::sys::signal::kill(pid, Signal::SIGKILL);
        let deadline = Instant::now() + Duration::from_secs(10);
        while self.init.exit.is_none() && Instant::now() < deadline {
            self.reap();
            if self.init.exit.is_none() {
                std::thread::sleep(Duration::from_millis(2));
            }
        }
    }

    fn collect_garbage(&mut self) {
        self.conns.retain(|c| {
            let finished = c.eof && c.out.is_empty() && c.waiting.is_none();
            !c.dead && !finished
        });
        self.handshakes.retain(|h| !h.dead);
        let procs = std::iter::once(&mut self.init).chain(self.execs.values_mut());
        for p in procs {
            p.clients.retain(|c| {
                if c.closing && c.out.is_empty() {
                    let _ = c.stream.shutdown(std::net::Shutdown::Both);
                    return false;
                }
                !c.dead
            });
        }
        self.execs
            .retain(|_, p| !(p.forget && p.exit.is_some() && p.clients.is_empty()));
    }

    /// Sends the last answers (the `Delete` response) and cleans up.
    fn finish(mut self) {
        for c in &mut self.conns {
            if c.stream.set_nonblocking(false).is_ok() {
                let _ = c.stream.set_write_timeout(Some(Duration::from_secs(1)));
                let _ = c.stream.write_all(&c.out);
            }
        }
        let t = now();
        if let Some(log) = &mut self.log {
            for s in [Stream::Stdout, Stream::Stderr] {
                let _ = log.flush_partial(s, &t);
            }
        }
        for name in [CONTROL_SOCKET, ATTACH_SOCKET, PID_FILE] {
            let _ = fs_err::remove_file(self.state_dir.join(name));
        }
    }
}

fn add<'a>(
    fds: &mut Vec<PollFd<'a>>,
    tokens: &mut Vec<Token>,
    fd: std::os::fd::BorrowedFd<'a>,
    ev: PollFlags,
    token: Token,
) {
    fds.push(PollFd::new(fd, ev));
    tokens.push(token);
}

/// After running runtime code (create, start, exec) that the loop will not
/// need again soon, gives back its text pages so the shim's RSS is what the
/// loop uses (see `berth_sys::mem`).
fn settle() {
    if let Err(e) = berth_sys::mem::drop_code_pages() {
        eprintln!("berth-shim: {e}");
    }
}

fn stream_of(s: usize) -> Stream {
    if s == 0 {
        Stream::Stdout
    } else {
        Stream::Stderr
    }
}

fn no_exec(id: &str) -> ShimError {
    ShimError::new(ErrorClass::NotFound, format!("no such exec: {id}"))
}

/// Writes `exit.json` so that it is either absent or complete, even across
/// a power cut: temp file, fsync, rename, fsync of the directory.
pub fn write_exit_file(dir: &Path, status: &ExitStatus) -> Result<(), ShimFatal> {
    let tmp = dir.join(format!("{EXIT_FILE}.tmp"));
    let path = dir.join(EXIT_FILE);
    let body = serde_json::to_vec(status).map_err(|e| ShimFatal::Other(e.to_string()))?;
    let mut f = fs_err::File::create(&tmp).map_err(|e| io_err("cannot write", &tmp)(e))?;
    f.write_all(&body)
        .and_then(|()| f.sync_all())
        .map_err(io_err("cannot write", &tmp))?;
    drop(f);
    fs_err::rename(&tmp, &path).map_err(io_err("cannot rename to", &path))?;
    if let Ok(d) = fs_err::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}
