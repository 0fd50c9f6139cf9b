//! `bs` profiles: `~/.basespace/NAME.cfg`, as Illumina's `bs` writes them.
//!
//! Illumina's format is two `key = value` lines with no section header (`apiServer`, `accessToken`).
//! Older tools wrote the same keys under `[DEFAULT]`; values sometimes end with a `/`. All of
//! these are read. Files are written atomically (temporary file, fsync, rename), mode 0600, in a
//! directory of mode 0700.

use std::io::Write;
use std::path::{Path, PathBuf};

use crate::error::{ClientError, Result};

/// Name of the profile used when none is given.
pub const DEFAULT_PROFILE: &str = "default";

/// A named profile.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profile {
    /// Name (`default` for `~/.basespace/default.cfg`).
    pub name: String,
    /// `apiServer` (trailing slash removed).
    pub api_server: Option<String>,
    /// `accessToken`.
    pub access_token: Option<String>,
}

/// The directory holding profiles: `$HOME/.basespace` (`%USERPROFILE%\.basespace` on Windows).
pub fn config_dir() -> PathBuf {
    let home = std::env::var_os("HOME")
        .filter(|home| !home.is_empty())
        .or_else(|| std::env::var_os("USERPROFILE"))
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("."));
    home.join(".basespace")
}

/// Path of profile `name` in [`config_dir`]. `name` may also be a path to a `.cfg` file.
pub fn profile_path(name: &str) -> PathBuf {
    if name.ends_with(".cfg") && (name.contains('/') || name.contains('\\')) {
        return PathBuf::from(name);
    }
    config_dir().join(format!("{name}.cfg"))
}

/// Checks a profile name: letters, digits, `-`, `_`, `.`, `@`.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && !name.starts_with('.')
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
    if ok {
        Ok(())
    } else {
        Err(ClientError::Invalid(format!(
            "invalid profile name {name:?}: use letters, digits, '-', '_', '.' or '@'"
        )))
    }
}

/// Parses the text of a profile file.
pub fn parse(name: &str, text: &str) -> Profile {
    let mut profile = Profile {
        name: name.to_string(),
        ..Profile::default()
    };
    let mut section: Option<String> = None;
    for line in text.lines() {
        let line = line.trim().trim_start_matches('\u{feff}');
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if line.starts_with('[') && line.ends_with(']') {
            section = Some(line[1..line.len() - 1].trim().to_ascii_lowercase());
            continue;
        }
        // Keys outside any section, or in [DEFAULT] (older Python tools), count.
        if section.as_deref().is_some_and(|s| s != "default") {
            continue;
        }
        let Some((key, value)) = line.split_once('=') else {
            continue;
        };
        let value = value.trim().trim_matches('"').trim_matches('\'').to_string();
        if value.is_empty() {
            continue;
        }
        match key.trim().to_ascii_lowercase().as_str() {
            "apiserver" if profile.api_server.is_none() => {
                profile.api_server = Some(value.trim_end_matches('/').to_string())
            }
            "accesstoken" if profile.access_token.is_none() => profile.access_token = Some(value),
            _ => {}
        }
    }
    profile
}

/// Loads profile `name`; `Ok(None)` when its file does not exist.
pub fn load(name: &str) -> Result<Option<Profile>> {
    load_from(&profile_path(name), name)
}

/// Loads a profile from a file.
pub fn load_from(path: &Path, name: &str) -> Result<Option<Profile>> {
    match std::fs::read_to_string(path) {
        Ok(text) => Ok(Some(parse(name, &text))),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(ClientError::io("reading profile", path, err)),
    }
}

/// The text Illumina's `bs` writes for a profile.
pub fn render(profile: &Profile) -> String {
    let mut text = String::new();
    if let Some(server) = &profile.api_server {
        text.push_str(&format!("apiServer   = {server}\n"));
    }
    if let Some(token) = &profile.access_token {
        text.push_str(&format!("accessToken = {token}\n"));
    }
    text
}

/// Writes a profile atomically (mode 0600, directory 0700) and returns its path.
pub fn save(profile: &Profile) -> Result<PathBuf> {
    validate_name(&profile.name)?;
    let path = profile_path(&profile.name);
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_else(config_dir);
    create_private_dir(&dir)?;
    write_private_atomic(&path, render(profile).as_bytes())?;
    Ok(path)
}

/// Names of the profiles in [`config_dir`], sorted.
pub fn list_profiles() -> Result<Vec<String>> {
    let dir = config_dir();
    let entries = match std::fs::read_dir(&dir) {
        Ok(entries) => entries,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(err) => return Err(ClientError::io("listing", dir, err)),
    };
    let mut names: Vec<String> = entries
        .filter_map(|entry| entry.ok())
        .filter_map(|entry| {
            let name = entry.file_name().to_string_lossy().to_string();
            name.strip_suffix(".cfg")
                .filter(|stem| !stem.is_empty())
                .map(str::to_string)
        })
        .collect();
    names.sort();
    Ok(names)
}

/// Creates a directory (and parents) and makes it 0700 on Unix.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    std::fs::create_dir_all(dir).map_err(|err| ClientError::io("creating directory", dir, err))?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .map_err(|err| ClientError::io("setting permissions on", dir, err))?;
    }
    Ok(())
}

/// Writes `bytes` to `path` atomically: a temporary file in the same directory (mode 0600 on
/// Unix), fsync, rename, fsync of the directory.
pub fn write_private_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic(path, bytes, true)
}

/// Like [`write_private_atomic`]; with `durable` false the fsyncs are skipped: the file is still
/// replaced atomically (never seen half-written), but a power loss may bring back the previous
/// version. Used for progress journals, whose loss only costs repeated work.
pub fn write_atomic(path: &Path, bytes: &[u8], durable: bool) -> Result<()> {
    let dir = path.parent().unwrap_or(Path::new("."));
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_string())
        .unwrap_or_default();
    let temp = dir.join(format!(".{file_name}.{}.tmp", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create(true).truncate(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&temp)?;
        file.write_all(bytes)?;
        if durable {
            file.sync_all()?;
        }
        drop(file);
        std::fs::rename(&temp, path)?;
        if durable && let Ok(dir) = std::fs::File::open(dir) {
            let _ = dir.sync_all();
        }
        Ok(())
    })();
    if let Err(err) = result {
        let _ = std::fs::remove_file(&temp);
        return Err(ClientError::io("writing", path, err));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_form_illumina_tools_wrote() {
        let bare = parse(
            "a",
            "apiServer   = https://api.basespace.illumina.com/\naccessToken = abc#123;x\n",
        );
        assert_eq!(bare.api_server.as_deref(), Some("https://api.basespace.illumina.com"));
        assert_eq!(bare.access_token.as_deref(), Some("abc#123;x"));
        let sectioned = parse(
            "b",
            "[DEFAULT]\napiServer = https://api.euc1.sh.basespace.illumina.com\napiVersion = v1pre3\naccessToken=tok\n",
        );
        assert_eq!(
            sectioned.api_server.as_deref(),
            Some("https://api.euc1.sh.basespace.illumina.com")
        );
        assert_eq!(sectioned.access_token.as_deref(), Some("tok"));
        let other = parse("c", "[other]\naccessToken = nope\n");
        assert_eq!(other.access_token, None);
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("default").is_ok());
        assert!(validate_name("wg-1_lab").is_ok());
        assert!(validate_name("../x").is_err());
        assert!(validate_name("").is_err());
    }
}
