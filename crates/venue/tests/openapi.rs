//! The OpenAPI document of the REST API, as the real `venue serve` serves it
//! at `/openapi.json`, kept true: it lists exactly the routes of
//! `rest::routes()` (read from the router's source, so a new route fails
//! here until it is documented), every documented operation is served
//! (probed on the live venue), and schemathesis, driven by
//! `tests/rest/schemathesis_run.py`, finds no response the document does
//! not describe.

mod common;

use common::*;
use serde_json::Value;
use std::collections::BTreeSet;
use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// Methods an OpenAPI path item can hold, as HTTP spells them.
const METHODS: [&str; 8] = ["GET", "PUT", "POST", "DELETE", "OPTIONS", "HEAD", "PATCH", "TRACE"];

/// The hard limit on one schemathesis run.
const SCHEMATHESIS_TIMEOUT: Duration = Duration::from_secs(300);

/// Status, head and body of a GET.
fn get(addr: SocketAddr, path: &str) -> (u16, String, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    write!(stream, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut bytes = Vec::new();
    stream.read_to_end(&mut bytes).expect("read");
    let text = String::from_utf8(bytes).expect("utf-8 response");
    let (head, body) = text.split_once("\r\n\r\n").expect("response head");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status");
    let head = head.to_ascii_lowercase();
    let body = if head.contains("transfer-encoding: chunked") { dechunk(body) } else { body.to_owned() };
    (status, head, body)
}

/// (METHOD, path) of every operation in the document.
fn documented(doc: &Value) -> BTreeSet<(String, String)> {
    let paths = doc["paths"].as_object().expect("paths");
    let mut out = BTreeSet::new();
    for (path, item) in paths {
        for method in METHODS {
            if item.get(method.to_ascii_lowercase()).is_some() {
                out.insert((method.to_owned(), path.clone()));
            }
        }
    }
    out
}

/// The text inside the parentheses that open at `text[0]`.
fn parenthesised(text: &str) -> &str {
    assert!(text.starts_with('('), "expected '(' at {:?}", &text[..text.len().min(40)]);
    let mut depth = 0;
    for (at, c) in text.char_indices() {
        match c {
            '(' => depth += 1,
            ')' => {
                depth -= 1;
                if depth == 0 {
                    return &text[1..at];
                }
            }
            _ => {}
        }
    }
    panic!("unbalanced parentheses in {text:?}")
}

/// How many times `text` calls `name(...)` (as a function or a method, not
/// as the end of a longer name).
fn calls(text: &str, name: &str) -> usize {
    let call = format!("{name}(");
    text.match_indices(&call)
        .filter(|&(at, _)| !text[..at].ends_with(|c: char| c.is_alphanumeric() || c == '_'))
        .count()
}

/// (METHOD, path) of every route `rest::routes()` adds, read from its
/// source: `.route("/api/v3/...", get(a).post(b))`. Anything it cannot
/// read with certainty fails the test rather than being skipped.
fn routes_in_source(source: &str) -> BTreeSet<(String, String)> {
    let start = source.find("pub fn routes(").expect("`pub fn routes(` in rest.rs");
    let body = &source[start..];
    let body = &body[..body.find("\n}\n").expect("end of routes()")];
    for unsupported in ["nest", "merge", "route_service", "fallback", "any", "on", "method_routing"] {
        assert!(
            calls(body, unsupported) == 0,
            "rest::routes() uses {unsupported}(...): teach tests/openapi.rs to read it\n{body}"
        );
    }
    let mut out = BTreeSet::new();
    let mut rest = body;
    while let Some(at) = rest.find(".route(") {
        let args = parenthesised(&rest[at + ".route".len()..]);
        rest = &rest[at + ".route(".len() + args.len()..];
        let args = args.trim();
        let path = args
            .strip_prefix('"')
            .and_then(|a| a.split_once('"'))
            .map(|(path, _)| path)
            .unwrap_or_else(|| panic!("route path is not a string literal: {args}"));
        let handlers = &args[path.len() + 2..];
        let mut methods = 0;
        for method in METHODS {
            let n = calls(handlers, &method.to_ascii_lowercase());
            assert!(n <= 1, "{method} twice for {path}: {handlers}");
            if n == 1 {
                out.insert((method.to_owned(), path.to_owned()));
                methods += 1;
            }
        }
        assert!(methods > 0, "no method router found for {path}: {handlers}");
    }
    assert!(!out.is_empty(), "no routes found in rest::routes()");
    out
}

#[test]
fn the_document_lists_exactly_the_rest_routes_the_venue_serves() {
    let data = TempDir::new("openapi");
    let venue = Venue::start(&data.0.join("venue"), None);

    let (status, head, body) = get(venue.public, "/openapi.json");
    assert_eq!(status, 200, "{head}\n{body}");
    assert!(head.contains("content-type: application/json"), "{head}");
    let doc: Value = serde_json::from_str(&body).expect("/openapi.json is JSON");
    let version = doc["openapi"].as_str().expect("openapi version");
    assert!(version.starts_with("3."), "OpenAPI {version}");
    assert!(doc["info"]["title"].is_string() && doc["info"]["version"].is_string(), "info");
    let error = &doc["components"]["schemas"]["Error"];
    assert_eq!(error["properties"]["code"]["type"], "integer", "{error}");
    assert_eq!(error["properties"]["msg"]["type"], "string", "{error}");

    // The document and the router's source name the same operations.
    let operations = documented(&doc);
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../venue-server/src/rest.rs");
    let source = std::fs::read_to_string(path).expect("read rest.rs");
    let routes = routes_in_source(&source);
    let undocumented: Vec<_> = routes.difference(&operations).collect();
    let unrouted: Vec<_> = operations.difference(&routes).collect();
    assert!(
        undocumented.is_empty() && unrouted.is_empty(),
        "routes missing from openapi.json: {undocumented:?}; documented but not in rest::routes(): {unrouted:?}"
    );

    // The probe tells a missing route apart...
    let (status, body) = venue.public("GET", "/api/v3/noSuchEndpoint");
    assert!(status == 404 && body.contains("-1000"), "{status} {body}");
    // ...and every documented operation is served: no parameters, so an
    // error, but never "no such endpoint" (404 / -1000) nor "method not
    // allowed" (405). Signed ones say so (401 / -2014, no key), and only
    // they.
    for (method, path) in &operations {
        let (status, body) = venue.public(method, path);
        let answer: Value = serde_json::from_str(&body)
            .unwrap_or_else(|e| panic!("{method} {path}: {status}, not JSON ({e}): {body:?}"));
        assert!(status != 404 && status != 405, "{method} {path} is not served: {status} {body}");
        let op = &doc["paths"][path][method.to_ascii_lowercase()];
        let signed = op["security"].as_array().is_some_and(|s| !s.is_empty());
        assert_eq!(
            signed,
            status == 401 && answer["code"] == -2014,
            "{method} {path}: documented {} but answered {status} {body}",
            if signed { "signed" } else { "public" }
        );
        let params: Vec<&str> = op["parameters"]
            .as_array()
            .expect("parameters")
            .iter()
            .map(|p| {
                let p = match p["$ref"].as_str() {
                    Some(r) => &doc["components"]["parameters"][r.rsplit('/').next().expect("ref")],
                    None => p,
                };
                p["name"].as_str().expect("parameter name")
            })
            .collect();
        for name in ["timestamp", "signature", "recvWindow"] {
            assert_eq!(params.contains(&name), signed, "{method} {path}: parameter {name}");
        }
        assert!(op["responses"]["200"].is_object(), "{method} {path}: no 200 response");
    }
    // Methods not documented on a documented path are not served either.
    let paths: BTreeSet<&String> = operations.iter().map(|(_, p)| p).collect();
    for path in paths {
        for method in ["GET", "POST", "PUT", "DELETE", "PATCH"] {
            if !operations.contains(&(method.to_owned(), path.clone())) {
                let (status, body) = venue.public(method, path);
                assert_eq!(status, 405, "{method} {path} is served but not documented: {body}");
            }
        }
    }

    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}

#[test]
fn schemathesis_finds_nothing_untrue_in_the_document() {
    let installed =
        Command::new("python3").args(["-c", "import schemathesis"]).output().expect("python3 runs");
    assert!(
        installed.status.success(),
        "schemathesis is not installed: pip install schemathesis==4.32.5 (.ci/run installs it)\n{}",
        String::from_utf8_lossy(&installed.stderr)
    );

    let data = TempDir::new("openapi-schemathesis");
    // Limits high enough that the run exercises the handlers rather than
    // the rate limiter (whose 418 would also trip the negative-data check).
    let config = demo_config_with(&data.0, "venue.toml", |text| {
        for line in ["request_weight_per_minute = 6000", "orders_per_10s = 100"] {
            assert!(text.contains(line), "demo config has no {line:?}");
        }
        text.replacen("request_weight_per_minute = 6000", "request_weight_per_minute = 1000000000", 1)
            .replacen("orders_per_10s = 100", "orders_per_10s = 1000000000", 1)
    });
    let venue = Venue::start(&data.0.join("venue"), Some(&config));

    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/rest/schemathesis_run.py");
    let (out_path, err_path) = (data.0.join("schemathesis.out"), data.0.join("schemathesis.err"));
    let mut child = Command::new("python3")
        .arg(script)
        .arg(format!("http://{}", venue.public))
        .current_dir(&data.0)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(&out_path).expect("stdout file"))
        .stderr(std::fs::File::create(&err_path).expect("stderr file"))
        // Its own process group, so that a timeout ends schemathesis too.
        .process_group(0)
        .spawn()
        .expect("python3 runs");
    let deadline = Instant::now() + SCHEMATHESIS_TIMEOUT;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if Instant::now() > deadline {
            let _ = Command::new("kill").arg("-KILL").arg(format!("-{}", child.id())).status();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let stdout = std::fs::read_to_string(&out_path).unwrap_or_default();
    let stderr = std::fs::read_to_string(&err_path).unwrap_or_default();
    assert!(
        status.is_some_and(|s| s.success()) && stdout.contains("schemathesis: all checks passed"),
        "schemathesis {} (output in {}):\n{stdout}\n{stderr}",
        if status.is_none() {
            format!("did not finish within {SCHEMATHESIS_TIMEOUT:?}")
        } else {
            "failed".into()
        },
        data.0.display()
    );

    let (status, log) = venue.terminate();
    assert!(status.success(), "{log}");
}

#[test]
fn the_route_reader_reads_what_rustfmt_writes() {
    let source = r#"
fn other() -> Router {
    Router::new().route("/elsewhere", get(x))
}

pub fn routes(rest: Arc<Rest>) -> Router {
    Router::new()
        .route("/api/v3/ping", get(ping))
        .route(
            "/api/v3/order",
            get(query_order).post(new_order).delete(cancel_order),
        )
        .route("/api/v3/forget", put(forget))
        .with_state(rest)
}
"#;
    let found = routes_in_source(source);
    let expected: BTreeSet<(String, String)> = [
        ("GET", "/api/v3/ping"),
        ("GET", "/api/v3/order"),
        ("POST", "/api/v3/order"),
        ("DELETE", "/api/v3/order"),
        ("PUT", "/api/v3/forget"),
    ]
    .into_iter()
    .map(|(m, p)| (m.to_owned(), p.to_owned()))
    .collect();
    assert_eq!(found, expected);
}
