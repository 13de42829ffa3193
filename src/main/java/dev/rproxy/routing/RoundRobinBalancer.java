package dev.rproxy.routing;

import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.concurrent.FastThreadLocal;
import java.net.SocketAddress;
import java.util.concurrent.atomic.AtomicInteger;

/**
 * Round-robin over the routable backends, by their weights.
 *
 * <p>Equal weights and no slow start: one shared counter, so requests from all event loops together
 * are spread evenly; one atomic increment per request and no lock.
 *
 * <p>Otherwise nginx's smooth weighted round-robin. Each pick adds every backend's weight to its
 * current value, takes the backend with the largest, and subtracts the total of the weights from
 * it: weights 3 and 1 give a, a, b, a, and weights 5, 1, 1 give a, a, b, a, c, a, a, each backend's
 * share exact over a cycle and spread through it rather than in a burst. A backend warming up after
 * its return ({@code slowStartMs}) takes part with its share of the moment. The current values are
 * kept per thread (each event loop has its own), so a pick takes no lock and allocates nothing;
 * they start again from zero when the set of routable backends changes.
 */
public final class RoundRobinBalancer implements Balancer {
    private final BackendGroup group;
    private final long slowStartNanos;
    private final AtomicInteger next = new AtomicInteger();
    private final boolean weighted;
    private final FastThreadLocal<Smooth> smooth = new FastThreadLocal<>() {
        @Override
        protected Smooth initialValue() {
            return new Smooth();
        }
    };

    public RoundRobinBalancer(BackendGroup group, long slowStartNanos) {
        this.group = group;
        this.slowStartNanos = slowStartNanos;
        this.weighted = Weights.vary(group, slowStartNanos);
    }

    @Override
    public Backend pick(HttpRequest request, SocketAddress client) {
        Backend[] routable = group.routableSnapshot();
        if (routable.length == 0) {
            return null;
        }
        if (!weighted) {
            return routable[Math.floorMod(next.getAndIncrement(), routable.length)];
        }
        return smooth.get().pick(routable, slowStartNanos);
    }

    /** One thread's current values, for the routable set they were built for. */
    private static final class Smooth {
        private Backend[] set;
        private double[] current;

        Backend pick(Backend[] routable, long slowStartNanos) {
            if (routable != set) {
                set = routable;
                current = new double[routable.length];
            }
            long now = slowStartNanos > 0 ? System.nanoTime() : 0;
            double total = 0;
            int best = 0;
            for (int i = 0; i < routable.length; i++) {
                double weight = Weights.of(routable[i], now, slowStartNanos);
                current[i] += weight;
                total += weight;
                if (current[i] > current[best]) {
                    best = i;
                }
            }
            current[best] -= total;
            return routable[best];
        }
    }
}
