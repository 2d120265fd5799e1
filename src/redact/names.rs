//! The user's names, which the default rule removes wherever they appear.

/// The current user's names ([`current_user_names`]), read once per
/// process.
pub(crate) fn user_names() -> &'static [String] {
    static NAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    NAMES.get_or_init(current_user_names)
}

/// The current user's names, from the environment and the home directory;
/// names shorter than 3 characters are ignored (too many false matches).
pub(crate) fn current_user_names() -> Vec<String> {
    let mut names: Vec<String> = ["USER", "USERNAME", "LOGNAME"]
        .iter()
        .filter_map(|v| std::env::var(v).ok())
        .collect();
    if let Some(home) = directories::BaseDirs::new()
        && let Some(last) = home.home_dir().file_name()
    {
        names.push(last.to_string_lossy().into_owned());
    }
    // Too short matches everywhere; absurdly long (a hostile variable) only
    // makes the pattern slow to build.
    names.retain(|n| (3..=256).contains(&n.chars().count()));
    // At most four: each once, in the order found (the scrubber orders
    // them itself).
    let mut unique: Vec<String> = Vec::with_capacity(names.len());
    for name in names {
        if !unique.contains(&name) {
            unique.push(name);
        }
    }
    unique
}
