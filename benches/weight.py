#!/usr/bin/env python3
"""What the crate adds to a tool's binary: a bare clap tool that prints a
greeting, against the same tool with `Telemetry::builder(..).init()` and one
`record_with_attrs`, built in release and stripped, side by side.

    python3 benches/weight.py [--check]

Prints a Markdown table: the stripped binary's size, what it adds over the
bare tool, and the crates in its tree. With `--check`, fails (exit 1) when
the default features add more than 0.5 MB or `http` + `otlp` more than
2.5 MB. The tools are generated in a temporary directory; they use this
checkout by path and the versions in its Cargo.lock.
"""
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
LIMITS = {"default": 0.5e6, "http,otlp": 2.5e6}

MAIN_BARE = """use clap::Parser;
#[derive(Parser)]
struct Cli { name: Option<String> }
fn main() {
    let cli = Cli::parse();
    println!("hello, {}", cli.name.as_deref().unwrap_or("world"));
}
"""

MAIN_TELEMETRY = """use clap::Parser;
#[derive(Parser)]
struct Cli { name: Option<String> }
fn main() {
    let telemetry = rtb_telemetry::Telemetry::builder("weigh", "1.0.0").init();
    let cli = Cli::parse();
    telemetry.record_with_attrs("greet", [("who", cli.name.clone().unwrap_or_default())]);
    println!("hello, {}", cli.name.as_deref().unwrap_or("world"));
}
"""


def clap_version():
    with open(os.path.join(ROOT, "Cargo.lock")) as f:
        lines = f.read().split("[[package]]")
    for block in lines:
        if 'name = "clap"\n' in block:
            return block.split('version = "')[1].split('"')[0]
    return "4"


def make(dir, name, main, features):
    os.makedirs(os.path.join(dir, "src"))
    deps = f'clap = {{ version = "={clap_version()}", features = ["derive"] }}\n'
    if features is not None:
        feats = ", ".join(f'"{f}"' for f in features)
        deps += f'rtb-telemetry = {{ path = "{ROOT}", features = [{feats}] }}\n'
    with open(os.path.join(dir, "Cargo.toml"), "w") as f:
        f.write(
            f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2024"\n\n'
            f"[dependencies]\n{deps}\n"
            '[profile.release]\nstrip = true\n\n[workspace]\n'
        )
    with open(os.path.join(dir, "src", "main.rs"), "w") as f:
        f.write(main)
    # The checkout's lock file pins the shared crates to the same versions.
    shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(dir, "Cargo.lock"))


def build(dir, name, target):
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    start = time.monotonic()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=dir, env=env, check=True)
    seconds = time.monotonic() - start
    size = os.path.getsize(os.path.join(target, "release", name))
    host = next(
        line.split(": ", 1)[1]
        for line in subprocess.run(["rustc", "-vV"], capture_output=True, text=True).stdout.splitlines()
        if line.startswith("host: ")
    )
    meta = subprocess.run(
        ["cargo", "metadata", "--format-version", "1", "--quiet", "--filter-platform", host],
        cwd=dir, env=env, check=True, capture_output=True, text=True,
    )
    resolve = json.loads(meta.stdout)["resolve"]
    # Crates built for this platform, the tool itself not counted.
    crates = len(resolve["nodes"]) - 1
    return size, crates, seconds


def main():
    check = "--check" in sys.argv
    work = tempfile.mkdtemp(prefix="weigh-")
    target = os.path.join(work, "target")
    cases = [
        ("bare clap tool", "bare", MAIN_BARE, None),
        ("+ rtb-telemetry, default features", "default", MAIN_TELEMETRY, []),
        ("+ rtb-telemetry, `http` + `otlp`", "http,otlp", MAIN_TELEMETRY, ["http", "otlp"]),
    ]
    rows = []
    for label, key, main_rs, features in cases:
        name = "weigh_" + key.replace(",", "_")
        dir = os.path.join(work, name)
        make(dir, name, main_rs, features)
        size, crates, seconds = build(dir, name, target)
        rows.append((label, key, size, crates, seconds))
    bare = rows[0][2]
    print(
        "| release, stripped | binary | over the bare tool | crates in the tree "
        "| build, s (after the row above, in one target dir) |"
    )
    print("|---|---:|---:|---:|---:|")
    failed = []
    for label, key, size, crates, seconds in rows:
        extra = size - bare
        shown = "—" if key == "bare" else f"+{extra / 1e6:.3f} MB ({extra:,} bytes)"
        print(f"| {label} | {size / 1e6:.3f} MB | {shown} | {crates} | {seconds:.0f} |")
        if key in LIMITS and extra > LIMITS[key]:
            failed.append(f"{label}: +{extra / 1e6:.2f} MB > {LIMITS[key] / 1e6:.1f} MB")
    shutil.rmtree(work, ignore_errors=True)
    if check and failed:
        print("FAIL: " + "; ".join(failed), file=sys.stderr)
        sys.exit(1)


if __name__ == "__main__":
    main()
