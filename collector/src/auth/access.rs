//! The authorization state in force and the per-request view of it that
//! handlers (Kafka and HTTP) ask: [`AccessControl`] holds the current
//! [`Authorizer`] and the ssl principal mapping behind `ArcSwap`s, so a
//! SIGHUP reload swaps both atomically while connections keep serving;
//! [`Access`] is one request's snapshot of it plus who is asking, and
//! counts and logs each denial.
//!
//! Thread-safe: `AccessControl` is shared by every connection; an `Access`
//! is cheap to clone and moves into blocking tasks.

use std::sync::Arc;

use arc_swap::ArcSwap;
use prometheus::IntCounterVec;

use super::acl::{Operation, ResourceType};
use super::authorizer::{Authorizer, Resource};
use super::principal::{Principal, PrincipalMapper};

/// The collector's ACLs, super users and ssl principal mapping rules.
pub struct AccessControl {
    authorizer: ArcSwap<Authorizer>,
    mapper: ArcSwap<PrincipalMapper>,
    /// `logship_collector_authorization_denied_total{api,resource_type}`.
    denied: IntCounterVec,
}

impl AccessControl {
    /// Starts with `authorizer` and `mapper`, counting denials in `denied`.
    pub fn new(
        authorizer: Authorizer,
        mapper: PrincipalMapper,
        denied: IntCounterVec,
    ) -> AccessControl {
        AccessControl {
            authorizer: ArcSwap::from_pointee(authorizer),
            mapper: ArcSwap::from_pointee(mapper),
            denied,
        }
    }

    /// Puts new rules in force: requests that start after this see them,
    /// requests in flight finish with the rules they started with.
    pub fn replace(&self, authorizer: Authorizer, mapper: PrincipalMapper) {
        self.authorizer.store(Arc::new(authorizer));
        self.mapper.store(Arc::new(mapper));
    }

    /// The ssl principal mapping rules in force.
    pub fn mapper(&self) -> Arc<PrincipalMapper> {
        self.mapper.load_full()
    }

    /// The authorizer in force.
    pub fn authorizer(&self) -> Arc<Authorizer> {
        self.authorizer.load_full()
    }

    /// One request's view: the rules in force now and who is asking.
    /// `api` labels the denial metric (a Kafka API's label, or an HTTP
    /// route's).
    pub fn request(&self, api: &'static str, principal: &Principal) -> Access {
        Access {
            authorizer: self.authorizer.load_full(),
            principal: principal.clone(),
            api,
            denied: self.denied.clone(),
        }
    }

    /// Whether `principal` may do `operation` on `resource`; a denial is
    /// counted under `api` and logged. For callers with a single check
    /// (HTTP ingest); Kafka handlers use [`AccessControl::request`].
    pub fn authorize(
        &self,
        api: &'static str,
        principal: &Principal,
        operation: Operation,
        resource: Resource<'_>,
    ) -> bool {
        self.request(api, principal).allows(operation, resource)
    }
}

/// One request's authorization: a snapshot of the rules and the principal.
#[derive(Clone)]
pub struct Access {
    authorizer: Arc<Authorizer>,
    principal: Principal,
    api: &'static str,
    denied: IntCounterVec,
}

impl Access {
    pub fn principal(&self) -> &Principal {
        &self.principal
    }

    /// Whether any ACL is configured (otherwise everything is allowed).
    pub fn is_enforcing(&self) -> bool {
        self.authorizer.is_enforcing()
    }

    /// Whether the principal may do `operation` on `resource`; a denial is
    /// counted and logged (it becomes an error code in the response).
    pub fn allows(&self, operation: Operation, resource: Resource<'_>) -> bool {
        let ok = self.may(operation, resource);
        if !ok {
            self.record_denial(operation, resource.resource_type, resource.name);
        }
        ok
    }

    /// [`Access::allows`] without counting or logging: for filtering what
    /// a listing shows (Metadata for all topics, ListGroups), and for
    /// checks with a fallback (CREATE on the cluster, else on the topic).
    pub fn may(&self, operation: Operation, resource: Resource<'_>) -> bool {
        self.authorizer
            .authorize(&self.principal, operation, resource)
    }

    pub fn topic(&self, operation: Operation, name: &str) -> bool {
        self.allows(operation, Resource::topic(name))
    }

    pub fn group(&self, operation: Operation, name: &str) -> bool {
        self.allows(operation, Resource::group(name))
    }

    pub fn cluster(&self, operation: Operation) -> bool {
        self.allows(operation, Resource::cluster())
    }

    /// CREATE on the cluster, else on the topic (CreateTopics,
    /// auto-creation); a denial is counted once, on the topic.
    pub fn may_create_topic(&self, name: &str) -> bool {
        self.may(Operation::Create, Resource::cluster()) || self.topic(Operation::Create, name)
    }

    /// KIP-679's "`operation` on any resource of the type"; a denial is
    /// counted on the cluster, as its error (31) says.
    pub fn allows_any(&self, operation: Operation, resource_type: ResourceType) -> bool {
        let ok = self
            .authorizer
            .authorize_any(&self.principal, operation, resource_type);
        if !ok {
            self.record_denial(operation, ResourceType::Cluster, "*");
        }
        ok
    }

    /// The authorized-operations bitfield of `resource` for the principal.
    pub fn authorized_operations(&self, resource: Resource<'_>) -> i32 {
        self.authorizer
            .authorized_operations(&self.principal, resource)
    }

    /// The rules in force for this request (DescribeAcls lists them).
    pub fn authorizer(&self) -> &Authorizer {
        &self.authorizer
    }

    fn record_denial(&self, operation: Operation, resource_type: ResourceType, name: &str) {
        let rt = resource_label(resource_type);
        self.denied.with_label_values(&[self.api, rt]).inc();
        tracing::debug!(
            principal = %self.principal,
            api = self.api,
            operation = operation.yaml_name(),
            resource_type = rt,
            resource = name,
            "authorization denied"
        );
    }
}

/// The `resource_type` label.
pub fn resource_label(rt: ResourceType) -> &'static str {
    match rt {
        ResourceType::Topic => "topic",
        ResourceType::Group => "group",
        ResourceType::Cluster => "cluster",
        ResourceType::TransactionalId => "transactional_id",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::AclRuleConfig;

    fn control(yaml: &str) -> AccessControl {
        let rules: Vec<AclRuleConfig> = serde_yaml_ng::from_str(yaml).unwrap();
        let counter = IntCounterVec::new(
            prometheus::Opts::new("denied", "denied"),
            &["api", "resource_type"],
        )
        .unwrap();
        AccessControl::new(
            Authorizer::from_config(&rules, &["User:root".into()]).unwrap(),
            PrincipalMapper::default(),
            counter,
        )
    }

    #[test]
    fn denials_are_counted_by_api_and_resource_type_and_reload_swaps() {
        let c =
            control("- {principal: 'User:alice', resource: topic, name: t, operations: [write]}");
        let alice = Principal::user("alice");
        let a = c.request("produce", &alice);
        assert!(a.topic(Operation::Write, "t"));
        assert!(a.topic(Operation::Describe, "t"));
        assert!(!a.topic(Operation::Write, "u"));
        assert!(!a.may(Operation::Read, Resource::topic("t")));
        assert!(!a.group(Operation::Read, "g"));
        assert_eq!(
            c.denied.with_label_values(&["produce", "topic"]).get(),
            1,
            "`may` does not count"
        );
        assert_eq!(c.denied.with_label_values(&["produce", "group"]).get(), 1);
        assert!(c.authorize(
            "http_ingest",
            &Principal::user("root"),
            Operation::Delete,
            Resource::topic("x")
        ));
        // Reload: in-flight `a` keeps its snapshot, new requests see the new rules.
        c.replace(Authorizer::default(), PrincipalMapper::default());
        assert!(!a.topic(Operation::Write, "u"));
        assert!(c.request("produce", &alice).topic(Operation::Write, "u"));
        assert!(!c.request("produce", &alice).is_enforcing());
    }

    #[test]
    fn create_falls_back_from_cluster_to_topic() {
        let c = control(
            "- {principal: 'User:a', resource: topic, name: logs-, pattern: prefixed, operations: [create]}\n- {principal: 'User:b', resource: cluster, operations: [create]}",
        );
        assert!(c
            .request("x", &Principal::user("a"))
            .may_create_topic("logs-1"));
        assert!(!c
            .request("x", &Principal::user("a"))
            .may_create_topic("other"));
        assert!(c
            .request("x", &Principal::user("b"))
            .may_create_topic("other"));
    }
}
