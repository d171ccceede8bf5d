// A small Kafka Streams application at the broker at args[0]: a stateless
// filter/map topology, at-least-once (the default guarantee). It reads log
// lines from topic args[1], keeps the ERROR lines, strips their timestamp
// and writes them to args[2]; the records' headers (host, path, offset)
// pass through. It stops once args[2] holds args[3] records, or fails
// after two minutes. The test reads args[2] itself and checks every record.

import java.nio.file.Files;
import java.time.Duration;
import java.util.List;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.common.serialization.StringDeserializer;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;

public final class LogFilter {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String input = args[1];
        String output = args[2];
        long expected = Long.parseLong(args[3]);

        StreamsBuilder builder = new StreamsBuilder();
        builder.<String, String>stream(input)
                .filter((key, line) -> line.contains(" ERROR "))
                .mapValues(line -> line.substring(line.indexOf(" ERROR ") + 1))
                .to(output);

        Properties p = new Properties();
        p.put(StreamsConfig.APPLICATION_ID_CONFIG, "log-filter");
        p.put(StreamsConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(StreamsConfig.PROCESSING_GUARANTEE_CONFIG, StreamsConfig.AT_LEAST_ONCE);
        p.put(StreamsConfig.DEFAULT_KEY_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.DEFAULT_VALUE_SERDE_CLASS_CONFIG, Serdes.StringSerde.class);
        p.put(StreamsConfig.STATE_DIR_CONFIG, Files.createTempDirectory("log-filter").toString());
        p.put(StreamsConfig.COMMIT_INTERVAL_MS_CONFIG, 500);
        try (KafkaStreams streams = new KafkaStreams(builder.build(), p)) {
            streams.start();
            long seen = waitForRecords(bootstrap, output, expected);
            System.out.println("output records: " + seen);
        }
        System.exit(0);
    }

    /** Reads `topic` from the start until it holds `expected` records. */
    static long waitForRecords(String bootstrap, String topic, long expected) throws Exception {
        Properties c = new Properties();
        c.put("bootstrap.servers", bootstrap);
        c.put("key.deserializer", StringDeserializer.class.getName());
        c.put("value.deserializer", StringDeserializer.class.getName());
        c.put("group.id", "log-filter-check");
        c.put("auto.offset.reset", "earliest");
        c.put("enable.auto.commit", "false");
        long deadline = System.nanoTime() + Duration.ofMinutes(2).toNanos();
        long seen = 0;
        try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(c)) {
            consumer.subscribe(List.of(topic));
            while (seen < expected) {
                if (System.nanoTime() > deadline) {
                    throw new IllegalStateException(topic + ": " + seen + " of " + expected + " records");
                }
                ConsumerRecords<String, String> records = consumer.poll(Duration.ofMillis(200));
                seen += records.count();
            }
        }
        return seen;
    }
}
