//! Creating files and folders without ever following a link. Everything is opened relative to a
//! folder handle that was itself opened without following a link ([`Dir`]), new files are
//! created exclusively (`O_EXCL | O_NOFOLLOW`), and a link found where we write is refused. So
//! a link planted in a tree we write (by a hostile image, a project, or another user between
//! two calls) can never redirect a write out of it.
//!
//! Used by the product writer ([`crate::product::make`]) and for the outputs written into a
//! user's folder (logs, `verify-report.json`: [`create_output_file`]).

use std::ffi::OsStr;
use std::fs::File;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

use anyhow::Context;
use rustix::fs::{AtFlags, Mode, OFlags, CWD};
use rustix::io::Errno;

use crate::exit::InputError;

/// A folder opened without following a link; every path below is opened relative to it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
    path: PathBuf,
}

fn dir_flags() -> OFlags {
    OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC
}

/// The error for a link (or another kind of file) found where we write.
fn refused(path: &Path, what: &str) -> anyhow::Error {
    InputError::new(format!(
        "`{}` {what}: pixi-airgap never writes through a link",
        path.display()
    ))
    .with_hint("remove it (or pick another folder), then run again")
    .into()
}

/// Maps the errors of a no-follow open: `ELOOP` (the last part is a link) and `ENOTDIR` (a part
/// is a link or a file) become refusals, the rest stay I/O errors.
fn open_error(err: Errno, path: &Path, action: &str) -> anyhow::Error {
    match err {
        Errno::LOOP | Errno::MLINK => refused(path, "is a symbolic link"),
        Errno::NOTDIR => refused(path, "is not a folder (or a folder on its way is a link)"),
        other => anyhow::Error::new(std::io::Error::from(other))
            .context(format!("failed to {action} `{}`", path.display())),
    }
}

fn plain_name(name: &OsStr) -> bool {
    let mut parts = Path::new(name).components();
    matches!(parts.next(), Some(Component::Normal(_))) && parts.next().is_none()
}

impl Dir {
    /// Opens the folder `path` (its last part must not be a link; the parts before it are the
    /// caller's choice, e.g. a folder the user named).
    pub fn open(path: &Path) -> anyhow::Result<Self> {
        let fd = rustix::fs::open(path, dir_flags(), Mode::empty())
            .map_err(|err| open_error(err, path, "open"))?;
        Ok(Self {
            fd,
            path: path.to_path_buf(),
        })
    }

    fn child(&self, name: &OsStr) -> anyhow::Result<PathBuf> {
        if !plain_name(name) {
            anyhow::bail!(
                "`{}` is not a plain name inside `{}`",
                Path::new(name).display(),
                self.path.display()
            );
        }
        Ok(self.path.join(name))
    }

    /// Opens the folder `name` here, refusing a link.
    pub fn open_dir(&self, name: &OsStr) -> anyhow::Result<Dir> {
        let path = self.child(name)?;
        let fd = rustix::fs::openat(&self.fd, name, dir_flags(), Mode::empty())
            .map_err(|err| open_error(err, &path, "open"))?;
        Ok(Dir { fd, path })
    }

    /// Creates the folder `name` here with `mode` (or opens it when it is already a folder;
    /// a link there is refused) and opens it.
    pub fn create_dir(&self, name: &OsStr, mode: u32) -> anyhow::Result<Dir> {
        let path = self.child(name)?;
        match rustix::fs::mkdirat(&self.fd, name, Mode::from_raw_mode(mode)) {
            Ok(()) | Err(Errno::EXIST) => {}
            Err(err) => return Err(open_error(err, &path, "create")),
        }
        let dir = self.open_dir(name)?;
        // The mode exactly, whatever the umask.
        rustix::fs::fchmod(&dir.fd, Mode::from_raw_mode(mode))
            .map_err(std::io::Error::from)
            .with_context(|| format!("failed to set permissions on `{}`", path.display()))?;
        Ok(dir)
    }

    /// Creates the file `name` here, which must not exist (`O_EXCL | O_NOFOLLOW`), with `mode`.
    pub fn create_file(&self, name: &OsStr, mode: u32) -> anyhow::Result<File> {
        let path = self.child(name)?;
        let fd = rustix::fs::openat(
            &self.fd,
            name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(mode),
        )
        .map_err(|err| match err {
            Errno::EXIST => refused(&path, "already exists (a link, or a name given twice)"),
            other => open_error(other, &path, "create"),
        })?;
        rustix::fs::fchmod(&fd, Mode::from_raw_mode(mode))
            .map_err(std::io::Error::from)
            .with_context(|| format!("failed to set permissions on `{}`", path.display()))?;
        Ok(File::from(fd))
    }

    /// Creates the link `name -> target` here (the link itself; nothing is followed).
    pub fn symlink(&self, target: &Path, name: &OsStr) -> anyhow::Result<()> {
        let path = self.child(name)?;
        rustix::fs::symlinkat(target, &self.fd, name)
            .map_err(|err| open_error(err, &path, "create link"))
    }

    /// Hard-links the file `source` (its last part is not followed) as `name` here.
    pub fn hard_link(&self, source: &Path, name: &OsStr) -> std::io::Result<()> {
        self.child(name).map_err(std::io::Error::other)?;
        rustix::fs::linkat(CWD, source, &self.fd, name, AtFlags::empty())
            .map_err(std::io::Error::from)
    }

    /// The metadata of `name` here, without following a link.
    pub fn stat(&self, name: &OsStr) -> std::io::Result<rustix::fs::Stat> {
        rustix::fs::statat(&self.fd, name, AtFlags::SYMLINK_NOFOLLOW).map_err(std::io::Error::from)
    }

    /// Removes the file (or link) `name` here.
    pub fn remove_file(&self, name: &OsStr) -> std::io::Result<()> {
        rustix::fs::unlinkat(&self.fd, name, AtFlags::empty()).map_err(std::io::Error::from)
    }
}

/// Writes a tree below a root [`Dir`], keeping the folders on the current path open: entries come
/// in a depth-first walk, so the parent of the next one is almost always on the stack.
#[derive(Debug)]
pub struct TreeWriter {
    root: Dir,
    /// Open folders below the root, by their path relative to it, outermost first.
    stack: Vec<(PathBuf, Dir)>,
}

impl TreeWriter {
    pub fn new(root: Dir) -> Self {
        Self {
            root,
            stack: Vec::new(),
        }
    }

    /// The open folder that holds `rel` (opening, never creating, the folders on its way), and
    /// `rel`'s last part.
    fn parent_of<'a>(&mut self, rel: &'a Path) -> anyhow::Result<(&Dir, &'a OsStr)> {
        let mut parts: Vec<&OsStr> = Vec::new();
        for component in rel.components() {
            match component {
                Component::Normal(part) => parts.push(part),
                _ => anyhow::bail!("`{}` is not a relative path of plain names", rel.display()),
            }
        }
        let Some((name, folders)) = parts.split_last() else {
            anyhow::bail!("an empty path");
        };
        // Keep what is a prefix of this entry's folder, then open the rest.
        let mut keep = 0;
        while keep < self.stack.len()
            && keep < folders.len()
            && self.stack[keep].0.file_name() == Some(folders[keep])
        {
            keep += 1;
        }
        self.stack.truncate(keep);
        for part in &folders[keep..] {
            let dir = match self.stack.last() {
                Some((_, top)) => top.open_dir(part)?,
                None => self.root.open_dir(part)?,
            };
            let rel_dir = match self.stack.last() {
                Some((p, _)) => p.join(part),
                None => PathBuf::from(part),
            };
            self.stack.push((rel_dir, dir));
        }
        let parent = match self.stack.last() {
            Some((_, top)) => top,
            None => &self.root,
        };
        Ok((parent, name))
    }

    /// Creates the folder `rel` (its parent must exist) with `mode`.
    pub fn create_dir(&mut self, rel: &Path, mode: u32) -> anyhow::Result<()> {
        let (parent, name) = self.parent_of(rel)?;
        let dir = parent.create_dir(name, mode)?;
        self.stack.push((rel.to_path_buf(), dir));
        Ok(())
    }

    /// Creates the new file `rel` with `mode`.
    pub fn create_file(&mut self, rel: &Path, mode: u32) -> anyhow::Result<File> {
        let (parent, name) = self.parent_of(rel)?;
        parent.create_file(name, mode)
    }

    /// Creates the link `rel -> target`.
    pub fn symlink(&mut self, target: &Path, rel: &Path) -> anyhow::Result<()> {
        let (parent, name) = self.parent_of(rel)?;
        parent.symlink(target, name)
    }

    /// The folder that holds `rel`, and its last part (for hard links and checks).
    pub fn parent<'a>(&mut self, rel: &'a Path) -> anyhow::Result<(&Dir, &'a OsStr)> {
        self.parent_of(rel)
    }
}

/// Opens an output file in a user's folder (a log, a report) for writing from its start, never
/// through a link: a link in its place (or a file with other hard links, or not a plain file) is
/// refused (exit 2) before anything is written.
pub fn create_output_file(path: &Path) -> anyhow::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::WRONLY | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::from_raw_mode(0o644),
    )
    .map_err(|err| open_error(err, path, "create"))?;
    let stat = rustix::fs::fstat(&fd)
        .map_err(std::io::Error::from)
        .with_context(|| format!("failed to stat `{}`", path.display()))?;
    let regular =
        rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::RegularFile;
    if !regular {
        return Err(refused(path, "is not a plain file"));
    }
    if stat.st_nlink > 1 {
        return Err(refused(path, "has other hard links"));
    }
    // Not truncated at open: what is refused above keeps its content.
    let file = File::from(fd);
    file.set_len(0)
        .with_context(|| format!("failed to write `{}`", path.display()))?;
    rustix::fs::fcntl_setfl(&file, OFlags::empty())
        .map_err(std::io::Error::from)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    Ok(file)
}

/// Opens the plain file `path` for reading, never through a link in its place (a file swapped
/// for a link after a walk saw it is refused, not followed).
pub fn open_read(path: &Path) -> anyhow::Result<File> {
    let fd = rustix::fs::open(
        path,
        OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
        Mode::empty(),
    )
    .map_err(|err| open_error(err, path, "open"))?;
    let stat = rustix::fs::fstat(&fd)
        .map_err(std::io::Error::from)
        .with_context(|| format!("failed to stat `{}`", path.display()))?;
    if rustix::fs::FileType::from_raw_mode(stat.st_mode) != rustix::fs::FileType::RegularFile {
        return Err(refused(path, "is not a plain file"));
    }
    rustix::fs::fcntl_setfl(&fd, OFlags::empty())
        .map_err(std::io::Error::from)
        .with_context(|| format!("failed to open `{}`", path.display()))?;
    Ok(File::from(fd))
}

/// [`create_output_file`] with `text` written to it.
pub fn write_output_file(path: &Path, text: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut file = create_output_file(path)?;
    file.write_all(text)
        .and_then(|()| file.flush())
        .with_context(|| format!("failed to write `{}`", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_are_never_written_through() {
        let tmp = tempfile::tempdir().unwrap();
        let outside = tmp.path().join("outside");
        std::fs::write(&outside, "keep").unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("file")).unwrap();
        std::os::unix::fs::symlink(tmp.path(), root.join("dir")).unwrap();
        std::os::unix::fs::symlink(tmp.path().join("nowhere"), root.join("dangling")).unwrap();
        let mut tree = TreeWriter::new(Dir::open(&root).unwrap());
        for rel in ["file", "dangling"] {
            let err = tree.create_file(Path::new(rel), 0o644).unwrap_err();
            assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        }
        assert!(tree.create_file(Path::new("dir/outside"), 0o644).is_err());
        assert!(tree.create_file(Path::new("dir/new"), 0o644).is_err());
        assert!(tree.create_dir(Path::new("dir"), 0o755).is_err());
        assert!(tree.create_dir(Path::new("dangling"), 0o755).is_err());
        assert!(!tmp.path().join("new").exists() && !tmp.path().join("nowhere").exists());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        // Outputs: a link, or a hard link, in the place of a log is refused, its target kept.
        for path in [root.join("file"), root.join("dangling")] {
            let err = write_output_file(&path, b"x").unwrap_err();
            assert_eq!(crate::exit::classify(&err), crate::exit::Status::InputError);
        }
        std::fs::hard_link(&outside, root.join("hard")).unwrap();
        assert!(write_output_file(&root.join("hard"), b"x").is_err());
        assert_eq!(std::fs::read_to_string(&outside).unwrap(), "keep");
        assert!(!tmp.path().join("nowhere").exists());
        // Plain outputs are written and rewritten.
        write_output_file(&root.join("log"), b"long text").unwrap();
        write_output_file(&root.join("log"), b"short").unwrap();
        assert_eq!(std::fs::read_to_string(root.join("log")).unwrap(), "short");
    }

    #[test]
    fn a_tree_is_written_depth_first() {
        let tmp = tempfile::tempdir().unwrap();
        let mut tree = TreeWriter::new(Dir::open(tmp.path()).unwrap());
        tree.create_dir(Path::new("a"), 0o755).unwrap();
        tree.create_dir(Path::new("a/b"), 0o700).unwrap();
        std::io::Write::write_all(
            &mut tree.create_file(Path::new("a/b/f"), 0o755).unwrap(),
            b"x",
        )
        .unwrap();
        tree.create_dir(Path::new("c"), 0o755).unwrap();
        tree.symlink(Path::new("../a/b/f"), Path::new("c/l"))
            .unwrap();
        tree.create_file(Path::new("a/g"), 0o644).unwrap();
        assert!(
            tree.create_file(Path::new("a/g"), 0o644).is_err(),
            "never twice"
        );
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(tmp.path().join(p))
                .unwrap()
                .permissions()
                .mode()
                & 0o7777
        };
        assert_eq!(mode("a/b"), 0o700);
        assert_eq!(mode("a/b/f"), 0o755);
        assert_eq!(
            std::fs::read_to_string(tmp.path().join("c/l")).unwrap(),
            "x"
        );
    }
}
