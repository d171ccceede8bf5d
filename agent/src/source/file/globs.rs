//! Which files a source follows: its `include` globs minus its `exclude`
//! globs, found by walking the directories the globs start from.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// The include/exclude globs, and the directories they start from.
/// Compiled once, by config validation ([`crate::config::FilePatterns`]).
#[derive(Debug, Clone)]
pub struct Globs {
    include: GlobSet,
    exclude: GlobSet,
    /// The directories to walk and watch, and whether below them too.
    pub roots: Vec<(PathBuf, bool)>,
}

/// A pattern that does not compile, and which list (`include` or
/// `exclude`) it is in (the config error names the list as its key).
#[derive(Debug, thiserror::Error)]
#[error("{error}")]
pub struct GlobError {
    pub list: &'static str,
    pub error: globset::Error,
}

impl Globs {
    pub fn new(include: &[String], exclude: &[String]) -> Result<Globs, GlobError> {
        let build = |patterns: &[String], list: &'static str| -> Result<GlobSet, GlobError> {
            let fail = |error| GlobError { list, error };
            let mut b = GlobSetBuilder::new();
            for p in patterns {
                b.add(
                    GlobBuilder::new(p)
                        .literal_separator(true)
                        .build()
                        .map_err(fail)?,
                );
            }
            b.build().map_err(fail)
        };
        let roots = include.iter().map(|p| root_of(p)).collect();
        Ok(Globs {
            include: build(include, "include")?,
            exclude: build(exclude, "exclude")?,
            roots,
        })
    }

    pub fn matches(&self, path: &Path) -> bool {
        self.include.is_match(path) && !self.exclude.is_match(path)
    }

    /// Every regular file under the roots that matches.
    pub fn scan(&self) -> Vec<PathBuf> {
        let mut found = HashSet::new();
        for (root, recursive) in &self.roots {
            walk(root, *recursive, &mut |p| {
                if self.matches(p) {
                    found.insert(p.to_path_buf());
                }
            });
        }
        let mut v: Vec<PathBuf> = found.into_iter().collect();
        v.sort();
        v
    }
}

/// The directory before the first glob character, and whether the rest of
/// the pattern reaches below it.
fn root_of(pattern: &str) -> (PathBuf, bool) {
    let mut root = PathBuf::from("/");
    let parts: Vec<&str> = pattern.split('/').filter(|s| !s.is_empty()).collect();
    for (i, part) in parts.iter().enumerate() {
        if part.contains(['*', '?', '[', '{']) || i == parts.len() - 1 {
            let below = parts.len() - i > 1;
            return (root, below);
        }
        root.push(part);
    }
    (root, false)
}

fn walk(dir: &Path, recursive: bool, f: &mut impl FnMut(&Path)) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        let Ok(kind) = entry.file_type() else {
            continue;
        };
        if kind.is_dir() {
            if recursive {
                walk(&path, true, f);
            }
        } else if kind.is_file() || (kind.is_symlink() && path.is_file()) {
            f(&path);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roots_stop_at_the_first_glob() {
        assert_eq!(
            root_of("/var/log/*.log"),
            (PathBuf::from("/var/log"), false)
        );
        assert_eq!(
            root_of("/var/log/**/*.log"),
            (PathBuf::from("/var/log"), true)
        );
        assert_eq!(
            root_of("/var/log/app.log"),
            (PathBuf::from("/var/log"), false)
        );
        assert_eq!(root_of("/srv/*/logs/x.log"), (PathBuf::from("/srv"), true));
    }

    #[test]
    fn globs_match_files_below_their_roots() {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path();
        std::fs::create_dir_all(base.join("a/b")).unwrap();
        for f in ["x.log", "y.txt", "a/z.log", "a/b/w.log", "skip.log"] {
            std::fs::write(base.join(f), b"1\n").unwrap();
        }
        let g = Globs::new(
            &[
                format!("{}/**/*.log", base.display()),
                format!("{}/*.txt", base.display()),
            ],
            &[format!("{}/skip.log", base.display())],
        )
        .unwrap();
        let found: Vec<String> = g
            .scan()
            .iter()
            .map(|p| p.strip_prefix(base).unwrap().display().to_string())
            .collect();
        assert_eq!(found, ["a/b/w.log", "a/z.log", "x.log", "y.txt"]);
        // `*` does not cross directories.
        let g = Globs::new(&[format!("{}/*.log", base.display())], &[]).unwrap();
        assert_eq!(g.scan().len(), 2);
    }
}
