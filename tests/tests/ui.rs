//! Compile-time diagnostics of the attribute macros, pinned with trybuild.
//!
//! `ui/pass` holds functions that must register (each `main` checks its descriptors);
//! `ui/fail` holds one misuse per file with the exact error rustc prints in a `.stderr`
//! next to it. Regenerate those with `TRYBUILD=overwrite cargo test -p durable-tests --test
//! ui`, then read every changed `.stderr`: each error must point at the user's tokens.

#[test]
fn ui() {
    let cases = trybuild::TestCases::new();
    cases.pass("ui/pass/*.rs");
    cases.compile_fail("ui/fail/*.rs");
}
