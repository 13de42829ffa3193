package dev.rproxy.routing;

import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import io.netty.handler.codec.http.HttpRequest;
import java.net.SocketAddress;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Power of two random choices over the requests in flight: two routable backends drawn at random,
 * the one with fewer requests in flight per unit of weight wins (Envoy's and HAProxy's least-request
 * without a scan of every backend, and without the herd that "always the least loaded" sends to a
 * backend that just became the least loaded). A slow backend accumulates requests in flight and so
 * loses most draws; a backend warming up counts with its weight of the moment.
 */
public final class LeastRequestBalancer implements Balancer {
    private final BackendGroup group;
    private final long slowStartNanos;

    public LeastRequestBalancer(BackendGroup group, long slowStartNanos) {
        this.group = group;
        this.slowStartNanos = slowStartNanos;
    }

    @Override
    public Backend pick(HttpRequest request, SocketAddress client) {
        Backend[] routable = group.routableSnapshot();
        int n = routable.length;
        if (n <= 1) {
            return n == 0 ? null : routable[0];
        }
        ThreadLocalRandom random = ThreadLocalRandom.current();
        int i = random.nextInt(n);
        int j = random.nextInt(n - 1);
        if (j >= i) {
            j++;
        }
        Backend a = routable[i];
        Backend b = routable[j];
        long now = slowStartNanos > 0 ? System.nanoTime() : 0;
        double wa = slowStartNanos > 0 ? a.weightAt(now, slowStartNanos) : a.weight();
        double wb = slowStartNanos > 0 ? b.weightAt(now, slowStartNanos) : b.weight();
        // (inFlight + 1) / weight, compared without dividing; ties go to the first drawn (random).
        double costA = (a.activeConnections() + 1) * wb;
        double costB = (b.activeConnections() + 1) * wa;
        return costB < costA ? b : a;
    }
}
