//! Which operation on which resource each Kafka API needs (KafkaApis,
//! ControllerApis, AuthHelper in apache/kafka 4.0), for wiring the
//! [`Authorizer`](super::Authorizer) into the handlers. A handler applies
//! its [`Requirement`] per resource named in the request and answers a
//! denial with the check's error code, in the response (per topic, per
//! group, or for the whole request as the check's scope says).

use super::acl::{Operation, ResourceType};

/// Which resources of a request a check applies to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scope {
    /// Each topic (or partition) named in the request; a denied one gets
    /// the error, the others proceed.
    EachTopic,
    /// Each group named in the request (one for most group APIs).
    EachGroup,
    /// The request's transactional id; a denial fails the whole request.
    TransactionalId,
    /// The cluster; a denial fails the whole request.
    Cluster,
    /// KIP-679: any topic, see [`Authorizer::authorize_any`](super::Authorizer::authorize_any).
    AnyTopic,
}

/// One authorization check.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    pub operation: Operation,
    pub scope: Scope,
}

impl Check {
    const fn new(operation: Operation, scope: Scope) -> Check {
        Check { operation, scope }
    }

    /// The error a denial answers with (29, 30, 31 or 53).
    pub fn denied_error(&self) -> i16 {
        match self.scope {
            Scope::EachTopic => ResourceType::Topic.denied_error(),
            Scope::EachGroup => ResourceType::Group.denied_error(),
            Scope::TransactionalId => ResourceType::TransactionalId.denied_error(),
            Scope::Cluster | Scope::AnyTopic => ResourceType::Cluster.denied_error(),
        }
    }
}

/// What an API needs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Requirement {
    /// Nothing (ApiVersions, the SASL APIs; DescribeCluster's call itself).
    None,
    /// Every check, in order (the first denial decides the error).
    All(&'static [Check]),
    /// `first` passing grants the request; otherwise `otherwise` applies
    /// (per resource, for the per-topic scopes).
    Either {
        first: Check,
        otherwise: &'static [Check],
    },
    /// An API this table does not know: deny it (CLUSTER_AUTHORIZATION_FAILED).
    Unknown,
}

use Operation::*;
use Scope::*;

/// The requirement of API `api_key`. `transactional` says whether the
/// request carries a transactional id (Produce, InitProducerId) or asks for
/// a transaction coordinator (FindCoordinator key type 1).
///
/// Beyond the table: Metadata's auto-creation also needs CREATE on the
/// cluster or the topic ([`AUTO_CREATE`]); Metadata and ListGroups filter
/// (omit what is not described) instead of failing; ListGroups with
/// DESCRIBE on the cluster lists every group; CreateTopics returns configs
/// only with DESCRIBE_CONFIGS on the topic; OffsetFetch answers a topic it
/// may not describe with 29 and offset -1 (and drops it from an all-topics
/// fetch).
pub fn required(api_key: i16, transactional: bool) -> Requirement {
    match api_key {
        // Produce: WRITE on the transactional id (53, whole request), then
        // WRITE per topic (29 per partition, checked before existence).
        0 if transactional => Requirement::All(
            const {
                &[
                    Check::new(Write, TransactionalId),
                    Check::new(Write, EachTopic),
                ]
            },
        ),
        0 => Requirement::All(const { &[Check::new(Write, EachTopic)] }),
        1 => Requirement::All(const { &[Check::new(Read, EachTopic)] }), // Fetch
        2 | 3 | 23 => Requirement::All(const { &[Check::new(Describe, EachTopic)] }), // ListOffsets, Metadata, OffsetForLeaderEpoch
        8 => {
            Requirement::All(const { &[Check::new(Read, EachGroup), Check::new(Read, EachTopic)] })
        } // OffsetCommit
        9 => Requirement::All(
            const {
                &[
                    Check::new(Describe, EachGroup),
                    Check::new(Describe, EachTopic),
                ]
            },
        ), // OffsetFetch
        10 if transactional => Requirement::All(const { &[Check::new(Describe, TransactionalId)] }),
        10 => Requirement::All(const { &[Check::new(Describe, EachGroup)] }), // FindCoordinator
        11..=14 => Requirement::All(const { &[Check::new(Read, EachGroup)] }), // Join, Heartbeat, Leave, Sync
        15 => Requirement::All(const { &[Check::new(Describe, EachGroup)] }),  // DescribeGroups
        16 => Requirement::Either {
            first: Check::new(Describe, Cluster),
            otherwise: const { &[Check::new(Describe, EachGroup)] },
        }, // ListGroups (filters)
        17 | 18 | 36 | 60 => Requirement::None, // SaslHandshake, ApiVersions, SaslAuthenticate, DescribeCluster
        19 => Requirement::Either {
            first: Check::new(Create, Cluster),
            otherwise: const { &[Check::new(Create, EachTopic)] },
        }, // CreateTopics
        20 => Requirement::Either {
            first: Check::new(Delete, Cluster),
            otherwise: const {
                &[
                    Check::new(Describe, EachTopic),
                    Check::new(Delete, EachTopic),
                ]
            },
        }, // DeleteTopics: 29 before UNKNOWN_TOPIC_OR_PARTITION
        21 => Requirement::All(const { &[Check::new(Delete, EachTopic)] }), // DeleteRecords
        22 if transactional => Requirement::All(const { &[Check::new(Write, TransactionalId)] }),
        22 => Requirement::Either {
            first: Check::new(IdempotentWrite, Cluster),
            otherwise: const { &[Check::new(Write, AnyTopic)] },
        }, // InitProducerId (KIP-679)
        24 => Requirement::All(
            const {
                &[
                    Check::new(Write, TransactionalId),
                    Check::new(Write, EachTopic),
                ]
            },
        ), // AddPartitionsToTxn
        25 => Requirement::All(
            const {
                &[
                    Check::new(Write, TransactionalId),
                    Check::new(Read, EachGroup),
                ]
            },
        ), // AddOffsetsToTxn
        26 => Requirement::All(const { &[Check::new(Write, TransactionalId)] }), // EndTxn
        28 => Requirement::All(
            const {
                &[
                    Check::new(Write, TransactionalId),
                    Check::new(Read, EachGroup),
                    Check::new(Read, EachTopic),
                ]
            },
        ), // TxnOffsetCommit
        29 => Requirement::All(const { &[Check::new(Describe, Cluster)] }),      // DescribeAcls
        30 | 31 => Requirement::All(const { &[Check::new(Alter, Cluster)] }), // CreateAcls, DeleteAcls
        // DescribeConfigs / AlterConfigs / IncrementalAlterConfigs: per
        // resource, on its own type (topic 29, cluster 31, group 30); the
        // scope here is the common topic case.
        32 => Requirement::All(const { &[Check::new(DescribeConfigs, EachTopic)] }),
        33 | 44 => Requirement::All(const { &[Check::new(AlterConfigs, EachTopic)] }),
        37 => Requirement::All(const { &[Check::new(Alter, EachTopic)] }), // CreatePartitions
        42 => Requirement::All(const { &[Check::new(Delete, EachGroup)] }), // DeleteGroups
        47 => Requirement::All(
            const { &[Check::new(Delete, EachGroup), Check::new(Read, EachTopic)] },
        ), // OffsetDelete
        61 => Requirement::All(const { &[Check::new(Read, EachTopic)] }),  // DescribeProducers
        _ => Requirement::Unknown,
    }
}

/// What Metadata's (and Produce's) auto-creation of a topic needs besides
/// DESCRIBE: CREATE on the cluster, or else on the topic (29 if neither).
pub const AUTO_CREATE: Requirement = Requirement::Either {
    first: Check::new(Create, Cluster),
    otherwise: &[Check::new(Create, EachTopic)],
};

#[cfg(test)]
mod tests {
    use super::*;

    /// Every API the collector serves has an entry.
    #[test]
    fn served_apis_are_known() {
        for key in [
            0, 1, 2, 3, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 29, 30, 31, 32,
            33, 36, 37, 42, 44, 60,
        ] {
            assert_ne!(required(key, false), Requirement::Unknown, "api {key}");
        }
        assert_eq!(required(9999, false), Requirement::Unknown);
    }

    #[test]
    fn notable_entries() {
        assert_eq!(
            required(0, false),
            Requirement::All(const { &[Check::new(Write, EachTopic)] })
        );
        match required(0, true) {
            Requirement::All(checks) => assert_eq!(checks[0].denied_error(), 53),
            other => panic!("{other:?}"),
        }
        match required(22, false) {
            Requirement::Either { first, otherwise } => {
                assert_eq!(first, Check::new(IdempotentWrite, Cluster));
                assert_eq!(otherwise[0].scope, AnyTopic);
                assert_eq!(otherwise[0].denied_error(), 31);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            required(15, false),
            Requirement::All(const { &[Check::new(Describe, EachGroup)] })
        );
        assert_eq!(Check::new(Read, EachGroup).denied_error(), 30);
        assert_eq!(required(18, false), Requirement::None);
    }
}
