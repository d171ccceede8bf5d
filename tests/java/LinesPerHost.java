// Downstream analytics with Kafka Streams at the broker at args[0]: lines
// per host per minute from the agent's records in topic args[1] (the host
// is the record's `host` header; the minute is the record's timestamp),
// written to args[2] as "host minute-start-ms" -> count. The count lives in
// an in-memory window store with change logging off, so the application
// needs no compacted changelog topic; re-keying by host makes Streams
// create a repartition topic (cleanup.policy=delete) on the broker. It
// stops once the latest counts in args[2] add up to args[3] lines, or fails
// after two minutes. The test reads args[2] itself and checks every count.

import java.nio.charset.StandardCharsets;
import java.nio.file.Files;
import java.time.Duration;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Grouped;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.kstream.TimeWindows;
import org.apache.kafka.streams.processor.api.Processor;
import org.apache.kafka.streams.processor.api.ProcessorContext;
import org.apache.kafka.streams.processor.api.Record;
import org.apache.kafka.streams.state.Stores;

public final class LinesPerHost {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String input = args[1];
        String output = args[2];
        long expected = Long.parseLong(args[3]);

        // Late lines (an agent catching up after an outage) still count for
        // ten minutes after their minute.
        Duration minute = Duration.ofMinutes(1);
        Duration grace = Duration.ofMinutes(10);
        StreamsBuilder builder = new StreamsBuilder();
        builder.<String, String>stream(input)
                .process(ByHost::new)
                .groupByKey(Grouped.with("by-host", Serdes.String(), Serdes.String()))
                .windowedBy(TimeWindows.ofSizeAndGrace(minute, grace))
                .count(Materialized.<String, Long>as(
                                Stores.inMemoryWindowStore("lines-per-minute", minute.plus(grace), minute, false))
                        .withKeySerde(Serdes.String())
                        .withValueSerde(Serdes.Long())
                        .withLoggingDisabled())
                .toStream((window, count) -> window.key() + " " + window.window().start())
                .mapValues(count -> Long.toString(count))
                .to(output, Produced.with(Serdes.String(), Serdes.String()));

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "lines-per-host");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("lines-per-host").toString());
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 500);
        // Every update of a count goes out (no record cache): the last one
        // per key is the count.
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        try (KafkaStreams streams = new KafkaStreams(builder.build(), p)) {
            streams.start();
            Map<String, Long> counts = waitForCounts(bootstrap, output, expected);
            System.out.println("windows: " + counts.size() + ", lines: " + expected);
        }
        System.exit(0);
    }

    /** Re-keys each line by its `host` header. */
    static final class ByHost implements Processor<String, String, String, String> {
        private ProcessorContext<String, String> context;

        public void init(ProcessorContext<String, String> context) {
            this.context = context;
        }

        public void process(Record<String, String> record) {
            Header host = record.headers().lastHeader("host");
            String key = host == null ? "(no host)" : new String(host.value(), StandardCharsets.UTF_8);
            context.forward(record.withKey(key));
        }
    }

    /** Reads `topic` until the latest count per key adds up to `expected`. */
    static Map<String, Long> waitForCounts(String bootstrap, String topic, long expected) throws Exception {
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        c.put("group.id", "lines-per-host-check");
        c.put("auto.offset.reset", "earliest");
        c.put("enable.auto.commit", "false");
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        Map<String, Long> latest = new HashMap<>();
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(List.of(topic));
            while (latest.values().stream().mapToLong(Long::longValue).sum() != expected) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(topic + ": counts " + latest + " do not add up to " + expected);
                }
                for (ConsumerRecord<String, String> r : consumer.poll(Duration.ofMillis(200))) {
                    latest.put(r.key(), Long.parseLong(r.value()));
                }
            }
        }
        return latest;
    }
}
