//! A Redis server and a Postgres cluster of a test's own, for tests that stop and start them.

use std::time::Duration;

use super::free_port;

/// A throwaway Redis server on its own port, for tests that stop and start it.
pub struct OwnRedis {
    pub port: u16,
    child: std::process::Child,
}

impl OwnRedis {
    pub fn start(port: u16) -> OwnRedis {
        let child = std::process::Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(std::process::Stdio::null())
            .spawn()
            .expect("redis-server must be installed");
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { port, child }
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A throwaway Postgres cluster of the test's own (`initdb` + `pg_ctl`, run as the `postgres`
/// user when the test runs as root), so stopping it disturbs nothing else.
pub struct OwnPostgres {
    bin: std::path::PathBuf,
    data: std::path::PathBuf,
    port: u16,
    _dir: tempfile::TempDir,
}

impl OwnPostgres {
    pub fn find_bin() -> Option<std::path::PathBuf> {
        let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
            .ok()?
            .filter_map(|e| e.ok())
            .map(|e| e.path().join("bin"))
            .filter(|p| p.join("initdb").exists())
            .collect();
        versions.sort();
        versions.pop()
    }

    pub fn as_postgres(&self, program: &str, args: &[&str]) -> std::process::Output {
        let root = std::process::Command::new("id")
            .arg("-u")
            .output()
            .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
            .unwrap_or(false);
        let program = self.bin.join(program);
        let mut cmd = if root {
            let mut c = std::process::Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&program);
            c
        } else {
            std::process::Command::new(&program)
        };
        cmd.args(args).output().expect("run a postgres tool")
    }

    pub fn start_new() -> Option<OwnPostgres> {
        let bin = Self::find_bin()?;
        let dir = tempfile::tempdir().ok()?;
        let _ = std::process::Command::new("chown")
            .args(["-R", "postgres", &dir.path().display().to_string()])
            .status();
        let pg = OwnPostgres {
            bin,
            data: dir.path().join("data"),
            port: free_port(),
            _dir: dir,
        };
        let init = pg.as_postgres(
            "initdb",
            &[
                "-D",
                &pg.data.display().to_string(),
                "-A",
                "trust",
                "-U",
                "postgres",
            ],
        );
        assert!(
            init.status.success(),
            "initdb: {}",
            String::from_utf8_lossy(&init.stderr)
        );
        pg.start();
        Some(pg)
    }

    pub fn start(&self) {
        let socket_dir = self.data.parent().unwrap().display().to_string();
        let opts = format!(
            "-p {} -k {socket_dir} -c listen_addresses=127.0.0.1",
            self.port
        );
        let out = self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-o",
                &opts,
                "-l",
                &format!("{socket_dir}/log"),
                "-w",
                "start",
            ],
        );
        assert!(
            out.status.success(),
            "pg_ctl start: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    pub fn stop(&self) {
        let _ = self.as_postgres(
            "pg_ctl",
            &[
                "-D",
                &self.data.display().to_string(),
                "-m",
                "immediate",
                "-w",
                "stop",
            ],
        );
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }
}

impl Drop for OwnPostgres {
    fn drop(&mut self) {
        self.stop();
    }
}
