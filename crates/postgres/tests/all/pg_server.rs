//! A throwaway PostgreSQL server on a free loopback port:
//! `skiff_test_support::pg_server`, re-exported under the path these tests use.

pub use skiff_test_support::pg_server::*;
