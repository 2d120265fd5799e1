//! Shell completions at build time, from the same definition `main.rs`
//! parses with: the `telemetry` verbs are completed like any subcommand.

#[path = "src/cli.rs"]
#[allow(dead_code)]
mod cli;

use clap::CommandFactory as _;
use clap_complete::shells::{Bash, Fish, Zsh};

fn main() -> std::io::Result<()> {
    println!("cargo:rerun-if-changed=src/cli.rs");
    let out = std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR");
    let command = &mut cli::Cli::command();
    for path in [
        clap_complete::generate_to(Bash, command, "completions-host", &out)?,
        clap_complete::generate_to(Fish, command, "completions-host", &out)?,
        clap_complete::generate_to(Zsh, command, "completions-host", &out)?,
    ] {
        // Where check.sh finds them.
        println!("cargo:warning=completions: {}", path.display());
    }
    Ok(())
}
