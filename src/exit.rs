//! Exit codes and the error kinds that choose them.
//!
//! | code | meaning |
//! |------|---------|
//! | 0    | success |
//! | 1    | the verification ran and failed (the workdir and its logs are still written), or a product did not install offline |
//! | 2    | bad input: arguments, project, manifest, lock file, workdir |
//! | 3    | infrastructure: Docker unreachable, image missing, image without pixi, pixi failures |
//! | 4    | anything else that went wrong on this host (disk full, permissions, ...) |
//! | 130  | interrupted by Ctrl-C or SIGTERM (cleaned up; a second signal exits at once) |
//!
//! Commands return `anyhow::Error`s; the code is chosen by looking for an [`InputError`],
//! [`crate::docker::DockerError`], [`InfraError`] or [`Interrupted`] anywhere in the cause chain.

use std::fmt;

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

/// Defines an error kind that carries a message and an optional `hint:` line for the user.
macro_rules! hinted_error {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug)]
        pub struct $name {
            message: String,
            hint: Option<String>,
        }

        impl $name {
            pub fn new(message: impl Into<String>) -> Self {
                Self {
                    message: message.into(),
                    hint: None,
                }
            }

            pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
                self.hint = Some(hint.into());
                self
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.message)?;
                if let Some(hint) = &self.hint {
                    write!(f, "\nhint: {hint}")?;
                }
                Ok(())
            }
        }

        impl std::error::Error for $name {}
    };
}

hinted_error!(
    /// The user can fix this by changing the command line, the project or the workdir.
    InputError
);

hinted_error!(
    /// Something outside the user's project failed: pixi inside the image, the image itself.
    /// (Docker API failures have their own type, [`crate::docker::DockerError`].)
    InfraError
);

/// The run was stopped by a signal; cleanup has already happened when this is returned.
#[derive(Debug, thiserror::Error)]
#[error("interrupted by {0}")]
pub struct Interrupted(pub &'static str);

/// Picks the exit status for an error by its kind.
pub fn classify(err: &anyhow::Error) -> Status {
    for cause in err.chain() {
        if cause.is::<crate::output::BrokenPipe>() {
            return Status::Success;
        }
        if cause.is::<Interrupted>() {
            return Status::Interrupted;
        }
        if cause.is::<InputError>() || cause.is::<crate::tar::extract::RefusedEntry>() {
            return Status::InputError;
        }
        if let Some(docker) = cause.downcast_ref::<crate::docker::DockerError>() {
            // Naming a container that is missing or stopped is the user's input.
            return match docker {
                crate::docker::DockerError::NoSuchContainer { .. }
                | crate::docker::DockerError::ContainerNotRunning { .. }
                | crate::docker::DockerError::Context { .. } => Status::InputError,
                _ => Status::Infrastructure,
            };
        }
        if cause.is::<InfraError>() {
            return Status::Infrastructure;
        }
    }
    Status::HostError
}

/// Prints an error with its causes to stderr and returns its exit status.
pub fn report(err: &anyhow::Error) -> Status {
    let status = classify(err);
    if err.is::<crate::output::BrokenPipe>() {
        // `--json | head`: the reader has what it wanted; say nothing.
        return status;
    }
    let mut text = format!("error: {err}");
    for cause in err.chain().skip(1) {
        text.push_str(&format!("\n  caused by: {cause}"));
    }
    eprintln!("{text}");
    status
}
