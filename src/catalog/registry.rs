//! The catalogues this process records with, by tool and version: how an
//! exporter learns an attr's type (OTLP's typed values) from an event that
//! carries only its catalogue's version, in the host run and in the
//! detached uploader alike (the same binary registers the same
//! catalogue). Filled when a handle is made with a catalogue and on a
//! context's first typed record; read only when a batch is encoded.

#[cfg(feature = "otlp")]
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use super::Catalog;
#[cfg(feature = "otlp")]
use super::CatalogSpec;

#[cfg(feature = "otlp")]
struct Entry {
    tool: String,
    version: u32,
    describe: fn() -> CatalogSpec,
    spec: OnceLock<Arc<CatalogSpec>>,
}

#[cfg(feature = "otlp")]
static REGISTRY: Mutex<Vec<Arc<Entry>>> = Mutex::new(Vec::new());

/// Notes that `tool` records with catalogue `C` (only where an exporter
/// reads it: with `otlp`).
#[cfg(not(feature = "otlp"))]
pub(crate) fn register<C: Catalog>(_: &str) {}

/// Notes that `tool` records with catalogue `C`.
#[cfg(feature = "otlp")]
pub(crate) fn register<C: Catalog>(tool: &str) {
    let mut entries = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    if entries
        .iter()
        .any(|e| e.tool == tool && e.version == C::VERSION)
    {
        return;
    }
    entries.push(Arc::new(Entry {
        tool: tool.to_owned(),
        version: C::VERSION,
        describe: CatalogSpec::of::<C>,
        spec: OnceLock::new(),
    }));
}

/// The catalogue `tool` records at `version` with, described.
#[cfg(feature = "otlp")]
pub(crate) fn lookup(tool: &str, version: u32) -> Option<Arc<CatalogSpec>> {
    let entry = REGISTRY
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .iter()
        .find(|e| e.tool == tool && e.version == version)
        .cloned()?;
    Some(Arc::clone(
        entry.spec.get_or_init(|| Arc::new((entry.describe)())),
    ))
}
