//! Credentials in URLs in the files that configure package downloads and are staged as they are:
//! found, named by file and line, never shown.

use std::borrow::Cow;
use std::path::Path;

use anyhow::Context;

use crate::exit::InputError;

/// A credential found in a URL: where it is, never what it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UrlCredential {
    /// 1-based.
    pub line: usize,
    /// The URL with its user information masked, e.g. `https://***@host`.
    pub masked: String,
}

/// Finds `scheme://user:password@host`, `scheme://token@host` and channel tokens
/// (`scheme://host/t/<token>/...`, the form conda channels take a token in) in `text`. A user name
/// alone is only accepted for SSH (`ssh://git@host`); placeholders (`$VAR`, `${VAR}`, `{{ var }}`,
/// `<token>`) are not credentials.
pub fn scan_url_credentials(text: &str) -> Vec<UrlCredential> {
    let mut found = Vec::new();
    for (index, line) in text.lines().enumerate() {
        let mut search = 0;
        while let Some(pos) = line[search..].find("://") {
            let sep = search + pos;
            search = sep + 3;
            let scheme_start = line[..sep]
                .char_indices()
                .rev()
                .take_while(|(_, c)| c.is_ascii_alphanumeric() || "+-.".contains(*c))
                .last()
                .map_or(sep, |(i, _)| i);
            let scheme = &line[scheme_start..sep];
            if scheme.is_empty() {
                continue;
            }
            let rest = &line[sep + 3..];
            let end = rest
                .find(|c: char| {
                    c.is_whitespace() || "/?#\"'<>`,;()[]".contains(c) || c.is_control()
                })
                .unwrap_or(rest.len());
            let authority = &rest[..end];
            let (userinfo, host) = match authority.rfind('@') {
                Some(at) => (&authority[..at], &authority[at + 1..]),
                None => ("", authority),
            };
            if !userinfo.is_empty() && !host.is_empty() {
                let secret = match userinfo.split_once(':') {
                    Some((_, password)) => password,
                    None if scheme.to_ascii_lowercase().contains("ssh") => "",
                    None => userinfo,
                };
                if !secret.is_empty() && !is_placeholder(secret) {
                    found.push(UrlCredential {
                        line: index + 1,
                        masked: format!("{scheme}://***@{host}"),
                    });
                    continue;
                }
            }
            // The path, up to where the URL ends: a `/t/<token>` segment is a channel token.
            let url_end = rest
                .find(|c: char| c.is_whitespace() || "\"'<>`,;()[]".contains(c) || c.is_control())
                .unwrap_or(rest.len());
            let path = &rest[end.min(url_end)..url_end];
            let mut at = 0;
            while let Some(t) = path[at..].find("/t/") {
                let token_start = at + t + 3;
                let token_end = path[token_start..]
                    .find(['/', '?', '#'])
                    .map_or(path.len(), |e| token_start + e);
                if channel_token(&path[token_start..token_end]) {
                    found.push(UrlCredential {
                        line: index + 1,
                        masked: format!("{scheme}://{host}{}/t/***", &path[..at + t]),
                    });
                    break;
                }
                at = token_start;
            }
        }
    }
    found
}

/// Whether a path segment after `/t/` looks like a channel token rather than a word (a forum's
/// `/t/some-topic/`): long, of a token's alphabet, with digits and letters both.
pub(super) fn channel_token(segment: &str) -> bool {
    let digits = segment.bytes().filter(u8::is_ascii_digit).count();
    let letters = segment.bytes().filter(u8::is_ascii_alphabetic).count();
    segment.len() >= 12
        && segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        && digits >= 2
        && letters >= 2
        && !is_placeholder(segment)
}

pub(super) fn is_placeholder(value: &str) -> bool {
    value.starts_with('$')
        || value.starts_with("{{")
        || value.starts_with("%(")
        || value.starts_with('<')
}

/// Files beside the manifest that configure where packages come from, scanned for credentials
/// in URLs as well (relative to the project folder; the manifest itself is skipped here).
pub const PROJECT_CONFIG_FILES: &[&str] = &[
    "pixi.toml",
    "pyproject.toml",
    "pip.conf",
    "pip.ini",
    ".pip/pip.conf",
    ".config/pip/pip.conf",
    ".condarc",
    "condarc",
    ".config/conda/condarc",
    "uv.toml",
    ".config/uv/uv.toml",
    ".pypirc",
];

/// One pixi file to scan: how to name it to the user, and where to read it.
#[derive(Debug, Clone)]
pub struct ScannedFile<'a> {
    pub label: String,
    pub path: Cow<'a, Path>,
}

/// The pixi files that are staged unfiltered, and the other download configuration beside them
/// ([`PROJECT_CONFIG_FILES`]), labelled relative to `project_dir`.
pub fn pixi_files<'a>(
    config: &'a Path,
    manifest: &'a Path,
    lock: &'a Path,
    project_dir: &Path,
) -> Vec<ScannedFile<'a>> {
    let label = |path: &Path| {
        path.strip_prefix(project_dir)
            .unwrap_or(path)
            .display()
            .to_string()
    };
    let mut files: Vec<ScannedFile<'a>> = [config, manifest, lock]
        .into_iter()
        .map(|path| ScannedFile {
            label: label(path),
            path: Cow::Borrowed(path),
        })
        .collect();
    for name in PROJECT_CONFIG_FILES {
        let path = project_dir.join(name);
        if files.iter().any(|f| f.path.as_ref() == path.as_path()) {
            continue;
        }
        files.push(ScannedFile {
            label: label(&path),
            path: Cow::Owned(path),
        });
    }
    files
}

/// Scans the given files for credentials in URLs. Findings are an [`InputError`] naming each file
/// and line, unless `allow`: then they are returned (masked, one line each) for the caller to
/// warn about. Missing files are skipped.
pub fn check_url_credentials(
    files: &[ScannedFile<'_>],
    allow: bool,
) -> anyhow::Result<Vec<String>> {
    let mut findings = Vec::new();
    for file in files {
        let text = match std::fs::read(&file.path) {
            Ok(bytes) => String::from_utf8_lossy(&bytes).into_owned(),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(err).with_context(|| format!("failed to read `{}`", file.label))
            }
        };
        for hit in scan_url_credentials(&text) {
            findings.push(format!("  {}:{}: {}", file.label, hit.line, hit.masked));
        }
    }
    if findings.is_empty() || allow {
        return Ok(findings);
    }
    Err(InputError::new(format!(
        "credentials in URLs would be staged (and shipped in the product):\n{}",
        findings.join("\n")
    ))
    .into())
}
