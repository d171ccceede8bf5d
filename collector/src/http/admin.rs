//! Admin JSON endpoints the agent's HTTP sink needs besides ingest:
//! - `GET /v1/topics/{topic}`: the topic's partition count (auto-creating
//!   it when allowed, as Kafka's Metadata does);
//! - `GET /v1/topics/{topic}/partitions/{p}/producers/{producer_id}`: the
//!   epoch and last sequence a producer appended to a partition, which a
//!   restarted agent reads to skip records already stored (docs/design.md,
//!   Exactly-once);
//! - `POST /v1/producer-ids`: a fresh producer id, as InitProducerId gives.

use std::sync::Arc;

use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::Extension;

use super::error::{json_response, ApiError, UNKNOWN_PRODUCER_ID};
use super::{Authenticated, HttpState};
use crate::auth::{Operation, Resource};
use crate::error::StorageError;
use crate::handler::blocking;
use crate::storage::validate_topic_name;
use logship_common::ingest::{NewProducerId, ProducerState, TopicInfo};

pub async fn get_topic(
    State(state): State<HttpState>,
    Extension(who): Extension<Authenticated>,
    topic: Result<Path<String>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path(topic) = topic.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    validate_topic_name(&topic)?;
    // The agent's lookups need what its appends need: WRITE (which implies
    // DESCRIBE) on the topic. Checked before auto-creation.
    state
        .auth
        .authorize(&who, Operation::Write, Resource::topic(&topic))?;
    let broker = Arc::clone(&state.broker);
    let t = topic.clone();
    let description = blocking(move || match broker.storage.describe_topic(&t) {
        Err(StorageError::UnknownTopicOrPartition { .. }) if broker.auto_create_topics => {
            broker.auto_create(&t)?;
            broker.storage.describe_topic(&t)
        }
        other => other,
    })
    .await?;
    Ok(json_response(
        StatusCode::OK,
        &TopicInfo {
            name: topic,
            partitions: description.partitions,
        },
    ))
}

pub async fn get_producer(
    State(state): State<HttpState>,
    Extension(who): Extension<Authenticated>,
    params: Result<Path<(String, String, String)>, PathRejection>,
) -> Result<Response, ApiError> {
    let Path((topic, partition, producer_id)) =
        params.map_err(|e| ApiError::invalid_request(e.body_text()))?;
    validate_topic_name(&topic)?;
    state
        .auth
        .authorize(&who, Operation::Write, Resource::topic(&topic))?;
    let partition: i32 = partition.parse().map_err(|_| {
        ApiError::invalid_request(format!("partition must be an integer, got {partition:?}"))
    })?;
    let producer_id: i64 = producer_id.parse().map_err(|_| {
        ApiError::invalid_request(format!(
            "producer id must be an integer, got {producer_id:?}"
        ))
    })?;
    let storage = Arc::clone(&state.broker.storage);
    let t = topic.clone();
    // Never auto-creates: asking about a producer must not make a topic.
    let last = blocking(move || {
        storage
            .partition(&t, partition)
            .map(|p| p.last_producer_sequence(producer_id))
    })
    .await?;
    let Some((epoch, last_sequence)) = last else {
        return Err(ApiError::kafka(
            UNKNOWN_PRODUCER_ID,
            format!("{topic}-{partition} has no state for producer id {producer_id}"),
        ));
    };
    Ok(json_response(
        StatusCode::OK,
        &ProducerState {
            producer_id,
            epoch,
            last_sequence,
        },
    ))
}

pub async fn post_producer_id(
    State(state): State<HttpState>,
    Extension(who): Extension<Authenticated>,
) -> Result<Response, ApiError> {
    state.auth.authorize_producer_id(&who)?;
    let broker = Arc::clone(&state.broker);
    // May fsync: a new block of ids is reserved on disk.
    let id = blocking(move || broker.allocate_producer_id()).await?;
    Ok(json_response(
        StatusCode::OK,
        &NewProducerId {
            producer_id: id,
            epoch: 0,
        },
    ))
}
