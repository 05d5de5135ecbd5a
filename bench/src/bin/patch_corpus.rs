//! `patch_corpus`: how devflow's patch engine (`devflow apply`) fares on the corpus of
//! model-style diffs in `tests/corpus`, side by side in one run with GNU `patch` (default
//! fuzz) and `git apply` (plain, `--recount`, `-C1`, both). Each run gets a fresh copy of the
//! case's fixture site; its outcome is read from the folder, not from the exit code: the
//! intended content, unchanged, or anything else (a wrong place, a partial write). Tools
//! alternate case by case, so machine noise hits all of them alike. See `BENCHMARKS.md`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use clap::Parser;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[derive(Parser)]
#[command(
    name = "patch_corpus",
    about = "devflow apply vs GNU patch vs git apply on the model-diff corpus"
)]
struct Cli {
    /// The `devflow` binary; default: `devflow` next to this binary.
    #[arg(long = "bin", env = "DEVFLOW_BIN")]
    binary: Option<PathBuf>,
    /// The corpus folder (pairs of NNN-slug.diff + NNN-slug.json).
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/corpus"))]
    corpus: PathBuf,
    /// The fixture sites the corpus is written against.
    #[arg(long, default_value = concat!(env!("CARGO_MANIFEST_DIR"), "/../../shared/fixtures/sites"))]
    sites: PathBuf,
    /// Timed passes over the corpus (outcomes must agree between passes).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Also print every case's outcome per tool.
    #[arg(long)]
    cases: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Tool {
    Devflow,
    /// Timing only: the same plan, nothing written (so no fsync).
    DevflowCheck,
    Patch,
    Git,
    GitRecount,
    GitC1,
    GitRecountC1,
}

const TOOLS: [Tool; 7] = [
    Tool::Devflow,
    Tool::DevflowCheck,
    Tool::Patch,
    Tool::Git,
    Tool::GitRecount,
    Tool::GitC1,
    Tool::GitRecountC1,
];

impl Tool {
    fn name(self) -> &'static str {
        match self {
            Tool::Devflow => "devflow apply",
            Tool::DevflowCheck => "devflow apply --check (timing only)",
            Tool::Patch => "GNU patch -p1 -N (fuzz 2)",
            Tool::Git => "git apply",
            Tool::GitRecount => "git apply --recount",
            Tool::GitC1 => "git apply -C1",
            Tool::GitRecountC1 => "git apply --recount -C1",
        }
    }

    fn command(self, devflow: &Path, site: &Path, case: &Case) -> Command {
        let git = |extra: &[&str]| {
            let mut command = Command::new("git");
            command
                .arg("apply")
                .args(extra)
                .arg(&case.diff)
                .current_dir(site)
                // Outside any repository git applies to the working tree like `patch`.
                .env("GIT_CEILING_DIRECTORIES", site.parent().unwrap_or(site));
            command
        };
        match self {
            Tool::Devflow | Tool::DevflowCheck => {
                let mut command = Command::new(devflow);
                command.arg("apply").arg("--dir").arg(site);
                if self == Tool::DevflowCheck {
                    command.arg("--check");
                }
                for file in &case.files_to_edit {
                    command.arg("--files-to-edit").arg(file);
                }
                command.arg(&case.diff);
                command
            }
            Tool::Patch => {
                // --forward: skip a hunk that looks already applied instead of reversing it;
                // --batch: never ask; rejects discarded, no backups: only the folder counts.
                let mut command = Command::new("patch");
                command
                    .args(["-p1", "--forward", "--batch", "--no-backup-if-mismatch"])
                    .args(["--reject-file=-", "-i"])
                    .arg(&case.diff)
                    .current_dir(site);
                command
            }
            Tool::Git => git(&[]),
            Tool::GitRecount => git(&["--recount"]),
            Tool::GitC1 => git(&["-C1"]),
            Tool::GitRecountC1 => git(&["--recount", "-C1"]),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Category {
    Recoverable,
    Unrecoverable,
    Refused,
}

struct Case {
    stem: String,
    site: String,
    category: Category,
    diff: PathBuf,
    files_to_edit: Vec<String>,
    crlf: Vec<String>,
    write: Vec<(String, String)>,
    /// Path → SHA-256 the author meant (`None` = deleted); `None` when no intent exists.
    intended: Option<BTreeMap<String, Option<String>>>,
}

fn load_cases(corpus: &Path) -> anyhow::Result<Vec<Case>> {
    let mut stems: Vec<String> = std::fs::read_dir(corpus)
        .with_context(|| format!("cannot read the corpus {}", corpus.display()))?
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".json").map(str::to_string)
        })
        .collect();
    stems.sort();
    let mut cases = Vec::new();
    for stem in stems {
        let text = std::fs::read_to_string(corpus.join(format!("{stem}.json")))?;
        let json: Value = serde_json::from_str(&text).with_context(|| format!("{stem}.json"))?;
        let strings = |value: &Value| -> Vec<String> {
            value
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        };
        let category = match json["category"].as_str() {
            Some("recoverable") => Category::Recoverable,
            Some("unrecoverable") => Category::Unrecoverable,
            Some("refused") => Category::Refused,
            other => bail!("{stem}.json: unknown category {other:?}"),
        };
        let intended = json["intended"].as_object().map(|map| {
            map.iter()
                .map(|(path, hash)| (path.clone(), hash.as_str().map(str::to_string)))
                .collect()
        });
        let write = json["setup"]["write"]
            .as_object()
            .into_iter()
            .flatten()
            .map(|(path, content)| (path.clone(), content.as_str().unwrap_or("").to_string()))
            .collect();
        cases.push(Case {
            site: json["site"].as_str().context("site")?.to_string(),
            category,
            diff: corpus.join(format!("{stem}.diff")),
            files_to_edit: strings(&json["filesToEdit"]),
            crlf: strings(&json["setup"]["crlf"]),
            write,
            intended,
            stem,
        });
    }
    Ok(cases)
}

type Tree = BTreeMap<String, String>;

fn sha256(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

fn tree(dir: &Path) -> anyhow::Result<Tree> {
    let mut files = Tree::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d)? {
            let path = entry?.path();
            if path.is_dir() {
                stack.push(path);
            } else {
                let relative = path.strip_prefix(dir)?.to_string_lossy().replace('\\', "/");
                files.insert(relative, sha256(&std::fs::read(&path)?));
            }
        }
    }
    Ok(files)
}

fn copy_dir(from: &Path, to: &Path) -> anyhow::Result<()> {
    std::fs::create_dir_all(to)?;
    for entry in std::fs::read_dir(from)? {
        let entry = entry?;
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            // Written, not copied: the fixtures are read-only and `patch` rewrites in place.
            std::fs::write(&target, std::fs::read(entry.path())?)?;
        }
    }
    Ok(())
}

/// A fresh copy of the case's site with its setup done.
fn prepare(sites: &Path, case: &Case, into: &Path) -> anyhow::Result<PathBuf> {
    let site = into.join(&case.site);
    copy_dir(&sites.join(&case.site), &site)?;
    for path in &case.crlf {
        let text = std::fs::read_to_string(site.join(path))?;
        std::fs::write(site.join(path), text.replace('\n', "\r\n"))?;
    }
    for (path, content) in &case.write {
        let path = site.join(path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent)?;
        }
        std::fs::write(path, content)?;
    }
    Ok(site)
}

/// What a run left in the folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Exactly what the diff's author meant, nothing else.
    Intended,
    Unchanged,
    /// Anything else: a wrong place, a duplicate, half a patch, a file it should not touch.
    Other,
}

fn outcome(
    original: &Tree,
    after: &Tree,
    intended: Option<&BTreeMap<String, Option<String>>>,
) -> Outcome {
    if after == original {
        return Outcome::Unchanged;
    }
    let Some(intended) = intended else {
        return Outcome::Other;
    };
    let mut expected = original.clone();
    for (path, hash) in intended {
        match hash {
            Some(hash) => expected.insert(path.clone(), hash.clone()),
            None => expected.remove(path),
        };
    }
    if *after == expected {
        Outcome::Intended
    } else {
        Outcome::Other
    }
}

fn main() -> std::process::ExitCode {
    match run(Cli::parse()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("patch_corpus: FAILED: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(cli: Cli) -> anyhow::Result<()> {
    let devflow = match cli.binary.clone() {
        Some(path) => path,
        None => std::env::current_exe()?
            .parent()
            .context("no parent directory")?
            .join(format!("devflow{}", std::env::consts::EXE_SUFFIX)),
    };
    anyhow::ensure!(
        devflow.is_file(),
        "no devflow binary at {} (cargo build --release -p devflow-daemon, or --bin)",
        devflow.display()
    );
    for (program, install) in [
        ("patch", "apt-get install -y patch"),
        ("git", "apt-get install -y git"),
    ] {
        let found = Command::new(program)
            .arg("--version")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .is_ok_and(|s| s.success());
        anyhow::ensure!(found, "`{program}` is not installed ({install})");
    }
    let cases = load_cases(&cli.corpus)?;
    anyhow::ensure!(!cases.is_empty(), "the corpus is empty");
    let original_trees = cases
        .iter()
        .map(|case| {
            let temp = tempfile::tempdir()?;
            tree(&prepare(&cli.sites, case, temp.path())?)
        })
        .collect::<anyhow::Result<Vec<Tree>>>()?;

    let mut outcomes: Vec<[Option<Outcome>; TOOLS.len()]> = vec![[None; TOOLS.len()]; cases.len()];
    let mut times: Vec<Vec<Duration>> = vec![Vec::new(); TOOLS.len()];
    let mut totals: Vec<Vec<Duration>> = vec![Vec::new(); TOOLS.len()];
    for round in 0..cli.rounds.max(1) {
        let mut total = [Duration::ZERO; TOOLS.len()];
        for (index, case) in cases.iter().enumerate() {
            // Each tool goes first in turn.
            for k in 0..TOOLS.len() {
                let t = (index + round + k) % TOOLS.len();
                let temp = tempfile::tempdir()?;
                let site = prepare(&cli.sites, case, temp.path())?;
                let mut command = TOOLS[t].command(&devflow, &site, case);
                command
                    .stdin(Stdio::null())
                    .stdout(Stdio::null())
                    .stderr(Stdio::null());
                let start = Instant::now();
                command
                    .status()
                    .with_context(|| format!("running {}", TOOLS[t].name()))?;
                let elapsed = start.elapsed();
                times[t].push(elapsed);
                total[t] += elapsed;
                let seen = outcome(
                    &original_trees[index],
                    &tree(&site)?,
                    case.intended.as_ref(),
                );
                match outcomes[index][t] {
                    None => outcomes[index][t] = Some(seen),
                    Some(first) if first != seen => bail!(
                        "{}: {} gave {first:?}, then {seen:?}",
                        case.stem,
                        TOOLS[t].name()
                    ),
                    Some(_) => {}
                }
            }
        }
        for (t, time) in total.iter().enumerate() {
            totals[t].push(*time);
        }
    }

    print_report(&cli, &cases, &outcomes, &times, &totals);
    Ok(())
}

fn median(samples: &[Duration]) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort_unstable();
    sorted
        .get(sorted.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or_default()
}

fn print_report(
    cli: &Cli,
    cases: &[Case],
    outcomes: &[[Option<Outcome>; TOOLS.len()]],
    times: &[Vec<Duration>],
    totals: &[Vec<Duration>],
) {
    let count = |category: Category| cases.iter().filter(|c| c.category == category).count();
    let (recoverable, unrecoverable, refused) = (
        count(Category::Recoverable),
        count(Category::Unrecoverable),
        count(Category::Refused),
    );
    println!(
        "corpus: {} cases ({recoverable} recoverable, {unrecoverable} unrecoverable, {refused} refused), {} rounds\n",
        cases.len(),
        cli.rounds.max(1)
    );
    println!("| tool | recoverable applied as intended | wrong place / partial / damaged | unrecoverable left unchanged | refused left unchanged | time per case p50 | corpus total (median of rounds) |");
    println!("|---|---:|---:|---:|---:|---:|---:|");
    let devflow_p50 = median(&times[0]);
    for (t, tool) in TOOLS.iter().enumerate() {
        let tally = |category: Category, wanted: Outcome| {
            cases
                .iter()
                .zip(outcomes)
                .filter(|(c, o)| c.category == category && o[t] == Some(wanted))
                .count()
        };
        let wrong = cases
            .iter()
            .zip(outcomes)
            .filter(|(c, o)| c.category != Category::Refused && o[t] == Some(Outcome::Other))
            .count();
        let applied = tally(Category::Recoverable, Outcome::Intended);
        let p50 = median(&times[t]);
        let ratio = if t == 0 {
            String::new()
        } else {
            format!(
                " ({:.2}× devflow)",
                p50.as_secs_f64() / devflow_p50.as_secs_f64().max(1e-9)
            )
        };
        let time = format!(
            "{:.2} ms{ratio} | {:.0} ms",
            p50.as_secs_f64() * 1000.0,
            median(&totals[t]).as_secs_f64() * 1000.0
        );
        if *tool == Tool::DevflowCheck {
            println!("| {} | — | — | — | — | {time} |", tool.name());
            continue;
        }
        println!(
            "| {} | {applied}/{recoverable} ({:.0}%) | {wrong} | {}/{unrecoverable} | {}/{refused} | {time} |",
            tool.name(),
            100.0 * applied as f64 / recoverable.max(1) as f64,
            tally(Category::Unrecoverable, Outcome::Unchanged),
            tally(Category::Refused, Outcome::Unchanged),
        );
    }
    let guessed: Vec<String> = TOOLS
        .iter()
        .enumerate()
        .filter(|(_, tool)| **tool != Tool::DevflowCheck)
        .map(|(t, tool)| {
            let n = cases
                .iter()
                .zip(outcomes)
                .filter(|(c, o)| {
                    c.category == Category::Unrecoverable && o[t] == Some(Outcome::Intended)
                })
                .count();
            format!("{}: {n}", tool.name())
        })
        .collect();
    println!(
        "\nunrecoverable cases applied by a lucky guess (the intended place among several): {}",
        guessed.join(", ")
    );

    if cli.cases {
        let shown: Vec<usize> = (0..TOOLS.len())
            .filter(|t| TOOLS[*t] != Tool::DevflowCheck)
            .collect();
        let names: Vec<&str> = shown.iter().map(|t| TOOLS[*t].name()).collect();
        println!("\n| case | {} |", names.join(" | "));
        println!("|---|{}", "---|".repeat(shown.len()));
        for (case, row) in cases.iter().zip(outcomes) {
            let cells: Vec<&str> = shown
                .iter()
                .map(|t| match row[*t] {
                    Some(Outcome::Intended) => "intended",
                    Some(Outcome::Unchanged) => "unchanged",
                    Some(Outcome::Other) => "**other**",
                    None => "?",
                })
                .collect();
            println!("| {} | {} |", case.stem, cells.join(" | "));
        }
    }
}
