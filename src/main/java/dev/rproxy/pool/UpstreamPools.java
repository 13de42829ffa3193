package dev.rproxy.pool;

import dev.rproxy.backend.Backend;
import dev.rproxy.config.PoolConfig;
import dev.rproxy.config.TimeoutsConfig;
import dev.rproxy.memory.BudgetedRecvAllocator;
import dev.rproxy.memory.BufferBudget;
import io.netty.bootstrap.Bootstrap;
import io.netty.channel.Channel;
import io.netty.channel.ChannelOption;
import io.netty.channel.EventLoop;
import io.netty.channel.WriteBufferWaterMark;
import io.netty.util.concurrent.EventExecutor;
import io.netty.util.concurrent.Future;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ConcurrentHashMap;

/**
 * One {@link UpstreamPool} per (event loop, backend).
 *
 * <p>An exchange always takes its upstream channel from the pool of its client channel's own loop,
 * so both channels of an exchange live on one thread and never need a lock. {@code
 * maxConnectionsPerBackend} and {@code maxPendingAcquires} are split evenly over the loops, rounding
 * up. Pools are created lazily, on first use from a loop.
 */
public final class UpstreamPools implements AutoCloseable {
    /** Write buffer bounds of upstream channels: above the high mark the client stops being read. */
    public static final WriteBufferWaterMark WATER_MARK = BufferBudget.NORMAL_MARKS;

    private final List<Backend> backends;
    private final Bootstrap template;
    private final PoolConfig config;
    private final ConnectionLedger ledger;
    private final int perLoopConnections;
    private final int perLoopPending;
    private final ConcurrentHashMap<EventExecutor, LoopPools> byLoop = new ConcurrentHashMap<>();

    public UpstreamPools(
            List<Backend> backends,
            Class<? extends Channel> channelClass,
            UpstreamChannelInitializer initializer,
            PoolConfig config,
            TimeoutsConfig timeouts,
            BufferBudget budget,
            ConnectionLedger ledger,
            int loops) {
        this.ledger = ledger;
        this.backends = List.copyOf(backends);
        this.config = config;
        this.perLoopConnections = ceilDiv(config.maxConnectionsPerBackend(), loops);
        this.perLoopPending = ceilDiv(config.maxPendingAcquires(), loops);
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

    /** The pool for {@code backend} on {@code loop}. */
    public UpstreamPool pool(EventLoop loop, Backend backend) {
        return loopPools(loop).pools[backend.index()];
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
            UpstreamPool[] pools = entry.getValue().pools;
            closing.add(entry.getKey().submit(() -> {
                for (UpstreamPool pool : pools) {
                    pool.close();
                }
            }));
        }
        for (Future<?> f : closing) {
            f.awaitUninterruptibly(1000);
        }
    }

    /** The pools of one event loop, indexed by {@link Backend#index()}. */
    private final class LoopPools {
        final UpstreamPool[] pools = new UpstreamPool[backends.size()];

        LoopPools(EventLoop loop) {
            for (Backend b : backends) {
                Bootstrap bootstrap = template.clone(loop).remoteAddress(b.host(), b.port());
                pools[b.index()] = new UpstreamPool(loop, bootstrap, perLoopConnections, perLoopPending,
                        config.acquireTimeoutMs(), ledger);
            }
        }
    }
}
