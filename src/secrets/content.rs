//! The content check: private-key blocks and token formats specific enough to be trusted, in text
//! files under [`CONTENT_LIMIT`].

use std::io::Read;
use std::path::Path;

use anyhow::Context;

use super::*;

/// Which characters a token's body may use.
#[derive(Debug, Clone, Copy)]
pub(super) enum Alphabet {
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
pub(super) struct TokenRule {
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

pub(super) const fn rule(
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

pub(super) const fn at_least(
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

pub(super) const fn anywhere(mut r: TokenRule) -> TokenRule {
    r.word_start = false;
    r
}

pub(super) const fn digits_first(mut r: TokenRule, n: usize) -> TokenRule {
    r.lead_digits = n;
    r
}

use Alphabet::*;

/// Token formats with a prefix specific enough that a match is almost certainly a credential.
pub(super) const TOKEN_RULES: &[TokenRule] = &[
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

pub(super) fn token_at(r: &TokenRule, data: &[u8], at: usize) -> bool {
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
pub(super) fn placeholder(body: &[u8]) -> bool {
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
pub(super) fn sendgrid_key(data: &[u8], at: usize) -> bool {
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
pub(super) fn private_key_block(data: &[u8]) -> bool {
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

pub(super) fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
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
