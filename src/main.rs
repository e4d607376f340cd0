#![forbid(unsafe_code)]

fn main() {
    std::process::exit(skiff::cli::main());
}
