#[test]
fn image_names_have_a_docker_and_a_podman_spelling() {
    use super::other_spelling;
    assert_eq!(
        other_spelling("pixi-airgap-testbed:pixi-0.15.2").as_deref(),
        Some("localhost/pixi-airgap-testbed:pixi-0.15.2")
    );
    assert_eq!(
        other_spelling("localhost/pixi-airgap-testbed:no-pixi").as_deref(),
        Some("pixi-airgap-testbed:no-pixi")
    );
    assert_eq!(
        other_spelling("library/debian:12").as_deref(),
        Some("localhost/library/debian:12")
    );
    assert_eq!(other_spelling("registry.example:5000/x:1"), None);
    assert_eq!(other_spelling("quay.io/x/y:1"), None);
    assert_eq!(other_spelling("x@sha256:00"), None);
}
