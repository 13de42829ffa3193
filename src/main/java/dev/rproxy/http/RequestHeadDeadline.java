package dev.rproxy.http;

import io.netty.channel.ChannelHandlerContext;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.concurrent.TimeUnit;

/**
 * The request-head deadline (nginx's {@code client_header_timeout}): from the first byte of a
 * request, its whole head must arrive within {@code timeoutMs}, or {@link #TIMED_OUT} is fired
 * inbound and the client gets 408 ({@link HeaderSanitizingHandler} answers it). A client dripping
 * header bytes (slowloris) cannot hold a connection longer.
 *
 * <p>The request decoder tells it when a head starts (its first byte is parsed) and when it has
 * been decoded, so the clock covers exactly the bytes of a head; bytes held unparsed (behind an
 * upgrade request, until the backend has answered it) start nothing. Confined to the channel's
 * event loop.
 */
final class RequestHeadDeadline {
    /** Fired inbound when the deadline passes. */
    public static final Object TIMED_OUT = new Object() {
        @Override
        public String toString() {
            return "RequestHeadDeadline.TIMED_OUT";
        }
    };

    private final long timeoutNanos;
    private ChannelHandlerContext ctx;
    /** When the first byte of the head in progress was parsed; 0: no head is in progress. */
    private long headStartNanos;
    /**
     * The connection's one timer: scheduled when a head starts and none is pending, and not
     * cancelled when the head arrives. When it fires for a head that has arrived meanwhile it
     * re-arms for the head in progress, if any, at that head's own deadline. A keep-alive
     * connection thus schedules at most one timer per {@code timeoutMs}, not one per request.
     */
    private ScheduledFuture<?> timer;

    RequestHeadDeadline(long timeoutMs) {
        this.timeoutNanos = TimeUnit.MILLISECONDS.toNanos(timeoutMs);
    }

    /** The context events are fired from: the decoder's. */
    void bind(ChannelHandlerContext ctx) {
        this.ctx = ctx;
    }

    /** The first byte of a head was parsed. */
    void headStarted() {
        headStartNanos = System.nanoTime() | 1; // never 0
        if (timer == null && ctx != null) {
            timer = ctx.executor().schedule(this::expire, timeoutNanos, TimeUnit.NANOSECONDS);
        }
    }

    /** The head in progress was decoded (or refused). */
    void headReceived() {
        headStartNanos = 0;
    }

    private void expire() {
        timer = null;
        if (headStartNanos == 0 || !ctx.channel().isActive()) {
            return; // no head in progress: the next one's first byte arms the timer again
        }
        long left = headStartNanos + timeoutNanos - System.nanoTime();
        if (left > 0) {
            timer = ctx.executor().schedule(this::expire, left, TimeUnit.NANOSECONDS);
        } else {
            headStartNanos = 0;
            ctx.fireUserEventTriggered(TIMED_OUT);
        }
    }

    /** The connection closed or stopped being HTTP. */
    void cancel() {
        headStartNanos = 0;
        if (timer != null) {
            timer.cancel(false);
            timer = null;
        }
    }
}
