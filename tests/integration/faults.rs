//! Faults: a full disk and a read-only file system, for real (a tiny tmpfs
//! mounted by the test, which needs root: those tests are `#[ignore]`d and
//! CI, as root, runs them with `--ignored`; run by anyone else they fail and
//! say why, never pass silently).

use std::path::{Path, PathBuf};
use std::process::Command;

use miette::Diagnostic;
use rtb_telemetry::{ErrorKind, Event, FileSink, TelemetryError, TelemetrySink};

use crate::support::block_on;

/// A tmpfs mounted for one test, unmounted on drop.
pub(crate) struct Tmpfs {
    dir: tempfile::TempDir,
}

impl Tmpfs {
    /// Mounts a tmpfs; fails the test (needs root) if it cannot.
    pub(crate) fn mount(options: &str) -> Self {
        crate::support::require_root("it mounts a tmpfs");
        Self::try_mount(options).unwrap_or_else(|why| panic!("{why}"))
    }

    fn try_mount(options: &str) -> Result<Self, String> {
        let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", options, "tmpfs"])
            .arg(dir.path())
            .output()
            .map_err(|e| format!("cannot run mount: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "mount -t tmpfs failed (needs root): {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ));
        }
        Ok(Self { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(self.dir.path()).status();
    }
}

fn event(name: &str, pad: usize) -> Event {
    Event::new(name, "mytool", "1.0.0", "ab".repeat(32)).with_attr("pad", "x".repeat(pad))
}

fn assert_names_path(err: &TelemetryError, path: &Path) {
    assert_eq!(err.kind(), ErrorKind::Io, "{err:?}");
    assert_eq!(err.path(), Some(path));
    assert!(
        err.to_string().contains(&path.display().to_string()),
        "{err}"
    );
    assert_eq!(err.code().unwrap().to_string(), "rtb::telemetry::io");
    assert!(err.help().is_some());
}

/// Every line of `path` that parses as an event, and how many did not.
fn read_events(path: &Path) -> (Vec<String>, usize) {
    let text = std::fs::read(path).unwrap();
    let text = String::from_utf8_lossy(&text);
    let mut names = Vec::new();
    let mut broken = 0;
    for line in text.lines().filter(|l| !l.is_empty()) {
        match serde_json::from_str::<Event>(line) {
            Ok(e) => names.push(e.name),
            Err(_) => broken += 1,
        }
    }
    (names, broken)
}

#[test]
#[ignore = "needs root (mounts a tmpfs); CI runs this with --ignored"]
fn a_full_disk_is_a_clear_error_and_loses_or_tears_no_accepted_event() {
    let fs = Tmpfs::mount("size=64k");
    let path: PathBuf = fs.path().join("events.jsonl");
    let filler = fs.path().join("filler");
    std::fs::write(&filler, vec![0_u8; 16 * 1024]).unwrap();

    let sink = FileSink::new(&path);
    let mut accepted = Vec::new();
    let mut failure = None;
    // 5 000-byte events: the disk fills part-way through one, a short write.
    for i in 0..100 {
        let name = format!("e{i}");
        match block_on(sink.emit(&event(&name, 5_000))) {
            Ok(()) => accepted.push(name),
            Err(e) => {
                failure = Some(e);
                break;
            }
        }
    }
    let err = failure.expect("a 64 KiB disk fills up");
    assert_names_path(&err, &path);
    assert_eq!(
        err.io_kind(),
        Some(std::io::ErrorKind::StorageFull),
        "{err}"
    );
    assert!(!accepted.is_empty());

    // Space comes back; recording goes on.
    std::fs::remove_file(&filler).unwrap();
    block_on(sink.emit(&event("after", 10))).unwrap();
    accepted.push("after".into());

    let (names, broken) = read_events(&path);
    eprintln!(
        "full disk: {} accepted, {broken} torn fragment(s) on disk",
        accepted.len()
    );
    assert_eq!(
        names, accepted,
        "every accepted event, once, in order; nothing else"
    );
    assert!(
        broken <= 1,
        "at most the one torn fragment, which parses as nothing"
    );
}

#[test]
#[ignore = "needs root (mounts a tmpfs); CI runs this with --ignored"]
fn a_read_only_file_system_is_a_clear_error() {
    let fs = Tmpfs::mount("ro,size=64k");
    let path = fs.path().join("events.jsonl");
    let err = block_on(FileSink::new(&path).emit(&event("e", 0))).unwrap_err();
    assert_names_path(&err, &path);
}

#[cfg(unix)]
#[test]
fn a_read_only_file_is_a_clear_error() {
    use std::os::unix::fs::PermissionsExt;

    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("events.jsonl");
    std::fs::write(&path, "").unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o444)).unwrap();
    let emitted = block_on(FileSink::new(&path).emit(&event("e", 0)));
    if crate::support::is_root() {
        // Root writes through permission bits (the read-only mount test,
        // run as root in CI, covers the error): the event is there, whole.
        emitted.unwrap();
        let (names, broken) = read_events(&path);
        assert_eq!((names, broken), (vec!["e".to_owned()], 0));
    } else {
        assert_names_path(&emitted.unwrap_err(), &path);
    }
}
