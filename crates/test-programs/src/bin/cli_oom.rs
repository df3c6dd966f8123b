//! Allocates and touches 1 MiB chunks forever, until the host's memory limit
//! stops it.

fn main() {
    test_programs::exhaust_memory();
}
