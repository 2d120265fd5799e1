// Names, duplicates and buckets are checked when the catalogue compiles.
rtb_telemetry::catalog! {
    pub catalog Mytool: version 1;
    pub enum Outcome { Ok = "ok", Failed = "ok" }
    pub buckets Files = [1, 10];
    pub event Build = "Build!" {}
    pub event Test = "test" {}
    pub event Again = "test" {}
}

fn main() {}
