package dev.rproxy.proxy;

/**
 * The clock of one request body: runs from when the backend could first take the body, and stops
 * while the backend holds it back (client reads paused by backpressure), so a slow backend is never
 * counted against the client. Answers {@code limits.minBodyRate} (a slow-body attack sends a byte
 * just often enough to dodge the idle timeout) and tells the idle timeout when the backend last let
 * the client send. Reads the clock only where an answer needs it: a request without a minimum rate
 * whose backend never pushes back costs none. Confined to the exchange's event loop.
 */
final class BodyPace {
    private final long minRate;
    private final double allowanceNanos;
    private long startNanos;
    private long heldNanos;
    private long heldSinceNanos;
    /** When the backend last stopped holding the body back; 0 when it never did. */
    private long drainedNanos;

    /**
     * @param minRate bytes per second the body must average (0: no minimum)
     * @param allowanceMs how far behind that rate the body may fall
     */
    BodyPace(long minRate, long allowanceMs) {
        this.minRate = minRate;
        this.allowanceNanos = allowanceMs * 1e6;
    }

    /**
     * The body may flow from now on: the exchange is buffering it, or its head went to the backend.
     * Only the first call counts; a retry or the end of buffering does not restart the clock.
     */
    void start() {
        if (minRate > 0 && startNanos == 0) {
            startNanos = System.nanoTime();
        }
    }

    /** The backend stopped taking the body; client reads are paused. */
    void backendHolding() {
        if (heldSinceNanos == 0) {
            heldSinceNanos = System.nanoTime();
        }
    }

    /**
     * The backend takes the body again. Called before client reads resume: resuming delivers the body
     * parts the client already sent at once, each checked against the rate, and one of them may
     * start the next pause.
     */
    void backendDrained() {
        if (heldSinceNanos != 0) {
            long now = System.nanoTime();
            drainedNanos = now;
            heldNanos += now - heldSinceNanos;
            heldSinceNanos = 0;
        }
    }

    /**
     * Whether {@code bytes} received by now fall more than the allowance behind the minimum rate. In
     * double: with a huge allowance (or a tiny rate and a huge body) a sum of longs would overflow
     * into a negative allowance that refuses every body.
     */
    boolean behind(long bytes) {
        if (minRate == 0) {
            return false;
        }
        return System.nanoTime() - startNanos > allowanceNanos + heldNanos + bytes * 1e9 / minRate;
    }

    /** Milliseconds since the body could first flow (with a minimum rate only). */
    long elapsedMs() {
        return (System.nanoTime() - startNanos) / 1_000_000;
    }

    /**
     * Whether the backend has let the client send for at least {@code nanos} (or never held the body
     * back): client reads were paused while it held, so reader-idle time includes that pause.
     */
    boolean clientFreeFor(long nanos) {
        return drainedNanos == 0 || System.nanoTime() - drainedNanos >= nanos;
    }

    long minRate() {
        return minRate;
    }
}
