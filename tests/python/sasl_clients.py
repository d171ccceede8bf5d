"""Authenticates with SASL using a stock Python Kafka client.

usage: sasl_clients.py LIBRARY BOOTSTRAP PROTOCOL MECHANISM USER PASSWORD CA_FILE|- EXPECT [CERT KEY]
LIBRARY: confluent-kafka | kafka-python | aiokafka
PROTOCOL: SASL_SSL | SASL_PLAINTEXT, or SSL (aiokafka only, with CERT and KEY:
mutual TLS; MECHANISM, USER and PASSWORD are then "-"); MECHANISM: PLAIN,
SCRAM-SHA-256, ... or OAUTHBEARER (confluent-kafka only: librdkafka's
unsecured JWT, a mechanism the collector does not serve).
EXPECT: ok      -> create a topic, produce, consume it in a consumer group,
                   commit and read the committed offset back; prints "ok LIBRARY"
        denied  -> the client must fail to authenticate; prints "denied LIBRARY"
Any other outcome exits non-zero.
"""
import sys
import time
import uuid

N = 100


def confluent(bootstrap, protocol, mechanism, user, password, ca, expect):
    from confluent_kafka import Consumer, KafkaError, Producer, TopicPartition
    from confluent_kafka.admin import AdminClient, NewTopic

    conf = {"bootstrap.servers": bootstrap, "security.protocol": protocol,
            "sasl.mechanisms": mechanism}
    if mechanism == "OAUTHBEARER":
        conf.update({"enable.sasl.oauthbearer.unsecure.jwt": True,
                     "sasl.oauthbearer.config": f"principal={user}"})
    else:
        conf.update({"sasl.username": user, "sasl.password": password})
    if ca != "-":
        conf["ssl.ca.location"] = ca
    if expect == "denied":
        errors = []
        p = Producer(dict(conf, error_cb=errors.append))
        deadline = time.time() + 20
        while time.time() < deadline and not any(
                e.code() == KafkaError._AUTHENTICATION for e in errors):
            p.poll(0.2)
        assert any(e.code() == KafkaError._AUTHENTICATION for e in errors), errors
        md = None
        try:
            md = p.list_topics(timeout=1)
        except Exception:
            pass
        assert md is None or not md.topics, "metadata answered without authentication"
        return
    topic = "sasl-ck-" + uuid.uuid4().hex[:8]
    admin = AdminClient(conf)
    for f in admin.create_topics([NewTopic(topic, num_partitions=2)]).values():
        f.result(20)
    p = Producer(dict(conf, **{"enable.idempotence": True}))
    for i in range(N):
        p.produce(topic, f"v{i}".encode(), f"k{i}".encode())
    assert p.flush(20) == 0, "undelivered records"
    group = "sasl-" + topic
    c = Consumer(dict(conf, **{"group.id": group, "auto.offset.reset": "earliest",
                               "enable.auto.commit": False}))
    c.subscribe([topic])
    got = []
    deadline = time.time() + 30
    while len(got) < N and time.time() < deadline:
        m = c.poll(1)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append(m.value().decode())
    assert sorted(got) == sorted(f"v{i}" for i in range(N)), f"got {len(got)}"
    c.commit(asynchronous=False)
    committed = c.committed([TopicPartition(topic, 0), TopicPartition(topic, 1)], timeout=10)
    assert sum(tp.offset for tp in committed) == N, committed
    c.close()


def kafka_python(bootstrap, protocol, mechanism, user, password, ca, expect):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition
    from kafka.admin import KafkaAdminClient, NewTopic

    conf = {"bootstrap_servers": bootstrap, "security_protocol": protocol,
            "sasl_mechanism": mechanism, "sasl_plain_username": user,
            "sasl_plain_password": password}
    if ca != "-":
        conf["ssl_cafile"] = ca
    if expect == "denied":
        try:
            p = KafkaProducer(**conf, api_version_auto_timeout_ms=5000, max_block_ms=5000,
                              reconnect_backoff_ms=200)
            p.send("sasl-denied", b"x").get(timeout=5)
        except Exception as e:  # kafka-python raises NoBrokersAvailable, KafkaTimeoutError, ...
            print(f"refused: {type(e).__name__}")
            return
        raise AssertionError("produced without authenticating")
    topic = "sasl-kp-" + uuid.uuid4().hex[:8]
    admin = KafkaAdminClient(**conf)
    admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
    assert topic in admin.list_topics(), "created topic not listed"
    admin.close()
    p = KafkaProducer(**conf)
    for i in range(N):
        p.send(topic, value=f"v{i}".encode(), key=f"k{i}".encode())
    p.flush(20)
    p.close()
    group = "sasl-" + topic
    c = KafkaConsumer(topic, **conf, group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=20000)
    got = []
    for m in c:
        got.append(m.value.decode())
        if len(got) == N:
            break
    assert sorted(got) == sorted(f"v{i}" for i in range(N)), f"got {len(got)}"
    c.commit()
    committed = sum(c.committed(TopicPartition(topic, p)) or 0 for p in (0, 1))
    assert committed == N, committed
    c.close()


def aiokafka_client(bootstrap, protocol, mechanism, user, password, ca, expect, cert=None, key=None):
    import asyncio
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
    from aiokafka.admin import AIOKafkaAdminClient, NewTopic
    from aiokafka.errors import KafkaError
    from aiokafka.helpers import create_ssl_context

    conf = {"bootstrap_servers": bootstrap, "security_protocol": protocol}
    if protocol.startswith("SASL"):
        conf.update({"sasl_mechanism": mechanism, "sasl_plain_username": user,
                     "sasl_plain_password": password})
    if ca != "-":
        conf["ssl_context"] = create_ssl_context(cafile=ca, certfile=cert, keyfile=key)

    async def denied():
        # aiokafka reports a failed bootstrap as KafkaConnectionError; why
        # each broker refused is in its log, printed here for the caller.
        import logging
        refusals = []

        class Collect(logging.Handler):
            def emit(self, record):
                refusals.append(record.getMessage())

        logging.getLogger("aiokafka").addHandler(Collect(logging.ERROR))
        p = AIOKafkaProducer(**conf, request_timeout_ms=5000, retry_backoff_ms=200)
        try:
            await asyncio.wait_for(p.start(), 20)
            await asyncio.wait_for(p.send_and_wait("sasl-denied", b"x"), 10)
        except (KafkaError, asyncio.TimeoutError) as e:
            print(f"refused: {type(e).__name__}: {e}")
            for r in refusals:
                print(f"logged: {r}")
            return
        finally:
            await p.stop()
        raise AssertionError("produced without authenticating")

    async def ok():
        topic = "sasl-aio-" + uuid.uuid4().hex[:8]
        admin = AIOKafkaAdminClient(**conf)
        await admin.start()
        try:
            await admin.create_topics([NewTopic(topic, num_partitions=2, replication_factor=1)])
            assert topic in await admin.list_topics(), "created topic not listed"
        finally:
            await admin.close()
        p = AIOKafkaProducer(**conf, enable_idempotence=True)
        await p.start()
        try:
            for i in range(N):
                await p.send(topic, value=f"v{i}".encode(), key=f"k{i}".encode())
            await p.flush()
        finally:
            await p.stop()
        c = AIOKafkaConsumer(topic, **conf, group_id="sasl-" + topic,
                             auto_offset_reset="earliest", enable_auto_commit=False)
        await c.start()
        try:
            got = []
            deadline = time.time() + 30
            while len(got) < N and time.time() < deadline:
                for msgs in (await c.getmany(timeout_ms=1000)).values():
                    got.extend(m.value.decode() for m in msgs)
            assert sorted(got) == sorted(f"v{i}" for i in range(N)), f"got {len(got)}"
            assert len(c.assignment()) == 2, c.assignment()
            await c.commit()
            committed = [await c.committed(TopicPartition(topic, p)) for p in (0, 1)]
            assert sum(o or 0 for o in committed) == N, committed
        finally:
            await c.stop()

    asyncio.run(denied() if expect == "denied" else ok())


def main():
    library, bootstrap, protocol, mechanism, user, password, ca, expect = sys.argv[1:9]
    run = {"confluent-kafka": confluent, "kafka-python": kafka_python,
           "aiokafka": aiokafka_client}[library]
    run(bootstrap, protocol, mechanism, user, password, ca, expect, *sys.argv[9:11])
    print(f"{expect} {library}")


if __name__ == "__main__":
    main()
