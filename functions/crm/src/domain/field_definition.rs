//! 友だち情報欄: the custom fields a shop keeps on its friends, defined once, so staff fill them
//! the same way everywhere (a choice from a list, a number, a date) and segments compare like
//! with like. A field nobody defined is still free text, as before.
use serde::{Deserialize, Serialize};

use super::{
    field_error::{FieldError, check_name, check_note},
    friend::check_field_name,
};

/// Choices one field offers at most: a select staff can still read on a phone.
pub const MAX_CHOICES: usize = 50;

/// What a field holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FieldKind {
    Text,
    /// A decimal number (`3`, `-1.5`).
    Number,
    /// A day, `2026-04-01`.
    Date,
    /// One of `choices`.
    Choice,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FieldDefinition {
    /// The key in the friend's fields, as conditions and segments name it (`age_band`).
    pub name: String,
    /// What staff read (年代).
    pub label: String,
    pub kind: FieldKind,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

impl FieldDefinition {
    /// Refuses a definition staff could not fill in: naming the part that is wrong.
    pub fn validate(&self) -> Result<(), FieldError> {
        check_field_name(&self.name, "name")?;
        check_name("label", &self.label)?;
        if let Some(d) = &self.description {
            check_note("description", d)?;
        }
        match self.kind {
            FieldKind::Choice if self.choices.is_empty() => {
                Err(FieldError::new("choices", "a choice field needs choices"))
            }
            FieldKind::Choice if self.choices.len() > MAX_CHOICES => Err(FieldError::new(
                "choices",
                format!("at most {MAX_CHOICES} choices"),
            )),
            FieldKind::Choice => {
                for (i, c) in self.choices.iter().enumerate() {
                    check_name(&format!("choices[{i}]"), c)?;
                    if self.choices[..i].contains(c) {
                        return Err(FieldError::new(format!("choices[{i}]"), "given twice"));
                    }
                }
                Ok(())
            }
            _ if !self.choices.is_empty() => Err(FieldError::new(
                "choices",
                "only a choice field has choices",
            )),
            _ => Ok(()),
        }
    }

    /// Whether `value` fits the field; `path` names it in the error.
    pub fn check_value(&self, path: &str, value: &str) -> Result<(), FieldError> {
        let fits = match self.kind {
            FieldKind::Text => return check_note(path, value),
            FieldKind::Number => value.parse::<f64>().is_ok_and(f64::is_finite),
            FieldKind::Date => value.parse::<jiff::civil::Date>().is_ok(),
            FieldKind::Choice => self.choices.iter().any(|c| c == value),
        };
        if fits {
            return Ok(());
        }
        let wanted = match self.kind {
            FieldKind::Number => "a number".to_owned(),
            FieldKind::Date => "a date like 2026-04-01".to_owned(),
            _ => format!("one of {}", self.choices.join(", ")),
        };
        Err(FieldError::new(path, format!("must be {wanted}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn age_band() -> FieldDefinition {
        FieldDefinition {
            name: "age_band".into(),
            label: "年代".into(),
            kind: FieldKind::Choice,
            choices: vec!["20代".into(), "30代".into()],
            description: None,
        }
    }

    #[test]
    fn a_choice_field_takes_only_its_choices() {
        let f = age_band();
        assert!(f.validate().is_ok());
        assert!(f.check_value("fields.age_band", "30代").is_ok());
        let e = f.check_value("fields.age_band", "40代").unwrap_err();
        assert_eq!(e.field, "fields.age_band");
        assert!(e.message.contains("20代, 30代"));
    }

    #[test]
    fn numbers_and_dates_are_checked_as_such() {
        let mut f = age_band();
        f.choices.clear();
        f.kind = FieldKind::Number;
        assert!(f.check_value("v", "-1.5").is_ok());
        assert!(f.check_value("v", "NaN").is_err());
        assert!(f.check_value("v", "三").is_err());
        f.kind = FieldKind::Date;
        assert!(f.check_value("v", "2026-02-28").is_ok());
        assert!(f.check_value("v", "2026-02-30").is_err());
    }

    #[test]
    fn a_definition_names_what_is_wrong() {
        let mut f = age_band();
        f.choices.push("20代".into());
        assert_eq!(f.validate().unwrap_err().field, "choices[2]");
        f.choices.clear();
        assert_eq!(f.validate().unwrap_err().field, "choices");
        let mut f = age_band();
        f.kind = FieldKind::Text;
        assert_eq!(f.validate().unwrap_err().field, "choices");
        let mut f = age_band();
        f.name = "bad name".into();
        assert_eq!(f.validate().unwrap_err().field, "name");
    }
}
