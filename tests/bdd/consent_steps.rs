//! Steps for `features/consent.feature`.
#![allow(
    clippy::needless_pass_by_value,
    reason = "cucumber hands captured step arguments over by value"
)]

use std::collections::HashMap;

use cucumber::{given, then, when};
use rtb_telemetry::consent::{ConsentStore, Effective, PolicySource, TelemetryCommand};
use rtb_telemetry::{Env, FileSink, TelemetryContext};

use crate::steps::TelemetryWorld;

const SALT: &str = "mytool-bdd";

/// The consent part of the world: a store in a temporary directory and a
/// fake environment.
#[derive(Debug, Default)]
pub(crate) struct ConsentWorld {
    /// Keeps the temporary directory alive for the scenario.
    dir: Option<tempfile::TempDir>,
    effective: Option<Effective>,
    store: Option<ConsentStore>,
    env: HashMap<String, String>,
    output: String,
    noted_id: Option<String>,
    notice_shown: Option<bool>,
    #[expect(
        clippy::option_option,
        reason = "None: no command line parsed yet; Some(None): parsed, and not a verb"
    )]
    verb: Option<Option<TelemetryCommand>>,
    /// Where the tool runs (a project's switch is looked for from here).
    cwd: Option<std::path::PathBuf>,
    /// The tool behaves as built with `--cfg rtb_telemetry_disabled`.
    without_telemetry: bool,
    /// The error of the last verb the user tried.
    error: Option<String>,
}

impl ConsentWorld {
    fn store(&self) -> &ConsentStore {
        self.store.as_ref().expect("a Given step creates the store")
    }

    /// The store, reading the scenario's environment.
    fn in_env(&self, terminal: bool) -> ConsentStore {
        let mut env = Env::from_vars(self.env.clone()).with_terminal(terminal);
        if let Some(cwd) = &self.cwd {
            env = env.with_current_dir(cwd);
        }
        if self.without_telemetry {
            env = env.as_if_built_without_telemetry();
        }
        self.store().clone().with_env(env)
    }

    fn run(&mut self, verb: TelemetryCommand) -> String {
        let text = self.try_verb(verb);
        assert!(self.error.is_none(), "the verb succeeds: {text}");
        text
    }

    fn try_verb(&mut self, verb: TelemetryCommand) -> String {
        let store = self.in_env(false);
        let dest = store.events_path().display().to_string();
        let report = verb.run(&store, SALT, &dest);
        self.error = report.error().map(ToString::to_string);
        report.to_string()
    }

    fn tmp(&self) -> &std::path::Path {
        self.dir.as_ref().expect("a Given step").path()
    }

    fn current_id(&mut self) -> Option<String> {
        let status = self.run(TelemetryCommand::Status);
        status
            .lines()
            .find_map(|l| l.strip_prefix("anonymous id: "))
            .map(str::to_owned)
    }
}

/// `"value"` → `Some(value)`; `unset` → `None`.
fn value(cell: &str) -> Option<String> {
    cell.strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .map(str::to_owned)
}

#[given(regex = r#"^a tool "([^"]+)" whose stored decision is (none|enabled|disabled|corrupt)$"#)]
fn a_tool(world: &mut TelemetryWorld, tool: String, stored: String) {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let store = ConsentStore::at(
        &tool,
        dir.path().join("config/telemetry.json"),
        dir.path().join("data"),
    );
    match stored.as_str() {
        "enabled" => store.enable().expect("enable"),
        "disabled" => store.disable().expect("disable"),
        "corrupt" => {
            std::fs::create_dir_all(store.file().parent().unwrap()).unwrap();
            std::fs::write(store.file(), "{ this is not json").unwrap();
        }
        _ => {}
    }
    world.consent = ConsentWorld {
        dir: Some(dir),
        store: Some(store),
        ..ConsentWorld::default()
    };
}

#[given(regex = r#"^([A-Z_]+) is (unset|"[^"]*")$"#)]
fn variable(world: &mut TelemetryWorld, name: String, cell: String) {
    match value(&cell) {
        Some(v) => world.consent.env.insert(name, v),
        None => world.consent.env.remove(&name),
    };
}

#[when("the effective policy is resolved")]
fn resolve(world: &mut TelemetryWorld) {
    let effective = world.consent.in_env(false).effective_policy();
    world.consent.effective = Some(effective);
}

fn verb(name: &str) -> TelemetryCommand {
    TelemetryCommand::from_args(["mytool", "--telemetry", name].map(Into::into))
        .expect("a telemetry verb")
}

#[when(regex = r#"^the user runs "telemetry (status|enable|disable|reset|show)"$"#)]
fn user_runs(world: &mut TelemetryWorld, name: String) {
    world.consent.output = world.consent.run(verb(&name));
}

#[when(regex = r#"^the user tries "telemetry (status|enable|disable|reset|show)"$"#)]
fn user_tries(world: &mut TelemetryWorld, name: String) {
    world.consent.output = world.consent.try_verb(verb(&name));
}

#[then("the verb was refused, and nothing was stored")]
fn refused(world: &mut TelemetryWorld) {
    assert!(world.consent.error.is_some(), "{}", world.consent.output);
    assert!(
        world.consent.output.contains("nothing was stored"),
        "{}",
        world.consent.output
    );
    let file = world.consent.store().file();
    assert!(!file.exists(), "{} exists", file.display());
}

#[given(regex = r#"(?s)^the project above the working directory has "([^"]+)" saying "(.*)"$"#)]
fn project_switch(world: &mut TelemetryWorld, name: String, content: String) {
    let project = world.consent.tmp().join("project");
    let cwd = project.join("src/deep/er");
    std::fs::create_dir_all(&cwd).unwrap();
    std::fs::write(project.join(name), content.replace("\\n", "\n")).unwrap();
    world.consent.cwd = Some(cwd);
}

#[given(regex = r#"^the machine's configuration directory has "([^"]+)" saying "(.*)"$"#)]
fn machine_switch(world: &mut TelemetryWorld, name: String, content: String) {
    // XDG_CONFIG_DIRS as an administrator sets it: a list; the switch is
    // in the second directory.
    let first = world.consent.tmp().join("etc-first");
    let second = world.consent.tmp().join("etc-xdg");
    let path = second.join(name);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, content).unwrap();
    let list = format!("{}:relative/ignored:{}", first.display(), second.display());
    world.consent.env.insert("XDG_CONFIG_DIRS".into(), list);
}

#[given("the tool was built without telemetry")]
fn built_without(world: &mut TelemetryWorld) {
    world.consent.without_telemetry = true;
}

#[when(expr = "the tool records {string} through its local file")]
async fn records_locally(world: &mut TelemetryWorld, name: String) {
    let store = world.consent.in_env(false);
    let ctx =
        TelemetryContext::from_consent(&store, "1.0.0", SALT, FileSink::new(store.events_path()));
    ctx.record(&name).await.expect("record");
    ctx.flush().await.expect("flush");
}

#[when("the anonymous id is noted")]
fn note_id(world: &mut TelemetryWorld) {
    world.consent.noted_id = Some(world.consent.current_id().expect("an id while enabled"));
}

#[when(regex = r"^the notice is offered on (an interactive terminal|a pipe)$")]
fn offer_notice(world: &mut TelemetryWorld, place: String) {
    let interactive = place == "an interactive terminal";
    let store = world.consent.in_env(interactive);
    let before = store.load().ok().and_then(|s| s.notice_version);
    let shown = store
        .show_notice_once(1, "mytool notice")
        .expect("the notice helper succeeds");
    // Shown exactly when it was recorded now, so it is shown once.
    let after = store.load().ok().and_then(|s| s.notice_version);
    assert_eq!(shown, before.is_none() && after == Some(1));
    world.consent.notice_shown = Some(shown);
}

#[then(regex = r"^telemetry is (enabled|disabled)$")]
fn telemetry_is(world: &mut TelemetryWorld, state: String) {
    let effective = world.consent.in_env(false).effective_policy();
    assert_eq!(
        effective.policy.is_enabled(),
        state == "enabled",
        "{effective:?}"
    );
}

#[then(regex = r"^it was decided by (.+)$")]
fn decided_by(world: &mut TelemetryWorld, source: String) {
    let effective = world
        .consent
        .effective
        .clone()
        .expect("the policy was resolved");
    let ok = match (source.as_str(), &effective.source) {
        ("DO_NOT_TRACK", PolicySource::DoNotTrack) => true,
        ("MYTOOL_TELEMETRY_DISABLED", PolicySource::ToolVariable(v)) => {
            v == "MYTOOL_TELEMETRY_DISABLED"
        }
        ("the stored decision", PolicySource::StoredDecision(p))
        | ("no decision", PolicySource::Undecided(p))
        | ("an unreadable file", PolicySource::Unreadable { path: p, .. }) => {
            p == world.consent.store().file()
        }
        _ => false,
    };
    assert!(ok, "expected {source}, got {:?}", effective.source);
}

#[then(expr = "the output starts with {string}")]
fn output_starts(world: &mut TelemetryWorld, start: String) {
    assert!(
        world.consent.output.starts_with(&start),
        "{}",
        world.consent.output
    );
}

#[then(expr = "the output mentions {string}")]
fn output_mentions(world: &mut TelemetryWorld, text: String) {
    assert!(
        world.consent.output.contains(&text),
        "{}",
        world.consent.output
    );
}

#[then("the output mentions the consent file")]
fn output_mentions_file(world: &mut TelemetryWorld) {
    let file = world.consent.store().file().display().to_string();
    assert!(
        world.consent.output.contains(&file),
        "{}",
        world.consent.output
    );
}

#[then("the tool's local telemetry data is gone")]
fn data_gone(world: &mut TelemetryWorld) {
    let data = world.consent.store().data_dir();
    assert!(!data.exists(), "{} exists", data.display());
}

#[then("the anonymous id differs from the noted one")]
fn id_rotated(world: &mut TelemetryWorld) {
    let now = world.consent.current_id().expect("an id while enabled");
    let before = world.consent.noted_id.clone().expect("an id was noted");
    assert_ne!(now, before);
}

#[then(regex = r"^the notice was (shown|not shown)$")]
fn notice_was(world: &mut TelemetryWorld, what: String) {
    assert_eq!(world.consent.notice_shown, Some(what == "shown"));
}

#[then("no consent file exists")]
fn no_file(world: &mut TelemetryWorld) {
    let file = world.consent.store().file();
    assert!(!file.exists(), "{} exists", file.display());
}

#[then(expr = "the output does not mention {string}")]
fn output_omits(world: &mut TelemetryWorld, text: String) {
    assert!(
        !world.consent.output.contains(&text),
        "{}",
        world.consent.output
    );
}

#[when(expr = "the command line is {string}")]
fn command_line(world: &mut TelemetryWorld, line: String) {
    let args = line.split_whitespace().map(std::ffi::OsString::from);
    world.consent.verb = Some(TelemetryCommand::from_args(args));
}

#[then(regex = r#"^the telemetry verb is ("[a-z]+"|none)$"#)]
fn verb_is(world: &mut TelemetryWorld, verb: String) {
    let expected = match value(&verb).as_deref() {
        Some("status") => Some(TelemetryCommand::Status),
        Some("enable") => Some(TelemetryCommand::Enable),
        Some("disable") => Some(TelemetryCommand::Disable),
        Some("reset") => Some(TelemetryCommand::Reset),
        Some("show") => Some(TelemetryCommand::Show {
            catalog: false,
            json: false,
        }),
        _ => None,
    };
    assert_eq!(world.consent.verb, Some(expected));
}

#[then("the tool's local events are gone")]
fn events_gone(world: &mut TelemetryWorld) {
    let events = world.consent.store().events_path();
    assert!(!events.exists(), "{} exists", events.display());
}

#[then("no lock file is left")]
fn no_lock(world: &mut TelemetryWorld) {
    let file = world.consent.store().file();
    let mut lock = file.as_os_str().to_owned();
    lock.push(".lock");
    let lock = std::path::PathBuf::from(lock);
    assert!(!lock.exists(), "{} exists", lock.display());
}
