//! The examples host: every sample function, served by the durable-rs host.

// Functions register at link time; naming the library links it.
use durable_examples as _;

fn main() -> std::process::ExitCode {
    durable_host::run()
}
