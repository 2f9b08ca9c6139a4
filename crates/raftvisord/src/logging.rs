//! The daemon's main log: tracing events go to `[supervisord] logfile` with Supervisor's
//! size-based rotation (`logfile_maxbytes`, `logfile_backups`) and, unless `silent`, to stderr.
//! SIGUSR2 reopens the file (for logrotate-style external rotation).

use std::fs::{File, OpenOptions};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

/// A log file that rotates at `max_bytes` (0 = never) keeping `backups` old copies
/// (`name.1` … `name.N`), as Supervisor's `RotatingFileHandler`.
pub struct RotatingFile {
    path: PathBuf,
    max_bytes: u64,
    backups: u32,
    file: File,
    size: u64,
}

impl RotatingFile {
    pub fn open(path: &Path, max_bytes: u64, backups: u32) -> io::Result<Self> {
        let file = OpenOptions::new().create(true).append(true).open(path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path: path.to_path_buf(),
            max_bytes,
            backups,
            file,
            size,
        })
    }

    pub fn reopen(&mut self) -> io::Result<()> {
        self.file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = self.file.metadata()?.len();
        Ok(())
    }

    fn rotate(&mut self) -> io::Result<()> {
        if self.backups == 0 {
            self.file.set_len(0)?;
            self.size = 0;
            return Ok(());
        }
        for n in (1..self.backups).rev() {
            let from = backup_name(&self.path, n);
            if from.exists() {
                std::fs::rename(&from, backup_name(&self.path, n + 1))?;
            }
        }
        std::fs::rename(&self.path, backup_name(&self.path, 1))?;
        self.reopen()
    }

    pub fn write_record(&mut self, data: &[u8]) -> io::Result<()> {
        if self.max_bytes > 0 && self.size + data.len() as u64 > self.max_bytes && self.size > 0 {
            self.rotate()?;
        }
        self.file.write_all(data)?;
        self.size += data.len() as u64;
        Ok(())
    }
}

fn backup_name(path: &Path, n: u32) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(format!(".{n}"));
    PathBuf::from(name)
}

/// Shared handle used as a tracing writer; cheap to clone.
#[derive(Clone)]
pub struct MainLog {
    file: Option<Arc<Mutex<RotatingFile>>>,
    echo: bool,
}

impl MainLog {
    pub fn new(file: Option<RotatingFile>, echo: bool) -> Self {
        MainLog {
            file: file.map(|f| Arc::new(Mutex::new(f))),
            echo,
        }
    }

    pub fn reopen(&self) -> io::Result<()> {
        match &self.file {
            Some(file) => file
                .lock()
                .map_err(|_| io::Error::other("main log lock poisoned"))?
                .reopen(),
            None => Ok(()),
        }
    }
}

pub struct MainLogWriter(MainLog);

impl Write for MainLogWriter {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        if self.0.echo {
            let _ = io::stderr().write_all(buf);
        }
        if let Some(file) = &self.0.file {
            if let Ok(mut f) = file.lock() {
                f.write_record(buf)?;
            }
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl<'a> tracing_subscriber::fmt::MakeWriter<'a> for MainLog {
    type Writer = MainLogWriter;

    fn make_writer(&'a self) -> Self::Writer {
        MainLogWriter(self.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rotates_at_max_bytes_and_keeps_backups() -> io::Result<()> {
        let dir = tempfile::tempdir()?;
        let path = dir.path().join("main.log");
        let mut f = RotatingFile::open(&path, 10, 2)?;
        for chunk in ["aaaaaaaa\n", "bbbbbbbb\n", "cccccccc\n", "dddddddd\n"] {
            f.write_record(chunk.as_bytes())?;
        }
        assert_eq!(std::fs::read_to_string(&path)?, "dddddddd\n");
        assert_eq!(
            std::fs::read_to_string(backup_name(&path, 1))?,
            "cccccccc\n"
        );
        assert_eq!(
            std::fs::read_to_string(backup_name(&path, 2))?,
            "bbbbbbbb\n"
        );
        assert!(!backup_name(&path, 3).exists());
        Ok(())
    }
}
