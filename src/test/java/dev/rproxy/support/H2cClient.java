package dev.rproxy.support;

import io.netty.bootstrap.Bootstrap;
import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.Channel;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelInboundHandlerAdapter;
import io.netty.channel.ChannelInitializer;
import io.netty.channel.ChannelPipeline;
import io.netty.channel.EventLoopGroup;
import io.netty.channel.MultiThreadIoEventLoopGroup;
import io.netty.channel.nio.NioIoHandler;
import io.netty.channel.socket.SocketChannel;
import io.netty.channel.socket.nio.NioSocketChannel;
import io.netty.handler.codec.http2.DefaultHttp2DataFrame;
import io.netty.handler.codec.http2.DefaultHttp2Headers;
import io.netty.handler.codec.http2.DefaultHttp2HeadersFrame;
import io.netty.handler.codec.http2.DefaultHttp2WindowUpdateFrame;
import io.netty.handler.codec.http2.Http2DataFrame;
import io.netty.handler.codec.http2.Http2FrameCodecBuilder;
import io.netty.handler.codec.http2.Http2Headers;
import io.netty.handler.codec.http2.Http2HeadersFrame;
import io.netty.handler.codec.http2.Http2MultiplexHandler;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.Http2StreamChannel;
import io.netty.handler.codec.http2.Http2StreamChannelBootstrap;
import io.netty.handler.ssl.ApplicationProtocolNames;
import io.netty.handler.ssl.SslContext;
import io.netty.handler.ssl.SslHandler;
import io.netty.util.ReferenceCountUtil;
import java.io.ByteArrayOutputStream;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.CountDownLatch;
import java.util.concurrent.TimeUnit;

/**
 * A plaintext HTTP/2 client with prior knowledge (h2c), on Netty's frame codec: one connection,
 * any number of streams, each answered as a {@link Response}. Streams may be opened with reading
 * paused, to hold a response unread while others go on. Close it to free its connection and thread.
 */
public final class H2cClient implements AutoCloseable {
    private final EventLoopGroup group = new MultiThreadIoEventLoopGroup(1, NioIoHandler.newFactory());
    private static final int CONNECTION_WINDOW = 64 * 1024 * 1024;
    private final Channel connection;

    /**
     * A stream's answer: its status and fields, the body bytes, the reset code if it was reset, and
     * its trailer fields ({@code null} when none came).
     */
    public record Response(Http2Headers headers, byte[] body, Long resetCode, Http2Headers trailers) {
        public int status() {
            return headers == null ? 0 : Integer.parseInt(headers.status().toString());
        }
    }

    public H2cClient(int port) throws InterruptedException {
        this(port, null, null);
    }

    /**
     * A connection that starts with {@code prelude} (a PROXY protocol header; {@code null}: none),
     * then speaks HTTP/2: with prior knowledge, or with {@code tls} (whose ALPN offers {@code h2})
     * over TLS; the handshake must then choose {@code h2}.
     */
    public H2cClient(int port, byte[] prelude, SslContext tls) throws InterruptedException {
        try {
            connection = connect(port, prelude, tls);
        } catch (Throwable e) { // sync() also throws what failed (a refused connect) unchecked
            group.shutdownGracefully(0, 1, TimeUnit.SECONDS);
            throw e;
        }
    }

    private Channel connect(int port, byte[] prelude, SslContext tls) throws InterruptedException {
        CountDownLatch ready = new CountDownLatch(1);
        Channel connection = new Bootstrap().group(group).channel(NioSocketChannel.class)
                .handler(new ChannelInitializer<SocketChannel>() {
                    @Override
                    protected void initChannel(SocketChannel ch) {
                        if (prelude == null) {
                            http2(ch.pipeline(), tls, port);
                            ready.countDown();
                            return;
                        }
                        // The HTTP/2 codec sends its preface as the connect completes, before the
                        // channel is active: it is added only once the prelude has gone out.
                        ch.pipeline().addLast(new ChannelInboundHandlerAdapter() {
                            @Override
                            public void channelActive(ChannelHandlerContext ctx) {
                                ctx.writeAndFlush(Unpooled.wrappedBuffer(prelude));
                                http2(ctx.pipeline(), tls, port);
                                ctx.pipeline().remove(this);
                                ready.countDown();
                            }
                        });
                    }
                })
                .connect("127.0.0.1", port).sync().channel();
        if (!ready.await(5, TimeUnit.SECONDS)) {
            connection.close();
            throw new IllegalStateException("connection not active within 5 s");
        }
        if (tls != null) {
            SslHandler handshake = connection.pipeline().get(SslHandler.class);
            handshake.handshakeFuture().sync();
            if (!ApplicationProtocolNames.HTTP_2.equals(handshake.applicationProtocol())) {
                connection.close();
                throw new IllegalStateException("ALPN chose " + handshake.applicationProtocol() + ", not h2");
            }
        }
        // A connection window far larger than a stream's, as browsers open: a stream left unread
        // then holds up only itself, on this side too.
        connection.writeAndFlush(new DefaultHttp2WindowUpdateFrame(CONNECTION_WINDOW)).sync();
        return connection;
    }

    private static void http2(ChannelPipeline pipeline, SslContext tls, int port) {
        if (tls != null) {
            pipeline.addLast(tls.newHandler(pipeline.channel().alloc(), "127.0.0.1", port));
        }
        // Sends field sections over the proxy's advertised limit: tests need to.
        pipeline.addLast(Http2FrameCodecBuilder.forClient().encoderIgnoreMaxHeaderListSize(true).build(),
                new Http2MultiplexHandler(new ChannelInboundHandlerAdapter()));
    }

    /** Sends a request of {@code headers} (pseudo-headers included) and {@code body} (may be null). */
    public CompletableFuture<Response> send(Http2Headers headers, byte[] body) throws InterruptedException {
        return open(headers, body, true).response;
    }

    /** An open stream: its channel (to pause or resume reading) and its answer to come. */
    public record Stream(Http2StreamChannel channel, CompletableFuture<Response> response) {
        /** Lets the stream read (and so open its flow-control window) again. */
        public void resume() {
            channel.eventLoop().execute(() -> {
                channel.config().setAutoRead(true);
                channel.read();
            });
        }
    }

    /** As {@link #send}, the body followed by {@code trailers}. */
    public CompletableFuture<Response> send(Http2Headers headers, byte[] body, Http2Headers trailers)
            throws InterruptedException {
        return open(headers, body, trailers, true).response;
    }

    /** As {@link #send}, but reading the answer only while {@code reading} (see {@link Stream#resume}). */
    public Stream open(Http2Headers headers, byte[] body, boolean reading) throws InterruptedException {
        return open(headers, body, null, reading);
    }

    private Stream open(Http2Headers headers, byte[] body, Http2Headers trailers, boolean reading)
            throws InterruptedException {
        CompletableFuture<Response> response = new CompletableFuture<>();
        Http2StreamChannel stream = new Http2StreamChannelBootstrap(connection)
                .handler(new Collector(response))
                .open().sync().getNow();
        stream.config().setAutoRead(reading);
        boolean hasBody = body != null && body.length > 0;
        stream.write(new DefaultHttp2HeadersFrame(headers, !hasBody && trailers == null)).addListener(f -> {
            if (!f.isSuccess()) {
                response.completeExceptionally(f.cause());
            }
        });
        if (hasBody) {
            stream.write(new DefaultHttp2DataFrame(Unpooled.wrappedBuffer(body), trailers == null));
        }
        if (trailers != null) {
            stream.write(new DefaultHttp2HeadersFrame(trailers, true));
        }
        stream.flush();
        return new Stream(stream, response);
    }

    /** GET {@code path} with {@code :authority} 127.0.0.1. */
    public static Http2Headers get(String path) {
        // Not validated here: tests send what the proxy must refuse.
        return new DefaultHttp2Headers(false).method("GET").scheme("http").authority("127.0.0.1").path(path);
    }

    /** The connection: to wait for its close, or to read what the proxy's settings allow. */
    public Channel connection() {
        return connection;
    }

    /**
     * Opens a stream with a request head and no end, then resets it at once (RST_STREAM CANCEL), as
     * a client does that abandons a request. False when the connection is closed.
     */
    public boolean openAndReset(Http2Headers headers) throws InterruptedException {
        io.netty.util.concurrent.Future<Http2StreamChannel> opened = new Http2StreamChannelBootstrap(connection)
                .handler(new ChannelInboundHandlerAdapter()).open().await();
        if (!opened.isSuccess()) {
            return false;
        }
        Http2StreamChannel stream = opened.getNow();
        stream.writeAndFlush(new DefaultHttp2HeadersFrame(headers, false));
        stream.close();
        return true;
    }

    @Override
    public void close() {
        connection.close().awaitUninterruptibly(5, TimeUnit.SECONDS);
        group.shutdownGracefully(0, 1, TimeUnit.SECONDS).awaitUninterruptibly(5, TimeUnit.SECONDS);
    }

    private static final class Collector extends ChannelInboundHandlerAdapter {
        private final CompletableFuture<Response> response;
        private final ByteArrayOutputStream body = new ByteArrayOutputStream();
        private Http2Headers headers;
        private Http2Headers trailers;

        Collector(CompletableFuture<Response> response) {
            this.response = response;
        }

        @Override
        public void channelRead(ChannelHandlerContext ctx, Object msg) {
            try {
                if (msg instanceof Http2HeadersFrame frame) {
                    boolean interim = frame.headers().status() != null && frame.headers().status().charAt(0) == '1';
                    if (!interim && headers == null) {
                        headers = frame.headers();
                    } else if (!interim) {
                        trailers = frame.headers();
                    }
                    if (frame.isEndStream()) {
                        response.complete(new Response(headers, body.toByteArray(), null, trailers));
                    }
                } else if (msg instanceof Http2DataFrame frame) {
                    ByteBuf content = frame.content();
                    content.readBytes(body, content.readableBytes());
                    if (frame.isEndStream()) {
                        response.complete(new Response(headers, body.toByteArray(), null, trailers));
                    }
                }
            } catch (java.io.IOException e) {
                response.completeExceptionally(e);
            } finally {
                ReferenceCountUtil.release(msg);
            }
        }

        @Override
        public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
            if (evt instanceof Http2ResetFrame reset) { // a reset reaches a stream as an event
                response.complete(new Response(headers, body.toByteArray(), reset.errorCode(), trailers));
            }
            ReferenceCountUtil.release(evt);
        }

        @Override
        public void channelInactive(ChannelHandlerContext ctx) {
            response.completeExceptionally(new IllegalStateException("stream closed without an answer"));
        }
    }
}
