package dev.rproxy.backend;

import dev.rproxy.config.BackendConfig;
import dev.rproxy.config.ConfigException;
import dev.rproxy.config.PoolConfig;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.config.UpstreamConfig;
import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Function;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The backends of one upstream and a copy-on-write snapshot of those requests go to.
 *
 * <p>The snapshot is rebuilt only when a backend changes state, so a balancer reads one volatile
 * array per request and never filters or allocates. It holds the available backends (healthy and
 * not ejected), except in panic: when at least one but strictly fewer than {@code
 * panicThresholdPercent} of them are available, it holds all of them, so the few left are not
 * buried under the whole load while the others may only be briefly out (Envoy's panic threshold).
 * With none available it is empty, and requests get 503 at once rather than connection attempts to
 * backends known to be down. A draining backend (taken out by the operator) is left out of both.
 *
 * <p>A discovered group ({@code upstreams.NAME.discovery}) changes its backends while it runs:
 * {@link #update} swaps the list and the snapshot under this object's monitor, so a balancer sees
 * the old set or the new one, never a mix, and a pick that read the old array finishes with it.
 */
public final class BackendGroup {
    private static final Logger log = LoggerFactory.getLogger(BackendGroup.class);

    private final String name;
    /** Replaced whole by {@link #update} (under this object's monitor), never changed in place. */
    private volatile List<Backend> all;
    private final int panicThresholdPercent;
    private final long tlsHandshakeMs;
    private final PoolConfig pool;
    private final boolean discovered;
    private volatile Backend[] routable;
    private volatile List<Backend> available;
    // Guarded by this.
    private boolean panic;

    /** Backends whose TLS handshakes (for https ones) get the default connect timeout. */
    public BackendGroup(List<BackendConfig> configs) {
        this(configs, TimeoutsConfig.DEFAULT.connectMs());
    }

    /** The upstream {@code default}, without a panic threshold. */
    public BackendGroup(List<BackendConfig> configs, long tlsHandshakeMs) {
        this(UpstreamConfig.DEFAULT_NAME, "backends", configs, tlsHandshakeMs, 0, null, null);
    }

    /**
     * @param at             the JSON path of the backends, for messages ({@code backends} or {@code
     *                       upstreams.api.backends})
     * @param tlsHandshakeMs how long the TLS handshake with an https backend may take
     * @param pool           the group's connection pool limits; {@code null}: the top-level ones
     * @param kept           a backend of the configuration before a reload to carry over for a
     *                       config (its state, counters and pools), or {@code null}; {@code null}
     *                       itself at start
     * @throws ConfigException when the TLS files of a backend do not load (naming {@code at[i]})
     */
    public BackendGroup(String name, String at, List<BackendConfig> configs, long tlsHandshakeMs,
                        int panicThresholdPercent, PoolConfig pool, Function<BackendConfig, Backend> kept) {
        this(name, at, configs, tlsHandshakeMs, panicThresholdPercent, pool, kept, false);
    }

    /**
     * As above; {@code discovered}: its backends come and go by {@link #update} (the ones given
     * here are those a reload carries over from the group before).
     */
    public BackendGroup(String name, String at, List<BackendConfig> configs, long tlsHandshakeMs,
                        int panicThresholdPercent, PoolConfig pool, Function<BackendConfig, Backend> kept,
                        boolean discovered) {
        this.name = name;
        this.panicThresholdPercent = panicThresholdPercent;
        this.tlsHandshakeMs = tlsHandshakeMs;
        this.pool = pool;
        this.discovered = discovered;
        List<Backend> list = new ArrayList<>(configs.size());
        for (int i = 0; i < configs.size(); i++) {
            Backend carried = kept == null ? null : kept.apply(configs.get(i));
            if (carried != null && Objects.equals(carried.pool(), pool)) {
                list.add(carried);
                continue;
            }
            BackendTls tls;
            try {
                tls = BackendTls.of(configs.get(i), tlsHandshakeMs);
            } catch (ConfigException e) {
                throw new ConfigException(at + "[" + i + "]." + e.getMessage(), e);
            }
            Backend added = new Backend(configs.get(i), tls, pool);
            if (kept != null) {
                added.addedNow(); // added by a reload: slow start, when its upstream has it
            }
            list.add(added);
        }
        this.all = List.copyOf(list);
        this.routable = all.toArray(new Backend[0]);
        this.available = all;
        for (Backend b : all) {
            b.setListener(backend -> rebuild());
        }
        rebuild(); // a carried-over backend may be out already
    }

    public String name() {
        return name;
    }

    /** Its backends now, in configuration (or discovery) order; a discovered group's list is replaced as it changes. */
    public List<Backend> all() {
        return all;
    }

    /** Whether its backends are discovered, and so may change while it runs. */
    public boolean discovered() {
        return discovered;
    }

    /** What {@link #update} changed. */
    public record Change(List<Backend> added, List<Backend> removed) {
        public boolean isEmpty() {
            return added.isEmpty() && removed.isEmpty();
        }
    }

    /**
     * Makes {@code configs} its backends: one it has with the same id and settings stays, the same
     * object with its state; a new one warms up from now (slow start, when the upstream has it), as
     * one a reload adds; the others leave, and nothing here routes to them any more. The balancers
     * see the new set at once, whole.
     *
     * @param joining   told of each new backend before any request can reach it (to name it in the
     *     metrics, say)
     * @param slowStart whether new backends warm up; false for the first set found at start-up,
     *     which begins at its full share as listed backends do
     */
    public synchronized Change update(List<BackendConfig> configs, java.util.function.Consumer<Backend> joining,
                                      boolean slowStart) {
        java.util.Map<String, Backend> current = new java.util.HashMap<>();
        for (Backend b : all) {
            current.put(b.id(), b);
        }
        List<Backend> next = new ArrayList<>(configs.size());
        List<Backend> added = new ArrayList<>();
        for (BackendConfig config : configs) {
            Backend b = current.remove(config.id());
            if (b == null || !b.config().equals(config)) {
                if (b != null) {
                    current.put(config.id(), b); // same id, other settings (an SRV weight): the old one leaves
                }
                b = new Backend(config, BackendTls.of(config, tlsHandshakeMs), pool);
                if (slowStart) {
                    b.addedNow();
                }
                joining.accept(b);
                added.add(b);
            }
            next.add(b);
        }
        if (added.isEmpty() && current.isEmpty()) {
            return new Change(List.of(), List.of());
        }
        List<Backend> removed = List.copyOf(current.values());
        for (Backend b : removed) {
            b.setListener(backend -> {});
        }
        for (Backend b : added) {
            b.setListener(backend -> rebuild());
        }
        all = List.copyOf(next);
        rebuild();
        return new Change(List.copyOf(added), removed);
    }

    /**
     * The backends requests go to now, in configuration order (all of them in panic); the array
     * must not be modified.
     */
    public Backend[] routableSnapshot() {
        return routable;
    }

    /**
     * The available backends (healthy, not ejected) in configuration order: one snapshot, so a
     * report built from it cannot disagree with itself while a backend changes state.
     */
    public List<Backend> routable() {
        return available;
    }

    /** Whether requests are balanced over every backend because too few are available. */
    public synchronized boolean inPanic() {
        return panic;
    }

    private synchronized void rebuild() {
        List<Backend> up = new ArrayList<>(all.size());
        List<Backend> inService = new ArrayList<>(all.size());
        for (Backend b : all) {
            if (b.isAvailable()) {
                up.add(b);
            }
            if (!b.isDraining()) {
                inService.add(b);
            }
        }
        boolean nowPanic = !up.isEmpty() && up.size() * 100L < (long) panicThresholdPercent * inService.size();
        if (nowPanic != panic) {
            panic = nowPanic;
            if (nowPanic) {
                log.warn("upstream {}: panic, {} of {} backends available (under {}%): balancing over all of them",
                        name, up.size(), inService.size(), panicThresholdPercent);
            } else {
                log.info("upstream {}: out of panic, {} of {} backends available", name, up.size(), all.size());
            }
        }
        available = List.copyOf(up);
        routable = (nowPanic ? inService : up).toArray(new Backend[0]);
    }
}
