//! Panics two non-inlined calls deep, so a host can show a guest backtrace
//! naming `outer` and `inner`.

fn main() {
    outer(std::hint::black_box(3));
}

#[inline(never)]
fn outer(depth: u32) {
    inner(depth + 1);
}

#[inline(never)]
fn inner(depth: u32) {
    if std::hint::black_box(depth) > 0 {
        panic!("cli_trap panicked on purpose");
    }
}
