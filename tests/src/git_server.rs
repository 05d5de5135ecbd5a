//! A real git server on loopback for tests: `git daemon` serving the bare repositories under
//! a temp folder over `git://127.0.0.1:PORT/` with pushes enabled, and [`git`], the test's own
//! git (isolated from the machine's configuration) to seed repositories and read them back.

use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Runs git in `dir` with an identity of its own and no global or system config; panics with
/// git's message on failure. Returns stdout.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = git_output(dir, args);
    assert!(
        output.status.success(),
        "git {args:?} in {} failed: {}",
        dir.display(),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// [`git`] without the success check.
pub fn git_output(dir: &Path, args: &[&str]) -> std::process::Output {
    Command::new("git")
        .args([
            "-c",
            "user.name=Site Owner",
            "-c",
            "user.email=owner@example.test",
        ])
        .args([
            "-c",
            "init.defaultBranch=main",
            "-c",
            "protocol.file.allow=always",
        ])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("LC_ALL", "C")
        .output()
        .expect("git runs")
}

/// `git daemon` over a folder of bare repositories. Dropping it stops the server.
pub struct GitServer {
    /// The folder the server's paths are relative to.
    pub base: PathBuf,
    pub port: u16,
    child: Child,
}

impl GitServer {
    /// Serves `base` (created if missing) on a free loopback port, pushes allowed.
    pub fn start(base: &Path) -> GitServer {
        std::fs::create_dir_all(base).expect("create the server's folder");
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--export-all",
                "--enable=receive-pack",
                "--reuseaddr",
                "--informative-errors",
                "--listen=127.0.0.1",
            ])
            .arg(format!("--port={port}"))
            .arg(format!("--base-path={}", base.display()))
            .arg(base)
            .env("GIT_CONFIG_GLOBAL", "/dev/null")
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("git daemon starts");
        let started = Instant::now();
        while TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                started.elapsed() < Duration::from_secs(20),
                "git daemon did not listen on {port} within 20 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        GitServer {
            base: base.to_path_buf(),
            port,
            child,
        }
    }

    /// `git://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("git://127.0.0.1:{}/{path}", self.port)
    }

    /// The bare repository at `path` (e.g. `acme/site.git`).
    pub fn repository(&self, path: &str) -> PathBuf {
        self.base.join(path)
    }

    /// Creates the bare repository `path` holding `site`'s files on `main` (one commit), and
    /// a `design` branch with one more commit changing `design_file` to `design_text`.
    pub fn seed(&self, path: &str, site: &Path, design_file: &str, design_text: &str) -> PathBuf {
        let work = tempfile::tempdir().expect("temp dir");
        let seed = work.path().join("seed");
        copy_dir(site, &seed);
        git(&seed, &["init", "-q"]);
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "The site as published"]);
        git(&seed, &["checkout", "-q", "-b", "design"]);
        let file = seed.join(design_file);
        std::fs::create_dir_all(file.parent().expect("a parent")).expect("create dir");
        std::fs::write(&file, design_text).expect("write");
        git(&seed, &["add", "-A"]);
        git(&seed, &["commit", "-q", "-m", "Design branch"]);
        git(&seed, &["checkout", "-q", "main"]);
        let bare = self.repository(path);
        std::fs::create_dir_all(bare.parent().expect("a parent")).expect("create dir");
        git(
            work.path(),
            &[
                "clone",
                "-q",
                "--bare",
                seed.to_str().expect("utf-8"),
                bare.to_str().expect("utf-8"),
            ],
        );
        bare
    }
}

impl Drop for GitServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create dir");
    for entry in std::fs::read_dir(from).expect("read dir") {
        let entry = entry.expect("dir entry");
        let target = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("copy");
        }
    }
}
