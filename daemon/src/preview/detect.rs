//! Which runtime a workspace needs, and what its dev server is run with. Pure: the caller
//! hands over `package.json`'s text, which files exist and the environment; nothing here
//! touches the disk or spawns anything.
//!
//! A `dev` script means a dev server. A `start` script alone means one only when there is
//! no `index.html` at the root: a folder that is already a site (html5-boilerplate's `dist/`
//! ships a `start` for its authors' webpack) is served as it is. The child's environment
//! never carries the daemon's secrets (`AWS_*`, `DEVFLOW_*`, API tokens).

use std::ffi::OsString;

/// The project's package manager, chosen by its lockfile.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Manager {
    Npm,
    Pnpm,
    Yarn,
}

/// How a workspace is previewed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Plan {
    /// Served in-process from the folder.
    Static,
    /// `<manager> run <script>` with the port injected.
    Script { manager: Manager, script: String },
}

/// Decides the plan from `package.json` (if any) and which files exist at the root.
/// A `package.json` that does not parse is reported in `Err` (with the static plan the
/// caller may fall back to).
pub fn plan(package_json: Option<&str>, exists: impl Fn(&str) -> bool) -> Result<Plan, String> {
    let Some(text) = package_json else {
        return Ok(Plan::Static);
    };
    let json: serde_json::Value = serde_json::from_str(text).map_err(|e| {
        format!("package.json is not valid JSON ({e}); serving the folder as it is")
    })?;
    let script = |name: &str| {
        json.get("scripts")
            .and_then(|s| s.get(name))
            .and_then(|s| s.as_str())
            .is_some_and(|s| !s.trim().is_empty())
    };
    let chosen = if script("dev") {
        "dev"
    } else if script("start") && !exists("index.html") {
        "start"
    } else {
        return Ok(Plan::Static);
    };
    let declared = json
        .get("packageManager")
        .and_then(|v| v.as_str())
        .unwrap_or("");
    let manager = if exists("pnpm-lock.yaml") {
        Manager::Pnpm
    } else if exists("yarn.lock") {
        Manager::Yarn
    } else if exists("package-lock.json") || exists("npm-shrinkwrap.json") {
        Manager::Npm
    } else if declared.starts_with("pnpm@") {
        Manager::Pnpm
    } else if declared.starts_with("yarn@") {
        Manager::Yarn
    } else {
        Manager::Npm
    };
    Ok(Plan::Script {
        manager,
        script: chosen.to_string(),
    })
}

impl Manager {
    pub fn program(self) -> &'static str {
        match self {
            Manager::Npm => "npm",
            Manager::Pnpm => "pnpm",
            Manager::Yarn => "yarn",
        }
    }

    /// Installs the dependencies (run when `node_modules` is missing).
    pub fn install_args(self) -> Vec<String> {
        match self {
            Manager::Npm => vec!["install".into(), "--no-audit".into(), "--no-fund".into()],
            Manager::Pnpm | Manager::Yarn => vec!["install".into()],
        }
    }

    /// Runs `script` with `--port <port>` passed through to it.
    pub fn run_args(self, script: &str, port: u16) -> Vec<String> {
        let port = port.to_string();
        match self {
            Manager::Npm => vec![
                "run".into(),
                script.into(),
                "--".into(),
                "--port".into(),
                port,
            ],
            Manager::Pnpm | Manager::Yarn => {
                vec!["run".into(), script.into(), "--port".into(), port]
            }
        }
    }
}

/// Whether an environment variable is one of the daemon's secrets.
pub fn is_secret(name: &str) -> bool {
    let upper = name.to_ascii_uppercase();
    upper.starts_with("AWS_")
        || upper.starts_with("DEVFLOW_")
        || matches!(
            upper.as_str(),
            "GITHUB_TOKEN" | "GH_TOKEN" | "OPENAI_API_KEY" | "ANTHROPIC_API_KEY"
        )
}

/// The dev server's environment: the daemon's, less its secrets, plus the port.
pub fn child_env(
    vars: impl Iterator<Item = (OsString, OsString)>,
    port: Option<u16>,
) -> Vec<(OsString, OsString)> {
    let mut env: Vec<(OsString, OsString)> = vars
        .filter(|(name, _)| !name.to_str().is_none_or(is_secret))
        .filter(|(name, _)| {
            !matches!(
                name.to_str(),
                Some("PORT" | "HOST" | "BROWSER" | "NPM_CONFIG_UPDATE_NOTIFIER")
            )
        })
        .collect();
    if let Some(port) = port {
        env.push(("PORT".into(), port.to_string().into()));
        // Loopback only (CRA and others read HOST); no browser windows (`--open`, CRA).
        env.push(("HOST".into(), "127.0.0.1".into()));
    }
    env.push(("BROWSER".into(), "none".into()));
    // npm would otherwise ask the registry for its own updates on every run.
    env.push(("NPM_CONFIG_UPDATE_NOTIFIER".into(), "false".into()));
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan_of(json: &str, files: &[&str]) -> Plan {
        plan(Some(json), |name| files.contains(&name)).unwrap()
    }

    #[test]
    fn a_dev_script_is_run_with_the_lockfiles_manager() {
        let json = r#"{"scripts":{"dev":"vite","build":"vite build"}}"#;
        let dev = |manager| Plan::Script {
            manager,
            script: "dev".into(),
        };
        assert_eq!(plan_of(json, &["index.html"]), dev(Manager::Npm));
        assert_eq!(plan_of(json, &["pnpm-lock.yaml"]), dev(Manager::Pnpm));
        assert_eq!(plan_of(json, &["yarn.lock"]), dev(Manager::Yarn));
        assert_eq!(
            plan_of(
                r#"{"packageManager":"pnpm@9.1.0","scripts":{"dev":"vite"}}"#,
                &[]
            ),
            dev(Manager::Pnpm)
        );
    }

    #[test]
    fn a_start_script_counts_only_without_a_root_index_html() {
        let json = r#"{"scripts":{"start":"node server.js"}}"#;
        assert_eq!(
            plan_of(json, &[]),
            Plan::Script {
                manager: Manager::Npm,
                script: "start".into()
            }
        );
        assert_eq!(plan_of(json, &["index.html"]), Plan::Static);
    }

    #[test]
    fn the_fixture_sites_get_the_runtime_their_readme_names() {
        let fixtures =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../shared/fixtures/sites");
        let plan_for = |site: &str| {
            let dir = fixtures.join(site);
            let json = std::fs::read_to_string(dir.join("package.json")).ok();
            plan(json.as_deref(), |name| dir.join(name).exists()).unwrap()
        };
        assert_eq!(plan_for("html5-boilerplate"), Plan::Static);
        assert_eq!(plan_for("simple-sidebar"), Plan::Static);
        assert_eq!(
            plan_for("vite-vanilla"),
            Plan::Script {
                manager: Manager::Npm,
                script: "dev".into()
            }
        );
    }

    #[test]
    fn no_package_json_or_no_scripts_is_static() {
        assert_eq!(plan(None, |_| false).unwrap(), Plan::Static);
        assert_eq!(plan_of(r#"{"name":"x"}"#, &[]), Plan::Static);
        assert_eq!(plan_of(r#"{"scripts":{"dev":"  "}}"#, &[]), Plan::Static);
        assert!(plan(Some("{not json"), |_| false).is_err());
    }

    #[test]
    fn the_port_reaches_the_script_for_every_manager() {
        assert_eq!(
            Manager::Npm.run_args("dev", 4100).join(" "),
            "run dev -- --port 4100"
        );
        assert_eq!(
            Manager::Pnpm.run_args("dev", 4100).join(" "),
            "run dev --port 4100"
        );
        assert_eq!(
            Manager::Yarn.run_args("start", 1).join(" "),
            "run start --port 1"
        );
    }

    #[test]
    fn the_child_never_sees_the_daemons_secrets() {
        let vars = [
            ("PATH", "/usr/bin"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
            ("AWS_PROFILE", "p"),
            ("aws_session_token", "t"),
            ("DEVFLOW_TOKEN", "tok"),
            ("GITHUB_TOKEN", "g"),
            ("PORT", "1"),
            ("HOME", "/root"),
        ]
        .map(|(k, v)| (OsString::from(k), OsString::from(v)));
        let env = child_env(vars.into_iter(), Some(4100));
        let names: Vec<String> = env
            .iter()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect();
        assert_eq!(
            names,
            [
                "PATH=/usr/bin",
                "HOME=/root",
                "PORT=4100",
                "HOST=127.0.0.1",
                "BROWSER=none",
                "NPM_CONFIG_UPDATE_NOTIFIER=false"
            ]
        );
    }
}
