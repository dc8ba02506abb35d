//! The host the end-to-end tests drive: every example plus the test functions.

use durable_examples as _;
use durable_tests as _;

fn main() -> std::process::ExitCode {
    durable_host::run()
}
