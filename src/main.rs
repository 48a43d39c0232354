//! The `spoor` binary: one executable, one subcommand per role.
#![forbid(unsafe_code)]

fn main() -> anyhow::Result<()> {
    Ok(())
}
