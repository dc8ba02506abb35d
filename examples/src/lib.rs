//! Every scenario from the Durable Functions docs, written with durable-rs.
//!
//! The binary `durable-examples` serves them all: `cargo run -p durable-examples`, then start
//! one with `POST /api/orchestrators/{name}`.

pub mod account;
pub mod approval;
pub mod check_site;
pub mod counter;
pub mod course_recommendations;
pub mod critical_sections;
pub mod cross_app;
pub mod fan_out_fan_in;
pub mod hello_cities;
pub mod http_start;
pub mod monitor;
pub mod provisioning;
pub mod saga;
pub mod scheduled_cleanup;
pub mod typed_calls;
pub mod weather;
