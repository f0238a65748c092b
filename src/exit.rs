//! Exit codes, the error kinds that choose them, and how an error is shown. This is the one
//! place where an exit code is chosen.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success (also when the reader of stdout went away early: `--json \| head`) |
//! | 1    | the verification ran and failed (the workdir and its logs are still written), or a product did not install offline |
//! | 2    | bad input: arguments, project, manifest, lock file, workdir, a tar entry that may not reach this host |
//! | 3    | infrastructure: Docker unreachable, image missing, image without pixi, pixi failures |
//! | 4    | anything else that went wrong on this host (disk full, permissions, ...) |
//! | 130  | interrupted by Ctrl-C or SIGTERM (cleaned up; a second signal exits at once) |
//!
//! Commands return `anyhow::Error`s with their causes kept (never flattened into strings). The
//! code comes from the innermost typed cause: [`InputError`] and a refused tar entry 2,
//! [`InfraError`] and [`DockerError`] 3 (a missing or stopped container the user named: 2);
//! with none of those, 4. `io::Error`s are looked into, so a typed error carried through an I/O
//! stream still decides. [`Interrupted`] or a closed stdout anywhere wins. Hints are printed
//! last, once each.

use std::error::Error as StdError;
use std::fmt;

use crate::docker::DockerError;
use crate::output::BrokenPipe;
use crate::shutdown::Interrupted;
use crate::tar::extract::RefusedEntry;

/// How a command ended, as the process exit code tells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    Success,
    VerificationFailed,
    InputError,
    Infrastructure,
    HostError,
    Interrupted,
}

impl Status {
    pub fn code(self) -> u8 {
        match self {
            Status::Success => 0,
            Status::VerificationFailed => 1,
            Status::InputError => 2,
            Status::Infrastructure => 3,
            Status::HostError => 4,
            Status::Interrupted => 130,
        }
    }
}

type BoxError = Box<dyn StdError + Send + Sync + 'static>;

/// Defines an error kind that carries a message, an optional `hint:` for the user and an
/// optional cause.
macro_rules! hinted_error {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            message: String,
            hint: Option<String>,
            source: Option<BoxError>,
        }

        impl $name {
            pub fn new(message: impl Into<String>) -> Self {
                Self {
                    message: message.into(),
                    hint: None,
                    source: None,
                }
            }

            pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
                self.hint = Some(hint.into());
                self
            }

            /// Keeps `source` as the cause (shown as `caused by:`).
            pub fn with_source(mut self, source: impl Into<BoxError>) -> Self {
                self.source = Some(source.into());
                self
            }

            pub fn hint(&self) -> Option<&str> {
                self.hint.as_deref()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.message)
            }
        }

        impl StdError for $name {
            fn source(&self) -> Option<&(dyn StdError + 'static)> {
                self.source.as_deref().map(|s| s as &(dyn StdError + 'static))
            }
        }
    };
}

hinted_error!(
    /// The user can fix this by changing the command line, the project or the workdir.
    InputError
);

hinted_error!(
    /// Something outside the user's project failed: pixi inside the image, the image itself.
    /// (Docker API failures have their own type, [`DockerError`].)
    InfraError
);

/// Gives the outermost [`InputError`] or [`InfraError`] of `err` a hint when it has none. The
/// commands use it to name their flags, which the library does not know. Other errors pass
/// unchanged.
pub fn with_hint(mut err: anyhow::Error, hint: &str) -> anyhow::Error {
    let slot = if let Some(input) = err.downcast_mut::<InputError>() {
        &mut input.hint
    } else if let Some(infra) = err.downcast_mut::<InfraError>() {
        &mut infra.hint
    } else {
        return err;
    };
    slot.get_or_insert_with(|| hint.to_string());
    err
}

/// Every cause of `err`, outermost first, looking inside `io::Error`s that wrap another error
/// (std's `io::Error::source` skips the wrapped error itself).
fn causes(err: &anyhow::Error) -> Vec<&(dyn StdError + 'static)> {
    let mut all = Vec::new();
    let mut next: Option<&(dyn StdError + 'static)> = Some(err.as_ref());
    while let Some(cause) = next {
        all.push(cause);
        next = match cause
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
        {
            // The wrapped error, then its own causes (which are the io::Error's `source`).
            Some(inner) => Some(inner as &(dyn StdError + 'static)),
            None => cause.source(),
        };
    }
    all
}

/// The status one cause stands for, if it is one of the typed kinds.
fn kind_of(cause: &(dyn StdError + 'static)) -> Option<Status> {
    if cause.is::<InputError>() || cause.is::<RefusedEntry>() {
        Some(Status::InputError)
    } else if cause.is::<InfraError>() {
        Some(Status::Infrastructure)
    } else {
        // Naming a container that is missing or stopped, a context that does not work or an
        // engine address that cannot be read, is the user's input.
        cause
            .downcast_ref::<DockerError>()
            .map(|docker| match docker {
                DockerError::NoSuchContainer { .. }
                | DockerError::ContainerNotRunning { .. }
                | DockerError::Context { .. }
                | DockerError::BadHost { .. } => Status::InputError,
                _ => Status::Infrastructure,
            })
    }
}

/// Picks the exit status for an error: the innermost typed cause decides.
pub fn classify(err: &anyhow::Error) -> Status {
    let causes = causes(err);
    if causes.iter().any(|c| c.is::<Interrupted>()) {
        return Status::Interrupted;
    }
    if causes.iter().any(|c| c.is::<BrokenPipe>()) {
        return Status::Success;
    }
    causes
        .into_iter()
        .rev()
        .find_map(kind_of)
        .unwrap_or(Status::HostError)
}

fn hint_of<'a>(cause: &'a (dyn StdError + 'static)) -> Option<&'a str> {
    if let Some(e) = cause.downcast_ref::<InputError>() {
        e.hint()
    } else if let Some(e) = cause.downcast_ref::<InfraError>() {
        e.hint()
    } else if let Some(e) = cause.downcast_ref::<DockerError>() {
        e.hint()
    } else {
        None
    }
}

/// The text shown for an error: the message, its causes, then its hints (once each).
pub fn render(err: &anyhow::Error) -> String {
    let mut text = format!("error: {err}");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    let mut hints: Vec<&str> = Vec::new();
    for cause in causes(err) {
        if let Some(hint) = hint_of(cause) {
            if !hints.contains(&hint) {
                hints.push(hint);
            }
        }
    }
    for hint in hints {
        text.push_str(&format!("\nhint: {hint}"));
    }
    text
}

/// Prints an error to stderr (unless the reader of stdout simply went away) and returns its
/// exit status.
pub fn report(err: &anyhow::Error) -> Status {
    let status = classify(err);
    if causes(err).iter().any(|c| c.is::<BrokenPipe>()) {
        // `--json | head`: the reader has what it wanted; say nothing.
        return status;
    }
    // Error messages carry names and output from containers: never raw on the terminal.
    eprintln!("{}", crate::term::escape(&render(err)));
    status
}

#[cfg(test)]
mod tests {
    use super::*;
    use anyhow::Context as _;

    #[test]
    fn the_innermost_typed_cause_decides() {
        let disk = std::io::Error::new(std::io::ErrorKind::StorageFull, "no space");
        let err = anyhow::Error::new(disk).context("failed to unpack `x`");
        assert_eq!(classify(&err), Status::HostError);
        let err = err.context("copying back");
        assert_eq!(classify(&err), Status::HostError, "context changes nothing");
        let read = std::io::Error::new(std::io::ErrorKind::NotFound, "missing");
        let err = anyhow::Error::new(InputError::new("not a staged workdir").with_source(read));
        assert_eq!(
            classify(&err),
            Status::InputError,
            "an explained input error"
        );
        let err = anyhow::Error::new(InfraError::new("pixi failed")).context("staging");
        assert_eq!(classify(&err), Status::Infrastructure);
        let refused = RefusedEntry {
            path: "x".into(),
            why: "y".into(),
        };
        let err = anyhow::Error::new(InfraError::new("copy failed").with_source(refused));
        assert_eq!(
            classify(&err),
            Status::InputError,
            "the innermost kind wins"
        );
        let wrapped = std::io::Error::other(InputError::new("bad entry"));
        let err = anyhow::Error::new(wrapped).context("upload failed");
        assert_eq!(classify(&err), Status::InputError, "inside an io::Error");
        let err = anyhow::Error::new(Interrupted("SIGINT")).context("x");
        assert_eq!(classify(&err), Status::Interrupted);
        let err = anyhow::Error::new(BrokenPipe).context("printing");
        assert_eq!(classify(&err), Status::Success);
    }

    #[test]
    fn hints_come_last_once() {
        let inner: anyhow::Result<()> = Err(InputError::new("workdir is not empty")
            .with_hint("pick another")
            .into());
        let inner = inner.context("outer").unwrap_err();
        let err = anyhow::Error::new(
            InputError::new("again")
                .with_hint("pick another")
                .with_source(inner),
        );
        let text = render(&err);
        assert!(text.ends_with("\nhint: pick another"), "{text}");
        assert_eq!(text.matches("hint:").count(), 1, "{text}");
        let err = with_hint(InputError::new("x").into(), "new");
        assert!(render(&err).ends_with("hint: new"));
        let err = with_hint(InputError::new("x").with_hint("old").into(), "new");
        assert!(
            render(&err).ends_with("hint: old"),
            "a hint of its own is kept"
        );
    }
}
