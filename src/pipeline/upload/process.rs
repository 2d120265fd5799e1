//! The detached uploader: started by a run when an upload is due, it is
//! the tool itself, re-executed with an argument and a one-time token of
//! the crate's, and never returns into the tool.

use std::time::{Duration, Instant};

use super::{Job, UploadReport, upload};
use crate::TelemetryError;
use crate::consent::ConsentStore;
use crate::pipeline::plan::Plan;
use crate::pipeline::spool::Spool;

/// The one argument the crate starts the uploader with.
pub(crate) const UPLOADER_ARG: &str = "--rtb-telemetry-uploader";
/// How long a detached uploader may live, whatever the network does.
const UPLOADER_LIFETIME: Duration = Duration::from_secs(25);
/// How long one upload may take (the rest of the lifetime is margin).
const UPLOAD_BUDGET: Duration = Duration::from_secs(20);
/// How long the uploader waits for the commands still recording to end.
const WAIT_FOR_WRITERS: Duration = Duration::from_secs(10);

/// The variable that carries the launch token.
pub(crate) fn marker(prefix: &str) -> String {
    format!("{prefix}_TELEMETRY_UPLOADER")
}

/// Whether this process was started as the uploader: exactly one
/// argument, the crate's, and the crate's marker variable set (the crate
/// sets both). A variable alone never turns a command into an uploader,
/// and the argument alone, typed by hand, is left to the tool's own
/// parser, which refuses it like any argument it does not know.
pub(crate) fn started_as_uploader(prefix: &str) -> bool {
    let mut args = std::env::args_os().skip(1);
    args.next().is_some_and(|arg| arg == UPLOADER_ARG)
        && args.next().is_none()
        && std::env::var_os(marker(prefix)).is_some()
}

/// The uploader process: lets go of everything it inherited, checks its
/// one-time token, uploads what the plan's spool holds to the plan's
/// collector, and exits, within [`UPLOADER_LIFETIME`] whatever happens. A
/// wrong, missing or stale token (or no store, or telemetry off) exits at
/// once.
pub(crate) fn run(plan: &Plan, store: Option<&ConsentStore>) -> ! {
    close_inherited_descriptors();
    // The watchdog: the process ends on time even if something hangs.
    let _ = std::thread::Builder::new()
        .name("rtb-telemetry-watchdog".into())
        .spawn(|| {
            std::thread::sleep(UPLOADER_LIFETIME);
            std::process::exit(0);
        });
    let (Some(store), Some(spool)) = (store, plan.spool()) else {
        std::process::exit(0);
    };
    // The token is the crate's own channel from the run that started this
    // process, so it is read from the process, whatever `Env` the tool
    // configured (a fixed one would not hold it).
    let token = std::env::var(marker(&plan.inputs.prefix)).ok();
    if !token.is_some_and(|t| spool.consume_launch(&t)) {
        std::process::exit(0);
    }
    let _ = upload_once(plan, store, WAIT_FOR_WRITERS);
    std::process::exit(0)
}

/// One upload of what the plan's spool holds, on this thread (blocking, at
/// most about 20 s): the uploader's, and `Telemetry::upload_now`'s.
pub(crate) fn upload_once(
    plan: &Plan,
    store: &ConsentStore,
    wait_for_writers: Duration,
) -> Result<UploadReport, TelemetryError> {
    let (Some(collector), Some(spool)) = (plan.collector(), plan.spool()) else {
        return Err(TelemetryError::config(
            "no collector is configured; events are kept in a local file",
            "set the tool's endpoint, or the OTEL_EXPORTER_OTLP_* variables",
        ));
    };
    upload(&Job {
        spool: &spool,
        exporter: &collector.exporter(UPLOAD_BUDGET)?,
        to: &collector.id(),
        store,
        base_salt: &plan.inputs.base_salt,
        deadline: Instant::now() + UPLOAD_BUDGET,
        wait_for_writers,
        merge_panics: plan.inputs.delivery.merge_panics,
    })
}

/// Closes every descriptor above the standard three that the process
/// inherited (a pipe the caller's script holds open, say), so it keeps no
/// resource of its host alive. Called first thing in the uploader, before
/// it opens anything of its own.
fn close_inherited_descriptors() {
    #[cfg(unix)]
    {
        let listed = ["/proc/self/fd", "/dev/fd"]
            .iter()
            .find_map(|dir| std::fs::read_dir(dir).ok())
            .map(|entries| {
                entries
                    .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
                    .collect::<Vec<_>>()
            });
        // The directory's own descriptor is closed by now: closing it again
        // only fails.
        let fds = listed.unwrap_or_else(|| (3..1024).collect());
        for fd in fds.into_iter().filter(|&fd| fd > 2) {
            let _ = nix::unistd::close(fd);
        }
    }
}

/// Starts the uploader for `spool`: the tool again, detached, with the
/// crate's argument and a fresh one-time token; the launch is counted in
/// the state file if its lock is free within `patience`.
pub(crate) fn spawn(prefix: &str, spool: &Spool, patience: Duration) -> Result<(), TelemetryError> {
    let token = spool.new_launch().ok_or_else(|| {
        TelemetryError::io(
            "keep the uploader's launch token in",
            spool.dir(),
            std::io::Error::other("the spool directory is not writable or not ours"),
        )
    })?;
    let exe = std::env::current_exe()
        .map_err(|e| TelemetryError::thread("find its own executable", Some(e)))?;
    // The process's own environment, as the tool was started with: the
    // child runs the tool's `main` up to `init()` again, and a tool that
    // builds a fixed `Env` from its own settings does so there too.
    let mut command = std::process::Command::new(exe);
    command
        .arg(UPLOADER_ARG)
        .env(marker(prefix), &token)
        .current_dir(neutral_dir())
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    #[cfg(unix)]
    std::os::unix::process::CommandExt::process_group(&mut command, 0);
    // Windows: no console of its own (none is shown), none of the
    // caller's (it does not die with its Ctrl+C or window), a process
    // group of its own. Safe std API only. What this cannot do: keep
    // the child from inheriting the caller's inheritable handles (std
    // spawns with bInheritHandles so the null stdio can be passed;
    // `CommandExt::inherit_handles` is unstable), so a caller capturing
    // the tool's output through an inheritable pipe may wait for the
    // uploader (at most its 25 s): docs/reliability.md, platforms.
    #[cfg(windows)]
    {
        const DETACHED_PROCESS: u32 = 0x0000_0008;
        const CREATE_NEW_PROCESS_GROUP: u32 = 0x0000_0200;
        const CREATE_NO_WINDOW: u32 = 0x0800_0000;
        std::os::windows::process::CommandExt::creation_flags(
            &mut command,
            DETACHED_PROCESS | CREATE_NEW_PROCESS_GROUP | CREATE_NO_WINDOW,
        );
    }
    let mut child = command.spawn().map_err(|e| {
        let _ = spool.consume_launch(&token);
        TelemetryError::thread("start its uploader process", Some(e))
    })?;
    spool.update_state(patience, |state| {
        state.launches = state.launches.saturating_add(1);
    });
    // Reaped by a thread, so a long-lived host leaves no zombie; the
    // thread does not keep the host from exiting.
    let _ = std::thread::Builder::new()
        .name("rtb-telemetry-reaper".into())
        .spawn(move || {
            let _ = child.wait();
        });
    Ok(())
}

/// A working directory that is neither the caller's (which it may want to
/// delete or unmount) nor one the crate deletes.
fn neutral_dir() -> std::path::PathBuf {
    #[cfg(unix)]
    return std::path::PathBuf::from("/");
    #[cfg(not(unix))]
    return std::env::temp_dir();
}
