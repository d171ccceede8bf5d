//! [`Secret`]: a password or token that never prints. Its `Debug` and
//! `Display` write `"***"`, so a config struct holding one can derive
//! `Debug` and be logged, and an error that formats it gives nothing away;
//! the value is reached only through [`Secret::expose`], at the one place
//! that hands it to a TLS library, an `Authorization` header or librdkafka.
//!
//! A secret comes from the config (`password: "${KAFKA_PASSWORD}"`, the
//! environment variable substituted before parsing) or from a file that
//! holds only it ([`Secret::read_file`]; `password_file:`), which keeps it
//! out of the config, of `ps` and of shell history.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Deserializer};

#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Secret {
        Secret(value.into())
    }

    /// The value itself: for the TLS library, a request header or a
    /// librdkafka property only, never for a message.
    pub fn expose(&self) -> &str {
        &self.0
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Reads a secret file: its whole content less one trailing line break
    /// (`echo secret > file` writes one). An empty file is an error, as is
    /// one that is not UTF-8. Errors name the path, never the content.
    pub fn read_file(path: &Path) -> Result<Secret, SecretFileError> {
        let bytes = std::fs::read(path).map_err(|error| SecretFileError::Read {
            path: path.to_owned(),
            error,
        })?;
        let text = String::from_utf8(bytes).map_err(|_| SecretFileError::NotUtf8 {
            path: path.to_owned(),
        })?;
        let value = text
            .strip_suffix("\r\n")
            .or_else(|| text.strip_suffix('\n'))
            .unwrap_or(&text);
        if value.is_empty() {
            return Err(SecretFileError::Empty {
                path: path.to_owned(),
            });
        }
        if value.contains(['\n', '\r']) {
            return Err(SecretFileError::MoreThanOneLine {
                path: path.to_owned(),
            });
        }
        Ok(Secret(value.to_owned()))
    }
}

/// A secret file that cannot be used. Each variant names the file; none
/// holds any of its content (the `UTF-8` one drops the bytes on purpose).
#[derive(Debug, thiserror::Error)]
pub enum SecretFileError {
    #[error("reading {}: {error}", path.display())]
    Read { path: PathBuf, error: io::Error },
    #[error("{} is not UTF-8 text", path.display())]
    NotUtf8 { path: PathBuf },
    #[error("{} is empty", path.display())]
    Empty { path: PathBuf },
    #[error("{} holds more than one line (a secret file holds the secret alone)", path.display())]
    MoreThanOneLine { path: PathBuf },
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("\"***\"")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// Deserializes from a string without ever echoing it: a wrong type is
/// reported by its kind only ("expected a string"), not by its value. YAML
/// hands a plain scalar over as the text written, so an unquoted `007` or
/// `true` is that text, not a number or a boolean.
impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Secret, D::Error> {
        struct Visitor;
        impl serde::de::Visitor<'_> for Visitor {
            type Value = Secret;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Secret, E> {
                Ok(Secret(v.to_owned()))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Secret, E> {
                Ok(Secret(v))
            }
        }
        d.deserialize_str(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_and_display_hide_the_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "\"***\"");
        assert_eq!(format!("{s}"), "***");
        assert_eq!(format!("{:?}", Some(&s)), "Some(\"***\")");
        assert_eq!(s.expose(), "hunter2");
    }

    #[test]
    fn files_lose_one_trailing_line_break_and_errors_name_only_the_path() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("pw");
        std::fs::write(&path, "s3cret\n").unwrap();
        assert_eq!(Secret::read_file(&path).unwrap().expose(), "s3cret");
        std::fs::write(&path, "s3cret\r\n").unwrap();
        assert_eq!(Secret::read_file(&path).unwrap().expose(), "s3cret");
        std::fs::write(&path, " spaced ").unwrap();
        assert_eq!(Secret::read_file(&path).unwrap().expose(), " spaced ");
        std::fs::write(&path, "\n").unwrap();
        assert!(Secret::read_file(&path)
            .unwrap_err()
            .to_string()
            .contains("is empty"));
        std::fs::write(&path, "s3cret\nline two\n").unwrap();
        let e = Secret::read_file(&path).unwrap_err().to_string();
        assert!(
            e.contains("more than one line") && !e.contains("s3cret"),
            "{e}"
        );
        let e = Secret::read_file(&dir.path().join("absent"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("absent"), "{e}");
    }

    #[test]
    fn deserializing_never_echoes_the_value() {
        #[derive(Debug, Deserialize)]
        struct C {
            #[allow(dead_code)]
            password: Secret,
        }
        let c: C = serde_yaml_ng::from_str("password: hunter2").unwrap();
        assert_eq!(c.password.expose(), "hunter2");
        assert!(!format!("{c:?}").contains("hunter2"));
        for text in ["007", "true", "1.50", "0x1F"] {
            let c: C = serde_yaml_ng::from_str(&format!("password: {text}")).unwrap();
            assert_eq!(c.password.expose(), text);
        }
        let e = serde_yaml_ng::from_str::<C>("password: [hunter2]").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
        let e = serde_yaml_ng::from_str::<C>("password: {hunter2: 1}").unwrap_err();
        assert!(!e.to_string().contains("hunter2"), "{e}");
    }
}
