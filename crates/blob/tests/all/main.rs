//! Integration tests of `skiff-blob`: the store suite on every backend
//! (`file_system` in a temporary directory, `memory`, `nats` on a real
//! `nats-server -js`), what only the file-system store has (its layout on
//! disk, names mapped to file names, durability of what it wrote), what only
//! the NATS store has (its buckets as other NATS clients see them, reads
//! racing writes), and the manager that hands an app its stores by label.

mod backends;
mod file_system;
mod manager;
mod nats;
