//! The request form's fields, and which of them a refusal is about, so that both platforms can
//! show the reason next to what needs fixing.

use super::refusal::Refusal;

/// A field of the request form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FormField {
    Group,
    Duration,
    Justification,
}

impl FormField {
    /// The field a refusal of a form's request is about. Anything not about the duration or
    /// the reason is about the group chosen (unknown, already open, nobody to ask …).
    pub fn of(refusal: &Refusal) -> FormField {
        match refusal {
            Refusal::BadDuration(_) | Refusal::TooLong { .. } => FormField::Duration,
            Refusal::MissingJustification { .. } => FormField::Justification,
            _ => FormField::Group,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{AccessDuration, RequestStatus};

    #[test]
    fn refusals_land_on_the_field_to_fix() {
        let two_hours = AccessDuration::parse("2h").unwrap();
        let too_long = Refusal::TooLong {
            group: "prod-db".into(),
            asked: two_hours,
            max: two_hours,
        };
        assert_eq!(FormField::of(&too_long), FormField::Duration);
        let missing = Refusal::MissingJustification {
            group: "prod-db".into(),
        };
        assert_eq!(FormField::of(&missing), FormField::Justification);
        let open = Refusal::AlreadyOpen {
            id: 1,
            group: "prod-db".into(),
            status: RequestStatus::Pending,
        };
        assert_eq!(FormField::of(&open), FormField::Group);
    }
}
