package dev.rproxy.fleet;

import io.lettuce.core.pubsub.RedisPubSubAdapter;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;
import java.util.concurrent.atomic.AtomicLong;
import java.util.function.Consumer;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * The fleet's health news: what this proxy saw of its backends goes out on the Redis channel
 * {@value #CHANNEL} ({@link HealthEvent}, one message per change), and what the other members saw
 * comes in to whoever {@link #listen}s. A message from this proxy itself is dropped on arrival.
 *
 * <p>Publishing goes over the fleet's command connection and never waits: a message that cannot
 * go out (Redis down, no answer within {@code timeoutMs}) is dropped and logged, since what it
 * said expires by time on the others anyway. Receiving takes a publish/subscribe connection of its
 * own, opened with the fleet and, until the first attempt succeeds, again at each heartbeat;
 * Lettuce then reconnects it and subscribes it again by itself. Messages arrive on Lettuce's I/O
 * thread (one of the proxy's loops, see {@link RedisLink}); the listener must only make
 * thread-safe changes there.
 */
public final class HealthChannel implements AutoCloseable {
    private static final Logger log = LoggerFactory.getLogger(HealthChannel.class);

    /** Where the fleet's health events are published. */
    public static final String CHANNEL = "rproxy:fleet:health";

    private final RedisLink link;
    private final String id;
    private final AtomicLong published = new AtomicLong();
    private final AtomicLong received = new AtomicLong();
    private final AtomicBoolean connecting = new AtomicBoolean();
    private volatile StatefulRedisPubSubConnection<String, String> connection;
    private volatile Consumer<HealthEvent> listener = e -> {};

    HealthChannel(RedisLink link, String id) {
        this.link = link;
        this.id = id;
    }

    /** Opens and subscribes the connection unless it is open or opening; the first success is kept for good. */
    void subscribe() {
        if (connection != null || link.closed() || !connecting.compareAndSet(false, true)) {
            return;
        }
        CompletableFuture<StatefulRedisPubSubConnection<String, String>> connect;
        try {
            connect = link.connectPubSub();
        } catch (RuntimeException e) {
            connect = CompletableFuture.failedFuture(e); // the client is shutting down
        }
        connect.thenCompose(c -> {
            c.addListener(new RedisPubSubAdapter<>() {
                @Override
                public void message(String channel, String message) {
                    arrived(message);
                }
            });
            return c.async().subscribe(CHANNEL).toCompletableFuture().handle((ok, e) -> {
                if (e != null) {
                    c.closeAsync();
                    throw new java.util.concurrent.CompletionException(e);
                }
                return c;
            });
        }).whenComplete((c, e) -> {
            if (c != null) {
                if (link.closed()) {
                    c.closeAsync();
                } else {
                    connection = c;
                    log.debug("fleet: subscribed to {}", CHANNEL);
                }
            } else {
                log.debug("fleet: subscribing to {} failed: {}", CHANNEL, RedisLink.unwrap(e).toString());
            }
            connecting.set(false);
        });
    }

    /** Whether the subscription was made (Lettuce keeps it up from then on). */
    public boolean subscribed() {
        StatefulRedisPubSubConnection<String, String> c = connection;
        return c != null && c.isOpen();
    }

    private void arrived(String message) {
        HealthEvent event = HealthEvent.decode(message);
        if (event == null) {
            log.debug("fleet: not a health event on {}: {}", CHANNEL, message);
            return;
        }
        if (event.from().equals(id)) {
            return;
        }
        try {
            listener.accept(event);
        } catch (RuntimeException e) {
            log.warn("fleet: health event {} not applied: {}", message, e.toString());
        } finally {
            received.incrementAndGet(); // after: whoever sees the count sees what the event changed
        }
    }

    /** Where the other members' events go from now on (the upstreams in force; a reload replaces them). */
    public void listen(Consumer<HealthEvent> listener) {
        this.listener = listener;
    }

    /**
     * Tells the fleet that {@code backend} at {@code url} was {@code kind} here, for {@code forMs}
     * (ejected, down) from now. Returns at once; never throws.
     */
    public void publish(String backend, String url, HealthEvent.Kind kind, long forMs, String reason) {
        long until = forMs == 0 ? 0 : System.currentTimeMillis() + forMs;
        String message = new HealthEvent(id, backend, url, kind, forMs, until, reason).encode();
        link.publish(CHANNEL, message).whenComplete((subscribers, e) -> {
            if (e != null) {
                log.info("fleet: health event for backend {} ({}) not published: {}", backend, kind.label(),
                        RedisLink.unwrap(e).toString());
            } else {
                published.incrementAndGet();
            }
        });
    }

    /** Events this proxy published (Redis took them). */
    public long published() {
        return published.get();
    }

    /** Events from other members that arrived. */
    public long received() {
        return received.get();
    }

    @Override
    public void close() {
        StatefulRedisPubSubConnection<String, String> c = connection;
        if (c != null) {
            c.close();
        }
    }
}
