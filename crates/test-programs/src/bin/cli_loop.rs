//! Spins forever; only an epoch deadline or timeout on the host stops it.

fn main() {
    test_programs::spin_forever();
}
