//! Integration tests of `skiff-kv`: the backend suite on every backend, the
//! resolver, durability, and the guests of every interface generation.

mod backends;
mod durability;
mod guests;
mod manager;
mod redis_server;
