//! The rules every instance id obeys, in every face (client API, HTTP, CLI).

/// Longest id allowed, in characters.
pub const MAX_INSTANCE_ID_CHARS: usize = 100;

/// Which instance-id rule an id breaks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum InvalidInstanceId {
    /// The id is empty.
    #[error("instance id must not be empty")]
    Empty,
    /// The id is longer than 100 characters.
    #[error("instance id is {0} characters long; at most 100 are allowed")]
    TooLong(usize),
    /// The id starts with `@`, which is reserved for entities.
    #[error("instance id must not start with `@` (reserved for entity ids)")]
    ReservedPrefix,
    /// The id contains `/`, `\`, `#` or `?`.
    #[error("instance id must not contain `{0}` (the characters / \\ # ? are not allowed)")]
    ForbiddenCharacter(char),
    /// The id contains a control character.
    #[error("instance id must not contain control characters (found U+{0:04X})")]
    ControlCharacter(u32),
    /// The id is `.` or `..`, which HTTP clients rewrite in URLs (the instance's URLs
    /// would name another resource).
    #[error("instance id must not be `.` or `..` (HTTP clients rewrite them in URLs)")]
    DotSegment,
}

/// Checks an instance id: 1–100 characters, no leading `@`, none of `/ \ # ?`, no control
/// characters, not `.` or `..`.
pub fn validate_instance_id(id: &str) -> Result<(), InvalidInstanceId> {
    if id.is_empty() {
        return Err(InvalidInstanceId::Empty);
    }
    let chars = id.chars().count();
    if chars > MAX_INSTANCE_ID_CHARS {
        return Err(InvalidInstanceId::TooLong(chars));
    }
    if id.starts_with('@') {
        return Err(InvalidInstanceId::ReservedPrefix);
    }
    if id == "." || id == ".." {
        return Err(InvalidInstanceId::DotSegment);
    }
    for c in id.chars() {
        if matches!(c, '/' | '\\' | '#' | '?') {
            return Err(InvalidInstanceId::ForbiddenCharacter(c));
        }
        if c.is_control() {
            return Err(InvalidInstanceId::ControlCharacter(c as u32));
        }
    }
    Ok(())
}

/// The name and key of an entity's reserved instance id `@name@key`; `None` when the id
/// is not one. The one place that reads the form.
pub(crate) fn split_entity_id(id: &str) -> Option<(&str, &str)> {
    let (name, key) = id.strip_prefix('@')?.split_once('@')?;
    (!name.is_empty()).then_some((name, key))
}

/// Whether an instance id is an entity's (`@name@key`).
pub(crate) fn is_entity_id(id: &str) -> bool {
    split_entity_id(id).is_some()
}

/// The prefix every instance id of the entities named `name` has (every entity's, for
/// `None`).
pub(crate) fn entity_id_prefix(name: Option<&str>) -> String {
    match name {
        Some(name) => format!("@{}@", name.to_lowercase()),
        None => "@".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_ordinary_ids() {
        for id in ["a", "order-42", "日本", &"x".repeat(100)] {
            assert_eq!(validate_instance_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn names_the_broken_rule() {
        assert_eq!(validate_instance_id(""), Err(InvalidInstanceId::Empty));
        assert_eq!(
            validate_instance_id(&"x".repeat(101)),
            Err(InvalidInstanceId::TooLong(101))
        );
        assert_eq!(
            validate_instance_id("@counter@1"),
            Err(InvalidInstanceId::ReservedPrefix)
        );
        for c in ['/', '\\', '#', '?'] {
            assert_eq!(
                validate_instance_id(&format!("a{c}b")),
                Err(InvalidInstanceId::ForbiddenCharacter(c))
            );
        }
        assert_eq!(
            validate_instance_id("a\nb"),
            Err(InvalidInstanceId::ControlCharacter(10))
        );
        for dots in [".", ".."] {
            assert_eq!(
                validate_instance_id(dots),
                Err(InvalidInstanceId::DotSegment)
            );
        }
        assert_eq!(
            validate_instance_id("..."),
            Ok(()),
            "only the two path segments"
        );
        assert_eq!(validate_instance_id(".hidden"), Ok(()));
    }
}
