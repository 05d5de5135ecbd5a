//! Daemon configuration: where state lives and the defaults sessions get.

use std::path::PathBuf;

#[derive(Debug, Clone)]
pub struct Config {
    /// Holds `devflow.db`, `token`, `logs/` and `workspaces/`.
    pub state_dir: PathBuf,
    /// Idle minutes before a session is stopped (seed 000: 30).
    pub default_ttl_minutes: u32,
    /// Prefix of the URLs handed out (`logsUrl`, `uploadUrl`), e.g. `http://127.0.0.1:7878`;
    /// empty = paths relative to the daemon's HTTP root.
    pub public_base_url: String,
    /// How often the TTL sweeper looks for idle sessions.
    pub sweep_interval: std::time::Duration,
}

/// Seed 001: a session lives at most 24 hours.
pub const MAX_TTL_MINUTES: u32 = 24 * 60;

impl Config {
    pub fn new(state_dir: PathBuf) -> Self {
        Config {
            state_dir,
            default_ttl_minutes: 30,
            public_base_url: String::new(),
            sweep_interval: std::time::Duration::from_secs(30),
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.state_dir.join("devflow.db")
    }

    pub fn logs_dir(&self) -> PathBuf {
        self.state_dir.join("logs")
    }

    pub fn workspaces_dir(&self) -> PathBuf {
        self.state_dir.join("workspaces")
    }

    /// The default state dir: `$XDG_DATA_HOME/devflow` (or the platform's data dir).
    pub fn default_state_dir() -> PathBuf {
        dirs::data_dir()
            .unwrap_or_else(std::env::temp_dir)
            .join("devflow")
    }
}
