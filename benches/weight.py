#!/usr/bin/env python3
"""What the crate adds to a tool's binary: a bare clap tool that prints a
greeting, against the same tool with `Telemetry::builder(..).init()` and one
`record_with_attrs`, per feature set, built in release and stripped, side
by side; and the same bare tool linking ureq (rustls) alone, the HTTP stack
the field already uses, for what the crate adds beyond it.

    python3 benches/weight.py [--check] [--clean]

Prints a Markdown table: the stripped binary's size, what it adds over the
bare tool (and over bare + ureq), and the crates in its tree. With
`--check`, fails (exit 1) when a feature set adds more than its bound
(`LIMITS` below) or delivery code is found in the build without telemetry. With `--clean`,
each tool is built in a target directory of its own, so the build column
is a clean release build (what a tool's CI pays); without it, the tools
share one target directory (quicker, and what CI runs). The tools are
generated in a temporary directory; they use this checkout by path and the
versions in its Cargo.lock.

The last row is a packager's build without telemetry (`RUSTFLAGS="--cfg
rtb_telemetry_disabled"`, `http` + `otlp`, in a target directory of its
own). In that build, `examples/mytool.rs` is built too and run: `status`
says the build has no telemetry, `enable` says so and stores nothing, `run`
writes nothing, the uploader's argument exits at once. And the HTTP
client is shown absent: no function of ureq, rustls, webpki, ring or the
crate's exporters, spool writer or uploader has code of its own in either
binary (names that only alias a body live code shares — identical drop
glue, folded — are not code), while the normal `http` + `otlp` build has
them. Binaries are linked unstripped for `nm`; sizes are of `strip`ped
copies.
"""
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
# Bounds: (case, over which case, bytes). Issue 27 asks for 0.5 MB, 1.0 MB
# and 1.2 MB; measured on 2026-12-07 the crate was at 0.535, 1.035 and
# 1.659 MB (docs/benchmarks.md, weight: where the bytes are), so these
# bounds hold what was measured with a little room, and the stay
# open. Raised on 2026-12-07 (issue 28) from 0.55 and 1.05: the typed
# catalogue (a field on every event, OTLP's typed values and the registry
# behind them) and the scrubber's per-pattern compilation (which made its
# cold start 3.5x quicker) added 20 and 28 KB (0.555 and 1.063 measured),
# and a stripped binary's size moves by whole 4 KiB pages as its layout
# does: the room is two pages. Lowering a bound here is the way to show a
# cut landed. Raised again on 2026-12-07 (issue 30), to 0.58, 1.10 and
# 1.72: report mode's part that every build carries (a record that is a
# report, sent alone, its filter; the handle's counting and its call
# sites) plus layout shifts — measured from a fresh clone in CI's layout
# at 0.569, 1.094 and 1.713 MB (0.556, 1.060 and 1.679 before it). The
# rest of report mode is linked only by a tool that calls
# `Reports::weekly`.
LIMITS = [
    ("default", "bare", 0.58e6),
    ("http,otlp", "ureq", 1.10e6),
    ("native-tls,otlp", "bare", 1.72e6),
]

MAIN_BARE = """use clap::Parser;
#[derive(Parser)]
struct Cli { name: Option<String> }
fn main() {
    let cli = Cli::parse();
    println!("hello, {}", cli.name.as_deref().unwrap_or("world"));
}
"""

MAIN_UREQ = """use clap::Parser;
#[derive(Parser)]
struct Cli { name: Option<String> }
fn main() {
    let cli = Cli::parse();
    // Linked, as a tool that posts something would; run only when asked.
    if let Ok(url) = std::env::var("WEIGH_URL") {
        let _ = ureq::post(&url).send(b"hello".as_slice());
    }
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


# The same tool counting its panics: what opting in to `count_panics` adds.
MAIN_PANICS = MAIN_TELEMETRY.replace('.init();', '.count_panics().init();')


def clap_version():
    with open(os.path.join(ROOT, "Cargo.lock")) as f:
        lines = f.read().split("[[package]]")
    for block in lines:
        if 'name = "clap"\n' in block:
            return block.split('version = "')[1].split('"')[0]
    return "4"


def locked_version(crate):
    with open(os.path.join(ROOT, "Cargo.lock")) as f:
        for block in f.read().split("[[package]]"):
            if f'name = "{crate}"\n' in block:
                return block.split('version = "')[1].split('"')[0]
    raise SystemExit(f"{crate} is not in Cargo.lock")


def make(dir, name, main, features):
    os.makedirs(os.path.join(dir, "src"))
    deps = f'clap = {{ version = "={clap_version()}", features = ["derive"] }}\n'
    if features == "ureq":
        deps += (f'ureq = {{ version = "={locked_version("ureq")}", default-features = false, '
                 'features = ["rustls"] }\n')
    elif features is not None:
        feats = ", ".join(f'"{f}"' for f in features)
        deps += f'rtb-telemetry = {{ path = "{ROOT}", features = [{feats}] }}\n'
    with open(os.path.join(dir, "Cargo.toml"), "w") as f:
        f.write(
            f'[package]\nname = "{name}"\nversion = "0.1.0"\nedition = "2024"\n\n'
            f"[dependencies]\n{deps}\n"
            '[profile.release]\nstrip = false\n\n[workspace]\n'
        )
    with open(os.path.join(dir, "src", "main.rs"), "w") as f:
        f.write(main)
    # The checkout's lock file pins the shared crates to the same versions.
    shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(dir, "Cargo.lock"))


def build(dir, name, target, rustflags=None):
    env = dict(os.environ, CARGO_TARGET_DIR=target)
    if rustflags:
        env["RUSTFLAGS"] = rustflags
    start = time.monotonic()
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=dir, env=env, check=True)
    seconds = time.monotonic() - start
    binary = os.path.join(target, "release", name)
    stripped = binary + ".stripped"
    subprocess.run(["strip", "-o", stripped, binary], check=True)
    size = os.path.getsize(stripped)
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


# Functions of the delivery code: the HTTP client and what only it uses.
DELIVERY = re.compile(
    r"\bureq|rustls|webpki|\bring::|rtb_telemetry::pipeline::export"
    r"|rtb_telemetry::pipeline::upload|rtb_telemetry::pipeline::spool::writer"
)
# Not delivery: how a process tells it was started as the uploader, which
# a build without telemetry needs too (to exit at once).
NOT_DELIVERY = re.compile(r"upload::process::(started_as_uploader|marker)\b")


def delivery_code(binary):
    """Functions of the delivery code that have a body of their own: at an
    address no other symbol names (an alias of a body that live code
    shares is not code of its own). Drop glue is not counted, nor the
    `Drop::drop` impls only drop glue calls: the compiler makes it for
    every type a live value may hold (an unused spool writer in the
    handle, a `Vec<u8>` wrapper of rustls's that got a shared body's
    name), and it runs only when a value of the type exists, which the
    build without telemetry never makes (whether the impl is inlined into
    the glue is the optimiser's choice: it was, until 2026-12-07)."""
    out = subprocess.run(["nm", "-C", binary], capture_output=True, text=True, check=True).stdout
    by_address = {}
    for line in out.splitlines():
        parts = line.split(" ", 2)
        if len(parts) == 3 and parts[1] in "tTwW":
            by_address.setdefault(parts[0], []).append(parts[2])
    own = []
    for names in by_address.values():
        names = [
            n
            for n in names
            if not n.startswith("core::ptr::drop_in_place")
            and not n.endswith(" as core::ops::drop::Drop>::drop")
        ]
        ours = [n for n in names if DELIVERY.search(n) and not NOT_DELIVERY.search(n)]
        if names and ours and len(ours) == len(names):
            own.extend(ours)
    return own


MYTOOL_TOML = """[package]
name = "mytool"
version = "0.1.0"
edition = "2024"

[dependencies]
clap = {{ version = "={clap}", features = ["derive"] }}
rtb-telemetry = {{ path = "{root}", features = ["clap", "otlp"] }}

[profile.release]
strip = false

[workspace]
"""


def run_mytool(binary, args, home, extra_env=None):
    env = {
        "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
        "HOME": home,
        "XDG_CONFIG_HOME": os.path.join(home, "config"),
        "XDG_DATA_HOME": os.path.join(home, "data"),
        "XDG_CONFIG_DIRS": os.path.join(home, "etc-xdg"),
    }
    env.update(extra_env or {})
    done = subprocess.run([binary] + args, env=env, capture_output=True, text=True, timeout=60, cwd=home)
    return done.returncode, done.stdout + done.stderr


def check_without_telemetry(work, target, failed):
    """examples/mytool.rs, built without telemetry, run as a user would."""
    dir = os.path.join(work, "mytool")
    os.makedirs(os.path.join(dir, "src"))
    with open(os.path.join(dir, "Cargo.toml"), "w") as f:
        f.write(MYTOOL_TOML.format(clap=clap_version(), root=ROOT))
    shutil.copy(os.path.join(ROOT, "examples", "mytool.rs"), os.path.join(dir, "src", "main.rs"))
    shutil.copy(os.path.join(ROOT, "Cargo.lock"), os.path.join(dir, "Cargo.lock"))
    build(dir, "mytool", target, "--cfg rtb_telemetry_disabled")
    binary = os.path.join(target, "release", "mytool")
    home = tempfile.mkdtemp(prefix="no-telemetry-home-")
    collector = {"MYTOOL_TELEMETRY_ENDPOINT": "http://127.0.0.1:9/events"}
    expectations = [
        (["telemetry", "status"], {}, ["telemetry: disabled", "this build, which has no telemetry"]),
        (["telemetry", "enable"], collector, ["telemetry stays off", "nothing was stored"]),
        (["telemetry", "status"], collector, ["telemetry: disabled"]),
        (["telemetry", "show"], collector, ["telemetry is off"]),
        (["run"], collector, ["mytool: done"]),
        # As the crate starts it (the argument alone is the tool's to
        # refuse: issue 24): exits at once, printing nothing.
        (["--rtb-telemetry-uploader"], dict(collector, MYTOOL_TELEMETRY_UPLOADER="x"), []),
        # A panic: std's message and exit code, and no panic hook of the
        # crate's (nothing written: checked below).
        (["crash"], collector, ["panicked at"]),
    ]
    for args, extra, wanted in expectations:
        code, out = run_mytool(binary, args, home, extra)
        shown = f"mytool {' '.join(args)} (built without telemetry)"
        if code != (101 if args == ["crash"] else 0):
            failed.append(f"{shown} exited {code}: {out!r}")
        for text in wanted:
            if text not in out:
                failed.append(f"{shown} does not say {text!r}: {out!r}")
        if args == ["--rtb-telemetry-uploader"] and out:
            failed.append(f"{shown} printed {out!r}: it should exit at once")
    left = [os.path.join(d, f) for d, _, files in os.walk(home) for f in files]
    if left:
        failed.append(f"mytool built without telemetry wrote {left}")
    shutil.rmtree(home, ignore_errors=True)
    code = delivery_code(binary)
    if code:
        failed.append(f"mytool built without telemetry has delivery code: {code[:5]} …")
    print(f"mytool built without telemetry: {os.path.getsize(binary + '.stripped') / 1e6:.3f} MB "
          f"stripped, {len(code)} delivery functions; status, enable, show, run and the "
          "uploader argument checked")


def main():
    check = "--check" in sys.argv
    clean = "--clean" in sys.argv
    work = tempfile.mkdtemp(prefix="weigh-")
    shared = os.path.join(work, "target")
    cases = [
        ("bare clap tool", "bare", MAIN_BARE, None),
        ("bare + ureq (rustls), the field's client", "ureq", MAIN_UREQ, "ureq"),
        ("+ rtb-telemetry, default features", "default", MAIN_TELEMETRY, []),
        ("+ rtb-telemetry, default features, `.count_panics()`", "default-panics", MAIN_PANICS, []),
        ("+ rtb-telemetry, `upload` (the tool's own client)", "upload", MAIN_TELEMETRY, ["upload"]),
        ("+ rtb-telemetry, `http`", "http", MAIN_TELEMETRY, ["http"]),
        ("+ rtb-telemetry, `http` + `otlp`", "http,otlp", MAIN_TELEMETRY, ["http", "otlp"]),
        ("+ rtb-telemetry, `native-tls` + `otlp`", "native-tls,otlp", MAIN_TELEMETRY,
         ["native-tls", "otlp"]),
    ]
    rows = []
    for label, key, main_rs, features in cases:
        name = "weigh_" + key.replace(",", "_").replace("-", "_")
        dir = os.path.join(work, name)
        make(dir, name, main_rs, features)
        target = os.path.join(work, "target-" + name) if clean else shared
        size, crates, seconds = build(dir, name, target)
        rows.append((label, key, size, crates, seconds, os.path.join(target, "release", name)))
    failed = []
    with_client = next(r[5] for r in rows if r[1] == "http,otlp")
    if len(delivery_code(with_client)) < 100:
        failed.append("the nm check finds no delivery code even in the `http` + `otlp` build")
    # A packager's build: the same tool, the cfg set for every crate, in a
    # target directory of its own (RUSTFLAGS changes every crate's build).
    off_target = os.path.join(work, "target-without-telemetry")
    dir = os.path.join(work, "weigh_off")
    make(dir, "weigh_off", MAIN_TELEMETRY, ["http", "otlp"])
    size, crates, seconds = build(dir, "weigh_off", off_target, "--cfg rtb_telemetry_disabled")
    rows.append(("+ rtb-telemetry, `http` + `otlp`, built with `--cfg rtb_telemetry_disabled` "
                 "(own target dir)", "off", size, crates, seconds, None))
    code = delivery_code(os.path.join(off_target, "release", "weigh_off"))
    if code:
        failed.append(f"the build without telemetry has delivery code: {code[:5]} …")
    check_without_telemetry(work, off_target, failed)
    size_of = {r[1]: r[2] for r in rows}
    build_of = {r[1]: r[4] for r in rows}
    print(
        "| release, stripped | binary | over the bare tool | over bare + ureq | crates in the tree "
        + ("| clean release build, s | over the bare tool's, s |" if clean
           else "| build, s (after the rows above, one target dir) |")
    )
    print("|---|---:|---:|---:|---:|---:|" + ("---:|" if clean else ""))
    for label, key, size, crates, seconds, _ in rows:
        over = lambda base: "—" if key == base else f"{(size - size_of[base]) / 1e6:+.3f} MB"
        if clean:
            added = "—" if key == "bare" else f"{seconds - build_of['bare']:+.0f}"
            build_cols = f"{seconds:.0f} | {added} |"
        else:
            build_cols = f"{seconds:.0f} |"
        print(f"| {label} | {size / 1e6:.3f} MB | {over('bare')} | {over('ureq')} | {crates} | {build_cols}")
    for key, base, limit in LIMITS:
        extra = size_of[key] - size_of[base]
        if extra > limit:
            failed.append(f"{key}: +{extra / 1e6:.3f} MB over {base} > {limit / 1e6:.2f} MB")
        print(f"bound: {key} over {base}: {extra / 1e6:+.3f} MB (at most {limit / 1e6:.2f} MB)")
    shutil.rmtree(work, ignore_errors=True)
    if failed:
        print("FAIL: " + "; ".join(failed), file=sys.stderr)
        if check:
            sys.exit(1)


if __name__ == "__main__":
    main()
