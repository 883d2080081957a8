//! https and keep-alive with generators, on one loop and on two: against a small site of this
//! crate's tests (`support/site.rs` in callbacks' tests, shared), whose `connection_tests!`
//! writes the tests.

#[path = "../../callbacks/tests/support/site.rs"]
mod site;

connection_tests!(c10k_generators);
