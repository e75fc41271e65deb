//! A definition refused at a path (`steps[1].messages[0].text`): what every parser of marketers'
//! definitions returns, so the admin API can name the field.
use std::fmt;

/// A rule broken at a path such as `steps[1].messages[0].text`, so an admin UI can point at it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.field.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{}: {}", self.field, self.message)
        }
    }
}

impl std::error::Error for FieldError {}

/// The longest name a marketer gives to a scenario, survey, rule, broadcast or shop: names show
/// in lists, pickers and CSV exports.
pub const MAX_NAME_CHARS: usize = 100;

/// The longest free description or note (a tag's description, a field value set by staff).
pub const MAX_NOTE_CHARS: usize = 1_000;

/// A name: 1 to [`MAX_NAME_CHARS`] characters on one line.
pub fn check_name(field: &str, name: &str) -> Result<(), FieldError> {
    let n = name.trim().chars().count();
    if n == 0 || n > MAX_NAME_CHARS || name.chars().any(char::is_control) {
        return Err(FieldError::new(
            field,
            format!("1–{MAX_NAME_CHARS} characters on one line"),
        ));
    }
    Ok(())
}

/// A note: at most [`MAX_NOTE_CHARS`] characters (line breaks allowed).
pub fn check_note(field: &str, note: &str) -> Result<(), FieldError> {
    if note.chars().count() > MAX_NOTE_CHARS {
        return Err(FieldError::new(
            field,
            format!("at most {MAX_NOTE_CHARS} characters"),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_name_is_one_short_line() {
        assert!(check_name("name", "春の新作セール").is_ok());
        assert_eq!(check_name("name", " ").unwrap_err().field, "name");
        assert!(check_name("name", "a\nb").is_err());
        assert!(check_name("name", &"あ".repeat(MAX_NAME_CHARS)).is_ok());
        assert!(check_name("name", &"あ".repeat(MAX_NAME_CHARS + 1)).is_err());
        assert!(check_note("description", "一行目\n二行目").is_ok());
        assert!(check_note("description", &"x".repeat(MAX_NOTE_CHARS + 1)).is_err());
    }
}
