//! The name deny-list: file and folder names of secrets, matched case-insensitively at any depth,
//! minus the templates meant to be shared.

use std::path::Path;

use anyhow::Context;
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};

/// Names (or, with a `/`, paths relative to the staged folder) of secrets. A pattern without a
/// `/` matches a name at any depth; a folder that matches is left out with everything in it.
pub(super) const SECRET_NAMES: &[&str] = &[
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
pub(super) const TEMPLATES: &[&str] = &[
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

pub(super) fn compile_case_insensitive(patterns: &[&str]) -> anyhow::Result<GlobSet> {
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
