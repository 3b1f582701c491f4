//! # microprop-examples: what the examples in this folder share
//!
//! The examples themselves are the files next to `Cargo.toml`:
//!
//! ```text
//! cargo run --release --example digits                # train 64-32-10 on the UCI digits, curves as PNG + CSV
//! cargo run --release --example digits -- --help
//! cargo run --release --example digits -- --cnn      # a 2-D CNN on the digits as 1×8×8 images
//! cargo run --release --example timeseries -- --seeds 5   # a 1-D CNN on BasicMotions (or --set gun-point)
//! cargo run --release --example pretrain -- --check   # the finetune firmware's blob, reproduced byte for byte
//! cargo run --release --example pretrain -- --motions --check   # the motions firmware's micro:bit CNN
//! ```
//!
//! This library holds what they share: where they write their files
//! ([`out_dir`], [`prepare_out_dir`], [`file_in`]: a folder the user
//! chooses with `--out DIR`, [`default_out_dir`] under cargo's `target/`
//! otherwise, checked before any training starts) and the digits recipe
//! ([`DIGITS_CONFIG`], [`DIGITS_EPOCHS`], [`DIGITS_SPLIT_SEED`]), the one the
//! conformance suite's digits test trains too. The data comes from
//! `microprop-data`, the one loader of the vendored CSV files.

use microprop::{Config, Loss, Optimizer};
use std::fmt;
use std::io;
use std::path::{Component, Path, PathBuf};

/// The digits example's training configuration: batch 32, softmax
/// cross-entropy, Adam(0.002), initialisation seed 3.
pub const DIGITS_CONFIG: Config =
    Config::new(32, Loss::SoftmaxCrossEntropy, Optimizer::adam(2e-3)).with_seed(3);
/// Epochs the digits example trains for by default.
pub const DIGITS_EPOCHS: usize = 40;
/// Seed of the digits example's shuffled 80/20 split.
pub const DIGITS_SPLIT_SEED: u64 = 0;

/// Where the examples write when no `--out` is given:
/// `$CARGO_TARGET_DIR/microprop-examples` when that variable is set, else
/// `target/microprop-examples` in this repository (cargo's build folder,
/// ignored by git). Relative to the current folder when it lies inside it,
/// so messages show `target/microprop-examples/...` at the repository root.
pub fn default_out_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
            manifest.parent().unwrap_or(manifest).join("target")
        });
    let dir = target.join("microprop-examples");
    std::env::current_dir()
        .ok()
        .and_then(|cwd| dir.strip_prefix(cwd).ok().map(Path::to_path_buf))
        .filter(|rel| !rel.as_os_str().is_empty())
        .unwrap_or(dir)
}

/// Why an output folder cannot be used.
#[derive(Debug)]
#[non_exhaustive]
pub enum OutDirError {
    /// The path is empty.
    Empty,
    /// The folder does not exist and cannot be created (a parent is a file,
    /// a read-only file system, no permission, ...), or the path is a file.
    Create {
        /// The folder asked for.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
    /// The folder exists, but a file cannot be created in it.
    NotWritable {
        /// The folder asked for.
        path: PathBuf,
        /// What the file system said.
        source: io::Error,
    },
}

impl fmt::Display for OutDirError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OutDirError::Empty => write!(f, "the output folder (--out) is an empty path"),
            OutDirError::Create { path, source } => write!(
                f,
                "cannot create the output folder {}: {source}; choose another with --out DIR",
                path.display()
            ),
            OutDirError::NotWritable { path, source } => write!(
                f,
                "cannot write into the output folder {}: {source}; choose another with --out DIR",
                path.display()
            ),
        }
    }
}

impl std::error::Error for OutDirError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            OutDirError::Empty => None,
            OutDirError::Create { source, .. } | OutDirError::NotWritable { source, .. } => {
                Some(source)
            }
        }
    }
}

/// The folder `--out` names, or [`default_out_dir`] without one.
pub fn out_dir(arg: Option<&Path>) -> PathBuf {
    arg.map_or_else(default_out_dir, Path::to_path_buf)
}

/// Make sure the examples can write into `dir` before they train: create it
/// (with its parents) when missing, then create and remove a probe file in
/// it. Returns `dir`; an error says which folder and why, so an example can
/// refuse it before any training starts.
pub fn prepare_out_dir(dir: &Path) -> Result<PathBuf, OutDirError> {
    if dir.as_os_str().is_empty() {
        return Err(OutDirError::Empty);
    }
    let create = |source| OutDirError::Create {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(create)?;
    if !dir.is_dir() {
        return Err(create(io::Error::new(
            io::ErrorKind::AlreadyExists,
            "a file, not a folder, has this name",
        )));
    }
    let probe = dir.join(format!(".microprop-write-probe-{}", std::process::id()));
    let not_writable = |source| OutDirError::NotWritable {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
        .map_err(not_writable)?;
    std::fs::remove_file(&probe).map_err(not_writable)?;
    Ok(dir.to_path_buf())
}

/// `dir/name` for an output file named by `flag` (`--save NAME`): `name`
/// must be a plain file name, so every file an example writes lands in the
/// output folder.
pub fn file_in(dir: &Path, flag: &str, name: &str) -> Result<PathBuf, String> {
    let mut parts = Path::new(name).components();
    match (parts.next(), parts.next()) {
        (Some(Component::Normal(_)), None) => Ok(dir.join(name)),
        _ => Err(format!(
            "{flag} takes a file name, written into the output folder (--out DIR), not {name:?}"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A fresh folder under cargo's target dir for one test.
    fn scratch(name: &str) -> PathBuf {
        let d = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../target/microprop-examples-tests")
            .join(format!("{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).unwrap();
        d
    }

    #[test]
    fn a_missing_folder_is_created_and_left_empty() {
        let d = scratch("create").join("a/b");
        assert_eq!(prepare_out_dir(&d).unwrap(), d);
        assert!(d.is_dir());
        assert_eq!(
            std::fs::read_dir(&d).unwrap().count(),
            0,
            "the probe is removed"
        );
        // Again: an existing writable folder is fine.
        prepare_out_dir(&d).unwrap();
    }

    #[test]
    fn a_folder_under_a_file_is_refused() {
        let d = scratch("under-file");
        let file = d.join("plain-file");
        std::fs::write(&file, b"x").unwrap();
        let e = prepare_out_dir(&file.join("sub")).unwrap_err();
        assert!(matches!(e, OutDirError::Create { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("cannot create the output folder"), "{msg}");
        assert!(msg.contains("plain-file/sub"), "{msg}");
        // The file itself is not a folder either.
        let e = prepare_out_dir(&file).unwrap_err();
        assert!(matches!(e, OutDirError::Create { .. }), "{e:?}");
        assert_eq!(std::fs::read(&file).unwrap(), b"x", "the file is untouched");
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn a_folder_in_proc_is_refused() {
        let e = prepare_out_dir(Path::new("/proc/nope")).unwrap_err();
        assert!(e.to_string().contains("/proc/nope"), "{e}");
        assert!(!Path::new("/proc/nope").exists());
    }

    #[test]
    fn an_empty_path_is_refused() {
        assert!(matches!(
            prepare_out_dir(Path::new("")),
            Err(OutDirError::Empty)
        ));
    }

    #[test]
    fn output_names_are_plain_file_names() {
        let d = Path::new("out");
        assert_eq!(
            file_in(d, "--save", "m.safetensors").unwrap(),
            d.join("m.safetensors")
        );
        for bad in ["", "a/b", "../m", "/tmp/m", ".", ".."] {
            let e = file_in(d, "--save", bad).unwrap_err();
            assert!(e.contains("--save takes a file name"), "{bad}: {e}");
        }
    }

    #[test]
    fn the_default_folder_is_under_target() {
        let d = out_dir(None);
        assert!(d.ends_with("microprop-examples"), "{}", d.display());
        assert_eq!(out_dir(Some(Path::new("x"))), Path::new("x"));
    }
}
