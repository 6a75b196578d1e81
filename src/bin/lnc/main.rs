//! `lnc`: a kcat-like command-line client for the LANCE streaming server, built on liblnc.
//!
//! Commands: quickstart, produce, consume, topics, ping, status, stats, mock, bench (and the hidden
//! config-table / error-table that generate the README's tables). Exit codes: 0 ok, 1 runtime
//! failure, 2 usage error. See `lnc --help`.

mod args;
mod bench;
mod common;
mod consume;
mod group;
mod help;
mod misc;
mod produce;
mod quickstart;
mod records;
mod stats;
mod tlsenv;
mod topics;

use args::{suggest, CliResult, Exit};

const COMMANDS: &[&str] = &[
    "quickstart",
    "produce",
    "consume",
    "topics",
    "ping",
    "status",
    "stats",
    "mock",
    "bench",
    "tls-fixture",
    "help",
    "version",
];

fn main() {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    let code = match run(&argv) {
        Ok(()) => 0,
        Err(e) => {
            let code = e.code();
            match e {
                Exit::Help(text) => print!("{text}"),
                Exit::Usage(msg) => eprintln!("lnc: usage error: {msg}"),
                Exit::Runtime(msg) => eprintln!("lnc: error: {msg}"),
            }
            code
        }
    };
    std::process::exit(code);
}

fn run(argv: &[String]) -> CliResult {
    let Some(cmd) = argv.first() else {
        eprint!("{}", help::TOP);
        return Err(Exit::Usage("no command given".into()));
    };
    let rest = &argv[1..];
    match cmd.as_str() {
        "-h" | "--help" => Err(Exit::Help(help::TOP.into())),
        "help" => match help::for_command(rest) {
            Some(h) => Err(Exit::Help(h.into())),
            None => Err(Exit::Usage(format!("no help for '{}'; commands: {}", rest.join(" "), COMMANDS.join(", ")))),
        },
        "-V" | "--version" | "version" => {
            println!("lnc {}", lnc::VERSION);
            Ok(())
        }
        "quickstart" => quickstart::run(rest),
        "produce" => produce::run(rest),
        "consume" => consume::run(rest),
        "topics" => topics::run(rest),
        "ping" => misc::ping(rest),
        "status" => misc::status(rest),
        "stats" => stats::run(rest),
        "mock" => misc::mock(rest),
        "bench" => bench::run(rest),
        "tls-fixture" => tlsenv::fixture(rest),
        "config-table" => misc::table(rest, "config-table", help::CONFIG_TABLE, lnc::config::markdown_table),
        "error-table" => misc::table(rest, "error-table", help::ERROR_TABLE, misc::error_table),
        other => Err(Exit::Usage(format!(
            "unknown command '{other}'{}; commands: {} (see `lnc --help`)",
            suggest(other, COMMANDS),
            COMMANDS.join(", ")
        ))),
    }
}
