//! The real `venue serve` binary under test: start it on ephemeral ports,
//! talk HTTP to it, signal it, read what it logged.

#![allow(dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc::{Receiver, channel};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};
use venue_fix::{Dictionary, Encoder, FrameResult, Framer, Parser};
use venue_server::rest::{hex, hmac_sha256};

pub const START_TIMEOUT: Duration = Duration::from_secs(60);
pub const TOKEN: &str = "demo-admin-token";

/// A data directory removed when the test passes (kept as evidence when it
/// fails).
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> TempDir {
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos());
        let path = std::env::temp_dir().join(format!("venue-serve-{name}-{}-{nanos}", std::process::id()));
        std::fs::create_dir_all(&path).expect("temp dir");
        TempDir(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A running `venue serve`.
pub struct Venue {
    pub child: Child,
    pub public: SocketAddr,
    pub admin: SocketAddr,
    pub fix: Option<SocketAddr>,
    pub grpc: Option<SocketAddr>,
    pub stderr: Receiver<String>,
}

impl Venue {
    /// Starts the binary on `data` (demo configuration unless `config`),
    /// on ephemeral ports, and waits for its banner.
    pub fn start(data: &Path, config: Option<&Path>) -> Venue {
        let mut command = Command::new(env!("CARGO_BIN_EXE_venue"));
        command.arg("serve").arg("--data-dir").arg(data);
        command.args(["--http", "127.0.0.1:0", "--admin", "127.0.0.1:0", "--fix", "127.0.0.1:0"]);
        command.args(["--grpc", "127.0.0.1:0"]);
        if let Some(config) = config {
            command.arg("--config").arg(config);
        }
        let mut child = command
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("venue starts");
        let (err_tx, stderr) = channel();
        let mut err = BufReader::new(child.stderr.take().expect("stderr"));
        std::thread::spawn(move || {
            let mut line = String::new();
            while err.read_line(&mut line).is_ok_and(|n| n > 0) {
                let _ = err_tx.send(std::mem::take(&mut line));
            }
        });
        let (out_tx, out_rx) = channel();
        let mut out = BufReader::new(child.stdout.take().expect("stdout"));
        std::thread::spawn(move || {
            let mut line = String::new();
            while out.read_line(&mut line).is_ok_and(|n| n > 0) {
                let _ = out_tx.send(std::mem::take(&mut line));
            }
        });
        let deadline = Instant::now() + START_TIMEOUT;
        let (mut public, mut admin, mut fix, mut grpc) = (None, None, None, None);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let line = out_rx.recv_timeout(left).unwrap_or_else(|_| {
                let _ = child.kill();
                let log: Vec<String> = stderr.try_iter().collect();
                panic!("no banner within {START_TIMEOUT:?}; stderr:\n{}", log.concat())
            });
            let addr = || {
                let url = line.split_whitespace().find(|w| w.starts_with("http")).expect("url");
                let url = url.trim_start_matches("https://").trim_start_matches("http://");
                url.parse::<SocketAddr>().expect("address")
            };
            if line.trim_start().starts_with("public HTTP") {
                public = Some(addr());
            } else if line.trim_start().starts_with("admin HTTP") {
                admin = Some(addr());
            } else if let Some(rest) = line.trim_start().strip_prefix("FIX 4.4") {
                fix = rest.split_whitespace().next().and_then(|a| a.parse::<SocketAddr>().ok());
            } else if let Some(rest) = line.trim_start().strip_prefix("gRPC") {
                grpc = rest.split_whitespace().next().and_then(|a| a.parse::<SocketAddr>().ok());
            } else if line.trim_start().starts_with("instruments") {
                break;
            }
        }
        Venue { child, public: public.expect("public"), admin: admin.expect("admin"), fix, grpc, stderr }
    }

    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(status.expect("kill runs").success(), "kill -{name}");
    }

    /// SIGTERM, then the exit status and everything it logged.
    pub fn terminate(self) -> (ExitStatus, String) {
        self.signal("TERM");
        self.wait_exit()
    }

    /// Waits for the process to exit (someone else signalled it): the exit
    /// status and everything it logged.
    pub fn wait_exit(mut self) -> (ExitStatus, String) {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                // The reader thread ends at EOF; give it a moment.
                std::thread::sleep(Duration::from_millis(50));
                return (status, self.stderr.try_iter().collect::<Vec<_>>().concat());
            }
            assert!(Instant::now() < deadline, "venue did not stop within {START_TIMEOUT:?} of SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn public(&self, method: &str, path: &str) -> (u16, String) {
        request(self.public, method, path, None, None)
    }

    /// An admin call with the demo token; the body parsed as JSON.
    pub fn admin(&self, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
        self.admin_with(Some(TOKEN), method, path, body.map(|b| b.to_string()).as_deref())
    }

    pub fn admin_with(
        &self,
        token: Option<&str>,
        method: &str,
        path: &str,
        body: Option<&str>,
    ) -> (u16, Value) {
        let (status, text) = request(self.admin, method, path, token, body);
        let value =
            serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        (status, value)
    }
}

impl Drop for Venue {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One HTTP/1.1 request on a fresh connection; returns status and body.
pub fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    token: Option<&str>,
    body: Option<&str>,
) -> (u16, String) {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let body = body.unwrap_or("");
    let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n");
    if let Some(token) = token {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if !body.is_empty() || method != "GET" {
        head.push_str(&format!("Content-Type: application/json\r\nContent-Length: {}\r\n", body.len()));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).expect("write head");
    stream.write_all(body.as_bytes()).expect("write body");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read response");
    let text = String::from_utf8(response).expect("utf-8 response");
    let (head, rest) = text.split_once("\r\n\r\n").expect("response head");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("status code");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(rest)
    } else {
        rest.to_owned()
    };
    (status, body)
}

pub fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let size = usize::from_str_radix(size.trim(), 16).expect("chunk size");
        if size == 0 {
            break;
        }
        out.push_str(&rest[..size]);
        text = &rest[size + 2..];
    }
    out
}

pub fn balance(account: &Value, asset: &str) -> (String, String) {
    let entry = account["balances"]
        .as_array()
        .expect("balances")
        .iter()
        .find(|b| b["asset"] == asset)
        .unwrap_or_else(|| panic!("no {asset} in {account}"));
    (
        entry["available"].as_str().expect("available").to_owned(),
        entry["held"].as_str().expect("held").to_owned(),
    )
}

/// Value of an unlabelled metric line.
pub fn metric(text: &str, name: &str) -> f64 {
    text.lines()
        .find_map(|line| line.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .unwrap_or_else(|| panic!("metric {name} missing"))
        .trim()
        .parse()
        .expect("metric value")
}

/// The sequence number the venue stopped at, from its "stopped cleanly" log
/// line.
pub fn stopped_seq(log: &str) -> u64 {
    let line = log
        .lines()
        .find(|l| l.contains("stopped cleanly"))
        .unwrap_or_else(|| panic!("no clean stop:\n{log}"));
    let line: Value = serde_json::from_str(line).expect("JSON log line");
    line["fields"]["seq"].as_u64().expect("seq")
}

pub fn demo_config_with(dir: &Path, name: &str, edit: impl Fn(String) -> String) -> PathBuf {
    let text = Command::new(env!("CARGO_BIN_EXE_venue"))
        .args(["config", "example"])
        .output()
        .expect("config example");
    assert!(text.status.success());
    let text = edit(String::from_utf8(text.stdout).expect("utf-8"));
    let path = dir.join(name);
    std::fs::write(&path, text).expect("write config");
    path
}

/// The demo configuration's API keys (crates/venue-server/src/demo.toml).
pub const ALICE: (&str, &str) = (
    "demoalicekey000000000000000000000000000000000000000000000000000",
    "demoalicesecret0000000000000000000000000000000000000000000000000",
);
pub const BOB: (&str, &str) = (
    "demobobkey00000000000000000000000000000000000000000000000000000",
    "demobobsecret000000000000000000000000000000000000000000000000000",
);

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// A signed REST call, Binance style: the parameters plus `timestamp` in the
/// query string, `signature` = hex HMAC-SHA256(secret, that query string),
/// the key in `X-MBX-APIKEY`. Returns the status and the JSON body.
pub fn rest_signed(
    addr: SocketAddr,
    method: &str,
    path: &str,
    who: (&str, &str),
    params: &[(&str, &str)],
) -> (u16, Value) {
    let mut query: Vec<String> = params.iter().map(|(k, v)| format!("{k}={v}")).collect();
    query.push(format!("timestamp={}", now_ms()));
    let query = query.join("&");
    let signature = hex(&hmac_sha256(who.1.as_bytes(), query.as_bytes()));
    let mut stream = TcpStream::connect(addr).expect("connect to the public listener");
    stream.set_read_timeout(Some(START_TIMEOUT)).expect("read timeout");
    write!(
        stream,
        "{method} {path}?{query}&signature={signature} HTTP/1.1\r\nHost: {addr}\r\nX-MBX-APIKEY: {}\r\n\
         Content-Length: 0\r\nConnection: close\r\n\r\n",
        who.0
    )
    .expect("write the request");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("read the response");
    let (head, body) = response.split_once("\r\n\r\n").expect("an HTTP response head");
    let status = head.split_whitespace().nth(1).and_then(|s| s.parse().ok()).expect("a status code");
    let body = if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        dechunk(body)
    } else {
        body.to_owned()
    };
    let json = serde_json::from_str(&body)
        .unwrap_or_else(|e| panic!("{method} {path}: expected a JSON body ({e}), got: {body}"));
    (status, json)
}

/// A request signed as the .proto's header says: hex HMAC-SHA256(secret,
/// timestamp + method path + serialized message) with key and timestamp.
pub fn signed<T: prost::Message>(message: T, who: (&str, &str), method: &str) -> tonic::Request<T> {
    let ts = now_ms().to_string();
    let signature =
        venue_server::grpc::auth::signature(who.1.as_bytes(), &ts, method, &message.encode_to_vec());
    let mut request = tonic::Request::new(message);
    let metadata = request.metadata_mut();
    metadata.insert("x-api-key", who.0.parse().expect("ascii key"));
    metadata.insert("x-timestamp", ts.parse().expect("ascii timestamp"));
    metadata.insert("x-signature", signature.parse().expect("ascii signature"));
    request
}

pub fn now_ns() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos() as u64)
}

/// One received FIX message: its fields in wire order.
pub struct FixMsg(Vec<(u32, String)>);

impl FixMsg {
    pub fn get(&self, tag: u32) -> Option<&str> {
        self.0.iter().find(|(t, _)| *t == tag).map(|(_, v)| v.as_str())
    }

    pub fn text(&self) -> String {
        self.0.iter().map(|(t, v)| format!("{t}={v}|")).collect()
    }
}

/// A minimal FIX 4.4 initiator on raw TCP.
pub struct FixClient {
    stream: TcpStream,
    comp: &'static str,
    seq: u64,
    encoder: Encoder,
    framer: Framer,
    parser: Parser,
    buf: Vec<u8>,
}

impl FixClient {
    pub fn connect(addr: SocketAddr, comp: &'static str) -> FixClient {
        let stream = TcpStream::connect(addr).expect("connect to the FIX acceptor");
        stream.set_nodelay(true).expect("nodelay");
        FixClient {
            stream,
            comp,
            seq: 1,
            encoder: Encoder::new(Dictionary::fix44()),
            framer: Framer::default(),
            parser: Parser::new(),
            buf: Vec::new(),
        }
    }

    pub fn send(&mut self, msg_type: &str, body: impl FnOnce(&mut Encoder)) {
        self.encoder.start(msg_type.as_bytes()).header(self.comp, "VENUE", self.seq, now_ns());
        body(&mut self.encoder);
        let mut out = Vec::new();
        self.encoder.finish(&mut out).expect("the message encodes");
        self.seq += 1;
        self.stream.write_all(&out).expect("write to the FIX acceptor");
    }

    /// The next message that is not a plain Heartbeat.
    pub fn recv(&mut self) -> FixMsg {
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            match self.framer.next_frame(&self.buf) {
                FrameResult::Complete { len } => {
                    let fields = {
                        let parsed =
                            self.parser.parse(&self.buf[..len]).expect("the venue's FIX message parses");
                        parsed
                            .iter()
                            .map(|f| (f.tag, String::from_utf8_lossy(f.value).into_owned()))
                            .collect()
                    };
                    self.buf.drain(..len);
                    let msg = FixMsg(fields);
                    assert_eq!(
                        (msg.get(49), msg.get(56)),
                        (Some("VENUE"), Some(self.comp)),
                        "expected the venue's CompIDs on {}",
                        msg.text()
                    );
                    if msg.get(35) == Some("0") && msg.get(112).is_none() {
                        continue;
                    }
                    return msg;
                }
                FrameResult::Garbled { reason, .. } => {
                    panic!("expected well-framed FIX, got a garbled frame: {}", reason.as_str())
                }
                FrameResult::Incomplete => {}
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(!left.is_zero(), "{}: expected a FIX message within {START_TIMEOUT:?}", self.comp);
            self.stream.set_read_timeout(Some(left)).expect("read timeout");
            let mut chunk = [0u8; 16 * 1024];
            match self.stream.read(&mut chunk) {
                Ok(0) => panic!("{}: expected a FIX message, the venue closed the connection", self.comp),
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
                Err(e)
                    if matches!(
                        e.kind(),
                        ErrorKind::WouldBlock | ErrorKind::TimedOut | ErrorKind::Interrupted
                    ) => {}
                Err(e) => panic!("{}: expected a FIX message, the read failed: {e}", self.comp),
            }
        }
    }
}
