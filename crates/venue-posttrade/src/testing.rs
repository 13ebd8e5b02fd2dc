//! A throw-away PostgreSQL server for tests, this crate's and other crates'.
//!
//! The post-trade tests run against a real server, because what they prove
//! (transactions, `ON CONFLICT`, an outage in the middle of a batch) is the
//! server's behaviour, not a mock's. [`PgServer::start`] runs `initdb` into a
//! fresh temporary directory and starts `postgres` on a free loopback port
//! with its unix socket in that directory, so tests never touch a system
//! cluster and run in parallel. Durability is switched off (`fsync=off`):
//! the tests crash the server on purpose, never the machine.
//!
//! PostgreSQL refuses to run as root. When the tests run as root (CI, this
//! machine), the directory is given to the `postgres` system user (created
//! with `useradd --system` if missing) and the server runs as that user:
//! the child process is started with that uid and gid, so it is the server
//! itself and stopping or killing it needs no helper.
//!
//! Not installed is a loud failure, never a skipped test: install the
//! Debian `postgresql` package (`.ci/run` does).

use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

/// How long a server may take to accept connections after it was started.
const START_TIMEOUT: Duration = Duration::from_secs(30);

/// A unique directory under the system temporary directory, removed when
/// dropped: tests leave nothing behind, and the workspace needs no crate
/// for it.
#[derive(Debug)]
pub struct TempDir(PathBuf);

impl TempDir {
    /// A new, empty directory whose name contains `name` (for finding the
    /// leftovers of a test that was killed).
    pub fn new(name: &str) -> TempDir {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.subsec_nanos());
        let path =
            std::env::temp_dir().join(format!("venue-posttrade-{name}-{}-{n}-{nanos}", std::process::id()));
        let _ = std::fs::remove_dir_all(&path);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("create {}: {e}", path.display()));
        TempDir(path)
    }

    /// Where it is.
    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The uid and gid the server runs as, when the tests run as root.
#[derive(Clone, Copy, Debug)]
struct RunAs {
    uid: u32,
    gid: u32,
}

/// A PostgreSQL server of its own, on `127.0.0.1:port`, trusting local
/// connections as user `postgres`. Dropping it stops the server and
/// removes its directory.
#[derive(Debug)]
pub struct PgServer {
    dir: TempDir,
    bin: PathBuf,
    port: u16,
    run_as: Option<RunAs>,
    child: Option<Child>,
}

fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).stderr(Stdio::null()).output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

/// The directory with `initdb` and `postgres`: `pg_config --bindir`, else
/// the newest `/usr/lib/postgresql/*/bin`.
fn find_bindir() -> Option<PathBuf> {
    let usable = |dir: &Path| dir.join("initdb").is_file() && dir.join("postgres").is_file();
    if let Some(dir) = output("pg_config", &["--bindir"]).map(PathBuf::from)
        && usable(&dir)
    {
        return Some(dir);
    }
    let mut versions: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(|entry| {
            let entry = entry.ok()?;
            let version = entry.file_name().to_str()?.split('.').next()?.parse().ok()?;
            Some((version, entry.path().join("bin")))
        })
        .filter(|(_, dir)| usable(dir))
        .collect();
    versions.sort();
    versions.pop().map(|(_, dir)| dir)
}

fn missing_postgres() -> ! {
    panic!(
        "\n\n*** PostgreSQL server binaries not found (looked at `pg_config --bindir` and \
         /usr/lib/postgresql/*/bin).\n*** The post-trade tests need a real server: install the Debian \
         `postgresql` package (apt-get install postgresql), or run .ci/run, which installs it.\n\n"
    )
}

/// When running as root, the `postgres` system user (created if missing).
fn run_as() -> Option<RunAs> {
    if output("id", &["-u"]).as_deref() != Some("0") {
        return None;
    }
    let lookup = || {
        Some(RunAs {
            uid: output("id", &["-u", "postgres"])?.parse().ok()?,
            gid: output("id", &["-g", "postgres"])?.parse().ok()?,
        })
    };
    if let Some(ids) = lookup() {
        return Some(ids);
    }
    let status =
        Command::new("useradd").args(["--system", "--user-group", "--no-create-home", "postgres"]).status();
    // Another test may have created it at the same moment: look again.
    match lookup() {
        Some(ids) => Some(ids),
        None => {
            panic!("running as root and cannot create the `postgres` user for the test server: {status:?}")
        }
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free loopback port");
    listener.local_addr().expect("local address").port()
}

impl PgServer {
    /// Creates a cluster in a fresh temporary directory and starts it.
    ///
    /// # Panics
    ///
    /// If PostgreSQL is not installed (with a message saying how to install
    /// it), or if the server does not start (with its log).
    pub fn start() -> PgServer {
        let bin = find_bindir().unwrap_or_else(|| missing_postgres());
        let run_as = run_as();
        let dir = TempDir::new("pg");
        if let Some(ids) = run_as {
            let status = Command::new("chown")
                .arg(format!("{}:{}", ids.uid, ids.gid))
                .arg(dir.path())
                .status()
                .expect("run chown");
            assert!(status.success(), "chown {} to the postgres user: {status}", dir.path().display());
        }
        let mut server = PgServer { dir, bin, port: free_port(), run_as, child: None };
        let log = server.dir.path().join("initdb.log");
        let log_file = std::fs::File::create(&log).expect("create initdb.log");
        let status = server
            .command("initdb")
            .args(["-A", "trust", "-U", "postgres", "-E", "UTF8", "--locale=C", "--no-sync", "-D"])
            .arg(server.data_dir())
            .stdout(log_file.try_clone().expect("clone log handle"))
            .stderr(log_file)
            .status()
            .expect("run initdb");
        if !status.success() {
            panic!("initdb failed ({status}):\n{}", std::fs::read_to_string(&log).unwrap_or_default());
        }
        // The port was free when picked; another process may take it
        // before the server binds it: then pick another.
        for _ in 0..5 {
            match server.try_start() {
                Ok(()) => return server,
                Err(log) if log.contains("could not bind") || log.contains("could not create any TCP/IP") => {
                    std::fs::remove_file(server.log_path()).ok();
                    server.port = free_port();
                }
                Err(log) => panic!("the test PostgreSQL server did not start; its log:\n{log}"),
            }
        }
        panic!("the test PostgreSQL server found no free port in five tries")
    }

    fn command(&self, program: &str) -> Command {
        let mut command = Command::new(self.bin.join(program));
        command.current_dir(self.dir.path()).stdin(Stdio::null());
        if let Some(ids) = self.run_as {
            command.uid(ids.uid).gid(ids.gid);
        }
        command
    }

    fn data_dir(&self) -> PathBuf {
        self.dir.path().join("data")
    }

    fn log_path(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// A connection string for the `postgres` database (key=value form, as
    /// `postgres::Config` parses it), with a short connect timeout so that
    /// a stopped server is noticed quickly.
    pub fn url(&self) -> String {
        self.url_for("postgres")
    }

    /// As [`url`](Self::url), for another database of this server.
    pub fn url_for(&self, database: &str) -> String {
        format!("host=127.0.0.1 port={} user=postgres dbname={database} connect_timeout=2", self.port)
    }

    /// A new connection to the `postgres` database.
    ///
    /// # Panics
    ///
    /// If the server does not answer.
    pub fn connect(&self) -> postgres::Client {
        postgres::Client::connect(&self.url(), postgres::NoTls)
            .unwrap_or_else(|e| panic!("connect to the test server on port {}: {e}", self.port))
    }

    /// Creates database `name` and returns its connection string: one
    /// server can hold several independent sinks.
    pub fn create_database(&self, name: &str) -> String {
        self.connect()
            .batch_execute(&format!("CREATE DATABASE \"{name}\""))
            .unwrap_or_else(|e| panic!("create database {name}: {e}"));
        self.url_for(name)
    }

    /// Whether the server process is running.
    pub fn running(&self) -> bool {
        self.child.is_some()
    }

    /// Starts the server (again) on the same directory and port: after
    /// [`stop`](Self::stop), for outage tests.
    ///
    /// # Panics
    ///
    /// If it is already running, or does not accept connections within 30 s.
    pub fn start_again(&mut self) {
        if let Err(log) = self.try_start() {
            panic!("the test PostgreSQL server did not start; its log:\n{log}");
        }
    }

    /// Starts the server; on failure returns its log.
    fn try_start(&mut self) -> Result<(), String> {
        assert!(self.child.is_none(), "the test server is already running");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.log_path())
            .expect("open postgres.log");
        let socket_dir = self.dir.path().display().to_string();
        let child = self
            .command("postgres")
            .arg("-D")
            .arg(self.data_dir())
            .args(["-p", &self.port.to_string(), "-k", &socket_dir])
            .args(["-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=50", "-c", "shared_buffers=16MB"])
            .stdout(log.try_clone().expect("clone log handle"))
            .stderr(log)
            .spawn()
            .expect("spawn postgres");
        self.child = Some(child);
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if postgres::Client::connect(&self.url(), postgres::NoTls).is_ok() {
                return Ok(());
            }
            let exited = self.child.as_mut().and_then(|c| c.try_wait().ok().flatten());
            if exited.is_some() || Instant::now() > deadline {
                self.signal_and_wait("QUIT", Duration::from_secs(5));
                return Err(std::fs::read_to_string(self.log_path()).unwrap_or_default());
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Stops the server the way a crash or an operator would (fast
    /// shutdown: open connections are cut, nothing committed is lost),
    /// and waits until it is gone.
    pub fn stop(&mut self) {
        self.signal_and_wait("INT", Duration::from_secs(10));
    }

    fn signal_and_wait(&mut self, signal: &str, patience: Duration) {
        let Some(mut child) = self.child.take() else { return };
        let _ = Command::new("kill").args(["-s", signal, &child.id().to_string()]).status();
        let deadline = Instant::now() + patience;
        while Instant::now() < deadline {
            if let Ok(Some(_)) = child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = child.kill();
        let _ = child.wait();
    }
}

impl Drop for PgServer {
    fn drop(&mut self) {
        // Immediate shutdown: quick, and the server still removes its
        // shared memory and socket (a SIGKILL would leave them behind).
        self.signal_and_wait("QUIT", Duration::from_secs(5));
    }
}
