//! The command line, run as a user runs it.

mod common;

use std::process::Command;

use common::*;

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(BIN)
        .args(args)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .expect("run ordergate");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

const GOOD: &str = "vendor: t\noperations:\n  get_order:\n    steps:\n      - name: got\n        request: { method: GET, path: \"/o/${path.id}\" }\n    result: { id: $got.body.id }\n";

fn check_mapping(text: &str) -> (i32, String) {
    let dir = temp_dir("check");
    let path = dir.join("m.yaml");
    std::fs::write(&path, text).expect("write");
    let (code, _, err) = run(&["check", path.to_str().expect("utf8 path")]);
    let _ = std::fs::remove_dir_all(&dir);
    (code, err)
}

#[test]
fn check_accepts_a_good_mapping_and_the_seed_mappings() {
    assert_eq!(check_mapping(GOOD).0, 0);
    let (code, out, err) = run(&["check", "mappings"]);
    assert_eq!(code, 0, "{out}{err}");
    let (code, _, err) = run(&["check"]);
    assert_eq!(code, 0, "the embedded default is valid: {err}");
}

#[test]
fn check_names_file_and_line_of_a_bad_jsonpath() {
    let (code, err) = check_mapping(&GOOD.replace("$got.body.id", "\"$got.body[?(@.id ==\""));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("m.yaml:7:") && err.contains("invalid JSONPath"),
        "{err}"
    );
}

#[test]
fn check_names_file_and_line_of_an_unknown_encoding() {
    let (code, err) = check_mapping(&GOOD.replace(
        "path: \"/o/${path.id}\" }",
        "path: /o, encoding: protobuf, body: { a: 1 } }",
    ));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("m.yaml:6:") && err.contains("unknown encoding `protobuf`"),
        "{err}"
    );
}

#[test]
fn check_names_file_and_line_of_an_unknown_key() {
    let (code, err) = check_mapping(&GOOD.replace("    result:", "    retries: 3\n    result:"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("m.yaml:7:") && err.contains("unknown key `retries`"),
        "{err}"
    );
}

#[test]
fn check_reports_config_errors_with_lines() {
    let dir = temp_dir("cfg");
    let path = dir.join("ordergate.yaml");
    std::fs::write(
        &path,
        format!(
            "mappings: {}\nconnections:\n  d:\n    vendor: nosuchvendor\n    base_url: http://x\n",
            mappings_dir()
        ),
    )
    .expect("write");
    let (code, _, err) = run(&["check", path.to_str().expect("utf8")]);
    assert_eq!(code, 2);
    assert!(
        err.contains("ordergate.yaml:4:") && err.contains("nosuchvendor"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn check_refuses_a_time_zone_that_is_none_where_it_is_written() {
    // In the mapping: a `zone:` written as a name, and a setting's default a `zone:` reads.
    let zoned = |zone: &str, default: &str| {
        GOOD.replace(
            "vendor: t\n",
            &format!("vendor: t\nsettings:\n  tz: {{ default: {default} }}\n"),
        )
        .replace(
            "{ id: $got.body.id }",
            &format!("{{ id: $got.body.id, created_at: {{ from: $got.body.at, as: timestamp, zone: {zone} }} }}"),
        )
    };
    assert_eq!(check_mapping(&zoned("Europe/Paris", "UTC")).0, 0);
    let (code, err) = check_mapping(&zoned("Europe/Pariss", "UTC"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("m.yaml:9:") && err.contains("unknown time zone `Europe/Pariss`"),
        "{err}"
    );
    let (code, err) = check_mapping(&zoned("$settings.tz", "Mars/Olympus"));
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("m.yaml:3:") && err.contains("unknown time zone `Mars/Olympus`"),
        "{err}"
    );
    // In the config: a connection's value of a setting a `zone:` reads (Dokos's `timezone`).
    let dir = temp_dir("cfg-zone");
    let path = dir.join("ordergate.yaml");
    let config = |tz: &str| {
        format!(
            "mappings: {}\nconnections:\n  d:\n    vendor: dokos\n    base_url: http://x\n    secrets: {{ api_key: k, api_secret: s }}\n    settings: {{ company: C, timezone: {tz} }}\n",
            mappings_dir()
        )
    };
    std::fs::write(&path, config("Europe/Berlin")).expect("write");
    let (code, _, err) = run(&["check", path.to_str().expect("utf8")]);
    assert_eq!(code, 0, "{err}");
    std::fs::write(&path, config("Berlin")).expect("write");
    let (code, _, err) = run(&["check", path.to_str().expect("utf8")]);
    assert_eq!(code, 2, "{err}");
    assert!(
        err.contains("ordergate.yaml:4:")
            && err.contains("setting `timezone` is `Berlin`, not a time zone"),
        "{err}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

/// The seed mappings' golden fixtures are part of the suite.
#[test]
fn golden_fixtures_of_the_seed_mappings_pass() {
    let (code, out, err) = run(&["test", "mappings"]);
    assert_eq!(code, 0, "{out}\n{err}");
    let last = out.lines().last().unwrap_or("");
    assert!(last.ends_with(" 0 failed"), "{out}");
    let passed: usize = last
        .split(' ')
        .next()
        .and_then(|n| n.parse().ok())
        .unwrap_or(0);
    assert!(passed >= 1, "{out}");
}

#[test]
fn translate_prints_the_vendor_request_with_secrets_masked() {
    let dir = temp_dir("tr");
    let body = dir.join("order.json");
    std::fs::write(
        &body,
        r#"{"customer": {"id": "Test Customer"}, "external_ref": "PO-1", "lines": [{"sku": "SKU-001", "quantity": 3, "unit_price": 12.5}]}"#,
    )
    .expect("write");
    let out = Command::new(BIN)
        .args(["translate", "--connection", "dokos", "--op", "create_order"])
        .arg(&body)
        .env("DOKOS_API_KEY", "visible-key-123")
        .env("DOKOS_API_SECRET", "visible-secret-456")
        .output()
        .expect("run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let first = stdout.lines().next().unwrap_or("");
    assert!(
        first.starts_with("POST http://") && first.ends_with("/api/resource/Sales%20Order"),
        "{stdout}"
    );
    assert!(stdout.contains("authorization: token ****"), "{stdout}");
    assert!(
        stdout.contains(r#""items":[{"item_code":"SKU-001","qty":3,"rate":12.5}]"#),
        "{stdout}"
    );
    assert!(
        !stdout.contains("visible-key-123") && !stdout.contains("visible-secret-456"),
        "{stdout}"
    );
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_worker_count_that_is_not_a_positive_number_is_refused_before_anything_runs() {
    for bad in ["0", "two", "1.5"] {
        let (code, _, err) = run(&["--workers", bad, "check"]);
        assert_eq!(code, 2, "--workers {bad}: {err}");
        assert!(
            err.contains("--workers") && err.contains(bad),
            "--workers {bad}: {err}"
        );
    }
    let (code, _, err) = run(&["check", "--workers", "1"]);
    assert_eq!(code, 0, "after the subcommand too: {err}");
}
