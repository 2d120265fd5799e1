//! One cold scrub, as a command-line tool meets it: a fresh process builds
//! the default scrubber and scrubs one attr, and prints how long each took
//! (nanoseconds, `build scrub`). `benches/scrub_cold.py` runs it once per
//! sample, many times.
//!
//! ```sh
//! cargo build --release --example scrub_cold_probe
//! target/release/examples/scrub_cold_probe
//! ```

use std::hint::black_box;
use std::time::Instant;

use rtb_telemetry::redact::Scrubber;

/// The issue's text: a path, a name, a secret and an address.
const TEXT: &str = "deploy to /home/ada/proj with token=abcdef1234567890 from 10.1.2.3";

fn main() {
    let names = vec!["ada".to_owned()];
    let start = Instant::now();
    let scrubber = black_box(Scrubber::new(&names));
    let built = start.elapsed();
    let output = black_box(scrubber.scrub(black_box(TEXT)));
    let total = start.elapsed();
    assert_eq!(output, "deploy to [path] with token=[secret] from [ip]");
    println!(
        "{} {}",
        built.as_nanos(),
        total.saturating_sub(built).as_nanos()
    );
}
