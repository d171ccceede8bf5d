// A scripted set of bad requests, sent by the Java client to the broker at
// args[0]; prints one line per case, "case: ERROR" (Kafka's error name, or
// NONE). The test runs it against the collector and against Apache Kafka and
// compares the answers.
//
// Most cases go through the client's public API (AdminClient, KafkaProducer,
// KafkaConsumer). Requests the public API will not send (a batch whose CRC
// does not match, a sequence number out of order, a heartbeat from a member
// that does not exist) are built with the client's own protocol classes and
// written to a plain socket.

import java.io.DataInputStream;
import java.io.DataOutputStream;
import java.net.Socket;
import java.nio.ByteBuffer;
import java.time.Duration;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.concurrent.ExecutionException;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.MemberToRemove;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.RemoveMembersFromConsumerGroupOptions;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.compress.Compression;
import org.apache.kafka.common.message.ApiVersionsResponseData.ApiVersion;
import org.apache.kafka.common.message.HeartbeatRequestData;
import org.apache.kafka.common.message.InitProducerIdRequestData;
import org.apache.kafka.common.message.OffsetCommitRequestData;
import org.apache.kafka.common.message.ProduceRequestData;
import org.apache.kafka.common.protocol.ApiKeys;
import org.apache.kafka.common.protocol.Errors;
import org.apache.kafka.common.record.internal.MemoryRecords;
import org.apache.kafka.common.record.internal.SimpleRecord;
import org.apache.kafka.common.requests.AbstractRequest;
import org.apache.kafka.common.requests.AbstractResponse;
import org.apache.kafka.common.requests.ApiVersionsRequest;
import org.apache.kafka.common.requests.ApiVersionsResponse;
import org.apache.kafka.common.requests.HeartbeatRequest;
import org.apache.kafka.common.requests.InitProducerIdRequest;
import org.apache.kafka.common.requests.InitProducerIdResponse;
import org.apache.kafka.common.requests.OffsetCommitRequest;
import org.apache.kafka.common.requests.ProduceRequest;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class BadRequests {
    private static final String GROUP = "bad-requests-group";

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        common.put("request.timeout.ms", "20000");
        common.put("default.api.timeout.ms", "40000");
        try (Admin admin = Admin.create(common)) {
            admin.createTopics(List.of(new NewTopic("bad-requests", 1, (short) 1),
                    new NewTopic("small-messages", 1, (short) 1)
                            .configs(Map.of("max.message.bytes", "1024"))))
                    .all().get();

            report("describe unknown topic",
                    () -> admin.describeTopics(List.of("no-such-topic")).allTopicNames().get());
            report("delete unknown topic",
                    () -> admin.deleteTopics(List.of("no-such-topic")).all().get());
            report("create topic with invalid name",
                    () -> create(admin, new NewTopic("bad name!", 1, (short) 1)));
            report("create topic named ..",
                    () -> create(admin, new NewTopic("..", 1, (short) 1)));
            report("create topic with a 250-character name",
                    () -> create(admin, new NewTopic("x".repeat(250), 1, (short) 1)));
            report("create existing topic",
                    () -> create(admin, new NewTopic("bad-requests", 1, (short) 1)));
            report("create topic with invalid cleanup.policy",
                    () -> create(admin, new NewTopic("bad-config", 1, (short) 1)
                            .configs(Map.of("cleanup.policy", "bogus"))));
            report("create topic with non-numeric retention.ms",
                    () -> create(admin, new NewTopic("bad-config", 1, (short) 1)
                            .configs(Map.of("retention.ms", "soon"))));
            report("create topic with unknown config",
                    () -> create(admin, new NewTopic("bad-config", 1, (short) 1)
                            .configs(Map.of("no.such.config", "1"))));
            report("create topic with zero partitions",
                    () -> create(admin, new NewTopic("bad-partitions", 0, (short) 1)));
            report("create topic with more replicas than brokers",
                    () -> create(admin, new NewTopic("bad-replicas", 1, (short) 3)));
            report("shrink partitions",
                    () -> admin.createPartitions(Map.of("bad-requests", NewPartitions.increaseTo(1)))
                            .all().get());

            Properties p = (Properties) common.clone();
            p.put("key.serializer", ByteArraySerializer.class.getName());
            p.put("value.serializer", ByteArraySerializer.class.getName());
            p.put("delivery.timeout.ms", "40000");
            try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
                report("produce over max.message.bytes",
                        () -> producer.send(new ProducerRecord<>("small-messages", new byte[4096])).get());
                report("produce under max.message.bytes",
                        () -> producer.send(new ProducerRecord<>("small-messages", new byte[100])).get());
            }

            try (Raw raw = new Raw(bootstrap)) {
                TopicPartition tp = new TopicPartition("bad-requests", 0);
                MemoryRecords good = MemoryRecords.withRecords(Compression.NONE,
                        new SimpleRecord("good".getBytes()));
                MemoryRecords corrupt = MemoryRecords.withRecords(Compression.NONE,
                        new SimpleRecord("corrupt me".getBytes()));
                ByteBuffer bytes = corrupt.buffer();
                // The last byte is the record's value; the CRC covers it.
                bytes.put(bytes.limit() - 1, (byte) (bytes.get(bytes.limit() - 1) ^ 0x55));
                println("produce a batch with a bad CRC", produce(raw, tp, corrupt));
                println("produce after the bad CRC", produce(raw, tp, good));

                InitProducerIdResponse init = (InitProducerIdResponse) raw.send(
                        new InitProducerIdRequest.Builder(new InitProducerIdRequestData()
                                .setTransactionalId(null).setTransactionTimeoutMs(60000)));
                println("init producer id", init.error().name());
                long pid = init.data().producerId();
                short epoch = init.data().producerEpoch();
                println("idempotent produce, sequence 0",
                        produce(raw, tp, idempotent(pid, epoch, 0, "seq 0")));
                println("idempotent produce, sequence 5 after 0",
                        produce(raw, tp, idempotent(pid, epoch, 5, "seq 5")));
                println("idempotent produce, sequence 1",
                        produce(raw, tp, idempotent(pid, epoch, 1, "seq 1")));
                println("idempotent produce, sequence 1 again (duplicate)",
                        produce(raw, tp, idempotent(pid, epoch, 1, "seq 1")));
                println("idempotent produce, unknown producer id",
                        produce(raw, tp, idempotent(pid + 1000, epoch, 3, "stranger")));

                // A real member keeps the group alive while the strangers knock.
                Properties c = (Properties) common.clone();
                c.put("group.id", GROUP);
                c.put("key.deserializer", ByteArrayDeserializer.class.getName());
                c.put("value.deserializer", ByteArrayDeserializer.class.getName());
                try (KafkaConsumer<byte[], byte[]> member = new KafkaConsumer<>(c)) {
                    member.subscribe(List.of("bad-requests"));
                    long deadline = System.currentTimeMillis() + 60000;
                    while (member.assignment().isEmpty()) {
                        if (System.currentTimeMillis() > deadline) {
                            throw new IllegalStateException("the consumer was never assigned a partition");
                        }
                        member.poll(Duration.ofMillis(200));
                    }
                    int generation = member.groupMetadata().generationId();
                    println("heartbeat from an unknown member", raw.send(new HeartbeatRequest.Builder(
                            new HeartbeatRequestData().setGroupId(GROUP).setMemberId("no-such-member")
                                    .setGenerationId(generation))).errorCounts());
                    println("heartbeat from the right member, wrong generation", raw.send(
                            new HeartbeatRequest.Builder(new HeartbeatRequestData().setGroupId(GROUP)
                                    .setMemberId(member.groupMetadata().memberId())
                                    .setGenerationId(generation + 5))).errorCounts());
                    println("heartbeat to an unknown group", raw.send(new HeartbeatRequest.Builder(
                            new HeartbeatRequestData().setGroupId("no-such-group")
                                    .setMemberId("no-such-member").setGenerationId(1))).errorCounts());
                    println("offset commit from an unknown member", raw.send(commit(generation)).errorCounts());
                    report("remove an unknown static member",
                            () -> admin.removeMembersFromConsumerGroup(GROUP,
                                    new RemoveMembersFromConsumerGroupOptions(
                                            List.of(new MemberToRemove("no-such-instance")))).all().get());
                    report("delete a group with a member",
                            () -> admin.deleteConsumerGroups(List.of(GROUP)).all().get());
                }
            }
            report("delete an unknown group",
                    () -> admin.deleteConsumerGroups(List.of("no-such-group")).all().get());
        }
    }

    private static Object create(Admin admin, NewTopic topic) throws Exception {
        return admin.createTopics(List.of(topic)).all().get();
    }

    private static MemoryRecords idempotent(long pid, short epoch, int sequence, String value) {
        return MemoryRecords.withIdempotentRecords(Compression.NONE, pid, epoch, sequence,
                new SimpleRecord(value.getBytes()));
    }

    private static Map<Errors, Integer> produce(Raw raw, TopicPartition tp, MemoryRecords records)
            throws Exception {
        ProduceRequestData.TopicProduceDataCollection topics = new ProduceRequestData.TopicProduceDataCollection();
        topics.add(new ProduceRequestData.TopicProduceData().setName(tp.topic())
                .setPartitionData(List.of(new ProduceRequestData.PartitionProduceData()
                        .setIndex(tp.partition()).setRecords(records))));
        return raw.send(ProduceRequest.builder(new ProduceRequestData().setAcks((short) -1)
                .setTimeoutMs(20000).setTopicData(topics))).errorCounts();
    }

    private static OffsetCommitRequest.Builder commit(int generation) {
        return OffsetCommitRequest.Builder.forTopicNames(new OffsetCommitRequestData().setGroupId(GROUP)
                .setMemberId("no-such-member").setGenerationIdOrMemberEpoch(generation)
                .setTopics(List.of(new OffsetCommitRequestData.OffsetCommitRequestTopic()
                        .setName("bad-requests").setPartitions(List.of(
                                new OffsetCommitRequestData.OffsetCommitRequestPartition()
                                        .setPartitionIndex(0).setCommittedOffset(1))))));
    }

    interface Case {
        Object run() throws Exception;
    }

    /** Runs a client call; prints NONE, or the Kafka error its exception stands for. */
    private static void report(String name, Case c) {
        String result;
        try {
            c.run();
            result = "NONE";
        } catch (ExecutionException e) {
            result = Errors.forException(e.getCause()).name();
            if (result.equals("UNKNOWN_SERVER_ERROR")) {
                result += " (" + e.getCause() + ")";
            }
        } catch (Exception e) {
            result = "local " + e.getClass().getSimpleName();
        }
        System.out.println(name + ": " + result);
    }

    private static void println(String name, Object result) {
        System.out.println(name + ": " + result);
    }

    private static void println(String name, Map<Errors, Integer> errors) {
        List<String> names = new ArrayList<>();
        for (Errors e : errors.keySet()) {
            if (e != Errors.NONE) {
                names.add(e.name());
            }
        }
        names.sort(null);
        System.out.println(name + ": " + (names.isEmpty() ? "NONE" : String.join(",", names)));
    }

    /** One plain connection speaking the protocol with the client's classes. */
    static final class Raw implements AutoCloseable {
        private final Socket socket;
        private final DataInputStream in;
        private final DataOutputStream out;
        private final Map<ApiKeys, Short> maxVersions = new HashMap<>();
        private int correlationId;

        Raw(String bootstrap) throws Exception {
            String first = bootstrap.split(",")[0];
            int colon = first.lastIndexOf(':');
            socket = new Socket(first.substring(0, colon), Integer.parseInt(first.substring(colon + 1)));
            socket.setSoTimeout(30000);
            in = new DataInputStream(socket.getInputStream());
            out = new DataOutputStream(socket.getOutputStream());
            ApiVersionsResponse versions = (ApiVersionsResponse) send(new ApiVersionsRequest.Builder(), (short) 0);
            for (ApiVersion v : versions.data().apiKeys()) {
                if (ApiKeys.hasId(v.apiKey())) {
                    maxVersions.put(ApiKeys.forId(v.apiKey()), v.maxVersion());
                }
            }
        }

        AbstractResponse send(AbstractRequest.Builder<?> builder) throws Exception {
            ApiKeys key = builder.apiKey();
            short version = (short) Math.min(builder.latestAllowedVersion(), maxVersions.get(key));
            if (key == ApiKeys.PRODUCE) {
                // v13 names topics by id; these requests name them.
                version = (short) Math.min(version, 12);
            }
            return send(builder, version);
        }

        private AbstractResponse send(AbstractRequest.Builder<?> builder, short version) throws Exception {
            AbstractRequest request = builder.build(version);
            org.apache.kafka.common.requests.RequestHeader header =
                    new org.apache.kafka.common.requests.RequestHeader(builder.apiKey(), version,
                            "bad-requests", ++correlationId);
            ByteBuffer bytes = request.serializeWithHeader(header);
            out.writeInt(bytes.remaining());
            out.write(bytes.array(), bytes.arrayOffset() + bytes.position(), bytes.remaining());
            out.flush();
            byte[] response = new byte[in.readInt()];
            in.readFully(response);
            return AbstractResponse.parseResponse(ByteBuffer.wrap(response), header);
        }

        @Override
        public void close() throws Exception {
            socket.close();
        }
    }
}
