//! Integration tests of `skiff-kv`: the backend suite on every backend, the
//! resolver, and the guests of every interface generation.

mod backends;
mod guests;
mod manager;
