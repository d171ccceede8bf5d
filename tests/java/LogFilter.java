// A small Kafka Streams application at the broker at args[0]: a stateless
// filter/map topology, at-least-once (the default guarantee). It reads log
// lines from topic args[1], keeps the ERROR lines, strips their timestamp
// and writes them to args[2]; the records' headers (host, path, offset)
// pass through. It stops once args[2] holds args[3] records, or fails
// after two minutes. The test reads args[2] itself and checks every record.

import java.util.Properties;

import org.apache.kafka.streams.KafkaStreams;
import org.apache.kafka.streams.StreamsBuilder;

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

        Properties p = StreamsApps.config("log-filter", bootstrap, 500);
        try (KafkaStreams streams = new KafkaStreams(builder.build(), p)) {
            streams.start();
            long seen = waitForRecords(bootstrap, output, expected);
            System.out.println("output records: " + seen);
        }
        System.exit(0);
    }

    /** Reads `topic` from the start until it holds `expected` records. */
    static long waitForRecords(String bootstrap, String topic, long expected) {
        long[] seen = {0};
        StreamsApps.readUntil(bootstrap, topic, "log-filter-check", r -> seen[0]++,
                () -> seen[0] >= expected, () -> seen[0] + " of " + expected + " records");
        return seen[0];
    }
}
