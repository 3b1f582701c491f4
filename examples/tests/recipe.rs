//! The digits example trains what the conformance suite's digits test trains
//! (the README's 0.9805 is that run), so the two cannot drift apart.

use host_tests::suite::train;

#[test]
fn digits_example_uses_the_suites_recipe() {
    assert_eq!(microprop_examples::DIGITS_CONFIG, train::DIGITS_CONFIG);
    assert_eq!(microprop_examples::DIGITS_EPOCHS, train::DIGITS_EPOCHS);
    assert_eq!(
        microprop_examples::DIGITS_SPLIT_SEED,
        train::DIGITS_SPLIT_SEED
    );
    // The example's default model, `dense(64,32) relu dense(32,10)`.
    let parsed = microprop_cli::spec_text::parse_spec("dense(64,32) relu dense(32,10)").unwrap();
    assert_eq!(parsed.spec().layers(), train::DIGITS.layers());
}
