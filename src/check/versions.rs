//! Which pixi reads which lock format, and version specs (`requires-pixi`): how the pre-flight
//! compares versions.

use super::*;

/// The lowest pixi release that reads each lock format (from pixi's release notes: format 5 came
/// with 0.21, 6 with 0.40, 7 with 0.68). Newer pixi reads every older format.
pub(super) const FIRST_READER: [(u64, &str); 4] =
    [(4, "0.13.0"), (5, "0.21.0"), (6, "0.40.0"), (7, "0.68.0")];

/// The first pixi that reads lock format `format` (`None` for a format this tool does not know).
pub fn first_pixi_reading(format: u64) -> Option<&'static str> {
    FIRST_READER
        .iter()
        .find(|(f, _)| *f == format)
        .map(|(_, first)| *first)
}

pub(super) fn version_findings(
    requires_pixi: Option<&str>,
    lock_version: Option<u64>,
    pixi: &str,
) -> Vec<Finding> {
    let pixi = pixi.trim().trim_start_matches("pixi").trim();
    let mut out = Vec::new();
    if let Some(format) = lock_version {
        if let Some((_, first)) = FIRST_READER.iter().find(|(f, _)| *f == format) {
            if compare_versions(pixi, first) == std::cmp::Ordering::Less {
                out.push(Finding::new(
                    Severity::Error,
                    "lock-format-unreadable",
                    "pixi.lock",
                    format!("lock format {format} needs pixi {first} or newer; the build image has pixi {pixi}"),
                    format!("use an image with pixi >= {first}, or lock with the image's pixi"),
                ));
            }
        }
    }
    if let Some(spec) = requires_pixi {
        if !spec_matches(spec, pixi) {
            out.push(Finding::new(
                Severity::Error,
                "requires-pixi",
                "manifest",
                format!("requires-pixi = \"{spec}\", the build image has pixi {pixi}"),
                "use an image whose pixi meets requires-pixi",
            ));
        }
    }
    out
}

/// Compares dotted versions numerically, part by part (`0.9` < `0.10`); non-numeric tails compare
/// as text.
pub fn compare_versions(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |v: &str| -> Vec<String> {
        v.trim()
            .split(['.', '-', '+'])
            .map(str::to_string)
            .collect()
    };
    let (a, b) = (split(a), split(b));
    for i in 0..a.len().max(b.len()) {
        let x = a.get(i).map(String::as_str).unwrap_or("0");
        let y = b.get(i).map(String::as_str).unwrap_or("0");
        let ord = match (x.parse::<u64>(), y.parse::<u64>()) {
            (Ok(x), Ok(y)) => x.cmp(&y),
            _ => x.cmp(y),
        };
        if ord != std::cmp::Ordering::Equal {
            return ord;
        }
    }
    std::cmp::Ordering::Equal
}

/// Whether `version` meets a comma-separated version spec (`>=0.40,<1`, `==0.77.0`, `0.77.*`).
pub fn spec_matches(spec: &str, version: &str) -> bool {
    use std::cmp::Ordering::*;
    spec.split(',')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .all(|c| {
            let (op, v) = ["==", ">=", "<=", "!=", "~=", ">", "<", "="]
                .iter()
                .find_map(|op| c.strip_prefix(op).map(|v| (*op, v.trim())))
                .unwrap_or(("==", c));
            if let Some(prefix) = v.strip_suffix(".*") {
                let matches = version == prefix || version.starts_with(&format!("{prefix}."));
                return if op == "!=" { !matches } else { matches };
            }
            let ord = compare_versions(version, v);
            match op {
                "==" | "=" => ord == Equal,
                "!=" => ord != Equal,
                ">=" => ord != Less,
                "<=" => ord != Greater,
                ">" => ord == Greater,
                "<" => ord == Less,
                // ~=X.Y: >= X.Y and == X.*
                _ => {
                    let prefix = v.rsplit_once('.').map(|(p, _)| p).unwrap_or(v);
                    ord != Less && (version == prefix || version.starts_with(&format!("{prefix}.")))
                }
            }
        })
}
