//! https and keep-alive with callbacks, on one loop and on two: against a small site of this
//! crate's tests (`support/site.rs`, shared with generators' tests), whose `connection_tests!`
//! writes the tests.

#[path = "support/site.rs"]
mod site;

connection_tests!(c10k_callbacks);
