//! What counts as a secret, so that it is never staged.
//!
//! Three checks live here, and only here:
//! - [`SecretNames`]: a deny-list of file and folder names (credentials, key material, histories,
//!   password stores, ...), matched case-insensitively at any depth, minus templates that are
//!   meant to be shared (`.env.example`).
//! - [`content_finding`]: for small text files, private-key blocks and token formats that are
//!   specific enough to be trusted (a fixed prefix, a fixed alphabet, a minimum length). A hit
//!   excludes the file like a named secret.
//! - [`scan_url_credentials`]: `scheme://user:pass@host`, `scheme://token@host` and channel
//!   tokens in the path (`scheme://host/t/<token>/channel`) in the files that configure package
//!   downloads and are staged as they are (`.pixi/config.toml`, the manifest, `pixi.lock`, and
//!   beside them `pixi.toml`/`pyproject.toml` whichever is not the manifest, `pip.conf`,
//!   `.condarc`, `uv.toml`, ...: [`PROJECT_CONFIG_FILES`]). Findings name the file and line,
//!   never the secret.
//!
//! The lists were written for this tool after reading public secret-scanning rule sets; they err
//! on the side of leaving a file out, because `--include-secret` brings a file back and a leaked
//! key cannot be taken back.

use std::borrow::Cow;
use std::io::Read;
use std::path::Path;

use anyhow::Context;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

use crate::exit::InputError;

/// Files at or above this size are not read by the content check.
pub const CONTENT_LIMIT: u64 = 1024 * 1024;

/// Names (or, with a `/`, paths relative to the staged folder) of secrets. A pattern without a
/// `/` matches a name at any depth; a folder that matches is left out with everything in it.
const SECRET_NAMES: &[&str] = &[
    // Cloud providers and their command-line tools.
    ".aws",
    ".azure",
    "*.publishsettings",
    ".config/gcloud",
    "**/.config/gcloud",
    "application_default_credentials.json",
    "service-account*.json",
    "*-service-account.json",
    "firebase-adminsdk*.json",
    "client_secret*.json",
    "credentials.json",
    "credentials.csv",
    "accesskeys.csv",
    "*_accesskeys.csv",
    "rootkey.csv",
    ".boto",
    ".s3cfg",
    ".passwd-s3fs",
    "passwd-s3fs",
    "rclone.conf",
    ".oci",
    ".aliyun",
    "**/.config/doctl",
    ".databrickscfg",
    ".kaggle",
    "kaggle.json",
    "**/.huggingface/token",
    "**/huggingface/token",
    "token.pickle",
    "token.json",
    ".vault-token",
    ".vault_pass",
    ".vault_pass.txt",
    "vault_pass.txt",
    ".vault-password",
    // Containers, clusters and CI.
    "**/.docker/config.json",
    ".dockercfg",
    ".kube",
    "kubeconfig",
    "kubeconfig.yaml",
    "kubeconfig.yml",
    "*.kubeconfig",
    ".git-credentials",
    ".gitcredentials",
    "**/.config/gh/hosts.yml",
    "**/.config/hub",
    "**/.config/glab-cli",
    "credentials.xml",
    "hudson.util.secret",
    ".travis/*.enc",
    ".credentials",
    "credentials.yml",
    "credentials.yaml",
    "credentials.toml",
    "credentials.yml.enc",
    // Package managers and registries.
    ".npmrc",
    ".yarnrc",
    ".yarnrc.yml",
    ".pypirc",
    ".netrc",
    "_netrc",
    "**/.cargo/credentials",
    "**/.cargo/credentials.toml",
    "**/.gem/credentials",
    "**/.composer/auth.json",
    "auth.json",
    "**/.m2/settings.xml",
    "settings-security.xml",
    "**/.gradle/gradle.properties",
    "**/.rattler/credentials.json",
    "**/rattler/credentials.json",
    "**/.conda/credentials*",
    // SSH, TLS, PGP and Java key material.
    ".ssh",
    "id_rsa*",
    "id_dsa*",
    "id_ecdsa*",
    "id_ed25519*",
    "*_rsa",
    "*_dsa",
    "*_ecdsa",
    "*_ed25519",
    "ssh_host_*",
    "*.ppk",
    "*.pem",
    "*.key",
    "*.p8",
    "*.p12",
    "*.pfx",
    "*.pkcs12",
    "*.jks",
    "*.jceks",
    "*.bks",
    "*.keystore",
    "keystore.properties",
    "*.keytab",
    "*.keychain",
    "*.keychain-db",
    ".gnupg",
    "*.gpg",
    "*.pgp",
    "secring*",
    "private-keys-v1.d",
    ".erlang.cookie",
    // Database clients.
    ".pgpass",
    "pgpass.conf",
    ".pg_service.conf",
    ".my.cnf",
    ".mylogin.cnf",
    "cqlshrc",
    "credentials-config.json",
    "database.yml",
    "robomongo.json",
    "robo3t.json",
    "sftp-config.json",
    ".ftpconfig",
    "sitemanager.xml",
    "recentservers.xml",
    ".smbcredentials",
    ".msmtprc",
    ".fetchmailrc",
    // Infrastructure as code.
    "*.tfstate",
    "*.tfstate.*",
    "*.tfvars",
    "*.tfvars.json",
    ".terraform",
    ".terraformrc",
    "terraform.rc",
    // Shell and REPL histories.
    ".*history",
    ".histfile",
    "fish_history",
    "repl_history.jl",
    ".lesshst",
    ".viminfo",
    ".dbshell",
    "**/.ipython/**/history.sqlite",
    // VPN profiles.
    "*.ovpn",
    "*.tblk",
    "wg[0-9]*.conf",
    // Password stores.
    "*.kdbx",
    "*.kdb",
    ".password-store",
    "*.agilekeychain",
    "*.opvault",
    "*.1pif",
    "*.psafe3",
    // Web servers and web applications.
    ".htpasswd",
    "htpasswd",
    "*.htpasswd",
    "wp-config.php",
    "localsettings.php",
    ".dev.vars",
    // Application secrets.
    ".env",
    ".env.*",
    "*.env",
    ".envrc",
    ".secrets",
    "secrets",
    "secrets.*",
    "*.secret",
    "*.secrets",
    "**/etc/shadow",
];

/// Shared templates that the list above would otherwise catch (`.env.example`, `secrets.toml.dist`).
const TEMPLATES: &[&str] = &[
    "*.example",
    "*.sample",
    "*.template",
    "*.tmpl",
    "*.dist",
    "*.example.*",
    "*.sample.*",
    "*.template.*",
    "example.env",
    "sample.env",
    "template.env",
];

/// The compiled name deny-list.
#[derive(Debug, Clone)]
pub struct SecretNames {
    names: GlobSet,
    templates: GlobSet,
}

impl SecretNames {
    pub fn new() -> anyhow::Result<Self> {
        Ok(Self {
            names: compile_case_insensitive(SECRET_NAMES).context("built-in secret patterns")?,
            templates: compile_case_insensitive(TEMPLATES).context("built-in template patterns")?,
        })
    }

    /// Whether `rel` (relative to the staged folder) is a secret by its name or path.
    pub fn is_secret(&self, rel: &Path) -> bool {
        self.names.is_match(rel) && !self.templates.is_match(rel)
    }
}

fn compile_case_insensitive(patterns: &[&str]) -> anyhow::Result<GlobSet> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        let full = if pattern.contains('/') {
            (*pattern).to_string()
        } else {
            format!("**/{pattern}")
        };
        let glob = GlobBuilder::new(&full)
            .case_insensitive(true)
            .literal_separator(true)
            .build()
            .with_context(|| format!("invalid pattern `{pattern}`"))?;
        builder.add(glob);
    }
    builder.build().context("failed to compile patterns")
}

/// Which characters a token's body may use.
#[derive(Debug, Clone, Copy)]
enum Alphabet {
    /// `A-Z 0-9`
    UpperAlnum,
    /// `A-Z a-z 0-9`
    Alnum,
    /// `A-Z a-z`
    Alpha,
    /// `A-Z a-z 0-9 _ -`
    UrlSafe,
    /// `A-Z a-z 0-9 _`
    Word,
    /// `0-9 a-f`
    LowerHex,
    /// `A-Z a-z 0-9 + / =`
    Base64,
    /// The upper-case bech32 alphabet.
    Bech32Upper,
    /// `A-Z a-z 0-9 _ - . /` (URL path segments)
    Path,
}

impl Alphabet {
    fn contains(self, b: u8) -> bool {
        match self {
            Alphabet::UpperAlnum => b.is_ascii_uppercase() || b.is_ascii_digit(),
            Alphabet::Alnum => b.is_ascii_alphanumeric(),
            Alphabet::Alpha => b.is_ascii_alphabetic(),
            Alphabet::UrlSafe => b.is_ascii_alphanumeric() || b == b'_' || b == b'-',
            Alphabet::Word => b.is_ascii_alphanumeric() || b == b'_',
            Alphabet::LowerHex => b.is_ascii_digit() || (b'a'..=b'f').contains(&b),
            Alphabet::Base64 => b.is_ascii_alphanumeric() || b == b'+' || b == b'/' || b == b'=',
            Alphabet::Bech32Upper => b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L".contains(&b),
            Alphabet::Path => b.is_ascii_alphanumeric() || b"_-./".contains(&b),
        }
    }
}

/// A token format: a fixed prefix, then `min..=max` characters of one alphabet. With `exact`, the
/// body must end there (the next byte is outside the alphabet), so `max` is a real bound.
struct TokenRule {
    name: &'static str,
    prefix: &'static [u8],
    alphabet: Alphabet,
    min: usize,
    max: usize,
    exact: bool,
    /// The byte before the prefix must not be a letter or digit.
    word_start: bool,
    /// The body starts with this many digits (Slack tokens start with a team or user number).
    lead_digits: usize,
}

const fn rule(
    name: &'static str,
    prefix: &'static str,
    alphabet: Alphabet,
    min: usize,
    max: usize,
) -> TokenRule {
    TokenRule {
        name,
        prefix: prefix.as_bytes(),
        alphabet,
        min,
        max,
        exact: true,
        word_start: true,
        lead_digits: 0,
    }
}

const fn at_least(
    name: &'static str,
    prefix: &'static str,
    alphabet: Alphabet,
    min: usize,
) -> TokenRule {
    TokenRule {
        name,
        prefix: prefix.as_bytes(),
        alphabet,
        min,
        max: usize::MAX,
        exact: false,
        word_start: true,
        lead_digits: 0,
    }
}

const fn anywhere(mut r: TokenRule) -> TokenRule {
    r.word_start = false;
    r
}

const fn digits_first(mut r: TokenRule, n: usize) -> TokenRule {
    r.lead_digits = n;
    r
}

use Alphabet::*;

/// Token formats with a prefix specific enough that a match is almost certainly a credential.
const TOKEN_RULES: &[TokenRule] = &[
    rule("AWS access key ID", "AKIA", UpperAlnum, 16, 16),
    rule("AWS temporary access key ID", "ASIA", UpperAlnum, 16, 16),
    rule("AWS access key ID", "ABIA", UpperAlnum, 16, 16),
    rule("AWS access key ID", "ACCA", UpperAlnum, 16, 16),
    rule("GitHub personal access token", "ghp_", Alnum, 36, 255),
    rule("GitHub OAuth token", "gho_", Alnum, 36, 255),
    rule("GitHub user-to-server token", "ghu_", Alnum, 36, 255),
    rule("GitHub server-to-server token", "ghs_", Alnum, 36, 255),
    rule("GitHub refresh token", "ghr_", Alnum, 36, 255),
    at_least("GitHub fine-grained token", "github_pat_", Word, 60),
    at_least("GitLab personal access token", "glpat-", UrlSafe, 20),
    at_least("GitLab deploy token", "gldt-", UrlSafe, 20),
    at_least("GitLab runner token", "glrt-", UrlSafe, 20),
    rule("GitLab pipeline trigger token", "glptt-", LowerHex, 40, 40),
    digits_first(at_least("Slack bot token", "xoxb-", UrlSafe, 10), 8),
    digits_first(at_least("Slack app token", "xoxa-", UrlSafe, 10), 1),
    digits_first(at_least("Slack user token", "xoxp-", UrlSafe, 10), 8),
    digits_first(at_least("Slack refresh token", "xoxr-", UrlSafe, 10), 1),
    digits_first(at_least("Slack session token", "xoxs-", UrlSafe, 10), 1),
    digits_first(
        at_least("Slack configuration token", "xoxe-", UrlSafe, 10),
        1,
    ),
    anywhere(at_least(
        "Slack webhook",
        "hooks.slack.com/services/T",
        Path,
        20,
    )),
    at_least("Stripe live secret key", "sk_live_", Alnum, 20),
    at_least("Stripe live restricted key", "rk_live_", Alnum, 20),
    rule("Google API key", "AIza", UrlSafe, 35, 35),
    rule("Google OAuth client secret", "GOCSPX-", UrlSafe, 28, 28),
    rule("npm access token", "npm_", Alnum, 36, 36),
    at_least("PyPI API token", "pypi-AgE", UrlSafe, 50),
    rule("Hugging Face token", "hf_", Alpha, 34, 34),
    at_least("OpenAI project key", "sk-proj-", UrlSafe, 40),
    at_least("Anthropic API key", "sk-ant-api", UrlSafe, 80),
    rule("Shopify access token", "shpat_", LowerHex, 32, 32),
    rule("Shopify shared secret", "shpss_", LowerHex, 32, 32),
    rule("DigitalOcean token", "dop_v1_", LowerHex, 64, 64),
    rule("DigitalOcean OAuth token", "doo_v1_", LowerHex, 64, 64),
    at_least("Docker Hub access token", "dckr_pat_", UrlSafe, 27),
    anywhere(at_least("Terraform Cloud token", ".atlasv1.", UrlSafe, 60)),
    at_least("HashiCorp Vault token", "hvs.", UrlSafe, 90),
    at_least("Doppler token", "dp.pt.", Alnum, 40),
    rule("Databricks token", "dapi", LowerHex, 32, 32),
    rule("Linear API key", "lin_api_", Alnum, 40, 40),
    at_least("Grafana service account token", "glsa_", Word, 40),
    rule("age secret key", "AGE-SECRET-KEY-1", Bech32Upper, 58, 58),
    anywhere(at_least(
        "Azure storage account key",
        "AccountKey=",
        Base64,
        80,
    )),
    at_least("Square access token", "sq0atp-", UrlSafe, 22),
    at_least("Square OAuth secret", "sq0csp-", UrlSafe, 40),
    at_least("Postman API key", "PMAK-", UrlSafe, 59),
];

/// Why the content check excluded a file (the kind of secret, never the secret).
pub fn content_finding(data: &[u8]) -> Option<&'static str> {
    let head = &data[..data.len().min(8192)];
    if head.contains(&0) {
        // Binary: key stores and the like are caught by their names.
        return None;
    }
    let mut first = [false; 256];
    for r in TOKEN_RULES {
        first[usize::from(r.prefix[0])] = true;
    }
    for (i, &b) in data.iter().enumerate() {
        if b == b'-' && private_key_block(&data[i..]) {
            return Some("private key");
        }
        if b == b'P' && data[i..].starts_with(b"PuTTY-User-Key-File-") {
            return Some("PuTTY private key");
        }
        if b == b'S' && sendgrid_key(data, i) {
            return Some("SendGrid API key");
        }
        if !first[usize::from(b)] {
            continue;
        }
        for r in TOKEN_RULES {
            if r.prefix[0] == b && token_at(r, data, i) {
                return Some(r.name);
            }
        }
    }
    None
}

fn token_at(r: &TokenRule, data: &[u8], at: usize) -> bool {
    if !data[at..].starts_with(r.prefix) {
        return false;
    }
    if r.word_start && at > 0 && data[at - 1].is_ascii_alphanumeric() {
        return false;
    }
    let body = &data[at + r.prefix.len()..];
    let len = body
        .iter()
        .take(r.max.saturating_add(1))
        .take_while(|b| r.alphabet.contains(**b))
        .count();
    if len < r.min || (r.exact && len > r.max) {
        return false;
    }
    let body = &body[..len];
    body.iter().take(r.lead_digits).all(u8::is_ascii_digit) && !placeholder(body)
}

/// Documentation writes tokens as `glpat-xxxxxxxxxxxxxxxxxxxx` or `AKIAXXXXXXXXXXXXXXXX`: a body
/// made of a handful of distinct characters is a placeholder, not a credential.
fn placeholder(body: &[u8]) -> bool {
    const MIN_DISTINCT: usize = 6;
    let mut seen = [false; 256];
    let mut distinct = 0;
    for &b in body {
        if !seen[usize::from(b)] {
            seen[usize::from(b)] = true;
            distinct += 1;
            if distinct >= MIN_DISTINCT {
                return false;
            }
        }
    }
    true
}

/// SendGrid keys: `SG.`, 22 characters, `.`, 43 characters.
fn sendgrid_key(data: &[u8], at: usize) -> bool {
    const PREFIX: &[u8] = b"SG.";
    if !data[at..].starts_with(PREFIX) || (at > 0 && data[at - 1].is_ascii_alphanumeric()) {
        return false;
    }
    let body = &data[at + PREFIX.len()..];
    let run = |from: usize| {
        body.get(from..).map_or(0, |rest| {
            rest.iter()
                .take_while(|b| Alphabet::UrlSafe.contains(**b))
                .count()
        })
    };
    run(0) == 22 && body.get(22) == Some(&b'.') && run(23) == 43 && !placeholder(&body[..22])
}

/// `-----BEGIN ... PRIVATE KEY...-----`, then key material, then `-----END`: the material is
/// required so that code that merely names the header (a PEM parser) is not taken for a key.
fn private_key_block(data: &[u8]) -> bool {
    const BEGIN: &[u8] = b"-----BEGIN ";
    if !data.starts_with(BEGIN) {
        return false;
    }
    let rest = &data[BEGIN.len()..];
    let Some(header_len) = find(&rest[..rest.len().min(64)], b"-----") else {
        return false;
    };
    let header = &rest[..header_len];
    if find(header, b"PRIVATE KEY").is_none() {
        return false;
    }
    let body = &rest[header_len + 5..];
    let body = &body[..body.len().min(64 * 1024)];
    let Some(end) = find(body, b"-----END") else {
        return false;
    };
    let material = body[..end]
        .iter()
        .filter(|b| Alphabet::Base64.contains(**b))
        .count();
    material >= 64
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

/// Reads `path` when it is a file under [`CONTENT_LIMIT`] and runs [`content_finding`] on it.
pub fn file_content_finding(path: &Path) -> anyhow::Result<Option<&'static str>> {
    // Opened once, without following a link: what is scanned is the file the walk saw.
    let (file, meta) = crate::fsutil::open_no_follow(path)?;
    if meta.len() >= CONTENT_LIMIT {
        return Ok(None);
    }
    let mut data = Vec::with_capacity(usize::try_from(meta.len()).unwrap_or(0));
    file.take(CONTENT_LIMIT)
        .read_to_end(&mut data)
        .with_context(|| format!("failed to read `{}`", path.display()))?;
    Ok(content_finding(&data))
}

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
fn channel_token(segment: &str) -> bool {
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

fn is_placeholder(value: &str) -> bool {
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

#[cfg(test)]
mod tests {
    use super::*;

    // Tokens are assembled at run time so that this file does not itself look like a leak.
    fn tok(prefix: &str, body: &str) -> String {
        format!("{prefix}{body}")
    }

    #[test]
    fn names_are_matched_case_insensitively_at_any_depth() {
        let s = SecretNames::new().unwrap();
        for secret in [
            ".env",
            ".ENV",
            "sub/.env.production",
            "Secrets.TOML",
            "deep/down/ID_RSA",
            "keys/id_ed25519.pub",
            "a/.ssh",
            "certs/Server.PEM",
            ".aws",
            "x/.docker/config.json",
            ".cargo/credentials.toml",
            "home/.gem/credentials",
            "infra/prod.tfstate",
            "infra/terraform.tfstate.backup",
            "infra/prod.tfvars",
            ".bash_history",
            ".python_history",
            ".Rhistory",
            "office.ovpn",
            "vault.kdbx",
            ".password-store",
            "site/.htpasswd",
            "app/.my.cnf",
            "wg0.conf",
            "prod.env",
        ] {
            assert!(s.is_secret(Path::new(secret)), "{secret}");
        }
        for kept in [
            ".env.example",
            ".env.sample",
            ".ENV.Template",
            "secrets.toml.example",
            "secrets_test.py",
            "keys.py",
            "keyboard.py",
            "tokenizer.json",
            "README.md",
            "environment.yml",
            ".docker/other.json",
            "docs/history.md",
            "pixi.toml",
            "certs/ca.crt",
            "wg.conf.md",
            "src/secrets_manager/__init__.py",
        ] {
            assert!(!s.is_secret(Path::new(kept)), "{kept}");
        }
    }

    #[test]
    fn token_formats() {
        let hits = [
            tok("AKIA", "FAKEFAKE0EXAMPLE"),
            tok(
                "SG.",
                "FAKEfake0000FAKEfake00.FAKEfake0000FAKEfake0000FAKEfake0000FAKEfak",
            ),
            tok("ghp_", &"FAKEfake0000".repeat(3)),
            tok("github_pat_", &"Fake_0".repeat(12)),
            tok("glpat-", "FakeFakeFake-0000000"),
            tok("xoxb-", "0000000000-fake"),
            tok(
                "https://hooks.slack.com/services/",
                "T0000/B0000/FAKEFAKEFAKE",
            ),
            tok("sk_live_", "FAKEfake0000FAKEfake0000"),
            tok("AIza", &"Fake_0-".repeat(5)),
            tok("npm_", &"FAKEfake0000".repeat(3)),
            tok("pypi-", &format!("AgE{}", "FAKEfake00".repeat(6))),
        ];
        for text in &hits {
            let line = format!("token = \"{text}\"\n");
            assert!(content_finding(line.as_bytes()).is_some(), "{text}");
        }
        for text in [
            "the key id starts with AKIA and is 20 characters long",
            "pattern = r'ghp_[A-Za-z0-9]{36}'",
            &tok("AKIA", "FAKEFAKE0EXAMPLEFAKE"),
            &tok("xAKIA", "FAKEFAKE0EXAMPLE"),
            &tok("AKIA", "XXXXXXXXXXXXXXXX"),
            &tok("glpat-", "xxxxxxxxxxxxxxxxxxxx"),
            &tok("xoxb-", "your-bot-token-here"),
            &tok(
                "https://SG.",
                "example.org/a/long/path/that/goes/on/and/on/and/on/for/a/while",
            ),
            &tok("sk_test_", "FAKEfake0000FAKEfake0000"),
            "import hf_hub; hf_hub_download()",
        ] {
            assert_eq!(content_finding(text.as_bytes()), None, "{text}");
        }
    }

    #[test]
    fn private_key_blocks_need_material() {
        let begin = tok("-----BEGIN RSA ", "PRIVATE KEY-----");
        let end = tok("-----END RSA ", "PRIVATE KEY-----");
        let key = format!("{begin}\n{}\n{end}\n", "FAKEKEY0".repeat(12));
        assert_eq!(content_finding(key.as_bytes()), Some("private key"));
        let parser = format!("if line == \"{begin}\": pass\nelif line == \"{end}\": pass\n");
        assert_eq!(content_finding(parser.as_bytes()), None);
        let public = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            "FAKEKEY0".repeat(12)
        );
        assert_eq!(content_finding(public.as_bytes()), None);
        let binary = format!("\0{key}");
        assert_eq!(content_finding(binary.as_bytes()), None);
    }

    #[test]
    fn url_credentials() {
        let text = "\
[mirrors]
\"https://a.example\" = [\"https://user:hunter2@mirror.example/conda\"]
ok = \"https://mirror.example/path@v1\"
tok = \"https://abc123@git.example/repo.git\"
ssh = \"git+ssh://git@git.example/repo.git\"
env = \"https://user:${PASSWORD}@mirror.example\"
email = \"someone@example.org\"
pep508 = \"pkg @ https://files.example/pkg.whl\"
";
        let hits = scan_url_credentials(text);
        let lines: Vec<usize> = hits.iter().map(|h| h.line).collect();
        assert_eq!(lines, [2, 4]);
        assert_eq!(hits[0].masked, "https://***@mirror.example");
        for hit in &hits {
            assert!(!hit.masked.contains("hunter2") && !hit.masked.contains("abc123"));
        }
        // Channel tokens in the path; a forum topic and a placeholder are not tokens.
        let text = "\
channels = [\"https://conda.example/t/ab-12cd34ef-5678-90ab/private-channel\"]
url: https://conda.example/t/Zq81kLm0pX3vB7nQ/label/main/linux-64/pkg-1.0-0.conda
forum = \"https://discuss.example/t/how-to-stage-offline/1234\"
template = \"https://conda.example/t/<token>/channel\"
env = \"https://conda.example/t/${TOKEN}/channel\"
";
        let hits = scan_url_credentials(text);
        let lines: Vec<usize> = hits.iter().map(|h| h.line).collect();
        assert_eq!(lines, [1, 2], "{hits:?}");
        assert_eq!(hits[0].masked, "https://conda.example/t/***");
        assert!(!hits[1].masked.contains("Zq81"));
    }

    #[test]
    fn url_credentials_are_an_input_error_unless_allowed() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, "a = 1\nurl = \"https://u:s3cr3t@h.example/\"\n").unwrap();
        let files = [ScannedFile {
            label: ".pixi/config.toml".to_string(),
            path: Cow::Borrowed(&path),
        }];
        let err = check_url_credentials(&files, false).unwrap_err();
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        let message = format!("{err:#}");
        assert!(message.contains(".pixi/config.toml:2"), "{message}");
        assert!(!message.contains("s3cr3t"), "{message}");
        check_url_credentials(&files, true).unwrap();
        let missing = dir.path().join("missing");
        check_url_credentials(
            &[ScannedFile {
                label: "m".to_string(),
                path: Cow::Borrowed(&missing),
            }],
            false,
        )
        .unwrap();
    }
}
