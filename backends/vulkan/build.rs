//! Puts every kernel's SPIR-V in `OUT_DIR` as `<stem>.spv`, where
//! `src/kernels.rs` embeds it with `include_bytes!`.
//!
//! By default the SPIR-V is the committed `shaders/spv/<stem>.spv`, so the
//! crate builds without a GLSL compiler (docs.rs, a user's machine).
//!
//! With `MICROPROP_GLSLC=1` every `shaders/*.comp` kernel is compiled with
//! `glslc` (Debian package `glslc`; set `GLSLC` to use one that is not on
//! `PATH`), `shaders/common.glsl` prepended, and each `shaders/spv/<stem>.spv`
//! that differs is rewritten (commit it with the shader). After editing a
//! shader, build once that way:
//!
//! ```text
//! MICROPROP_GLSLC=1 cargo build -p microprop-vulkan
//! ```
//!
//! `check-spirv.sh` (run by CI) recompiles every shader with the same
//! invocation and fails if a committed file differs.

use std::env;
use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

/// The committed SPIR-V, relative to the crate.
const SPV_DIR: &str = "shaders/spv";

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let shaders = dir.join("shaders");
    let committed = dir.join(SPV_DIR);
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    println!("cargo:rerun-if-changed=shaders");
    println!("cargo:rerun-if-env-changed=MICROPROP_GLSLC");
    println!("cargo:rerun-if-env-changed=GLSLC");

    let compile = env::var("MICROPROP_GLSLC").is_ok_and(|v| !v.is_empty() && v != "0");
    for stem in shader_stems(&shaders) {
        let spv = out.join(format!("{stem}.spv"));
        let kept = committed.join(format!("{stem}.spv"));
        if compile {
            glslc(&shaders, &out, &stem, &spv);
            let fresh = fs::read(&spv).expect("read compiled SPIR-V");
            if fs::read(&kept).ok().as_deref() != Some(&fresh[..]) {
                fs::create_dir_all(&committed).expect("create shaders/spv");
                fs::write(&kept, &fresh).expect("write shaders/spv");
                println!("cargo:warning=updated {SPV_DIR}/{stem}.spv from shaders/{stem}.comp: commit it");
            }
        } else {
            if let Err(e) = fs::copy(&kept, &spv) {
                panic!(
                    "{SPV_DIR}/{stem}.spv is missing or unreadable ({e}) for shaders/{stem}.comp: \
                     compile it with `MICROPROP_GLSLC=1 cargo build -p microprop-vulkan` \
                     (needs glslc) and commit it"
                );
            }
        }
    }
}

/// The stems of `shaders/*.comp`, sorted.
fn shader_stems(shaders: &Path) -> Vec<String> {
    let mut stems: Vec<String> = fs::read_dir(shaders)
        .expect("read shaders/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "comp"))
        .filter_map(|p| p.file_stem().map(|s| s.to_string_lossy().into_owned()))
        .collect();
    stems.sort();
    stems
}

/// Compile `shaders/<stem>.comp`, with `shaders/common.glsl` prepended, to
/// `spv`. `check-spirv.sh` repeats this invocation: change both together.
fn glslc(shaders: &Path, out: &Path, stem: &str, spv: &Path) {
    let glslc = env::var("GLSLC").unwrap_or_else(|_| "glslc".to_string());
    let common = fs::read_to_string(shaders.join("common.glsl")).expect("read shaders/common.glsl");
    let body = fs::read_to_string(shaders.join(format!("{stem}.comp"))).expect("read shader");
    let src = out.join(format!("{stem}.comp"));
    fs::write(&src, format!("{common}\n#line 1\n{body}")).expect("write shader source");
    let status = Command::new(&glslc)
        .args([
            "-fshader-stage=compute",
            "--target-env=vulkan1.0",
            "-O",
            "-Werror",
        ])
        .arg(&src)
        .arg("-o")
        .arg(spv)
        .status();
    match status {
        Ok(s) if s.success() => {}
        Ok(s) => panic!("glslc failed on shaders/{stem}.comp ({s})"),
        Err(e) => panic!(
            "cannot run `{glslc}` ({e}): MICROPROP_GLSLC=1 compiles the GLSL kernels with \
             glslc; install it (Debian/Ubuntu: `apt-get install glslc`), set GLSLC, or unset \
             MICROPROP_GLSLC to use the committed SPIR-V in {SPV_DIR}/"
        ),
    }
}
