// mimalloc: the gateway allocates small, short-lived values on every request (the parsed
// canonical body, the vendor answer); measured in BENCHMARKS.md against the system allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> std::process::ExitCode {
    ordergate::cli::main()
}
