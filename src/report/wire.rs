//! A report as it is sent, and how a week's counts become one: its random
//! number, and which counters the sampling keeps.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One week's counts, as a collector receives them (`{"id":…,"report":…}`;
/// see the [module](super)).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Report {
    pub(crate) tool: String,
    pub(crate) tool_version: String,
    pub(crate) catalog_version: u32,
    /// The Monday (UTC) the week began: `YYYY-MM-DD`.
    pub(crate) week: String,
    /// The report's random number, in [0, 1): it alone decides the
    /// sampling.
    pub(crate) x: f64,
    /// The report's rate: it goes out when `x < rate`.
    pub(crate) rate: f64,
    pub(crate) counters: Vec<Counter>,
}

/// How many times an event was recorded with these values in the week,
/// and the rate it was sampled at (`count / rate` estimates the count of
/// every install).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Counter {
    pub(crate) event: String,
    /// Every declared attr, by name: its value as the event wire carries
    /// it (a duration by its bucket's lower bound).
    pub(crate) attrs: BTreeMap<String, String>,
    pub(crate) count: u64,
    pub(crate) rate: f64,
}

/// A counter as the counts file keeps it, for the week being built.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Tally {
    pub(crate) event: String,
    pub(crate) attrs: BTreeMap<String, String>,
    pub(crate) count: u64,
}

/// The counters a report of random number `x` sends, with the rate each
/// was sampled at: a counter goes when `x` is below its event's rate
/// (never above the report's), so one of a lower rate is there only
/// when every one of a higher rate is.
pub(crate) fn sampled<'a>(
    x: f64,
    tallies: impl IntoIterator<Item = (&'a Tally, f64)>,
) -> Vec<Counter> {
    tallies
        .into_iter()
        .filter(|&(_, rate)| x < rate)
        .map(|(t, rate)| Counter {
            event: t.event.clone(),
            attrs: t.attrs.clone(),
            count: t.count,
            rate,
        })
        .collect()
}

/// A report's id and random number: 32 hex digits (a hash of the process,
/// the time, a counter and `secret`, the install's own salt, which never
/// leaves the machine: no one else can foresee it), and the first 52 bits
/// of them as a number in [0, 1).
pub(crate) fn fresh_id_and_x(secret: &[u8]) -> (String, f64) {
    let id = crate::machine::fresh_id(secret);
    (id.clone(), x_of(&id))
}

/// The random number a report id carries.
#[expect(clippy::cast_precision_loss, reason = "52 bits: exact in an f64")]
pub(crate) fn x_of(id: &str) -> f64 {
    let bits = id
        .get(..13)
        .and_then(|hex| u64::from_str_radix(hex, 16).ok())
        .unwrap_or(u64::MAX >> 12);
    bits as f64 / (1_u64 << 52) as f64
}

/// Appends `{"id":…,"report":{…}}` and a newline: a report as a collector
/// receives it (and the local file keeps it), line-safe.
pub(crate) fn write_line(out: &mut Vec<u8>, id: &str, report: &Report) -> serde_json::Result<()> {
    out.extend_from_slice(b"{\"id\":");
    crate::event::write_json(out, id)?;
    out.extend_from_slice(b",\"report\":");
    crate::event::write_json(out, report)?;
    out.extend_from_slice(b"}\n");
    Ok(())
}

/// The last report sealed, as `telemetry show` shows it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Last {
    pub(crate) id: String,
    /// Whether it was sampled (and handed to the spool or the local file).
    pub(crate) sent: bool,
    pub(crate) report: Report,
}

/// The decision counts are made under: a hash of the install's salt and
/// when the user opted in (kept on disk, never sent).
pub(crate) fn decision_of(salt: &str, since: Option<&str>) -> String {
    use sha2::Digest as _;
    let digest = sha2::Sha256::digest(format!("{salt}\n{}", since.unwrap_or("")).as_bytes());
    hex::encode(&digest[..16])
}
