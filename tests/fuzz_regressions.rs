//! Replays every checked-in fuzz input on stable, without libFuzzer: the seed corpora
//! (`fuzz/corpus/<target>/`) and every crash found so far (`fuzz/regressions/<target>/`), each
//! through the same code as its fuzz target (`fuzz/src/lib.rs`, included below). See
//! fuzz/README.md for how a crash becomes a regression test.

#[allow(dead_code)]
#[path = "../fuzz/src/lib.rs"]
mod harness;

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// Crashes found by fuzzing and not fixed yet, as `<target>/<file>`, from fuzz/regressions/OPEN
/// (run.sh reads it too). Each has an `#[ignore]`d test below; the replay skips them until the
/// fix lands (then remove the line and the `#[ignore]`).
fn open_crashes() -> Vec<String> {
    std::fs::read_to_string(fuzz_dir().join("regressions").join("OPEN"))
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect()
}

fn fuzz_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz")
}

/// Every input file of `<fuzz>/<kind>/<target>/`, as (target, path).
fn inputs(kind: &str) -> Vec<(&'static str, PathBuf)> {
    let mut out = Vec::new();
    let root = fuzz_dir().join(kind);
    let Ok(dirs) = std::fs::read_dir(&root) else {
        return out;
    };
    for dir in dirs.flatten().filter(|d| d.path().is_dir()) {
        let name = dir.file_name().to_string_lossy().into_owned();
        let target = harness::TARGETS
            .iter()
            .copied()
            .find(|t| *t == name)
            .unwrap_or_else(|| panic!("{}: no fuzz target is named {name}", root.display()));
        let mut files: Vec<PathBuf> = std::fs::read_dir(dir.path())
            .expect("readable")
            .flatten()
            .map(|f| f.path())
            .filter(|p| p.is_file() && !is_note(p))
            .collect();
        files.sort();
        out.extend(files.into_iter().map(|p| (target, p)));
    }
    out.sort();
    out
}

/// README.md / .gitkeep beside the inputs are not inputs.
fn is_note(p: &Path) -> bool {
    let name = p.file_name().and_then(|n| n.to_str()).unwrap_or("");
    name.starts_with('.') || name.ends_with(".md")
}

fn is_open_crash(open: &[String], target: &str, file: &Path) -> bool {
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    open.iter().any(|o| *o == format!("{target}/{name}"))
}

/// Runs each input, collecting every panic instead of stopping at the first.
fn replay(kind: &str, min: usize) {
    let inputs = inputs(kind);
    assert!(
        inputs.len() >= min,
        "fuzz/{kind}/ holds {} inputs, expected at least {min}",
        inputs.len()
    );
    let open = open_crashes();
    let mut failures = Vec::new();
    let mut ran = 0;
    for (target, path) in &inputs {
        if is_open_crash(&open, target, path) {
            continue;
        }
        let data = std::fs::read(path).expect("readable input");
        ran += 1;
        if catch_unwind(AssertUnwindSafe(|| harness::run_target(target, &data))).is_err() {
            failures.push(format!("{target}: {}", path.display()));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {ran} inputs panicked:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn every_seed_input_runs_without_a_panic() {
    replay("corpus", 100);
}

#[test]
fn every_regression_input_runs_without_a_panic() {
    replay("regressions", 0);
}

#[test]
fn every_target_has_a_seed_corpus() {
    for target in harness::TARGETS {
        let dir = fuzz_dir().join("corpus").join(target);
        let n = std::fs::read_dir(&dir)
            .map(|d| d.flatten().filter(|f| !is_note(&f.path())).count())
            .unwrap_or(0);
        assert!(n > 0, "{} is empty", dir.display());
    }
}

/// Runs one crash input by itself (an open one may panic or abort).
fn crash(target: &str, file: &str) {
    assert!(
        harness::run_target(target, &regression(target, file)),
        "unknown target {target}"
    );
}

fn regression(target: &str, file: &str) -> Vec<u8> {
    let path = fuzz_dir().join("regressions").join(target).join(file);
    std::fs::read(&path).expect("the crash input is checked in")
}

/// Found by fuzzing (fixed): the detail of a decode error quoted the vendor's answer without
/// masking the connection's secrets, so an ERP echoing the credentials in a malformed XML answer
/// (here Mr.Doc's confirm answering `<root></s3cret>`, the fixture's password being `s3cret`)
/// had them shown to the client.
#[test]
fn xml_decode_error_does_not_show_a_secret() {
    crash("vendor_answer", "xml-decode-error-shows-secret");
}

/// Found by fuzzing (fixed): a value of the ERP's answer that the mapping could not read (here
/// Mr.Doc's get answering a date `2026-07-01api-user 00:30:00`, the fixture's login being
/// `api-user`) was quoted in the problem's detail unmasked. Every problem a flow returns is
/// now masked at the flow's edge (`flow::run`).
#[test]
fn unreadable_answer_value_does_not_show_a_secret() {
    crash("vendor_answer", "date-error-echoes-secret");
}

/// Found by fuzzing (fixed): an element named `#text` (no XML name, but quick-xml reads it)
/// beside its parent's own text made two members `#text`, which a debug build refused with a
/// panic (a release build kept a map with a repeated name). The text now joins that child's
/// value as a list.
#[test]
fn element_named_like_the_text_key_is_read() {
    crash("decode_xml", "element-named-text-beside-text");
}
