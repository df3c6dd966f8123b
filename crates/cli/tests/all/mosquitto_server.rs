//! A throwaway `mosquitto` MQTT broker on a free loopback port, and
//! `mosquitto_sub` to watch what reaches it:
//! `skiff_test_support::mosquitto_server`, re-exported under the path these
//! tests have always used.

pub use skiff_test_support::mosquitto_server::*;
