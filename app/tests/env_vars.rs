//! Every environment variable the binary reads has its row in the
//! "Environment variables" table of docs/operations.md, naming its flag,
//! and the table names no `TICKETING_*` variable the binary does not read.
//!
//! The variables are found where they are read: the clap definition
//! (`Cli::command()`, walked through every subcommand, `Arg::get_env`), and
//! in the source of the crates compiled into the binary, every
//! `"TICKETING_…"` literal and every `env::var("…")`/`var_os("…")` (the JWT
//! secret, the signing key, the log filters, the fault hooks, mimalloc's
//! purge delay). Test-harness crates (`tests/`, `benches/`) and the
//! `testing` modules (a cargo feature only tests turn on) are left out.

use clap::CommandFactory;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use ticketing::cli::Cli;

fn workspace() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// Variable → the long flags that read it.
fn clap_variables() -> BTreeMap<String, BTreeSet<String>> {
    fn walk(command: &clap::Command, found: &mut BTreeMap<String, BTreeSet<String>>) {
        for arg in command.get_arguments() {
            if let Some(env) = arg.get_env() {
                let flags = found.entry(env.to_string_lossy().into_owned()).or_default();
                flags.extend(arg.get_long().map(|long| format!("--{long}")));
            }
        }
        for sub in command.get_subcommands() {
            walk(sub, found);
        }
    }
    let mut found = BTreeMap::new();
    walk(&Cli::command(), &mut found);
    found
}

/// The source files of the crates linked into the binary.
fn binary_sources() -> Vec<PathBuf> {
    fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).expect("read dir").flatten() {
            let path = entry.path();
            let stem = path.file_stem().and_then(|s| s.to_str());
            if stem == Some("testing") {
                continue;
            }
            if path.is_dir() {
                rust_files(&path, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                out.push(path);
            }
        }
    }
    let mut files = Vec::new();
    for entry in std::fs::read_dir(workspace()).expect("workspace").flatten() {
        let name = entry.file_name();
        let src = entry.path().join("src");
        if !matches!(name.to_str(), Some("tests" | "benches")) && src.is_dir() {
            rust_files(&src, &mut files);
        }
    }
    assert!(files.len() > 50, "found only {} source files", files.len());
    files
}

/// The quoted names after each `marker` in `source`.
fn quoted_after<'a>(source: &'a str, marker: &'a str) -> impl Iterator<Item = String> + 'a {
    source.match_indices(marker).filter_map(move |(at, _)| {
        let rest = &source[at + marker.len()..];
        let name = &rest[..rest.find('"')?];
        let valid = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_');
        valid.then(|| name.to_owned())
    })
}

/// Variables the source reads by name, outside clap.
fn source_variables() -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for file in binary_sources() {
        let source = std::fs::read_to_string(&file).expect("read source");
        found.extend(quoted_after(&source, "\"TICKETING_").map(|rest| format!("TICKETING_{rest}")));
        found.extend(quoted_after(&source, "env::var(\""));
        found.extend(quoted_after(&source, "env::var_os(\""));
    }
    found
}

/// The table's rows: variable → its flag cell.
fn documented() -> BTreeMap<String, String> {
    let text =
        std::fs::read_to_string(workspace().join("docs/operations.md")).expect("operations.md");
    let section = text
        .split("\n## Environment variables\n")
        .nth(1)
        .expect("docs/operations.md has a section \"## Environment variables\"");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rows = BTreeMap::new();
    for line in section.lines().filter(|l| l.starts_with("| `")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        let name = cells[1].trim_matches('`').to_owned();
        let flag = cells.get(2).copied().unwrap_or_default().to_owned();
        assert!(
            rows.insert(name.clone(), flag).is_none(),
            "{name} has two rows"
        );
    }
    rows
}

#[test]
fn every_variable_the_binary_reads_is_documented_with_its_flag() {
    let table = documented();
    let flags = clap_variables();
    let read: BTreeSet<String> = flags.keys().cloned().chain(source_variables()).collect();
    for must in [
        "TICKETING_DATABASE_URL",
        "TICKETING_JWT_SECRET",
        "TICKETING_TICKET_SIGNING_KEY",
        "TICKETING_LOG",
        "TICKETING_FAULT",
    ] {
        assert!(read.contains(must), "the search missed {must}: {read:?}");
    }
    let missing: Vec<&String> = read.iter().filter(|v| !table.contains_key(*v)).collect();
    assert!(
        missing.is_empty(),
        "undocumented in docs/operations.md: {missing:?}"
    );
    for (variable, longs) in &flags {
        for long in longs {
            assert!(
                table[variable].contains(&format!("`{long}`")),
                "{variable}'s row names no `{long}`: {}",
                table[variable]
            );
        }
    }
    let stale: Vec<&String> = table
        .keys()
        .filter(|v| v.starts_with("TICKETING_") && !read.contains(*v))
        .collect();
    assert!(
        stale.is_empty(),
        "documented, but the binary does not read: {stale:?}"
    );
}
