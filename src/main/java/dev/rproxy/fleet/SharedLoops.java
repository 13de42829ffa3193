package dev.rproxy.fleet;

import io.lettuce.core.resource.EventLoopGroupProvider;
import io.netty.channel.EventLoopGroup;
import io.netty.util.concurrent.EventExecutorGroup;
import io.netty.util.concurrent.Future;
import io.netty.util.concurrent.ImmediateEventExecutor;
import java.util.concurrent.TimeUnit;

/**
 * Lends the proxy's own event loops to Lettuce, so the Redis connection is one more channel on a
 * proxy I/O thread rather than a pool of threads of its own. Lettuce never shuts them down: the
 * proxy does, after the fleet is closed.
 *
 * <p>Only when Lettuce would pick the same channel class as the proxy (it chooses a native
 * transport on its own, epoll before io_uring); see {@link RedisLink}.
 */
final class SharedLoops implements EventLoopGroupProvider {
    private final EventLoopGroup loops;
    private final int threads;

    SharedLoops(EventLoopGroup loops) {
        this.loops = loops;
        int n = 0;
        for (Object ignored : loops) {
            n++;
        }
        this.threads = n;
    }

    @Override
    @SuppressWarnings("unchecked")
    public <T extends EventLoopGroup> T allocate(Class<T> type) {
        return (T) loops;
    }

    @Override
    public int threadPoolSize() {
        return threads;
    }

    @Override
    public Future<Boolean> release(EventExecutorGroup eventLoopGroup, long quietPeriod, long timeout, TimeUnit unit) {
        return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
    }

    @Override
    public Future<Boolean> shutdown(long quietPeriod, long timeout, TimeUnit timeUnit) {
        return ImmediateEventExecutor.INSTANCE.newSucceededFuture(true);
    }
}
