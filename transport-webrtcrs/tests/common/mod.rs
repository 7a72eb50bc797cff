//! What these tests share, from the workspace's test-support crate
//! (`test-support/`, shared with the str0m backend's tests) under the names
//! the tests use: two transports driven against each other in one
//! process with signals passed in memory ([`Pair`]), the triangle
//! scenario, frames that check their own order and integrity.
#![allow(dead_code, unreachable_pub, unused_imports)]

pub use n2n_test_support::pair::{frame_seq, numbered_frame, triangle, Pair, Side, SignalHook};
pub use n2n_test_support::probe::{open_sockets, proc_status, rss_kib};
pub use n2n_test_support::{eventually, init_tracing, TestResult, GUARD};
