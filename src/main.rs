fn main() {
    std::process::exit(skiff::cli::main());
}
