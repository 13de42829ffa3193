package dev.rproxy.server;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.ByteBufUtil;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPipeline;
import io.netty.handler.codec.ByteToMessageDecoder;
import io.netty.handler.codec.http2.Http2CodecUtil;
import io.netty.util.concurrent.ScheduledFuture;
import java.util.List;
import java.util.concurrent.TimeUnit;
import java.util.function.Consumer;

/**
 * On a plaintext listener that offers {@code h2c}: the first bytes of a connection tell HTTP/2 with
 * prior knowledge (RFC 9113 section 3.3: the connection preface {@code PRI * HTTP/2.0...}) from
 * HTTP/1.1, and set up the rest of the pipeline for it. Decides as soon as a byte differs from the
 * preface, so an HTTP/1 request waits for no more bytes than it has; the bytes read so far go to
 * the chosen protocol's decoder. A connection that has not told within {@code timeoutMs} (the
 * request-head deadline) is closed.
 */
final class PrefaceDetector extends ByteToMessageDecoder {
    private static final ByteBuf PREFACE = Http2CodecUtil.connectionPrefaceBuf();

    private final Consumer<ChannelPipeline> http1;
    private final Consumer<ChannelPipeline> http2;
    private final long timeoutMs;
    private ScheduledFuture<?> deadline;

    PrefaceDetector(Consumer<ChannelPipeline> http1, Consumer<ChannelPipeline> http2, long timeoutMs) {
        this.http1 = http1;
        this.http2 = http2;
        this.timeoutMs = timeoutMs;
    }

    @Override
    public void handlerAdded(ChannelHandlerContext ctx) {
        deadline = ctx.executor().schedule(() -> {
            ctx.close();
        }, timeoutMs, TimeUnit.MILLISECONDS);
    }

    @Override
    protected void handlerRemoved0(ChannelHandlerContext ctx) {
        deadline.cancel(false);
    }

    @Override
    protected void decode(ChannelHandlerContext ctx, ByteBuf in, List<Object> out) {
        int n = Math.min(in.readableBytes(), PREFACE.readableBytes());
        boolean matches = ByteBufUtil.equals(in, in.readerIndex(), PREFACE, PREFACE.readerIndex(), n);
        if (matches && n < PREFACE.readableBytes()) {
            return; // so far a preface: wait for the rest
        }
        (matches ? http2 : http1).accept(ctx.pipeline());
        ctx.pipeline().remove(this); // what was read is handed to the next decoder
    }
}
