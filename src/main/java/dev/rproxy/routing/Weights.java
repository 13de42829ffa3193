package dev.rproxy.routing;

import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;

/** Backends' weights of the moment (slow start scales a returning backend's) and draws by weight. */
final class Weights {
    private Weights() {
    }

    /**
     * Whether picks must weigh: the backends' weights differ, or slow start may make them differ,
     * or they are discovered (an SRV answer may bring other weights later); else a balancer may
     * treat them as equal, which is cheaper.
     */
    static boolean vary(BackendGroup group, long slowStartNanos) {
        return slowStartNanos > 0 || group.discovered()
                || group.all().stream().mapToInt(Backend::weight).distinct().count() > 1;
    }

    /** {@code b}'s weight at {@code now}; its configured weight when slow start is off ({@code slowStartNanos} 0). */
    static double of(Backend b, long now, long slowStartNanos) {
        return slowStartNanos > 0 ? b.weightAt(now, slowStartNanos) : b.weight();
    }

    static double total(Backend[] backends, long now, long slowStartNanos) {
        double total = 0;
        for (Backend b : backends) {
            total += of(b, now, slowStartNanos);
        }
        return total;
    }

    /** The backend at {@code point} (0 <= point < total) of the weights laid end to end. */
    static Backend draw(Backend[] backends, double point, long now, long slowStartNanos) {
        for (Backend b : backends) {
            point -= of(b, now, slowStartNanos);
            if (point < 0) {
                return b;
            }
        }
        return backends[backends.length - 1];
    }
}
