"""Drives a logship collector with a stock Python Kafka client.

usage: clients.py LIBRARY BOOTSTRAP
LIBRARY: confluent-kafka | kafka-python | aiokafka

Each scenario asserts; any failure exits non-zero with a traceback. Prints
"ok <library> <kafka-python version if relevant>" at the end.
"""
import sys
import time
import uuid

N = 2000


def records(prefix):
    return [(f"k{i}".encode(), f"{prefix}-{i}".encode(), [("seq", str(i).encode())]) for i in range(N)]


def check(got, expected, lib):
    assert len(got) == len(expected), f"{lib}: got {len(got)} of {len(expected)}"
    for (k, v, h), (ek, ev, eh) in zip(got, expected):
        assert k == ek and v == ev, f"{lib}: {k!r}={v!r}, expected {ek!r}={ev!r}"
        assert dict(h) == dict(eh), f"{lib}: headers {h!r} != {eh!r}"


def confluent(bootstrap):
    from confluent_kafka import Consumer, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewPartitions, NewTopic

    admin = AdminClient({"bootstrap.servers": bootstrap})
    topic = "ck-" + uuid.uuid4().hex[:8]
    for f in admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1,
                                           config={"retention.ms": "86400000"})]).values():
        f.result(10)
    assert topic in admin.list_topics(timeout=10).topics
    for f in admin.create_partitions([NewPartitions(topic, 2)]).values():
        f.result(10)
    assert len(admin.list_topics(topic, timeout=10).topics[topic].partitions) == 2

    for codec in ["none", "gzip", "snappy", "lz4", "zstd"]:
        p = Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                      "compression.type": codec, "linger.ms": 5})
        failures = []
        expected = records(codec)
        for k, v, h in expected:
            p.produce(topic, key=k, value=v, headers=h, partition=0,
                      on_delivery=lambda err, msg: err and failures.append(err))
        assert p.flush(30) == 0 and not failures, failures
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "py-ck", "enable.auto.commit": False})
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    deadline = time.time() + 60
    while len(got) < 5 * N and time.time() < deadline:
        m = c.poll(1.0)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append((m.key(), m.value(), m.headers() or []))
    check(got, [r for codec in ["none", "gzip", "snappy", "lz4", "zstd"] for r in records(codec)], "confluent-kafka")
    low, high = c.get_watermark_offsets(TopicPartition(topic, 0), timeout=10)
    assert (low, high) == (0, 5 * N), (low, high)
    c.close()
    confluent_group(bootstrap, topic)
    for f in admin.delete_topics([topic]).values():
        f.result(10)
    assert topic not in admin.list_topics(timeout=10).topics


def confluent_group(bootstrap, topic):
    """Two members share the topic's partitions; commits survive the group."""
    from confluent_kafka import Consumer

    group = "ckg-" + uuid.uuid4().hex[:8]
    conf = {"bootstrap.servers": bootstrap, "group.id": group, "auto.offset.reset": "earliest",
            "session.timeout.ms": 6000, "heartbeat.interval.ms": 500, "enable.auto.commit": False}
    members = [Consumer(conf), Consumer(conf)]
    for m in members:
        m.subscribe([topic])
    deadline = time.time() + 30
    while time.time() < deadline:
        for m in members:
            m.poll(0.1)
        parts = [sorted(tp.partition for tp in m.assignment()) for m in members]
        if sorted(parts) == [[0], [1]]:
            break
    else:
        raise AssertionError(f"confluent-kafka group: assignment never settled: {parts}")
    for m in members:
        m.close()
    # A simple commit on the now-empty group, then a member resumes there.
    c = Consumer(conf)
    from confluent_kafka import TopicPartition
    c.commit(offsets=[TopicPartition(topic, 0, 7)], asynchronous=False)
    c.subscribe([topic])
    m = None
    while m is None and time.time() < deadline + 30:
        m = c.poll(0.5)
    assert m is not None and m.offset() == 7, m
    c.close()


def kafka_python(bootstrap):
    import kafka
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import NewTopic

    admin = KafkaAdminClient(bootstrap_servers=bootstrap, request_timeout_ms=10000)
    topic = "kp-" + uuid.uuid4().hex[:8]
    admin.create_topics([NewTopic(topic, num_partitions=1, replication_factor=1)])
    assert topic in admin.list_topics()
    # kafka-python 3.x turns idempotence on by default (InitProducerId).
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5, compression_type="gzip")
    expected = records("kp")
    futures = [producer.send(topic, key=k, value=v, headers=h, partition=0) for k, v, h in expected]
    producer.flush(30)
    offsets = [f.get(10).offset for f in futures]
    assert offsets == list(range(N)), offsets[:10]
    consumer = KafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                             consumer_timeout_ms=5000, auto_offset_reset="earliest")
    consumer.assign([TopicPartition(topic, 0)])
    consumer.seek_to_beginning()
    got = []
    for m in consumer:
        got.append((m.key, m.value, [(k, v) for k, v in m.headers]))
        if len(got) == N:
            break
    check(got, expected, "kafka-python")
    consumer.close()

    # Group consumption: a member commits as it goes; a new member resumes.
    group = "kpg-" + uuid.uuid4().hex[:8]
    first = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                          enable_auto_commit=False, consumer_timeout_ms=10000)
    taken = []
    for m in first:
        taken.append(m.offset)
        if len(taken) == 10:
            break
    first.commit()
    first.close()
    assert taken == list(range(10)), taken
    second = KafkaConsumer(topic, bootstrap_servers=bootstrap, group_id=group, auto_offset_reset="earliest",
                           enable_auto_commit=False, consumer_timeout_ms=10000)
    m = next(iter(second))
    assert m.offset == 10, m.offset
    second.close()
    # kafka-python 3 renamed the group admin calls.
    list_offsets = getattr(admin, "list_consumer_group_offsets", None) or admin.list_group_offsets
    raw = list_offsets(group)
    raw = raw.get(group, raw) if isinstance(next(iter(raw), None), str) else raw  # 3.x: {group: {tp: meta}}
    committed = {tp.partition: getattr(meta, "offset", meta) for tp, meta in raw.items()}
    assert committed == {0: 10}, committed
    delete_groups = getattr(admin, "delete_consumer_groups", None) or admin.delete_groups
    delete_groups([group])
    admin.delete_topics([topic])
    assert topic not in admin.list_topics()
    return kafka.__version__


def aiokafka_client(bootstrap):
    import asyncio
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition

    async def main():
        topic = "aio-" + uuid.uuid4().hex[:8]
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, enable_idempotence=True)
        await producer.start()
        expected = records("aio")
        try:
            for k, v, h in expected:
                await producer.send(topic, key=k, value=v, headers=h, partition=0)
            await producer.flush()
        finally:
            await producer.stop()
        consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                    auto_offset_reset="earliest")
        await consumer.start()
        try:
            consumer.assign([TopicPartition(topic, 0)])
            await consumer.seek_to_beginning()
            got = []
            while len(got) < N:
                batch = await consumer.getmany(timeout_ms=5000)
                assert batch, f"aiokafka: stalled at {len(got)}"
                for msgs in batch.values():
                    got.extend((m.key, m.value, list(m.headers)) for m in msgs)
            check(got, expected, "aiokafka")
        finally:
            await consumer.stop()

    asyncio.run(main())


if __name__ == "__main__":
    lib, bootstrap = sys.argv[1], sys.argv[2]
    version = {"confluent-kafka": confluent, "kafka-python": kafka_python, "aiokafka": aiokafka_client}[lib](bootstrap)
    print("ok", lib, version or "")
