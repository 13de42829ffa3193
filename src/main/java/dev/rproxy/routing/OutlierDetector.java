package dev.rproxy.routing;

import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendGroup;
import dev.rproxy.config.OutlierConfig;
import io.netty.util.concurrent.EventExecutorGroup;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Passive health of one upstream: {@code consecutiveFailures} failed requests in a row from one
 * backend (a connect failure, a reset before the response, a 5xx) eject it for {@code
 * baseEjectionMs}, doubled at each ejection after that up to {@code maxEjectionMs}, unless {@code
 * maxEjectionPercent} of the group is ejected already. The ejection ends when its time is up, or
 * earlier when an active probe finds the backend healthy.
 *
 * <p>Thread-safety: results arrive from every event loop. A success costs a read of the backend's
 * failure count (a write only when it was not zero); the rare ejection decision is taken under this
 * object's monitor, so two loops cannot both eject past the percentage.
 */
public final class OutlierDetector {
    private static final Logger log = LoggerFactory.getLogger(OutlierDetector.class);

    private final BackendGroup group;
    private final OutlierConfig config;
    private final EventExecutorGroup timers;

    public OutlierDetector(BackendGroup group, OutlierConfig config, EventExecutorGroup timers) {
        this.group = group;
        this.config = config;
        this.timers = timers;
    }

    public void success(Backend backend) {
        backend.passiveSuccess();
    }

    /** One failed request; {@code reason} says what failed ("status 503", "connection refused"). */
    public void failure(Backend backend, String reason) {
        int inARow = backend.passiveFailure();
        if (inARow >= config.consecutiveFailures() && !backend.isEjected()) {
            eject(backend, inARow + " failures in a row, the last: " + reason);
        }
    }

    /** The most backends that may be ejected at once: the share of the group, rounded down. */
    int maxEjected() {
        return group.all().size() * config.maxEjectionPercent() / 100;
    }

    /**
     * Ejects {@code backend} for {@code durationMs} because member {@code from} of the fleet did,
     * within {@code maxEjectionPercent} as this detector's own ejections: the key to its {@link
     * Backend#uneject} (the caller times it), or 0 when it was not ejected.
     */
    synchronized long ejectFromFleet(Backend backend, long durationMs, String from, String reason) {
        if (ejectedNow() >= maxEjected()) {
            log.debug("upstream {}: backend {} not ejected as {} did: the most maxEjectionPercent {} allows are",
                    group.name(), backend.id(), from, config.maxEjectionPercent());
            return 0;
        }
        return backend.ejectFromFleet(durationMs, from, reason);
    }

    private int ejectedNow() {
        int ejected = 0;
        for (Backend b : group.all()) {
            if (b.isEjected()) {
                ejected++;
            }
        }
        return ejected;
    }

    private synchronized void eject(Backend backend, String reason) {
        int ejected = ejectedNow();
        if (ejected >= maxEjected()) {
            log.debug("upstream {}: backend {} not ejected ({}): {} of {} ejected already, the most maxEjectionPercent"
                    + " {} allows", group.name(), backend.id(), reason, ejected, group.all().size(),
                    config.maxEjectionPercent());
            return;
        }
        long until = backend.eject(config.baseEjectionMs(), config.maxEjectionMs(), reason);
        if (until != 0) {
            timers.next().schedule(() -> backend.uneject(until, "its ejection is over"),
                    Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
        }
    }
}
