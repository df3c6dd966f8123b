//! An MQTT trigger handler: exports `handle-message` of Spin's MQTT trigger
//! plugin's world (`spin:mqtt-trigger/spin-mqtt`, unversioned, vendored in
//! `wit/deps/spin-mqtt-trigger`), as a Spin MQTT app's component does.
//!
//! Each message first prints `mqtt message on TOPIC: PAYLOAD` on stdout
//! (`TOPIC` being `metadata.topic`), then, by its payload:
//! - `trap` → panics with `asked to trap on TOPIC`;
//! - `fail` → returns `error::other("asked to fail on TOPIC")`;
//! - `slow …` → sleeps 3 s, then goes on as for any other payload;
//! - anything else → succeeds, after publishing `TOPIC PAYLOAD` (QoS 1) to
//!   the topic `REPLY_TOPIC` on the broker `REPLY_ADDRESS` (environment
//!   variables; `REPLY_USER`/`REPLY_PASSWORD` log in) through
//!   `fermyon:spin/mqtt@2.0.0` when both are set, so the component needs the
//!   broker in `allowed_outbound_hosts`. A failed publish is returned as
//!   `error::other`.

mod bindings {
    wit_bindgen::generate!({
        path: "../../wit/deps/spin-mqtt-trigger",
        world: "spin:mqtt-trigger/spin-mqtt",
        generate_all,
    });
}

use std::time::Duration;

use bindings::{Error, Guest, Metadata};
use spin_sdk::mqtt::{Connection, Qos};

struct Handler;

bindings::export!(Handler with_types_in bindings);

impl Guest for Handler {
    fn handle_message(message: Vec<u8>, metadata: Metadata) -> Result<(), Error> {
        let topic = metadata.topic;
        let payload = String::from_utf8_lossy(&message).into_owned();
        println!("mqtt message on {topic}: {payload}");
        match payload.as_str() {
            "trap" => panic!("asked to trap on {topic}"),
            "fail" => return Err(Error::Other(format!("asked to fail on {topic}"))),
            p if p.starts_with("slow") => std::thread::sleep(Duration::from_secs(3)),
            _ => {}
        }
        let (Ok(address), Ok(reply)) =
            (std::env::var("REPLY_ADDRESS"), std::env::var("REPLY_TOPIC"))
        else {
            return Ok(());
        };
        let user = std::env::var("REPLY_USER").unwrap_or_default();
        let password = std::env::var("REPLY_PASSWORD").unwrap_or_default();
        let conn = Connection::open(&address, &user, &password, 30)
            .map_err(|e| Error::Other(format!("could not connect to {address}: {e:?}")))?;
        conn.publish(
            &reply,
            &format!("{topic} {payload}").into_bytes(),
            Qos::AtLeastOnce,
        )
        .map_err(|e| Error::Other(format!("could not publish the reply: {e:?}")))
    }
}

fn main() {}
