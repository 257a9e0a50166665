//! An independent check of what the gateway sends: every vendor request of every golden
//! fixture goes to Stoplight Prism (a third-party validator, installed from npm by `.ci/run`),
//! mocking the vendor's API description written from its document (`tests/vendors/`). Prism
//! objects to any request that breaks the description.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ordergate::golden::{ContractCheck, run_paths_checked};

fn prism() -> Option<PathBuf> {
    if let Ok(p) = std::env::var("PRISM") {
        return Some(PathBuf::from(p));
    }
    let on_path = Command::new("prism")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
    on_path
        .is_ok_and(|s| s.success())
        .then(|| PathBuf::from("prism"))
}

struct Mock(Child);

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn start(prism: &Path, spec: &Path) -> (Mock, String) {
    for _ in 0..3 {
        let port = free_port();
        let child = Command::new(prism)
            .args([
                "mock",
                "--errors",
                "-h",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .arg(spec)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start prism");
        let mut mock = Mock(child);
        let deadline = Instant::now() + Duration::from_secs(60);
        while Instant::now() < deadline {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return (mock, format!("http://127.0.0.1:{port}"));
            }
            if let Ok(Some(_)) = mock.0.try_wait() {
                break; // the port was taken meanwhile: try another
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        drop(mock);
    }
    panic!("prism did not start for {}", spec.display());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_fixture_request_passes_the_vendor_description() {
    let Some(prism) = prism() else {
        assert!(
            std::env::var("CI").is_err(),
            "Prism must be installed in CI (.ci/run installs @stoplight/prism-cli)"
        );
        eprintln!("skipped: prism is not installed (npm install -g @stoplight/prism-cli)");
        return;
    };
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut specs: Vec<PathBuf> = std::fs::read_dir(root.join("tests/vendors"))
        .expect("tests/vendors")
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".openapi.yaml"))
        .collect();
    specs.sort();
    assert!(
        specs.len() >= 4,
        "one description per seed vendor: {specs:?}"
    );
    let mut failures = Vec::new();
    let mut checked = 0;
    for spec in specs {
        let vendor = spec
            .file_name()
            .and_then(|n| n.to_str())
            .and_then(|n| n.strip_suffix(".openapi.yaml"))
            .expect("name")
            .to_string();
        let mapping = root.join("mappings").join(format!("{vendor}.yaml"));
        let (_mock, url) = start(&prism, &spec);
        let check = ContractCheck::new(&url).expect("validator client");
        let results = run_paths_checked(std::slice::from_ref(&mapping), Some(&check))
            .await
            .expect("mapping loads");
        assert!(!results.is_empty(), "{vendor} has fixtures");
        for r in results {
            checked += 1;
            if !r.failures.is_empty() {
                failures.push(format!(
                    "{vendor}: {} ({}):\n  {}",
                    r.name,
                    r.file,
                    r.failures.join("\n  ")
                ));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {checked} fixtures break their vendor description:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
