//! Integration tests of `skiff-redis`, against real `redis-server`s started
//! on loopback ports (`skiff_test_support::redis_server`): the client directly, and the
//! guests of both interface generations (`redis_spin2` through spin-sdk 5.2,
//! `redis_spin3` as a WASI 0.3 component) — every operation, grants by host
//! and port, an unreachable server and Redis errors.

mod client;
mod guests;
