//! Release builds lay out the functions an idle daemon runs next to each other.
//!
//! An idle daemon keeps resident the 64 KiB of code around every function it runs every few
//! seconds (the kernel's fault-around), and with the linker's default order those functions
//! sit all over `.text`: an idle demo daemon kept ~5 MiB of its code resident for ~1.3 MiB
//! of functions. `hot-functions.txt`, written by `scripts/layout/hot_functions.py` from the
//! idle demo cluster, lists them; lld places them first, together
//! (`--symbol-ordering-file`). A name the binary no longer has is skipped without a
//! warning: a stale list costs resident memory, never correctness.
//!
//! Only for release builds of the target whose default linker is lld (x86_64 Linux, since
//! Rust 1.90): GNU ld has no such option. `RAFTVISOR_NO_LAYOUT=1` leaves it out, for a build
//! that links with another linker.

use std::env;
use std::path::Path;

fn main() {
    println!("cargo:rerun-if-env-changed=RAFTVISOR_NO_LAYOUT");
    let Ok(manifest) = env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let list = Path::new(&manifest).join("hot-functions.txt");
    println!("cargo:rerun-if-changed={}", list.display());
    let release = env::var("PROFILE").is_ok_and(|p| p == "release");
    let lld_target = env::var("TARGET").is_ok_and(|t| t == "x86_64-unknown-linux-gnu");
    let opted_out = env::var_os("RAFTVISOR_NO_LAYOUT").is_some_and(|v| !v.is_empty());
    if release && lld_target && !opted_out && list.is_file() {
        println!(
            "cargo:rustc-link-arg-bin=raftvisord=-Wl,--symbol-ordering-file={}",
            list.display()
        );
        println!("cargo:rustc-link-arg-bin=raftvisord=-Wl,--no-warn-symbol-ordering");
    }
}
