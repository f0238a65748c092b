use std::borrow::Cow;
use std::path::Path;

use super::*;

// Tokens are assembled at run time so that this file does not itself look like a leak.
fn tok(prefix: &str, body: &str) -> String {
    format!("{prefix}{body}")
}

#[test]
fn names_are_matched_case_insensitively_at_any_depth() {
    let s = SecretNames::new().unwrap();
    for secret in [
        ".env",
        ".ENV",
        "sub/.env.production",
        "Secrets.TOML",
        "deep/down/ID_RSA",
        "keys/id_ed25519.pub",
        "a/.ssh",
        "certs/Server.PEM",
        ".aws",
        "x/.docker/config.json",
        ".cargo/credentials.toml",
        "home/.gem/credentials",
        "infra/prod.tfstate",
        "infra/terraform.tfstate.backup",
        "infra/prod.tfvars",
        ".bash_history",
        ".python_history",
        ".Rhistory",
        "office.ovpn",
        "vault.kdbx",
        ".password-store",
        "site/.htpasswd",
        "app/.my.cnf",
        "wg0.conf",
        "prod.env",
    ] {
        assert!(s.is_secret(Path::new(secret)), "{secret}");
    }
    for kept in [
        ".env.example",
        ".env.sample",
        ".ENV.Template",
        "secrets.toml.example",
        "secrets_test.py",
        "keys.py",
        "keyboard.py",
        "tokenizer.json",
        "README.md",
        "environment.yml",
        ".docker/other.json",
        "docs/history.md",
        "pixi.toml",
        "certs/ca.crt",
        "wg.conf.md",
        "src/secrets_manager/__init__.py",
    ] {
        assert!(!s.is_secret(Path::new(kept)), "{kept}");
    }
}

#[test]
fn token_formats() {
    let hits = [
        tok("AKIA", "FAKEFAKE0EXAMPLE"),
        tok(
            "SG.",
            "FAKEfake0000FAKEfake00.FAKEfake0000FAKEfake0000FAKEfake0000FAKEfak",
        ),
        tok("ghp_", &"FAKEfake0000".repeat(3)),
        tok("github_pat_", &"Fake_0".repeat(12)),
        tok("glpat-", "FakeFakeFake-0000000"),
        tok("xoxb-", "0000000000-fake"),
        tok(
            "https://hooks.slack.com/services/",
            "T0000/B0000/FAKEFAKEFAKE",
        ),
        tok("sk_live_", "FAKEfake0000FAKEfake0000"),
        tok("AIza", &"Fake_0-".repeat(5)),
        tok("npm_", &"FAKEfake0000".repeat(3)),
        tok("pypi-", &format!("AgE{}", "FAKEfake00".repeat(6))),
    ];
    for text in &hits {
        let line = format!("token = \"{text}\"\n");
        assert!(content_finding(line.as_bytes()).is_some(), "{text}");
    }
    for text in [
        "the key id starts with AKIA and is 20 characters long",
        "pattern = r'ghp_[A-Za-z0-9]{36}'",
        &tok("AKIA", "FAKEFAKE0EXAMPLEFAKE"),
        &tok("xAKIA", "FAKEFAKE0EXAMPLE"),
        &tok("AKIA", "XXXXXXXXXXXXXXXX"),
        &tok("glpat-", "xxxxxxxxxxxxxxxxxxxx"),
        &tok("xoxb-", "your-bot-token-here"),
        &tok(
            "https://SG.",
            "example.org/a/long/path/that/goes/on/and/on/and/on/for/a/while",
        ),
        &tok("sk_test_", "FAKEfake0000FAKEfake0000"),
        "import hf_hub; hf_hub_download()",
    ] {
        assert_eq!(content_finding(text.as_bytes()), None, "{text}");
    }
}

#[test]
fn private_key_blocks_need_material() {
    let begin = tok("-----BEGIN RSA ", "PRIVATE KEY-----");
    let end = tok("-----END RSA ", "PRIVATE KEY-----");
    let key = format!("{begin}\n{}\n{end}\n", "FAKEKEY0".repeat(12));
    assert_eq!(content_finding(key.as_bytes()), Some("private key"));
    let parser = format!("if line == \"{begin}\": pass\nelif line == \"{end}\": pass\n");
    assert_eq!(content_finding(parser.as_bytes()), None);
    let public = format!(
        "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
        "FAKEKEY0".repeat(12)
    );
    assert_eq!(content_finding(public.as_bytes()), None);
    let binary = format!("\0{key}");
    assert_eq!(content_finding(binary.as_bytes()), None);
}

#[test]
fn url_credentials() {
    let text = "\
[mirrors]
\"https://a.example\" = [\"https://user:hunter2@mirror.example/conda\"]
ok = \"https://mirror.example/path@v1\"
tok = \"https://abc123@git.example/repo.git\"
ssh = \"git+ssh://git@git.example/repo.git\"
env = \"https://user:${PASSWORD}@mirror.example\"
email = \"someone@example.org\"
pep508 = \"pkg @ https://files.example/pkg.whl\"
";
    let hits = scan_url_credentials(text);
    let lines: Vec<usize> = hits.iter().map(|h| h.line).collect();
    assert_eq!(lines, [2, 4]);
    assert_eq!(hits[0].masked, "https://***@mirror.example");
    for hit in &hits {
        assert!(!hit.masked.contains("hunter2") && !hit.masked.contains("abc123"));
    }
    // Channel tokens in the path; a forum topic and a placeholder are not tokens.
    let text = "\
channels = [\"https://conda.example/t/ab-12cd34ef-5678-90ab/private-channel\"]
url: https://conda.example/t/Zq81kLm0pX3vB7nQ/label/main/linux-64/pkg-1.0-0.conda
forum = \"https://discuss.example/t/how-to-stage-offline/1234\"
template = \"https://conda.example/t/<token>/channel\"
env = \"https://conda.example/t/${TOKEN}/channel\"
";
    let hits = scan_url_credentials(text);
    let lines: Vec<usize> = hits.iter().map(|h| h.line).collect();
    assert_eq!(lines, [1, 2], "{hits:?}");
    assert_eq!(hits[0].masked, "https://conda.example/t/***");
    assert!(!hits[1].masked.contains("Zq81"));
}

#[test]
fn url_credentials_are_an_input_error_unless_allowed() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config.toml");
    std::fs::write(&path, "a = 1\nurl = \"https://u:s3cr3t@h.example/\"\n").unwrap();
    let files = [ScannedFile {
        label: ".pixi/config.toml".to_string(),
        path: Cow::Borrowed(&path),
    }];
    let err = check_url_credentials(&files, false).unwrap_err();
    assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
    let message = format!("{err:#}");
    assert!(message.contains(".pixi/config.toml:2"), "{message}");
    assert!(!message.contains("s3cr3t"), "{message}");
    check_url_credentials(&files, true).unwrap();
    let missing = dir.path().join("missing");
    check_url_credentials(
        &[ScannedFile {
            label: "m".to_string(),
            path: Cow::Borrowed(&missing),
        }],
        false,
    )
    .unwrap();
}
