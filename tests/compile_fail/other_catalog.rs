// Another catalogue's event.
rtb_telemetry::catalog! {
    pub catalog Mytool: version 1;
    pub event Build = "build" {}
}

mod other {
    rtb_telemetry::catalog! {
        pub catalog Other: version 1;
        pub event Deploy = "deploy" {}
    }
}

fn main() {
    let telemetry = rtb_telemetry::Telemetry::builder("mytool", "1.0.0")
        .catalog::<Mytool>()
        .init();
    telemetry.record(other::Deploy {});
}
