// The Java client's everyday calls against the broker at args[0]: the
// idempotent producer (the default) with every codec and headers, a group
// consumer reading it back, and the AdminClient calls operators script.
// Prints one line per step; the test compares them with what Kafka's client
// must see. Any failure throws (non-zero exit).

import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.TreeSet;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.Config;
import org.apache.kafka.clients.admin.ConsumerGroupDescription;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.GroupListing;
import org.apache.kafka.clients.admin.ListOffsetsResult;
import org.apache.kafka.clients.admin.NewPartitions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.TopicDescription;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.header.internals.RecordHeaders;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.common.serialization.StringSerializer;

public final class ClientTour {
    private static final int RECORDS = 200;

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        Properties common = new Properties();
        common.put("bootstrap.servers", bootstrap);
        common.put("request.timeout.ms", "20000");
        common.put("default.api.timeout.ms", "40000");
        try (Admin admin = Admin.create(common)) {
            DescribeClusterResult cluster = admin.describeCluster();
            System.out.println("cluster: " + cluster.nodes().get().size() + " node(s), controller "
                    + (cluster.controller().get() != null));

            String[] codecs = {"none", "gzip", "snappy", "lz4", "zstd"};
            for (String codec : codecs) {
                String topic = "tour-" + codec;
                admin.createTopics(List.of(new NewTopic(topic, 2, (short) 1))).all().get();
                long before = System.currentTimeMillis();
                produce(common, topic, codec);
                System.out.println(codec + ": " + consume(common, topic, "tour-" + codec));
                // Offsets by time: everything was written after `before`.
                Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> byTime = admin.listOffsets(Map.of(
                        new TopicPartition(topic, 0), OffsetSpec.forTimestamp(before),
                        new TopicPartition(topic, 1), OffsetSpec.forTimestamp(before))).all().get();
                Map<TopicPartition, ListOffsetsResult.ListOffsetsResultInfo> latest = admin.listOffsets(Map.of(
                        new TopicPartition(topic, 0), OffsetSpec.latest(),
                        new TopicPartition(topic, 1), OffsetSpec.latest())).all().get();
                long total = latest.values().stream().mapToLong(i -> i.offset()).sum();
                long fromTime = byTime.values().stream().mapToLong(i -> i.offset()).sum();
                System.out.println(codec + " offsets: latest sum " + total + ", by time sum " + fromTime);
            }

            TopicDescription described = admin.describeTopics(List.of("tour-gzip")).allTopicNames().get()
                    .get("tour-gzip");
            System.out.println("describeTopics: " + described.name() + " " + described.partitions().size()
                    + " partitions, leader of 0 is " + (described.partitions().get(0).leader() != null));

            ConfigResource resource = new ConfigResource(ConfigResource.Type.TOPIC, "tour-gzip");
            Config config = admin.describeConfigs(List.of(resource)).all().get().get(resource);
            System.out.println("describeConfigs: cleanup.policy=" + config.get("cleanup.policy").value());

            admin.createPartitions(Map.of("tour-none", NewPartitions.increaseTo(4))).all().get();
            System.out.println("createPartitions: tour-none has " + admin.describeTopics(List.of("tour-none"))
                    .allTopicNames().get().get("tour-none").partitions().size());

            TreeSet<String> groups = new TreeSet<>();
            for (GroupListing g : admin.listGroups().all().get()) {
                groups.add(g.groupId());
            }
            System.out.println("listGroups: " + groups);
            ConsumerGroupDescription group = admin.describeConsumerGroups(List.of("tour-lz4")).all().get()
                    .get("tour-lz4");
            System.out.println("describeConsumerGroups: " + group.groupId() + " " + group.groupState()
                    + " " + group.members().size() + " members");
            System.out.println("listConsumerGroupOffsets: "
                    + sorted(admin.listConsumerGroupOffsets("tour-lz4").partitionsToOffsetAndMetadata().get()));
            admin.alterConsumerGroupOffsets("tour-lz4", Map.of(new TopicPartition("tour-lz4", 0),
                    new OffsetAndMetadata(5))).all().get();
            System.out.println("after alterConsumerGroupOffsets: "
                    + sorted(admin.listConsumerGroupOffsets("tour-lz4").partitionsToOffsetAndMetadata().get()));
            admin.deleteConsumerGroups(List.of("tour-lz4")).all().get();
            groups.clear();
            for (GroupListing g : admin.listGroups().all().get()) {
                groups.add(g.groupId());
            }
            System.out.println("after deleteConsumerGroups: " + groups);
            admin.deleteTopics(List.of("tour-zstd")).all().get();
            System.out.println("after deleteTopics: " + new TreeSet<>(admin.listTopics().names().get()));
        }
    }

    private static Map<String, Long> sorted(Map<TopicPartition, OffsetAndMetadata> offsets) {
        Map<String, Long> out = new TreeMap<>();
        offsets.forEach((tp, om) -> out.put(tp.toString(), om.offset()));
        return out;
    }

    private static void produce(Properties common, String topic, String codec) throws Exception {
        Properties p = (Properties) common.clone();
        p.put("key.serializer", StringSerializer.class.getName());
        p.put("value.serializer", StringSerializer.class.getName());
        p.put("compression.type", codec);
        p.put("linger.ms", "5");
        try (KafkaProducer<String, String> producer = new KafkaProducer<>(p)) {
            List<java.util.concurrent.Future<RecordMetadata>> sent = new ArrayList<>();
            for (int i = 0; i < RECORDS; i++) {
                RecordHeaders headers = new RecordHeaders();
                headers.add("n", Integer.toString(i).getBytes(StandardCharsets.UTF_8));
                headers.add("codec", codec.getBytes(StandardCharsets.UTF_8));
                sent.add(producer.send(new ProducerRecord<>(topic, null, "key-" + i,
                        "value " + i + " " + "x".repeat(i % 64), headers)));
            }
            for (java.util.concurrent.Future<RecordMetadata> f : sent) {
                f.get();
            }
        }
    }

    /** Reads the topic in group `group`; checks every record and its headers. */
    private static String consume(Properties common, String topic, String group) {
        Properties c = (Properties) common.clone();
        c.put("group.id", group);
        c.put("auto.offset.reset", "earliest");
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        TreeSet<Integer> seen = new TreeSet<>();
        int badHeaders = 0;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(List.of(topic));
            long deadline = System.currentTimeMillis() + 60000;
            while (seen.size() < RECORDS && System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    int n = Integer.parseInt(r.key().substring(4));
                    String expected = "value " + n + " " + "x".repeat(n % 64);
                    String header = new String(r.headers().lastHeader("n").value(), StandardCharsets.UTF_8);
                    if (!r.value().equals(expected) || !header.equals(Integer.toString(n))) {
                        badHeaders++;
                    }
                    seen.add(n);
                }
            }
            consumer.commitSync();
        }
        return seen.size() + " distinct records, " + badHeaders + " wrong";
    }
}
