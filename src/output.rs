//! Outputs that appear whole or not at all: the files the commands write (reports, cleaned
//! and trusted lists, keys). It sits just below the commands and above the pipeline, which
//! returns its results and writes no file.
//!
//! A file output is written to a temporary file in the same folder and renamed over the
//! destination once complete (the `tempfile` crate makes and cleans up the temporary). A
//! run that fails or is killed midway never leaves a half-written report, list or key
//! behind, and an earlier good file stays in place until the new one is finished.
//!
//! Devices and pipes (`-o /dev/null`, `-o /dev/stdout`, a FIFO) are written in place: they
//! cannot be replaced, and replacing `/dev/null` with a file would be a disaster. A symbolic
//! link is followed, so the file it points to is replaced, not the link.

use std::fs::{File, OpenOptions};
use std::io::{self, BufWriter, StdoutLock, Write};
use std::path::{Path, PathBuf};

use tempfile::NamedTempFile;

/// A file being written; it replaces `path` only on [`AtomicFile::commit`].
#[derive(Debug)]
pub(crate) struct AtomicFile {
    /// The destination.
    path: PathBuf,
    /// The temporary file next to it, removed on drop unless committed.
    temp: BufWriter<NamedTempFile>,
}

impl AtomicFile {
    /// Starts writing `path`: creates a hidden temporary file in its folder.
    ///
    /// # Errors
    /// When the folder does not exist or is not writable.
    pub fn create(path: &Path) -> io::Result<Self> {
        // What a plain `File::create` gives: read-write for all, less the umask.
        Self::with_mode(path, 0o666)
    }

    /// Like [`AtomicFile::create`], for secrets: the file is readable by its owner only.
    ///
    /// # Errors
    /// When the folder does not exist or is not writable.
    pub(crate) fn create_private(path: &Path) -> io::Result<Self> {
        Self::with_mode(path, 0o600)
    }

    /// Creates the temporary file with Unix `mode` (the umask still applies).
    fn with_mode(path: &Path, mode: u32) -> io::Result<Self> {
        let folder = match path.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let name = path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned());
        let prefix = format!(".{name}.");
        let mut builder = tempfile::Builder::new();
        builder.prefix(&prefix).suffix(".partial");
        #[cfg(unix)]
        builder.permissions(std::os::unix::fs::PermissionsExt::from_mode(mode));
        #[cfg(not(unix))]
        let _ = mode;
        let temp = builder.tempfile_in(folder)?;
        Ok(Self {
            path: path.to_owned(),
            temp: BufWriter::new(temp),
        })
    }

    /// The destination.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Flushes, syncs, and renames the file over its destination.
    ///
    /// # Errors
    /// When writing, syncing or renaming fails; the destination is then untouched.
    pub(crate) fn commit(self) -> io::Result<()> {
        let temp = self
            .temp
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        temp.as_file().sync_all()?;
        temp.persist(&self.path).map_err(|e| e.error)?;
        Ok(())
    }

    /// Like [`AtomicFile::commit`], but fails when the destination exists (never replaces
    /// a key, say).
    ///
    /// # Errors
    /// When the destination exists, or writing, syncing or renaming fails.
    pub(crate) fn commit_new(self) -> io::Result<()> {
        let temp = self
            .temp
            .into_inner()
            .map_err(io::IntoInnerError::into_error)?;
        temp.as_file().sync_all()?;
        temp.persist_noclobber(&self.path).map_err(|e| e.error)?;
        Ok(())
    }
}

impl Write for AtomicFile {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.temp.write(buf)
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        self.temp.write_all(buf)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.temp.flush()
    }
}

/// Writes `bytes` to `path` atomically (in place for a device or pipe).
///
/// # Errors
/// When the file cannot be written; a regular file at `path` is then untouched.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let mut out = Output::open(Some(path))?;
    out.write_all(bytes)?;
    out.finish()
}

/// Where a report goes: standard output, or a file that appears whole on
/// [`Output::finish`].
#[derive(Debug)]
pub enum Output {
    /// Standard output, buffered.
    Stdout(BufWriter<StdoutLock<'static>>),
    /// A file written atomically.
    File(AtomicFile),
    /// A device or pipe, written in place.
    Device(BufWriter<File>),
}

impl Output {
    /// Standard output, or `path` written atomically.
    ///
    /// # Errors
    /// When the file's folder is not writable.
    pub fn open(path: Option<&Path>) -> io::Result<Self> {
        let Some(path) = path else {
            return Ok(Self::Stdout(BufWriter::new(io::stdout().lock())));
        };
        match std::fs::metadata(path) {
            Ok(meta) if !meta.is_file() && !meta.is_dir() => {
                let device = OpenOptions::new().write(true).open(path)?;
                Ok(Self::Device(BufWriter::new(device)))
            }
            Ok(_) if path.is_symlink() => Ok(Self::File(AtomicFile::create(
                &std::fs::canonicalize(path)?,
            )?)),
            _ => Ok(Self::File(AtomicFile::create(path)?)),
        }
    }

    /// Flushes standard output, or puts the finished file in place.
    ///
    /// # Errors
    /// When flushing or renaming fails.
    pub fn finish(self) -> io::Result<()> {
        match self {
            Self::Stdout(mut out) => out.flush(),
            Self::Device(mut out) => out.flush(),
            Self::File(file) => file.commit(),
        }
    }
}

impl Write for Output {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Self::Stdout(out) => out.write(buf),
            Self::Device(out) => out.write(buf),
            Self::File(file) => file.write(buf),
        }
    }

    fn write_all(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Self::Stdout(out) => out.write_all(buf),
            Self::Device(out) => out.write_all(buf),
            Self::File(file) => file.write_all(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Self::Stdout(out) => out.flush(),
            Self::Device(out) => out.flush(),
            Self::File(file) => file.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Names in `dir`, sorted.
    fn names(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn the_old_file_stays_until_the_new_one_is_complete() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("report.json");
        std::fs::write(&path, "old").unwrap();
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(b"new, ").unwrap();
        file.flush().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        file.write_all(b"complete").unwrap();
        file.commit().unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new, complete");
        assert_eq!(names(dir.path()), ["report.json"], "no temporary file left");
    }

    #[test]
    fn an_abandoned_file_leaves_nothing_behind() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.txt");
        let mut file = AtomicFile::create(&path).unwrap();
        file.write_all(&vec![b'x'; 100_000]).unwrap();
        drop(file);
        assert!(names(dir.path()).is_empty());
    }

    #[test]
    fn commit_new_never_replaces_a_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        std::fs::write(&path, "precious").unwrap();
        let mut file = AtomicFile::create_private(&path).unwrap();
        file.write_all(b"other").unwrap();
        assert!(file.commit_new().is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "precious");
        assert_eq!(names(dir.path()), ["key"]);
    }

    #[test]
    fn devices_are_written_in_place_not_replaced() {
        let null = Path::new("/dev/null");
        if !null.exists() {
            return;
        }
        write_atomically(null, b"discarded").unwrap();
        assert!(
            !std::fs::metadata(null).unwrap().is_file(),
            "/dev/null is still a device"
        );
    }

    #[cfg(unix)]
    #[test]
    fn a_symbolic_link_keeps_pointing_at_the_new_file() {
        let dir = tempfile::tempdir().unwrap();
        let real = dir.path().join("real.json");
        let link = dir.path().join("link.json");
        std::fs::write(&real, "old").unwrap();
        std::os::unix::fs::symlink(&real, &link).unwrap();
        write_atomically(&link, b"new").unwrap();
        assert!(link.is_symlink());
        assert_eq!(std::fs::read_to_string(&real).unwrap(), "new");
    }

    #[cfg(unix)]
    #[test]
    fn private_files_are_readable_by_their_owner_only() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("key");
        let mut file = AtomicFile::create_private(&path).unwrap();
        file.write_all(b"secret").unwrap();
        file.commit_new().unwrap();
        let mode = std::fs::metadata(&path).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
