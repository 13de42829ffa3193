package dev.rproxy.routing;

import dev.rproxy.backend.Backend;
import dev.rproxy.config.HealthCheckConfig;
import dev.rproxy.fleet.HealthChannel;
import dev.rproxy.fleet.HealthEvent;
import io.netty.util.concurrent.EventExecutorGroup;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Health shared across a fleet: what this proxy finds of its backends goes out on the fleet's
 * {@link HealthChannel}, and what the other members found is honoured here.
 *
 * <p>Honouring, for a backend of the same id <em>and</em> url (an event for a backend unknown
 * here, or one whose url differs, is ignored):
 * <ul>
 * <li>{@code ejected}: ejected here for the time the sender has left ({@code forMs}, timed on this
 *     proxy's clock from arrival), marked {@code fleet: ejected by <member> (<reason>)}, within
 *     this upstream's {@code maxEjectionPercent} when it has outlier detection; it ends when its
 *     time is up, when the sender says its ejection ended, or when a probe here passes (as this
 *     proxy's own ejections do).
 * <li>{@code down}: unavailable here ({@code fleet: down by <member> (<reason>)}) until the sender
 *     reports it {@code up}, a probe here passes, or {@code forMs} goes by without the sender
 *     confirming it: a member repeats {@code down} at each failed probe while its backend stays
 *     down and sends {@value #DOWN_INTERVALS} of its health intervals as {@code forMs}, so the
 *     word of a member that stopped or lost Redis lapses after three missed probes.
 * </ul>
 * What was learned from the fleet is never published again (no echo): {@link Backend} reports only
 * what this proxy found itself. Events are applied on the thread they arrive on, by {@link
 * Backend}'s thread-safe changes; ends by time are scheduled on the proxy's loops.
 */
final class SharedHealth implements Backend.HealthReporter, Consumer<HealthEvent> {
    private static final Logger log = LoggerFactory.getLogger(SharedHealth.class);

    /** A {@code down} holds for this many of the sender's health intervals without a confirmation. */
    static final int DOWN_INTERVALS = 3;

    private final HealthChannel channel;
    private final Upstreams upstreams;
    private final EventExecutorGroup timers;

    SharedHealth(HealthChannel channel, Upstreams upstreams, EventExecutorGroup timers) {
        this.channel = channel;
        this.upstreams = upstreams;
        this.timers = timers;
    }

    // ---------------------------------------------------------------- what this proxy found

    @Override
    public void ejected(Backend backend, long durationMs, String reason) {
        channel.publish(backend.id(), backend.url(), HealthEvent.Kind.EJECTED, durationMs, reason);
    }

    @Override
    public void ejectionOver(Backend backend) {
        channel.publish(backend.id(), backend.url(), HealthEvent.Kind.EJECTION_OVER, 0, "");
    }

    @Override
    public void down(Backend backend, String reason) {
        Upstream u = upstreams.upstreamOf(backend);
        long interval = u == null ? HealthCheckConfig.DEFAULT.intervalMs() : u.config().healthCheck().intervalMs();
        channel.publish(backend.id(), backend.url(), HealthEvent.Kind.DOWN, DOWN_INTERVALS * interval, reason);
    }

    @Override
    public void up(Backend backend) {
        channel.publish(backend.id(), backend.url(), HealthEvent.Kind.UP, 0, "");
    }

    // ---------------------------------------------------------------- what the others found

    @Override
    public void accept(HealthEvent event) {
        Backend backend = upstreams.backend(event.backend());
        if (backend == null || !backend.url().equals(event.url())) {
            log.debug("fleet: {} from {} ignored: no backend {} at {} here", event.kind().label(), event.from(),
                    event.backend(), event.url());
            return;
        }
        switch (event.kind()) {
            case EJECTED -> {
                Upstream u = upstreams.upstreamOf(backend);
                long until = u == null ? 0 : u.ejectFromFleet(backend, event.forMs(), event.from(), event.reason());
                if (until != 0) {
                    timers.next().schedule(() -> backend.uneject(until, "its ejection is over"),
                            Math.max(0, until - System.nanoTime()), TimeUnit.NANOSECONDS);
                }
            }
            case EJECTION_OVER -> backend.fleetEjectionOver(event.from());
            case DOWN -> {
                long until = backend.fleetDown(event.from(), event.forMs(), event.reason());
                timers.next().schedule(() -> backend.fleetDownExpired(until), event.forMs(), TimeUnit.MILLISECONDS);
            }
            case UP -> backend.fleetUp(event.from());
            default -> throw new IllegalStateException(event.kind().name());
        }
    }
}
