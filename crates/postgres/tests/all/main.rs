//! Integration tests of `skiff-postgres`, against real PostgreSQL servers
//! started on loopback ports (see `pg_server`): the client directly, grants,
//! a server going down and coming back, the guests of every interface
//! generation, and the SQL suite run through every `sql_*` guest on both
//! SQLite and PostgreSQL.

mod client;
mod grants;
mod guests;
mod host;
mod pg_server;
mod recovery;
mod suite;
