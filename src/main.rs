fn main() -> std::process::ExitCode {
    ordergate::cli::main()
}
