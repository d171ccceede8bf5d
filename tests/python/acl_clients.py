"""ACLs seen by a stock Python Kafka client over mutual TLS.

usage: acl_clients.py LIBRARY BOOTSTRAP CERT_DIR TOPIC GROUP
LIBRARY: confluent-kafka | kafka-python

CERT_DIR holds ca.pem and writer/reader/admin .pem/.key from
`logship tls init`; the collector maps each certificate to User:NAME and
its ACLs let `writer` write TOPIC and use GROUP, `reader` read TOPIC and use
GROUP, and nothing else (`admin` is a super user). The script checks what is
allowed works and what is not fails with Kafka's authorization errors:
produce (29), group (30), create and delete topic (29), and that Metadata
lists only the topics the principal may describe. Prints "ok <library>".
"""
import ssl
import sys
import time
import uuid

N = 20


def confluent(bootstrap, certs, topic, group):
    from confluent_kafka import Consumer, KafkaError, KafkaException, Producer
    from confluent_kafka.admin import AdminClient, NewTopic

    def conf(user):
        return {"bootstrap.servers": bootstrap, "security.protocol": "ssl",
                "ssl.ca.location": f"{certs}/ca.pem",
                "ssl.certificate.location": f"{certs}/{user}.pem",
                "ssl.key.location": f"{certs}/{user}.key"}

    secret = "secret-ck-" + uuid.uuid4().hex[:8]
    admin = AdminClient(conf("admin"))
    admin.create_topics([NewTopic(secret, 1)])[secret].result(20)

    # writer: idempotent produce (InitProducerId via WRITE on a topic).
    p = Producer(dict(conf("writer"), **{"enable.idempotence": True}))
    for i in range(N):
        p.produce(topic, f"v{i}".encode())
    assert p.flush(20) == 0, "writer: undelivered records"

    # reader: consume in GROUP with commits.
    c = Consumer(dict(conf("reader"), **{"group.id": group, "auto.offset.reset": "earliest",
                                         "enable.auto.commit": False}))
    c.subscribe([topic])
    got = []
    deadline = time.time() + 60
    while len(got) < N and time.time() < deadline:
        m = c.poll(1)
        if m is None:
            continue
        assert m.error() is None, m.error()
        got.append(m.value().decode())
    assert got == [f"v{i}" for i in range(N)], got[:5]
    c.commit(asynchronous=False)
    c.close()

    # reader may not produce: the delivery report says TOPIC_AUTHORIZATION_FAILED.
    errors = []
    p = Producer(dict(conf("reader"), **{"message.timeout.ms": 10000}))
    p.produce(topic, b"nope", on_delivery=lambda err, msg: errors.append(err))
    p.flush(20)
    assert len(errors) == 1 and errors[0] is not None, errors
    assert errors[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, errors[0]

    # reader has WRITE on no topic and no IDEMPOTENT_WRITE: an idempotent
    # producer gets no producer id (CLUSTER_AUTHORIZATION_FAILED, fatal).
    errors = []
    p = Producer(dict(conf("reader"), **{"enable.idempotence": True, "message.timeout.ms": 10000}))
    try:
        p.produce(topic, b"nope", on_delivery=lambda err, msg: errors.append(err))
        p.flush(20)
    except (KafkaException, SystemError) as e:
        # The fatal error is raised from flush (chained when it interrupts
        # the delivery callback).
        e = e if isinstance(e, KafkaException) else e.__cause__
        errors.append(e.args[0])
    assert any(e is not None and e.code() == KafkaError.CLUSTER_AUTHORIZATION_FAILED
               for e in errors), errors

    # reader may not use another group.
    c = Consumer(dict(conf("reader"), **{"group.id": "other-" + group,
                                         "auto.offset.reset": "earliest"}))
    c.subscribe([topic])
    seen = None
    deadline = time.time() + 30
    while seen is None and time.time() < deadline:
        m = c.poll(1)
        if m is not None and m.error() is not None:
            seen = m.error()
    c.close()
    assert seen is not None and seen.code() == KafkaError.GROUP_AUTHORIZATION_FAILED, seen

    # reader may neither create nor delete topics.
    radmin = AdminClient(conf("reader"))
    for future, what in [
        (radmin.create_topics([NewTopic("new-" + topic, 1)])["new-" + topic], "create"),
        (radmin.delete_topics([topic])[topic], "delete"),
    ]:
        try:
            future.result(20)
            raise AssertionError(f"reader could {what} a topic")
        except KafkaException as e:
            assert e.args[0].code() == KafkaError.TOPIC_AUTHORIZATION_FAILED, (what, e)

    # Metadata: reader sees TOPIC, not the admin's topic; admin sees both.
    listed = set(radmin.list_topics(timeout=20).topics)
    assert topic in listed and secret not in listed, listed
    listed = set(admin.list_topics(timeout=20).topics)
    assert {topic, secret} <= listed, listed


def kafka_python(bootstrap, certs, topic, group):
    from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
    from kafka.admin import NewTopic
    from kafka.errors import (GroupAuthorizationFailedError, TopicAuthorizationFailedError)

    def conf(user):
        # TLS 1.2: kafka-python (2.x) closes a TLS 1.3 connection that
        # turns readable with no request in flight, which the server's
        # post-handshake session tickets do on an idle admin connection
        # ("Socket EVENT_READ without in-flight-requests").
        ctx = ssl.create_default_context(cafile=f"{certs}/ca.pem")
        ctx.load_cert_chain(f"{certs}/{user}.pem", f"{certs}/{user}.key")
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        return {"bootstrap_servers": bootstrap, "security_protocol": "SSL", "ssl_context": ctx}

    secret = "secret-kp-" + uuid.uuid4().hex[:8]
    admin = KafkaAdminClient(**conf("admin"))
    admin.create_topics([NewTopic(secret, 1, 1)])

    p = KafkaProducer(**conf("writer"))
    for i in range(N):
        p.send(topic, value=f"v{i}".encode()).get(20)
    p.close()

    c = KafkaConsumer(topic, **conf("reader"), group_id=group, auto_offset_reset="earliest",
                      enable_auto_commit=False, consumer_timeout_ms=20000)
    got = []
    for m in c:
        got.append(m.value.decode())
        if len(got) == N:
            break
    assert got == [f"v{i}" for i in range(N)], got[:5]
    c.commit()
    c.close()

    p = KafkaProducer(**conf("reader"), retries=0, max_block_ms=10000)
    try:
        p.send(topic, value=b"nope").get(20)
        raise AssertionError("reader could produce")
    except TopicAuthorizationFailedError:
        pass
    p.close()

    c = KafkaConsumer(topic, **conf("reader"), group_id="other-" + group,
                      auto_offset_reset="earliest")
    try:
        deadline = time.time() + 30
        while time.time() < deadline:
            c.poll(1000)
        raise AssertionError("reader could join another group")
    except GroupAuthorizationFailedError:
        pass
    finally:
        c.close()

    radmin = KafkaAdminClient(**conf("reader"))
    for what, call in [
        ("create", lambda: radmin.create_topics([NewTopic("new-" + topic, 1, 1)])),
        ("delete", lambda: radmin.delete_topics([topic])),
    ]:
        try:
            result = call()
            # kafka-python 2.x returns the response; 3.x raises.
            codes = [t[1] for t in getattr(result, "topic_errors", None) or
                     getattr(result, "topic_error_codes", [])]
            assert codes == [29], (what, result)
        except TopicAuthorizationFailedError:
            pass

    listed = set(radmin.list_topics())
    assert topic in listed and secret not in listed, listed
    listed = set(admin.list_topics())
    assert {topic, secret} <= listed, listed
    radmin.close()
    admin.close()


def main():
    library, bootstrap, certs, topic, group = sys.argv[1:6]
    {"confluent-kafka": confluent, "kafka-python": kafka_python}[library](
        bootstrap, certs, topic, group)
    print(f"ok {library}")


if __name__ == "__main__":
    main()
