package dev.rproxy.proxy;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufAllocator;
import io.netty.channel.Channel;
import io.netty.handler.codec.http.DefaultHttpContent;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.LastHttpContent;

/**
 * The first {@code limits.requestBufferBytes} of a request body (or all of it, when shorter), read
 * before a backend connection is taken, as HAProxy's {@code option http-buffer-request} does: a
 * client that sends its body slowly holds a buffer of its own, not a backend connection. A body
 * that was whole in here can be sent again when the backend it went to failed before answering.
 *
 * <p>The parts are copied into one buffer that grows with what arrives (a slow client's many small
 * reads would otherwise each pin a read buffer of their own). Ownership: the exchange owns this and
 * releases it once no retry can need it; {@link #writeTo} hands the channel a duplicate of its own.
 * Confined to the exchange's event loop.
 */
final class RequestBuffer {
    /** Largest body part the client codec decodes (StrictHttpDecoder.MAX_CHUNK). */
    private static final int MAX_PART = 64 * 1024;

    private final ByteBuf bytes;
    private final int limit;
    private HttpHeaders trailers;
    private boolean complete;
    private boolean released;

    RequestBuffer(ByteBufAllocator alloc, int limit) {
        this.limit = limit;
        // Grows with what arrives; it stops being filled once past the limit, which the last part
        // may overshoot by at most one decoded part (64 KiB).
        this.bytes = alloc.buffer(Math.min(limit, 1024), limit + MAX_PART);
    }

    /** Takes {@code part}'s bytes (and the trailers of the last part); releases {@code part}. */
    void add(HttpContent part) {
        try {
            bytes.writeBytes(part.content());
            if (part instanceof LastHttpContent last) {
                complete = true;
                if (!last.trailingHeaders().isEmpty()) {
                    trailers = last.trailingHeaders().copy();
                }
            }
        } finally {
            part.release();
        }
    }

    /** The body ended in here. */
    boolean isComplete() {
        return complete;
    }

    /** Enough is held: the rest of the body streams to the backend as it arrives. */
    boolean isFull() {
        return bytes.readableBytes() >= limit;
    }

    int size() {
        return bytes.readableBytes();
    }

    /**
     * Writes what is held to {@code ch}, without flushing: the body's last part when it is complete
     * (an empty body included), else one part, after which the rest streams. Can be called again
     * for a retry.
     */
    void writeTo(Channel ch) {
        ByteBuf copy = bytes.retainedDuplicate();
        HttpContent part;
        if (!complete) {
            part = new DefaultHttpContent(copy);
        } else if (trailers == null) {
            part = new DefaultLastHttpContent(copy, EmptyHttpHeaders.INSTANCE);
        } else {
            DefaultLastHttpContent last = new DefaultLastHttpContent(copy);
            last.trailingHeaders().set(trailers);
            part = last;
        }
        ch.write(part, ch.voidPromise());
    }

    /** Idempotent. */
    void release() {
        if (!released) {
            released = true;
            bytes.release();
        }
    }
}
