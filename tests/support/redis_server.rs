//! [`PrivateRedis`]: a `redis-server` of one test, on its own free port and data directory,
//! that the test can kill (`SIGKILL`), restart empty or from an older dump, freeze (`SIGSTOP`)
//! and thaw (`SIGCONT`), or slow down (`DEBUG SLEEP`). The drop guard kills it; its data
//! directory is a temporary directory removed with it.
//!
//! Started with `--save "" --appendonly no` (nothing is persisted unless the test runs `SAVE`)
//! and `--enable-debug-command yes`.

use dbpat::cache::redis;
use std::future::Future;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The file name `SAVE` writes (the server's default `dbfilename`).
const DUMP: &str = "dump.rdb";
/// Where [`PrivateRedis::save_dump`] keeps its copy of the dump.
const SAVED: &str = "saved.rdb";
/// The copy of [`SAVED`] a [`PrivateRedis::restart_from_saved_dump`] server loads (and may
/// overwrite), so the saved copy itself stays as it was.
const RESTORED: &str = "restored.rdb";

/// How long a start (or a restart, loading a dump) may take.
const START_TIMEOUT: Duration = Duration::from_secs(10);

/// A private `redis-server` (see the module docs).
pub struct PrivateRedis {
    port: u16,
    dir: tempfile::TempDir,
    /// The `--dbfilename` of the running server.
    dbfilename: &'static str,
    child: Option<Child>,
}

impl PrivateRedis {
    /// Starts a server on a free port with an empty dataset, and waits until it answers `PING`.
    /// Panics with a hint when `redis-server` is not installed.
    pub async fn start() -> Self {
        let dir = tempfile::Builder::new()
            .prefix("dbpat-private-redis-")
            .tempdir()
            .expect("a temporary directory for the private redis-server");
        let mut server = PrivateRedis {
            port: free_port(),
            dir,
            dbfilename: DUMP,
            child: None,
        };
        server.spawn(DUMP).await;
        server
    }

    /// The server's port (kept across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// `redis://127.0.0.1:<port>/`
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    /// The process id of the running server.
    pub fn pid(&self) -> u32 {
        self.child
            .as_ref()
            .expect("the private redis-server is not running")
            .id()
    }

    /// Whether the server process is running (not killed).
    pub fn is_running(&self) -> bool {
        self.child.is_some()
    }

    /// A new connection of its own to the server.
    pub async fn connection(&self) -> redis::aio::MultiplexedConnection {
        connect(&self.url())
            .await
            .unwrap_or_else(|e| panic!("cannot connect to the private redis-server: {e}"))
    }

    /// `kill -9`: SIGKILL, then waits for the process to end (a frozen server dies too).
    /// Nothing is saved. Does nothing if it is not running.
    pub fn kill9(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill(); // SIGKILL on Unix
            let _ = child.wait();
        }
    }

    /// Kills the server if it runs, deletes its dump, and starts an empty one on the same port.
    pub async fn restart_empty(&mut self) {
        self.kill9();
        for file in [DUMP, RESTORED, self.dbfilename] {
            let _ = std::fs::remove_file(self.path(file));
        }
        self.spawn(DUMP).await;
    }

    /// Runs `SAVE` (a synchronous dump of the current dataset) and keeps a copy of the dump
    /// for [`PrivateRedis::restart_from_saved_dump`].
    pub async fn save_dump(&self) {
        let mut conn = self.connection().await;
        let reply: String = redis::cmd("SAVE")
            .query_async(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("SAVE on the private redis-server failed: {e}"));
        assert_eq!(reply, "OK", "SAVE");
        std::fs::copy(self.path(self.dbfilename), self.path(SAVED))
            .unwrap_or_else(|e| panic!("cannot copy the dump {}: {e}", self.dbfilename));
    }

    /// Kills the server if it runs and starts it on the same port from the dump that
    /// [`PrivateRedis::save_dump`] kept: the server comes back with that older dataset (what a
    /// restore from a backup, or a failover to a lagging replica, looks like to a client).
    pub async fn restart_from_saved_dump(&mut self) {
        self.kill9();
        std::fs::copy(self.path(SAVED), self.path(RESTORED))
            .expect("restart_from_saved_dump needs a save_dump first");
        self.spawn(RESTORED).await;
    }

    /// `kill -STOP`: the server stops running; connections stay open, commands queue up.
    pub fn freeze(&self) {
        self.signal("STOP");
    }

    /// `kill -CONT`: the frozen server runs again and answers what queued up.
    pub fn thaw(&self) {
        self.signal("CONT");
    }

    /// `DEBUG SLEEP <d>` on a connection of its own: the server answers nothing for `d`.
    /// The future owns what it needs (`tokio::spawn` it to sleep the server in the background)
    /// and finishes with the server's reply.
    pub fn debug_sleep(&self, d: Duration) -> impl Future<Output = ()> + Send + 'static {
        let url = self.url();
        async move {
            let mut conn = connect(&url)
                .await
                .unwrap_or_else(|e| panic!("cannot connect to the private redis-server: {e}"));
            let reply: Result<String, _> = redis::cmd("DEBUG")
                .arg("SLEEP")
                .arg(format!("{:.3}", d.as_secs_f64()))
                .query_async(&mut conn)
                .await;
            if let Err(e) = reply {
                panic!("DEBUG SLEEP on the private redis-server failed: {e}");
            }
        }
    }

    fn path(&self, file: &str) -> PathBuf {
        self.dir.path().join(file)
    }

    fn signal(&self, signal: &str) {
        let pid = self.pid().to_string();
        let status = Command::new("kill")
            .args([&format!("-{signal}"), &pid])
            .status()
            .unwrap_or_else(|e| panic!("cannot run `kill -{signal} {pid}`: {e}"));
        assert!(status.success(), "`kill -{signal} {pid}` failed: {status}");
    }

    async fn spawn(&mut self, dbfilename: &'static str) {
        assert!(
            self.child.is_none(),
            "the private redis-server already runs"
        );
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no"])
            .args(["--enable-debug-command", "yes"])
            .arg("--dir")
            .arg(self.dir.path())
            .args(["--dbfilename", dbfilename])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                if e.kind() == std::io::ErrorKind::NotFound {
                    panic!(
                        "redis-server is not installed (not on PATH): run scripts/services \
                         from the repository root (it installs and starts the test services)"
                    )
                }
                panic!("cannot start redis-server: {e}")
            });
        self.child = Some(child);
        self.dbfilename = dbfilename;
        let url = self.url();
        let deadline = Instant::now() + START_TIMEOUT;
        loop {
            if let Ok(mut conn) = connect(&url).await {
                // While it loads a dump the server answers `-LOADING`: wait for a real PONG.
                let pong: Result<String, _> = redis::cmd("PING").query_async(&mut conn).await;
                if pong.is_ok() {
                    return;
                }
            }
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten())
            {
                self.child = None;
                panic!(
                    "the private redis-server on port {} exited at start ({status}); \
                     is the port taken?",
                    self.port
                );
            }
            assert!(
                Instant::now() < deadline,
                "the private redis-server on port {} did not answer PING within {START_TIMEOUT:?}",
                self.port
            );
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

impl Drop for PrivateRedis {
    fn drop(&mut self) {
        self.kill9();
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free local port")
        .port()
}

async fn connect(url: &str) -> redis::RedisResult<redis::aio::MultiplexedConnection> {
    let client = redis::Client::open(url)?;
    let config = redis::AsyncConnectionConfig::new()
        .set_connection_timeout(Some(Duration::from_secs(1)))
        .set_response_timeout(Some(Duration::from_secs(5)));
    client
        .get_multiplexed_async_connection_with_config(&config)
        .await
}
