//! `../data/digits.csv` (1797 rows: 64 pixels 0..=16, then the label), read
//! by `microprop-data` (the one loader the host examples, the suite and the
//! CLI use; it embeds the file, so an edit of it rebuilds this), into
//! `digits_x.bin` (u8 pixels, row-major) and `digits_y.bin` (u8 labels) in
//! OUT_DIR. Pixels are integers 0..=16, so u8 loses nothing. Nothing
//! generated is committed.
use std::fs;
use std::path::PathBuf;

fn main() {
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR"));
    let d = microprop_data::Digits::load().unwrap_or_else(|e| panic!("data/digits.csv: {e}"));
    fs::write(out.join("digits_x.bin"), &d.pixels).expect("write digits_x.bin");
    fs::write(out.join("digits_y.bin"), &d.labels).expect("write digits_y.bin");
    println!("cargo:rerun-if-changed=build.rs");
}
