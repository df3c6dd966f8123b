//! A throwaway PostgreSQL server on a free loopback port:
//! `skiff_test_support::pg_server`, re-exported under a path of these tests.

pub use skiff_test_support::pg_server::*;
