// What the tests' Kafka Streams applications (LogFilter, LinesPerHost,
// CountByKey) share: their configuration (string serdes, at-least-once, a
// fresh state directory) and reading their output topics back with a
// plain consumer, for at most two minutes.

import java.io.IOException;
import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.TreeMap;
import java.util.function.Consumer;
import java.util.function.BooleanSupplier;
import java.util.function.Supplier;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.StreamsConfig;

final class StreamsApps {
    private StreamsApps() {}

    /** An at-least-once application `id` at `bootstrap` with string serdes,
     *  committing every `commitMs`, its state in a new temporary directory. */
    static Properties config(String id, String bootstrap, int commitMs) throws IOException {
        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, id);
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory(id).toString());
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, commitMs);
        return p;
    }

    /** Reads `topic` from the start in group `group`, handing each record to
     *  `each`, until `done` holds; fails after two minutes with `progress`. */
    static void readUntil(String bootstrap, String topic, String group,
            Consumer<ConsumerRecord<String, String>> each, BooleanSupplier done,
            Supplier<String> progress) {
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        c.put("group.id", group);
        c.put("auto.offset.reset", "earliest");
        c.put("enable.auto.commit", "false");
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(List.of(topic));
            while (!done.getAsBoolean()) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(topic + ": " + progress.get());
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    each.accept(r);
                }
            }
        }
    }

    /** Reads `topic` (key -> count) until the latest count per key adds up
     *  to `expected`; returns the latest counts, sorted by key. */
    static Map<String, Long> waitForCounts(String bootstrap, String topic, String group, long expected) {
        Map<String, Long> latest = new TreeMap<>();
        readUntil(bootstrap, topic, group,
                r -> latest.put(r.key(), Long.parseLong(r.value())),
                () -> latest.values().stream().mapToLong(Long::longValue).sum() == expected,
                () -> "counts " + latest + " do not add up to " + expected);
        return latest;
    }
}
