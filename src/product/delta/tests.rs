use super::*;

#[test]
fn apply_script_renders_with_every_placeholder() {
    let text = render(
        APPLY_SH,
        &[
            ("PROJECT", Value::Word("demo")),
            ("BASE_SUMS", Value::Word(&"a".repeat(64))),
            ("TARGET_SUMS", Value::Word(&"b".repeat(64))),
            ("WITH_SUMS", Value::Word("1")),
            ("BASE_DIRS_EXACT", Value::Word("1")),
        ],
    )
    .unwrap();
    insta::assert_snapshot!("apply-delta.sh", text);
}

#[test]
fn plain_paths_only() {
    for bad in ["", "/abs", "a/../b", "a//b", "./a", "a\nb", "a\tb", "a\\b"] {
        assert!(plain_problem(bad), "{bad:?}");
    }
    assert!(!plain_problem("pkg-cache/pkgs/a b/c.json"));
}

#[test]
fn lists_are_sorted_bytewise() {
    let mut state = ProductState::default();
    for path in ["b", "a/z", "a.b", "A"] {
        state.entries.insert(
            path.to_string(),
            Entry::File {
                sha256: "0".repeat(64),
                size: None,
                executable: None,
            },
        );
    }
    state.entries.insert("a".to_string(), Entry::Dir);
    state
        .entries
        .insert("l".to_string(), Entry::Link("b".to_string()));
    let zeros = "0".repeat(64);
    assert_eq!(
        state.sums_text(),
        format!("{zeros}  A\n{zeros}  a.b\n{zeros}  a/z\n{zeros}  b\n")
    );
    assert_eq!(state.tree_text(), "dir\ta\nlink\tl\tb\n");
}
