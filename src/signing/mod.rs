//! SSH signatures over a product, in the format `ssh-keygen -Y sign` writes (SSHSIG, armored), so
//! that the receiving side can check them with nothing but OpenSSH. This module owns the three
//! things that format needs: reading a signing key (OpenSSH private key, a passphrase only from
//! [`PASSPHRASE_ENV`]), signing bytes in the [`NAMESPACE`] namespace, and checking a signature
//! against an OpenSSH allowed-signers file the way `ssh-keygen -Y verify` does.
//!
//! Of the allowed-signers format (`ssh-keygen(1)`, "ALLOWED SIGNERS") we read every line shape:
//! `PRINCIPALS [OPTIONS] KEYTYPE BASE64 [COMMENT]`, principals as comma-separated patterns (`*`,
//! `?`, `!negation`), and the options `namespaces="..."`, `valid-after="..."`, `valid-before="..."`
//! and `cert-authority`. A `cert-authority` line only ever vouches for certificates, and we
//! neither make nor accept certificate signatures, so such a line never matches (as in
//! `ssh-keygen` for a plain key). Any other option, or a line we cannot read, refuses the whole
//! file, as `ssh-keygen` does.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::Context;
use chrono::{DateTime, Local, NaiveDate, NaiveDateTime, TimeZone, Utc};
use ssh_key::{HashAlg, PrivateKey, PublicKey, SshSig};

use crate::exit::InputError;

/// The SSHSIG namespace of every signature we make or accept: a signature made for another
/// purpose (`git`, `file`) with the same key is not a product signature.
pub const NAMESPACE: &str = "pixi-airgap";

/// Where the passphrase of an encrypted signing key comes from (never from the command line,
/// where other users of the machine could read it).
pub const PASSPHRASE_ENV: &str = crate::settings::SIGN_PASSPHRASE.name;

/// The hash inside the signature: what `ssh-keygen -Y sign` uses by default.
const HASH: HashAlg = HashAlg::Sha512;

/// An OpenSSH private key, decrypted and known to sign, ready for [`SigningKey::sign`].
#[derive(Clone)]
pub struct SigningKey {
    key: Arc<PrivateKey>,
    path: PathBuf,
}

impl fmt::Debug for SigningKey {
    // Never the key material: only what names it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("path", &self.path)
            .field("fingerprint", &self.fingerprint())
            .finish()
    }
}

impl SigningKey {
    /// Reads the key at `path`, with the passphrase from [`PASSPHRASE_ENV`] when it is encrypted.
    pub fn load(path: &Path) -> anyhow::Result<Self> {
        let passphrase = std::env::var_os(PASSPHRASE_ENV);
        let passphrase = passphrase
            .as_ref()
            .map(|p| {
                p.to_str().ok_or_else(|| {
                    anyhow::Error::from(InputError::new(format!(
                        "{PASSPHRASE_ENV} is not valid UTF-8"
                    )))
                })
            })
            .transpose()?;
        Self::load_with(path, passphrase)
    }

    /// Reads the key at `path`; an encrypted one needs `passphrase`. Every way the key can be
    /// unusable (not a private key, encrypted without a passphrase, a wrong passphrase, a kind
    /// we cannot sign with) is an input error found here, before any work starts.
    pub fn load_with(path: &Path, passphrase: Option<&str>) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            InputError::new(format!(
                "failed to read the signing key `{}`",
                path.display()
            ))
            .with_source(err)
        })?;
        let key = PrivateKey::from_openssh(text.trim()).map_err(|err| {
            let trimmed = text.trim_start();
            let hint = if trimmed.starts_with("ssh-") || trimmed.starts_with("ecdsa-") {
                "this is a public key: signing takes the private key (the file without `.pub`)"
            } else {
                "a signing key is an OpenSSH private key, made with `ssh-keygen -t ed25519 -f KEY`; \
                 `ssh-keygen -p -f KEY` rewrites an older PEM key in that format (some ECDSA keys \
                 cannot be read here: use ed25519)"
            };
            InputError::new(format!(
                "`{}` is not an OpenSSH private key",
                path.display()
            ))
            .with_hint(hint)
            .with_source(err)
        })?;
        let key = if key.is_encrypted() {
            let Some(passphrase) = passphrase else {
                return Err(InputError::new(format!(
                    "the signing key `{}` is protected by a passphrase",
                    path.display()
                ))
                .with_hint(format!(
                    "put the passphrase in the environment variable {PASSPHRASE_ENV} (it is never \
                     read from the command line)"
                ))
                .into());
            };
            key.decrypt(passphrase).map_err(|err| {
                InputError::new(format!(
                    "could not decrypt the signing key `{}`: wrong passphrase in {PASSPHRASE_ENV}?",
                    path.display()
                ))
                .with_source(err)
            })?
        } else {
            key
        };
        if key.algorithm().is_rsa() {
            // ssh-key 0.6 builds the RSA private key from the wrong primes, so every RSA
            // signature fails; RSA signatures made by ssh-keygen still verify.
            return Err(InputError::new(format!(
                "cannot sign with `{}`: RSA keys are not supported for signing",
                path.display()
            ))
            .with_hint("use an ed25519 key (`ssh-keygen -t ed25519`) or an ECDSA key")
            .into());
        }
        let key = Self {
            key: Arc::new(key),
            path: path.to_path_buf(),
        };
        // A kind of key the library cannot sign with (a hardware `sk-` key, DSA) shows here,
        // not after the product is written.
        key.sign(b"").map_err(|err| {
            anyhow::Error::from(
                InputError::new(format!(
                    "cannot sign with `{}` ({} key)",
                    path.display(),
                    key.algorithm()
                ))
                .with_hint("use an ed25519 key (`ssh-keygen -t ed25519`) or an ECDSA key")
                .with_source(err),
            )
        })?;
        Ok(key)
    }

    /// `SHA256:...`, as `ssh-keygen -l` prints it.
    pub fn fingerprint(&self) -> String {
        self.key.fingerprint(HashAlg::Sha256).to_string()
    }

    /// The key type: `ssh-ed25519`, `ecdsa-sha2-nistp256`, `ssh-rsa`, ...
    pub fn algorithm(&self) -> String {
        self.key.algorithm().as_str().to_string()
    }

    /// The public key as one allowed-signers / authorized_keys field pair (`TYPE BASE64`).
    pub fn public_key(&self) -> anyhow::Result<String> {
        let mut public = self.key.public_key().clone();
        public.set_comment("");
        Ok(public
            .to_openssh()
            .context("failed to encode the public key")?
            .trim()
            .to_string())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Signs `message`: an armored SSHSIG (`-----BEGIN SSH SIGNATURE-----`), newline-terminated
    /// like the `.sig` files `ssh-keygen -Y sign` writes.
    pub fn sign(&self, message: &[u8]) -> anyhow::Result<String> {
        let signature = self
            .key
            .sign(NAMESPACE, HASH, message)
            .with_context(|| format!("failed to sign with `{}`", self.path.display()))?;
        let mut armored = signature
            .to_pem(ssh_key::LineEnding::LF)
            .context("failed to encode the signature")?;
        if !armored.ends_with('\n') {
            armored.push('\n');
        }
        Ok(armored)
    }
}

/// A signature that [`AllowedSigners::verify`] accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// The principals field of the allowed-signers line that vouched for the key.
    pub principals: String,
    /// `SHA256:...` of the key that made the signature.
    pub fingerprint: String,
}

/// An OpenSSH allowed-signers file, read and checked once.
#[derive(Debug, Clone)]
pub struct AllowedSigners {
    source: String,
    entries: Vec<Entry>,
}

#[derive(Debug, Clone)]
struct Entry {
    line: usize,
    principals: String,
    cert_authority: bool,
    namespaces: Option<String>,
    valid_after: Option<DateTime<Utc>>,
    valid_before: Option<DateTime<Utc>>,
    key: PublicKey,
}

impl AllowedSigners {
    /// Reads an allowed-signers file.
    pub fn read(path: &Path) -> anyhow::Result<Self> {
        let text = std::fs::read_to_string(path).map_err(|err| {
            InputError::new(format!(
                "failed to read the allowed-signers file `{}`",
                path.display()
            ))
            .with_source(err)
        })?;
        Self::parse(&text, &path.display().to_string())
    }

    /// Parses allowed-signers text; `source` names it in messages. A line we cannot read refuses
    /// the whole file (naming the line), so that a typo never silently drops a signer's
    /// restrictions. A file with no signer at all is refused too.
    pub fn parse(text: &str, source: &str) -> anyhow::Result<Self> {
        let mut entries = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let entry = parse_line(line, index + 1).map_err(|why| {
                anyhow::Error::from(
                    InputError::new(format!("{source}:{}: {why}", index + 1)).with_hint(
                        "a line is `PRINCIPALS [namespaces=\"pixi-airgap\"] KEYTYPE BASE64 [COMMENT]`, \
                         see ssh-keygen(1), ALLOWED SIGNERS",
                    ),
                )
            })?;
            entries.push(entry);
        }
        if entries.is_empty() {
            return Err(InputError::new(format!("{source} names no signer")).into());
        }
        Ok(Self {
            source: source.to_string(),
            entries,
        })
    }

    /// Checks `signature` (armored SSHSIG) over `message` as `ssh-keygen -Y verify -n pixi-airgap`
    /// does: made in our namespace, by a key that a line of the file allows for that namespace
    /// at `now`, and valid. With `identity`, that line's principals must match it (`-I ID`);
    /// without, any line with the key will do (as `ssh-keygen -Y find-principals` finds it).
    /// Every refusal is an input error (exit 2) saying why.
    pub fn verify(
        &self,
        message: &[u8],
        signature: &str,
        identity: Option<&str>,
        now: DateTime<Utc>,
    ) -> anyhow::Result<Verified> {
        let refused = |why: String| anyhow::Error::from(InputError::new(why));
        let sig = SshSig::from_pem(signature.trim()).map_err(|err| {
            anyhow::Error::from(
                InputError::new("the signature is not an armored SSH signature").with_source(err),
            )
        })?;
        if sig.namespace() != NAMESPACE {
            return Err(refused(format!(
                "the signature was made for the namespace `{}`, not `{NAMESPACE}`",
                sig.namespace()
            )));
        }
        let signer = PublicKey::from(sig.public_key().clone());
        let fingerprint = signer.fingerprint(HashAlg::Sha256).to_string();
        signer.verify(NAMESPACE, message, &sig).map_err(|err| {
            anyhow::Error::from(
                InputError::new(format!(
                    "the signature (key {fingerprint}) does not match the signed file: it changed \
                     after signing, or the signature belongs to another file"
                ))
                .with_source(err),
            )
        })?;
        let mut near_misses = Vec::new();
        for entry in &self.entries {
            if entry.cert_authority || entry.key.key_data() != signer.key_data() {
                continue;
            }
            if let Some(id) = identity {
                if match_pattern_list(id, &entry.principals) != Some(true) {
                    continue;
                }
            }
            if let Some(namespaces) = &entry.namespaces {
                if match_pattern_list(NAMESPACE, namespaces) != Some(true) {
                    near_misses.push(format!(
                        "line {} does not allow the namespace `{NAMESPACE}`",
                        entry.line
                    ));
                    continue;
                }
            }
            if entry.valid_after.is_some_and(|t| now < t) {
                near_misses.push(format!("line {} is not valid yet", entry.line));
                continue;
            }
            if entry.valid_before.is_some_and(|t| now > t) {
                near_misses.push(format!("line {} has expired", entry.line));
                continue;
            }
            return Ok(Verified {
                principals: entry.principals.clone(),
                fingerprint,
            });
        }
        let whom = match identity {
            Some(id) => format!("for the identity `{id}`"),
            None => "for any principal".to_string(),
        };
        let mut why = format!(
            "the key that made the signature ({fingerprint}) is not allowed {whom} in {}",
            self.source
        );
        if !near_misses.is_empty() {
            why.push_str(&format!(" ({})", near_misses.join("; ")));
        }
        Err(refused(why))
    }
}

/// One non-empty, non-comment line: principals, options (when the text after the principals is
/// not a key), key.
fn parse_line(line: &str, number: usize) -> Result<Entry, String> {
    let (principals, rest) = split_field(line);
    if rest.is_empty() {
        return Err("a principal and no key".to_string());
    }
    let (options, key_text) = match parse_key(rest) {
        Ok(key) => (None, key),
        Err(_) => {
            let (options, key_text) = split_options(rest)?;
            (
                Some(options),
                parse_key(key_text).map_err(|why| format!("not a public key: {why}"))?,
            )
        }
    };
    let mut entry = Entry {
        line: number,
        principals: principals.to_string(),
        cert_authority: false,
        namespaces: None,
        valid_after: None,
        valid_before: None,
        key: key_text,
    };
    if let Some(options) = options {
        for option in split_options_list(options)? {
            let (name, value) = match option.split_once('=') {
                Some((name, value)) => (name, Some(dequote(value)?)),
                None => (option, None),
            };
            match (name.to_ascii_lowercase().as_str(), value) {
                ("cert-authority", None) => entry.cert_authority = true,
                ("namespaces", Some(v)) => entry.namespaces = Some(v),
                ("valid-after", Some(v)) => entry.valid_after = Some(parse_time(&v)?),
                ("valid-before", Some(v)) => entry.valid_before = Some(parse_time(&v)?),
                _ => return Err(format!("unknown or malformed option `{option}`")),
            }
        }
    }
    Ok(entry)
}

/// The first whitespace-separated field and the trimmed rest.
fn split_field(text: &str) -> (&str, &str) {
    match text.find(char::is_whitespace) {
        Some(at) => (&text[..at], text[at..].trim_start()),
        None => (text, ""),
    }
}

/// The options field (up to the first blank outside double quotes) and the rest.
fn split_options(text: &str) -> Result<(&str, &str), String> {
    let mut quoted = false;
    for (at, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            c if c.is_whitespace() && !quoted => return Ok((&text[..at], text[at..].trim_start())),
            _ => {}
        }
    }
    if quoted {
        Err("an option value has no closing quote".to_string())
    } else {
        Err("no public key after the options".to_string())
    }
}

/// The options, split at commas outside double quotes.
fn split_options_list(text: &str) -> Result<Vec<&str>, String> {
    let mut options = Vec::new();
    let mut quoted = false;
    let mut start = 0;
    for (at, c) in text.char_indices() {
        match c {
            '"' => quoted = !quoted,
            ',' if !quoted => {
                options.push(&text[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    options.push(&text[start..]);
    if options.iter().any(|o| o.is_empty()) {
        return Err(format!("an empty option in `{text}`"));
    }
    Ok(options)
}

/// An option value: OpenSSH requires the double quotes.
fn dequote(value: &str) -> Result<String, String> {
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .filter(|v| !v.contains('"'))
        .map(str::to_string)
        .ok_or_else(|| format!("the option value {value} is not in double quotes"))
}

/// `KEYTYPE BASE64 [COMMENT]`, blanks of any kind and length between the fields.
fn parse_key(text: &str) -> Result<PublicKey, String> {
    let mut fields = text.split_whitespace();
    let (Some(kind), Some(data)) = (fields.next(), fields.next()) else {
        return Err("expected KEYTYPE BASE64".to_string());
    };
    PublicKey::from_openssh(&format!("{kind} {data}")).map_err(|err| err.to_string())
}

/// `YYYYMMDD[Z]`, `YYYYMMDDHHMM[Z]` or `YYYYMMDDHHMMSS[Z]`: UTC with the `Z`, local time
/// without, as OpenSSH reads validity times.
fn parse_time(text: &str) -> Result<DateTime<Utc>, String> {
    let bad = || format!("`{text}` is not a time (YYYYMMDD[HHMM[SS]][Z])");
    let (digits, utc) = match text.strip_suffix(['Z', 'z']) {
        Some(d) => (d, true),
        None => (text, false),
    };
    if !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let naive = match digits.len() {
        8 => NaiveDate::parse_from_str(digits, "%Y%m%d")
            .ok()
            .and_then(|d| d.and_hms_opt(0, 0, 0)),
        12 => NaiveDateTime::parse_from_str(digits, "%Y%m%d%H%M").ok(),
        14 => NaiveDateTime::parse_from_str(digits, "%Y%m%d%H%M%S").ok(),
        _ => None,
    }
    .ok_or_else(bad)?;
    if utc {
        Ok(Utc.from_utc_datetime(&naive))
    } else {
        Local
            .from_local_datetime(&naive)
            .earliest()
            .map(|t| t.with_timezone(&Utc))
            .ok_or_else(bad)
    }
}

/// OpenSSH's `match_pattern_list`: `Some(true)` when a pattern of the comma-separated `list`
/// matches `text`, `Some(false)` when a negated one (`!pattern`) does (a negation always wins),
/// `None` when none does.
fn match_pattern_list(text: &str, list: &str) -> Option<bool> {
    let mut positive = None;
    for pattern in list.split(',') {
        let (negated, pattern) = match pattern.strip_prefix('!') {
            Some(p) => (true, p),
            None => (false, pattern),
        };
        if match_pattern(text.as_bytes(), pattern.as_bytes()) {
            if negated {
                return Some(false);
            }
            positive = Some(true);
        }
    }
    positive
}

/// `*` any run of bytes, `?` one byte, anything else itself (case-sensitive).
fn match_pattern(text: &[u8], pattern: &[u8]) -> bool {
    match pattern.split_first() {
        None => text.is_empty(),
        Some((b'*', rest)) => (0..=text.len()).any(|skip| match_pattern(&text[skip..], rest)),
        Some((&p, rest)) => match text.split_first() {
            Some((&t, text_rest)) if p == b'?' || p == t => match_pattern(text_rest, rest),
            _ => false,
        },
    }
}

#[cfg(test)]
mod tests;
