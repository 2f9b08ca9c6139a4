//! The Supvisors rules file parser (XML, models, patterns, aliases), on any file: a bad file
//! is an error naming what is wrong, never a panic; what it accepts gets its matchers built
//! (the patterns compiled) as the daemon does.
#![no_main]

use std::path::PathBuf;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let sources = [(PathBuf::from("fuzz-rules.xml"), text.to_string())];
    let instances = ["h1".to_string(), "h2".to_string(), "h3".to_string()];
    if let Ok(mut rules) = config::rules::from_sources(&sources, &instances) {
        let _ = config::rules::attach_matcher(&mut rules);
    }
});
