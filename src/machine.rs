//! The salted, hashed machine identity.

use std::sync::OnceLock;

use sha2::{Digest, Sha256};

/// The anonymous machine identity: a salted SHA-256 of the OS machine id.
///
/// The raw id never leaves [`MachineId::derive`]: it is not stored, printed,
/// logged or put in an error. Only its salted hash is returned.
///
/// # Example
///
/// ```
/// use rtb_telemetry::MachineId;
///
/// let id = MachineId::derive("mytool-telemetry-v1");
/// assert_eq!(id.len(), 64);
/// assert!(id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)));
/// assert_eq!(id, MachineId::derive("mytool-telemetry-v1"));
/// assert_ne!(id, MachineId::derive("another-tool"));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct MachineId;

impl MachineId {
    /// `hex(SHA-256(salt ‖ raw machine id))`: 64 lowercase hex characters.
    ///
    /// The salt is the discriminator: each tool picks its own, so two tools on
    /// one machine cannot be linked, and rotating the salt retires old ids.
    ///
    /// When the OS gives no usable id (none at all, an empty or blank one, or
    /// systemd's `uninitialized`, as in many containers), a random id is drawn
    /// once per process and used instead: the result is still stable for the
    /// life of the process, but not across runs.
    #[must_use]
    pub fn derive(salt: &str) -> String {
        // The error is dropped unread: it may quote what the OS returned.
        derive_from(salt, machine_uid::get().ok().as_deref())
    }
}

/// [`MachineId::derive`] with the raw id passed in, so tests can exercise the
/// fallback deterministically.
pub(crate) fn derive_from(salt: &str, raw: Option<&str>) -> String {
    let raw = raw.map(str::trim).filter(|raw| usable(raw));
    let raw = raw.unwrap_or_else(|| process_fallback_id());
    let mut hasher = Sha256::new();
    hasher.update(salt.as_bytes());
    hasher.update(raw.as_bytes());
    hex::encode(hasher.finalize())
}

fn usable(raw: &str) -> bool {
    !raw.is_empty() && !raw.eq_ignore_ascii_case("uninitialized")
}

/// [`MachineId::derive`], but `None` when the OS gives no usable id (so the
/// result would be this process's random fallback, which no other process
/// can reproduce).
#[cfg(feature = "upload")]
pub(crate) fn derive_stable(salt: &str) -> Option<String> {
    let raw = machine_uid::get().ok()?;
    let raw = raw.trim();
    usable(raw).then(|| derive_from(salt, Some(raw)))
}

/// This process's effective user id.
#[cfg(unix)]
pub(crate) fn effective_uid() -> u32 {
    static UID: OnceLock<u32> = OnceLock::new();
    *UID.get_or_init(|| nix::unistd::geteuid().as_raw())
}

/// A random id, drawn on first use and kept for the life of the process.
fn process_fallback_id() -> &'static str {
    static FALLBACK: OnceLock<String> = OnceLock::new();
    FALLBACK.get_or_init(|| uuid::Uuid::new_v4().simple().to_string())
}

/// A fresh id: 32 hex digits, a hash of the process, the time, a counter
/// and `salt` (the event's anonymous id), unique as a record's id must be.
/// Made without the system's random source, which `uuid` panics without
/// (a seccomp filter can deny it): recording never panics, not even in a
/// panic hook.
pub(crate) fn fresh_id(salt: &[u8]) -> String {
    static SEQ: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let seq = SEQ.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut hasher = sha2::Sha256::new();
    hasher.update(std::process::id().to_le_bytes());
    hasher.update(nanos.to_le_bytes());
    hasher.update(seq.to_le_bytes());
    hasher.update(salt);
    hex::encode(&hasher.finalize()[..16])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha256_hex(bytes: &[u8]) -> String {
        hex::encode(Sha256::digest(bytes))
    }

    #[test]
    fn hashes_salt_then_raw_id() {
        let id = derive_from("salt", Some("0123456789abcdef"));
        assert_eq!(id, sha256_hex(b"salt0123456789abcdef"));
        assert_eq!(id.len(), 64);
        assert!(!id.contains("0123456789abcdef"));
    }

    #[test]
    fn surrounding_whitespace_is_not_part_of_the_id() {
        assert_eq!(
            derive_from("s", Some("  abc\n")),
            derive_from("s", Some("abc"))
        );
    }

    #[test]
    fn missing_empty_blank_and_uninitialized_fall_back_to_one_process_id() {
        let fallback = derive_from("s", None);
        for junk in ["", "   \n", "uninitialized", "UNINITIALIZED\n"] {
            assert_eq!(derive_from("s", Some(junk)), fallback, "raw id {junk:?}");
        }
        // Not the hash of the junk itself, so containers do not collapse into
        // one identity.
        assert_ne!(fallback, sha256_hex(b"s"));
        assert_ne!(fallback, sha256_hex(b"suninitialized"));
        // The fallback is salted like a real id.
        assert_ne!(derive_from("t", None), fallback);
    }
}
