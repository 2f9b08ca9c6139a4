//! Where the configuration comes from: the file and the command-line overrides. The daemon
//! reads it again, the same way, at each `reloadConfig`, SIGHUP restart and `update_numprocs`.

use model::Config;
use std::path::PathBuf;

/// The options of the command line that override `[supervisord]` (`-j`, `-l`, `-i`, `-e`).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub pidfile: Option<PathBuf>,
    pub logfile: Option<PathBuf>,
    pub identifier: Option<String>,
    /// As given (`-e`): checked at each load, so a bad level is a config error.
    pub loglevel: Option<String>,
}

/// The configuration file (absolute) and the overrides applied to every read of it.
#[derive(Debug, Clone)]
pub struct ConfigSource {
    pub path: PathBuf,
    pub overrides: Overrides,
}

/// Why the configuration could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// Every problem of the file, each as `file:line: what is wrong`.
    #[error("{0}")]
    Config(config::ConfigError),
    /// `-e LEVEL` names no Supervisor log level.
    #[error("-e {level}: {message}")]
    LogLevel { level: String, message: String },
}

impl ConfigSource {
    pub fn new(path: PathBuf, overrides: Overrides) -> Self {
        ConfigSource { path, overrides }
    }

    /// The configuration with the overrides applied.
    pub fn load(&self) -> Result<Config, LoadError> {
        self.load_with(&procman::NumprocsOverrides::new())
    }

    /// The configuration with the overrides and Supvisors' `update_numprocs` overrides
    /// (program → numprocs) applied.
    pub fn load_with(&self, numprocs: &procman::NumprocsOverrides) -> Result<Config, LoadError> {
        let mut config =
            config::load_with_numprocs(&self.path, &config::Context::from_process(), numprocs)
                .map_err(LoadError::Config)?;
        let o = &self.overrides;
        if let Some(p) = &o.pidfile {
            config.supervisord.pidfile = p.clone();
        }
        if let Some(p) = &o.logfile {
            config.supervisord.logfile = p.clone();
            config.supervisord.logfile_syslog = false;
        }
        if let Some(i) = &o.identifier {
            config.supervisord.identifier = i.clone();
        }
        if let Some(level) = &o.loglevel {
            config.supervisord.loglevel =
                config::parse_loglevel(level).map_err(|message| LoadError::LogLevel {
                    level: level.clone(),
                    message,
                })?;
        }
        Ok(config)
    }
}
