package dev.rproxy.proxy;

import io.netty.channel.ChannelHandlerContext;
import io.netty.handler.codec.http.HttpContent;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.util.ReferenceCountUtil;
import java.util.ArrayList;
import java.util.List;

/**
 * A final response's head, and the body parts decoded behind it in the same backend read, not yet
 * written to the client. They go out when that read completes: a response found broken within the
 * read (a bad first chunk right behind the head) can then still be answered with 502, as nothing
 * of it reached the client.
 *
 * <p>At most {@link #MAX_BYTES} of body are held, one read buffer's worth; beyond that the head
 * goes out at once. Owns what it holds until it is written or dropped. Confined to one event loop.
 */
final class HeldResponse {
    static final int MAX_BYTES = 64 * 1024;

    private HttpResponse head;
    /** Usually none: allocated on first use. */
    private List<HttpContent> parts;
    private int bytes;

    void hold(HttpResponse response) {
        assert head == null;
        head = response;
        bytes = 0;
    }

    boolean isHeld() {
        return head != null;
    }

    /** Holds one more part behind the head; returns false once {@link #MAX_BYTES} are held, when the caller must write. */
    boolean add(HttpContent part) {
        if (parts == null) {
            parts = new ArrayList<>(4);
        }
        parts.add(part);
        bytes += part.content().readableBytes();
        return bytes < MAX_BYTES;
    }

    /** Writes the head and the parts behind it, unflushed; the response is committed. */
    void writeTo(ChannelHandlerContext client) {
        HttpResponse h = head;
        if (h == null) {
            return;
        }
        head = null;
        client.write(h, client.voidPromise());
        List<HttpContent> p = parts;
        if (p != null) {
            parts = null;
            for (int i = 0; i < p.size(); i++) {
                client.write(p.get(i), client.voidPromise());
            }
        }
    }

    /** Releases what is held; returns whether anything was, i.e. nothing of the response went out. */
    boolean drop() {
        if (head == null) {
            return false;
        }
        ReferenceCountUtil.release(head);
        head = null;
        List<HttpContent> p = parts;
        parts = null;
        if (p != null) {
            p.forEach(ReferenceCountUtil::release);
        }
        return true;
    }
}
