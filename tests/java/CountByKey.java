// A stateful Kafka Streams application at the broker at args[0]: counts the
// records of topic args[1] by key into a key-value store whose changelog
// (a cleanup.policy=compact topic Streams creates on the broker) is its
// only durable copy: the store is in memory, so a restarted application
// rebuilds it by reading the changelog from the beginning. Each count
// update goes to args[2] as key -> count. It stops once the latest counts
// in args[2] add up to args[3] records (then prints them), or fails after
// two minutes. Run twice with more input in between, the second run's
// counts continue the first's only if the changelog restored them.

import java.time.Duration;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.common.serialization.Serdes;
import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;
import org.apache.kafka.streams.StreamsConfig;
import org.apache.kafka.streams.kstream.Materialized;
import org.apache.kafka.streams.kstream.Produced;
import org.apache.kafka.streams.state.Stores;

public final class CountByKey {
    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        String input = args[1];
        String output = args[2];
        long expected = Long.parseLong(args[3]);

        StreamsBuilder builder = new StreamsBuilder();
        builder.<String, String>stream(input)
                .groupByKey()
                .count(Materialized.<String, Long>as(Stores.inMemoryKeyValueStore("counts"))
                        .withKeySerde(Serdes.String())
                        .withValueSerde(Serdes.Long()))
                .toStream()
                .mapValues(count -> Long.toString(count))
                .to(output, Produced.with(Serdes.String(), Serdes.String()));

        Properties p = StreamsApps.config("count-by-key", bootstrap, 200);
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        // Small producer batches: the changelog's 300 updates then span
        // many batches and so several segments, whatever the timing (one
        // big batch would sit alone in the active segment, never cleaned).
        p.put(StreamsConfig.producerPrefix(ProducerConfig.BATCH_SIZE_CONFIG), 256);
        p.put(StreamsConfig.producerPrefix(ProducerConfig.LINGER_MS_CONFIG), 0);
        try (KafkaStreams streams = new KafkaStreams(builder.build(), p)) {
            streams.start();
            Map<String, Long> counts = StreamsApps.waitForCounts(bootstrap, output, "count-by-key-check-" + System.nanoTime(), expected);
            System.out.println("counts: " + counts);
            streams.close(Duration.ofSeconds(30));
        }
        System.exit(0);
    }
}
