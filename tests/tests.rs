//! End-to-end tests: the real `logship` and `logship-bench` binaries, driven
//! as users and operators would. One test binary, one module per area.

mod agent_files;
mod agent_journal;
mod agent_kafka_cluster;
mod agent_kafka_sink;
mod agent_metrics;
mod agent_security;
mod apache_kafka;
mod cli;
mod cli_groups;
mod cli_progress;
mod cli_users;
mod collector_run;
mod config_validate;
mod groups;
mod groups_protocol;
mod http_auth;
mod http_ingest;
mod java_client;
mod java_groups;
mod java_streams;
mod kafka_protocol;
mod kafka_rdkafka;
mod kafka_tools;
mod kcat;
mod limits;
mod prometheus;
mod python_clients;
mod quickstart;
mod sasl;
mod static_groups;
mod storage_crash;
mod systemd;
mod tls;
mod topic_configs;
mod util;
