//! Where settings read from the environment are declared: every `PIXI_AIRGAP_*` variable this
//! binary reads, once, with what it does and its default. The readers take the name from here;
//! the top-level `--help` lists them from [`ALL`], and the README's table is checked against it
//! (the test below). A setting that is a flag's default is read by clap (`#[arg(env = ...)]` in
//! `cli`), and the flag's own `--help` shows it too.
//!
//! The product's shell scripts read variables of their own on the receiving machine
//! (`PIXI_AIRGAP_PRODUCT_DIR`, `PIXI_AIRGAP_SKIP_CHECK`, ...); those are documented with the
//! scripts, not here. Nothing here names a flag: the subcommands' `--help` says which flag a
//! variable stands for.

/// One environment variable the binary reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setting {
    pub name: &'static str,
    /// What it does, in the words of `--help` and the README (one line).
    pub about: &'static str,
    /// What applies when it is not set.
    pub default: &'static str,
}

impl Setting {
    /// The setting as a whole number, `None` when it is not set; a value that is not one is an
    /// error naming the variable and its value: "NAME=`value` is not `what`".
    pub fn whole_number(&self, what: &str) -> Result<Option<u64>, String> {
        match std::env::var(self.name) {
            Ok(value) => value
                .trim()
                .parse::<u64>()
                .map(Some)
                .map_err(|_| format!("{}=`{value}` is not {what}", self.name)),
            Err(_) => Ok(None),
        }
    }
}

pub const CONTAINER_MAX_LIFE: Setting = Setting {
    name: "PIXI_AIRGAP_CONTAINER_MAX_LIFE",
    about: "how long a container we create may live before it ends by itself: seconds, or with s, m, h or d (90m, 24h, 2d)",
    default: "24h",
};

pub const MAX_LOG_BYTES: Setting = Setting {
    name: "PIXI_AIRGAP_MAX_LOG_BYTES",
    about: "the most bytes of one command's output kept in its log (then a note of what was cut, and the last 64 KiB)",
    default: "16777216 (16 MiB)",
};

pub const MAX_EXTRACT_BYTES: Setting = Setting {
    name: "PIXI_AIRGAP_MAX_EXTRACT_BYTES",
    about: "the most bytes a container may hand back in one copy back",
    default: "274877906944 (256 GiB)",
};

pub const MAX_EXTRACT_ENTRIES: Setting = Setting {
    name: "PIXI_AIRGAP_MAX_EXTRACT_ENTRIES",
    about: "the most tar entries a container may hand back in one copy back",
    default: "5000000",
};

pub const CACHE_LINKS: Setting = Setting {
    name: "PIXI_AIRGAP_CACHE_LINKS",
    about: "1: the product hard-links package files from the workdir's cache; 0: copies them",
    default: "1",
};

pub const SIGN_PASSPHRASE: Setting = Setting {
    name: "PIXI_AIRGAP_SIGN_PASSPHRASE",
    about: "the passphrase of an encrypted signing key (never taken from the command line)",
    default: "none: an encrypted key is refused",
};

pub const SIGN_KEY: Setting = Setting {
    name: "PIXI_AIRGAP_SIGN_KEY",
    about: "make-product, pack: sign the product with this OpenSSH private key",
    default: "unsigned",
};

pub const ALLOWED_SIGNERS: Setting = Setting {
    name: "PIXI_AIRGAP_ALLOWED_SIGNERS",
    about: "verify-product: check the product's signature against this allowed-signers file first",
    default: "no signature check",
};

pub const NO_WAIT: Setting = Setting {
    name: "PIXI_AIRGAP_NO_WAIT",
    about: "stage-host, stage-container, make-product, pack: true (1) exits 2 when another run holds the workdir or product folder; false (0) waits",
    default: "false: wait",
};

/// Every setting, in the order `--help` and the README list them.
pub const ALL: [Setting; 9] = [
    CONTAINER_MAX_LIFE,
    MAX_LOG_BYTES,
    MAX_EXTRACT_BYTES,
    MAX_EXTRACT_ENTRIES,
    CACHE_LINKS,
    SIGN_PASSPHRASE,
    SIGN_KEY,
    ALLOWED_SIGNERS,
    NO_WAIT,
];

/// The list in the top-level `--help`: one setting a paragraph, name and default, then what it
/// does.
pub fn help() -> String {
    let mut text = String::from("Environment (settings this program reads):\n");
    for setting in ALL {
        text.push_str(&format!(
            "  {} [default: {}]\n      {}\n",
            setting.name, setting.default, setting.about
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Unset is `None`, a number (spaces around it allowed) is read, anything else is an error
    /// that names the variable, its value and what it should be.
    #[test]
    fn whole_numbers_from_the_environment() {
        let setting = Setting {
            name: "PIXI_AIRGAP_TEST_WHOLE_NUMBER",
            about: "",
            default: "",
        };
        std::env::remove_var(setting.name);
        assert_eq!(setting.whole_number("a whole number"), Ok(None));
        std::env::set_var(setting.name, " 42 ");
        assert_eq!(setting.whole_number("a whole number"), Ok(Some(42)));
        std::env::set_var(setting.name, "4k");
        assert_eq!(
            setting.whole_number("a whole number of bytes"),
            Err("PIXI_AIRGAP_TEST_WHOLE_NUMBER=`4k` is not a whole number of bytes".to_string())
        );
        std::env::remove_var(setting.name);
    }

    /// The README's table lists every setting with its own words and default (and nothing
    /// else of ours: a setting dropped from here must leave the README too).
    #[test]
    fn the_readme_lists_every_setting() {
        let readme = include_str!("../README.md");
        let rows: Vec<&str> = readme
            .lines()
            .filter(|line| line.starts_with("| `PIXI_AIRGAP_"))
            .collect();
        for setting in ALL {
            let row = rows
                .iter()
                .find(|row| row.starts_with(&format!("| `{}` |", setting.name)))
                .unwrap_or_else(|| panic!("README.md has no table row for {}", setting.name));
            for text in [setting.about, setting.default] {
                assert!(
                    row.contains(text),
                    "{}: the README row lacks `{text}`:\n{row}",
                    setting.name
                );
            }
        }
        assert_eq!(rows.len(), ALL.len(), "{rows:#?}");
    }

    /// The defaults shown are the ones the readers apply.
    #[test]
    fn defaults_are_the_readers_own() {
        let extract = crate::tar::extract::ExtractLimits::default();
        for (setting, value) in [
            (MAX_LOG_BYTES, crate::docker::LogLimit::default().max_bytes),
            (MAX_EXTRACT_BYTES, extract.max_bytes),
            (MAX_EXTRACT_ENTRIES, extract.max_entries),
        ] {
            assert!(
                setting.default.starts_with(&value.to_string()),
                "{}: {} is not {value}",
                setting.name,
                setting.default
            );
        }
    }

    #[test]
    fn names_are_ours_and_unique() {
        for (i, setting) in ALL.iter().enumerate() {
            assert!(setting.name.starts_with("PIXI_AIRGAP_"), "{}", setting.name);
            assert!(
                ALL[i + 1..].iter().all(|other| other.name != setting.name),
                "{}",
                setting.name
            );
            assert!(help().contains(setting.name));
        }
    }
}
