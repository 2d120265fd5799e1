//! Several processes, each with several tasks on a multi-thread runtime,
//! appending to one `FileSink` path: no line lost, duplicated or torn.

use std::collections::HashSet;
use std::process::{Command, Stdio};

use rtb_telemetry::{Event, FileSink, TelemetrySink};

const PROCESSES: usize = 4;
const TASKS: usize = 4;
const EACH: usize = 200;

#[test]
fn many_processes_appending_to_one_file_lose_and_tear_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("shared/events.jsonl");
    let exe = std::env::current_exe().unwrap();
    let children: Vec<_> = (0..PROCESSES)
        .map(|id| {
            Command::new(&exe)
                .args([
                    "--exact",
                    "processes::child_writer",
                    "--ignored",
                    "--nocapture",
                ])
                .env("RTB_CHILD_PATH", &path)
                .env("RTB_CHILD_ID", id.to_string())
                .stdout(Stdio::null()) // the child's test report; failures show on stderr
                .spawn()
                .expect("re-invoke the test binary")
        })
        .collect();
    for mut child in children {
        assert!(child.wait().unwrap().success(), "a child writer failed");
    }

    let text = std::fs::read_to_string(&path).unwrap();
    let mut seen = HashSet::new();
    for line in text.lines() {
        let event: Event = serde_json::from_str(line).expect("every line is a whole event");
        assert!(seen.insert(event.name.clone()), "duplicate {}", event.name);
    }
    assert_eq!(seen.len(), PROCESSES * TASKS * EACH, "lost events");
}

/// Run by the test above in child processes; does nothing on its own.
#[test]
#[ignore = "a helper: many_processes_appending_to_one_file_lose_and_tear_nothing runs it"]
fn child_writer() {
    let (Ok(path), Ok(id)) = (
        std::env::var("RTB_CHILD_PATH"),
        std::env::var("RTB_CHILD_ID"),
    ) else {
        eprintln!("child_writer: not started by the multi-process test; nothing to do");
        return;
    };
    let sink = FileSink::new(path);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(TASKS)
        .build()
        .unwrap();
    rt.block_on(async {
        let handles: Vec<_> = (0..TASKS)
            .map(|task| {
                let sink = sink.clone();
                let id = id.clone();
                tokio::spawn(async move {
                    for i in 0..EACH {
                        let event = Event::new(
                            format!("{id}-{task}-{i}"),
                            "mytool",
                            "1.0.0",
                            "ab".repeat(32),
                        )
                        .with_attr("pad", "y".repeat(2048));
                        sink.emit(&event).await.unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.await.unwrap();
        }
    });
}
