"""Produces and consumes over TLS with a stock Python Kafka client.

usage: tls_clients.py LIBRARY BOOTSTRAP CA_FILE [CERT_FILE KEY_FILE]
LIBRARY: confluent-kafka | kafka-python

With CERT_FILE and KEY_FILE the client presents a certificate (mutual TLS).
The broker's certificate is verified against CA_FILE, host name included.
Prints "ok <library>" at the end; any failure exits non-zero.
"""
import sys
import uuid

N = 200


def confluent(bootstrap, ca, cert, key):
    from confluent_kafka import Consumer, Producer, TopicPartition

    conf = {"bootstrap.servers": bootstrap, "security.protocol": "ssl", "ssl.ca.location": ca}
    if cert:
        conf.update({"ssl.certificate.location": cert, "ssl.key.location": key})
    topic = "tls-ck-" + uuid.uuid4().hex[:8]
    p = Producer(dict(conf, **{"enable.idempotence": True}))
    for i in range(N):
        p.produce(topic, f"v{i}".encode(), f"k{i}".encode())
    assert p.flush(20) == 0, "undelivered records"
    c = Consumer(dict(conf, **{"group.id": "tls-" + topic, "auto.offset.reset": "earliest",
                               "enable.auto.commit": False}))
    c.assign([TopicPartition(topic, 0, 0)])
    got = []
    while len(got) < N:
        m = c.poll(10)
        assert m is not None, f"timed out after {len(got)} records"
        assert m.error() is None, m.error()
        got.append(m.value().decode())
    c.close()
    assert got == [f"v{i}" for i in range(N)], got[:5]


def kafka_python(bootstrap, ca, cert, key):
    from kafka import KafkaConsumer, KafkaProducer, TopicPartition

    conf = {"bootstrap_servers": bootstrap, "security_protocol": "SSL", "ssl_cafile": ca}
    if cert:
        conf.update({"ssl_certfile": cert, "ssl_keyfile": key})
    topic = "tls-kp-" + uuid.uuid4().hex[:8]
    p = KafkaProducer(**conf)
    for i in range(N):
        p.send(topic, value=f"v{i}".encode(), key=f"k{i}".encode())
    p.flush(20)
    p.close()
    c = KafkaConsumer(**conf, consumer_timeout_ms=10000, auto_offset_reset="earliest")
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    got = []
    for m in c:
        got.append(m.value.decode())
        if len(got) == N:
            break
    c.close()
    assert got == [f"v{i}" for i in range(N)], f"got {len(got)}: {got[:5]}"


def main():
    library, bootstrap, ca = sys.argv[1:4]
    cert, key = (sys.argv[4], sys.argv[5]) if len(sys.argv) > 5 else (None, None)
    {"confluent-kafka": confluent, "kafka-python": kafka_python}[library](bootstrap, ca, cert, key)
    print(f"ok {library}")


if __name__ == "__main__":
    main()
