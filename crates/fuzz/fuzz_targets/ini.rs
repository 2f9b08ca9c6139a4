//! The configuration loader (Supervisor's INI dialect, `%(...)s` expansion, every section's
//! options) and the `[rpcinterface:supvisors]` resolution, on any file: a bad file is an error
//! naming what is wrong, never a panic. `[include]` is left out: it reads other files, by glob.
#![no_main]

use std::path::PathBuf;
use std::sync::OnceLock;

use libfuzzer_sys::fuzz_target;

/// One file per fuzzing process, rewritten for each input.
fn path() -> &'static PathBuf {
    static PATH: OnceLock<PathBuf> = OnceLock::new();
    PATH.get_or_init(|| {
        std::env::temp_dir().join(format!("raftvisor-fuzz-{}.conf", std::process::id()))
    })
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if text.to_ascii_lowercase().contains("include") {
        return;
    }
    if std::fs::write(path(), text).is_err() {
        return;
    }
    let ctx = config::Context {
        host_node_name: "fuzz".into(),
        ..Default::default()
    };
    if let Ok(loaded) = config::load_with(path(), &ctx) {
        let _ = config::supvisors::resolve(&loaded);
    }
});
