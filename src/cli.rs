//! The command line: `serve`, `check`, `translate`, `test`.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Mutex;
use std::time::Duration;

use crate::value::Value;
use anyhow::{Context, bail};
use clap::{Parser, Subcommand, ValueEnum};

use crate::canonical::operation::Operation;
use crate::config::{self, Snapshot};
use crate::engine::render::VendorRequest;
use crate::flow::{self, OpInput, Target, normalize::mask};
use crate::upstream::{Transport, UpstreamError, UpstreamResponse};

#[derive(Parser)]
#[command(
    name = "ordergate",
    version,
    about = "One canonical sales-order API in front of many ERPs"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
    /// Threads serving requests (default: one per CPU this process may use, from its affinity
    /// and cgroup quota). 1 runs everything on one thread, tokio's current-thread scheduler:
    /// the cheapest way to serve on one core.
    #[arg(long, global = true, env = "ORDERGATE_WORKERS")]
    workers: Option<std::num::NonZeroUsize>,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Json,
    Text,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the gateway (with no --config: the embedded default).
    Serve {
        #[arg(long, short, env = "ORDERGATE_CONFIG")]
        config: Option<PathBuf>,
        /// Listen address; overrides the config's `listen` (default 127.0.0.1:8080).
        #[arg(long, env = "ORDERGATE_LISTEN")]
        listen: Option<String>,
        /// Admin listener (metrics, health, reload, config view); overrides the config's
        /// `admin` (default 127.0.0.1:9090). Keep it off the public network.
        #[arg(long, env = "ORDERGATE_ADMIN")]
        admin: Option<String>,
        #[arg(long, value_enum, default_value = "text", env = "ORDERGATE_LOG_FORMAT")]
        log_format: LogFormat,
        /// Export request spans to this OpenTelemetry collector (OTLP/gRPC, e.g.
        /// http://127.0.0.1:4317); needs a build with `--features otlp`.
        #[arg(long, env = "ORDERGATE_OTLP_ENDPOINT")]
        otlp_endpoint: Option<String>,
        /// How long requests in flight may finish after SIGTERM/SIGINT.
        #[arg(long, default_value = "30s", value_parser = parse_duration)]
        drain_timeout: Duration,
    },
    /// Validates config files and mapping files (exit 2 with file:line on error).
    Check {
        /// Config files, mapping files or folders of mappings (default: the embedded default).
        paths: Vec<PathBuf>,
    },
    /// Prints the exact first vendor request an operation sends (dry run, secrets masked).
    Translate {
        #[arg(long, short, env = "ORDERGATE_CONFIG")]
        config: Option<PathBuf>,
        #[arg(long)]
        connection: Option<String>,
        /// Operation name: create_order, get_order, ...
        #[arg(long)]
        op: String,
        /// Order id (get, update, confirm, cancel, delete).
        #[arg(long)]
        id: Option<String>,
        /// External reference (get_order_by_ref).
        #[arg(long = "ref")]
        external_ref: Option<String>,
        /// List query, e.g. "status=draft&limit=5".
        #[arg(long)]
        query: Option<String>,
        /// The canonical JSON body (create, update); `-` or nothing reads stdin when needed.
        file: Option<PathBuf>,
    },
    /// Serves the simulated vendor APIs (sandbox ERPs) alone, each under /<vendor>/.
    Sandbox {
        #[arg(long, default_value = "127.0.0.1:8090")]
        listen: String,
        #[arg(long, value_enum, default_value = "text", env = "ORDERGATE_LOG_FORMAT")]
        log_format: LogFormat,
    },
    /// Runs the golden fixtures of mappings and prints `N passed, N failed`.
    Test {
        /// Mapping files or folders (default: mappings).
        paths: Vec<PathBuf>,
    },
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .map_err(|_| format!("`{s}`: expected e.g. 500ms, 30s, 2m"))?;
    match unit {
        "ms" => Ok(Duration::from_millis(n)),
        "s" | "" => Ok(Duration::from_secs(n)),
        "m" => Ok(Duration::from_secs(n * 60)),
        _ => Err(format!("`{s}`: expected e.g. 500ms, 30s, 2m")),
    }
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    crate::telemetry::log_batch::flush_before_panics();
    let workers = crate::server::runtime::Workers::choose(cli.workers);
    let runtime = match crate::server::runtime::build(workers) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(run(cli.command, workers));
    // The lines the runtime's threads hold go out before the error: with one worker this
    // thread ran the scheduler; the others write theirs as they stop.
    crate::telemetry::log_batch::stop_on_this_thread();
    drop(runtime);
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(
    command: Command,
    workers: crate::server::runtime::Workers,
) -> anyhow::Result<ExitCode> {
    match command {
        Command::Serve {
            config,
            listen,
            admin,
            log_format,
            otlp_endpoint,
            drain_timeout,
        } => {
            let _otlp = init_logging(log_format, otlp_endpoint.as_deref())?;
            serve(config, listen, admin, drain_timeout, workers).await
        }
        Command::Check { paths } => Ok(check(&paths)),
        Command::Translate {
            config,
            connection,
            op,
            id,
            external_ref,
            query,
            file,
        } => translate(config, connection, &op, id, external_ref, query, file).await,
        Command::Test { paths } => test(paths).await,
        Command::Sandbox { listen, log_format } => {
            let _ = init_logging(log_format, None)?;
            let sandbox = std::sync::Arc::new(crate::sandbox::Sandbox::default());
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .with_context(|| format!("cannot listen on {listen}"))?;
            let local = listener.local_addr()?;
            eprintln!(
                "ordergate sandbox listening on http://{local} (vendors: {})",
                sandbox.prefixes().join(", ")
            );
            tokio::select! {
                _ = crate::sandbox::serve(listener, sandbox) => {}
                _ = shutdown_signal() => {}
            }
            Ok(ExitCode::SUCCESS)
        }
    }
}

/// Logs to stderr (JSON lines or text), filtered by `ORDERGATE_LOG`; with the `otlp` feature
/// and an endpoint, request spans are exported too (the returned guard flushes them at exit).
fn init_logging(
    format: LogFormat,
    otlp_endpoint: Option<&str>,
) -> anyhow::Result<Option<OtlpGuard>> {
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::layer::SubscriberExt as _;
    use tracing_subscriber::util::SubscriberInitExt as _;
    let filter = tracing_subscriber::EnvFilter::try_from_env("ORDERGATE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let fmt = match format {
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .with_timer(crate::telemetry::log::LineTime)
            .json()
            .flatten_event(true)
            .with_writer(crate::telemetry::log_batch::BatchedStderr)
            .boxed(),
        // Colours on a terminal; elsewhere the same text without the styling machinery.
        LogFormat::Text if std::io::IsTerminal::is_terminal(&std::io::stderr()) => {
            tracing_subscriber::fmt::layer()
                .with_timer(crate::telemetry::log::LineTime)
                .with_writer(crate::telemetry::log_batch::BatchedStderr)
                .boxed()
        }
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_timer(crate::telemetry::log::LineTime)
            .with_ansi(false)
            .fmt_fields(crate::telemetry::log::plain_fields())
            .with_writer(crate::telemetry::log_batch::BatchedStderr)
            .boxed(),
    };
    // Log lines are events only (the access line carries the request's fields itself): the
    // request and upstream spans are for the OTLP exporter. The log layer used to format every
    // span's fields when it was made, whether a line would show them or not.
    let fmt = fmt.with_filter(crate::telemetry::log::events_only());
    let registry = tracing_subscriber::registry().with(filter).with(fmt);
    #[cfg(feature = "otlp")]
    if let Some(endpoint) = otlp_endpoint {
        let (provider, layer) =
            crate::telemetry::otlp::layer(endpoint).map_err(|e| anyhow::anyhow!(e))?;
        let _ = registry.with(layer).try_init();
        return Ok(Some(OtlpGuard(provider)));
    }
    #[cfg(not(feature = "otlp"))]
    if otlp_endpoint.is_some() {
        anyhow::bail!(
            "--otlp-endpoint needs a build with the `otlp` feature (cargo build --features otlp)"
        );
    }
    // No exporter: spans have no reader, and are not made at all (their call sites disabled).
    let _ = registry
        .with(crate::telemetry::log::events_only())
        .try_init();
    Ok(None)
}

/// Flushes exported spans when dropped.
pub struct OtlpGuard(#[cfg(feature = "otlp")] opentelemetry_sdk::trace::SdkTracerProvider);

impl Drop for OtlpGuard {
    fn drop(&mut self) {
        #[cfg(feature = "otlp")]
        let _ = self.0.shutdown();
    }
}

fn load(config: Option<&Path>) -> anyhow::Result<Snapshot> {
    config::load(config).map_err(|errors| {
        anyhow::anyhow!("the configuration is invalid:\n  {}", errors.join("\n  "))
    })
}

async fn serve(
    config: Option<PathBuf>,
    listen: Option<String>,
    admin: Option<String>,
    drain: Duration,
    workers: crate::server::runtime::Workers,
) -> anyhow::Result<ExitCode> {
    let snapshot = match config.as_deref() {
        Some(path) => load(Some(path))?,
        None => {
            // The embedded default: its connections talk to the built-in sandbox ERPs.
            let sandbox = crate::sandbox::start("127.0.0.1:0")
                .await
                .context("cannot start the sandbox ERPs")?;
            tracing::info!(address = %sandbox, "sandbox ERPs started");
            crate::sandbox::embedded::load(&format!("http://{sandbox}")).map_err(|errors| {
                anyhow::anyhow!(
                    "the embedded configuration is invalid:\n  {}",
                    errors.join("\n  ")
                )
            })?
        }
    };
    let addr = listen
        .or_else(|| snapshot.listen.clone())
        .unwrap_or_else(|| "127.0.0.1:8080".to_string());
    let admin_addr = admin
        .or_else(|| snapshot.admin.clone())
        .unwrap_or_else(|| "127.0.0.1:9090".to_string());
    let connections: Vec<String> = snapshot.connections.keys().cloned().collect();
    let store = idempotency_store(&snapshot.idempotency).await?;
    let policy = crate::idempotency::Policy {
        ttl: snapshot.idempotency.ttl,
        stale_after: snapshot.idempotency.stale_after,
    };
    tracing::info!(store = store.kind(), "idempotency keys");
    let state = crate::server::State::with_store(snapshot, store, policy);
    let reloader = crate::reload::Reloader::new(config.clone(), state.clone());
    // Without client authentication the gateway serves loopback only, unless told otherwise.
    let loopback = addr
        .parse::<std::net::SocketAddr>()
        .map(|a| a.ip().is_loopback())
        .unwrap_or_else(|_| addr.starts_with("localhost:"));
    if state.snapshot.load().clients == crate::config::file::Clients::Unset && !loopback {
        anyhow::bail!(
            "refusing to listen on {addr} without client authentication: configure `clients: {{ mode: api_keys, keys: [...] }}`, or `clients: {{ mode: open }}` to trust every client explicitly"
        );
    }
    let (listener, local) = crate::server::bind(&addr)
        .await
        .with_context(|| format!("cannot listen on {addr}"))?;
    let snapshot_now = state.snapshot.load_full();
    let tls = match &snapshot_now.tls {
        None => None,
        Some((cert, key)) => {
            Some(crate::server::tls_acceptor(cert, key).map_err(|e| anyhow::anyhow!("TLS: {e}"))?)
        }
    };
    let (admin_listener, admin_local) = crate::server::bind(&admin_addr)
        .await
        .with_context(|| format!("cannot listen on {admin_addr} (admin)"))?;
    tokio::spawn(crate::server::admin::serve(
        admin_listener,
        state.clone(),
        reloader.clone(),
    ));
    reloader.spawn_triggers();
    crate::telemetry::metrics::metrics()
        .workers
        .set(i64::try_from(workers.count()).unwrap_or(i64::MAX));
    tracing::info!(address = %local, admin = %admin_local, connections = ?connections, workers = workers.count(), "ordergate listening");
    eprintln!(
        "ordergate listening on {}://{local}",
        if tls.is_some() { "https" } else { "http" }
    );
    eprintln!("ordergate admin on http://{admin_local}");
    crate::server::serve(listener, state, tls, shutdown_signal(), drain).await;
    Ok(ExitCode::SUCCESS)
}

/// The idempotency key store the config names (kept across reloads).
async fn idempotency_store(
    c: &crate::config::file::IdempotencyConfig,
) -> anyhow::Result<crate::idempotency::Store> {
    use crate::config::file::IdempotencyStore;
    use crate::idempotency::{Store, disk::DiskStore, redis::RedisStore};
    Ok(match &c.store {
        IdempotencyStore::Memory => Store::Memory(Default::default()),
        IdempotencyStore::Disk(path) => Store::Disk(
            DiskStore::open(path)
                .with_context(|| format!("cannot open the idempotency store {}", path.display()))?,
        ),
        IdempotencyStore::Redis(url) => Store::Redis(
            RedisStore::connect(url)
                .await
                .context("cannot connect to the Redis idempotency store")?,
        ),
    })
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = term => {},
    }
}

/// A file is a config when it has `connections:`, else a mapping.
fn check(paths: &[PathBuf]) -> ExitCode {
    let mut errors = Vec::new();
    let mut checked = 0;
    if paths.is_empty() {
        checked += 1;
        if let Err(e) = config::load(None) {
            errors.extend(e);
        }
    }
    for p in paths {
        let is_config = !p.is_dir()
            && std::fs::read_to_string(p)
                .ok()
                .and_then(|t| crate::yaml::parse(&p.display().to_string(), &t).ok())
                .is_some_and(|n| n.get("connections").is_some());
        checked += 1;
        let result = if is_config {
            config::load(Some(p)).map(|_| ())
        } else {
            config::snapshot::read_mappings(std::slice::from_ref(p))
                .and_then(|s| config::snapshot::compile_mappings(&s))
                .map(|_| ())
        };
        if let Err(e) = result {
            errors.extend(e);
        }
    }
    if errors.is_empty() {
        println!("ok: {checked} path(s) valid");
        ExitCode::SUCCESS
    } else {
        for e in &errors {
            eprintln!("{e}");
        }
        eprintln!("{} error(s)", errors.len());
        ExitCode::from(2)
    }
}

/// Captures the first request and stops.
struct DryRun {
    captured: Mutex<Option<VendorRequest>>,
}

impl Transport for DryRun {
    async fn send(&self, req: &VendorRequest) -> Result<UpstreamResponse, UpstreamError> {
        let mut slot = self.captured.lock().unwrap_or_else(|e| e.into_inner());
        if slot.is_none() {
            *slot = Some(req.clone());
        }
        Err(UpstreamError::Connect("dry run".into()))
    }
}

#[allow(clippy::too_many_arguments)]
async fn translate(
    config: Option<PathBuf>,
    connection: Option<String>,
    op: &str,
    id: Option<String>,
    external_ref: Option<String>,
    query: Option<String>,
    file: Option<PathBuf>,
) -> anyhow::Result<ExitCode> {
    let snapshot = load(config.as_deref())?;
    let Some(op) = Operation::parse(op) else {
        let known: Vec<&str> = Operation::ALL.iter().map(|o| o.name()).collect();
        bail!(
            "unknown operation `{op}`; expected one of: {}",
            known.join(", ")
        );
    };
    let name = connection
        .or_else(|| snapshot.default_connection.clone())
        .context("no --connection given and no default connection configured")?;
    let conn = snapshot
        .connection(&name)
        .with_context(|| format!("unknown connection `{name}`"))?;
    let body: Value = if op.takes_body() {
        let text = match file.as_deref() {
            Some(p) if p != Path::new("-") => std::fs::read_to_string(p)
                .with_context(|| format!("cannot read {}", p.display()))?,
            _ => std::io::read_to_string(std::io::stdin())
                .context("cannot read the body from stdin")?,
        };
        serde_json::from_str(&text).context("the body is not valid JSON")?
    } else {
        Value::Null
    };
    if let Err(p) = crate::canonical::validate::check_body(op, &body) {
        eprintln!("{}", serde_json::to_string_pretty(&p.to_json("dry-run"))?);
        return Ok(ExitCode::from(2));
    }
    let query = if op == Operation::ListOrders {
        crate::canonical::query::list_query(query.as_deref())
            .map_err(|e| anyhow::anyhow!("invalid query: {e:?}"))?
    } else {
        Value::Null
    };
    let path = match (id, external_ref) {
        (Some(i), _) => crate::json!({ "id": i }),
        (None, Some(r)) => crate::json!({ "external_ref": r }),
        _ => Value::Null,
    };
    let input = OpInput {
        body,
        path,
        query,
        now: None,
        traceparent: None,
    };
    conn.tokens.seed(crate::json!({"token": "<token>"})).await;
    let dry = DryRun {
        captured: Mutex::new(None),
    };
    let target = Target::of(conn);
    let outcome = flow::run(&target, &dry, op, &input).await;
    let captured = dry.captured.into_inner().unwrap_or_else(|e| e.into_inner());
    let Some(req) = captured else {
        match outcome {
            Err(p) => {
                eprintln!("{}", serde_json::to_string_pretty(&p.to_json("dry-run"))?);
                return Ok(ExitCode::from(2));
            }
            Ok(_) => bail!("the operation sends no request"),
        }
    };
    let steps = conn
        .mapping
        .operations
        .get(&op)
        .map_or(0, |p| p.steps.len());
    println!(
        "{} {}{}",
        req.method,
        conn.transport.base_url(),
        req.path_and_query
    );
    for (name, value, sensitive) in &req.headers {
        let text = value.to_str().unwrap_or("(binary)");
        let shown = if *sensitive {
            masked_header(text, &conn.secret_values)
        } else {
            mask(text, &conn.secret_values)
        };
        println!("{name}: {shown}");
    }
    println!();
    println!(
        "{}",
        mask(&String::from_utf8_lossy(&req.body), &conn.secret_values)
    );
    if steps > 1 {
        eprintln!("(this operation has {steps} steps; the later ones depend on the ERP's answers)");
    }
    Ok(ExitCode::SUCCESS)
}

/// A sensitive header: keep its scheme word (`token`, `Bearer`), hide the rest.
fn masked_header(text: &str, secrets: &[String]) -> String {
    match text.split_once(' ') {
        Some((scheme, _)) if scheme.chars().all(|c| c.is_ascii_alphabetic()) => {
            format!("{scheme} ****")
        }
        _ => {
            let m = mask(text, secrets);
            if m == text { "****".into() } else { m }
        }
    }
}

async fn test(paths: Vec<PathBuf>) -> anyhow::Result<ExitCode> {
    let paths = if paths.is_empty() {
        vec![PathBuf::from("mappings")]
    } else {
        paths
    };
    let results = crate::golden::run_paths(&paths).await.map_err(|errors| {
        anyhow::anyhow!("cannot load the mappings:\n  {}", errors.join("\n  "))
    })?;
    let mut passed = 0;
    let mut failed = 0;
    for r in &results {
        if r.failures.is_empty() {
            passed += 1;
            println!("ok    {} ({})", r.name, r.file);
        } else {
            failed += 1;
            println!("FAIL  {} ({})", r.name, r.file);
            for f in &r.failures {
                for line in f.lines() {
                    println!("      {line}");
                }
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    Ok(if failed == 0 && passed > 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}
