//! Records a few events to a JSON Lines file, prints them, and shows that a
//! disabled context writes nothing.
//!
//! ```sh
//! cargo run --example quickstart
//! ```

use std::collections::HashMap;
use std::path::Path;

use rtb_telemetry::{CollectionPolicy, FileSink, TelemetryContext, TelemetryError};

#[tokio::main(flavor = "current_thread")]
async fn main() -> miette::Result<()> {
    let dir = std::env::temp_dir().join(format!("rtb-telemetry-quickstart-{}", std::process::id()));
    let result = run(&dir).await;
    let _ = std::fs::remove_dir_all(&dir);
    Ok(result?)
}

async fn run(dir: &Path) -> Result<(), TelemetryError> {
    // 1. The user opted in: events go to a JSONL file.
    let path = dir.join("enabled/events.jsonl");
    let telemetry = TelemetryContext::builder()
        .tool("quickstart")
        .tool_version(env!("CARGO_PKG_VERSION"))
        .salt("quickstart-telemetry-v1")
        .sink(FileSink::new(&path))
        .policy(CollectionPolicy::Enabled)
        .build();

    telemetry.record("init").await?;
    let attrs = HashMap::from([("outcome".to_owned(), "ok".to_owned())]);
    telemetry.record_with_attrs("build", attrs).await?;
    telemetry.record("exit").await?;
    telemetry.flush().await?;

    println!("enabled: 3 events recorded to {}", path.display());
    let text = std::fs::read_to_string(&path).map_err(|e| TelemetryError::io("read", &path, e))?;
    for line in text.lines() {
        println!("  {line}");
    }

    // 2. The user did not opt in: same calls, nothing collected or written.
    let off_path = dir.join("disabled/events.jsonl");
    let off = TelemetryContext::builder()
        .tool("quickstart")
        .tool_version(env!("CARGO_PKG_VERSION"))
        .salt("quickstart-telemetry-v1")
        .sink(FileSink::new(&off_path))
        .policy(CollectionPolicy::Disabled)
        .build();
    off.record("init").await?;
    off.flush().await?;
    println!(
        "disabled: recorded 1 event; {} exists: {}",
        off_path.display(),
        off_path.exists()
    );
    Ok(())
}
