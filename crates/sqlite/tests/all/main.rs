//! Integration tests of `skiff-sqlite`: the embedded backend and the
//! resolver directly, and the `sql_sqlite*` guests through a minimal host.
//!
//! The SQL suite shared with PostgreSQL (the same requests through every
//! `sql_*` guest) lives in `skiff-postgres`'s tests, which start a server.

mod config;
mod database;
mod guests;
mod manager;
