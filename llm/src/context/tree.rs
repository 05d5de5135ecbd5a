//! Which workspace files a model hears about: the file tree without dependency folders, VCS
//! data, build output and lockfiles; and, of those, which are text worth reading (source,
//! styles, markup) as opposed to images, fonts and archives.

/// Folders whose content is never the site's own source.
const IGNORED_DIRS: &[&str] = &[
    "node_modules",
    ".git",
    ".hg",
    ".svn",
    "dist",
    "build",
    "out",
    "target",
    ".next",
    ".nuxt",
    ".svelte-kit",
    ".output",
    ".vercel",
    ".turbo",
    ".parcel-cache",
    ".cache",
    "coverage",
    "__pycache__",
    ".venv",
    ".idea",
    ".vscode",
];

/// File names that are generated or private, never design source.
const IGNORED_FILES: &[&str] = &[".DS_Store", "Thumbs.db", ".env", ".env.local"];

/// Extensions of files a model can read and edit.
const TEXT_EXTENSIONS: &[&str] = &[
    "html",
    "htm",
    "css",
    "scss",
    "sass",
    "less",
    "styl",
    "pcss",
    "postcss",
    "js",
    "mjs",
    "cjs",
    "jsx",
    "ts",
    "tsx",
    "mts",
    "cts",
    "vue",
    "svelte",
    "astro",
    "json",
    "md",
    "mdx",
    "txt",
    "yml",
    "yaml",
    "toml",
    "xml",
    "njk",
    "hbs",
    "handlebars",
    "ejs",
    "pug",
    "liquid",
    "php",
    "erb",
    "twig",
    "webmanifest",
];

/// Stylesheet extensions (a design instruction's first suspects).
pub const STYLE_EXTENSIONS: &[&str] = &["css", "scss", "sass", "less", "styl", "pcss", "postcss"];

/// Markup and component extensions.
pub const MARKUP_EXTENSIONS: &[&str] = &[
    "html",
    "htm",
    "vue",
    "svelte",
    "astro",
    "jsx",
    "tsx",
    "njk",
    "hbs",
    "handlebars",
    "ejs",
    "pug",
    "liquid",
    "php",
    "erb",
    "twig",
];

/// Whether `path` (relative, `/`-separated) belongs in the file tree shown to a model.
pub fn is_listed(path: &str) -> bool {
    let mut parts = path.split('/').peekable();
    while let Some(part) = parts.next() {
        let last = parts.peek().is_none();
        if !last && IGNORED_DIRS.contains(&part) {
            return false;
        }
        if last
            && (IGNORED_FILES.contains(&part)
                || devflow_patch::LOCKFILES.contains(&part)
                || part.ends_with(".map")
                || part.contains(".min."))
        {
            return false;
        }
    }
    !path.is_empty()
}

/// Whether a listed file is text a model could read and edit.
pub fn is_readable(path: &str) -> bool {
    is_listed(path) && TEXT_EXTENSIONS.contains(&extension(path).as_str())
}

/// The lowercase extension of a path's file name (`""` when it has none).
pub fn extension(path: &str) -> String {
    let name = file_name(path);
    match name.rfind('.') {
        Some(dot) if dot > 0 => name[dot + 1..].to_ascii_lowercase(),
        _ => String::new(),
    }
}

pub fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

pub fn is_stylesheet(path: &str) -> bool {
    STYLE_EXTENSIONS.contains(&extension(path).as_str())
}

pub fn is_markup(path: &str) -> bool {
    MARKUP_EXTENSIONS.contains(&extension(path).as_str())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_out_dependencies_vcs_build_output_and_lockfiles() {
        for path in [
            "node_modules/vite/index.js",
            "src/node_modules/x.css",
            ".git/config",
            "dist/index.html",
            ".next/server/app.js",
            "package-lock.json",
            "web/yarn.lock",
            "css/bootstrap.min.css",
            "js/app.js.map",
            ".DS_Store",
        ] {
            assert!(!is_listed(path), "{path} is listed");
        }
        for path in ["index.html", "css/style.css", "src/dist.css", "build.js"] {
            assert!(is_listed(path), "{path} is not listed");
        }
    }

    #[test]
    fn reads_text_but_not_images_fonts_or_archives() {
        assert!(is_readable("src/style.css"));
        assert!(is_readable("site.webmanifest"));
        assert!(!is_readable("img/hero.png"));
        assert!(!is_readable("favicon.ico"));
        assert!(!is_readable("fonts/inter.woff2"));
        assert!(!is_readable("LICENSE"));
    }
}
