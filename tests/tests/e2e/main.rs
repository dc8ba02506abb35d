//! End-to-end tests: each starts the real `test-host` binary on a free loopback port with
//! its own data folder and talks to it over HTTP, like a user with curl would.

mod bad_input;
mod cache;
mod cli;
mod client_parity;
mod crash;
mod critical_sections;
mod dashboard;
mod durable_task_sdks;
mod entities;
mod failures;
mod faults;
mod fuzz;
mod hello;
mod http_calls;
mod limits;
mod management;
mod multihost;
mod observability;
mod official_clients;
mod orchestration_api;
mod programs;
mod proxy;
mod races;
mod security;
mod support;
mod timers;
mod versioning;
