package dev.rproxy.backend;

import dev.rproxy.config.HealthCheckConfig;
import dev.rproxy.pool.Connects;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.EventLoopGroup;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.HttpClientCodec;
import io.netty.handler.codec.http2.DefaultHttp2Connection;
import io.netty.handler.codec.http2.Http2Connection;
import io.netty.handler.codec.http2.HttpConversionUtil;
import io.netty.handler.codec.http2.HttpToHttp2ConnectionHandlerBuilder;
import io.netty.handler.codec.http2.InboundHttp2ToHttpAdapterBuilder;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayList;
import java.util.HashMap;
import java.util.Map;
import java.util.concurrent.CompletableFuture;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * Active health checks: every {@code intervalMs} each backend gets {@code GET <path>} over a
 * connection of its own (never a pooled one, so a probe neither waits behind traffic nor hides a
 * broken pool), in the backend's protocol (HTTP/1.1 or HTTP/2, over TLS for https), answered
 * within {@code timeoutMs}; a 2xx is a success, anything else a failure.
 * The rise/fall thresholds live in {@link Backend}, which logs transitions only and keeps the last
 * few probes to explain its state. A passing probe also ends an ejection by passive health (one
 * learned from the fleet too) and a down reported by another member; a failing one while the
 * backend is down confirms it to the fleet ({@link Backend#confirmDown}).
 *
 * <p>Spread over a fleet ({@code spread}, with a {@link Gate}): before each round's probe the
 * gate is asked, off the request path, whether this proxy probes the backend this time; when it
 * says no, the round is skipped and the backend's state here follows what the prober publishes.
 * A backend this proxy's own probes marked down is probed every round regardless: its {@code
 * healthy} flag is this proxy's alone (what another member publishes never sets it), so only its
 * own passing probe can clear it, and it confirms the down to the fleet meanwhile.
 *
 * <p>Threading: each backend's probes run on one event loop chosen at start; a probe's state is
 * confined to that loop. Backends of a discovered group come and go ({@link #add}, {@link
 * #remove}) from any thread: the set of probes is guarded by this object's monitor.
 */
public final class HealthChecker implements AutoCloseable {
    private final BackendGroup group;
    private final HealthCheckConfig config;
    private final Bootstrap bootstrap;
    // Guarded by this.
    private final Map<Backend, Probe> probes = new HashMap<>();
    private boolean started;
    private boolean closed;
    private volatile Gate gate;

    /** Decides whether this proxy probes a backend this round (another fleet member may). */
    public interface Gate {
        /** Completes with true to probe, false to skip this round; never fails. */
        CompletableFuture<Boolean> mayProbe(Backend backend, long intervalMs);
    }

    public HealthChecker(
            BackendGroup group,
            HealthCheckConfig config,
            EventLoopGroup loops,
            Class<? extends Channel> channelClass) {
        this.group = group;
        this.config = config;
        this.bootstrap =
                new Bootstrap()
                        .group(loops)
                        .channel(channelClass)
                        .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, config.timeoutMs()))
                        .option(ChannelOption.TCP_NODELAY, true);
    }

    /** Asks {@code gate} before each probe from now on ({@code null}: probe every round). */
    public void gate(Gate gate) {
        this.gate = gate;
    }

    /** Starts probing; the first probe of every backend is sent at once. */
    public synchronized void start() {
        started = true;
        for (Backend backend : group.all()) {
            add(backend);
        }
    }

    /** Probes {@code backend} too (one that joined a discovered group), its first probe at once; nothing before {@link #start}. */
    public synchronized void add(Backend backend) {
        if (!started || closed || probes.containsKey(backend)) {
            return;
        }
        EventLoop loop = bootstrap.config().group().next();
        Probe probe = new Probe(backend, loop);
        probe.schedule = loop.scheduleWithFixedDelay(probe::run, 0, config.intervalMs(), TimeUnit.MILLISECONDS);
        probes.put(backend, probe);
    }

    /** Stops probing {@code backend} (it left its group); a probe in flight ends on its own. */
    public synchronized void remove(Backend backend) {
        Probe probe = probes.remove(backend);
        if (probe != null) {
            probe.schedule.cancel(false);
            probe.firstDone.countDown();
        }
    }

    /**
     * Waits, from a thread that is not an event loop, until every backend probed now has had its
     * first result or the time is up.
     */
    public boolean awaitFirstRound(long timeout, TimeUnit unit) throws InterruptedException {
        List<Probe> now;
        synchronized (this) {
            now = new ArrayList<>(probes.values());
        }
        long deadline = System.nanoTime() + unit.toNanos(timeout);
        for (Probe p : now) {
            if (!p.firstDone.await(Math.max(0, deadline - System.nanoTime()), TimeUnit.NANOSECONDS)) {
                return false;
            }
        }
        return true;
    }

    /** Counts a failure seen on real traffic (refused or timed-out connection) as a failed probe. */
    public void recordPassiveFailure(Backend backend, String reason) {
        backend.recordFailure(config.unhealthyThreshold(), reason);
    }

    @Override
    public synchronized void close() {
        closed = true;
        for (Probe p : probes.values()) {
            p.schedule.cancel(false);
        }
        probes.clear();
    }

    /**
     * For an HTTP/2 backend: the probe is sent on stream 1 of a connection of its own, and its
     * answer comes back as one HTTP/1 message, so the probe reads the same status either way.
     */
    private static ChannelHandler http2Codec() {
        Http2Connection connection = new DefaultHttp2Connection(false);
        return new HttpToHttp2ConnectionHandlerBuilder()
                .connection(connection)
                .frameListener(new InboundHttp2ToHttpAdapterBuilder(connection)
                        .maxContentLength(64 * 1024)
                        .propagateSettings(false)
                        .build())
                .build();
    }

    /** One backend's probe loop; its flags are confined to {@link #loop}. */
    private final class Probe {
        private final Backend backend;
        private final EventLoop loop;
        private final CountDownLatch firstDone = new CountDownLatch(1);
        /** Set under the checker's monitor once scheduled. */
        private ScheduledFuture<?> schedule;
        private boolean inFlight;

        Probe(Backend backend, EventLoop loop) {
            this.backend = backend;
            this.loop = loop;
        }

        /**
         * Starts this round's probe unless the last one is still within its timeout. Never throws:
         * an exception would cancel the periodic task. A probe that cannot even be started (no
         * socket for it, a failed registration) is a failed probe, and {@link #inFlight} is
         * cleared again before this returns.
         */
        void run() {
            if (inFlight) {
                return;
            }
            inFlight = true;
            Gate g = gate;
            if (g == null || !backend.isHealthy()) { // down by its own probes: only they can take it back
                send();
                return;
            }
            CompletableFuture<Boolean> asked;
            try {
                asked = g.mayProbe(backend, config.intervalMs());
            } catch (RuntimeException e) {
                asked = CompletableFuture.completedFuture(true);
            }
            asked.whenComplete((mine, e) -> loop.execute(() -> {
                if (e != null || Boolean.TRUE.equals(mine)) {
                    send();
                } else {
                    inFlight = false; // another member probes this round
                    firstDone.countDown();
                }
            }));
        }

        /** Sends this round's probe; on {@link #loop}, {@link #inFlight} set. */
        private void send() {
            ProbeHandler handler = new ProbeHandler(this);
            try {
                Bootstrap probeBootstrap = bootstrap.clone(loop)
                        .remoteAddress(backend.host(), backend.port())
                        .handler(new ChannelInitializer<Channel>() {
                            @Override
                            protected void initChannel(Channel ch) {
                                if (backend.tls() != null) {
                                    ch.pipeline().addLast(backend.tls().newHandler(ch.alloc()));
                                }
                                if (backend.http2()) {
                                    ch.pipeline().addLast(http2Codec(), handler);
                                } else {
                                    ch.pipeline().addLast(new HttpClientCodec(), handler);
                                }
                            }
                        });
                ChannelFuture connect = Connects.start(probeBootstrap,
                        cause -> handler.finish(false, "connect failed: " + Connects.describe(cause)));
                if (connect == null) {
                    return;
                }
                handler.attach(connect.channel());
                connect.addListener((Future<? super Void> f) -> {
                    if (!f.isSuccess()) {
                        handler.finish(false, "connect failed: " + Connects.describe(f.cause()));
                    }
                });
            } catch (RuntimeException e) {
                handler.finish(false, "probe not started: " + Connects.describe(e));
            }
        }

        void done(boolean ok, String reason, long latencyMs) {
            inFlight = false;
            backend.recordProbe(ok, reason, latencyMs);
            if (ok) {
                backend.recordSuccess(config.healthyThreshold());
                backend.uneject(0, "an active probe passed"); // as Envoy does: the probe vouches for it
            } else {
                boolean wasDown = !backend.isHealthy();
                backend.recordFailure(config.unhealthyThreshold(), reason);
                if (wasDown) {
                    backend.confirmDown();
                }
            }
            firstDone.countDown();
        }
    }

    /**
     * Sends one probe request and reads the status line of its answer. {@link #channel} is set
     * only once registered, so {@link #finish} never closes a channel that has no event loop.
     */
    private final class ProbeHandler extends ChannelInboundHandlerAdapter {
        private final Probe probe;
        private final long startNanos = System.nanoTime();
        private Channel channel;
        private ScheduledFuture<?> deadline;
        private boolean finished;

        ProbeHandler(Probe probe) {
            this.probe = probe;
        }

        /** Takes the registered probe channel; the deadline runs from here. */
        void attach(Channel ch) {
            channel = ch;
            if (finished) {
                ch.close(); // decided while connecting, before the channel was known here
                return;
            }
            deadline = probe.loop.schedule(() -> finish(false, "no answer within " + config.timeoutMs() + " ms"),
                    config.timeoutMs(), TimeUnit.MILLISECONDS);
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            FullHttpRequest req = new DefaultFullHttpRequest(HttpVersion.HTTP_1_1, HttpMethod.GET, config.path());
            req.headers()
                    .set(HttpHeaderNames.HOST, probe.backend.authority())
                    .set(HttpHeaderNames.CONNECTION, HttpHeaderValues.CLOSE)
                    .set(HttpHeaderNames.USER_AGENT, "rproxy-health-check")
                    .set(HttpHeaderNames.CONTENT_LENGTH, 0)
                    .set(HttpConversionUtil.ExtensionHeaderNames.SCHEME.text(), probe.backend.tls() != null ? "https" : "http");
            ctx.writeAndFlush(req).addListener((Future<? super Void> f) -> {
                if (!f.isSuccess()) {
                    finish(false, "write failed: " + Connects.describe(f.cause()));
                }
            });
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof HttpResponse response) {
                    int code = response.status().code();
                    if (response.decoderResult().isFailure()) {
                        finish(false, "invalid response: " + response.decoderResult().cause().getMessage());
                    } else {
                        finish(code >= 200 && code < 300, "status " + code);
                    }
                }
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            finish(false, "connection closed before a response");
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            finish(false, cause.getClass().getSimpleName() + ": " + Connects.describe(cause));
        }

        /** Idempotent: the first of response, close, error or deadline decides. */
        void finish(boolean ok, String reason) {
            if (finished) {
                return;
            }
            finished = true;
            if (deadline != null) {
                deadline.cancel(false);
            }
            if (channel != null) {
                channel.close();
            }
            probe.done(ok, reason, TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - startNanos));
        }
    }
}
