package dev.rproxy.pool;

import dev.rproxy.backend.BackendTls;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.ConnectTimeoutException;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoop;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2FrameCodec;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2FrameStreamException;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2Settings;
import io.netty.handler.codec.http2.Http2SettingsFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslHandler;
import io.netty.handler.timeout.IdleStateEvent;
import io.netty.handler.timeout.IdleStateHandler;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ScheduledFuture;
import java.net.ConnectException;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * HTTP/2 connections to one backend ({@code h2} over TLS, {@code h2c} in plaintext), owned by one
 * event loop; a lease is one stream, so a connection carries many exchanges at once.
 *
 * <p>A connection is ready once the backend's first SETTINGS frame has arrived (and, over TLS,
 * ALPN agreed on {@code h2}); from then on it takes up to the backend's {@code
 * MAX_CONCURRENT_STREAMS} streams at once (at most {@value #MAX_STREAMS_PER_CONNECTION}). An
 * acquire opens a stream on the first ready connection with room, synchronously; when every one
 * is full another connection is opened, up to {@code max} (the same limit on connections as for
 * HTTP/1), and up to {@code maxPending} acquires wait meanwhile, each at most {@code
 * acquireTimeoutMs}. A connection that cannot be opened fails the acquires waiting for it, so
 * they can go to another backend at once.
 *
 * <p>GOAWAY from the backend: the connection takes no new stream and is closed when its last one
 * ends; the streams the backend says it never processed end with a user event the exchange takes
 * as "retry anywhere" (RFC 9113 section 8.7). A connection with no stream for {@code
 * idleTimeoutMs} is closed.
 *
 * <p>Flow control: each stream's receive window ({@value #STREAM_WINDOW} bytes) opens only as its
 * exchange reads, so a slow client holds back its own stream; the connection's window is large
 * enough ({@value #CONNECTION_WINDOW} bytes) that a few stalled streams cannot stall the others.
 *
 * <pre>
 * connection: [TLS] -> Http2FrameCodec -> Http2MultiplexHandler -> idle timer -> Connection (this pool's view)
 * stream:     the streamInitializer's handlers (the relay's)
 * </pre>
 */
public final class Http2Pool implements UpstreamPool {
    private static final Logger log = LoggerFactory.getLogger(Http2Pool.class);

    static final int MAX_STREAMS_PER_CONNECTION = 100;
    static final int STREAM_WINDOW = 256 * 1024;
    static final int CONNECTION_WINDOW = 16 * 1024 * 1024;
    /** The largest response field section taken from a backend (HTTP/1 backends: at least 16 KiB). */
    static final long MAX_HEADER_LIST_SIZE = 64 * 1024;

    private final EventLoop loop;
    private final ConnectionLedger ledger;
    private final Bootstrap bootstrap;
    private final ChannelHandler streamInitializer;
    private final int max;
    private final int maxPending;
    private final long idleTimeoutMs;
    private final List<Connection> connections = new ArrayList<>();
    private final Waiters waiters;
    private final long settingsTimeoutMs;
    private int open;
    /** Streams leased out over all connections (for metrics). */
    private int leasedStreams;
    private int connecting;
    /** How many streams a connection being opened is expected to take: the backend's last word. */
    private int expectedStreams = MAX_STREAMS_PER_CONNECTION;
    private boolean closed;

    Http2Pool(EventLoop loop, Bootstrap template, BackendTls tls, ChannelHandler streamInitializer, int max,
            int maxPending, long acquireTimeoutMs, long idleTimeoutMs, ConnectionLedger ledger) {
        this.loop = loop;
        this.ledger = ledger;
        this.streamInitializer = streamInitializer;
        this.max = max;
        this.maxPending = maxPending;
        this.idleTimeoutMs = idleTimeoutMs;
        this.waiters = new Waiters(loop, acquireTimeoutMs, "HTTP/2 stream");
        Integer connectMs = template.config().options().get(ChannelOption.CONNECT_TIMEOUT_MILLIS) instanceof Integer i ? i : null;
        this.settingsTimeoutMs = connectMs != null && connectMs > 0 ? connectMs : 2000;
        this.bootstrap = template.clone(loop).handler(new ChannelInitializer<Channel>() {
            @Override
            protected void initChannel(Channel ch) {
                ChannelPipeline p = ch.pipeline();
                if (tls != null) {
                    p.addLast("tls", tls.newHandler(ch.alloc()));
                }
                p.addLast("h2", Http2FrameCodecBuilder.forClient()
                        .initialSettings(Http2Settings.defaultSettings().pushEnabled(false).initialWindowSize(STREAM_WINDOW)
                                .maxHeaderListSize(MAX_HEADER_LIST_SIZE))
                        .validateHeaders(true)
                        .build());
                if (idleTimeoutMs > 0) {
                    p.addLast("idle", new IdleStateHandler(0, 0, idleTimeoutMs, TimeUnit.MILLISECONDS));
                }
                // Before the multiplexer: GOAWAY reaches the pool before the streams it leaves
                // unprocessed close, so none of their slots goes to a waiter on this connection.
                p.addLast("connection", new Connection());
                p.addLast("h2streams", new Http2MultiplexHandler(new RefusePushes()));
            }
        });
    }

    @Override
    public void acquire(Acquirer acquirer) {
        assert loop.inEventLoop();
        if (closed) {
            acquirer.acquireFailed(new PoolExhaustedException("pool closed"));
            return;
        }
        Connection c = withRoom();
        if (c != null) {
            c.openStream(acquirer);
            return;
        }
        // One that makes a connection open waits for it whatever maxPending says, as an HTTP/1
        // acquire that opens a connection does.
        if (waiters.size() >= maxPending && !mayOpen(waiters.size() + 1)) {
            acquirer.acquireFailed(new PoolExhaustedException(open + " connections with every stream busy and "
                    + maxPending + " waiting"));
            return;
        }
        waiters.add(acquirer);
        openMoreIfNeeded();
    }

    /**
     * As {@link #acquire}: a connection the backend has said GOAWAY on, or that closed, is never
     * chosen again, so any stream of a ready connection is as good as a fresh one.
     */
    @Override
    public int openConnections() {
        return open;
    }

    @Override
    public int leases() {
        return leasedStreams;
    }

    @Override
    public int pendingAcquires() {
        return waiters.size();
    }

    @Override
    public void acquireFresh(Acquirer acquirer) {
        acquire(acquirer);
    }

    /** A stream is never reused: closing it resets it when it is still open, and frees its slot. */
    @Override
    public void release(Channel lease, boolean reusable) {
        assert loop.inEventLoop();
        lease.close();
    }

    @Override
    public void close() {
        assert loop.inEventLoop();
        closed = true;
        waiters.failAll(new PoolExhaustedException("pool closed"));
        for (Connection c : new ArrayList<>(connections)) {
            if (c.leased == 0) {
                c.channel.close();
            } else {
                c.draining = true; // closed when its last stream ends
            }
        }
    }

    /** The first ready connection that can take one more stream; the busiest come first. */
    private Connection withRoom() {
        for (int i = 0; i < connections.size(); i++) {
            Connection c = connections.get(i);
            if (c.canOpen()) {
                return c;
            }
        }
        return null;
    }

    /**
     * Opens connections while the waiters outnumber what the connections being opened are expected
     * to take; with none open and none possible, the waiters fail.
     */
    private void openMoreIfNeeded() {
        while (!waiters.isEmpty() && mayOpen(waiters.size())) {
            if (!ledger.upstreamOpening()) {
                if (connecting == 0) {
                    waiters.failAll(new PoolExhaustedException("no file descriptor left for a backend connection"));
                }
                return;
            }
            open++;
            connecting++;
            Connects.later(loop, this::openConnection);
        }
    }

    /** Whether {@code waiting} acquires call for one more connection, and one may be opened. */
    private boolean mayOpen(int waiting) {
        return waiting > connecting * expectedStreams && open < max && (open == 0 || ledger.upstreamRoom());
    }

    private void openConnection() {
        if (closed) {
            connectFailed(null, new PoolExhaustedException("pool closed"));
            return;
        }
        ChannelFuture connect = Connects.start(bootstrap, cause -> connectFailed(null, cause));
        if (connect == null) {
            return;
        }
        Connection c = connect.channel().pipeline().get(Connection.class);
        if (c == null) {
            // The pipeline was not built (its initializer failed): a failed connect.
            connect.channel().close();
            connectFailed(null, connect.cause() != null ? connect.cause()
                    : new ConnectException("the connection to the backend could not be set up"));
            return;
        }
        connect.channel().closeFuture().addListener(f -> c.closed());
        connect.addListener((ChannelFuture f) -> {
            if (!f.isSuccess()) {
                c.failBeforeReady(f.cause());
                return;
            }
            SslHandler tls = f.channel().pipeline().get(SslHandler.class);
            if (tls != null) {
                tls.handshakeFuture().addListener(h -> {
                    if (!h.isSuccess()) {
                        c.failBeforeReady(new TlsHandshakeException(h.cause()));
                    } else if (!ApplicationProtocolNames.HTTP_2.equals(tls.applicationProtocol())) {
                        c.failBeforeReady(new TlsHandshakeException(new ConnectException(
                                "the backend did not agree to h2 (ALPN: " + tls.applicationProtocol() + ")")));
                    }
                });
            }
        });
    }

    /**
     * A connection attempt ended before the connection was ready. Its slot is given back (by the
     * channel's close when there is one); with no other attempt under way and no ready connection,
     * the waiters get {@code cause}: nothing else would serve them before their timeout.
     */
    private void connectFailed(Connection c, Throwable cause) {
        connecting--;
        if (c == null) {
            open--;
            ledger.upstreamClosed();
        }
        // Not tried again here: a backend refusing connections would be tried in a loop. The
        // waiters wait for a stream of a ready connection, or fail now when there is none.
        if (connecting == 0 && connections.isEmpty()) {
            waiters.failAll(cause);
        }
    }

    /** Hands streams of {@code c} to waiters while it has room. */
    private void serveWaiters(Connection c) {
        Acquirer waiter;
        while (c.canOpen() && (waiter = waiters.poll()) != null) {
            c.openStream(waiter);
        }
    }

    /**
     * The pool's view of one connection, in its pipeline just before the multiplexer: the SETTINGS
     * that make it ready and bound its streams, GOAWAY, idleness and the close. Frames and events
     * go on to the multiplexer.
     */
    private final class Connection extends ChannelInboundHandlerAdapter {
        Channel channel;
        Http2FrameCodec codec;
        Http2StreamChannelBootstrap streams;
        int leased;
        int maxStreams;
        boolean ready;
        boolean draining;
        private boolean serveScheduled;
        /** Holds one of the pool's {@code open} places: until it closes, or gets GOAWAY while busy. */
        private boolean counted = true;
        private ScheduledFuture<?> settingsDeadline;
        private final ChannelFutureListener streamClosed = f -> streamEnded();
        private final Runnable serve = () -> {
            serveScheduled = false;
            serveWaiters(this);
        };

        /**
         * Room for one more stream: by the pool's count of leases and by the codec's count of active
         * streams, which lags behind when a closed stream's reset is not yet written.
         */
        boolean canOpen() {
            return ready && !draining && leased < maxStreams && channel.isActive()
                    && codec.connection().local().canOpenStream();
        }

        @Override
        public void handlerAdded(ChannelHandlerContext ctx) {
            channel = ctx.channel();
            codec = ctx.pipeline().get(Http2FrameCodec.class);
            streams = new Http2StreamChannelBootstrap(channel).handler(streamInitializer);
        }

        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            // The connection's own window, beyond the 65,535 bytes every connection starts with.
            ctx.writeAndFlush(new DefaultHttp2WindowUpdateFrame(CONNECTION_WINDOW - 65_535));
            // A backend that connects and then says nothing is a failed connect, as one that does
            // not connect in time is: the waiters go elsewhere instead of waiting out the pool.
            settingsDeadline = ctx.executor().schedule(() -> failBeforeReady(new ConnectTimeoutException(
                    "no HTTP/2 settings from the backend within " + settingsTimeoutMs + " ms")),
                    settingsTimeoutMs, TimeUnit.MILLISECONDS);
            ctx.fireChannelActive();
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (msg instanceof Http2SettingsFrame settings) {
                Long limit = settings.settings().maxConcurrentStreams();
                if (limit != null) {
                    maxStreams = (int) Math.min(limit, MAX_STREAMS_PER_CONNECTION);
                } else if (!ready) {
                    maxStreams = MAX_STREAMS_PER_CONNECTION; // no limit announced (RFC 9113 section 6.5.2)
                }
                expectedStreams = Math.max(1, maxStreams);
                if (!ready) {
                    becomeReady();
                } else {
                    serveWaiters(this);
                }
                ctx.fireChannelRead(msg);
                return;
            }
            if (msg instanceof Http2GoAwayFrame goAway) {
                log.debug("[{}] GOAWAY from backend (last stream {}, {}): no new streams on this connection",
                        channel.id(), goAway.lastStreamId(), goAway.errorCode());
                draining = true;
                ctx.fireChannelRead(msg); // the multiplexer tells the streams it leaves unprocessed
                if (leased == 0) {
                    channel.close();
                } else if (connections.remove(this)) {
                    // It finishes its streams but takes no new one: its place among the pool's
                    // connections goes to a new one now, for the requests that wait (its
                    // descriptor is counted until it closes).
                    uncount();
                    openMoreIfNeeded();
                }
                return;
            }
            ctx.fireChannelRead(msg);
        }

        private void becomeReady() {
            SslHandler tls = channel.pipeline().get(SslHandler.class);
            if (failure != null || (tls != null && !ApplicationProtocolNames.HTTP_2.equals(tls.applicationProtocol()))) {
                return; // failed already, or the handshake's listener closes it
            }
            settingsDeadline.cancel(false);
            ready = true;
            connecting--;
            if (closed) {
                channel.close(); // the pool closed while it connected
                return;
            }
            connections.add(this);
            serveWaiters(this);
            openMoreIfNeeded();
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof IdleStateEvent) {
                if (leased == 0) {
                    ctx.close();
                }
                return;
            }
            ctx.fireUserEventTriggered(evt);
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            if (cause instanceof Http2FrameStreamException) {
                ctx.fireExceptionCaught(cause); // one stream's: the multiplexer hands it to that stream
                return;
            }
            log.debug("[{}] HTTP/2 connection to backend failed: {}", ctx.channel().id(), Connects.describe(cause));
            if (!ready) {
                failBeforeReady(cause);
            }
            ctx.close();
        }

        /** The channel closed, whether it ever connected or not: its slot is free. */
        void closed() {
            failBeforeReady(new ConnectException("the backend closed the connection before its HTTP/2 settings"));
            ledger.upstreamClosed();
            uncount();
            if (connections.remove(this)) {
                openMoreIfNeeded(); // a ready connection went away: its waiters need another
            }
        }

        /** Gives back its place among the pool's {@code max} connections, once. */
        private void uncount() {
            if (counted) {
                counted = false;
                open--;
            }
        }

        private Throwable failure;

        /** The attempt failed: counted once, whatever reports it first (connect, handshake, close). */
        void failBeforeReady(Throwable cause) {
            if (ready || failure != null) {
                return;
            }
            failure = cause;
            if (settingsDeadline != null) {
                settingsDeadline.cancel(false);
            }
            channel.close();
            connectFailed(this, cause);
        }

        void openStream(Acquirer acquirer) {
            leased++;
            leasedStreams++;
            Future<Http2StreamChannel> opened = streams.open();
            if (opened.isDone()) {
                streamOpened(opened, acquirer);
            } else {
                opened.addListener(f -> streamOpened(opened, acquirer));
            }
        }

        private void streamOpened(Future<Http2StreamChannel> opened, Acquirer acquirer) {
            if (!opened.isSuccess()) {
                streamEnded();
                acquirer.acquireFailed(opened.cause());
                return;
            }
            opened.getNow().closeFuture().addListener(streamClosed);
            acquirer.acquired(opened.getNow());
        }

        /**
         * A stream closed. Its slot goes to a waiter from a task, after the read or write in progress:
         * a stream closed on GOAWAY (before the pool may know of it) or whose reset is not yet written
         * would otherwise hand the waiter a stream the backend refuses.
         */
        private void streamEnded() {
            leased--;
            leasedStreams--;
            if (draining || closed) {
                if (leased == 0) {
                    channel.close();
                }
                return;
            }
            if (!serveScheduled && !waiters.isEmpty()) {
                serveScheduled = true;
                loop.execute(serve);
            }
        }
    }

    /** Server push is off in our SETTINGS; a pushed stream anyway is reset at once. */
    @ChannelHandler.Sharable
    private static final class RefusePushes extends ChannelInboundHandlerAdapter {
        @Override
        public void channelActive(ChannelHandlerContext ctx) {
            ctx.close();
        }
    }
}
