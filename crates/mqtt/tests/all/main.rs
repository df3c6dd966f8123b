//! Integration tests of `skiff-mqtt`, against real `mosquitto` brokers
//! started on loopback ports (`skiff_test_support::mosquitto_server`), watched by
//! `mosquitto_sub`: the guests of both interface generations (`mqtt_spin2`
//! through spin-sdk 5.2, `mqtt_spin3` as a WASI 0.3 component) publish at
//! every QoS, with and without credentials; grants by host and port; an
//! unreachable broker.

mod guests;
