package dev.rproxy.pool;

import dev.rproxy.backend.Backend;
import dev.rproxy.backend.BackendTls;
import dev.rproxy.config.PoolConfig;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.memory.BudgetedRecvAllocator;
import dev.rproxy.memory.BufferBudget;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandler;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One {@link UpstreamPool} per (event loop, backend), keyed by the backend itself: its state and
 * its pools belong to it, not to a place in a list.
 *
 * <p>An exchange always takes its upstream channel from the pool of its client channel's own loop,
 * so both channels of an exchange live on one thread and never need a lock. {@code
 * maxConnectionsPerBackend} and {@code maxPendingAcquires} are split evenly over the loops, rounding
 * up. Pools are created lazily, on a loop's first use of a backend. What runs on a connection is
 * the {@code initializer}'s business (for an HTTP/2 backend, the {@code streamInitializer}'s, on
 * each stream): the pool hands out channels and takes them back. A connection to an https backend
 * gets the backend's TLS handler first, and is handed out once its handshake is done.
 */
public final class UpstreamPools implements AutoCloseable {
    /** Write buffer bounds of upstream channels: above the high mark the client stops being read. */
    public static final WriteBufferWaterMark WATER_MARK = BufferBudget.NORMAL_MARKS;

    private final Bootstrap template;
    private final ChannelHandler initializer;
    private final ChannelHandler streamInitializer;
    private final PoolConfig config;
    private final ConnectionLedger ledger;
    private final int loops;
    private final ConcurrentHashMap<EventExecutor, LoopPools> byLoop = new ConcurrentHashMap<>();

    public UpstreamPools(
            Class<? extends Channel> channelClass,
            ChannelHandler initializer,
            ChannelHandler streamInitializer,
            PoolConfig config,
            TimeoutsConfig timeouts,
            BufferBudget budget,
            ConnectionLedger ledger,
            int loops) {
        this.ledger = ledger;
        this.config = config;
        this.initializer = initializer;
        this.streamInitializer = streamInitializer;
        this.loops = loops;
        this.template = new Bootstrap()
                .channel(channelClass)
                .handler(initializer)
                .option(ChannelOption.CONNECT_TIMEOUT_MILLIS, (int) Math.min(Integer.MAX_VALUE, timeouts.connectMs()))
                .option(ChannelOption.TCP_NODELAY, true)
                .option(ChannelOption.SO_KEEPALIVE, true)
                .option(ChannelOption.WRITE_BUFFER_WATER_MARK, WATER_MARK)
                .option(ChannelOption.RCVBUF_ALLOCATOR, new BudgetedRecvAllocator(budget));
    }

    private static int ceilDiv(int a, int b) {
        return a == 0 ? 0 : (a + b - 1) / b;
    }

    /** The limits of {@code backend}'s pools: its upstream's {@code pool}, else the top-level one. */
    private PoolConfig limits(Backend backend) {
        return backend.pool() != null ? backend.pool() : config;
    }

    /**
     * The pools of backends a reload removed, on every loop: each takes no new acquire (the
     * waiting ones fail) and its connections close as their exchanges end.
     */
    public void retire(java.util.Collection<Backend> removed) {
        if (removed.isEmpty()) {
            return;
        }
        for (var entry : byLoop.entrySet()) {
            LoopPools loopPools = entry.getValue();
            entry.getKey().execute(() -> {
                for (Backend b : removed) {
                    UpstreamPool pool = loopPools.pools.remove(b);
                    if (pool != null) {
                        pool.close();
                    }
                }
            });
        }
    }

    /** Each pool of every loop with its backend, for metrics (from any thread; counts are approximate). */
    public void forEach(java.util.function.BiConsumer<Backend, UpstreamPool> each) {
        for (LoopPools loopPools : byLoop.values()) {
            loopPools.pools.forEach(each);
        }
    }

    /** The pool for {@code backend} on {@code loop}; called on {@code loop}. */
    public UpstreamPool pool(EventLoop loop, Backend backend) {
        assert loop.inEventLoop();
        return loopPools(loop).pool(backend);
    }

    private LoopPools loopPools(EventLoop loop) {
        LoopPools pools = byLoop.get(loop);
        return pools != null ? pools : byLoop.computeIfAbsent(loop, l -> new LoopPools(loop));
    }

    /**
     * Closes every pool on its own loop and waits (bounded) for it, from a thread that is not an
     * event loop; must run while the loops still run.
     */
    @Override
    public void close() {
        List<Future<?>> closing = new ArrayList<>();
        for (var entry : byLoop.entrySet()) {
            LoopPools pools = entry.getValue();
            closing.add(entry.getKey().submit(pools::close));
        }
        for (Future<?> f : closing) {
            f.awaitUninterruptibly(1000);
        }
    }

    /** The pools of one event loop; touched only on that loop. */
    private final class LoopPools {
        private final EventLoop loop;
        /** Written on the loop; concurrent so that metrics may read it from another thread. */
        private final ConcurrentHashMap<Backend, UpstreamPool> pools = new ConcurrentHashMap<>();
        private boolean closed;

        LoopPools(EventLoop loop) {
            this.loop = loop;
        }

        UpstreamPool pool(Backend backend) {
            UpstreamPool pool = pools.get(backend);
            if (pool == null) {
                pool = backend.http2() ? http2Pool(backend) : http1Pool(backend);
                if (closed) {
                    pool.close();
                }
                pools.put(backend, pool);
            }
            return pool;
        }

        private UpstreamPool http2Pool(Backend backend) {
            PoolConfig limits = limits(backend);
            return new Http2Pool(loop, template.clone(loop).remoteAddress(backend.host(), backend.port()), backend.tls(),
                    streamInitializer, ceilDiv(limits.maxConnectionsPerBackend(), loops),
                    ceilDiv(limits.maxPendingAcquires(), loops), limits.acquireTimeoutMs(), limits.idleTimeoutMs(), ledger);
        }

        private UpstreamPool http1Pool(Backend backend) {
            Bootstrap bootstrap = template.clone(loop).remoteAddress(backend.host(), backend.port());
            BackendTls tls = backend.tls();
            if (tls != null) {
                ChannelHandler relay = initializer;
                bootstrap.handler(new ChannelInitializer<Channel>() {
                    @Override
                    protected void initChannel(Channel ch) {
                        ch.pipeline().addLast("tls", tls.newHandler(ch.alloc()));
                        ch.pipeline().addLast(relay);
                    }
                });
            }
            PoolConfig limits = limits(backend);
            return new Http1Pool(loop, bootstrap, ceilDiv(limits.maxConnectionsPerBackend(), loops),
                    ceilDiv(limits.maxPendingAcquires(), loops), limits.acquireTimeoutMs(), ledger);
        }

        void close() {
            closed = true;
            for (UpstreamPool pool : pools.values()) {
                pool.close();
            }
        }
    }
}
