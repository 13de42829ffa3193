package dev.rproxy.fleet;

import io.lettuce.core.ClientOptions;
import io.lettuce.core.RedisChannelHandler;
import io.lettuce.core.RedisClient;
import io.lettuce.core.RedisConnectionException;
import io.lettuce.core.RedisConnectionStateListener;
import io.lettuce.core.RedisNoScriptException;
import io.lettuce.core.RedisURI;
import io.lettuce.core.ScriptOutputType;
import io.lettuce.core.SetArgs;
import io.lettuce.core.SocketOptions;
import io.lettuce.core.TimeoutOptions;
import io.lettuce.core.api.StatefulRedisConnection;
import io.lettuce.core.api.async.RedisAsyncCommands;
import io.lettuce.core.codec.StringCodec;
import io.lettuce.core.pubsub.StatefulRedisPubSubConnection;
import io.lettuce.core.resource.ClientResources;
import io.lettuce.core.resource.DefaultClientResources;
import io.lettuce.core.resource.Delay;
import io.lettuce.core.resource.Transports;
import io.netty.channel.Channel;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.DefaultEventExecutorGroup;
import io.netty.util.concurrent.DefaultThreadFactory;
import io.netty.util.concurrent.EventExecutorGroup;
import java.net.SocketAddress;
import java.nio.charset.StandardCharsets;
import java.security.MessageDigest;
import java.security.NoSuchAlgorithmException;
import java.time.Duration;
import java.util.HexFormat;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CompletionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * One Lettuce connection to Redis, and the Lua scripts run over it.
 *
 * <p>Never blocks: every call returns a future that fails after {@code timeoutMs} at the latest.
 * While the connection is down, calls fail at once ({@code REJECT_COMMANDS}) instead of queueing
 * up; Lettuce reconnects a connection it once had by itself (10 ms to 1 s apart), and {@link
 * #connect()} is called again by the fleet's heartbeat until the first one is made.
 *
 * <p>Threads: the connection is a channel on one of the proxy's event loops when Lettuce would pick
 * the proxy's channel class (epoll, the default on Linux); otherwise (a proxy on NIO or io_uring)
 * on one I/O thread of Lettuce's own, since a channel must match its loop's transport. Futures
 * complete on that loop; their callbacks here only update atomics and send the next command.
 * Lettuce's other work (reconnect scheduling) runs on one executor thread of the fleet's, which
 * also runs the heartbeat.
 */
final class RedisLink implements AutoCloseable {
    /** A Lua script, run by its SHA-1 and sent whole only when Redis does not have it (after a restart). */
    record Script(String text, String sha) {
        static Script of(String text) {
            try {
                byte[] digest = MessageDigest.getInstance("SHA-1").digest(text.getBytes(StandardCharsets.UTF_8));
                return new Script(text, HexFormat.of().formatHex(digest));
            } catch (NoSuchAlgorithmException e) {
                throw new IllegalStateException(e);
            }
        }
    }

    private final RedisURI uri;
    private final long timeoutMs;
    private final EventExecutorGroup executors;
    private final ClientResources resources;
    private final RedisClient client;
    private final AtomicBoolean connecting = new AtomicBoolean();
    private volatile StatefulRedisConnection<String, String> connection;
    private volatile boolean closed;

    /**
     * @param loops        the proxy's worker loops, lent to Lettuce when their transport is the one it picks
     * @param channelClass the proxy's socket channel class
     * @param listener     told when the connection is lost and when it is back
     */
    RedisLink(String url, long timeoutMs, EventLoopGroup loops, Class<? extends Channel> channelClass,
              RedisConnectionStateListener listener) {
        this.uri = RedisURI.create(url);
        this.uri.setTimeout(Duration.ofMillis(Math.max(timeoutMs, 1000)));
        this.timeoutMs = timeoutMs;
        this.executors = new DefaultEventExecutorGroup(1, new DefaultThreadFactory("fleet", true));
        DefaultClientResources.Builder builder = DefaultClientResources.builder()
                .eventExecutorGroup(executors)
                .reconnectDelay(Delay.exponential(Duration.ofMillis(10), Duration.ofSeconds(1), 2, TimeUnit.MILLISECONDS));
        if (loops != null && Transports.socketChannelClass() == channelClass) {
            builder.eventLoopGroupProvider(new SharedLoops(loops));
        } else {
            builder.ioThreadPoolSize(1);
        }
        this.resources = builder.build();
        this.client = RedisClient.create(resources);
        client.setOptions(ClientOptions.builder()
                .autoReconnect(true)
                .disconnectedBehavior(ClientOptions.DisconnectedBehavior.REJECT_COMMANDS)
                // Lettuce's own deadline only clears commands a dead server never answers; callers
                // get timeoutMs through orTimeout, which does not wait for a timer wheel's tick.
                .timeoutOptions(TimeoutOptions.enabled(Duration.ofMillis(Math.max(timeoutMs, 1000))))
                .socketOptions(SocketOptions.builder().connectTimeout(Duration.ofMillis(Math.max(timeoutMs, 1000)))
                        .keepAlive(true).tcpNoDelay(true).build())
                .build());
        client.addListener(listener);
    }

    /** Where the heartbeat runs. */
    EventExecutorGroup executors() {
        return executors;
    }

    /** Whether the connection is up now. */
    boolean open() {
        StatefulRedisConnection<String, String> c = connection;
        return c != null && c.isOpen();
    }

    /**
     * Opens the first connection, unless one is open or opening (later losses are Lettuce's to
     * repair). The future completes when this attempt ends, either way.
     */
    CompletableFuture<Void> connect() {
        if (closed || connection != null || !connecting.compareAndSet(false, true)) {
            return CompletableFuture.completedFuture(null);
        }
        return client.connectAsync(StringCodec.UTF8, uri).toCompletableFuture()
                .handle((c, e) -> {
                    connecting.set(false);
                    if (c != null) {
                        if (closed) {
                            c.closeAsync();
                        } else {
                            connection = c;
                        }
                    }
                    return null;
                });
    }

    /**
     * Runs {@code script} with {@code keys} and {@code args}: its reply (a Lua table as a list), or
     * a failure when not connected, on an error, or after {@code timeoutMs}.
     */
    CompletableFuture<List<Object>> run(Script script, String[] keys, String... args) {
        StatefulRedisConnection<String, String> c = connection;
        if (c == null || !c.isOpen()) {
            return CompletableFuture.failedFuture(new RedisConnectionException("not connected to " + uri.getHost()
                    + ":" + uri.getPort()));
        }
        RedisAsyncCommands<String, String> commands = c.async();
        CompletableFuture<List<Object>> reply = commands.<List<Object>>evalsha(script.sha(), ScriptOutputType.MULTI, keys, args)
                .toCompletableFuture()
                .exceptionallyCompose(e -> unwrap(e) instanceof RedisNoScriptException
                        ? commands.<List<Object>>eval(script.text(), ScriptOutputType.MULTI, keys, args).toCompletableFuture()
                        : CompletableFuture.failedFuture(unwrap(e)));
        return reply.orTimeout(timeoutMs, TimeUnit.MILLISECONDS);
    }

    /**
     * Publishes {@code message} on {@code channel}: how many subscribers got it, or a failure when
     * not connected, on an error, or after {@code timeoutMs}.
     */
    CompletableFuture<Long> publish(String channel, String message) {
        StatefulRedisConnection<String, String> c = connection;
        if (c == null || !c.isOpen()) {
            return CompletableFuture.failedFuture(new RedisConnectionException("not connected to " + address()));
        }
        return c.async().publish(channel, message).toCompletableFuture().orTimeout(timeoutMs, TimeUnit.MILLISECONDS);
    }

    /**
     * {@code SET key value NX PX ms}: whether this call set it (no one held it), or a failure when
     * not connected, on an error, or after {@code timeoutMs}.
     */
    CompletableFuture<Boolean> setIfAbsent(String key, String value, long ms) {
        StatefulRedisConnection<String, String> c = connection;
        if (c == null || !c.isOpen()) {
            return CompletableFuture.failedFuture(new RedisConnectionException("not connected to " + address()));
        }
        return c.async().set(key, value, SetArgs.Builder.nx().px(ms)).toCompletableFuture()
                .thenApply("OK"::equals)
                .orTimeout(timeoutMs, TimeUnit.MILLISECONDS);
    }

    /**
     * Opens a publish/subscribe connection of its own (a subscribed connection takes no other
     * command); Lettuce reconnects it and subscribes it again to its channels by itself.
     */
    CompletableFuture<StatefulRedisPubSubConnection<String, String>> connectPubSub() {
        if (closed) {
            return CompletableFuture.failedFuture(new RedisConnectionException("closed"));
        }
        return client.connectPubSubAsync(StringCodec.UTF8, uri).toCompletableFuture();
    }

    /** Whether {@link #close()} was called. */
    boolean closed() {
        return closed;
    }

    static Throwable unwrap(Throwable e) {
        return e instanceof CompletionException && e.getCause() != null ? e.getCause() : e;
    }

    /** {@code host:port}, for messages. */
    String address() {
        return uri.getHost() + ":" + uri.getPort();
    }

    /** Closes the connection and Lettuce's resources; the proxy's loops stay up. Blocks: not on an event loop. */
    @Override
    public void close() {
        closed = true;
        StatefulRedisConnection<String, String> c = connection;
        if (c != null) {
            c.close();
        }
        client.shutdown(Duration.ZERO, Duration.ofSeconds(2));
        resources.shutdown(0, 2, TimeUnit.SECONDS).awaitUninterruptibly(3000);
        executors.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(3000);
    }

    /**
     * A listener with the two events the fleet cares about, of the command connection only: the
     * publish/subscribe connection of {@link HealthChannel} comes and goes on its own.
     */
    interface Events extends RedisConnectionStateListener {
        void connected();

        void disconnected();

        @Override
        default void onRedisConnected(RedisChannelHandler<?, ?> connection, SocketAddress socketAddress) {
            if (!(connection instanceof StatefulRedisPubSubConnection<?, ?>)) {
                connected();
            }
        }

        @Override
        default void onRedisDisconnected(RedisChannelHandler<?, ?> connection) {
            if (!(connection instanceof StatefulRedisPubSubConnection<?, ?>)) {
                disconnected();
            }
        }

        @Override
        default void onRedisExceptionCaught(RedisChannelHandler<?, ?> connection, Throwable cause) {
            // a failed command fails its future, which the caller sees
        }
    }
}
