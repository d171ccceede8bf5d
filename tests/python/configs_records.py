"""Topic configs altered live and records deleted, through stock Python
admin clients: confluent-kafka (IncrementalAlterConfigs and AlterConfigs,
DeleteRecords) and kafka-python (AlterConfigs in 2.x, IncrementalAlterConfigs
in 3.x, DeleteRecords). Usage: configs_records.py LIBRARY BOOTSTRAP TOPIC.
Leaves TOPIC with the overrides it prints (`overrides k=v,...`) and its log
start offset at 40 of 100 records, for the caller to check after a restart."""

import sys
import time

N = 100
START = 40


def wait(what, ok, limit=30):
    deadline = time.time() + limit
    while not ok():
        assert time.time() < deadline, what
        time.sleep(0.2)


def confluent(bootstrap, topic):
    from confluent_kafka import (Consumer, KafkaError, KafkaException, Producer,
                                 TopicPartition)
    from confluent_kafka.admin import (AdminClient, AlterConfigOpType, ConfigEntry,
                                       ConfigResource, ConfigSource, NewTopic)

    admin = AdminClient({"bootstrap.servers": bootstrap})
    for f in admin.create_topics([NewTopic(topic, 1, 1, config={"segment.bytes": "1024"})]).values():
        f.result(10)
    p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 0})
    for i in range(N):
        p.produce(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0)
        p.poll(0)
    assert p.flush(30) == 0

    res = ConfigResource(ConfigResource.Type.TOPIC, topic)

    def describe(synonyms=False):
        (f,) = admin.describe_configs([res]).values()
        return f.result(10)

    def incremental(ops, validate_only=False):
        r = ConfigResource(ConfigResource.Type.TOPIC, topic, incremental_configs=ops)
        (f,) = admin.incremental_alter_configs([r], validate_only=validate_only).values()
        return f.result(10)

    def refused(ops, code):
        try:
            incremental(ops)
        except KafkaException as e:
            assert e.args[0].code() == code, e
            return
        raise AssertionError("%s accepted" % ops)

    def op(name, value, kind=AlterConfigOpType.SET):
        return ConfigEntry(name, value, incremental_operation=kind)

    # IncrementalAlterConfigs: set two, then delete one.
    incremental([op("retention.ms", "3600000"), op("max.message.bytes", "500000")])
    incremental([op("max.message.bytes", None, AlterConfigOpType.DELETE)])
    d = describe(synonyms=True)
    assert d["retention.ms"].value == "3600000", d["retention.ms"]
    assert d["retention.ms"].source == ConfigSource.DYNAMIC_TOPIC_CONFIG.value
    syn = [(s.name, s.source) for s in d["retention.ms"].synonyms.values()]
    assert ("retention.ms", ConfigSource.DYNAMIC_TOPIC_CONFIG.value) in syn, syn
    assert ("log.retention.ms", ConfigSource.DEFAULT_CONFIG.value) in syn, syn
    assert d["max.message.bytes"].value == "1048588"
    assert d["max.message.bytes"].source == ConfigSource.DEFAULT_CONFIG.value

    # Bad input: nothing of the resource is applied.
    refused([op("retention.ms", "1"), op("no.such.config", "1")], KafkaError.INVALID_CONFIG)
    refused([op("retention.ms", "1"), op("segment.bytes", "soon")], KafkaError.INVALID_CONFIG)
    refused([op("retention.ms", "1", AlterConfigOpType.APPEND)], KafkaError.INVALID_CONFIG)
    incremental([op("retention.ms", "1")], validate_only=True)
    assert describe()["retention.ms"].value == "3600000"

    # Legacy AlterConfigs replaces the whole override set.
    (f,) = admin.alter_configs([ConfigResource(ConfigResource.Type.TOPIC, topic,
                                               set_config={"retention.ms": "7200000"})]).values()
    f.result(10)
    d = describe()
    assert d["retention.ms"].value == "7200000"
    assert d["segment.bytes"].source == ConfigSource.DEFAULT_CONFIG.value, d["segment.bytes"]

    # DeleteRecords.
    (f,) = admin.delete_records([TopicPartition(topic, 0, START)]).values()
    assert f.result(10).low_watermark == START
    (f,) = admin.delete_records([TopicPartition(topic, 0, N + 1)]).values()
    try:
        f.result(10)
        raise AssertionError("deleting beyond the high watermark was accepted")
    except KafkaException as e:
        assert e.args[0].code() == KafkaError.OFFSET_OUT_OF_RANGE, e
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": topic, "auto.offset.reset": "earliest"})
    assert c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10) == (START, N)
    c.assign([TopicPartition(topic, 0, 0)])  # below the start: reset to earliest
    got = []
    deadline = time.time() + 30
    while len(got) < N - START and time.time() < deadline:
        m = c.poll(1.0)
        if m is not None and m.error() is None:
            got.append(m.offset())
    assert got == list(range(START, N)), got
    c.close()

    # A shorter retention deletes on the next retention pass, no restart.
    other = topic + "-short"
    for f in admin.create_topics([NewTopic(other, 1, 1)]).values():
        f.result(10)
    for i in range(10):
        p.produce(other, value=b"x", partition=0)
    assert p.flush(30) == 0
    r = ConfigResource(ConfigResource.Type.TOPIC, other,
                       incremental_configs=[op("retention.ms", "1")])
    (f,) = admin.incremental_alter_configs([r]).values()
    f.result(10)
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": other})
    wait("retention never deleted the records",
         lambda: c.get_watermark_offsets(TopicPartition(other, 0), timeout=10) == (10, 10))
    c.close()
    print("overrides retention.ms=7200000")
    print("ok confluent-kafka")


def kafka_python(bootstrap, topic):
    import kafka
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import ConfigResource, ConfigResourceType, KafkaAdminClient, NewTopic
    from kafka.errors import OffsetOutOfRangeError

    v3 = kafka.__version__.startswith("3.")
    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    admin.create_topics([NewTopic(topic, 1, 1, topic_configs={"segment.bytes": "1024"})])
    p = KafkaProducer(bootstrap_servers=bootstrap)
    for i in range(N):
        p.send(topic, key=b"k%d" % i, value=b"v%d" % i, partition=0)
    p.flush()

    def configs():
        """The topic's configs as {name: value} (3.x: only the overridden ones)."""
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        if v3:
            return {k: v["value"] for k, v in res["topic"][topic].items()}
        (resource,) = res[0].to_object()["resources"]
        assert resource["error_code"] == 0, resource
        return {c["config_names"]: c["config_value"] for c in resource["config_entries"]}

    def alter(cfg):
        """The error code of the topic's resource (3.x: IncrementalAlterConfigs)."""
        r = ConfigResource(ConfigResourceType.TOPIC, topic, configs=cfg)
        res = admin.alter_configs([r])
        if v3:
            outcome = res["topic"][topic]
            return 0 if not isinstance(outcome, str) or "Error" not in outcome else int(outcome.split("]")[0].split()[-1])
        (resource,) = res.to_object()["resources"]
        return resource["error_code"]

    # Both keys: kafka-python 2 sends AlterConfigs, which replaces the set.
    assert alter({"retention.ms": "7200000", "segment.bytes": "1024"}) == 0
    assert configs()["retention.ms"] == "7200000"
    if v3:  # 3.x shows the type DescribeConfigs v3+ reports
        res = admin.describe_configs([ConfigResource(ConfigResourceType.TOPIC, topic)])
        types = {k: v["config_type"] for k, v in res["topic"][topic].items()}
        assert types == {"retention.ms": "LONG", "segment.bytes": "INT"}, types
    # A bad value: refused, and the override set is unchanged.
    assert alter({"retention.ms": "1", "segment.bytes": "soon"}) == 40
    cfg = configs()
    assert cfg["retention.ms"] == "7200000" and cfg["segment.bytes"] == "1024", cfg

    admin.delete_records({TopicPartition(topic, 0): START})
    try:
        admin.delete_records({TopicPartition(topic, 0): N + 1})
        raise AssertionError("deleting beyond the high watermark was accepted")
    except OffsetOutOfRangeError:
        pass
    c = KafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                      consumer_timeout_ms=5000)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    assert c.beginning_offsets([tp])[tp] == START
    c.seek_to_beginning(tp)
    got = [m.offset for m in c]
    assert got == list(range(START, N)), got
    c.close()
    print("overrides retention.ms=7200000,segment.bytes=1024")
    print("ok kafka-python " + kafka.__version__)


if __name__ == "__main__":
    lib, bootstrap, topic = sys.argv[1], sys.argv[2], sys.argv[3]
    {"confluent-kafka": confluent, "kafka-python": kafka_python}[lib](bootstrap, topic)
