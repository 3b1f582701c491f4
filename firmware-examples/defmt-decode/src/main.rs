//! `defmt-decode ELF`: read defmt frames from stdin, print them decoded.
//!
//! Reads the ELF's defmt table, decodes the byte stream QEMU's semihosting
//! forwards to stdout, and prints one line per log frame with its level and
//! source location. Stops at end of input; exits non-zero if the stream was
//! malformed or ended in the middle of a frame, so a pipeline under
//! `set -o pipefail` fails on a garbled log.

use std::io::Read;
use std::process::ExitCode;

use defmt_decoder::{DecodeError, Table};

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: defmt-decode ELF < frames");
        return ExitCode::from(2);
    };
    let elf = match std::fs::read(&path) {
        Ok(elf) => elf,
        Err(e) => {
            eprintln!("defmt-decode: cannot read {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let table = match Table::parse(&elf) {
        Ok(Some(table)) => table,
        Ok(None) => {
            eprintln!("defmt-decode: {path} has no .defmt section");
            return ExitCode::from(2);
        }
        Err(e) => {
            eprintln!("defmt-decode: {path}: {e}");
            return ExitCode::from(2);
        }
    };
    let locations = table.get_locations(&elf).unwrap_or_default();
    let mut decoder = table.new_stream_decoder();
    let mut stdin = std::io::stdin().lock();
    let mut buf = [0u8; 4096];
    let mut status = ExitCode::SUCCESS;
    loop {
        let n = match stdin.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                eprintln!("defmt-decode: reading stdin: {e}");
                return ExitCode::from(2);
            }
        };
        decoder.received(&buf[..n]);
        loop {
            match decoder.decode() {
                Ok(frame) => {
                    let level = frame
                        .level()
                        .map(|l| l.as_str().to_uppercase())
                        .unwrap_or_else(|| "PRINT".into());
                    let at = locations
                        .get(&frame.index())
                        .map(|l| format!("  ({}:{})", file_name(&l.file), l.line))
                        .unwrap_or_default();
                    println!("{level:<5} {}{at}", frame.display_message());
                }
                Err(DecodeError::UnexpectedEof) => break,
                Err(DecodeError::Malformed) => {
                    eprintln!("defmt-decode: malformed frame (stale ELF or a non-defmt write?)");
                    status = ExitCode::from(3);
                    if table.encoding().can_recover() {
                        continue;
                    }
                    return status;
                }
            }
        }
    }
    status
}

fn file_name(path: &std::path::Path) -> String {
    path.file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}
