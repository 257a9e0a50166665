//! The floor of ordergate's stack, for `bench/load.sh`: a reverse proxy built from the same
//! pieces (ordergate's runtime, `server::runtime`, sized the same way to the CPUs it may use;
//! hyper-util's auto server builder, its pooled client, mimalloc, TCP_NODELAY both ways) that
//! forwards each request to one upstream and its answer back, with the whole body read first
//! as ordergate does, and nothing else: no translation, no validation, no log line, no
//! metrics.
//!
//! ```sh
//! cargo run --release --example bare_proxy -- 127.0.0.1:8090 http://127.0.0.1:8091
//! cargo run --release --example bare_proxy -- 127.0.0.1:8090 http://127.0.0.1:8091 20
//! ```
//!
//! The optional third argument is a calibration for `bench/load.sh` (`BARE_WORK`): thousands
//! of rounds of pure arithmetic done for each request once its answer is read (no system call,
//! no allocation, no memory touched), so the rig shows what a proxy costs that spends that much
//! more of its own CPU per request, in its own time and in the kernel's.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::process::ExitCode;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

type Upstream = Client<HttpConnector, Full<Bytes>>;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (Some(listen), Some(upstream)) = (args.first(), args.get(1)) else {
        eprintln!(
            "usage: bare_proxy LISTEN_ADDR UPSTREAM_URL (e.g. 127.0.0.1:8090 http://127.0.0.1:8091)"
        );
        return ExitCode::from(2);
    };
    let Ok(listen) = listen.parse::<SocketAddr>() else {
        eprintln!("bare_proxy: `{listen}` is not an address like 127.0.0.1:8090");
        return ExitCode::from(2);
    };
    let upstream = upstream.trim_end_matches('/').to_string();
    let work = match args
        .get(2)
        .map(|w| w.parse::<u64>().ok()?.checked_mul(1000))
    {
        None => 0,
        Some(Some(w)) => w,
        Some(None) => {
            eprintln!("bare_proxy: the work (third argument) is a count of thousands of rounds");
            return ExitCode::from(2);
        }
    };
    let workers = ordergate::server::runtime::Workers::choose(None);
    let runtime = match ordergate::server::runtime::build(workers) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("bare_proxy: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(listen, upstream, work)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bare_proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn serve(listen: SocketAddr, upstream: String, work: u64) -> std::io::Result<()> {
    let listener = TcpListener::bind(listen).await?;
    let mut connector = HttpConnector::new();
    connector.set_nodelay(true);
    let client: Upstream = Client::builder(TokioExecutor::new())
        .pool_max_idle_per_host(64)
        .build(connector);
    let builder = auto::Builder::new(TokioExecutor::new());
    loop {
        let (stream, _) = listener.accept().await?;
        let _ = stream.set_nodelay(true);
        let (client, upstream, builder) = (client.clone(), upstream.clone(), builder.clone());
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| {
                forward(client.clone(), upstream.clone(), work, req)
            });
            let _ = builder
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}

async fn forward(
    client: Upstream,
    upstream: String,
    work: u64,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let (parts, body) = req.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let mut out = Request::builder()
        .method(parts.method)
        .uri(format!("{upstream}{path}"));
    if let Some(t) = parts.headers.get(http::header::CONTENT_TYPE) {
        out = out.header(http::header::CONTENT_TYPE, t);
    }
    let Ok(out) = out.body(Full::new(body)) else {
        return Ok(status(StatusCode::BAD_REQUEST));
    };
    let Ok(answer) = client.request(out).await else {
        return Ok(status(StatusCode::BAD_GATEWAY));
    };
    let (parts, body) = answer.into_parts();
    let Ok(body) = body.collect().await.map(|b| b.to_bytes()) else {
        return Ok(status(StatusCode::BAD_GATEWAY));
    };
    spin(work);
    Ok(Response::from_parts(parts, Full::new(body)))
}

/// `rounds` steps of a xorshift generator, kept by `black_box` from being folded away.
fn spin(rounds: u64) {
    let mut x = std::hint::black_box(0x9E37_79B9_7F4A_7C15_u64);
    for _ in 0..rounds {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x = std::hint::black_box(x);
    }
}

fn status(code: StatusCode) -> Response<Full<Bytes>> {
    let mut r = Response::new(Full::new(Bytes::new()));
    *r.status_mut() = code;
    r
}
