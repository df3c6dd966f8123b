//! A Redis trigger handler (`fermyon:spin/inbound-redis`, exported by
//! spin-sdk 5.2's `#[redis_component]`).
//!
//! For each message:
//! - `trap` → panics (the instance traps);
//! - `fail` → returns an error;
//! - anything else → appends the payload to the Redis list `received` on the
//!   server named by the `REDIS_ADDRESS` environment variable (through
//!   `fermyon:spin/redis@2.0.0`, so the component needs it granted), where
//!   the test reads it back.

use spin_sdk::redis::{Connection, RedisParameter};
use spin_sdk::redis_component;

#[redis_component]
fn on_message(message: Vec<u8>) -> Result<(), String> {
    match message.as_slice() {
        b"trap" => panic!("asked to trap"),
        b"fail" => Err("asked to fail".to_string()),
        _ => {
            let address = std::env::var("REDIS_ADDRESS")
                .map_err(|_| "REDIS_ADDRESS is not set".to_string())?;
            let conn = Connection::open(&address).map_err(|e| format!("open: {e:?}"))?;
            conn.execute(
                "RPUSH",
                &[
                    RedisParameter::Binary(b"received".to_vec()),
                    RedisParameter::Binary(message),
                ],
            )
            .map_err(|e| format!("RPUSH: {e:?}"))?;
            Ok(())
        }
    }
}

fn main() {}
