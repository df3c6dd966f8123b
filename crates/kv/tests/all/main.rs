//! Integration tests of `skiff-kv`: the backend suite on every backend
//! (memory, embedded, a real Redis, a real NATS with JetStream), the
//! resolver, and the guests of every interface generation.

mod backends;
mod guests;
mod manager;
