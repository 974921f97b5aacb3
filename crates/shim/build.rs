//! Links `berth-shim` as a position-dependent executable (`-no-pie`).
//!
//! Why: a PIE Rust binary carries tens of thousands of relative relocations
//! (vtables, string tables in `.data.rel.ro`). The dynamic loader reads them
//! all and writes every page they land on at start-up, and those pages stay
//! resident and private for the whole life of the process: about 200 KiB of
//! anonymous memory plus the pages of `.rela.dyn` it read, in a process that
//! exists once per container and is meant to stay under 1 MiB (measured with
//! bench/run.sh). A fixed load address needs no such relocation. The cost is
//! that the shim's own code is not address-randomised (its libraries, heap and
//! stack still are); its inputs come from the daemon and from attach clients,
//! both root-equivalent. Cargo profiles cannot set a relocation model on stable,
//! so the linker is told instead; the code itself is still compiled as PIC.
fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rustc-link-arg-bins=-no-pie");
}
