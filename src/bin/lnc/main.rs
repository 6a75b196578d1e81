//! The `lnc` command-line tool (grown by the CLI issue).
fn main() {
    eprintln!("lnc {}: the CLI is not built yet", lnc::VERSION);
    std::process::exit(2);
}
