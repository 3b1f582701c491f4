//! The README's "Training from a static arena" program is the crate's
//! front-page doctest (`src/lib.rs`), which `cargo test` compiles and runs;
//! this test fails when the two drift apart, so the README's copy is code
//! that compiles too.

use std::path::Path;

/// The README block is the ```` ```rust ```` block that holds this line.
const MARKER: &str = "static ARENA: ConstStaticCell<";

/// The body of the first ```` ```rust ```` block of `markdown` that contains
/// [`MARKER`].
fn readme_block(markdown: &str) -> Option<String> {
    let mut rest = markdown;
    while let Some(start) = rest.find("```rust\n") {
        let body = &rest[start + "```rust\n".len()..];
        let end = body.find("\n```")?;
        let block = &body[..end + 1];
        if block.contains(MARKER) {
            return Some(block.to_string());
        }
        rest = &body[end + 4..];
    }
    None
}

/// The code of the first doctest of `//!` crate docs, as a reader sees it:
/// the `//!` prefix removed and the hidden `# ` lines left out.
fn front_page_doctest(source: &str) -> Option<String> {
    let docs = source
        .lines()
        .map_while(|l| l.strip_prefix("//!"))
        .map(|l| l.strip_prefix(' ').unwrap_or(l));
    let mut code = String::new();
    let mut inside = false;
    for line in docs {
        if line.starts_with("```") {
            if inside {
                return Some(code);
            }
            inside = true;
        } else if inside && !(line == "#" || line.trim_start().starts_with("# ")) {
            code.push_str(line);
            code.push('\n');
        }
    }
    None
}

#[test]
fn readme_static_arena_is_the_front_page_doctest() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(dir.join("../README.md")).expect("README.md");
    let lib = std::fs::read_to_string(dir.join("src/lib.rs")).expect("src/lib.rs");
    let readme = readme_block(&readme).expect("README: no ```rust block with the static arena");
    let doctest = front_page_doctest(&lib).expect("src/lib.rs: no front-page doctest");
    assert_eq!(
        readme, doctest,
        "README.md's static-arena program and src/lib.rs's front-page doctest differ"
    );
}

#[test]
fn the_extractors_see_a_difference() {
    let readme = "x\n```rust\nstatic ARENA: ConstStaticCell<[f32; 4]>;\nfn main() {}\n```\n";
    let lib = "//! Docs.\n//!\n//! ```\n//! static ARENA: ConstStaticCell<[f32; 4]>;\n//! # hidden();\n//! fn main() {}\n//! ```\nfn x() {}\n";
    assert_eq!(readme_block(readme), front_page_doctest(lib));
    let changed = lib.replace("fn main() {}", "fn main() { }");
    assert_ne!(readme_block(readme), front_page_doctest(&changed));
}
