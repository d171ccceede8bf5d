//! Kafka's authorization decisions over the configured ACLs
//! (`StandardAuthorizer` with `allow.everyone.if.no.acl.found=false`):
//!
//! - no ACL configured at all: everything is allowed (no authorizer);
//! - a super user is allowed everything;
//! - a matching DENY for the operation (or for ALL) denies, and wins over
//!   any ALLOW; a DENY on READ does not deny DESCRIBE;
//! - a matching ALLOW allows, with the implications of
//!   [`Operation::allow_implies`];
//! - otherwise denied.
//!
//! A rule matches when its resource type is the resource's, its pattern
//! covers the name (literal, literal `*`, or prefix) and its principal is
//! the caller or `User:*`. Hosts are not part of logship's rules (Kafka's
//! host `*`).

use super::acl::{
    Acl, AclRuleConfig, Operation, PatternType, Permission, ResourceType, CLUSTER_NAME, WILDCARD,
};
use super::principal::Principal;
use super::AuthError;

/// The authorized-operations value for "not requested" (Kafka's
/// `Integer.MIN_VALUE`).
pub const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

/// The resource a request touches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Resource<'a> {
    pub resource_type: ResourceType,
    pub name: &'a str,
}

impl<'a> Resource<'a> {
    pub fn topic(name: &'a str) -> Resource<'a> {
        Resource {
            resource_type: ResourceType::Topic,
            name,
        }
    }

    pub fn group(name: &'a str) -> Resource<'a> {
        Resource {
            resource_type: ResourceType::Group,
            name,
        }
    }

    pub fn transactional_id(name: &'a str) -> Resource<'a> {
        Resource {
            resource_type: ResourceType::TransactionalId,
            name,
        }
    }

    pub fn cluster() -> Resource<'static> {
        Resource {
            resource_type: ResourceType::Cluster,
            name: CLUSTER_NAME,
        }
    }
}

/// The ACLs and super users in force. Immutable: a reload builds a new
/// one. `Default` is "no ACLs": everything allowed.
#[derive(Clone, Debug, Default)]
pub struct Authorizer {
    acls: Vec<Acl>,
    super_users: Vec<Principal>,
}

impl Authorizer {
    pub fn new(acls: Vec<Acl>, super_users: Vec<Principal>) -> Authorizer {
        Authorizer { acls, super_users }
    }

    /// Validates `collector.acls` and `collector.super_users`; errors name
    /// the rule (1-based) and what is wrong with it.
    pub fn from_config(
        acls: &[AclRuleConfig],
        super_users: &[String],
    ) -> Result<Authorizer, AuthError> {
        let mut runtime = Vec::new();
        for (i, rule) in acls.iter().enumerate() {
            let parsed = rule
                .validate()
                .map_err(|e| AuthError::Acl(format!("collector.acls[{}]: {e}", i + 1)))?;
            runtime.extend(parsed);
        }
        let supers = super_users
            .iter()
            .map(|s| match Principal::parse(s) {
                Ok(p) if p.name() != "*" => Ok(p),
                Ok(_) => Err(AuthError::Acl(
                    "collector.super_users: User:* would make everyone a super user".to_owned(),
                )),
                Err(e) => Err(AuthError::Acl(format!("collector.super_users: {e}"))),
            })
            .collect::<Result<_, _>>()?;
        Ok(Authorizer::new(runtime, supers))
    }

    /// Whether any ACL is configured, i.e. whether anything can be denied.
    pub fn is_enforcing(&self) -> bool {
        !self.acls.is_empty()
    }

    pub fn acls(&self) -> &[Acl] {
        &self.acls
    }

    pub fn is_super_user(&self, principal: &Principal) -> bool {
        self.super_users.contains(principal)
    }

    /// Whether `principal` may do `operation` on `resource`.
    pub fn authorize(
        &self,
        principal: &Principal,
        operation: Operation,
        resource: Resource<'_>,
    ) -> bool {
        if !self.is_enforcing() || self.is_super_user(principal) {
            return true;
        }
        let mut allowed = false;
        for acl in self.matching(principal, resource.resource_type) {
            if !acl.matches_name(resource.name) {
                continue;
            }
            match acl.permission {
                Permission::Deny => {
                    if acl.operation == Operation::All || acl.operation == operation {
                        return false;
                    }
                }
                Permission::Allow => allowed |= acl.operation.allow_implies(operation),
            }
        }
        allowed
    }

    /// KIP-679's "`operation` on any resource of the type" (Kafka's
    /// `authorizeByResourceType`), which InitProducerId without a
    /// transactional id accepts in place of IDEMPOTENT_WRITE on the
    /// cluster: some ALLOW for the operation (or ALL) on a resource of the
    /// type that no DENY dominates. A literal `*` DENY denies; a DENY
    /// dominates an allowed literal with the same name or a prefix of it,
    /// and an allowed prefix with a prefix of it. As in Kafka, the check
    /// first asks [`Authorizer::authorize`] about a resource named
    /// `hardcode`, which is how super users pass.
    pub fn authorize_any(
        &self,
        principal: &Principal,
        operation: Operation,
        resource_type: ResourceType,
    ) -> bool {
        let probe = Resource {
            resource_type,
            name: "hardcode",
        };
        if self.authorize(principal, operation, probe) {
            return true;
        }
        let mut deny_literal = Vec::new();
        let mut deny_prefix = Vec::new();
        let mut allow = Vec::new();
        for acl in self.matching(principal, resource_type) {
            if acl.operation != operation && acl.operation != Operation::All {
                continue;
            }
            match (acl.permission, acl.pattern_type) {
                (Permission::Deny, PatternType::Literal) if acl.name == WILDCARD => return false,
                (Permission::Deny, PatternType::Literal) => deny_literal.push(acl.name.as_str()),
                (Permission::Deny, PatternType::Prefixed) => deny_prefix.push(acl.name.as_str()),
                (Permission::Allow, PatternType::Literal) if acl.name == WILDCARD => return true,
                (Permission::Allow, p) => allow.push((p, acl.name.as_str())),
            }
        }
        allow.into_iter().any(|(pattern, name)| {
            let literal_denied = pattern == PatternType::Literal && deny_literal.contains(&name);
            let prefix_denied = deny_prefix.iter().any(|d| name.starts_with(d));
            !literal_denied && !prefix_denied
        })
    }

    /// The authorized-operations bitfield for `resource`: bit n set for
    /// each operation (code n) of the resource type that `principal` may
    /// do, implications included (topic 0xDF8 when all are allowed, group
    /// 0xD48, cluster 0x1FA0).
    pub fn authorized_operations(&self, principal: &Principal, resource: Resource<'_>) -> i32 {
        resource
            .resource_type
            .operations()
            .iter()
            .filter(|&&op| self.authorize(principal, op, resource))
            .fold(0, |bits, op| bits | 1 << op.code())
    }

    fn matching<'s>(
        &'s self,
        principal: &'s Principal,
        resource_type: ResourceType,
    ) -> impl Iterator<Item = &'s Acl> + 's {
        self.acls
            .iter()
            .filter(move |a| a.resource_type == resource_type && a.principal.matches(principal))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::acl::AclPrincipal;
    use proptest::prelude::*;

    fn acl(
        user: &str,
        rt: ResourceType,
        pattern: PatternType,
        name: &str,
        op: Operation,
        permission: Permission,
    ) -> Acl {
        Acl {
            principal: if user == "*" {
                AclPrincipal::Any
            } else {
                AclPrincipal::User(user.to_owned())
            },
            resource_type: rt,
            pattern_type: pattern,
            name: name.to_owned(),
            operation: op,
            permission,
        }
    }

    use Operation::*;
    use PatternType::*;
    use Permission::*;
    use ResourceType::*;

    fn alice() -> Principal {
        Principal::user("alice")
    }

    #[test]
    fn no_acls_allow_everything() {
        let a = Authorizer::default();
        assert!(!a.is_enforcing());
        assert!(a.authorize(&Principal::anonymous(), Delete, Resource::topic("t")));
        assert!(a.authorize_any(&Principal::anonymous(), Write, Topic));
        assert_eq!(
            a.authorized_operations(&alice(), Resource::topic("t")),
            0xDF8
        );
        assert_eq!(
            a.authorized_operations(&alice(), Resource::group("g")),
            0xD48
        );
        assert_eq!(
            a.authorized_operations(&alice(), Resource::cluster()),
            0x1FA0
        );
    }

    #[test]
    fn kafka_semantics() {
        let a = Authorizer::new(
            vec![
                acl("alice", Topic, Literal, "t", Read, Allow),
                acl("alice", Topic, Prefixed, "logs-", Write, Allow),
                acl("alice", Topic, Literal, "logs-secret", Write, Deny),
                acl("alice", Topic, Literal, "u", All, Allow),
                acl("alice", Topic, Literal, "u", Read, Deny),
                acl("*", Group, Literal, "*", Read, Allow),
                acl("bob", Group, Literal, "g", All, Deny),
                acl("alice", Topic, Literal, "cfg", AlterConfigs, Allow),
            ],
            vec![Principal::user("root")],
        );
        let ok = |p: &Principal, op, r| a.authorize(p, op, r);
        // Literal, implied DESCRIBE, nothing else.
        assert!(ok(&alice(), Read, Resource::topic("t")));
        assert!(ok(&alice(), Describe, Resource::topic("t")));
        assert!(!ok(&alice(), Write, Resource::topic("t")));
        assert!(!ok(&alice(), Read, Resource::topic("t2")));
        // Prefixed, and a literal DENY inside the prefix.
        assert!(ok(&alice(), Write, Resource::topic("logs-app")));
        assert!(!ok(&alice(), Write, Resource::topic("logs-secret")));
        assert!(ok(&alice(), Describe, Resource::topic("logs-secret")));
        assert!(!ok(&alice(), Write, Resource::topic("logs")));
        // ALL minus a DENY on READ, which leaves DESCRIBE.
        assert!(ok(&alice(), Delete, Resource::topic("u")));
        assert!(!ok(&alice(), Read, Resource::topic("u")));
        assert!(ok(&alice(), Describe, Resource::topic("u")));
        // ALTER_CONFIGS grants DESCRIBE_CONFIGS but not DESCRIBE.
        assert!(ok(&alice(), DescribeConfigs, Resource::topic("cfg")));
        assert!(!ok(&alice(), Describe, Resource::topic("cfg")));
        // User:* and literal *; DENY ALL beats it.
        assert!(ok(&Principal::anonymous(), Read, Resource::group("any")));
        assert!(!ok(&Principal::user("bob"), Read, Resource::group("g")));
        assert!(ok(&Principal::user("bob"), Read, Resource::group("h")));
        // Resource types do not mix; super users pass everything.
        assert!(!ok(&alice(), Read, Resource::transactional_id("t")));
        assert!(ok(&Principal::user("root"), Delete, Resource::cluster()));
        assert!(!ok(&alice(), Describe, Resource::cluster()));

        assert_eq!(
            a.authorized_operations(&alice(), Resource::topic("u")),
            0xDF8 & !(1 << Read.code())
        );
        assert_eq!(
            a.authorized_operations(&alice(), Resource::topic("t")),
            1 << Read.code() | 1 << Describe.code()
        );
        assert_eq!(a.authorized_operations(&alice(), Resource::cluster()), 0);
        assert_eq!(
            a.authorized_operations(&Principal::user("root"), Resource::cluster()),
            0x1FA0
        );
    }

    /// KIP-679 cases, after Kafka's AuthorizerTest
    /// (testAuthorizeByResourceType*).
    #[test]
    fn write_on_any_topic() {
        let p = alice();
        let with = |acls: Vec<Acl>| Authorizer::new(acls, vec![Principal::user("root")]);
        let allow_t = acl("alice", Topic, Literal, "t", Write, Allow);
        let other = acl("bob", Topic, Literal, "x", Read, Allow);
        assert!(!with(vec![other.clone()]).authorize_any(&p, Write, Topic));
        assert!(with(vec![other.clone()]).authorize_any(&Principal::user("root"), Write, Topic));
        assert!(with(vec![allow_t.clone()]).authorize_any(&p, Write, Topic));
        assert!(with(vec![acl("alice", Topic, Literal, "t", All, Allow)])
            .authorize_any(&p, Write, Topic));
        assert!(!with(vec![acl("alice", Topic, Literal, "t", Read, Allow)])
            .authorize_any(&p, Write, Topic));
        assert!(!with(vec![
            allow_t.clone(),
            acl("alice", Topic, Literal, "t", Write, Deny)
        ])
        .authorize_any(&p, Write, Topic));
        assert!(!with(vec![
            allow_t.clone(),
            acl("alice", Topic, Prefixed, "t", Write, Deny)
        ])
        .authorize_any(&p, Write, Topic));
        assert!(!with(vec![
            allow_t.clone(),
            acl("*", Topic, Literal, "*", Write, Deny)
        ])
        .authorize_any(&p, Write, Topic));
        // A literal DENY on another name does not dominate.
        assert!(with(vec![
            allow_t.clone(),
            acl("alice", Topic, Literal, "u", Write, Deny)
        ])
        .authorize_any(&p, Write, Topic));
        // Prefix allow vs. a longer prefix deny: not dominated.
        assert!(with(vec![
            acl("alice", Topic, Prefixed, "lo", Write, Allow),
            acl("alice", Topic, Prefixed, "logs", Write, Deny)
        ])
        .authorize_any(&p, Write, Topic));
        assert!(!with(vec![
            acl("alice", Topic, Prefixed, "logs", Write, Allow),
            acl("alice", Topic, Prefixed, "lo", Write, Deny)
        ])
        .authorize_any(&p, Write, Topic));
        assert!(
            with(vec![acl("*", Topic, Literal, "*", Write, Allow)]).authorize_any(&p, Write, Topic)
        );
        assert!(!with(vec![acl("alice", Group, Literal, "*", All, Allow)])
            .authorize_any(&p, Write, Topic));
    }

    #[test]
    fn config_validation_names_the_rule() {
        let rules: Vec<AclRuleConfig> = serde_yaml_ng::from_str(
            "- {principal: 'User:a', resource: topic, name: t, operations: [read]}\n- {principal: 'User:a', resource: topic, operations: [read]}",
        )
        .unwrap();
        let e = Authorizer::from_config(&rules, &[])
            .unwrap_err()
            .to_string();
        assert!(e.starts_with("invalid ACL: collector.acls[2]: "), "{e}");
        let a = Authorizer::from_config(&rules[..1], &["User:admin".into()]).unwrap();
        assert!(a.is_super_user(&Principal::user("admin")));
        assert!(Authorizer::from_config(&[], &["admin".into()]).is_err());
        assert!(Authorizer::from_config(&[], &["User:*".into()]).is_err());
    }

    proptest! {
        /// A prefixed rule matches exactly the names that start with it,
        /// and a literal one exactly its name (or all, for `*`).
        #[test]
        fn pattern_matching(prefix in "[a-c]{0,3}", name in "[a-c*]{0,5}") {
            prop_assume!(!prefix.is_empty());
            let a = Authorizer::new(vec![acl("alice", Topic, Prefixed, &prefix, Read, Allow)], vec![]);
            prop_assert_eq!(a.authorize(&alice(), Read, Resource::topic(&name)), name.starts_with(&prefix));
            let l = Authorizer::new(vec![acl("alice", Topic, Literal, &name, Read, Allow)], vec![]);
            prop_assert_eq!(l.authorize(&alice(), Read, Resource::topic(&prefix)), name == prefix || name == "*");
        }

        /// DENY wins: adding a DENY for an operation never allows more, and
        /// removes exactly that operation (or all, for ALL) where it matches.
        #[test]
        fn deny_wins(ops in proptest::collection::vec(0usize..11, 1..4), deny in 0usize..11, name in "[ab]{1,2}") {
            const OPS: [Operation; 11] = [All, Read, Write, Create, Delete, Alter, Describe, ClusterAction, DescribeConfigs, AlterConfigs, IdempotentWrite];
            let allows: Vec<Acl> = ops.iter().map(|&i| acl("alice", Topic, Prefixed, "a", OPS[i], Allow)).collect();
            let before = Authorizer::new(allows.clone(), vec![]);
            let mut with_deny = allows;
            with_deny.push(acl("alice", Topic, Literal, &name, OPS[deny], Deny));
            let after = Authorizer::new(with_deny, vec![]);
            for op in Topic.operations() {
                let b = before.authorize(&alice(), *op, Resource::topic(&name));
                let a = after.authorize(&alice(), *op, Resource::topic(&name));
                prop_assert!(!a || b);
                prop_assert_eq!(a, b && OPS[deny] != All && OPS[deny] != *op);
            }
        }
    }
}
