//! How the command line is parsed: clap's parse, with two things added to its errors. A bad value
//! that came from a variable of the environment (a flag's `env`) is said to come from there, and
//! the arguments clap quotes have their control characters escaped, as every error of ours has.

use clap::Parser;

use super::Cli;

impl Cli {
    /// Parses this process's arguments, or prints clap's error and exits (2 for a usage error,
    /// 0 for `--help`), as `Cli::parse` does; a bad value that came from a setting in the
    /// environment is said to come from there.
    pub fn parse_or_exit() -> Self {
        Self::try_parse_from_env(std::env::args_os()).unwrap_or_else(|err| err.exit())
    }

    /// [`Cli::parse_or_exit`] without the exit, for tests.
    pub fn try_parse_from_env<I, T>(args: I) -> Result<Self, clap::Error>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        let args: Vec<std::ffi::OsString> = args.into_iter().map(Into::into).collect();
        Self::try_parse_from(&args).map_err(|err| escape_context(name_env_source(err, &args)))
    }
}

/// A value error for a flag that was not on the command line but has its variable set came
/// from that variable: say so (clap names only the flag).
fn name_env_source(mut err: clap::Error, args: &[std::ffi::OsString]) -> clap::Error {
    use clap::error::{ContextKind, ContextValue, ErrorKind};
    if !matches!(
        err.kind(),
        ErrorKind::ValueValidation | ErrorKind::InvalidValue
    ) {
        return err;
    }
    let Some(ContextValue::String(arg)) = err.get(ContextKind::InvalidArg) else {
        return err;
    };
    let flag = arg.split([' ', '=']).next().unwrap_or_default().to_string();
    let given = args.iter().any(|a| {
        a.to_str()
            .is_some_and(|a| a == flag || a.starts_with(&format!("{flag}=")))
    });
    let command = <Cli as clap::CommandFactory>::command();
    let var = env_of(&command, flag.trim_start_matches('-'));
    if let (false, Some(var)) = (given, var) {
        if std::env::var_os(&var).is_some() {
            let tip = format!("the value came from the environment variable {var}");
            let mut tips = match err.get(ContextKind::Suggested) {
                Some(ContextValue::StyledStrs(tips)) => tips.clone(),
                _ => Vec::new(),
            };
            tips.push(tip.into());
            err.insert(ContextKind::Suggested, ContextValue::StyledStrs(tips));
        }
    }
    err
}

/// The arguments clap quotes in an error, with control characters escaped (as every error of
/// ours is: see `crate::term`), so that a value cannot drive the terminal.
fn escape_context(mut err: clap::Error) -> clap::Error {
    use clap::error::ContextValue;
    let escape = |text: &String| crate::term::escape(text).into_owned();
    let escaped: Vec<_> = err
        .context()
        .filter_map(|(kind, value)| match value {
            ContextValue::String(text) => Some((kind, ContextValue::String(escape(text)))),
            ContextValue::Strings(texts) => Some((
                kind,
                ContextValue::Strings(texts.iter().map(escape).collect()),
            )),
            _ => None,
        })
        .collect();
    for (kind, value) in escaped {
        err.insert(kind, value);
    }
    err
}

/// The variable a long flag takes its default from, in any subcommand.
fn env_of(command: &clap::Command, long: &str) -> Option<String> {
    command
        .get_arguments()
        .find(|arg| arg.get_long() == Some(long))
        .and_then(|arg| arg.get_env())
        .map(|var| var.to_string_lossy().into_owned())
        .or_else(|| command.get_subcommands().find_map(|sub| env_of(sub, long)))
}
