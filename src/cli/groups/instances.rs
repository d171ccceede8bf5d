//! Members' `group.instance.id` (KIP-345 static membership), which
//! librdkafka's group list does not carry: one DescribeGroups v4 sent
//! straight to the group's coordinator (found with FindCoordinator), over a
//! plaintext connection. With `-X security.protocol` other than plaintext
//! the ids are not looked up and `describe` shows `-`.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};

use anyhow::{bail, Context, Result};
use bytes::{Bytes, BytesMut};
use kafka_protocol::messages::{
    ApiKey, DescribeGroupsRequest, DescribeGroupsResponse, FindCoordinatorRequest,
    FindCoordinatorResponse, GroupId, RequestHeader, ResponseHeader,
};
use kafka_protocol::protocol::{Decodable, Encodable, HeaderVersion, StrBytes};

use crate::cli::{Connection, REQUEST_TIMEOUT};

/// Member id -> instance id of the group's static members; `None` when the
/// connection is not plaintext.
pub fn instance_ids(
    connection: &Connection,
    group: &str,
) -> Result<Option<BTreeMap<String, String>>> {
    let plaintext = connection
        .properties
        .iter()
        .filter(|(k, _)| k == "security.protocol")
        .all(|(_, v)| v.eq_ignore_ascii_case("plaintext"));
    if !plaintext {
        return Ok(None);
    }
    let bootstrap = connection
        .bootstrap_server
        .split(',')
        .next()
        .unwrap_or_default()
        .trim();
    let mut c = Wire::connect(bootstrap)?;
    let found: FindCoordinatorResponse = c.call(
        ApiKey::FindCoordinator,
        1,
        &FindCoordinatorRequest::default().with_key(StrBytes::from_string(group.to_owned())),
    )?;
    if found.error_code != 0 {
        bail!(
            "FindCoordinator for group '{group}': error code {}",
            found.error_code
        );
    }
    let mut c = Wire::connect(&format!("{}:{}", found.host.as_str(), found.port))?;
    let described: DescribeGroupsResponse = c.call(
        ApiKey::DescribeGroups,
        4,
        &DescribeGroupsRequest::default()
            .with_groups(vec![GroupId(StrBytes::from_string(group.to_owned()))]),
    )?;
    Ok(Some(
        described
            .groups
            .into_iter()
            .flat_map(|g| g.members)
            .filter_map(|m| {
                m.group_instance_id
                    .map(|i| (m.member_id.to_string(), i.to_string()))
            })
            .collect(),
    ))
}

/// One blocking Kafka connection, one request at a time.
struct Wire {
    stream: TcpStream,
    address: String,
}

impl Wire {
    fn connect(address: &str) -> Result<Wire> {
        let addr = address
            .to_socket_addrs()
            .with_context(|| format!("resolving {address}"))?
            .next()
            .with_context(|| format!("{address} resolves to no address"))?;
        let stream = TcpStream::connect_timeout(&addr, REQUEST_TIMEOUT)
            .with_context(|| format!("connecting to {address}"))?;
        stream.set_read_timeout(Some(REQUEST_TIMEOUT))?;
        stream.set_write_timeout(Some(REQUEST_TIMEOUT))?;
        Ok(Wire {
            stream,
            address: address.to_owned(),
        })
    }

    fn call<Req: Encodable + HeaderVersion, Resp: Decodable + HeaderVersion>(
        &mut self,
        key: ApiKey,
        version: i16,
        req: &Req,
    ) -> Result<Resp> {
        let header = RequestHeader::default()
            .with_request_api_key(key as i16)
            .with_request_api_version(version)
            .with_correlation_id(1)
            .with_client_id(Some(StrBytes::from_static_str("logship")));
        let mut body = BytesMut::new();
        header.encode(&mut body, Req::header_version(version))?;
        req.encode(&mut body, version)?;
        let what = || format!("{key:?} to {}", self.address);
        let mut frame = Vec::with_capacity(body.len() + 4);
        frame.extend_from_slice(&(body.len() as i32).to_be_bytes());
        frame.extend_from_slice(&body);
        self.stream.write_all(&frame).with_context(what)?;
        let mut len = [0u8; 4];
        self.stream.read_exact(&mut len).with_context(what)?;
        let len = usize::try_from(i32::from_be_bytes(len)).context("negative frame size")?;
        if len > 64 << 20 {
            bail!("{}: response of {len} bytes", what());
        }
        let mut buf = vec![0u8; len];
        self.stream.read_exact(&mut buf).with_context(what)?;
        let mut buf = Bytes::from(buf);
        ResponseHeader::decode(&mut buf, Resp::header_version(version)).with_context(what)?;
        Resp::decode(&mut buf, version).with_context(what)
    }
}
