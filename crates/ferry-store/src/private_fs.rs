//! Data folders only their owner can read: folders `0700`, files `0600`.
//!
//! Ferry's data folders hold databases (the hub's has its URL-signing key), key files and users'
//! sequencing data. [`ensure_private_dir`] creates such a folder `0700`, or, at start, tightens one
//! made wider by an older version or by hand, together with what is in it; the local blob store
//! creates every folder and file inside with these modes ([`private_dir_builder`],
//! [`private_file_options`]).
//!
//! The walk at start descends only where something may be wide: into every folder that is wider
//! than `0700` or lies below one, and it checks the files directly in the data folder (the
//! databases and key files). A `0700` folder below it was made by Ferry with private files, so a
//! large store made by this version costs one check per top folder, not one per file.

use std::io;
use std::path::{Path, PathBuf};

/// Mode of every folder Ferry creates for its data.
pub const PRIVATE_DIR_MODE: u32 = 0o700;

/// Mode of every file Ferry creates for its data.
pub const PRIVATE_FILE_MODE: u32 = 0o600;

/// What [`ensure_private_dir`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Tightened {
    /// The folder did not exist and was created (`0700`).
    pub created: bool,
    /// Folders (the data folder included) set to `0700` because others could use them.
    pub folders: u64,
    /// Files set to `0600` because others could read or write them.
    pub files: u64,
}

impl Tightened {
    /// Whether an existing folder or file had to be tightened.
    pub fn changed(&self) -> bool {
        self.folders > 0 || self.files > 0
    }
}

/// A folder or file could not be made private.
#[derive(Debug, thiserror::Error)]
#[error(
    "cannot {action} {path}: {source}. Ferry keeps its data readable only by the user it runs as, who must be \
     able to create this folder or own it and everything in it: fix the owner (or run Ferry as the owner), then \
     start again"
)]
pub struct PrivateFsError {
    /// The folder or file.
    pub path: PathBuf,
    /// What was being done.
    pub action: &'static str,
    /// The OS error.
    pub source: io::Error,
}

fn fail<'a>(path: &'a Path, action: &'static str) -> impl FnOnce(io::Error) -> PrivateFsError + 'a {
    move |source| PrivateFsError {
        path: path.to_path_buf(),
        action,
        source,
    }
}

/// A recursive [`std::fs::DirBuilder`] that creates folders `0700`.
pub fn private_dir_builder() -> std::fs::DirBuilder {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, PRIVATE_DIR_MODE);
    builder
}

/// [`std::fs::OpenOptions`] that create files `0600` (set the access and creation flags on it).
pub fn private_file_options() -> std::fs::OpenOptions {
    #[allow(unused_mut)]
    let mut options = std::fs::OpenOptions::new();
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, PRIVATE_FILE_MODE);
    options
}

/// Creates `path` (and missing parents) `0700`, or makes an existing folder private: the folder
/// and every folder wider than `0700` below it become `0700`, the files in those and directly in
/// `path` become `0600` (symbolic links are left alone), with a warning saying what changed.
pub fn ensure_private_dir(path: &Path) -> Result<Tightened, PrivateFsError> {
    let mut report = Tightened::default();
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {}
        Ok(_) => {
            return Err(fail(path, "use as a data folder")(io::Error::new(
                io::ErrorKind::NotADirectory,
                "it exists and is not a folder",
            )));
        }
        Err(error) if error.kind() == io::ErrorKind::NotFound => {
            private_dir_builder()
                .create(path)
                .map_err(fail(path, "create the folder"))?;
            report.created = true;
            return Ok(report);
        }
        Err(error) => return Err(fail(path, "read the permissions of")(error)),
    }
    #[cfg(unix)]
    {
        let was = unix::mode(&std::fs::metadata(path).map_err(fail(path, "read the permissions of"))?);
        unix::tighten_dir(path, true, false, &mut report)?;
        if report.changed() {
            tracing::warn!(
                folder = %path.display(),
                was = %format!("{was:04o}"),
                folders = report.folders,
                files = report.files,
                "the data folder or files in it could be read by other users: made {} folder(s) 0700 and {} file(s) \
                 0600 (only the user running Ferry can use them now)",
                report.folders,
                report.files,
            );
        }
    }
    Ok(report)
}

#[cfg(unix)]
mod unix {
    use std::fs::{Metadata, Permissions};
    use std::io;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};
    use std::path::Path;

    use super::{PRIVATE_DIR_MODE, PRIVATE_FILE_MODE, PrivateFsError, Tightened, fail};

    pub(super) fn mode(meta: &Metadata) -> u32 {
        meta.mode() & 0o7777
    }

    fn is_wide(meta: &Metadata) -> bool {
        meta.mode() & 0o077 != 0
    }

    /// Sets `path` to `mode`; a file removed meanwhile (another process's temporary) is fine.
    fn set_mode(path: &Path, mode: u32) -> Result<bool, PrivateFsError> {
        match std::fs::set_permissions(path, Permissions::from_mode(mode)) {
            Ok(()) => Ok(true),
            Err(error) if error.kind() == io::ErrorKind::NotFound => Ok(false),
            Err(error) => Err(fail(path, "make private (chmod)")(error)),
        }
    }

    /// Tightens what is in `dir`, then `dir` itself: an interrupted walk leaves the folder wide,
    /// so the next start walks it again. `below_wide`: an ancestor was wider than `0700`.
    pub(super) fn tighten_dir(
        dir: &Path,
        top: bool,
        below_wide: bool,
        report: &mut Tightened,
    ) -> Result<(), PrivateFsError> {
        // The data folder itself may be a link to the real one; links below it are not followed.
        let meta = if top {
            std::fs::metadata(dir)
        } else {
            std::fs::symlink_metadata(dir)
        };
        let wide = match meta {
            Ok(meta) => is_wide(&meta),
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(fail(dir, "read the permissions of")(error)),
        };
        let check_all = below_wide || wide;
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => return Ok(()),
            Err(error) => return Err(fail(dir, "list the folder")(error)),
        };
        for entry in entries {
            let entry = entry.map_err(fail(dir, "list the folder"))?;
            let path = entry.path();
            let meta = match entry.metadata() {
                Ok(meta) => meta,
                Err(error) if error.kind() == io::ErrorKind::NotFound => continue,
                Err(error) => return Err(fail(&path, "read the permissions of")(error)),
            };
            if meta.is_dir() {
                if check_all || is_wide(&meta) {
                    tighten_dir(&path, false, check_all, report)?;
                }
            } else if meta.is_file() && (check_all || top) && is_wide(&meta) && set_mode(&path, PRIVATE_FILE_MODE)? {
                report.files += 1;
            }
        }
        if wide && set_mode(dir, PRIVATE_DIR_MODE)? {
            report.folders += 1;
        }
        Ok(())
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    use super::*;

    fn mode_of(path: &Path) -> u32 {
        std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
    }

    fn set(path: &Path, mode: u32) {
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn a_missing_folder_is_created_private_with_its_parents() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("new/data");
        let report = ensure_private_dir(&data).unwrap();
        assert!(report.created && !report.changed(), "{report:?}");
        assert_eq!(mode_of(&data), 0o700);
        assert_eq!(mode_of(&dir.path().join("new")), 0o700);
        let file = data.join("f");
        private_file_options().write(true).create_new(true).open(&file).unwrap();
        assert_eq!(mode_of(&file), 0o600);
    }

    #[test]
    fn a_wide_folder_from_an_older_version_is_tightened_with_everything_in_it() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        std::fs::create_dir_all(data.join("blobs/objects/ab")).unwrap();
        std::fs::write(data.join("hub.db"), b"db").unwrap();
        std::fs::write(data.join("blobs/objects/ab/abc"), b"blob").unwrap();
        // A private folder inside a wide one may still hold wide files: it is walked too.
        std::fs::create_dir(data.join("kept")).unwrap();
        std::fs::write(data.join("kept/old"), b"x").unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"not Ferry's").unwrap();
        set(&outside, 0o644);
        std::os::unix::fs::symlink(&outside, data.join("link")).unwrap();
        for path in ["", "blobs", "blobs/objects", "blobs/objects/ab"] {
            set(&data.join(path), 0o755);
        }
        set(&data.join("kept"), 0o700);
        for path in ["hub.db", "blobs/objects/ab/abc", "kept/old"] {
            set(&data.join(path), 0o644);
        }

        let report = ensure_private_dir(&data).unwrap();
        assert_eq!(
            report,
            Tightened {
                created: false,
                folders: 4,
                files: 3
            }
        );
        for path in ["", "blobs", "blobs/objects", "blobs/objects/ab", "kept"] {
            assert_eq!(mode_of(&data.join(path)), 0o700, "{path}");
        }
        for path in ["hub.db", "blobs/objects/ab/abc", "kept/old"] {
            assert_eq!(mode_of(&data.join(path)), 0o600, "{path}");
        }
        assert_eq!(mode_of(&outside), 0o644, "a link's target is left alone");
        assert_eq!(
            ensure_private_dir(&data).unwrap(),
            Tightened::default(),
            "a second start changes nothing"
        );
    }

    #[test]
    fn in_a_private_folder_top_files_and_wide_folders_are_fixed() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("workspace");
        std::fs::create_dir_all(data.join("files/objects")).unwrap();
        std::fs::create_dir_all(data.join("private")).unwrap();
        std::fs::write(data.join("workspace.db"), b"db").unwrap();
        std::fs::write(data.join("files/objects/x"), b"x").unwrap();
        std::fs::write(data.join("private/untouched"), b"y").unwrap();
        set(&data, 0o700);
        set(&data.join("private"), 0o700);
        set(&data.join("files"), 0o755);
        set(&data.join("files/objects"), 0o755);
        for path in ["workspace.db", "files/objects/x", "private/untouched"] {
            set(&data.join(path), 0o644);
        }

        let report = ensure_private_dir(&data).unwrap();
        assert_eq!((report.folders, report.files), (2, 2), "{report:?}");
        assert_eq!(mode_of(&data.join("workspace.db")), 0o600);
        assert_eq!(mode_of(&data.join("files/objects/x")), 0o600);
        assert_eq!(mode_of(&data.join("files")), 0o700);
        assert_eq!(
            mode_of(&data.join("private/untouched")),
            0o644,
            "a 0700 folder below a 0700 one was made by Ferry and is not walked"
        );
    }

    #[test]
    fn a_file_where_the_folder_should_be_is_an_error_naming_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("data");
        std::fs::write(&path, b"").unwrap();
        let error = ensure_private_dir(&path).unwrap_err().to_string();
        assert!(
            error.contains(&path.display().to_string()) && error.contains("not a folder"),
            "{error}"
        );
    }
}
