//! `FileSink`: laziness, permissions, concurrency and errors.

use std::path::Path;

use miette::Diagnostic;
use rtb_telemetry::{ErrorKind, Event, FileSink, TelemetryError, TelemetrySink};

use crate::support::block_on;

fn event(name: &str) -> Event {
    Event::new(name, "mytool", "1.0.0", "ab".repeat(32))
}

fn assert_io_error_names(err: &TelemetryError, path: &Path) {
    assert_eq!(err.kind(), ErrorKind::Io, "{err:?}");
    assert_eq!(err.path(), Some(path));
    let message = err.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert_eq!(err.code().unwrap().to_string(), "rtb::telemetry::io");
    assert!(err.help().is_some());
}

#[test]
fn new_touches_nothing_on_disk() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::new(dir.path().join("x/y/events.jsonl"));
    let _clone = sink.clone();
    drop(sink);
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
}

#[cfg(unix)]
#[test]
fn files_are_created_with_mode_0644_less_the_umask() {
    use std::os::unix::fs::PermissionsExt;

    // The process umask, read without changing it.
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let umask = status
        .lines()
        .find_map(|l| l.strip_prefix("Umask:"))
        .map_or(0o022, |m| u32::from_str_radix(m.trim(), 8).unwrap());

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    block_on(FileSink::new(&path).emit(&event("a"))).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o644 & !umask, "mode {mode:o} with umask {umask:o}");
}

#[test]
fn a_path_that_is_a_directory_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let sink = FileSink::new(dir.path());
    let err = block_on(sink.emit(&event("a"))).unwrap_err();
    assert_io_error_names(&err, dir.path());
}

#[test]
fn a_path_under_a_regular_file_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "not a directory").unwrap();
    let path = file.join("events.jsonl");
    let err = block_on(FileSink::new(&path).emit(&event("a"))).unwrap_err();
    assert_io_error_names(&err, &path);
    assert!(
        err.to_string().contains("create the parent directory"),
        "{err}"
    );
}

#[test]
fn a_failed_open_is_retried_at_the_next_emit() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("logs");
    std::fs::write(&blocker, "in the way").unwrap();
    let path = blocker.join("events.jsonl");
    let sink = FileSink::new(&path);
    assert!(block_on(sink.emit(&event("lost"))).is_err());
    std::fs::remove_file(&blocker).unwrap();
    block_on(sink.emit(&event("kept"))).unwrap();
    assert_eq!(names_in(&path), ["kept"]);
}

#[test]
fn many_tasks_on_a_multi_thread_runtime_lose_and_tear_nothing() {
    const TASKS: usize = 8;
    const EACH: usize = 250;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let sink = FileSink::new(&path);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(4)
        .build()
        .unwrap();
    rt.block_on(async {
        let mut handles = Vec::new();
        for task in 0..TASKS {
            let sink = sink.clone();
            handles.push(tokio::spawn(async move {
                for i in 0..EACH {
                    // Long-ish values make torn writes likelier to show.
                    let e = event(&format!("{task}-{i}")).with_attr("pad", "x".repeat(4096));
                    sink.emit(&e).await.unwrap();
                }
            }));
        }
        for h in handles {
            h.await.unwrap();
        }
    });
    let mut names = names_in(&path);
    names.sort();
    let mut expected: Vec<String> = (0..TASKS)
        .flat_map(|t| (0..EACH).map(move |i| format!("{t}-{i}")))
        .collect();
    expected.sort();
    assert_eq!(names, expected);
}

fn names_in(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .map(|l| serde_json::from_str::<Event>(l).expect("a whole line").name)
        .collect()
}

#[test]
fn buffered_sink_writes_at_capacity_and_at_flush() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let one_line = serde_json::to_string(&event("0")).unwrap().len() + 1;
    // Room for two lines before the third one triggers a write.
    let sink = FileSink::buffered(&path, one_line * 3);
    block_on(async {
        sink.emit(&event("0")).await.unwrap();
        sink.emit(&event("1")).await.unwrap();
        assert!(!path.exists(), "nothing written below capacity");
        sink.emit(&event("2")).await.unwrap();
        assert_eq!(names_in(&path), ["0", "1", "2"]);
        sink.emit(&event("3")).await.unwrap();
        assert_eq!(names_in(&path).len(), 3, "3 is buffered");
        sink.flush().await.unwrap();
    });
    assert_eq!(names_in(&path), ["0", "1", "2", "3"]);
}

#[test]
fn dropping_the_last_buffered_clone_writes_what_it_holds() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    let sink = FileSink::buffered(&path, 1 << 20);
    let clone = sink.clone();
    block_on(sink.emit(&event("kept"))).unwrap();
    drop(sink);
    assert!(!path.exists(), "a clone still holds the buffer");
    drop(clone);
    assert_eq!(names_in(&path), ["kept"]);
}

#[test]
fn a_buffered_event_that_cannot_be_written_is_refused_and_earlier_ones_kept() {
    let dir = tempfile::tempdir().unwrap();
    let blocker = dir.path().join("logs");
    std::fs::write(&blocker, "in the way").unwrap();
    let path = blocker.join("events.jsonl");
    let one_line = serde_json::to_string(&event("0")).unwrap().len() + 1;
    let sink = FileSink::buffered(&path, one_line * 2);
    block_on(async {
        sink.emit(&event("accepted")).await.unwrap();
        // The second reaches capacity, the write fails: refused, not kept.
        assert!(sink.emit(&event("refused")).await.is_err());
        std::fs::remove_file(&blocker).unwrap();
        sink.flush().await.unwrap();
    });
    assert_eq!(names_in(&path), ["accepted"]);
}

/// A file system whose unlock fails (`flock(LOCK_UN)` → `EIO`, as NFS or a
/// FUSE file system can): `FileSink` (which locks each write, in the
/// host's thread) and the consent verbs go on, and nothing panics. nix's
/// `Flock` panics in its `Drop` then; the crate never lets it. The failure
/// is injected with an `LD_PRELOAD` shim built by gcc.
#[cfg(all(target_os = "linux", feature = "clap", feature = "otlp"))]
#[test]
fn an_unlock_that_fails_is_no_panic() {
    let dir = tempfile::tempdir().unwrap();
    let source = dir.path().join("shim.c");
    std::fs::write(
        &source,
        r#"#define _GNU_SOURCE
#include <dlfcn.h>
#include <errno.h>
#include <sys/file.h>
int flock(int fd, int op) {
    static int (*real)(int, int);
    if (!real) real = (int (*)(int, int))dlsym(RTLD_NEXT, "flock");
    if (op & LOCK_UN) { errno = EIO; return -1; }
    return real(fd, op);
}
"#,
    )
    .unwrap();
    let shim = dir.path().join("shim.so");
    let built = std::process::Command::new("gcc")
        .args(["-shared", "-fPIC", "-o"])
        .arg(&shim)
        .arg(&source)
        .arg("-ldl")
        .status()
        .expect("gcc runs (a fresh machine has it)");
    assert!(built.success(), "the shim builds");
    let home = dir.path().join("home");
    std::fs::create_dir(&home).unwrap();
    let runs: [(&str, &[&str]); 3] = [
        ("quickstart", &[]),
        ("mytool", &["telemetry", "enable"]),
        ("mytool", &["telemetry", "disable"]),
    ];
    for (example, args) in runs {
        let out = std::process::Command::new(crate::support::example(example))
            .args(args)
            .env("HOME", &home)
            .env("XDG_CONFIG_HOME", home.join("config"))
            .env("XDG_DATA_HOME", home.join("data"))
            .env("LD_PRELOAD", &shim)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            out.status.success() && !stderr.contains("panicked"),
            "{example} {args:?}: {:?}\n{stderr}",
            out.status
        );
    }
}
