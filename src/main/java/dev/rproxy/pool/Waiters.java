package dev.rproxy.pool;

import dev.rproxy.pool.UpstreamPool.Acquirer;
import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayDeque;
import java.util.concurrent.TimeUnit;

/**
 * The acquires of one pool that wait for a lease, oldest first. Each waits at most {@code
 * timeoutMs}, then fails with {@link PoolExhaustedException} naming what it waited for. Confined to
 * the pool's loop, like the pool.
 */
final class Waiters {
    private final EventLoop loop;
    private final long timeoutMs;
    private final String what;
    private final ArrayDeque<Waiter> queue = new ArrayDeque<>();

    /** @param what what is waited for, for the failure's message ("connection", "HTTP/2 stream") */
    Waiters(EventLoop loop, long timeoutMs, String what) {
        this.loop = loop;
        this.timeoutMs = timeoutMs;
        this.what = what;
    }

    int size() {
        return queue.size();
    }

    boolean isEmpty() {
        return queue.isEmpty();
    }

    /** Queues {@code acquirer} last, with its deadline. */
    void add(Acquirer acquirer) {
        queue.addLast(new Waiter(acquirer));
    }

    /** The longest waiter, its deadline cancelled; {@code null} when none waits. */
    Acquirer poll() {
        Waiter w = queue.pollFirst();
        if (w == null) {
            return null;
        }
        w.timer.cancel(false);
        return w.acquirer;
    }

    /** Fails every waiter with {@code cause}, oldest first. */
    void failAll(Throwable cause) {
        Acquirer a;
        while ((a = poll()) != null) {
            a.acquireFailed(cause);
        }
    }

    private final class Waiter implements Runnable {
        final Acquirer acquirer;
        final ScheduledFuture<?> timer;

        Waiter(Acquirer acquirer) {
            this.acquirer = acquirer;
            this.timer = loop.schedule(this, timeoutMs, TimeUnit.MILLISECONDS);
        }

        @Override
        public void run() {
            if (queue.remove(this)) {
                acquirer.acquireFailed(new PoolExhaustedException("no " + what + " free within " + timeoutMs + " ms"));
            }
        }
    }
}
