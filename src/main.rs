//! The `ganflow` binary: parses arguments and calls the library (see `cli`).

mod cli;

use std::io::Write;
use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::main() {
        Ok(code) => code,
        // A reader that stopped early (`| head -1`) is not an error (as ripgrep does).
        Err(e) if cli::is_broken_pipe(e.as_ref()) => ExitCode::SUCCESS,
        Err(e) => {
            // Standard error may be gone too; there is nothing left to tell then.
            let _ = writeln!(std::io::stderr(), "error: {e}");
            ExitCode::FAILURE
        }
    }
}
