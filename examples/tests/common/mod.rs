//! What the tests that run the built example binaries share.

use std::path::{Path, PathBuf};

/// The example binary `name`, built by this `cargo test` next to this test
/// (`target/<profile>/examples/` beside `target/<profile>/deps/`).
pub fn example(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("the test's own path");
    let profile_dir = exe
        .parent()
        .and_then(Path::parent)
        .expect("a test binary lives in <target>/<profile>/deps");
    let path = profile_dir
        .join("examples")
        .join(format!("{name}{}", std::env::consts::EXE_SUFFIX));
    assert!(
        path.is_file(),
        "{} is not built: run these tests with `cargo test -p microprop-examples` \
         (which builds the examples first), not with a `--test` filter alone",
        path.display()
    );
    path
}
