// A raw number where a bucketed count is declared.
rtb_telemetry::catalog! {
    pub catalog Mytool: version 1;
    pub buckets Files = [0, 1, 10];
    pub event Build = "build" { files: Files }
}

fn main() {
    let telemetry = rtb_telemetry::Telemetry::builder("mytool", "1.0.0")
        .catalog::<Mytool>()
        .init();
    let files: u64 = 3;
    telemetry.record(Build { files });
}
