//! The command line: clap definitions and one small function per command.

pub fn main() -> i32 {
    0
}
