//! The stored choice: the consent file's format, reading it (only what
//! may be trusted, and read whole), and changing it under its lock.

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::TelemetryError;

/// The version of the consent file's format.
pub(super) const FORMAT_VERSION: u32 = 1;
/// The largest consent file read; a real one is under 300 bytes.
const MAX_FILE_BYTES: u64 = 64 * 1024;

/// What the user decided.
///
/// # Example
///
/// ```
/// assert_eq!(rtb_telemetry::consent::Decision::default(), rtb_telemetry::consent::Decision::Undecided);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    /// No decision yet. Counts as off.
    #[default]
    Undecided,
    /// The user opted in.
    Enabled,
    /// The user opted out.
    Disabled,
}

/// The consent file's content.
///
/// ```json
/// {"version":1,"state":"enabled","decided_at":"2026-11-23T21:53:42.123456Z","notice_version":1,"install_id":"…"}
/// ```
///
/// Fields this version does not know are kept when it rewrites the file.
///
/// # Example
///
/// ```
/// use rtb_telemetry::consent::{ConsentStore, Decision};
///
/// let dir = tempfile::tempdir().unwrap();
/// let store = ConsentStore::at("mytool", dir.path().join("c.json"), dir.path().join("d"));
/// store.enable()?;
/// let stored = store.load()?;
/// assert_eq!(stored.state, Decision::Enabled);
/// assert!(stored.decided_at.is_some());
/// # Ok::<(), rtb_telemetry::TelemetryError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct StoredConsent {
    /// The file format's version, currently 1.
    pub version: u32,
    /// The decision.
    #[serde(default)]
    pub state: Decision,
    /// When it was decided, RFC 3339 UTC.
    #[serde(default)]
    pub decided_at: Option<String>,
    /// The newest first-run notice version the user was shown.
    #[serde(default)]
    pub notice_version: Option<u32>,
    /// A random per-install nonce mixed into the machine id's salt. Created
    /// only when the user enables telemetry; `reset` deletes it, so the next
    /// id differs from the old one.
    #[serde(default)]
    pub install_id: Option<String>,
    /// Fields written by other versions, kept as they are.
    #[serde(flatten)]
    pub(super) extra: Map<String, Value>,
}

/// What is on disk at the consent path.
pub(super) enum OnDisk {
    Missing,
    Current(StoredConsent),
    /// A format this build does not know; kept whole so a change can
    /// preserve it.
    Newer {
        version: u64,
        fields: Map<String, Value>,
    },
    Unusable(TelemetryError),
}

/// What a change to the file makes of what is on disk: the fields to
/// write, or `None` to leave the file as it is.
pub(super) type Change = Option<Map<String, Value>>;

/// The consent file at one path, as a tool reads and writes it (`tool` and
/// `verbs` name the tool and its verbs in messages).
pub(super) struct StoredFile<'a> {
    pub(super) path: &'a Path,
    pub(super) tool: &'a str,
    pub(super) verbs: Option<&'a str>,
}

impl StoredFile<'_> {
    fn verb(&self, verb: &str) -> String {
        super::naming::verb_as(self.tool, self.verbs, verb)
    }

    pub(super) fn lock_path(&self) -> PathBuf {
        let mut name = self
            .path
            .file_name()
            .map(OsString::from)
            .unwrap_or_default();
        name.push(".lock");
        self.path.with_file_name(name)
    }

    /// What is on disk, and which version of the file it was read from.
    pub(super) fn read(&self) -> (OnDisk, Option<crate::fs::Fingerprint>) {
        let (bytes, meta) = match crate::fs::read_small_with_meta(self.path, MAX_FILE_BYTES) {
            Ok(None) => return (OnDisk::Missing, None),
            Ok(Some(read)) => read,
            Err(e) => {
                return (
                    OnDisk::Unusable(TelemetryError::consent_io("read", self.path, e)),
                    None,
                );
            }
        };
        let trusted = crate::fs::check_own_file(&meta)
            .and_then(|()| crate::fs::check_trusted_path(self.path));
        let on_disk = match trusted {
            Ok(()) => self.parse(&bytes),
            Err(e) => OnDisk::Unusable(TelemetryError::consent(
                self.path,
                format_args!("is not trusted: {e}"),
                format!(
                    "telemetry stays off while another user could have written it: with its \
                     directory the user's own and private (chmod 700), {} or {} writes a new \
                     file",
                    self.verb("enable"),
                    self.verb("disable")
                ),
            )),
        };
        (on_disk, Some(crate::fs::Fingerprint::of(&meta)))
    }

    fn parse(&self, bytes: &[u8]) -> OnDisk {
        let corrupt = |why: &dyn std::fmt::Display| {
            OnDisk::Unusable(TelemetryError::consent(
                self.path,
                format_args!("is not a consent file this tool can read ({why})"),
                format!(
                    "the file is damaged; {} or {} writes a new one, {} deletes it. Until \
                     then telemetry stays off",
                    self.verb("enable"),
                    self.verb("disable"),
                    self.verb("reset")
                ),
            ))
        };
        let fields = match serde_json::from_slice::<Value>(bytes) {
            Ok(Value::Object(fields)) => fields,
            Ok(_) => return corrupt(&"not a JSON object"),
            Err(e) => return corrupt(&e),
        };
        match fields.get("version").and_then(Value::as_u64) {
            Some(version) if version > u64::from(FORMAT_VERSION) => {
                return OnDisk::Newer { version, fields };
            }
            Some(_) => {}
            None => return corrupt(&"no format version"),
        }
        match from_fields(fields) {
            Ok(stored) => OnDisk::Current(stored),
            Err(e) => corrupt(&e),
        }
    }

    pub(super) fn newer_error(&self, version: u64) -> TelemetryError {
        TelemetryError::consent(
            self.path,
            format_args!(
                "was written by a newer version of {} (format {version}; this one reads \
                 {FORMAT_VERSION}), so this version cannot change it without losing what it \
                 does not understand",
                self.tool
            ),
            format!(
                "use the newer {} to change the decision, or {} to start over",
                self.tool,
                self.verb("reset")
            ),
        )
    }

    /// Read-modify-write under the lock: `change` sees what is on disk
    /// after locking and says what to write (`None`: nothing). An opt-out
    /// (`insist`) is written even when the lock cannot be had in time.
    pub(super) fn update(
        &self,
        insist: bool,
        patience: Duration,
        change: impl FnOnce(OnDisk) -> Result<Change, TelemetryError>,
    ) -> Result<(), TelemetryError> {
        let _lock = self.lock(insist, patience)?;
        self.write_change(change)
    }

    /// The consent lock, created with its directory if need be. `None`
    /// only when `insist`ing past a lock nobody let go of in time.
    pub(super) fn lock(
        &self,
        insist: bool,
        patience: Duration,
    ) -> Result<Option<crate::fs::Lock>, TelemetryError> {
        if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
            crate::fs::create_private_dir_all(dir)
                .map_err(|e| TelemetryError::consent_io("create the directory of", self.path, e))?;
        }
        match crate::fs::lock(&self.lock_path(), patience) {
            Ok(Some(lock)) => Ok(Some(lock)),
            _ if insist => Ok(None),
            Ok(None) => Err(TelemetryError::consent(
                self.path,
                format_args!(
                    "is being changed by another process that did not finish in {} ms",
                    patience.as_millis()
                ),
                "try again; if it persists, another process is stuck holding the lock",
            )),
            Err(e) => Err(TelemetryError::consent_io("lock", &self.lock_path(), e)),
        }
    }

    /// Writes what `change` makes of the file; the caller holds the lock.
    pub(super) fn write_change(
        &self,
        change: impl FnOnce(OnDisk) -> Result<Change, TelemetryError>,
    ) -> Result<(), TelemetryError> {
        let Some(fields) = change(self.read().0)? else {
            return Ok(());
        };
        let mut bytes = serde_json::to_vec_pretty(&fields)
            .map_err(|e| TelemetryError::serde("the consent file", e))?;
        bytes.push(b'\n');
        crate::fs::write_atomic(self.path, &bytes, 0o600)
            .map_err(|e| TelemetryError::consent_io("write", self.path, e))
    }
}

/// The consent file's fields, as `StoredConsent`'s serde form writes them
/// (spelled out: the derive's `flatten` machinery costs a tool's binary
/// more than these lines; a unit test checks they agree).
pub(super) fn to_fields(stored: &StoredConsent) -> Map<String, Value> {
    let mut fields = stored.extra.clone();
    let state = match stored.state {
        Decision::Undecided => "undecided",
        Decision::Enabled => "enabled",
        Decision::Disabled => "disabled",
    };
    let text = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
    fields.insert("version".into(), FORMAT_VERSION.into());
    fields.insert("state".into(), state.into());
    fields.insert("decided_at".into(), text(&stored.decided_at));
    fields.insert(
        "notice_version".into(),
        stored.notice_version.map_or(Value::Null, Value::from),
    );
    fields.insert("install_id".into(), text(&stored.install_id));
    fields
}

/// [`StoredConsent`] from the file's fields (see [`to_fields`]); what this
/// version does not know is kept in `extra`.
fn from_fields(mut fields: Map<String, Value>) -> Result<StoredConsent, String> {
    let text = |value: Option<Value>, name: &str| match value {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(_) => Err(format!("`{name}` is not text")),
    };
    let version = fields
        .remove("version")
        .and_then(|v| v.as_u64())
        .and_then(|v| u32::try_from(v).ok())
        .ok_or("no format version")?;
    let state = match fields.remove("state") {
        None | Some(Value::Null) => Decision::Undecided,
        Some(Value::String(s)) => match s.as_str() {
            "undecided" => Decision::Undecided,
            "enabled" => Decision::Enabled,
            "disabled" => Decision::Disabled,
            other => return Err(format!("unknown state `{other}`")),
        },
        Some(_) => return Err("`state` is not text".into()),
    };
    let decided_at = text(fields.remove("decided_at"), "decided_at")?;
    let notice_version = match fields.remove("notice_version") {
        None | Some(Value::Null) => None,
        Some(v) => Some(
            v.as_u64()
                .and_then(|v| u32::try_from(v).ok())
                .ok_or("`notice_version` is not a number")?,
        ),
    };
    let install_id = text(fields.remove("install_id"), "install_id")?;
    Ok(StoredConsent {
        version,
        state,
        decided_at,
        notice_version,
        install_id,
        extra: fields,
    })
}

pub(super) fn now() -> String {
    crate::timestamp::rfc3339_utc(SystemTime::now())
}

pub(super) fn new_install_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hand-written field mapping agrees with the serde derive, both
    /// ways, unknown fields included.
    #[test]
    fn fields_agree_with_the_serde_form() {
        let mut extra = Map::new();
        extra.insert("future".into(), serde_json::json!({"x": [1, 2]}));
        for state in [Decision::Undecided, Decision::Enabled, Decision::Disabled] {
            let stored = StoredConsent {
                version: FORMAT_VERSION,
                state,
                decided_at: Some("2026-11-30T00:00:00.000000Z".into()),
                notice_version: Some(3),
                install_id: None,
                extra: extra.clone(),
            };
            let by_hand = Value::Object(to_fields(&stored));
            assert_eq!(by_hand, serde_json::to_value(&stored).unwrap());
            let Value::Object(fields) = by_hand else {
                unreachable!()
            };
            assert_eq!(from_fields(fields.clone()).unwrap(), stored);
            assert_eq!(
                serde_json::from_value::<StoredConsent>(Value::Object(fields)).unwrap(),
                stored
            );
        }
        let mut bad = Map::new();
        bad.insert("version".into(), 1.into());
        bad.insert("state".into(), "maybe".into());
        assert!(from_fields(bad).is_err());
    }
}
