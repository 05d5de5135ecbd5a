//! Who may talk to the daemon: a bearer token (generated, kept 0600 in the state dir, like
//! Jupyter's), and requests only from the daemon's own origin and host names, which stops
//! cross-site WebSocket hijacking (webpack-dev-server CVE-2018-14732) and DNS rebinding.
//! Pure checks over header values; the HTTP layer calls them.

use std::io::Write;
use std::path::Path;

/// Loads the token file, or creates it with a fresh random token (mode 0600).
pub fn load_or_create_token(state_dir: &Path) -> std::io::Result<String> {
    let path = state_dir.join("token");
    if let Ok(text) = std::fs::read_to_string(&path) {
        let token = text.trim().to_string();
        if token.len() >= 16 {
            return Ok(token);
        }
    }
    std::fs::create_dir_all(state_dir)?;
    let token = generate_token();
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&path)?;
    file.write_all(token.as_bytes())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))?;
    }
    Ok(token)
}

/// 32 random bytes, hex.
pub fn generate_token() -> String {
    let bytes: [u8; 32] = rand::random();
    hex::encode(bytes)
}

/// Compares in time independent of where the first difference is.
pub fn token_matches(expected: &str, given: &str) -> bool {
    let (a, b) = (expected.as_bytes(), given.as_bytes());
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The names this daemon answers to on `port`: loopback names, and the bind address.
#[derive(Debug, Clone)]
pub struct Origins {
    hosts: Vec<String>,
}

impl Origins {
    pub fn new(bind: &str, port: u16) -> Self {
        let mut names = vec![
            "127.0.0.1".to_string(),
            "localhost".to_string(),
            "[::1]".to_string(),
        ];
        let bind = if bind.contains(':') && !bind.starts_with('[') {
            format!("[{bind}]")
        } else {
            bind.to_string()
        };
        if !names.contains(&bind) && bind != "0.0.0.0" && bind != "[::]" {
            names.push(bind);
        }
        Origins {
            hosts: names
                .into_iter()
                .map(|name| format!("{name}:{port}"))
                .collect(),
        }
    }

    /// A `Host` header we accept: one of our names with our port.
    pub fn host_allowed(&self, host: &str) -> bool {
        let host = host.trim().to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    /// An `Origin` header we accept: `http://` + one of our hosts. `null` and every other
    /// origin (including look-alikes such as `http://127.0.0.1.evil.com:PORT`) are refused.
    pub fn origin_allowed(&self, origin: &str) -> bool {
        let origin = origin.trim().to_ascii_lowercase();
        match origin.strip_prefix("http://") {
            Some(host) => self.host_allowed(host),
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_only_own_loopback_origins() {
        let origins = Origins::new("127.0.0.1", 7878);
        assert!(origins.origin_allowed("http://127.0.0.1:7878"));
        assert!(origins.origin_allowed("http://localhost:7878"));
        for foreign in [
            "null",
            "http://evil.com",
            "http://127.0.0.1.evil.com:7878",
            "http://localhost:7879",
            "https://localhost:7878",
            "http://192.168.1.10:7878",
            "file://",
        ] {
            assert!(!origins.origin_allowed(foreign), "{foreign} accepted");
        }
    }

    #[test]
    fn refuses_rebinding_host_names() {
        let origins = Origins::new("127.0.0.1", 7878);
        assert!(origins.host_allowed("127.0.0.1:7878"));
        assert!(origins.host_allowed("LOCALHOST:7878"));
        assert!(!origins.host_allowed("attacker.example:7878"));
        assert!(!origins.host_allowed("127.0.0.1"));
    }

    #[test]
    fn token_comparison_needs_the_whole_token() {
        assert!(token_matches("abcdef", "abcdef"));
        assert!(!token_matches("abcdef", "abcdeg"));
        assert!(!token_matches("abcdef", "abc"));
        assert!(!token_matches("abcdef", ""));
    }

    #[test]
    fn token_file_is_private_and_reused() {
        let dir = tempfile::tempdir().unwrap();
        let first = load_or_create_token(dir.path()).unwrap();
        let second = load_or_create_token(dir.path()).unwrap();
        assert_eq!(first, second);
        assert_eq!(first.len(), 64);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("token"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
