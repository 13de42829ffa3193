package dev.rproxy.edge;

import java.util.concurrent.ScheduledExecutorService;
import java.util.concurrent.ScheduledThreadPoolExecutor;

/**
 * The one thread the edge policies do their background work on: sweeping idle rate-limit keys,
 * reading and refreshing key sets. Never an event loop, so a file read or a long sweep delays no
 * request; a daemon, so it does not keep the process alive.
 */
final class Background {
    private static ScheduledExecutorService executor;

    private Background() {
    }

    static synchronized ScheduledExecutorService executor() {
        if (executor == null) {
            ScheduledThreadPoolExecutor e = new ScheduledThreadPoolExecutor(1, r -> {
                Thread t = new Thread(r, "edge-background");
                t.setDaemon(true);
                return t;
            });
            e.setRemoveOnCancelPolicy(true);
            executor = e;
        }
        return executor;
    }
}
