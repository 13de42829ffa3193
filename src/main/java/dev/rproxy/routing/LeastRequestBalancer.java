package dev.rproxy.routing;

import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import io.netty.handler.codec.http.HttpRequest;
import java.net.SocketAddress;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Power of two random choices over the requests in flight: two routable backends drawn at random
 * (each in proportion to its weight), and the one with fewer requests in flight per unit of weight
 * wins, the first drawn on a tie. This is least-request without a scan of every backend's load, and
 * without the herd that "always the least loaded" sends to whichever backend just became the least
 * loaded. A slow backend accumulates requests in flight and so loses most draws; with nothing in
 * flight every draw ties and traffic follows the weights exactly as random choice would. A backend
 * warming up ({@code slowStartMs}) counts with its weight of the moment.
 */
public final class LeastRequestBalancer implements Balancer {
    private final BackendGroup group;
    private final long slowStartNanos;
    private final boolean weighted;

    public LeastRequestBalancer(BackendGroup group, long slowStartNanos) {
        this.group = group;
        this.slowStartNanos = slowStartNanos;
        this.weighted = Weights.vary(group, slowStartNanos);
    }

    @Override
    public Backend pick(HttpRequest request, SocketAddress client) {
        Backend[] routable = group.routableSnapshot();
        int n = routable.length;
        if (n <= 1) {
            return n == 0 ? null : routable[0];
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        if (!weighted) {
            int i = random.nextInt(n);
            int j = random.nextInt(n - 1);
            Backend a = routable[i];
            Backend b = routable[j >= i ? j + 1 : j];
            return b.activeConnections() < a.activeConnections() ? b : a;
        }
        long now = slowStartNanos > 0 ? System.nanoTime() : 0;
        double total = Weights.total(routable, now, slowStartNanos);
        Backend a = Weights.draw(routable, random.nextDouble(total), now, slowStartNanos);
        Backend b = Weights.draw(routable, random.nextDouble(total), now, slowStartNanos);
        // inFlight / weight compared without dividing.
        return b.activeConnections() * Weights.of(a, now, slowStartNanos)
                < a.activeConnections() * Weights.of(b, now, slowStartNanos) ? b : a;
    }
}
