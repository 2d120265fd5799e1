// A free string as an attr: refused where it is declared.
rtb_telemetry::catalog! {
    pub catalog Mytool: version 1;
    pub event Build = "build" {
        branch: String,
    }
}

fn main() {}
