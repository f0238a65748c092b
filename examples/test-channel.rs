//! Writes the test suite's conda channel into a folder, for scripts that serve it outside the test
//! harness (`scripts/pack-demo.sh`, `benches/`):
//!
//! ```sh
//! cargo run --example test-channel -- /tmp/srv/testchannel
//! ```

#[path = "../tests/it/common/channel.rs"]
mod channel;

fn main() {
    let Some(dir) = std::env::args_os().nth(1) else {
        eprintln!("usage: test-channel DIR");
        std::process::exit(2);
    };
    channel::write_channel(std::path::Path::new(&dir));
}
