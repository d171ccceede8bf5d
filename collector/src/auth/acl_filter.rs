//! Kafka's `AclBindingFilter` as DescribeAcls and DeleteAcls send it, over
//! logship's rules: which configured ACLs a filter selects (Kafka's
//! `ResourcePatternFilter.matches` and `AccessControlEntryFilter.matches`).

use super::acl::{Acl, AclPrincipal, PatternType, Permission, WILDCARD};

/// The "any" code of the resource type, pattern type, operation and
/// permission filters.
pub const ANY: i8 = 1;
/// Pattern type filter MATCH: the patterns that would match the named
/// resource (literal name, literal `*`, prefixes of it).
pub const MATCH: i8 = 2;

/// One filter, with Kafka's codes.
#[derive(Clone, Debug)]
pub struct AclFilter<'a> {
    pub resource_type: i8,
    /// `None`: any name.
    pub name: Option<&'a str>,
    pub pattern_type: i8,
    /// `None`: any principal; else `User:NAME` as written in the rule.
    pub principal: Option<&'a str>,
    /// `None`: any host; logship's rules are all for host `*`.
    pub host: Option<&'a str>,
    pub operation: i8,
    pub permission: i8,
}

impl Acl {
    /// Kafka's `PatternType` code: LITERAL 3, PREFIXED 4.
    pub fn pattern_code(&self) -> i8 {
        match self.pattern_type {
            PatternType::Literal => 3,
            PatternType::Prefixed => 4,
        }
    }

    /// Kafka's `AclPermissionType` code: DENY 2, ALLOW 3.
    pub fn permission_code(&self) -> i8 {
        match self.permission {
            Permission::Deny => 2,
            Permission::Allow => 3,
        }
    }

    /// The principal as Kafka writes it: `User:NAME` or `User:*`.
    pub fn principal_text(&self) -> String {
        match &self.principal {
            AclPrincipal::Any => "User:*".to_owned(),
            AclPrincipal::User(name) => format!("User:{name}"),
        }
    }
}

impl AclFilter<'_> {
    pub fn matches(&self, acl: &Acl) -> bool {
        let any_or = |filter: i8, code: i8| filter == ANY || filter == code;
        any_or(self.resource_type, acl.resource_type.code())
            && self.matches_pattern(acl)
            && self.principal.is_none_or(|p| p == acl.principal_text())
            && self.host.is_none_or(|h| h == WILDCARD)
            && any_or(self.operation, acl.operation.code())
            && any_or(self.permission, acl.permission_code())
    }

    fn matches_pattern(&self, acl: &Acl) -> bool {
        match (self.pattern_type, self.name) {
            (ANY, name) => name.is_none_or(|n| n == acl.name),
            (MATCH, None) => true,
            (MATCH, Some(n)) => match acl.pattern_type {
                PatternType::Literal => acl.name == n || acl.name == WILDCARD,
                PatternType::Prefixed => n.starts_with(&acl.name),
            },
            (code, name) => code == acl.pattern_code() && name.is_none_or(|n| n == acl.name),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::acl::{Operation, ResourceType};

    fn acl(principal: AclPrincipal, pattern: PatternType, name: &str, op: Operation) -> Acl {
        Acl {
            principal,
            resource_type: ResourceType::Topic,
            pattern_type: pattern,
            name: name.to_owned(),
            operation: op,
            permission: Permission::Allow,
        }
    }

    fn all() -> AclFilter<'static> {
        AclFilter {
            resource_type: ANY,
            name: None,
            pattern_type: ANY,
            principal: None,
            host: None,
            operation: ANY,
            permission: ANY,
        }
    }

    #[test]
    fn filters_select_like_kafka() {
        let alice = AclPrincipal::User("alice".into());
        let literal = acl(alice.clone(), PatternType::Literal, "logs", Operation::Read);
        let prefixed = acl(alice.clone(), PatternType::Prefixed, "lo", Operation::Write);
        let wildcard = acl(
            AclPrincipal::Any,
            PatternType::Literal,
            "*",
            Operation::Describe,
        );
        let acls = [&literal, &prefixed, &wildcard];
        let selected = |f: AclFilter| acls.iter().filter(|a| f.matches(a)).count();
        assert_eq!(selected(all()), 3);
        assert_eq!(
            selected(AclFilter {
                name: Some("logs"),
                ..all()
            }),
            1
        );
        assert_eq!(
            selected(AclFilter {
                name: Some("logs"),
                pattern_type: MATCH,
                ..all()
            }),
            3
        );
        assert_eq!(
            selected(AclFilter {
                name: Some("x"),
                pattern_type: MATCH,
                ..all()
            }),
            1
        );
        assert_eq!(
            selected(AclFilter {
                pattern_type: 4,
                ..all()
            }),
            1
        );
        assert_eq!(
            selected(AclFilter {
                principal: Some("User:alice"),
                ..all()
            }),
            2
        );
        assert_eq!(
            selected(AclFilter {
                principal: Some("User:*"),
                ..all()
            }),
            1
        );
        assert_eq!(
            selected(AclFilter {
                operation: Operation::Write.code(),
                ..all()
            }),
            1
        );
        assert_eq!(
            selected(AclFilter {
                permission: 2,
                ..all()
            }),
            0
        );
        assert_eq!(
            selected(AclFilter {
                resource_type: 3,
                ..all()
            }),
            0
        );
        assert_eq!(
            selected(AclFilter {
                host: Some("10.0.0.1"),
                ..all()
            }),
            0
        );
        assert_eq!(literal.principal_text(), "User:alice");
    }
}
