package dev.rproxy.proxy;

import dev.rproxy.config.TimeoutsConfig;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.socket.ChannelInputShutdownEvent;
import io.netty.channel.socket.DuplexChannel;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.util.ReferenceCountUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * A client connection and its backend connection after a protocol switch (101, e.g. WebSocket):
 * no longer HTTP, so both pipelines are reduced to one handler each and bytes are relayed as they
 * come, each direction with the same backpressure as a body (reads from one side stop while the
 * other side's outbound buffer is over its high-water mark). When either side closes, fails, or
 * half-closes, both are closed, each after what was already relayed to it is flushed (bounded by
 * the client-stall timeout, {@code timeouts.idleMs}, as for a response). A tunnel with no bytes in
 * either direction for {@code timeouts.tunnelMs} is closed (HAProxy's {@code timeout tunnel}).
 *
 * <p>The backend connection is never returned to its pool. Threading: both channels share one
 * event loop (the pool is per loop), so every method runs on that thread.
 */
public final class Tunnel {
    private static final Logger log = LoggerFactory.getLogger(Tunnel.class);
    private static final String HANDLER = "tunnel";

    /** Told once, when the tunnel has closed, how many bytes went each way. */
    interface Owner {
        void tunnelClosed(long fromClient, long fromBackend);
    }

    private final Side clientSide;
    private final Side backendSide;
    private final long idleNanos;
    private final Owner owner;
    private long lastActivityNanos = System.nanoTime();
    private ScheduledFuture<?> idleCheck;
    /** Until both pipelines are reduced, what the removed decoders pass on waits here. */
    private List<Object[]> held = new ArrayList<>(2);
    private boolean closed;

    private final long flushTimeoutMs;

    private Tunnel(Channel client, Channel backend, TimeoutsConfig timeouts, Owner owner) {
        this.clientSide = new Side(client, "client");
        this.backendSide = new Side(backend, "backend");
        this.clientSide.peer = backendSide;
        this.backendSide.peer = clientSide;
        this.idleNanos = TimeUnit.MILLISECONDS.toNanos(timeouts.tunnelMs());
        // A side that does not take what is left for it within this is a stalled reader.
        this.flushTimeoutMs = timeouts.idleMs();
        this.owner = owner;
    }

    /**
     * Turns both connections into a tunnel. The 101 must already be written to the client (encoded
     * by its HTTP codec, which is removed here). Bytes the codecs still hold (whatever the backend
     * sent right after its 101, whatever the client sent behind its upgrade request) are relayed as
     * the first bytes of the tunnel.
     */
    static void start(Channel client, Channel backend, TimeoutsConfig timeouts, Owner owner) {
        assert client.eventLoop().inEventLoop() && backend.eventLoop() == client.eventLoop();
        Tunnel tunnel = new Tunnel(client, backend, timeouts, owner);
        tunnel.clientSide.install();
        tunnel.backendSide.install();
        // Only now can the peer take raw bytes: its HTTP encoder is gone too.
        List<Object[]> early = tunnel.held;
        tunnel.held = null;
        for (Object[] m : early) {
            Side side = (Side) m[0];
            side.relay(m[1]);
            side.channelReadComplete(null);
        }
        if (!tunnel.closed && client instanceof DuplexChannel duplex && duplex.isInputShutdown()) {
            // The client half-closed while the backend had not answered yet: the relay saw that end,
            // this handler never will.
            log.debug("[{}] client half-closed before the protocol switch, closing the tunnel", client.id());
            tunnel.close();
        }
        if (tunnel.closed) {
            return; // nothing to time or to read any more
        }
        tunnel.scheduleIdleCheck(tunnel.idleNanos);
        // Reads start, except on a side whose first bytes already filled its peer's outbound buffer:
        // that side resumes when the peer drains (channelWritabilityChanged).
        if (backend.isWritable()) {
            client.config().setAutoRead(true);
        }
        if (client.isWritable()) {
            backend.config().setAutoRead(true);
        }
    }

    /** Whether {@code channel} has been switched to a tunnel. */
    public static boolean isTunnel(Channel channel) {
        return channel.pipeline().get(HANDLER) instanceof Side;
    }

    private void scheduleIdleCheck(long delayNanos) {
        idleCheck = clientSide.channel.eventLoop().schedule(this::checkIdle, delayNanos, TimeUnit.NANOSECONDS);
    }

    private void checkIdle() {
        idleCheck = null;
        if (closed) {
            return;
        }
        long idle = System.nanoTime() - lastActivityNanos;
        if (idle >= idleNanos) {
            log.debug("[{}] tunnel idle for {} ms, closing", clientSide.channel.id(), TimeUnit.NANOSECONDS.toMillis(idle));
            close();
        } else {
            scheduleIdleCheck(idleNanos - idle);
        }
    }

    private void close() {
        if (closed) {
            return;
        }
        closed = true;
        if (idleCheck != null) {
            idleCheck.cancel(false);
            idleCheck = null;
        }
        clientSide.closeAfterFlush();
        backendSide.closeAfterFlush();
        owner.tunnelClosed(clientSide.bytesRead, backendSide.bytesRead);
    }

    /** One connection of the tunnel: what it reads goes to the peer. */
    private final class Side extends ChannelInboundHandlerAdapter {
        final Channel channel;
        final String name;
        Side peer;
        long bytesRead;
        boolean flushPending;

        Side(Channel channel, String name) {
            this.channel = channel;
            this.name = name;
        }

        /**
         * Adds this handler last, then removes every other handler from the last to the first, so
         * that whatever a removed handler still passes on (a decoder's unread bytes, a flow control
         * handler's queue) reaches this one.
         */
        void install() {
            ChannelPipeline p = channel.pipeline();
            p.addLast(HANDLER, this);
            List<String> names = p.names();
            for (int i = names.size() - 1; i >= 0; i--) {
                String n = names.get(i);
                if (!HANDLER.equals(n) && p.context(n) != null) {
                    p.remove(n);
                }
            }
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            if (held != null) {
                held.add(new Object[] {this, msg});
                return;
            }
            relay(msg);
        }

        void relay(Object msg) {
            if (msg instanceof ByteBuf buf) {
                if (closed || !buf.isReadable()) {
                    buf.release();
                    return;
                }
                bytesRead += buf.readableBytes();
                lastActivityNanos = System.nanoTime();
                Channel out = peer.channel;
                out.write(buf, out.voidPromise());
                if (!out.isWritable()) {
                    // The mark only counts once a flush has tried the socket.
                    out.flush();
                    flushPending = false;
                    if (!out.isWritable()) {
                        channel.config().setAutoRead(false); // until the peer drains
                    }
                } else {
                    flushPending = true;
                }
                return;
            }
            ReferenceCountUtil.release(msg);
            if (msg instanceof LastHttpContent last && last == LastHttpContent.EMPTY_LAST_CONTENT) {
                return; // the empty end the HTTP decoder gives the 101; the switch happened at its head
            }
            // HTTP decoded from bytes the client sent before the switch was agreed: not the new protocol.
            log.debug("[{}] {} sent {} before the protocol switch, closing the tunnel", channel.id(), name,
                    msg.getClass().getSimpleName());
            close();
        }

        @Override
        public void channelReadComplete(ChannelHandlerContext ctx) {
            if (flushPending && held == null) {
                flushPending = false;
                peer.channel.flush();
            }
        }

        @Override
        public void channelWritabilityChanged(ChannelHandlerContext ctx) {
            if (channel.isWritable() && !closed) {
                peer.channel.config().setAutoRead(true);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof ChannelInputShutdownEvent) {
                close(); // the client sent its last byte; the tunnel ends as a whole
                return;
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            close();
        }

        @Override
        public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
            log.debug("[{}] tunnel {} side failed: {}", channel.id(), name, cause.toString());
            channel.close();
            close();
        }

        void closeAfterFlush() {
            if (!channel.isActive()) {
                channel.close();
                return;
            }
            channel.writeAndFlush(Unpooled.EMPTY_BUFFER).addListener(ChannelFutureListener.CLOSE);
            ScheduledFuture<?> force = channel.eventLoop().schedule(() -> {
                channel.close();
            }, flushTimeoutMs, TimeUnit.MILLISECONDS);
            channel.closeFuture().addListener(f -> force.cancel(false));
        }
    }
}
