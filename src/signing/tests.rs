use super::*;

#[test]
fn patterns_as_openssh_matches_them() {
    assert_eq!(
        match_pattern_list("release@example.org", "*@example.org"),
        Some(true)
    );
    assert_eq!(match_pattern_list("a", "b,a"), Some(true));
    assert_eq!(match_pattern_list("a", "b,c"), None);
    assert_eq!(
        match_pattern_list("bad@example.org", "*@example.org,!bad@*"),
        Some(false)
    );
    assert_eq!(match_pattern_list("ab", "a?"), Some(true));
    assert_eq!(match_pattern_list("abc", "a?"), None);
    assert_eq!(match_pattern_list("pixi-airgap", "git,pixi-*"), Some(true));
    assert_eq!(match_pattern_list("A", "a"), None, "case-sensitive");
}

#[test]
fn times_as_openssh_reads_them() {
    let t = parse_time("20260102Z").unwrap();
    assert_eq!(t.to_rfc3339(), "2026-01-02T00:00:00+00:00");
    let t = parse_time("202601020304Z").unwrap();
    assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:00+00:00");
    let t = parse_time("20260102030405Z").unwrap();
    assert_eq!(t.to_rfc3339(), "2026-01-02T03:04:05+00:00");
    assert!(parse_time("20260102").is_ok(), "local time");
    for bad in ["2026", "2026010Z", "20261302Z", "2026-01-02", "", "Z"] {
        assert!(parse_time(bad).is_err(), "{bad}");
    }
}

const KEY: &str =
    "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAILM+rvN+ot98qgEN796jTiQfZfG1KaT0PtFDJ/XFSqti";

#[test]
fn allowed_signers_lines() {
    let text = format!(
        "# release keys\n\n  a@x,b@x {KEY} comment words\n\
             c@x namespaces=\"git,pixi-airgap\",valid-after=\"20200101Z\" {KEY}\n\
             d@x cert-authority\t{KEY}\n\
             e@x valid-before=\"20200101\",namespaces=\"a b\"  {KEY}\n"
    );
    let signers = AllowedSigners::parse(&text, "f").unwrap();
    let lines: Vec<_> = signers
        .entries
        .iter()
        .map(|e| {
            (
                e.line,
                e.principals.as_str(),
                e.cert_authority,
                e.namespaces.as_deref(),
            )
        })
        .collect();
    assert_eq!(
        lines,
        [
            (3, "a@x,b@x", false, None),
            (4, "c@x", false, Some("git,pixi-airgap")),
            (5, "d@x", true, None),
            (6, "e@x", false, Some("a b")),
        ]
    );
    assert!(signers.entries[1].valid_after.is_some());
    assert!(signers.entries[3].valid_before.is_some());
}

#[test]
fn unreadable_allowed_signers_are_refused_naming_the_line() {
    for (text, says) in [
        ("", "names no signer"),
        ("# only a comment\n", "names no signer"),
        ("a@x\n", "f:1: a principal and no key"),
        (
            &format!("a@x verify-required {KEY}\n"),
            "f:1: unknown or malformed option",
        ),
        (
            &format!("\na@x namespaces=pixi-airgap {KEY}\n"),
            "f:2: the option value",
        ),
        (
            &format!("a@x namespaces=\"x {KEY}\n"),
            "f:1: an option value has no closing quote",
        ),
        (
            &format!("a@x valid-after=\"tomorrow\" {KEY}\n"),
            "is not a time",
        ),
        ("a@x ssh-ed25519 AAAAnotbase64!\n", "f:1: not a public key"),
        (&format!("a@x ,namespaces=\"x\" {KEY}\n"), "an empty option"),
    ] {
        let err = AllowedSigners::parse(text, "f").unwrap_err();
        let shown = crate::exit::render(&err);
        assert!(shown.contains(says), "{text:?}: {shown}");
        assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
    }
}
