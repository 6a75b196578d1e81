//! A small hand-rolled argument parser: `--long value`, `--long=value`, `-s value`, `-svalue`,
//! boolean flags, repeatable flags, positionals, and `--` to end the flags.

use std::str::FromStr;

/// How the process ends when a command does not succeed.
#[derive(Debug)]
pub enum Exit {
    /// `--help`: the text goes to stdout, exit 0.
    Help(String),
    /// Bad command line: exit 2.
    Usage(String),
    /// The command ran and failed: exit 1.
    Runtime(String),
}

impl Exit {
    pub fn code(&self) -> i32 {
        match self {
            Exit::Help(_) => 0,
            Exit::Usage(_) => 2,
            Exit::Runtime(_) => 1,
        }
    }
}

pub type CliResult<T = ()> = Result<T, Exit>;

/// One flag a command accepts.
#[derive(Clone, Copy, Debug)]
pub struct Flag {
    pub long: &'static str,
    pub short: Option<char>,
    /// Takes a value (else boolean).
    pub value: bool,
}

pub const fn opt(long: &'static str, short: Option<char>) -> Flag {
    Flag { long, short, value: true }
}

pub const fn switch(long: &'static str, short: Option<char>) -> Flag {
    Flag { long, short, value: false }
}

/// `-b/--bootstrap host:port[,…]`
pub const BOOTSTRAP: Flag = opt("bootstrap", Some('b'));
/// `-X key=value` (repeatable)
pub const CONFIG: Flag = opt("config", Some('X'));
/// `--json`
pub const JSON: Flag = switch("json", None);

/// The parsed command line of one (sub)command.
#[derive(Debug, Default)]
pub struct Parsed {
    /// The command path for messages (`topics create`).
    pub cmd: String,
    values: Vec<(&'static str, String)>,
    pub positionals: Vec<String>,
}

impl Parsed {
    /// The last value given for `long`.
    pub fn get(&self, long: &str) -> Option<&str> {
        self.values.iter().rev().find(|(k, _)| *k == long).map(|(_, v)| v.as_str())
    }

    /// Every value given for `long`, in order.
    pub fn all(&self, long: &str) -> Vec<&str> {
        self.values.iter().filter(|(k, _)| *k == long).map(|(_, v)| v.as_str()).collect()
    }

    /// Whether a boolean (or any) flag was given.
    pub fn has(&self, long: &str) -> bool {
        self.values.iter().any(|(k, _)| *k == long)
    }

    /// A numeric flag with a default; a bad number is a usage error.
    pub fn num<T: FromStr>(&self, long: &str, default: T) -> CliResult<T> {
        match self.get(long) {
            None => Ok(default),
            Some(v) => parse_num(v).ok_or_else(|| self.usage(format!("--{long}: \"{v}\" is not a valid number"))),
        }
    }

    /// A usage error for this command, with the pointer to its help.
    pub fn usage(&self, msg: impl std::fmt::Display) -> Exit {
        Exit::Usage(format!("{msg}\n(see `lnc {} --help`)", self.cmd))
    }

    /// Exactly `n` positionals named `names`, else a usage error.
    pub fn expect_positionals(&self, names: &[&str]) -> CliResult<()> {
        if self.positionals.len() < names.len() {
            return Err(self.usage(format!("missing {}", names[self.positionals.len()..].join(" "))));
        }
        if self.positionals.len() > names.len() {
            return Err(self.usage(format!("unexpected argument '{}'", self.positionals[names.len()])));
        }
        Ok(())
    }
}

/// Numbers may use `_` separators and k/M suffixes (`1_000_000`, `1M`, `20k`).
pub fn parse_num<T: FromStr>(v: &str) -> Option<T> {
    let s = v.trim().replace('_', "");
    let (digits, mult) = match s.chars().last() {
        Some('k') | Some('K') => (&s[..s.len() - 1], 1_000u64),
        Some('M') => (&s[..s.len() - 1], 1_000_000u64),
        _ => (s.as_str(), 1u64),
    };
    if mult == 1 {
        return digits.parse().ok();
    }
    let n: u64 = digits.parse().ok()?;
    n.checked_mul(mult)?.to_string().parse().ok()
}

/// Parses `args` against `flags`. `-h`/`--help` anywhere before `--` returns [`Exit::Help`] with
/// `help`. Unknown flags are usage errors with a hint.
pub fn parse(cmd: &str, args: &[String], flags: &[Flag], help: &str) -> CliResult<Parsed> {
    let mut p = Parsed { cmd: cmd.to_string(), ..Parsed::default() };
    let mut i = 0;
    let mut only_positionals = false;
    while i < args.len() {
        let a = &args[i];
        i += 1;
        if only_positionals || a == "-" || !a.starts_with('-') || is_negative_number(a) {
            p.positionals.push(a.clone());
            continue;
        }
        if a == "--" {
            only_positionals = true;
            continue;
        }
        if a == "-h" || a == "--help" {
            return Err(Exit::Help(help.to_string()));
        }
        let (flag, inline): (Flag, Option<String>) = if let Some(long) = a.strip_prefix("--") {
            let (name, inline) = match long.split_once('=') {
                Some((n, v)) => (n, Some(v.to_string())),
                None => (long, None),
            };
            match flags.iter().find(|f| f.long == name) {
                Some(f) => (*f, inline),
                None => return Err(p.usage(format!("unknown option '--{name}'{}", hint(name, flags)))),
            }
        } else {
            let mut chars = a[1..].chars();
            let c = chars.next().unwrap_or('-');
            let rest: String = chars.collect();
            match flags.iter().find(|f| f.short == Some(c)) {
                Some(f) => (*f, if rest.is_empty() { None } else { Some(rest.trim_start_matches('=').to_string()) }),
                None => return Err(p.usage(format!("unknown option '-{c}'{}", hint(&c.to_string(), flags)))),
            }
        };
        if flag.value {
            let v = match inline {
                Some(v) => v,
                None => {
                    if i >= args.len() {
                        return Err(p.usage(format!("option '{a}' needs a value")));
                    }
                    i += 1;
                    args[i - 1].clone()
                }
            };
            p.values.push((flag.long, v));
        } else {
            if inline.is_some() {
                return Err(p.usage(format!("option '--{}' takes no value", flag.long)));
            }
            p.values.push((flag.long, String::new()));
        }
    }
    Ok(p)
}

fn is_negative_number(a: &str) -> bool {
    a.len() > 1 && a[1..].chars().all(|c| c.is_ascii_digit())
}

fn hint(name: &str, flags: &[Flag]) -> String {
    let best = flags
        .iter()
        .map(|f| (edit_distance(name, f.long), f))
        .filter(|(d, f)| *d <= 2.max(name.len() / 3) || f.long.starts_with(name) || name.starts_with(f.long))
        .min_by_key(|(d, _)| *d);
    match best {
        Some((_, f)) => format!(" (did you mean '--{}'?)", f.long),
        None => String::new(),
    }
}

/// A close match among `candidates` for an unknown word, as " (did you mean 'x'?)".
pub fn suggest(word: &str, candidates: &[&str]) -> String {
    candidates
        .iter()
        .map(|c| (edit_distance(word, c), c))
        .filter(|(d, _)| *d <= 2)
        .min_by_key(|(d, _)| *d)
        .map(|(_, c)| format!(" (did you mean '{c}'?)"))
        .unwrap_or_default()
}

fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut prev: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut cur = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let sub = prev[j] + usize::from(ca != *cb);
            cur.push(sub.min(prev[j + 1] + 1).min(cur[j] + 1));
        }
        prev = cur;
    }
    prev[b.len()]
}

/// Splits `key=value`.
pub fn key_value(kv: &str) -> Option<(&str, &str)> {
    kv.split_once('=').map(|(k, v)| (k.trim(), v))
}
