// Consumer groups with the Java client (classic protocol) at the broker at
// args[0], as members join, leave and die:
//
//   GroupRebalance BOOTSTRAP range|cooperative   join three, one leaves, one dies
//   GroupRebalance BOOTSTRAP static              KIP-345: a static member restarts
//                                                and gets its partitions back with no
//                                                rebalance; a second one with the same
//                                                group.instance.id fences the first
//
// A member that dies is a child JVM (GroupRebalance member ...) killed with
// SIGKILL: it neither leaves nor heartbeats, so only its session expiring
// removes it. Prints one line per step (partition counts, generation,
// rebalance callback counts, partitions moved under a sticky assignor); the test compares the lines
// with what Kafka's own broker makes the client see. Any failure throws.

import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.Properties;
import java.util.Set;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.atomic.AtomicInteger;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

public final class GroupRebalance {
    static final int PARTITIONS = 6;
    static final Duration STEP_LIMIT = Duration.ofSeconds(90);

    public static void main(String[] args) throws Exception {
        String bootstrap = args[0];
        switch (args[1]) {
            case "member" -> childMember(bootstrap, args[2], args[3], args[4]);
            case "range", "cooperative" -> joinLeaveDie(bootstrap, args[1]);
            case "static" -> staticMembership(bootstrap);
            default -> throw new IllegalArgumentException("no scenario " + args[1]);
        }
        System.exit(0);
    }

    static String assignor(String strategy) {
        return strategy.equals("range")
                ? "org.apache.kafka.clients.consumer.RangeAssignor"
                : "org.apache.kafka.clients.consumer.CooperativeStickyAssignor";
    }

    static Properties consumerConfig(String bootstrap, String group, String strategy, String instance) {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        p.put("group.id", group);
        p.put("group.protocol", "classic");
        p.put("partition.assignment.strategy", assignor(strategy));
        p.put("session.timeout.ms", "6000");
        p.put("heartbeat.interval.ms", "500");
        // Nothing is read: commits would only add noise to the logs.
        p.put("enable.auto.commit", "false");
        p.put("key.deserializer", StringDeserializer.class.getName());
        p.put("value.deserializer", StringDeserializer.class.getName());
        if (instance != null) {
            p.put("group.instance.id", instance);
        }
        return p;
    }

    static void createTopic(String bootstrap, String topic) throws Exception {
        Properties p = new Properties();
        p.put("bootstrap.servers", bootstrap);
        try (Admin admin = Admin.create(p)) {
            admin.createTopics(List.of(new NewTopic(topic, PARTITIONS, (short) 1))).all().get();
        }
    }

    /** What a member owns and how often its rebalance callbacks ran. */
    interface View {
        String name();

        Set<Integer> owned();

        int generation();

        String callbacks();
    }

    /** A member in this JVM: its own thread polls its own consumer. */
    static final class Member implements View, ConsumerRebalanceListener, Runnable {
        final String name;
        final String topic;
        final Properties config;
        final Set<Integer> owned = ConcurrentHashMap.newKeySet();
        final AtomicInteger assigned = new AtomicInteger();
        final AtomicInteger revoked = new AtomicInteger();
        final AtomicInteger lost = new AtomicInteger();
        volatile int generation = -1;
        volatile boolean stop;
        volatile Throwable failure;
        final Thread thread = new Thread(this);

        Member(String name, String topic, Properties config) {
            this.name = name;
            this.topic = topic;
            this.config = config;
            // A failed scenario exits without waiting for its members.
            thread.setDaemon(true);
            thread.start();
        }

        public void run() {
            try (KafkaConsumer<String, String> consumer = new KafkaConsumer<>(config)) {
                consumer.subscribe(List.of(topic), this);
                while (!stop) {
                    consumer.poll(Duration.ofMillis(100));
                    generation = consumer.groupMetadata().generationId();
                }
            } catch (Throwable e) {
                failure = e;
            }
        }

        /** Closes the consumer (a dynamic member leaves the group). */
        void close() throws InterruptedException {
            stop = true;
            thread.join();
            if (failure != null) {
                throw new IllegalStateException(name + " failed", failure);
            }
        }

        public void onPartitionsAssigned(Collection<TopicPartition> parts) {
            assigned.incrementAndGet();
            parts.forEach(tp -> owned.add(tp.partition()));
        }

        public void onPartitionsRevoked(Collection<TopicPartition> parts) {
            revoked.incrementAndGet();
            parts.forEach(tp -> owned.remove(tp.partition()));
        }

        public void onPartitionsLost(Collection<TopicPartition> parts) {
            lost.incrementAndGet();
            parts.forEach(tp -> owned.remove(tp.partition()));
        }

        public String name() {
            return name;
        }

        public Set<Integer> owned() {
            return new TreeSet<>(owned);
        }

        public int generation() {
            return generation;
        }

        public String callbacks() {
            return name + " assigned " + assigned.get() + " revoked " + revoked.get() + " lost " + lost.get();
        }
    }

    /** A member in a child JVM, which the scenario can SIGKILL. */
    static final class Child implements View {
        final String name;
        final Process process;
        volatile Set<Integer> owned = Set.of();
        volatile int generation = -1;

        Child(String name, String bootstrap, String topic, String group, String strategy) throws Exception {
            this.name = name;
            List<String> command = new ArrayList<>(List.of(
                    ProcessHandle.current().info().command().orElse("java"),
                    "-Xmx256m", "-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1",
                    "-cp", System.getProperty("java.class.path")));
            String log = System.getProperty("log4j2.configurationFile");
            if (log != null) {
                command.add("-Dlog4j2.configurationFile=" + log);
            }
            command.addAll(List.of("GroupRebalance", bootstrap, "member", topic, group, strategy));
            process = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            Thread reader = new Thread(() -> {
                try (BufferedReader r = new BufferedReader(new InputStreamReader(process.getInputStream()))) {
                    String line;
                    while ((line = r.readLine()) != null) {
                        // "owned GENERATION P,P,..."
                        String[] parts = line.split(" ", -1);
                        Set<Integer> now = new TreeSet<>();
                        if (parts.length > 2 && !parts[2].isEmpty()) {
                            for (String p : parts[2].split(",")) {
                                now.add(Integer.parseInt(p));
                            }
                        }
                        owned = now;
                        generation = Integer.parseInt(parts[1]);
                    }
                } catch (Exception e) {
                    // The child was killed.
                }
            });
            reader.setDaemon(true);
            reader.start();
        }

        void kill() throws InterruptedException {
            process.destroyForcibly();
            process.waitFor();
        }

        public String name() {
            return name;
        }

        public Set<Integer> owned() {
            return owned;
        }

        public int generation() {
            return generation;
        }

        public String callbacks() {
            return name + " (child)";
        }
    }

    /** The child JVM's member: prints what it owns after every change. */
    static void childMember(String bootstrap, String topic, String group, String strategy) {
        // The parent holds this JVM's stdin: when the parent is gone, so is
        // the child (no orphan JVM holding a group member).
        Thread orphaned = new Thread(() -> {
            try {
                while (System.in.read() >= 0) {
                    // Nothing is sent.
                }
            } catch (Exception e) {
                // Same as end of input.
            }
            Runtime.getRuntime().halt(1);
        });
        orphaned.setDaemon(true);
        orphaned.start();
        Set<Integer> owned = new TreeSet<>();
        try (KafkaConsumer<String, String> consumer =
                new KafkaConsumer<>(consumerConfig(bootstrap, group, strategy, null))) {
            consumer.subscribe(List.of(topic));
            String last = "";
            while (true) {
                consumer.poll(Duration.ofMillis(100));
                owned.clear();
                consumer.assignment().forEach(tp -> owned.add(tp.partition()));
                String now = "owned " + consumer.groupMetadata().generationId() + " "
                        + String.join(",", owned.stream().map(String::valueOf).toList());
                if (!now.equals(last)) {
                    System.out.println(now);
                    System.out.flush();
                    last = now;
                }
            }
        }
    }

    /**
     * Waits until `members` own every partition once, with the given counts
     * (in member order) and one generation, for a whole second (cooperative
     * rebalances pass through states that look settled); returns the owner
     * of each partition.
     */
    static Map<Integer, String> settle(String step, List<? extends View> members, int... counts) throws Exception {
        long deadline = System.nanoTime() + STEP_LIMIT.toNanos();
        long since = -1;
        String seen = "";
        while (true) {
            Map<Integer, String> owners = new HashMap<>();
            boolean ok = true;
            int generation = members.get(0).generation();
            StringBuilder state = new StringBuilder();
            for (int i = 0; i < members.size(); i++) {
                View m = members.get(i);
                Set<Integer> owned = m.owned();
                state.append(m.name()).append('=').append(owned).append("@").append(m.generation()).append(' ');
                ok &= owned.size() == counts[i] && m.generation() == generation;
                for (int p : owned) {
                    ok &= owners.put(p, m.name()) == null;
                }
            }
            ok &= owners.size() == PARTITIONS;
            if (!state.toString().equals(seen)) {
                seen = state.toString();
                since = System.nanoTime();
            }
            if (ok && System.nanoTime() - since > 1_000_000_000L) {
                return owners;
            }
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException(step + ": not settled in " + STEP_LIMIT + ": " + seen);
            }
            Thread.sleep(50);
        }
    }

    static int moved(Map<Integer, String> before, Map<Integer, String> after) {
        int n = 0;
        for (int p = 0; p < PARTITIONS; p++) {
            if (!before.get(p).equals(after.get(p))) {
                n++;
            }
        }
        return n;
    }

    static void report(String step, List<? extends View> members, Map<Integer, String> before,
            Map<Integer, String> after) {
        List<Integer> counts = new ArrayList<>();
        for (View m : members) {
            counts.add(m.owned().size());
        }
        // Under the range assignor which partitions move depends on how the
        // member ids sort, so only sticky assignments report it.
        boolean sticky = !step.startsWith("range");
        System.out.println(step + ": counts " + counts + ", generation " + members.get(0).generation()
                + (before == null || !sticky ? "" : ", moved " + moved(before, after)));
        for (View m : members) {
            if (m instanceof Member) {
                System.out.println("  " + m.callbacks());
            }
        }
    }

    /** Three members join one by one; the second leaves; the third dies. */
    static void joinLeaveDie(String bootstrap, String strategy) throws Exception {
        String topic = "rebalance-" + strategy;
        String group = "group-" + strategy;
        createTopic(bootstrap, topic);
        Member a = new Member("a", topic, consumerConfig(bootstrap, group, strategy, null));
        Map<Integer, String> owners = settle("a joins", List.of(a), 6);
        report(strategy + ", a joins", List.of(a), null, owners);

        Member b = new Member("b", topic, consumerConfig(bootstrap, group, strategy, null));
        Map<Integer, String> next = settle("b joins", List.of(a, b), 3, 3);
        report(strategy + ", b joins", List.of(a, b), owners, next);
        owners = next;

        Child c = new Child("c", bootstrap, topic, group, strategy);
        List<View> abc = List.of(a, b, c);
        next = settle("c joins", abc, 2, 2, 2);
        report(strategy + ", c joins", abc, owners, next);
        owners = next;

        b.close();
        List<View> ac = List.of(a, c);
        next = settle("b leaves", ac, 3, 3);
        report(strategy + ", b leaves", ac, owners, next);
        owners = next;

        long killed = System.nanoTime();
        c.kill();
        next = settle("c dies", List.of(a), 6);
        long seconds = (System.nanoTime() - killed) / 1_000_000_000L;
        report(strategy + ", c dies", List.of(a), owners, next);
        System.out.println("  c's partitions moved after its session expired: " + (seconds >= 5));
        a.close();
    }

    /**
     * KIP-345: three static members; the third restarts within the session
     * timeout and gets its partitions back with no rebalance of the others;
     * then a second consumer with the first one's group.instance.id fences
     * it.
     */
    static void staticMembership(String bootstrap) throws Exception {
        String topic = "rebalance-static";
        String group = "group-static";
        createTopic(bootstrap, topic);
        Member a = new Member("a", topic, consumerConfig(bootstrap, group, "range", "instance-a"));
        settle("a joins", List.of(a), 6);
        Member b = new Member("b", topic, consumerConfig(bootstrap, group, "range", "instance-b"));
        settle("b joins", List.of(a, b), 3, 3);
        Member c = new Member("c", topic, consumerConfig(bootstrap, group, "range", "instance-c"));
        Map<Integer, String> owners = settle("c joins", List.of(a, b, c), 2, 2, 2);
        report("static, three members", List.of(a, b, c), null, owners);

        // A static member's close() sends no LeaveGroup: the group keeps its
        // place until the session expires.
        Set<Integer> before = c.owned();
        String others = a.callbacks() + "; " + b.callbacks();
        int generation = a.generation();
        c.close();
        Member c2 = new Member("c2", topic, consumerConfig(bootstrap, group, "range", "instance-c"));
        List<Member> restarted = List.of(a, b, c2);
        Map<Integer, String> next = settle("c restarts", restarted, 2, 2, 2);
        // Long enough for the others to have heard of any rebalance.
        Thread.sleep(2000);
        System.out.println("static, c restarts: same partitions " + c2.owned().equals(before)
                + ", generation unchanged " + (a.generation() == generation && b.generation() == generation
                        && c2.generation() == generation)
                + ", others' callbacks unchanged " + others.equals(a.callbacks() + "; " + b.callbacks())
                + ", moved " + moved(owners, renamed(next, "c2", "c")));

        // A second consumer with a's instance id: it takes a's place, and a
        // is fenced.
        Set<Integer> aOwned = a.owned();
        Member a2 = new Member("a2", topic, consumerConfig(bootstrap, group, "range", "instance-a"));
        long deadline = System.nanoTime() + STEP_LIMIT.toNanos();
        while (a.failure == null && a.thread.isAlive()) {
            if (System.nanoTime() > deadline) {
                throw new IllegalStateException("a was not fenced in " + STEP_LIMIT);
            }
            Thread.sleep(50);
        }
        a.thread.join();
        System.out.println("static, a second instance-a joins: the first gets "
                + (a.failure == null ? "no error" : a.failure.getClass().getSimpleName()));
        settle("a2 replaces a", List.of(a2, b, c2), 2, 2, 2);
        System.out.println("static, a2 owns a's partitions " + a2.owned().equals(aOwned));
        for (Member m : List.of(a2, b, c2)) {
            m.close();
        }
    }

    static Map<Integer, String> renamed(Map<Integer, String> owners, String from, String to) {
        Map<Integer, String> out = new HashMap<>();
        owners.forEach((p, m) -> out.put(p, m.equals(from) ? to : m));
        return out;
    }
}
