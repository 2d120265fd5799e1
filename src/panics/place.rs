//! A panic's place: where in which crate it happened, as
//! `<crate>@<version>/<path inside the crate>:<line>:<column>` — never
//! where that crate sat on the machine that built it (a home directory, a
//! user name, a `CARGO_HOME`).
//!
//! `std::panic::Location::file()` is the path rustc was given:
//!
//! | built from | `file()` | place |
//! |---|---|---|
//! | the tool's workspace | `src/main.rs` | `mytool@1.2.0/src/main.rs` |
//! | crates.io (a dependency, `cargo install`) | `/home/ada/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/foo-1.2.3/src/lib.rs` | `foo@1.2.3/src/lib.rs` |
//! | a git dependency | `/home/ada/.cargo/git/checkouts/foo-3f2a…/a1b2c3d/src/lib.rs` | `foo@git-a1b2c3d/src/lib.rs` |
//! | a vendored or unpacked crate | `/home/ada/x/vendor/foo-1.2.3/src/lib.rs` | `foo@1.2.3/src/lib.rs` |
//! | `cargo vendor` without versions | `/home/ada/x/vendor/foo/src/lib.rs` | `foo@?/src/lib.rs` |
//! | the standard library | `/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/option.rs` | `core@rustc-90b35a623/src/option.rs` |
//! | anywhere else | `/home/ada/src/acme/gen/x.rs` | `?@?/x.rs` (the file's name only) |
//!
//! Windows paths read the same with `\`. Only the path from the crate's
//! root is kept, each component of ASCII letters, digits and `._+-`
//! (anything else becomes `_`); a component or crate name equal to one of
//! the user's names (any case) becomes `_`, and never names a crate; the
//! whole is at most [`MAX_PLACE`] bytes (the path's head is dropped
//! first).

use std::fmt::Write as _;

/// The longest place.
pub(crate) const MAX_PLACE: usize = 200;

/// The places' crate and version when nothing names them.
const UNKNOWN: &str = "?@?";

/// What a place is made from, besides the panic's location: the tool's own
/// name and version (for paths inside its workspace) and the user's names
/// (never to appear in a place).
#[derive(Debug, Clone, Default)]
pub(crate) struct Owner {
    pub(crate) tool: String,
    pub(crate) version: String,
    /// Names that must not appear as a component or a crate: the user's
    /// login names and home directory's name, lowercased.
    pub(crate) users: Vec<String>,
}

impl Owner {
    /// Whether `text` holds one of the user's names of three letters or
    /// more, in any case.
    fn holds_user(&self, text: &str) -> bool {
        let lower = text.to_lowercase();
        self.users
            .iter()
            .any(|user| user.chars().count() >= 3 && lower.contains(user.as_str()))
    }

    /// Whether `text`, or a `-`-separated part of it (a crate `ci-ada`),
    /// is one of the user's names, in any case.
    fn is_user(&self, text: &str) -> bool {
        !text.is_empty() && {
            let lower = text.to_lowercase();
            self.users.contains(&lower)
                || lower
                    .split('-')
                    .any(|part| self.users.iter().any(|user| user == part))
        }
    }
}

/// The place of a panic at `file:line:column`.
pub(crate) fn place(file: &str, line: u32, column: u32, owner: &Owner) -> String {
    let path: String = file
        .chars()
        .map(|c| if c == '\\' { '/' } else { c })
        .collect();
    let parts: Vec<&str> = path.split('/').collect();
    let (who, rest) = locate(&path, &parts, owner);
    let mut out = String::with_capacity(MAX_PLACE);
    out.push_str(&who);
    // The tail that fits: ":line:column" and as many components from the
    // end as room allows.
    let tail = format!(":{line}:{column}");
    let room = MAX_PLACE.saturating_sub(out.len() + tail.len());
    let clean: Vec<String> = rest
        .iter()
        .filter(|c| !c.is_empty() && **c != ".")
        .map(|c| component(c, owner))
        .collect();
    let mut used = 0;
    let mut first = clean.len();
    while first > 0 && used + clean[first - 1].len() < room {
        used += clean[first - 1].len() + 1;
        first -= 1;
    }
    if first == clean.len() {
        // Not even the file name fits: its end.
        if let Some(last) = clean.last() {
            let keep = room.saturating_sub(1);
            let start = last.len().saturating_sub(keep);
            let _ = write!(out, "/{}", &last[start..]);
        }
    }
    for c in &clean[first..] {
        out.push('/');
        out.push_str(c);
    }
    if clean.is_empty() {
        out.push_str("/_"); // no file named at all
    }
    out.push_str(&tail);
    out
}

/// The crate and version (`name@version`) a path is in, and the path's
/// components inside that crate.
fn locate<'a>(path: &str, parts: &'a [&'a str], owner: &Owner) -> (String, &'a [&'a str]) {
    // The standard library, as rustc's own builds name it.
    if let Some(at) = parts.iter().position(|p| *p == "rustc")
        && let (Some(hash), Some(&"library"), Some(krate)) =
            (parts.get(at + 1), parts.get(at + 2), parts.get(at + 3))
        && hash.len() >= 9
        && hash.bytes().all(|b| b.is_ascii_hexdigit())
    {
        let who = format!("{}@rustc-{}", name(krate), &hash[..9]);
        return (who, &parts[at + 4..]);
    }
    // rust-src, when the standard library was built from it.
    if let Some(at) = find_run(parts, &["rustlib", "src", "rust", "library"])
        && let Some(krate) = parts.get(at + 4)
    {
        return (format!("{}@rust", name(krate)), &parts[at + 5..]);
    }
    // Cargo's registry: `…/registry/src/<index>/<name>-<version>/…`.
    if let Some(at) = find_run(parts, &["registry", "src"])
        && let Some((krate, version)) = parts.get(at + 3).and_then(|p| split_versioned(p))
        && !owner.is_user(krate)
    {
        return (
            format!("{}@{}", name(krate), name(version)),
            &parts[at + 4..],
        );
    }
    // Cargo's git checkouts: `…/git/checkouts/<name>-<hash>/<rev>/…`.
    if let Some(at) = find_run(parts, &["git", "checkouts"])
        && let (Some(dir), Some(rev)) = (parts.get(at + 2), parts.get(at + 3))
        && let Some((krate, _)) = dir.rsplit_once('-')
        && !owner.is_user(krate)
    {
        return (
            format!("{}@git-{}", name(krate), name(rev)),
            &parts[at + 4..],
        );
    }
    // A crate unpacked under its name and version anywhere (`cargo vendor
    // --versioned-dirs`, a downloaded `.crate`): the last such component
    // that is not a user's name (`/home/ada-1.2.3` is a home).
    let unpacked = |p: &&str| split_versioned(p).is_some_and(|(krate, _)| !owner.is_user(krate));
    if let Some(at) = parts.iter().rposition(unpacked)
        && let Some((krate, version)) = split_versioned(parts[at])
    {
        return (
            format!("{}@{}", name(krate), name(version)),
            &parts[at + 1..],
        );
    }
    // `cargo vendor` without versions: `…/vendor/<name>/…`.
    if let Some(at) = parts.iter().rposition(|p| *p == "vendor")
        && let Some(krate) = parts.get(at + 1).filter(|k| !owner.is_user(k))
        && parts.len() > at + 2
    {
        return (format!("{}@?", name(krate)), &parts[at + 2..]);
    }
    if !is_absolute(path) {
        // The tool's workspace (cargo gives its members' paths relative to
        // it): what follows the last `..`.
        let from = parts.iter().rposition(|p| *p == "..").map_or(0, |i| i + 1);
        let who = format!("{}@{}", name(&owner.tool), name(&owner.version));
        return (who, &parts[from..]);
    }
    // An absolute path nothing names: the file's name alone (what comes
    // before it may be anyone's directories: `~/src/<employer>/…`), and
    // not even that if a user's name is in it (`/home/ada/ada_notes.rs`).
    let file = &parts[parts.len().saturating_sub(1)..];
    if file.iter().any(|f| owner.holds_user(f)) {
        return (UNKNOWN.to_owned(), &[]);
    }
    (UNKNOWN.to_owned(), file)
}

/// Where `run` starts in `parts`, the last time it does.
fn find_run(parts: &[&str], run: &[&str]) -> Option<usize> {
    (0..parts.len().saturating_sub(run.len() - 1))
        .rev()
        .find(|&i| parts[i..].starts_with(run))
}

fn is_absolute(path: &str) -> bool {
    let bytes = path.as_bytes();
    path.starts_with('/')
        || (bytes.len() >= 2 && bytes[0].is_ascii_alphabetic() && bytes[1] == b':')
}

/// `foo-bar-1.2.3-rc.1` as (`foo-bar`, `1.2.3-rc.1`): the first `-` that
/// a `major.minor.patch` follows.
fn split_versioned(component: &str) -> Option<(&str, &str)> {
    component.match_indices('-').find_map(|(i, _)| {
        let (krate, version) = (&component[..i], &component[i + 1..]);
        (!krate.is_empty() && is_version(version)).then_some((krate, version))
    })
}

/// `major.minor.patch`, then anything of semver's pre-release and build
/// characters.
fn is_version(text: &str) -> bool {
    let mut numbers = 0;
    let mut rest = text;
    while numbers < 3 {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return false;
        }
        rest = &rest[digits..];
        numbers += 1;
        if numbers < 3 {
            let Some(after) = rest.strip_prefix('.') else {
                return false;
            };
            rest = after;
        }
    }
    (rest.is_empty() || rest.starts_with(['-', '+']))
        && rest
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'+'))
}

/// A crate's name or version as a place shows it.
fn name(text: &str) -> String {
    let kept: String = text.chars().take(64).map(safe).collect();
    if kept.is_empty() { "?".into() } else { kept }
}

/// A path component as a place shows it: safe characters only, never a
/// user's name.
fn component(text: &str, owner: &Owner) -> String {
    if owner.is_user(text) {
        return "_".into();
    }
    let kept: String = text.chars().take(64).map(safe).collect();
    if kept == ".." { "_".into() } else { kept }
}

fn safe(c: char) -> char {
    if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '+' | '-') {
        c
    } else {
        '_'
    }
}

/// Whether `text` has a place's shape: `<crate>@<version>/<path>:<line>:<column>`,
/// each path component of `[A-Za-z0-9._+-]` and none `..`, at most
/// [`MAX_PLACE`] bytes. What a collector checks (the catalogue's `place`
/// kind); an absolute path, a user's `~` or a message never has it.
pub(crate) fn is_place(text: &str) -> bool {
    if text.len() > MAX_PLACE {
        return false;
    }
    let mut pieces = text.rsplitn(3, ':');
    let (Some(column), Some(line), Some(rest)) = (pieces.next(), pieces.next(), pieces.next())
    else {
        return false;
    };
    let number = |n: &str| !n.is_empty() && n.len() <= 10 && n.bytes().all(|b| b.is_ascii_digit());
    if !number(line) || !number(column) {
        return false;
    }
    let Some((who, path)) = rest.split_once('/') else {
        return false;
    };
    let Some((krate, version)) = who.split_once('@') else {
        return false;
    };
    let word = |w: &str| {
        !w.is_empty()
            && w.bytes()
                .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'+' | b'-' | b'?'))
    };
    word(krate)
        && word(version)
        && path
            .split('/')
            .all(|c| word(c) && c != ".." && c != "." && !c.contains('?'))
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn owner() -> Owner {
        Owner {
            tool: "mytool".into(),
            version: "1.2.0".into(),
            users: vec!["ada".into(), "ada-1.2.3".into(), "ömer".into()],
        }
    }

    #[test]
    fn each_kind_of_path_names_its_crate() {
        let cases = [
            ("src/main.rs", "mytool@1.2.0/src/main.rs:3:5"),
            ("./src/main.rs", "mytool@1.2.0/src/main.rs:3:5"),
            (
                "/home/ada/.cargo/registry/src/index.crates.io-1949cf8c6b5b557f/foo-1.2.3/src/lib.rs",
                "foo@1.2.3/src/lib.rs:3:5",
            ),
            (
                r"C:\Users\ada\.cargo\registry\src\index.crates.io-1949cf8c6b5b557f\foo-bar-2d-0.10.0-rc.1\src\a\b.rs",
                "foo-bar-2d@0.10.0-rc.1/src/a/b.rs:3:5",
            ),
            (
                "/opt/cargo/git/checkouts/foo-3f2a1b2c3d4e5f60/a1b2c3d/crates/x/src/lib.rs",
                "foo@git-a1b2c3d/crates/x/src/lib.rs:3:5",
            ),
            (
                "/home/ada/x/vendor/foo-1.2.3/src/lib.rs",
                "foo@1.2.3/src/lib.rs:3:5",
            ),
            (
                "/rustc/90b35a6239c3d8bdabc530a6a0816f7ff89a0aaf/library/core/src/option.rs",
                "core@rustc-90b35a623/src/option.rs:3:5",
            ),
            (
                "/home/ada/.rustup/toolchains/stable/lib/rustlib/src/rust/library/std/src/io.rs",
                "std@rust/src/io.rs:3:5",
            ),
            ("/home/ada/proj/gen/src/x.rs", "?@?/x.rs:3:5"),
            ("/home/ada/gen.rs", "?@?/gen.rs:3:5"),
            (
                "/home/bob/src/github.com/acme-internal/secretlib/lib.rs",
                "?@?/lib.rs:3:5",
            ),
            (
                "/home/ada/x/vendor/serde/src/de.rs",
                "serde@?/src/de.rs:3:5",
            ),
            ("/home/ada-1.2.3/proj/src/main.rs", "?@?/main.rs:3:5"),
            ("/home/ÖMER/src/Ömer/x.rs", "?@?/x.rs:3:5"),
            ("/home/ada/ada_notes.rs", "?@?/_:3:5"),
            ("src/ömer/ÖMER.rs", "mytool@1.2.0/src/_/_MER.rs:3:5"),
            (
                "../outside/src/lib.rs",
                "mytool@1.2.0/outside/src/lib.rs:3:5",
            ),
            ("src/ada/ADA.rs", "mytool@1.2.0/src/_/ADA.rs:3:5"),
            ("src/données ~x.rs", "mytool@1.2.0/src/donn_es__x.rs:3:5"),
        ];
        for (file, want) in cases {
            let got = place(file, 3, 5, &owner());
            assert_eq!(got, want, "{file}");
            assert!(is_place(&got), "{got} has a place's shape");
        }
    }

    #[test]
    fn a_long_path_keeps_its_end() {
        let deep = format!("src/{}main.rs", "very-long-module-name/".repeat(40));
        let got = place(&deep, 1, 1, &owner());
        assert!(got.len() <= MAX_PLACE, "{}", got.len());
        assert!(got.starts_with("mytool@1.2.0/") && got.ends_with("/main.rs:1:1"));
        assert!(is_place(&got));
        let versioned = format!("/r/{}-1.0.0{}/src/x.rs", "k".repeat(100), "+b".repeat(100));
        let got = place(&versioned, u32::MAX, u32::MAX, &owner());
        assert!(got.len() <= MAX_PLACE && is_place(&got), "{got}");
        let one = place(&"x".repeat(1000), u32::MAX, u32::MAX, &owner());
        assert!(one.len() <= MAX_PLACE && is_place(&one), "{one}");
    }

    #[test]
    fn what_is_not_a_place() {
        for text in [
            "/home/ada/src/main.rs:1:2",
            "foo@1.0/../etc/passwd:1:2",
            "foo@1.0/src/main.rs",
            "foo@1.0/src/main.rs:1:x",
            "foo/src/main.rs:1:2",
            "foo@1.0/src/ma in.rs:1:2",
            "foo@1.0/src/a.rs:1:2:3",
            "called `Option::unwrap()` on a `None` value",
        ] {
            assert!(!is_place(text), "{text}");
        }
    }

    /// A path as a build on some machine could give it: a prefix (a home
    /// directory, `CARGO_HOME`, a drive) then a crate's own path. Users
    /// start with `u`, crates with `k` and directories never with `u`, so
    /// no crate's own name is taken for a user's.
    fn build(
        shape: u8,
        user: &str,
        krate: &str,
        crate_path: &str,
        hash: &str,
        windows: bool,
    ) -> (String, String) {
        let home = if windows {
            format!("C:/Users/{user}")
        } else if shape.is_multiple_of(2) {
            format!("/home/{user}")
        } else {
            format!("/Users/{user}")
        };
        let file = match shape {
            0 => format!(
                "{home}/.cargo/registry/src/index.crates.io-{hash}/{krate}-1.2.3/{crate_path}"
            ),
            1 => format!(
                "/opt/{user}/cargo/registry/src/github.com-{hash}/{krate}-1.2.3/{crate_path}"
            ),
            2 => format!("{home}/.cargo/git/checkouts/{krate}-{hash}/abc1234/{crate_path}"),
            3 => format!("{home}/work/{krate}/vendor/{krate}-1.2.3/{crate_path}"),
            4 => format!("{home}/{user}/{crate_path}"),
            5 => format!("{home}/projects/{user}-tool/target/../{crate_path}"),
            _ => format!("{home}/{crate_path}"),
        };
        let file = if windows {
            file.replace('/', "\\")
        } else {
            file
        };
        (file, home)
    }

    fn crate_path() -> impl Strategy<Value = String> {
        prop::collection::vec("[a-t_][a-z0-9_]{0,10}", 0..4).prop_map(|dirs| {
            let dirs: String = dirs.iter().flat_map(|d| [d.as_str(), "/"]).collect();
            format!("src/{dirs}lib.rs")
        })
    }

    const USER: &str = "u[a-z0-9._-]{1,12}";
    const KRATE: &str = "k[a-z0-9_-]{0,10}";
    const HASH: &str = "[0-9a-f]{16}";

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2000))]

        /// No place holds a path's prefix, the home directory or the user's
        /// name, whatever shape the path has.
        #[test]
        fn no_place_names_a_person(
            user in USER, krate in KRATE, path in crate_path(), shape in 0..7_u8,
            hash in HASH, windows: bool, line: u32, column: u32,
        ) {
            let (file, home) = build(shape, &user, &krate, &path, &hash, windows);
            let owner = Owner { tool: "t".into(), version: "1.0.0".into(), users: vec![user.clone()] };
            let got = place(&file, line, column, &owner);
            prop_assert!(is_place(&got), "{got}");
            prop_assert!(!got.contains(&home), "{got} holds {home}");
            for c in got.split(['/', ':', '@', '-']) {
                prop_assert!(!c.eq_ignore_ascii_case(&user), "{got} holds {user}");
            }
            // The prefixes, in what the place holds before the path inside
            // the crate (which may well have a directory `opt` or `home`).
            let prefix_part = got.strip_suffix(&format!(":{line}:{column}")).unwrap_or(&got);
            let prefix_part = prefix_part
                .strip_suffix(path.as_str())
                .unwrap_or(prefix_part);
            for prefix in ["/home", "/Users", "C:", "Users", ".cargo", "registry", "checkouts", "vendor", "/opt"] {
                prop_assert!(!prefix_part.contains(prefix), "{got} holds {prefix}");
            }
        }

        /// Whatever the text, a place has a place's shape and its bound:
        /// any text, and paths of pieces the rules look for.
        #[test]
        fn any_text_makes_a_place(
            file in prop_oneof![
                any::<String>(),
                prop::collection::vec(
                    prop_oneof![
                        Just("registry".to_owned()), Just("src".to_owned()), Just("vendor".to_owned()),
                        Just("git".to_owned()), Just("checkouts".to_owned()), Just("rustc".to_owned()),
                        Just("library".to_owned()), Just("..".to_owned()), Just("C:".to_owned()),
                        "[a-z]{1,80}-[0-9]{1,3}\\.[0-9]{1,3}\\.[0-9]{1,3}[-+a-z0-9.]{0,150}",
                        "[0-9a-f]{9,40}", ".{0,30}",
                    ],
                    0..12,
                ).prop_map(|parts| parts.join("/")),
            ],
            line: u32,
            column: u32,
        ) {
            let got = place(&file, line, column, &owner());
            prop_assert!(got.len() <= MAX_PLACE, "{}", got.len());
            prop_assert!(is_place(&got), "{got:?} from {file:?}");
        }

        /// The same crate at the same path, built by two users with two
        /// `CARGO_HOME`s on two systems: one place.
        #[test]
        fn two_machines_one_place(
            users in (USER, USER), krate in KRATE, path in crate_path(), shape in 0..4_u8,
            hashes in (HASH, HASH), windows in (any::<bool>(), any::<bool>()),
        ) {
            let (a, _) = build(shape, &users.0, &krate, &path, &hashes.0, windows.0);
            let (b, _) = build(shape, &users.1, &krate, &path, &hashes.1, windows.1);
            let (pa, pb) = (place(&a, 7, 9, &owner()), place(&b, 7, 9, &owner()));
            prop_assert!(pa.starts_with(&format!("{krate}@")), "{pa}");
            prop_assert_eq!(pa, pb);
        }
    }
}
