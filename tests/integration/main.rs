//! Integration tests: one binary, one module per concern.
//!
//! `acceptance` holds the spec's T1–T12, named after their ids.

mod acceptance;
mod background;
#[cfg(all(feature = "http", feature = "clap", feature = "otlp"))]
mod catalog;
mod consent;
mod disabled;
mod docs;
mod erased;
mod errors;
mod event;
#[cfg(target_os = "linux")]
mod faults;
mod file_sink;
#[cfg(all(unix, feature = "clap", feature = "otlp"))]
mod file_size_limit;
mod hostile;
#[cfg(feature = "http")]
mod hostile_collector;
#[cfg(unix)]
mod hostile_env;
#[cfg(feature = "http")]
mod http_sink;
#[cfg(feature = "http")]
mod local_first;
#[cfg(feature = "http")]
mod loopback;
mod opt_out;
#[cfg(all(unix, feature = "clap", feature = "otlp"))]
mod opt_out_paused;
#[cfg(feature = "http")]
mod opt_out_race;
#[cfg(feature = "otlp")]
mod otlp_sink;
#[cfg(all(unix, feature = "clap", feature = "http", feature = "otlp"))]
mod panics;
mod processes;
#[cfg(all(feature = "http", feature = "clap", feature = "otlp"))]
mod proxy;
mod redact;
#[cfg(all(feature = "clap", feature = "http", feature = "otlp"))]
mod reports;
#[cfg(feature = "otlp")]
mod secrets;
mod seed;
#[cfg(all(feature = "clap", feature = "otlp"))]
mod single_command;
#[cfg(feature = "http")]
mod spool;
mod support;
#[cfg(all(feature = "clap", feature = "otlp"))]
mod uploader;
#[cfg(all(feature = "clap", feature = "otlp"))]
mod verbs_as_printed;
