//! Log files: Supervisor's size-rotated child logs (`name.log`, `name.log.1` … `.N`) and its
//! `readFile` / `tailFile` byte-range rules, which the XML-RPC read/tail methods expose.
//!
//! The byte-range arithmetic is pure ([`read_range`], [`tail_range`]); the file access around it
//! is a thin layer.

use model::{Fault, FaultCode};
use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

/// Where `readFile` reads: `(start, max bytes or None = to the end)`, or the fault name.
pub fn read_range(size: u64, offset: i64, length: i64) -> Result<(u64, Option<u64>), FaultCode> {
    if offset < 0 {
        if length != 0 {
            return Err(FaultCode::BadArguments);
        }
        let abs = offset.unsigned_abs();
        Ok((size.saturating_sub(abs), Some(abs)))
    } else if length < 0 {
        Err(FaultCode::BadArguments)
    } else if length == 0 {
        Ok((offset as u64, None))
    } else {
        Ok((offset as u64, Some(length as u64)))
    }
}

/// `tailFile`: `(start, length, new offset, overflow)` for a file of `size` bytes.
pub fn tail_range(size: i64, offset: i64, length: i64) -> (i64, i64, i64, bool) {
    let (mut offset, mut length) = (offset, length);
    let mut overflow = false;
    if size > offset.saturating_add(length) {
        overflow = true;
        offset = size - 1;
    }
    if offset.saturating_add(length) > size {
        if offset > size - 1 {
            length = 0;
        }
        offset = size - length;
    }
    offset = offset.max(0);
    length = length.max(0);
    (offset, length, size, overflow)
}

/// Supervisor's `readFile` (NO_FILE is the caller's business, as in Supervisor).
pub fn read_file(path: &Path, offset: i64, length: i64) -> Result<String, Fault> {
    let mut f = File::open(path).map_err(|_| Fault::new(FaultCode::Failed))?;
    let size = f
        .metadata()
        .map_err(|_| Fault::new(FaultCode::Failed))?
        .len();
    let (start, max) = read_range(size, offset, length).map_err(Fault::new)?;
    f.seek(SeekFrom::Start(start))
        .map_err(|_| Fault::new(FaultCode::Failed))?;
    let mut data = Vec::new();
    let res = match max {
        Some(n) => f.take(n).read_to_end(&mut data),
        None => f.read_to_end(&mut data),
    };
    res.map_err(|_| Fault::new(FaultCode::Failed))?;
    Ok(String::from_utf8_lossy(&data).into_owned())
}

/// Supervisor's `tailFile`: any I/O error gives `('', offset, false)`.
pub fn tail_file(path: &Path, offset: i64, length: i64) -> (String, i64, bool) {
    let attempt = || -> std::io::Result<(String, i64, bool)> {
        let mut f = File::open(path)?;
        let size = i64::try_from(f.metadata()?.len()).unwrap_or(i64::MAX);
        let (start, len, new_offset, overflow) = tail_range(size, offset, length);
        let mut data = Vec::new();
        if len > 0 {
            f.seek(SeekFrom::Start(start as u64))?;
            f.take(len as u64).read_to_end(&mut data)?;
        }
        Ok((
            String::from_utf8_lossy(&data).into_owned(),
            new_offset,
            overflow,
        ))
    };
    attempt().unwrap_or((String::new(), offset, false))
}

/// `(from, to)` renames of a rollover with `backups` kept: `.N-1→.N … .1→.2`, then `base→.1`.
pub fn rollover_plan(base: &Path, backups: u32) -> Vec<(PathBuf, PathBuf)> {
    let numbered = |i: u32| PathBuf::from(format!("{}.{i}", base.display()));
    let mut plan: Vec<(PathBuf, PathBuf)> = (1..backups)
        .rev()
        .map(|i| (numbered(i), numbered(i + 1)))
        .collect();
    if backups > 0 {
        plan.push((base.to_path_buf(), numbered(1)));
    }
    plan
}

/// A child log file with Supervisor's rotation: write the chunk, then roll over when the file
/// reached `maxbytes` (0 = never).
#[derive(Debug)]
pub struct RotatingFile {
    pub path: PathBuf,
    maxbytes: u64,
    backups: u32,
    file: Option<File>,
    size: u64,
}

impl RotatingFile {
    pub fn open(path: PathBuf, maxbytes: u64, backups: u32) -> std::io::Result<RotatingFile> {
        let file = OpenOptions::new().create(true).append(true).open(&path)?;
        let size = file.metadata()?.len();
        Ok(RotatingFile {
            path,
            maxbytes,
            backups,
            file: Some(file),
            size,
        })
    }

    pub fn write(&mut self, data: &[u8]) -> std::io::Result<()> {
        if self.file.is_none() {
            self.reopen()?;
        }
        if let Some(f) = self.file.as_mut() {
            f.write_all(data)?;
            self.size += data.len() as u64;
        }
        if self.maxbytes > 0 && self.size >= self.maxbytes {
            self.rollover()?;
        }
        Ok(())
    }

    fn rollover(&mut self) -> std::io::Result<()> {
        self.file = None;
        for (from, to) in rollover_plan(&self.path, self.backups) {
            if from.exists() {
                let _ = std::fs::remove_file(&to);
                std::fs::rename(&from, &to)?;
            }
        }
        self.file = Some(File::create(&self.path)?);
        self.size = 0;
        Ok(())
    }

    /// Reopens the file at its path (SIGUSR2, after an external rotation moved it away).
    pub fn reopen(&mut self) -> std::io::Result<()> {
        let file = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)?;
        self.size = file.metadata()?.len();
        self.file = Some(file);
        Ok(())
    }

    /// `clearProcessLogs`: delete the file and its backups, reopen empty.
    pub fn clear(&mut self) -> std::io::Result<()> {
        self.file = None;
        for i in 1..=self.backups {
            let _ = std::fs::remove_file(format!("{}.{i}", self.path.display()));
        }
        match std::fs::remove_file(&self.path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e),
        }
        self.reopen()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn read_ranges_follow_read_file() {
        assert_eq!(read_range(100, -10, 0), Ok((90, Some(10))));
        assert_eq!(read_range(5, -10, 0), Ok((0, Some(10))));
        assert_eq!(read_range(100, -10, 3), Err(FaultCode::BadArguments));
        assert_eq!(read_range(100, 0, -1), Err(FaultCode::BadArguments));
        assert_eq!(read_range(100, 4, 0), Ok((4, None)));
        assert_eq!(read_range(100, 4, 6), Ok((4, Some(6))));
    }

    #[test]
    fn tail_ranges_match_observed_supervisor() {
        // file "hello-out\n": tail(0,100) -> whole, 10, false; tail(0,3) -> "ut\n", 10, true
        // length is capped by the file when reading
        assert_eq!(tail_range(10, 0, 100), (0, 100, 10, false));
        assert_eq!(tail_range(10, 0, 3), (7, 3, 10, true));
        assert_eq!(tail_range(10, 10, 100), (10, 0, 10, false));
        assert_eq!(tail_range(0, 0, 100), (0, 0, 0, false));
    }

    #[test]
    fn rollover_renames_oldest_first() {
        let plan = rollover_plan(Path::new("/l/a.log"), 3);
        let s: Vec<(String, String)> = plan
            .iter()
            .map(|(a, b)| (a.display().to_string(), b.display().to_string()))
            .collect();
        assert_eq!(
            s,
            vec![
                ("/l/a.log.2".into(), "/l/a.log.3".into()),
                ("/l/a.log.1".into(), "/l/a.log.2".into()),
                ("/l/a.log".into(), "/l/a.log.1".into()),
            ]
        );
        assert!(rollover_plan(Path::new("/l/a.log"), 0).is_empty());
    }

    #[test]
    fn rotating_file_rotates_and_clears() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("x.log");
        let mut f = RotatingFile::open(p.clone(), 10, 2).unwrap();
        f.write(b"0123456789").unwrap(); // reaches maxbytes -> rolled
        f.write(b"abcdefghij").unwrap();
        f.write(b"tail").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"tail");
        assert_eq!(
            std::fs::read(dir.path().join("x.log.1")).unwrap(),
            b"abcdefghij"
        );
        assert_eq!(
            std::fs::read(dir.path().join("x.log.2")).unwrap(),
            b"0123456789"
        );
        f.clear().unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"");
        assert!(!dir.path().join("x.log.1").exists());
        assert_eq!(read_file(&p, 0, 0).unwrap(), "");
        let p2 = dir.path().join("y.log");
        let mut g = RotatingFile::open(p2.clone(), 0, 0).unwrap();
        g.write(b"hello-out\n").unwrap();
        assert_eq!(tail_file(&p2, 0, 3), ("ut\n".into(), 10, true));
        assert_eq!(tail_file(&p2, 0, 100), ("hello-out\n".into(), 10, false));
        let p = p2;
        assert_eq!(read_file(&p, -4, 0).unwrap(), "out\n");
    }
}
