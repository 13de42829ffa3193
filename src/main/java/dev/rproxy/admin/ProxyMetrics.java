package dev.rproxy.admin;

import io.netty.handler.codec.http.HttpMethod;
import io.netty.util.concurrent.FastThreadLocal;
import io.prometheus.metrics.model.registry.MultiCollector;
import io.prometheus.metrics.model.snapshots.ClassicHistogramBuckets;
import io.prometheus.metrics.model.snapshots.CounterSnapshot;
import io.prometheus.metrics.model.snapshots.CounterSnapshot.CounterDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot;
import io.prometheus.metrics.model.snapshots.HistogramSnapshot.HistogramDataPointSnapshot;
import io.prometheus.metrics.model.snapshots.Labels;
import io.prometheus.metrics.model.snapshots.MetricSnapshots;
import java.util.List;
import java.util.Map;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.CopyOnWriteArrayList;
import java.util.concurrent.atomic.AtomicLongArray;

/**
 * The request counters: per event loop, summed when scraped.
 *
 * <p>Each thread that counts (an event loop) has its own arrays, which only it writes: an
 * increment is a plain read and an ordered write of one slot, with no lock, no atomic
 * read-modify-write and no allocation. A scrape reads every thread's arrays and adds them up, so
 * it sees each count at most a moment late. {@link #slot} names an (upstream, backend) pair once
 * (at start, or when a reload adds it; the same pair keeps its number), and requests carry the
 * number; a thread whose arrays are too short for a new number grows them, itself, when it next
 * counts.
 *
 * <p>What is counted: requests by upstream, backend, method and status class with their bytes; the
 * duration of requests per upstream (a classic histogram); requests the proxy refused itself, by
 * status; retries and the retries the budget refused, per upstream; TLS handshakes with clients.
 */
public final class ProxyMetrics implements MultiCollector {
    static final String[] METHODS = {"GET", "HEAD", "POST", "PUT", "DELETE", "OTHER"};
    static final String[] CLASSES = {"1xx", "2xx", "3xx", "4xx", "5xx"};
    /** Upper bounds of the duration buckets, in seconds; the last is +Inf. */
    static final double[] BOUNDS = {0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10,
        Double.POSITIVE_INFINITY};
    private static final long[] BOUNDS_NANOS = new long[BOUNDS.length - 1];
    /** Statuses the proxy answers itself when it refuses a request. */
    static final int[] REFUSALS = {400, 401, 403, 404, 405, 408, 413, 414, 421, 429, 431, 501, 503, 505};

    static {
        for (int i = 0; i < BOUNDS_NANOS.length; i++) {
            BOUNDS_NANOS[i] = (long) (BOUNDS[i] * 1e9);
        }
    }

    /** Appended by a start or a reload, read by event loops: copy-on-write. */
    private final List<String[]> slots = new CopyOnWriteArrayList<>();
    private final List<String> upstreams = new CopyOnWriteArrayList<>();
    private final Map<String, Integer> slotNumbers = new ConcurrentHashMap<>();
    private final List<Counters> all = new CopyOnWriteArrayList<>();
    private final FastThreadLocal<Counters> local = new FastThreadLocal<>() {
        @Override
        protected Counters initialValue() {
            Counters c = new Counters();
            c.grow(slots.size(), upstreams.size());
            all.add(c);
            return c;
        }
    };

    /** Off: nothing is counted (only to measure what counting costs). */
    private volatile boolean enabled = true;

    public ProxyMetrics() {
        slots.add(new String[] {"-", "-"}); // slot 0: no route
    }

    /** Turns counting on or off ({@code metrics.enabled}). */
    public void enabled(boolean on) {
        enabled = on;
    }

    /** Names an upstream for the per-upstream counts; returns its index (the same for the same name). */
    public synchronized int upstream(String name) {
        int i = upstreams.indexOf(name);
        if (i >= 0) {
            return i;
        }
        upstreams.add(name);
        return upstreams.size() - 1;
    }

    /**
     * Names an (upstream, backend) pair ({@code backend} "-": the upstream's requests no backend
     * took); returns its slot (the same for the same pair).
     */
    public synchronized int slot(String upstream, String backend) {
        return slotNumbers.computeIfAbsent(upstream + '\n' + backend, key -> {
            slots.add(new String[] {upstream, backend});
            return slots.size() - 1;
        });
    }

    // ---------------------------------------------------------------- counting, on event loops

    /** One exchange ended: {@code slot} from {@link #slot}, {@code upstream} from {@link #upstream} or -1. */
    public void request(int slot, int upstream, HttpMethod method, int status, long durationNanos, long bytesIn,
                        long bytesOut) {
        if (!enabled) {
            return;
        }
        Counters c = local.get();
        if (slot >= c.slots || upstream >= c.upstreams) {
            c.grow(slots.size(), upstreams.size()); // a reload named more
        }
        int classIndex = Math.max(0, Math.min(4, status / 100 - 1));
        add(c.requests, requestIndex(slot, methodIndex(method), classIndex), 1);
        add(c.bytesIn, slot, bytesIn);
        add(c.bytesOut, slot, bytesOut);
        if (upstream >= 0) {
            int bucket = 0;
            while (bucket < BOUNDS_NANOS.length && durationNanos > BOUNDS_NANOS[bucket]) {
                bucket++;
            }
            add(c.durations, upstream * BOUNDS.length + bucket, 1);
            add(c.durationNanos, upstream, durationNanos);
        }
    }

    /** A request the proxy refused itself with {@code status}. */
    public void refused(int status) {
        if (!enabled) {
            return;
        }
        for (int i = 0; i < REFUSALS.length; i++) {
            if (REFUSALS[i] == status) {
                add(local.get().refusals, i, 1);
                return;
            }
        }
    }

    /** A TLS handshake with a client ended: {@code ok}, or failed. */
    public void tlsHandshake(boolean ok) {
        if (!enabled) {
            return;
        }
        add(local.get().handshakes, ok ? 0 : 1, 1);
    }

    public void retried(int upstream) {
        if (!enabled) {
            return;
        }
        add(counters(upstream).retries, upstream, 1);
    }

    public void retryRefused(int upstream) {
        if (!enabled) {
            return;
        }
        add(counters(upstream).budgetRefused, upstream, 1);
    }

    private Counters counters(int upstream) {
        Counters c = local.get();
        if (upstream >= c.upstreams) {
            c.grow(slots.size(), upstreams.size());
        }
        return c;
    }

    /** Where the count of (slot, method, status class) is in a thread's request array. */
    private static int requestIndex(int slot, int method, int statusClass) {
        return (slot * METHODS.length + method) * CLASSES.length + statusClass;
    }

    private static int methodIndex(HttpMethod method) {
        String name = method.name();
        for (int i = 0; i < METHODS.length - 1; i++) {
            if (METHODS[i].equals(name)) {
                return i;
            }
        }
        return METHODS.length - 1;
    }

    /** One writer per array (its thread): a plain read and an ordered write, no read-modify-write. */
    private static void add(AtomicLongArray array, int i, long n) {
        array.lazySet(i, array.get(i) + n);
    }

    /** One thread's counts; the arrays are replaced (by that thread) when they grow, so scrapes read them volatile. */
    private static final class Counters {
        volatile int slots;
        volatile int upstreams;
        volatile AtomicLongArray requests = new AtomicLongArray(0);
        volatile AtomicLongArray bytesIn = new AtomicLongArray(0);
        volatile AtomicLongArray bytesOut = new AtomicLongArray(0);
        volatile AtomicLongArray durations = new AtomicLongArray(0);
        volatile AtomicLongArray durationNanos = new AtomicLongArray(0);
        final AtomicLongArray refusals = new AtomicLongArray(REFUSALS.length);
        final AtomicLongArray handshakes = new AtomicLongArray(2);
        volatile AtomicLongArray retries = new AtomicLongArray(0);
        volatile AtomicLongArray budgetRefused = new AtomicLongArray(0);

        /** Longer arrays holding the counts so far; called by the owning thread only. */
        void grow(int slotCount, int upstreamCount) {
            requests = copy(requests, slotCount * METHODS.length * CLASSES.length);
            bytesIn = copy(bytesIn, slotCount);
            bytesOut = copy(bytesOut, slotCount);
            durations = copy(durations, upstreamCount * BOUNDS.length);
            durationNanos = copy(durationNanos, upstreamCount);
            retries = copy(retries, upstreamCount);
            budgetRefused = copy(budgetRefused, upstreamCount);
            slots = slotCount;
            upstreams = upstreamCount;
        }

        private static AtomicLongArray copy(AtomicLongArray from, int length) {
            AtomicLongArray to = new AtomicLongArray(Math.max(length, from.length()));
            for (int i = 0; i < from.length(); i++) {
                to.set(i, from.get(i));
            }
            return to;
        }

        /** {@code array[i]}, 0 past its end (a slot this thread has not counted since it was named). */
        static long at(AtomicLongArray array, int i) {
            return i < array.length() ? array.get(i) : 0;
        }
    }

    private long sum(java.util.function.ToLongFunction<Counters> read) {
        long total = 0;
        for (Counters c : all) {
            total += read.applyAsLong(c);
        }
        return total;
    }

    // ---------------------------------------------------------------- reading, for the dashboard

    /** Requests of {@code slot} so far by status class (1xx..5xx), all methods together. */
    public long[] statusClasses(int slot) {
        long[] out = new long[CLASSES.length];
        for (int m = 0; m < METHODS.length; m++) {
            for (int k = 0; k < CLASSES.length; k++) {
                int i = requestIndex(slot, m, k);
                out[k] += sum(c -> Counters.at(c.requests, i));
            }
        }
        return out;
    }

    /** The duration histogram of {@code upstream} so far: the count of each bucket of {@link #bounds()}. */
    public long[] durationBuckets(int upstream) {
        long[] out = new long[BOUNDS.length];
        for (int b = 0; b < BOUNDS.length; b++) {
            int i = upstream * BOUNDS.length + b;
            out[b] = sum(c -> Counters.at(c.durations, i));
        }
        return out;
    }

    /** The upper bounds of the duration buckets, in seconds (the last is +Inf). */
    public static double[] bounds() {
        return BOUNDS.clone();
    }

    // ---------------------------------------------------------------- scraping

    @Override
    public MetricSnapshots collect() {
        CounterSnapshot.Builder requests = CounterSnapshot.builder().name("rproxy_requests")
                .help("Requests answered, by upstream, backend, method and status class");
        CounterSnapshot.Builder bytesIn = CounterSnapshot.builder().name("rproxy_request_body_bytes")
                .help("Request body bytes received from clients");
        CounterSnapshot.Builder bytesOut = CounterSnapshot.builder().name("rproxy_response_body_bytes")
                .help("Response body bytes sent to clients");
        for (int s = 0; s < slots.size(); s++) {
            String[] slot = slots.get(s);
            for (int m = 0; m < METHODS.length; m++) {
                for (int k = 0; k < CLASSES.length; k++) {
                    int i = requestIndex(s, m, k);
                    long n = sum(c -> Counters.at(c.requests, i));
                    if (n > 0) {
                        requests.dataPoint(CounterDataPointSnapshot.builder().value(n).labels(Labels.of(
                                "upstream", slot[0], "backend", slot[1], "method", METHODS[m], "code", CLASSES[k])).build());
                    }
                }
            }
            int si = s;
            long in = sum(c -> Counters.at(c.bytesIn, si));
            long out = sum(c -> Counters.at(c.bytesOut, si));
            if (in > 0 || out > 0) {
                Labels labels = Labels.of("upstream", slot[0], "backend", slot[1]);
                bytesIn.dataPoint(CounterDataPointSnapshot.builder().value(in).labels(labels).build());
                bytesOut.dataPoint(CounterDataPointSnapshot.builder().value(out).labels(labels).build());
            }
        }
        HistogramSnapshot.Builder durations = HistogramSnapshot.builder().name("rproxy_request_duration_seconds")
                .help("Time from a request's head to the end of its response, per upstream");
        CounterSnapshot.Builder retries = CounterSnapshot.builder().name("rproxy_retries")
                .help("Requests sent again to another backend, per upstream");
        CounterSnapshot.Builder budget = CounterSnapshot.builder().name("rproxy_retry_budget_refused")
                .help("Retries not made because the upstream's retry budget was spent");
        for (int u = 0; u < upstreams.size(); u++) {
            int ui = u;
            long[] counts = new long[BOUNDS.length];
            for (int b = 0; b < BOUNDS.length; b++) {
                int bi = b;
                counts[b] = sum(c -> Counters.at(c.durations, ui * BOUNDS.length + bi));
            }
            Labels labels = Labels.of("upstream", upstreams.get(u));
            durations.dataPoint(HistogramDataPointSnapshot.builder()
                    .classicHistogramBuckets(ClassicHistogramBuckets.of(BOUNDS, counts))
                    .sum(sum(c -> Counters.at(c.durationNanos, ui)) / 1e9).labels(labels).build());
            retries.dataPoint(CounterDataPointSnapshot.builder().value(sum(c -> Counters.at(c.retries, ui))).labels(labels).build());
            budget.dataPoint(CounterDataPointSnapshot.builder().value(sum(c -> Counters.at(c.budgetRefused, ui))).labels(labels).build());
        }
        CounterSnapshot.Builder refusals = CounterSnapshot.builder().name("rproxy_refused_requests")
                .help("Requests the proxy answered itself with a refusal, by status");
        for (int r = 0; r < REFUSALS.length; r++) {
            int ri = r;
            refusals.dataPoint(CounterDataPointSnapshot.builder().value(sum(c -> Counters.at(c.refusals, ri)))
                    .labels(Labels.of("status", Integer.toString(REFUSALS[r]))).build());
        }
        CounterSnapshot handshakes = CounterSnapshot.builder().name("rproxy_tls_handshakes")
                .help("TLS handshakes with clients, by outcome")
                .dataPoint(CounterDataPointSnapshot.builder().value(sum(c -> c.handshakes.get(0)))
                        .labels(Labels.of("result", "ok")).build())
                .dataPoint(CounterDataPointSnapshot.builder().value(sum(c -> c.handshakes.get(1)))
                        .labels(Labels.of("result", "failed")).build())
                .build();
        return MetricSnapshots.of(requests.build(), bytesIn.build(), bytesOut.build(), durations.build(), retries.build(),
                budget.build(), refusals.build(), handshakes);
    }
}
