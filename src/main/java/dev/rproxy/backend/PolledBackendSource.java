package dev.rproxy.backend;

import io.netty.channel.EventLoop;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.List;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * What the sources that ask again and again (DNS, a registry in Redis) share: one event loop
 * everything after {@link #start} runs on, the status the admin API reads, the latch of the first
 * answer, the listener that gets each whole set, and closing, after which nothing is delivered and
 * nothing more is scheduled. A subclass says how one round asks ({@link #begin}) and what it
 * releases on its loop when closed ({@link #closedOnLoop}).
 *
 * <p>Threading: the listener is handed a set under this object's monitor, which {@link #close}
 * takes too, so no set arrives once {@code close} has returned.
 */
abstract class PolledBackendSource implements BackendSource {
    protected final EventLoop loop;
    private final CountDownLatch firstAnswer = new CountDownLatch(1);
    // Guarded by this.
    private Listener listener;
    private boolean closed;
    // Confined to loop.
    private ScheduledFuture<?> next;
    /** Written on {@link #loop} at the end of each round, read by the admin API. */
    private volatile Status status = new Status("starting", "no answer yet");

    PolledBackendSource(EventLoop loop) {
        this.loop = loop;
    }

    @Override
    public final void start(Listener listener) {
        synchronized (this) {
            this.listener = listener;
        }
        loop.execute(() -> {
            if (!isClosed()) {
                begin();
            }
        });
    }

    /** The first round (on {@link #loop}); each round ends with {@link #roundEnded}. */
    protected abstract void begin();

    /** What to release on {@link #loop} once closed (a resolver); nothing by default. */
    protected void closedOnLoop() {
    }

    @Override
    public final Status status() {
        return status;
    }

    protected final void status(Status status) {
        this.status = status;
    }

    @Override
    public final boolean awaitFirstAnswer(long timeoutMs) throws InterruptedException {
        return firstAnswer.await(timeoutMs, TimeUnit.MILLISECONDS);
    }

    @Override
    public final void close() {
        synchronized (this) {
            if (closed) {
                return;
            }
            closed = true;
        }
        loop.execute(() -> {
            if (next != null) {
                next.cancel(false);
            }
            closedOnLoop();
        });
    }

    protected final synchronized boolean isClosed() {
        return closed;
    }

    /** Hands the whole set to the listener, unless closed. */
    protected final void deliver(List<Endpoint> endpoints) {
        synchronized (this) {
            if (!closed) {
                listener.endpoints(endpoints);
            }
        }
    }

    /** A round ended, answered or not: the first answer is in, and {@code nextRound} runs after {@code delayMs}. */
    protected final void roundEnded(Runnable nextRound, long delayMs) {
        firstAnswer.countDown();
        if (!isClosed()) {
            next = loop.schedule(nextRound, delayMs, TimeUnit.MILLISECONDS);
        }
    }

    /** The first round could not start: nothing will come, and no one should wait for it. */
    protected final void gaveUp() {
        firstAnswer.countDown();
    }
}
