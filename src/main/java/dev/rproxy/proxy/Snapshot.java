package dev.rproxy.proxy;

import dev.rproxy.admin.ProxyMetrics;
import dev.rproxy.config.LimitsConfig;
import dev.rproxy.config.SecurityConfig;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.edge.ClientIdentity;
import dev.rproxy.http.IdleClients;
import dev.rproxy.memory.BufferBudget;
import dev.rproxy.pool.UpstreamPools;
import dev.rproxy.routing.Upstreams;
import io.netty.util.concurrent.EventExecutor;
import java.util.Map;

/**
 * Everything an exchange uses, in one immutable value: its route and how to pick a backend, where its
 * connections come from, where failures are reported, the deadlines and limits. An exchange reads
 * the {@link Current current} snapshot once, when its request head arrives, and keeps it to its
 * end; a new configuration is a new snapshot swapped in, and objects that outlive it (backend
 * state, pools, the buffer budget) are carried over by identity.
 *
 * @param upstreams the upstream groups (backends, balancers, passive health, retry budgets) and the
 *     router that picks one for a request
 * @param limits request bodies over {@code maxBodyBytes} are cut off, and ones slower than {@code
 *     minBodyRate} refused
 * @param security the optional request checks at the edge
 * @param local requests answered by the proxy itself
 * @param budget the process-wide buffer budget: new requests are refused while it is exhausted
 * @param idleClients each event loop's idle client connections, oldest first
 * @param metrics the per-event-loop request counters
 * @param clientIdentity which peers are believed about their clients ({@code trustedProxies}); a
 *     connection takes it when accepted, as it does the limits
 */
public record Snapshot(
        Upstreams upstreams,
        UpstreamPools pools,
        TimeoutsConfig timeouts,
        AccessLog accessLog,
        LimitsConfig limits,
        SecurityConfig security,
        LocalResponder local,
        BufferBudget budget,
        Map<EventExecutor, IdleClients> idleClients,
        ProxyMetrics metrics,
        ClientIdentity clientIdentity) {

    /**
     * The snapshot in force. Read on event loops once per exchange (one volatile read); swapped
     * from any thread, after which new exchanges use the new one and exchanges in progress finish
     * with the one they started with.
     */
    public static final class Current {
        private volatile Snapshot snapshot;

        public Current(Snapshot initial) {
            this.snapshot = initial;
        }

        public Snapshot get() {
            return snapshot;
        }

        public void set(Snapshot next) {
            this.snapshot = next;
        }
    }
}
