// An event by name, through a handle made with a catalogue.
rtb_telemetry::catalog! {
    pub catalog Mytool: version 1;
    pub event Build = "build" {}
}

fn main() {
    let telemetry = rtb_telemetry::Telemetry::builder("mytool", "1.0.0")
        .catalog::<Mytool>()
        .init();
    telemetry.record("deploy");
}
