//! Integration tests of `skiff-mysql`'s client, against a real MariaDB
//! server on a loopback port (`skiff_test_support::mysql_server`): the grant
//! (checked before any traffic, by address and by name), statements and
//! their errors, and the per-component pools. The guest's view (every value
//! type, resets between requests, TLS, a server restart) is tested through
//! `skiff up` in `crates/cli/tests/all/mysql.rs`.

mod client;
