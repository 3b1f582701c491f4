//! Compiles every `shaders/*.comp` kernel to SPIR-V with `glslc` (Debian
//! package `glslc`), prepending `shaders/common.glsl`. The words are embedded
//! with `include_bytes!` from `OUT_DIR` (see `src/shaders.rs`).
//!
//! Set `GLSLC` to use a compiler that is not on `PATH`.

use std::env;
use std::fs;
use std::path::PathBuf;
use std::process::Command;

fn main() {
    let dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").expect("CARGO_MANIFEST_DIR"));
    let shaders = dir.join("shaders");
    let out = PathBuf::from(env::var("OUT_DIR").expect("OUT_DIR"));
    let glslc = env::var("GLSLC").unwrap_or_else(|_| "glslc".to_string());
    println!("cargo:rerun-if-changed=shaders");
    println!("cargo:rerun-if-env-changed=GLSLC");

    let common = fs::read_to_string(shaders.join("common.glsl")).expect("read shaders/common.glsl");
    let mut names: Vec<_> = fs::read_dir(&shaders)
        .expect("read shaders/")
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|x| x == "comp"))
        .collect();
    names.sort();
    for path in names {
        let stem = path.file_stem().unwrap().to_string_lossy().into_owned();
        let body = fs::read_to_string(&path).expect("read shader");
        let src = out.join(format!("{stem}.comp"));
        fs::write(&src, format!("{common}\n#line 1\n{body}")).expect("write shader source");
        let spv = out.join(format!("{stem}.spv"));
        let status = Command::new(&glslc)
            .args([
                "-fshader-stage=compute",
                "--target-env=vulkan1.0",
                "-O",
                "-Werror",
            ])
            .arg(&src)
            .arg("-o")
            .arg(&spv)
            .status();
        match status {
            Ok(s) if s.success() => {}
            Ok(s) => panic!("glslc failed on shaders/{stem}.comp ({s})"),
            Err(e) => panic!(
                "cannot run `{glslc}` ({e}): microprop-vulkan compiles its GLSL kernels \
                 with glslc; install it (Debian/Ubuntu: `apt-get install glslc`) or set GLSLC"
            ),
        }
    }
}
