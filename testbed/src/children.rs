//! The processes the testbed starts. None may outlive it: each is stopped when its handle is
//! dropped (on success, on error and on panic), and the kernel kills it if the testbed itself
//! dies without running any code (`PR_SET_PDEATHSIG`).

use std::fs::File;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::thread::sleep;
use std::time::{Duration, Instant};

use anyhow::Context;

/// How long a process gets to exit after SIGTERM before it is killed.
const GRACE: Duration = Duration::from_secs(5);

/// The binaries the testbed runs: siblings of its own executable, as `cargo build` and
/// `cargo install` put them.
pub struct Binaries {
    dir: PathBuf,
}

impl Binaries {
    pub fn beside_current_exe() -> anyhow::Result<Self> {
        let exe = std::env::current_exe().context("locating the walrus-testbed executable")?;
        let dir = exe.parent().context("the walrus-testbed executable has no folder")?.to_owned();
        Ok(Self { dir })
    }

    /// The path of binary `name`, or an error that says how to build it.
    pub fn get(&self, name: &str) -> anyhow::Result<PathBuf> {
        let path = self.dir.join(name);
        anyhow::ensure!(
            path.is_file(),
            "{} not found: the testbed runs the binaries beside its own executable; \
             build them with `cargo build --release --workspace --bins` (or `cargo build --workspace --bins`)",
            path.display()
        );
        Ok(path)
    }
}

/// A running child process, its output going to a log file.
pub struct Child {
    name: String,
    log: PathBuf,
    process: std::process::Child,
    exited: Option<ExitStatus>,
}

impl Child {
    /// Starts `program` with `args`, standard output and error appended to `log`. Must be
    /// called on a thread that lives as long as the testbed: the death signal is tied to the
    /// thread that forked, not to the process.
    pub fn spawn(name: &str, program: &Path, args: &[String], log: &Path) -> anyhow::Result<Self> {
        let out = File::create(log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone().with_context(|| format!("opening {}", log.display()))?;
        let mut command = Command::new(program);
        command.args(args).stdin(Stdio::null()).stdout(out).stderr(err);
        // Its own process group, so that Ctrl-C in a terminal reaches only the testbed, which
        // then stops its children in order.
        command.process_group(0);
        let parent = std::process::id() as libc::pid_t;
        // SAFETY: between fork and exec only async-signal-safe calls (prctl, getppid) are made.
        unsafe {
            command.pre_exec(move || {
                if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) != 0 {
                    return Err(std::io::Error::last_os_error());
                }
                // The testbed may have died before prctl took effect.
                if libc::getppid() != parent {
                    return Err(std::io::Error::other("the testbed exited while starting a child"));
                }
                Ok(())
            });
        }
        let process = command.spawn().with_context(|| format!("starting {}", program.display()))?;
        Ok(Self { name: name.to_owned(), log: log.to_owned(), process, exited: None })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    pub fn log(&self) -> &Path {
        &self.log
    }

    /// How the process ended, if it has.
    pub fn exit_status(&mut self) -> Option<ExitStatus> {
        if self.exited.is_none() {
            self.exited = self.process.try_wait().ok().flatten();
        }
        self.exited
    }

    fn signal(&mut self, signal: libc::c_int) {
        if self.exit_status().is_none() {
            // SAFETY: kill has no memory effects; the pid is our unreaped child, so not reused.
            unsafe { libc::kill(self.pid() as libc::pid_t, signal) };
        }
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        stop_all(std::slice::from_mut(self));
    }
}

/// Sends every process SIGTERM, waits up to [`GRACE`] for all, then kills those left and
/// reaps them.
pub fn stop_all(children: &mut [Child]) {
    for child in children.iter_mut() {
        child.signal(libc::SIGTERM);
    }
    let deadline = Instant::now() + GRACE;
    while Instant::now() < deadline && children.iter_mut().any(|c| c.exit_status().is_none()) {
        sleep(Duration::from_millis(50));
    }
    for child in children.iter_mut() {
        if child.exit_status().is_none() {
            eprintln!("walrus-testbed: {} (pid {}) ignored SIGTERM; killing it", child.name, child.pid());
            child.signal(libc::SIGKILL);
            child.exited = child.process.wait().ok();
        }
    }
}
