package dev.rproxy.pool;

import java.util.concurrent.atomic.AtomicInteger;

/**
 * The connections the proxy holds, client and backend together, against the file descriptors it
 * may use for them, as nginx counts its {@code worker_connections}: a client buffering a slow body
 * or an idle keep-alive client holds one descriptor, a client in an exchange two. Clients are
 * admitted while the total is under {@link #budget()}; a backend connection may also use half of
 * the reserve beyond it, so that a client that was admitted can reach a backend (and health probes,
 * which are not counted, keep the other half). Counted on every loop and on the accepting thread:
 * atomics, touched once per connection, never per request.
 */
public final class ConnectionLedger {
    private final AtomicInteger clients = new AtomicInteger();
    private final AtomicInteger upstreams = new AtomicInteger();
    private final int budget;
    private final int upstreamBudget;

    /**
     * @param budget  descriptors for connections: the limit less those open at start and the
     *                reserve; {@code Integer.MAX_VALUE} when the limit is unknown
     * @param reserve descriptors kept free beyond {@code budget}
     */
    public ConnectionLedger(int budget, int reserve) {
        this.budget = budget;
        this.upstreamBudget = (int) Math.min(Integer.MAX_VALUE, (long) budget + reserve / 2);
    }

    public int budget() {
        return budget;
    }

    public int clients() {
        return clients.get();
    }

    public int upstreams() {
        return upstreams.get();
    }

    public int total() {
        return clients.get() + upstreams.get();
    }

    public void clientOpened() {
        clients.incrementAndGet();
    }

    public void clientClosed() {
        clients.decrementAndGet();
    }

    /** Whether a backend connection may be opened now. */
    boolean upstreamRoom() {
        return total() < upstreamBudget;
    }

    /** Counts a backend connection about to be opened; false (nothing counted) when none may be. */
    boolean upstreamOpening() {
        // Checked and counted in one step: loops opening connections at once cannot together
        // overshoot the budget.
        for (;;) {
            int open = upstreams.get();
            if (clients.get() + open >= upstreamBudget) {
                return false;
            }
            if (upstreams.compareAndSet(open, open + 1)) {
                return true;
            }
        }
    }

    void upstreamClosed() {
        upstreams.decrementAndGet();
    }
}
