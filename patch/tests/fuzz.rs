//! Fuzzing of the diff parser and the apply cascade, bounded so it runs in CI.
//!
//! Seeds are the 102 model-style diffs of `tests/corpus` against the fixture sites; each
//! case mutates one of them (bytes dropped, diff syntax spliced in, lines duplicated or
//! swapped, the text cut short) and feeds it to `parse` and `plan`. What must hold for any
//! input: neither panics; a plan only names files it was allowed to touch, with paths that
//! stay inside the workspace, and its `before` is exactly what the workspace held; and a
//! plan committed to a copy of those files then restored leaves them byte-identical.
//!
//! Run longer with `DEVFLOW_FUZZ_CASES=100000 cargo test --release -p devflow-patch --test
//! fuzz`; a failure prints the minimal input, which becomes a regression test.

use std::collections::BTreeMap;
use std::fs;
use std::path::{Path, PathBuf};

use devflow_patch::{commit, parse, plan, restore};
use proptest::prelude::*;

/// Pieces of diff syntax (and of the mistakes models make) spliced into the seeds.
const SPLICES: &[&str] = &[
    "\n",
    "\r\n",
    "@@ -1,3 +1,4 @@\n",
    "@@ @@\n",
    "@@ -0,0 +1 @@\n",
    "@@ -4294967295,4294967295 +1,1 @@\n",
    "--- a/css/styles.css\n+++ b/css/styles.css\n",
    "--- /dev/null\n+++ b/new.css\n",
    "--- a/index.html\n+++ /dev/null\n",
    "--- ../../etc/passwd\n+++ ../../etc/passwd\n",
    "--- /etc/hosts\n+++ /etc/hosts\n",
    "diff --git a/x.css b/y.css\nrename from x.css\nrename to y.css\n",
    "diff --git \"a/sp ace.css\" \"b/sp ace.css\"\n",
    "new file mode 100644\n",
    "deleted file mode 100644\n",
    "GIT binary patch\nliteral 0\n",
    "\\ No newline at end of file\n",
    "```diff\n",
    "```\n",
    "+",
    "-",
    " ",
    "\t",
    "\u{feff}",
    "\u{0}",
    "é",
    "見出し",
    "}\n",
    "  color: #0d6efd;\n",
];

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

struct Seed {
    name: String,
    diff: String,
    /// Every text file of the case's fixture site, by workspace path.
    site: BTreeMap<String, Vec<u8>>,
}

fn site_files(dir: &Path, prefix: &str, out: &mut BTreeMap<String, Vec<u8>>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry"))
        .collect();
    entries.sort_by_key(|e| e.file_name());
    for entry in entries {
        let name = entry.file_name().to_string_lossy().into_owned();
        let path = format!("{prefix}{name}");
        if entry.file_type().expect("type").is_dir() {
            site_files(&entry.path(), &format!("{path}/"), out);
        } else {
            out.insert(path, fs::read(entry.path()).expect("read"));
        }
    }
}

fn seeds() -> &'static [Seed] {
    static SEEDS: std::sync::OnceLock<Vec<Seed>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let corpus = root().join("tests/corpus");
        let mut sites: BTreeMap<String, BTreeMap<String, Vec<u8>>> = BTreeMap::new();
        let mut seeds = Vec::new();
        let mut names: Vec<PathBuf> = fs::read_dir(&corpus)
            .unwrap_or_else(|e| panic!("{}: {e}", corpus.display()))
            .map(|e| e.expect("entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "diff"))
            .collect();
        names.sort();
        for path in names {
            let meta: serde_json::Value =
                serde_json::from_slice(&fs::read(path.with_extension("json")).expect("case json"))
                    .expect("case json parses");
            let site = meta["site"].as_str().expect("site").to_string();
            let files = sites.entry(site.clone()).or_insert_with(|| {
                let mut files = BTreeMap::new();
                let dir = root().join("../shared/fixtures/sites").join(&site);
                site_files(&dir, "", &mut files);
                files
            });
            seeds.push(Seed {
                name: path
                    .file_name()
                    .expect("name")
                    .to_string_lossy()
                    .into_owned(),
                diff: String::from_utf8_lossy(&fs::read(&path).expect("diff")).into_owned(),
                site: files.clone(),
            });
        }
        assert!(seeds.len() >= 100, "the corpus has {} diffs", seeds.len());
        seeds
    })
}

#[derive(Debug, Clone)]
enum Mutation {
    /// Drops `len` bytes at a relative position (0..1000 of the text).
    Drop {
        at: u16,
        len: u8,
    },
    Splice {
        at: u16,
        piece: usize,
    },
    DuplicateLine {
        at: u16,
    },
    SwapLines {
        at: u16,
    },
    /// Keeps only the first share (0..1000) of the text.
    Truncate {
        keep: u16,
    },
    /// Replaces one line's first character (its hunk marker) with another marker.
    Remark {
        at: u16,
        marker: u8,
    },
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        (0..1000u16, 1..40u8).prop_map(|(at, len)| Mutation::Drop { at, len }),
        (0..1000u16, 0..SPLICES.len()).prop_map(|(at, piece)| Mutation::Splice { at, piece }),
        (0..1000u16).prop_map(|at| Mutation::DuplicateLine { at }),
        (0..1000u16).prop_map(|at| Mutation::SwapLines { at }),
        (1..1000u16).prop_map(|keep| Mutation::Truncate { keep }),
        (0..1000u16, 0..4u8).prop_map(|(at, marker)| Mutation::Remark { at, marker }),
    ]
}

/// A char boundary at `share`/1000 of `text`.
fn position(text: &str, share: u16) -> usize {
    let mut at = text.len() * usize::from(share) / 1000;
    while !text.is_char_boundary(at) {
        at -= 1;
    }
    at
}

fn mutate(text: &str, mutation: &Mutation) -> String {
    let mut text = text.to_string();
    match *mutation {
        Mutation::Drop { at, len } => {
            let start = position(&text, at);
            let mut end = (start + usize::from(len)).min(text.len());
            while !text.is_char_boundary(end) {
                end += 1;
            }
            text.replace_range(start..end, "");
        }
        Mutation::Splice { at, piece } => {
            let at = position(&text, at);
            text.insert_str(at, SPLICES[piece]);
        }
        Mutation::DuplicateLine { at }
        | Mutation::SwapLines { at }
        | Mutation::Remark { at, .. } => {
            let mut lines: Vec<String> = text.split('\n').map(str::to_string).collect();
            let i = lines.len().saturating_sub(1) * usize::from(at) / 1000;
            match *mutation {
                Mutation::DuplicateLine { .. } => {
                    let line = lines[i].clone();
                    lines.insert(i, line);
                }
                Mutation::SwapLines { .. } if i + 1 < lines.len() => lines.swap(i, i + 1),
                Mutation::Remark { marker, .. } => {
                    let marker = [' ', '+', '-', '\\'][usize::from(marker)];
                    let rest: String = lines[i].chars().skip(1).collect();
                    lines[i] = format!("{marker}{rest}");
                }
                _ => {}
            }
            text = lines.join("\n");
        }
        Mutation::Truncate { keep } => {
            let at = position(&text, keep);
            text.truncate(at);
        }
    }
    text
}

/// Parsed paths are normalised: non-empty, no empty or `.` components, no trailing `/`.
fn check_paths(parsed: &devflow_patch::Diff) -> Result<(), TestCaseError> {
    for file in &parsed.files {
        let relative = file.path.strip_prefix('/').unwrap_or(&file.path);
        prop_assert!(
            !relative.is_empty(),
            "an empty path parsed: {:?}",
            file.path
        );
        prop_assert!(
            relative
                .split('/')
                .all(|part| !part.is_empty() && part != "."),
            "a path parsed without normalising: {:?}",
            file.path
        );
    }
    Ok(())
}

fn cases() -> u32 {
    std::env::var("DEVFLOW_FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(300)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: cases(), failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_model_diffs_never_panic_and_plans_stay_inside_their_files(
        seed in 0..1000usize,
        mutations in prop::collection::vec(mutation(), 1..5),
        list_every_file in any::<bool>(),
    ) {
        let seeds = seeds();
        let seed = &seeds[seed % seeds.len()];
        let diff = mutations.iter().fold(seed.diff.clone(), |text, m| mutate(&text, m));

        // The parser alone, on anything.
        let parsed = parse(&diff);
        if let Ok(parsed) = &parsed {
            check_paths(parsed)?;
        }

        // What a proposal would allow: either every file of the site or what the diff names.
        let allowed: Vec<String> = match (&parsed, list_every_file) {
            (Ok(parsed), false) => parsed.files.iter().map(|f| f.path.clone()).collect(),
            _ => seed.site.keys().cloned().collect(),
        };
        let read = |path: &str| -> Result<Option<Vec<u8>>, String> {
            Ok(seed.site.get(path).cloned())
        };
        let Ok(planned) = plan(&diff, &allowed, read) else {
            return Ok(());
        };

        for file in &planned.files {
            prop_assert!(allowed.contains(&file.path), "{}: {} was not allowed", seed.name, file.path);
            prop_assert!(
                devflow_protocol::check_relative_path(&file.path).is_ok(),
                "{}: planned path {} leaves the workspace", seed.name, file.path
            );
            prop_assert_eq!(
                file.before.as_deref(),
                seed.site.get(&file.path).map(Vec::as_slice),
                "{}: the plan's before of {} is not the workspace's", seed.name, file.path
            );
        }

        // Commit then restore on a copy of exactly the files involved: byte-identical.
        let dir = tempfile::tempdir().expect("tempdir");
        for file in &planned.files {
            if let Some(bytes) = &file.before {
                let target = dir.path().join(&file.path);
                fs::create_dir_all(target.parent().expect("parent")).expect("mkdir");
                fs::write(&target, bytes).expect("write");
            }
        }
        commit(dir.path(), &planned.files).expect("a planned patch commits");
        for file in &planned.files {
            let now = fs::read(dir.path().join(&file.path)).ok();
            prop_assert_eq!(now.as_deref(), file.after.as_deref(), "{}: {} after commit", seed.name, file.path);
        }
        restore(dir.path(), &planned.files, false).expect("a committed patch restores");
        for file in &planned.files {
            let now = fs::read(dir.path().join(&file.path)).ok();
            prop_assert_eq!(now.as_deref(), file.before.as_deref(), "{}: {} after restore", seed.name, file.path);
        }
    }

    #[test]
    fn arbitrary_text_never_panics_the_parser(text in "(?s).{0,400}", seed in 0..1000usize) {
        let seeds = seeds();
        let seed = &seeds[seed % seeds.len()];
        if let Ok(parsed) = parse(&text) {
            check_paths(&parsed)?;
        }
        // Random text appended to a real diff: the trailing garbage is prose or an error.
        let joined = format!("{}{}", seed.diff, text);
        if let Ok(parsed) = parse(&joined) {
            check_paths(&parsed)?;
        }
    }
}
