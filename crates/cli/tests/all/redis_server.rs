//! A throwaway `redis-server` on a free loopback port, and `redis-cli` to look
//! inside it: `skiff_test_support::redis_server`, re-exported under the path
//! these tests have always used.

pub use skiff_test_support::free_port;
pub use skiff_test_support::redis_server::*;
