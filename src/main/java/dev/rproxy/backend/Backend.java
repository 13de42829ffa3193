package dev.rproxy.backend;

import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.PoolConfig;
import dev.rproxy.config.TimeoutsConfig;
import java.util.ArrayDeque;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicLong;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Runtime state of one backend: health by active probes with rise/fall thresholds, ejection by
 * passive health (outlier detection), the time it last became available (slow start), the
 * exchanges in flight, and what explains its state (the last probes, the ejections).
 *
 * <p>Thread-safety: probe results arrive from the health checker and passive results from every
 * event loop; changes of state are rare next to requests, so they are guarded by the object's
 * monitor. The request path reads volatile fields only (through {@link BackendGroup}'s snapshot),
 * and a success on the request path writes nothing unless failures were being counted.
 */
public final class Backend {
    private static final Logger log = LoggerFactory.getLogger(Backend.class);

    private final BackendConfig config;
    private final BackendTls tls;
    /** Read on every exchange: kept here rather than compared from the configuration's string. */
    private final boolean http2;
    private final int weight;
    /** Its upstream's connection pool limits; {@code null}: the top-level {@code pool}. */
    private final PoolConfig pool;
    private final AtomicInteger activeConnections = new AtomicInteger();
    /** Its (upstream, backend) slot in the request counters; set once, before traffic. */
    private int metricsSlot;
    private volatile boolean healthy = true;
    /** While ejected by passive health: when the ejection ends ({@link System#nanoTime}); else 0. */
    private volatile long ejectedUntilNanos;
    /** Taken out of service by the operator (admin API): no new requests; those in flight finish. */
    private volatile boolean draining;
    /** When it last became available after being out; 0: available from the start (full share at once). */
    private volatile long availableSinceNanos;
    private volatile HealthListener listener = b -> {};
    /** Failures in a row seen on real traffic, for outlier detection. */
    private final AtomicInteger passiveFailuresInARow = new AtomicInteger();
    private final AtomicLong passiveFailures = new AtomicLong();

    // Guarded by this.
    private boolean probedOnce;
    private int consecutiveFailures;
    private int consecutiveSuccesses;
    private String downReason;
    private final ArrayDeque<ProbeResult> probes = new ArrayDeque<>(PROBES_KEPT);
    private final ArrayDeque<Ejection> ejections = new ArrayDeque<>(EJECTIONS_KEPT);
    private int ejectionCount;
    private long ejectionsSinceStart;
    private long lastEjectionEndNanos;

    static final int PROBES_KEPT = 5;
    static final int EJECTIONS_KEPT = 5;

    /** Told of every change of a backend's availability; called outside the backend's monitor. */
    @FunctionalInterface
    public interface HealthListener {
        void stateChanged(Backend backend);
    }

    /** One active probe: when ({@link System#currentTimeMillis}), its outcome, how long it took. */
    public record ProbeResult(long timeMillis, boolean ok, String outcome, long latencyMs) {}

    /** One ejection by passive health: when, for how long, and the failure that caused it. */
    public record Ejection(long timeMillis, long durationMs, String reason) {}

    public Backend(BackendConfig config) {
        this(config, BackendTls.of(config, TimeoutsConfig.DEFAULT.connectMs()));
    }

    /** @param tls its TLS, for an https backend; {@code null} for http */
    public Backend(BackendConfig config, BackendTls tls) {
        this(config, tls, null);
    }

    /** @param pool its upstream's connection pool limits; {@code null}: the top-level {@code pool} */
    public Backend(BackendConfig config, BackendTls tls, PoolConfig pool) {
        this.config = config;
        this.pool = pool;
        this.tls = tls;
        this.http2 = config.http2();
        this.weight = config.weight();
    }

    /** What it was configured with. */
    public BackendConfig config() {
        return config;
    }

    /** Its upstream's connection pool limits, or {@code null} for the top-level {@code pool}. */
    public PoolConfig pool() {
        return pool;
    }

    /** TLS to this backend, or {@code null} for plaintext. */
    public BackendTls tls() {
        return tls;
    }

    public String id() {
        return config.id();
    }

    public String url() {
        return config.url();
    }

    public int metricsSlot() {
        return metricsSlot;
    }

    public void metricsSlot(int slot) {
        this.metricsSlot = slot;
    }

    /** Its share of the requests relative to the other backends' (1 unless configured). */
    public int weight() {
        return weight;
    }

    /** Whether the proxy speaks HTTP/2 to it ({@code h2} or {@code h2c}): its connections carry streams. */
    public boolean http2() {
        return http2;
    }

    public String host() {
        return config.host();
    }

    public int port() {
        return config.port();
    }

    /** {@code host:port} as a Host header value (IPv6 in brackets). */
    public String authority() {
        String host = host();
        return (host.indexOf(':') >= 0 ? "[" + host + "]" : host) + ":" + port();
    }

    /** Healthy by its active probes (always, with probes off). */
    public boolean isHealthy() {
        return healthy;
    }

    /** Ejected by passive health (outlier detection) now. */
    public boolean isEjected() {
        return ejectedUntilNanos != 0;
    }

    /** Whether requests may go to it: healthy, not ejected, not draining. */
    public boolean isAvailable() {
        return healthy && ejectedUntilNanos == 0 && !draining;
    }

    /** A backend a reload added: it warms up from now, as one that came back does. */
    void addedNow() {
        availableSinceNanos = Math.max(1, System.nanoTime());
    }

    /** Taken out of service by the operator. */
    public boolean isDraining() {
        return draining;
    }

    /**
     * Takes it out of service ({@code true}: no new requests, those in flight finish) or puts it
     * back ({@code false}, with slow start as any return); false when that was its state already.
     */
    public boolean setDraining(boolean drain) {
        synchronized (this) {
            if (draining == drain) {
                return false;
            }
            draining = drain;
            if (!drain && healthy && ejectedUntilNanos == 0) {
                availableSinceNanos = Math.max(1, System.nanoTime());
            }
        }
        log.info("backend {} ({}) {}", id(), url(), drain ? "draining: no new requests" : "enabled again");
        listener.stateChanged(this);
        return true;
    }

    /**
     * Its share of {@link #weight()} at {@code now} while it warms up after coming back: rising
     * linearly from a tenth to all of it over {@code slowStartNanos} (a tenth so that a backend with
     * a tiny share still gets the traffic that warms it). The full weight when not warming up.
     */
    public double weightAt(long now, long slowStartNanos) {
        long since = availableSinceNanos;
        if (since == 0 || slowStartNanos <= 0) {
            return weight;
        }
        long elapsed = now - since;
        if (elapsed >= slowStartNanos) {
            return weight;
        }
        return weight * Math.max(0.1, (double) Math.max(0, elapsed) / slowStartNanos);
    }

    /** When it last came back ({@link System#nanoTime}), or 0 when it has been available since the start. */
    public long availableSinceNanos() {
        return availableSinceNanos;
    }

    public int activeConnections() {
        return activeConnections.get();
    }

    public void exchangeStarted() {
        activeConnections.incrementAndGet();
    }

    public void exchangeEnded() {
        activeConnections.decrementAndGet();
    }

    void setListener(HealthListener listener) {
        this.listener = listener;
    }

    // ---------------------------------------------------------------- passive health

    /** A request it answered well: the failures in a row start again (a write only when there were some). */
    public void passiveSuccess() {
        if (passiveFailuresInARow.get() != 0) {
            passiveFailuresInARow.set(0);
        }
    }

    /** A request it failed (connect failure, reset, 5xx); returns the failures in a row so far. */
    public int passiveFailure() {
        passiveFailures.incrementAndGet();
        return passiveFailuresInARow.incrementAndGet();
    }

    /** Failures seen on real traffic since start, and in a row now. */
    public long passiveFailures() {
        return passiveFailures.get();
    }

    public int passiveFailuresInARow() {
        return passiveFailuresInARow.get();
    }

    /**
     * Ejects it unless it is ejected already: for {@code baseMs} times two to the power of the
     * ejections before (at most {@code maxMs}); the count starts again after it stayed in for
     * {@code maxMs}. Returns when the ejection ends ({@link System#nanoTime}), the key to {@link
     * #uneject}; 0 when it was ejected already.
     */
    public long eject(long baseMs, long maxMs, String reason) {
        long durationMs;
        long until;
        synchronized (this) {
            if (ejectedUntilNanos != 0) {
                return 0;
            }
            long now = System.nanoTime();
            if (lastEjectionEndNanos != 0 && now - lastEjectionEndNanos > maxMs * 1_000_000L) {
                ejectionCount = 0;
            }
            durationMs = Math.min(maxMs, baseMs << Math.min(20, ejectionCount));
            ejectionCount++;
            ejectionsSinceStart++;
            until = now + durationMs * 1_000_000L;
            if (until == 0) {
                until = 1;
            }
            ejectedUntilNanos = until;
            passiveFailuresInARow.set(0);
            remember(ejections, new Ejection(System.currentTimeMillis(), durationMs, reason), EJECTIONS_KEPT);
        }
        log.warn("backend {} ({}) ejected for {} ms: {}", id(), url(), durationMs, reason);
        listener.stateChanged(this);
        return until;
    }

    /**
     * Ends its ejection: the one that ends at {@code until} (its timer), or any ({@code until} 0:
     * an active probe found it healthy). False when it was not so ejected.
     */
    public boolean uneject(long until, String why) {
        synchronized (this) {
            if (ejectedUntilNanos == 0 || (until != 0 && ejectedUntilNanos != until)) {
                return false;
            }
            ejectedUntilNanos = 0;
            lastEjectionEndNanos = System.nanoTime();
            if (healthy) {
                availableSinceNanos = Math.max(1, lastEjectionEndNanos);
            }
        }
        log.info("backend {} ({}) back from ejection: {}", id(), url(), why);
        listener.stateChanged(this);
        return true;
    }

    /** How long until its ejection ends, in ms (0 when not ejected). */
    public long ejectionLeftMs() {
        long until = ejectedUntilNanos;
        return until == 0 ? 0 : Math.max(0, (until - System.nanoTime()) / 1_000_000L);
    }

    /** Its ejections so far (the last few kept), oldest first. */
    public synchronized List<Ejection> ejections() {
        return new ArrayList<>(ejections);
    }

    /** How many times it was ejected since the proxy started. */
    public synchronized long ejectionsSinceStart() {
        return ejectionsSinceStart;
    }

    /** How many times it was ejected since the count last started again. */
    public synchronized int ejectionCount() {
        return ejectionCount;
    }

    // ---------------------------------------------------------------- active health

    /** Keeps one probe's result for {@link #probes()}; the state changes by {@link #recordSuccess}/{@link #recordFailure}. */
    public void recordProbe(boolean ok, String outcome, long latencyMs) {
        synchronized (this) {
            remember(probes, new ProbeResult(System.currentTimeMillis(), ok, outcome, latencyMs), PROBES_KEPT);
        }
    }

    /** The last few probes, oldest first. */
    public synchronized List<ProbeResult> probes() {
        return new ArrayList<>(probes);
    }

    /** Why the probes marked it down (the last failure's reason), or {@code null} while healthy. */
    public synchronized String downReason() {
        return downReason;
    }

    private static <T> void remember(ArrayDeque<T> kept, T item, int max) {
        if (kept.size() == max) {
            kept.removeFirst();
        }
        kept.addLast(item);
    }

    /**
     * Records one successful probe. The first result decides the state at once, so a backend is
     * balanced by its real health from start-up; later ones need {@code rise} in a row.
     */
    public void recordSuccess(int rise) {
        boolean changed;
        synchronized (this) {
            consecutiveFailures = 0;
            consecutiveSuccesses++;
            boolean first = !probedOnce;
            probedOnce = true;
            changed = !healthy && (first || consecutiveSuccesses >= rise);
            if (changed) {
                healthy = true;
                downReason = null;
                if (!first && ejectedUntilNanos == 0) {
                    availableSinceNanos = Math.max(1, System.nanoTime()); // back: slow start from here
                }
            }
        }
        if (changed) {
            log.info("backend {} ({}) is healthy", id(), url());
            listener.stateChanged(this);
        }
    }

    /**
     * Records one failed probe, or a failed connection on real traffic (passive check). After
     * {@code fall} failures in a row (or at the very first probe) the backend is marked down.
     */
    public void recordFailure(int fall, String reason) {
        boolean changed;
        synchronized (this) {
            consecutiveSuccesses = 0;
            consecutiveFailures++;
            boolean first = !probedOnce;
            probedOnce = true;
            changed = healthy && (first || consecutiveFailures >= fall);
            if (changed) {
                healthy = false;
                downReason = reason;
            }
        }
        if (changed) {
            log.warn("backend {} ({}) is unhealthy: {}", id(), url(), reason);
            listener.stateChanged(this);
        }
    }

    @Override
    public String toString() {
        return id() + "(" + url() + ")";
    }
}
