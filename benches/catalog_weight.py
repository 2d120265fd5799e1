#!/usr/bin/env python3
"""What declaring events adds to a release binary (issue 28: 50 declared
events at most 20 KB). Four tools, built side by side in release and
stripped, sharing one target directory; each is `Telemetry::builder(..)
.init()` with this checkout's default features, answers the `--telemetry`
verbs (`show --catalog` among them), and:

- `none`: records one event by name;
- `by_name`: records 50 events by name, two attrs each (`record_with_attrs`):
  the same tool without a catalogue;
- `typed_one`: declares one such event in a `catalog!` and records it;
- `typed`: declares the 50 events (an enum of three values and a bool each)
  and records each through `.catalog::<C>()`.

    python3 benches/catalog_weight.py [--check]

Prints the sizes, what `typed` adds over `by_name` (what declaring the
events adds to a tool that records them) and over `none`, the catalogue's
fixed part and the cost of each further event. With `--check`, fails
(exit 1) when `typed` adds more than 20 KB over `by_name`.
"""
import os
import subprocess
import sys
import tempfile

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), ".."))
EVENTS = 50
# Issue 28 asked for at most 20 KB (15.5 KB measured then). Raised to
# 40 KB on 2026-12-07 (issue 30): each typed `record` also holds report
# mode's increment inline (its key, the atomic add), so an increment costs
# at most 100 instructions; measured 37.1 KB (the catalogue's fixed part
# 12.5 KB, each event 715 B). Outlining it measured 112-135 instructions
# per increment and still 25-33 KB, so the inline path was kept.
BOUND = 40_000

CARGO_TOML = """[package]
name = "{name}"
version = "0.1.0"
edition = "2024"

[dependencies]
rtb-telemetry = {{ path = "{root}" }}

[profile.release]
strip = true
"""

VERBS = """    if let Some(verb) = rtb_telemetry::consent::TelemetryCommand::from_args(std::env::args_os()) {
        println!("{}", t.command(verb));
    }
"""

def main_none():
    return """fn main() {
    let t = rtb_telemetry::Telemetry::builder("w", "1").init();
""" + VERBS + """    t.record("run");
}
"""

def main_by_name():
    calls = "\n".join(
        f'    t.record_with_attrs("event_{i}", [("outcome", if std::hint::black_box({i % 3} == 0) {{ "ok" }} else {{ "failed" }}), ("dry_run", "false")]);'
        for i in range(EVENTS)
    )
    return f"""fn main() {{
    let t = rtb_telemetry::Telemetry::builder("w", "1").init();
{VERBS}{calls}
}}
"""

def main_typed(n=EVENTS):
    events = "\n".join(
        f'    /// Event {i}.\n    pub event E{i} = "event_{i}" {{ outcome: Outcome, dry_run: bool }}'
        for i in range(n)
    )
    calls = "\n".join(
        f"    t.record(E{i} {{ outcome: if std::hint::black_box({i % 3} == 0) {{ Outcome::Ok }} else {{ Outcome::Failed }}, dry_run: false }});"
        for i in range(n)
    )
    return f"""rtb_telemetry::catalog! {{
    /// The catalogue.
    pub catalog W: version 1;
    /// How it ended.
    pub enum Outcome {{ Ok = "ok", Failed = "failed", Cancelled = "cancelled" }}
{events}
}}

fn main() {{
    let t = rtb_telemetry::Telemetry::builder("w", "1").catalog::<W>().init();
{VERBS}{calls}
}}
"""

def build(work, target, name, main):
    d = os.path.join(work, name)
    os.makedirs(os.path.join(d, "src"))
    with open(os.path.join(d, "Cargo.toml"), "w") as f:
        f.write(CARGO_TOML.format(name=name, root=ROOT))
    with open(os.path.join(d, "src", "main.rs"), "w") as f:
        f.write(main)
    lock = os.path.join(ROOT, "Cargo.lock")
    if os.path.exists(lock):
        with open(lock) as src, open(os.path.join(d, "Cargo.lock"), "w") as dst:
            dst.write(src.read())
    subprocess.run(
        ["cargo", "build", "--release", "--quiet"],
        cwd=d,
        check=True,
        env={**os.environ, "CARGO_TARGET_DIR": target},
    )
    return os.path.getsize(os.path.join(target, "release", name))

def main():
    check = "--check" in sys.argv[1:]
    with tempfile.TemporaryDirectory() as work:
        target = os.environ.get("CARGO_TARGET_DIR") or os.path.join(ROOT, "target")
        target = os.path.join(target, "catalog-weight")
        sizes = {
            name: build(work, target, name, make())
            for name, make in [
                ("none", main_none),
                ("by_name", main_by_name),
                ("typed_one", lambda: main_typed(1)),
                ("typed", main_typed),
            ]
        }
    print(f"| tool ({EVENTS} events) | stripped bytes |")
    print("|---|---|")
    for name, size in sizes.items():
        print(f"| {name} | {size:,} |")
    over_none = sizes["typed"] - sizes["none"]
    over_name = sizes["typed"] - sizes["by_name"]
    per_event = (sizes["typed"] - sizes["typed_one"]) / (EVENTS - 1)
    print(f"\ntyped adds {over_none:+,} bytes over none and {over_name:+,} over by_name "
          f"(bound: {BOUND:,} over by_name); a catalogue's fixed part is "
          f"{sizes['typed_one'] - sizes['none']:+,} (one event), each further event {per_event:,.0f}")
    if check and over_name > BOUND:
        print(f"FAIL: declaring {EVENTS} events adds {over_name:,} bytes, over {BOUND:,}", file=sys.stderr)
        sys.exit(1)

if __name__ == "__main__":
    main()
