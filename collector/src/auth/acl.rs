//! ACL rules: Kafka's model (principal, resource pattern, operation,
//! allow or deny) and the YAML that writes them:
//!
//! ```yaml
//! collector:
//!   super_users: ["User:admin"]
//!   acls:
//!     - principal: "User:alice"
//!       resource: topic          # topic | group | cluster | transactional_id
//!       name: logs-              # "*" (literal) is every resource; omit for cluster
//!       pattern: prefixed        # literal (default) | prefixed
//!       operations: [read, describe]
//!       permission: allow        # allow (default) | deny
//! ```
//!
//! [`AclRuleConfig::validate`] turns one YAML rule into runtime [`Acl`]s
//! (one per operation) and refuses what `kafka-acls.sh` refuses: an
//! operation the resource type does not have, a cluster name other than
//! `kafka-cluster`, an empty name.

use serde::Deserialize;

use super::principal::Principal;

/// The literal resource name that matches every resource of its type.
pub const WILDCARD: &str = "*";
/// The one cluster resource's name.
pub const CLUSTER_NAME: &str = "kafka-cluster";

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ResourceType {
    Topic,
    Group,
    Cluster,
    TransactionalId,
}

impl ResourceType {
    /// Kafka's `ResourceType` code (DescribeAcls and friends).
    pub fn code(self) -> i8 {
        match self {
            ResourceType::Topic => 2,
            ResourceType::Group => 3,
            ResourceType::Cluster => 4,
            ResourceType::TransactionalId => 5,
        }
    }

    /// The error code a denial on this resource type answers with:
    /// TOPIC_ (29), GROUP_ (30), CLUSTER_ (31) or
    /// TRANSACTIONAL_ID_AUTHORIZATION_FAILED (53).
    pub fn denied_error(self) -> i16 {
        match self {
            ResourceType::Topic => 29,
            ResourceType::Group => 30,
            ResourceType::Cluster => 31,
            ResourceType::TransactionalId => 53,
        }
    }

    /// The operations a resource of this type has (Kafka's
    /// `AclEntry.supportedOperations`, 4.0).
    pub fn operations(self) -> &'static [Operation] {
        use Operation::*;
        match self {
            ResourceType::Topic => &[
                Read,
                Write,
                Create,
                Delete,
                Alter,
                Describe,
                DescribeConfigs,
                AlterConfigs,
            ],
            ResourceType::Group => &[Read, Delete, Describe, DescribeConfigs, AlterConfigs],
            ResourceType::Cluster => &[
                Create,
                ClusterAction,
                DescribeConfigs,
                AlterConfigs,
                IdempotentWrite,
                Alter,
                Describe,
            ],
            ResourceType::TransactionalId => &[Describe, Write],
        }
    }

    fn yaml_name(self) -> &'static str {
        match self {
            ResourceType::Topic => "topic",
            ResourceType::Group => "group",
            ResourceType::Cluster => "cluster",
            ResourceType::TransactionalId => "transactional_id",
        }
    }
}

/// Kafka's `AclOperation`s that a rule can name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Operation {
    All,
    Read,
    Write,
    Create,
    Delete,
    Alter,
    Describe,
    ClusterAction,
    DescribeConfigs,
    AlterConfigs,
    IdempotentWrite,
}

impl Operation {
    /// Kafka's `AclOperation` code: the bit of the authorized-operations
    /// field.
    pub fn code(self) -> i8 {
        match self {
            Operation::All => 2,
            Operation::Read => 3,
            Operation::Write => 4,
            Operation::Create => 5,
            Operation::Delete => 6,
            Operation::Alter => 7,
            Operation::Describe => 8,
            Operation::ClusterAction => 9,
            Operation::DescribeConfigs => 10,
            Operation::AlterConfigs => 11,
            Operation::IdempotentWrite => 12,
        }
    }

    /// The name in YAML, e.g. `describe_configs`.
    pub fn yaml_name(self) -> &'static str {
        match self {
            Operation::All => "all",
            Operation::Read => "read",
            Operation::Write => "write",
            Operation::Create => "create",
            Operation::Delete => "delete",
            Operation::Alter => "alter",
            Operation::Describe => "describe",
            Operation::ClusterAction => "cluster_action",
            Operation::DescribeConfigs => "describe_configs",
            Operation::AlterConfigs => "alter_configs",
            Operation::IdempotentWrite => "idempotent_write",
        }
    }

    /// Whether an ALLOW rule for `self` grants `wanted`: ALL grants
    /// everything, READ/WRITE/DELETE/ALTER grant DESCRIBE, ALTER_CONFIGS
    /// grants DESCRIBE_CONFIGS. (A DENY rule denies only its own operation,
    /// or everything for ALL.)
    pub fn allow_implies(self, wanted: Operation) -> bool {
        use Operation::*;
        self == All
            || self == wanted
            || (wanted == Describe && matches!(self, Read | Write | Delete | Alter))
            || (wanted == DescribeConfigs && self == AlterConfigs)
    }
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PatternType {
    /// The exact name, or every resource for `*`.
    #[default]
    Literal,
    /// Every resource whose name starts with the rule's name.
    Prefixed,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    #[default]
    Allow,
    Deny,
}

/// Whom a rule is for.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum AclPrincipal {
    /// `User:*`.
    Any,
    User(String),
}

impl AclPrincipal {
    pub fn matches(&self, principal: &Principal) -> bool {
        match self {
            AclPrincipal::Any => true,
            AclPrincipal::User(name) => principal.name() == name,
        }
    }
}

/// One runtime ACL: Kafka's `AclBinding` with host `*`.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Acl {
    pub principal: AclPrincipal,
    pub resource_type: ResourceType,
    pub pattern_type: PatternType,
    pub name: String,
    pub operation: Operation,
    pub permission: Permission,
}

impl Acl {
    /// Whether this rule's resource pattern covers the resource `name`.
    pub fn matches_name(&self, name: &str) -> bool {
        match self.pattern_type {
            PatternType::Literal => self.name == WILDCARD || self.name == name,
            PatternType::Prefixed => name.starts_with(&self.name),
        }
    }
}

/// One rule of `collector.acls` as written in YAML.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclRuleConfig {
    /// `User:NAME`, or `User:*` for every principal (`User:ANONYMOUS` is
    /// who a plaintext listener's clients are).
    pub principal: String,
    /// `topic`, `group`, `cluster` or `transactional_id`.
    pub resource: ResourceType,
    /// The resource name (or prefix). `*` with `pattern: literal` is every
    /// resource of the type. Omitted for `cluster`.
    #[serde(default)]
    pub name: Option<String>,
    /// `literal` (default) or `prefixed`.
    #[serde(default)]
    pub pattern: PatternType,
    /// `read`, `write`, `create`, `delete`, `alter`, `describe`,
    /// `describe_configs`, `alter_configs`, `idempotent_write`,
    /// `cluster_action` or `all`; at least one.
    pub operations: Vec<Operation>,
    /// `allow` (default) or `deny`; a matching deny wins over any allow.
    #[serde(default)]
    pub permission: Permission,
}

impl AclRuleConfig {
    /// The runtime ACLs of this rule, one per operation.
    pub fn validate(&self) -> Result<Vec<Acl>, String> {
        let principal = match Principal::parse(&self.principal)? {
            p if p.name() == "*" => AclPrincipal::Any,
            p => AclPrincipal::User(p.name().to_owned()),
        };
        let rt = self.resource;
        let name = match (rt, self.name.as_deref()) {
            (ResourceType::Cluster, None | Some(CLUSTER_NAME)) => CLUSTER_NAME.to_owned(),
            (ResourceType::Cluster, Some(other)) => {
                return Err(format!(
                    "the cluster resource is named {CLUSTER_NAME:?}, not {other:?} (or omit `name`)"
                ))
            }
            (_, None | Some("")) => {
                return Err(format!(
                    "a {} rule needs a `name` (\"*\" for every {0})",
                    rt.yaml_name()
                ))
            }
            (_, Some(n)) => n.to_owned(),
        };
        if rt == ResourceType::Cluster && self.pattern == PatternType::Prefixed {
            return Err("cluster rules are literal".to_owned());
        }
        if self.pattern == PatternType::Prefixed && name == WILDCARD {
            return Err(
                "a prefixed \"*\" matches only names that start with `*`; use `pattern: literal` for every resource"
                    .to_owned(),
            );
        }
        if self.operations.is_empty() {
            return Err("`operations` is empty".to_owned());
        }
        let mut acls = Vec::new();
        for &op in &self.operations {
            if op != Operation::All && !rt.operations().contains(&op) {
                return Err(format!(
                    "{} resources have no {} operation (they have: all, {})",
                    rt.yaml_name(),
                    op.yaml_name(),
                    rt.operations()
                        .iter()
                        .map(|o| o.yaml_name())
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
            }
            let acl = Acl {
                principal: principal.clone(),
                resource_type: rt,
                pattern_type: self.pattern,
                name: name.clone(),
                operation: op,
                permission: self.permission,
            };
            if !acls.contains(&acl) {
                acls.push(acl);
            }
        }
        Ok(acls)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(yaml: &str) -> Result<Vec<Acl>, String> {
        let raw: Vec<AclRuleConfig> = serde_yaml_ng::from_str(yaml).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for r in &raw {
            out.extend(r.validate()?);
        }
        Ok(out)
    }

    #[test]
    fn yaml_rules_validate_into_acls() {
        let acls = rules(
            r#"
- principal: "User:alice"
  resource: topic
  name: logs-
  pattern: prefixed
  operations: [read, describe]
- principal: "User:*"
  resource: cluster
  operations: [idempotent_write]
  permission: deny
- principal: "User:bob"
  resource: group
  name: "*"
  operations: [all]
"#,
        )
        .unwrap();
        assert_eq!(acls.len(), 4);
        assert_eq!(
            acls[0],
            Acl {
                principal: AclPrincipal::User("alice".into()),
                resource_type: ResourceType::Topic,
                pattern_type: PatternType::Prefixed,
                name: "logs-".into(),
                operation: Operation::Read,
                permission: Permission::Allow,
            }
        );
        assert_eq!(acls[2].principal, AclPrincipal::Any);
        assert_eq!(acls[2].name, CLUSTER_NAME);
        assert_eq!(acls[2].permission, Permission::Deny);
        assert!(acls[3].matches_name("any-group"));
    }

    #[test]
    fn bad_rules_are_refused() {
        for (yaml, why) in [
            ("- {principal: alice, resource: topic, name: t, operations: [read]}", "User:NAME"),
            ("- {principal: 'User:a', resource: topic, operations: [read]}", "needs a `name`"),
            ("- {principal: 'User:a', resource: topic, name: '', operations: [read]}", "needs a `name`"),
            ("- {principal: 'User:a', resource: topic, name: t, operations: []}", "empty"),
            ("- {principal: 'User:a', resource: topic, name: t, operations: [idempotent_write]}", "no idempotent_write"),
            ("- {principal: 'User:a', resource: group, name: g, operations: [write]}", "no write"),
            ("- {principal: 'User:a', resource: cluster, name: c, operations: [create]}", "kafka-cluster"),
            ("- {principal: 'User:a', resource: topic, name: '*', pattern: prefixed, operations: [read]}", "literal"),
            ("- {principal: 'User:a', resource: topic, name: t, operations: [read], host: '*'}", "unknown field"),
            ("- {principal: 'User:a', resource: user, name: t, operations: [read]}", "unknown variant"),
            ("- {principal: 'User:a', resource: topic, name: t, operations: [any]}", "unknown variant"),
        ] {
            let e = rules(yaml).unwrap_err();
            assert!(e.contains(why), "{yaml}: {e}");
        }
    }

    #[test]
    fn implication_table() {
        use Operation::*;
        for op in [Read, Write, Delete, Alter, Describe, All] {
            assert!(op.allow_implies(Describe), "{op:?}");
        }
        for op in [
            Create,
            DescribeConfigs,
            AlterConfigs,
            IdempotentWrite,
            ClusterAction,
        ] {
            assert!(!op.allow_implies(Describe), "{op:?}");
        }
        assert!(AlterConfigs.allow_implies(DescribeConfigs));
        assert!(!Read.allow_implies(Write));
        assert!(!Describe.allow_implies(Read));
        assert!(All.allow_implies(IdempotentWrite));
    }
}
