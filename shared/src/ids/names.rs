//! Names the fleet file gives ([`FleetName`], [`GroupName`]) and ids fleetctl makes
//! ([`OperationId`], [`HolderId`]).

id! {
    /// A fleet name (`metadata.name`) or display-name prefix: 1-63 characters of
    /// `[A-Za-z0-9._-]`, starting with a letter or digit. It ends up in tags and instance
    /// display names.
    FleetName: text,
    expected: "1-63 characters of letters, digits, '.', '_' or '-', starting with a letter or digit",
    description: "1-63 characters of letters, digits, '.', '_' or '-', starting with a letter or digit.",
    pattern: "^[A-Za-z0-9][A-Za-z0-9._-]{0,62}$",
    check: |s| (1..=63).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

id! {
    /// An instance group name: 1-32 characters of `[a-z0-9-]`, starting with a letter.
    GroupName: text,
    expected: "1-32 characters of lower-case letters, digits and '-', starting with a letter",
    description: "1-32 characters of lower-case letters, digits and '-', starting with a letter.",
    pattern: "^[a-z][a-z0-9-]{0,31}$",
    check: |s| (1..=32).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

id! {
    /// The id of an operation or a scale request: 1-36 characters of `[A-Za-z0-9-]`, starting
    /// alphanumeric (a UUID fits). Retry tokens and instance tags are derived from it
    /// ([`crate::oci::wire::RetryToken::derive`], [`crate::oci::tags::FleetTags`]).
    OperationId: text,
    expected: "an operation id of 1-36 letters, digits and '-', starting with a letter or digit",
    description: "An operation id: 1-36 letters, digits and '-', starting with a letter or digit.",
    pattern: "^[A-Za-z0-9][A-Za-z0-9-]{0,35}$",
    check: |s| (1..=36).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_alphanumeric())
        && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

impl OperationId {
    /// A new random id (a UUID v4 in its hyphenated form).
    pub fn random() -> Self {
        OperationId(uuid::Uuid::new_v4().hyphenated().to_string().into())
    }
}

id! {
    /// Who holds (or wants) the lease: 1-128 printable ASCII characters, for example
    /// `cli:host-1:4242` or a function call id. Shown to users when the lease is busy.
    HolderId: text,
    expected: "a lease holder id of 1-128 printable ASCII characters",
    description: "A lease holder id: 1-128 printable ASCII characters.",
    pattern: "^[\\x20-\\x7e]{1,128}$",
    check: |s| (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_graphic() || b == b' ')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_refuse_text_outside_their_form_and_say_what_it_must_be() {
        assert!(FleetName::parse("web.prod_1-a").is_ok());
        assert!(GroupName::parse("b-1").is_ok());
        assert!(OperationId::parse(OperationId::random().as_str()).is_ok());
        assert!(HolderId::parse("cli:host-1:4242").is_ok());
        let err = GroupName::parse("Blue").unwrap_err();
        assert_eq!(
            err.to_string(),
            "must be 1-32 characters of lower-case letters, digits and '-', starting with a \
             letter, got \"Blue\""
        );
        for bad in ["", "-x", "a b", &"x".repeat(37)] {
            let err = OperationId::parse(bad).unwrap_err().to_string();
            assert!(err.starts_with("must be an operation id of 1-36"), "{err}");
        }
        assert!(HolderId::parse("a\nb").is_err());
        assert!(HolderId::parse(&"h".repeat(129)).is_err());
    }

    #[test]
    fn a_value_of_the_wrong_type_names_the_id_it_should_be() {
        let err = serde_json::from_str::<OperationId>("3")
            .unwrap_err()
            .to_string();
        assert!(err.contains("expected an operation id of 1-36"), "{err}");
        let err = serde_json::from_str::<FleetName>("\"-web\"")
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("must be 1-63 characters"), "{err}");
    }

    #[test]
    fn a_repeated_name_read_from_json_shares_its_text_and_is_still_checked_when_new() {
        let read = |json: &str| serde_json::from_str::<GroupName>(json);
        let a = read("\"web\"").unwrap();
        let b = read("\"web\"").unwrap();
        assert!(
            std::sync::Arc::ptr_eq(&a.0, &b.0),
            "the repeat shares the text"
        );
        let c = read("\"api\"").unwrap();
        assert_eq!(c.as_str(), "api");
        // A text outside the form is refused whatever was read before it.
        assert!(read("\"Web Tier\"").is_err());
        assert!(read("\"Web Tier\"").is_err());
        assert_eq!(read("\"api\"").unwrap(), c);
        assert_eq!(read("\"web\"").unwrap(), a);
    }
}
