// A number without buckets: refused where it is declared.
rtb_telemetry::catalog! {
    pub catalog Mytool: version 1;
    pub event Build = "build" {
        files: u64,
    }
}

fn main() {}
