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
import java.time.Duration;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.Serdes;
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

        Properties p = StreamsApps.config("lines-per-host", bootstrap, 500);
        // Every update of a count goes out (no record cache): the last one
        // per key is the count.
        p.put(StreamsConfig.STATESTORE_CACHE_MAX_BYTES_CONFIG, 0);
        try (KafkaStreams streams = new KafkaStreams(builder.build(), p)) {
            streams.start();
            Map<String, Long> counts = StreamsApps.waitForCounts(bootstrap, output, "lines-per-host-check", expected);
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
}
