//! The `colloquy` binary as a child process, for tests that kill, stop or
//! restart servers: started on a free port, killed (SIGKILL) when dropped, so
//! a failing test never leaves one running (holding the test's output open).

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

/// A running child, killed when dropped.
pub struct Proc(pub Child);

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts `colloquy --bind 127.0.0.1:0 --rate-limit 0 ARGS…` in dev mode, with
/// `RUST_LOG` at `log`, and waits for its `listening on` line. Answers the
/// child and its base URL.
pub fn colloquy(args: &[&str], log: &str) -> (Proc, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_colloquy"))
        .args(["--bind", "127.0.0.1:0", "--rate-limit", "0"])
        .args(args)
        .env("RUST_LOG", log)
        .env_remove("COLLOQUY_JWT_SECRET")
        .env_remove("COLLOQUY_ADMIN_KEY")
        .env_remove("COLLOQUY_DATA_DIR")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("the binary runs");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().expect("stdout"))
        .read_line(&mut line)
        .expect("a line");
    let url = line
        .trim()
        .strip_prefix("listening on ")
        .unwrap_or_else(|| panic!("{args:?} did not start: {line:?}"))
        .to_string();
    (Proc(child), url)
}
