//! Link settings of the `ordergate` binary.
//!
//! On Linux with glibc the binary's relative relocations are packed (`-z pack-relative-relocs`,
//! DT_RELR: binutils 2.38 or lld 15, glibc 2.36 to run; Debian 12 has both): the table the
//! loader reads at start-up shrinks from 1.2 MB to 24 KB, and so does the resident memory it
//! held (BENCHMARKS.md, step 14). `ORDERGATE_NO_RELR=1` at build time links without it, for a
//! binary meant for an older glibc.

use std::env;

fn main() {
    println!("cargo::rerun-if-changed=build.rs");
    println!("cargo::rerun-if-env-changed=ORDERGATE_NO_RELR");
    let linux_gnu = env::var("CARGO_CFG_TARGET_OS").is_ok_and(|os| os == "linux")
        && env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu");
    if linux_gnu && env::var_os("ORDERGATE_NO_RELR").is_none() {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }
}
