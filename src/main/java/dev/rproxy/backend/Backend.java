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
 * <p>In a fleet, what this proxy finds itself (an ejection and its end, down and up by its probes)
 * goes to its {@link HealthReporter}; what another member found comes in through {@link
 * #ejectFromFleet} and {@link #fleetDown}, is marked as learned from the fleet, ends by time, and is
 * never reported on (no echo).
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
    private volatile HealthReporter reporter = HealthReporter.NONE;
    /** While another member of the fleet has it down: when that ends ({@link System#nanoTime}); else 0. */
    private volatile long fleetDownUntilNanos;
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
    /** The member whose ejection the current one is (learned from the fleet); {@code null}: this proxy's own or none. */
    private String ejectedBy;
    private String fleetDownBy;
    private String fleetDownReason;

    static final int PROBES_KEPT = 5;
    static final int EJECTIONS_KEPT = 5;

    /** Told of every change of a backend's availability; called outside the backend's monitor. */
    @FunctionalInterface
    public interface HealthListener {
        void stateChanged(Backend backend);
    }

    /**
     * Told of the changes of health this proxy found itself, to share them with the fleet; never of
     * those learned from it. Called outside the backend's monitor, on the thread that made the
     * change; must not block.
     */
    public interface HealthReporter {
        /** Ejected by outlier detection for {@code durationMs}. */
        void ejected(Backend backend, long durationMs, String reason);

        /** Its ejection by outlier detection here ended. */
        void ejectionOver(Backend backend);

        /** Down by the active probes here (again at each failed probe while down, as confirmation). */
        void down(Backend backend, String reason);

        /** Healthy again by the active probes here. */
        void up(Backend backend);

        HealthReporter NONE = new HealthReporter() {
            @Override
            public void ejected(Backend backend, long durationMs, String reason) {
            }

            @Override
            public void ejectionOver(Backend backend) {
            }

            @Override
            public void down(Backend backend, String reason) {
            }

            @Override
            public void up(Backend backend) {
            }
        };
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

    /** Whether requests may go to it: healthy, not ejected, not draining, not down by another member of the fleet. */
    public boolean isAvailable() {
        return healthy && ejectedUntilNanos == 0 && !draining && fleetDownUntilNanos == 0;
    }

    /** Where what this proxy finds of its health goes (the fleet); {@link HealthReporter#NONE} without one. */
    public void reporter(HealthReporter reporter) {
        this.reporter = reporter;
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
            if (!drain && healthy && ejectedUntilNanos == 0 && fleetDownUntilNanos == 0) {
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
        reporter.ejected(this, durationMs, reason);
        return until;
    }

    /**
     * Ejects it for {@code durationMs} because member {@code from} of the fleet ejected it, unless
     * it is ejected already; the count that lengthens this proxy's own ejections is left alone.
     * Returns when the ejection ends ({@link System#nanoTime}), the key to {@link #uneject}; 0 when
     * it was ejected already. Never reported to the fleet.
     */
    public long ejectFromFleet(long durationMs, String from, String reason) {
        long until;
        String why = "fleet: ejected by " + from + " (" + reason + ")";
        synchronized (this) {
            if (ejectedUntilNanos != 0 || durationMs <= 0) {
                return 0;
            }
            until = System.nanoTime() + durationMs * 1_000_000L;
            if (until == 0) {
                until = 1;
            }
            ejectedUntilNanos = until;
            ejectedBy = from;
            ejectionsSinceStart++;
            remember(ejections, new Ejection(System.currentTimeMillis(), durationMs, why), EJECTIONS_KEPT);
        }
        log.warn("backend {} ({}) ejected for {} ms: {}", id(), url(), durationMs, why);
        listener.stateChanged(this);
        return until;
    }

    /** Ends its ejection if it is the one member {@code from} of the fleet caused; false when not. */
    public boolean fleetEjectionOver(String from) {
        long until;
        synchronized (this) {
            if (ejectedUntilNanos == 0 || !from.equals(ejectedBy)) {
                return false;
            }
            until = ejectedUntilNanos;
        }
        return uneject(until, "fleet: " + from + " ended its ejection");
    }

    /** The member of the fleet whose ejection the current one is; {@code null} for this proxy's own, or none. */
    public synchronized String ejectedBy() {
        return ejectedBy;
    }

    /**
     * Ends its ejection: the one that ends at {@code until} (its timer), or any ({@code until} 0:
     * an active probe found it healthy). False when it was not so ejected.
     */
    public boolean uneject(long until, String why) {
        boolean own;
        synchronized (this) {
            if (ejectedUntilNanos == 0 || (until != 0 && ejectedUntilNanos != until)) {
                return false;
            }
            own = ejectedBy == null;
            ejectedUntilNanos = 0;
            ejectedBy = null;
            if (own) {
                lastEjectionEndNanos = System.nanoTime(); // the fleet's ejections leave the own count's clock alone
            }
            if (healthy && fleetDownUntilNanos == 0) {
                availableSinceNanos = Math.max(1, System.nanoTime());
            }
        }
        log.info("backend {} ({}) back from ejection: {}", id(), url(), why);
        listener.stateChanged(this);
        if (own) {
            reporter.ejectionOver(this);
        }
        return true;
    }

    // ---------------------------------------------------------------- down, as the fleet says

    /**
     * Another member's probes have it down: unavailable here for {@code forMs} from now, unless
     * that member reports it up ({@link #fleetUp}) or a probe here passes first; a later report
     * (a confirmation) starts the time again. Returns the key to {@link #fleetDownExpired}. Never
     * reported to the fleet.
     */
    public long fleetDown(String from, long forMs, String reason) {
        long until;
        boolean changed;
        synchronized (this) {
            until = System.nanoTime() + forMs * 1_000_000L;
            if (until == 0) {
                until = 1;
            }
            changed = fleetDownUntilNanos == 0;
            fleetDownUntilNanos = until;
            fleetDownBy = from;
            fleetDownReason = reason;
        }
        if (changed) {
            log.warn("backend {} ({}) unavailable: {} (for {} ms unless confirmed)", id(), url(), fleetDownReason(), forMs);
            listener.stateChanged(this);
        }
        return until;
    }

    /** Member {@code from} reports it up: back here if {@code from} is the one that had it down. */
    public void fleetUp(String from) {
        synchronized (this) {
            if (fleetDownUntilNanos == 0 || !from.equals(fleetDownBy)) {
                return;
            }
        }
        endFleetDown(0, "fleet: " + from + " reports it up");
    }

    /** The time of the report that ends at {@code until} is up with no confirmation since. */
    public void fleetDownExpired(long until) {
        endFleetDown(until, "fleet: no confirmation that it is still down");
    }

    /** Ends the fleet's down ({@code until} 0: any); false when it was not so down. */
    private boolean endFleetDown(long until, String why) {
        synchronized (this) {
            if (fleetDownUntilNanos == 0 || (until != 0 && fleetDownUntilNanos != until)) {
                return false;
            }
            fleetDownUntilNanos = 0;
            fleetDownBy = null;
            fleetDownReason = null;
            if (healthy && ejectedUntilNanos == 0) {
                availableSinceNanos = Math.max(1, System.nanoTime());
            }
        }
        log.info("backend {} ({}) available again: {}", id(), url(), why);
        listener.stateChanged(this);
        return true;
    }

    /** Whether another member of the fleet has it down now. */
    public boolean isFleetDown() {
        return fleetDownUntilNanos != 0;
    }

    /** {@code fleet: down by <member> (<reason>)} while another member has it down; else {@code null}. */
    public synchronized String fleetDownReason() {
        return fleetDownUntilNanos == 0 ? null : "fleet: down by " + fleetDownBy + " (" + fleetDownReason + ")";
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
            reporter.up(this);
        }
        endFleetDown(0, "a probe here passed");
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
            reporter.down(this, reason);
        }
    }

    /** A probe failed while it was down already: the fleet hears it is still down (what keeps the others' word alive). */
    public void confirmDown() {
        String reason;
        synchronized (this) {
            if (healthy) {
                return;
            }
            reason = downReason;
        }
        reporter.down(this, reason);
    }

    @Override
    public String toString() {
        return id() + "(" + url() + ")";
    }
}
