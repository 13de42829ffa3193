package dev.rproxy.routing;

import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import io.netty.handler.codec.http.HttpRequest;
import java.net.SocketAddress;
import java.util.Arrays;
import java.util.concurrent.ThreadLocalRandom;

/**
 * Consistent hashing with bounded loads: a request's key goes to the same backend as long as that
 * backend is routable, and when a backend leaves or returns only the keys on its share of the ring
 * move (about 1/N of them).
 *
 * <p>The ring has about {@value #POINTS_PER_BACKEND} points per backend, in proportion to its
 * weight, each the hash of the backend's id and a number, so it depends on the ids alone: proxies
 * with the same backends build the same ring. A key is served by the owner of the first point at
 * or after its hash, unless that backend has more requests in flight than 1.25 times its share of
 * the mean (Mirrokni, Thorup and Zadimoghaddam's bound, as in HAProxy's {@code hash-balance-factor
 * 125}); then the key passes on along the ring to the next backend under the bound, so one hot key
 * cannot bury a backend. A request without the key (no such field or cookie) goes to a random
 * backend.
 *
 * <p>The ring is built once per set of routable backends and read without a lock; a pick is a
 * binary search over a {@code long[]}.
 */
public final class ConsistentHashBalancer implements Balancer {
    static final int POINTS_PER_BACKEND = 160;
    /** A backend's load may reach this times its share of the mean before its keys pass on. */
    static final double LOAD_FACTOR = 1.25;

    private final BackendGroup group;
    private final HashKey key;
    private volatile Ring ring;

    ConsistentHashBalancer(BackendGroup group, HashKey key) {
        this.group = group;
        this.key = key;
        this.ring = new Ring(group.routableSnapshot());
    }

    @Override
    public Backend pick(HttpRequest request, SocketAddress client) {
        Backend[] routable = group.routableSnapshot();
        if (routable.length == 0) {
            return null;
        }
        Ring r = ring;
        if (r.set != routable) {
            r = new Ring(routable); // the set changed: built once, by whichever pick sees it first
            ring = r;
        }
        long h = key.hash(request, client);
        if (h == HashKey.NONE) {
            return routable[ThreadLocalRandom.current().nextInt(routable.length)];
        }
        return r.owner(h);
    }

    /** Sorted points, each with the index of the backend that owns it. */
    private static final class Ring {
        final Backend[] set;
        final long[] points;
        final int[] owners;
        final double totalWeight;

        Ring(Backend[] set) {
            this.set = set;
            double total = 0;
            for (Backend b : set) {
                total += b.weight();
            }
            this.totalWeight = total;
            int count = 0;
            int[] perBackend = new int[set.length];
            for (int i = 0; i < set.length; i++) {
                perBackend[i] = (int) Math.max(1, Math.round(POINTS_PER_BACKEND * set.length * set[i].weight() / total));
                count += perBackend[i];
            }
            long[] entries = new long[count * 2];
            int k = 0;
            for (int i = 0; i < set.length; i++) {
                String id = set[i].id();
                for (int v = 0; v < perBackend[i]; v++) {
                    String point = id + "#" + v;
                    entries[k++] = HashKey.hash(point, 0, point.length());
                    entries[k++] = i;
                }
            }
            // Sort by point, ties (vanishingly rare) by owner index, so every process agrees.
            Integer[] order = new Integer[count];
            for (int i = 0; i < count; i++) {
                order[i] = i;
            }
            Arrays.sort(order, (x, y) -> {
                int c = Long.compareUnsigned(entries[2 * x], entries[2 * y]);
                return c != 0 ? c : Long.compare(entries[2 * x + 1], entries[2 * y + 1]);
            });
            points = new long[count];
            owners = new int[count];
            for (int i = 0; i < count; i++) {
                points[i] = entries[2 * order[i]];
                owners[i] = (int) entries[2 * order[i] + 1];
            }
        }

        Backend owner(long h) {
            int start = firstAtOrAfter(h);
            if (set.length == 1) {
                return set[0];
            }
            long inFlight = 0;
            for (Backend b : set) {
                inFlight += b.activeConnections();
            }
            double perWeight = LOAD_FACTOR * (inFlight + 1) / totalWeight;
            for (int k = 0; k < points.length; k++) {
                Backend b = set[owners[(start + k) % points.length]];
                if (b.activeConnections() + 1 <= Math.ceil(perWeight * b.weight())) {
                    return b;
                }
            }
            return set[owners[start]];
        }

        /** The index of the first point at or after {@code h} (unsigned order), wrapping to 0. */
        private int firstAtOrAfter(long h) {
            int lo = 0;
            int hi = points.length;
            while (lo < hi) {
                int mid = (lo + hi) >>> 1;
                if (Long.compareUnsigned(points[mid], h) < 0) {
                    lo = mid + 1;
                } else {
                    hi = mid;
                }
            }
            return lo == points.length ? 0 : lo;
        }
    }
}
