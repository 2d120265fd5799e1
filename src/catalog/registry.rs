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
    /// Which catalogue; a second one for the same tool and version makes
    /// the entry ambiguous, and its values go as strings (never as another
    /// catalogue's types).
    catalog: std::any::TypeId,
    ambiguous: std::sync::atomic::AtomicBool,
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
    let catalog = std::any::TypeId::of::<C>();
    let mut entries = REGISTRY.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(entry) = entries
        .iter()
        .find(|e| e.tool == tool && e.version == C::VERSION)
    {
        if entry.catalog != catalog {
            entry
                .ambiguous
                .store(true, std::sync::atomic::Ordering::Relaxed);
        }
        return;
    }
    entries.push(Arc::new(Entry {
        tool: tool.to_owned(),
        version: C::VERSION,
        catalog,
        ambiguous: std::sync::atomic::AtomicBool::new(false),
        // With the crate's `panic` event: its count goes as an integer.
        describe: || super::with_panic(CatalogSpec::of::<C>()),
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
    if entry.ambiguous.load(std::sync::atomic::Ordering::Relaxed) {
        return None;
    }
    Some(Arc::clone(
        entry.spec.get_or_init(|| Arc::new((entry.describe)())),
    ))
}

#[cfg(all(test, feature = "otlp"))]
#[allow(
    dead_code,
    unreachable_pub,
    reason = "declarations only: their types are what is registered"
)]
mod tests {
    mod a {
        crate::catalog! {
            pub catalog A: version 7;
            pub buckets N = [0, 10];
            pub event E = "e" { n: N }
        }
    }
    mod b {
        crate::catalog! {
            pub catalog B: version 7;
            pub enum N { Ten = "10" }
            pub event E = "e" { n: N }
        }
    }

    /// Two catalogues for one tool and version: neither's types are used
    /// (values go as strings), never one's for the other's events.
    #[test]
    fn two_catalogues_of_one_version_type_nothing() {
        super::register::<a::A>("registry-test");
        assert!(super::lookup("registry-test", 7).is_some());
        super::register::<a::A>("registry-test");
        assert!(
            super::lookup("registry-test", 7).is_some(),
            "the same one again"
        );
        super::register::<b::B>("registry-test");
        assert!(super::lookup("registry-test", 7).is_none());
    }
}
