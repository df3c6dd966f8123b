//! A Redis trigger handler exporting Spin 3's `spin:redis/inbound-redis@3.0.0`
//! (an `async func`, as spin-sdk 7 apps export it), with the behaviour of
//! `trigger_redis`:
//! - `trap` → panics (the instance traps);
//! - `fail` → returns an error;
//! - anything else → appends the payload to the Redis list `received` on the
//!   server named by the `REDIS_ADDRESS` environment variable (through
//!   `spin:redis/redis@3.0.0`, so the component needs it granted).

mod bindings {
    wit_bindgen::generate!({
        inline: "
            package skiff:trigger-redis3;
            world guest {
                import spin:redis/redis@3.0.0;
                export spin:redis/inbound-redis@3.0.0;
            }
        ",
        path: ["../../wit/deps/spin-redis@3.0.0"],
        generate_all,
    });
}

use bindings::exports::spin::redis::inbound_redis::Guest;
use bindings::spin::redis::redis::{Connection, Error, RedisParameter};

struct Handler;

bindings::export!(Handler with_types_in bindings);

impl Guest for Handler {
    async fn handle_message(message: Vec<u8>) -> Result<(), Error> {
        match message.as_slice() {
            b"trap" => panic!("asked to trap"),
            b"fail" => Err(Error::Other("asked to fail".into())),
            _ => {
                let address = std::env::var("REDIS_ADDRESS")
                    .map_err(|_| Error::Other("REDIS_ADDRESS is not set".into()))?;
                let conn = Connection::open(address).await?;
                conn.execute(
                    "RPUSH".into(),
                    vec![
                        RedisParameter::Binary(b"received".to_vec()),
                        RedisParameter::Binary(message),
                    ],
                )
                .await?;
                Ok(())
            }
        }
    }
}

fn main() {}
