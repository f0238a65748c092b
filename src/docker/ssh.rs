//! `DOCKER_HOST=ssh://[user@]host[:port]`, reached the way the Docker CLI reaches it: every HTTP
//! connection is one `ssh ... -- HOST docker system dial-stdio` child of the user's own `ssh`
//! (so its agent, `~/.ssh/config`, known hosts and jump hosts apply), and the API is spoken over
//! that child's stdin and stdout. bollard's custom transport carries the requests; a keep-alive
//! pool keeps connections (and so `ssh` children) for reuse, and a child is killed when its
//! connection is dropped.
//!
//! Two things differ from the Docker CLI, on purpose: `-o BatchMode=yes`, because a run opens
//! several connections and a password or passphrase prompt per connection (on the terminal, over
//! the progress bars) would be worse than a clear error; and what `ssh` says on stderr is kept, so
//! an unreachable host is reported in ssh's own words instead of "connection closed".

use std::sync::{Arc, Mutex};

use hyper_util::rt::TokioIo;
use tokio::io::AsyncReadExt;

use super::transport::{self, Conn, Connect, Connecting};

/// How long `ssh` may take to reach the host (the Docker CLI uses the same).
const SSH_CONNECT_TIMEOUT_SECS: u32 = 30;
/// How much of ssh's stderr is kept for the error message.
const STDERR_KEEP: usize = 2048;

/// The parts of an `ssh://` address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SshTarget {
    pub user: Option<String>,
    pub host: String,
    pub port: Option<u16>,
}

impl SshTarget {
    /// Parses `ssh://[user@]host[:port]` (`[v6 address]` in brackets); like the Docker CLI,
    /// a path, a query or a password in the address is refused.
    pub fn parse(address: &str) -> Result<Self, String> {
        let rest = address
            .strip_prefix("ssh://")
            .ok_or_else(|| "not an ssh:// address".to_string())?;
        let authority = match rest.split_once('/') {
            Some((authority, "")) => authority,
            Some(_) => return Err("a path after the host is not supported".to_string()),
            None => rest,
        };
        if authority.contains(['?', '#']) {
            return Err("a query or fragment is not supported".to_string());
        }
        let (user, host_port) = match authority.rsplit_once('@') {
            Some((user, host_port)) => {
                if user.contains(':') {
                    return Err(
                        "a password in the address is not supported (use a key)".to_string()
                    );
                }
                if user.is_empty() {
                    return Err("the user before `@` is empty".to_string());
                }
                (Some(user.to_string()), host_port)
            }
            None => (None, authority),
        };
        let (host, port) = if let Some(bracketed) = host_port.strip_prefix('[') {
            let (host, after) = bracketed
                .split_once(']')
                .ok_or_else(|| "an IPv6 address without its closing `]`".to_string())?;
            match after {
                "" => (host, None),
                _ => match after.strip_prefix(':') {
                    Some(port) => (host, Some(port)),
                    None => return Err(format!("unexpected `{after}` after the host")),
                },
            }
        } else {
            match host_port.rsplit_once(':') {
                Some((host, port)) => (host, Some(port)),
                None => (host_port, None),
            }
        };
        if host.is_empty() {
            return Err("the host is empty".to_string());
        }
        if host.starts_with('-') {
            return Err("a host may not start with `-`".to_string());
        }
        let port = port
            .map(|port| {
                port.parse::<u16>()
                    .ok()
                    .filter(|p| *p != 0)
                    .ok_or_else(|| format!("`{port}` is not a port number"))
            })
            .transpose()?;
        Ok(Self {
            user,
            host: host.to_string(),
            port,
        })
    }

    /// The arguments of `ssh` for one connection to the remote engine.
    pub fn ssh_args(&self) -> Vec<String> {
        let mut args = vec![
            "-o".to_string(),
            format!("ConnectTimeout={SSH_CONNECT_TIMEOUT_SECS}"),
            "-o".to_string(),
            "BatchMode=yes".to_string(),
            "-T".to_string(),
        ];
        if let Some(user) = &self.user {
            args.extend(["-l".to_string(), user.clone()]);
        }
        if let Some(port) = self.port {
            args.extend(["-p".to_string(), port.to_string()]);
        }
        args.extend(
            ["--", &self.host, "docker", "system", "dial-stdio"]
                .into_iter()
                .map(String::from),
        );
        args
    }
}

/// The tail of what the `ssh` children wrote on stderr, shared with the error path.
#[derive(Clone, Default)]
pub struct SshLog {
    said: Arc<Mutex<String>>,
}

impl SshLog {
    fn append(&self, text: &str) {
        if let Ok(mut said) = self.said.lock() {
            said.push_str(text);
            if said.len() > STDERR_KEEP {
                let mut cut = said.len() - STDERR_KEEP;
                while !said.is_char_boundary(cut) {
                    cut += 1;
                }
                said.drain(..cut);
            }
        }
    }

    /// The last non-empty lines ssh wrote, joined; waits up to `wait` for a child that already
    /// failed to be read to the end.
    pub async fn last_words(&self, wait: std::time::Duration) -> Option<String> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let text = self
                .said
                .lock()
                .map(|said| said.trim().to_string())
                .unwrap_or_default();
            if !text.is_empty() || tokio::time::Instant::now() >= deadline {
                let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
                let tail = &lines[lines.len().saturating_sub(3)..];
                return (!tail.is_empty()).then(|| tail.join("; "));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// Opens connections to the remote engine, one `ssh` child each.
#[derive(Clone)]
struct SshConnector {
    target: Arc<SshTarget>,
    log: SshLog,
}

impl Connect for SshConnector {
    fn connect(&self) -> Connecting {
        let target = self.target.clone();
        let log = self.log.clone();
        Box::pin(async move { spawn(&target, log).map(TokioIo::new) })
    }
}

/// One `ssh` child, its stdout (read) and stdin (write) as one stream.
fn spawn(target: &SshTarget, log: SshLog) -> std::io::Result<Conn> {
    let args = target.ssh_args();
    tracing::debug!("connecting: ssh {}", args.join(" "));
    let mut child = tokio::process::Command::new("ssh")
        .args(&args)
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .map_err(|err| std::io::Error::new(err.kind(), format!("cannot start `ssh`: {err}")))?;
    let (Some(stdin), Some(stdout)) = (child.stdin.take(), child.stdout.take()) else {
        return Err(std::io::Error::other(
            "ssh's standard streams were not piped",
        ));
    };
    if let Some(mut stderr) = child.stderr.take() {
        tokio::spawn(async move {
            let mut buf = vec![0u8; 1024];
            while let Ok(n) = stderr.read(&mut buf).await {
                if n == 0 {
                    break;
                }
                let text = String::from_utf8_lossy(&buf[..n]);
                tracing::debug!("ssh: {}", text.trim_end());
                log.append(&text);
            }
        });
    }
    Ok(Conn::new(tokio::io::join(stdout, stdin), Some(child)))
}

/// A bollard client whose requests travel through `ssh` to `target`, and the log of what ssh said.
pub fn client(target: SshTarget) -> Result<(bollard::Docker, SshLog), bollard::errors::Error> {
    let log = SshLog::default();
    let authority = target.host.clone();
    let connector = SshConnector {
        target: Arc::new(target),
        log: log.clone(),
    };
    Ok((transport::client(connector, &authority)?, log))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ssh_addresses_parse_like_the_docker_cli_reads_them() {
        let t = SshTarget::parse("ssh://builder@farm.example:2222").unwrap();
        assert_eq!(
            t,
            SshTarget {
                user: Some("builder".into()),
                host: "farm.example".into(),
                port: Some(2222)
            }
        );
        assert_eq!(
            t.ssh_args().join(" "),
            "-o ConnectTimeout=30 -o BatchMode=yes -T -l builder -p 2222 -- farm.example docker system dial-stdio"
        );
        let t = SshTarget::parse("ssh://farm/").unwrap();
        assert_eq!(
            (t.user.as_deref(), t.host.as_str(), t.port),
            (None, "farm", None)
        );
        assert_eq!(
            t.ssh_args()[5..].join(" "),
            "-- farm docker system dial-stdio",
            "no -l or -p when the address has none: ~/.ssh/config decides"
        );
        let t = SshTarget::parse("ssh://me@[::1]:22").unwrap();
        assert_eq!((t.host.as_str(), t.port), ("::1", Some(22)));
        for (bad, why) in [
            ("ssh://host/var/run/docker.sock", "path"),
            ("ssh://me:secret@host", "password"),
            ("ssh://host:http", "port number"),
            ("ssh://host:0", "port number"),
            ("ssh://@host", "user"),
            ("ssh://", "host is empty"),
            ("ssh://-oProxyCommand=x", "may not start with `-`"),
            ("ssh://[::1", "closing"),
            ("ssh://host?x=1", "query"),
        ] {
            let err = SshTarget::parse(bad).unwrap_err();
            assert!(err.contains(why), "{bad}: {err}");
        }
    }

    #[tokio::test]
    async fn ssh_log_keeps_the_last_lines_and_a_bounded_tail() {
        let log = SshLog::default();
        assert_eq!(
            log.last_words(std::time::Duration::from_millis(10)).await,
            None
        );
        log.append(&"x".repeat(5000));
        log.append(
            "\nfirst\n\nsecond\nssh: connect to host 127.0.0.1 port 1: Connection refused\r\n",
        );
        assert!(log.said.lock().unwrap().len() <= STDERR_KEEP);
        assert_eq!(
            log.last_words(std::time::Duration::ZERO).await.unwrap(),
            "first; second; ssh: connect to host 127.0.0.1 port 1: Connection refused"
        );
    }
}
