package dev.rproxy.http2;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.http.DefaultFullHttpRequest;
import io.netty.handler.codec.http.DefaultHttpResponse;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.Http2Error;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.Http2GoAwayFrame;
import io.netty.handler.codec.http2.Http2ResetFrame;
import io.netty.handler.codec.http2.HttpConversionUtil.ExtensionHeaderNames;
import io.netty.util.ReferenceCountUtil;

/**
 * On a stream of an HTTP/2 connection to a backend, between Netty's frame-to-HTTP/1-object codec
 * and the handler that gives an exchange what the backend sends: the exchange writes and reads the
 * same messages as on an HTTP/1 connection.
 *
 * <p>Inbound: a response that came as one HEADERS frame (an interim response, or a final one with
 * END_STREAM, trailers-only gRPC answers among them) goes on as its head and then its end, with
 * its trailer fields, as the HTTP/1 decoder delivers them; the codec's own {@code x-http2-*}
 * fields are removed. A reset of the stream, and a GOAWAY that leaves it unprocessed, become a
 * {@link StreamEndedException}: the exchange learns why, and whether the backend never processed
 * the request (RFC 9113 section 8.7), which any request may be sent again after.
 *
 * <p>Outbound: a request head followed at once by an empty end without trailers (every request
 * without a body) is sent as one HEADERS frame with END_STREAM rather than HEADERS and an empty
 * DATA frame. The head is held only until that next write or a flush.
 */
public final class BackendStreamMessages extends ChannelDuplexHandler {
    private HttpRequest heldHead;
    private ChannelPromise heldPromise;

    /**
     * Why a stream to a backend ended before its response did: a RST_STREAM from the backend, or
     * its GOAWAY with a last stream id below this stream's.
     */
    public static final class StreamEndedException extends Exception {
        private static final long serialVersionUID = 1L;
        private final boolean unprocessed;

        StreamEndedException(String message, boolean unprocessed) {
            super(message, null, false, false);
            this.unprocessed = unprocessed;
        }
    }

    /**
     * Whether {@code cause} says the backend never processed the request: GOAWAY above the
     * stream's id, REFUSED_STREAM, or a stream the connection could not open.
     */
    public static boolean unprocessed(Throwable cause) {
        if (cause instanceof StreamEndedException ended) {
            return ended.unprocessed;
        }
        return cause instanceof Http2Exception h2 && h2.error() == Http2Error.REFUSED_STREAM;
    }

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof HttpResponse response)) {
            ctx.fireChannelRead(msg);
            return;
        }
        HttpHeaders headers = response.headers();
        for (CharSequence name : StreamMessages.CODEC_FIELDS) {
            headers.remove(name);
        }
        if (response instanceof FullHttpResponse full) {
            HttpResponse head = new DefaultHttpResponse(full.protocolVersion(), full.status(), headers);
            head.setDecoderResult(full.decoderResult());
            ctx.fireChannelRead(head);
            ctx.fireChannelRead(new DefaultLastHttpContent(full.content(), full.trailingHeaders()));
            return;
        }
        ctx.fireChannelRead(response);
    }

    @Override
    public void userEventTriggered(ChannelHandlerContext ctx, Object evt) {
        if (evt instanceof Http2ResetFrame reset) {
            Http2Error error = Http2Error.valueOf(reset.errorCode());
            String code = error != null ? error.name() : Long.toString(reset.errorCode());
            ctx.fireExceptionCaught(new StreamEndedException("the backend reset the stream (" + code + ")",
                    error == Http2Error.REFUSED_STREAM));
            return;
        }
        if (evt instanceof Http2GoAwayFrame goAway) {
            // Sent to the streams the backend will not process: above its last stream id.
            String message = "the backend closed the connection (GOAWAY " + goAway.errorCode()
                    + ") before processing the stream";
            ReferenceCountUtil.release(goAway);
            ctx.fireExceptionCaught(new StreamEndedException(message, true));
            return;
        }
        ctx.fireUserEventTriggered(evt);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (heldHead != null) {
            HttpRequest head = heldHead;
            ChannelPromise headPromise = heldPromise;
            heldHead = null;
            heldPromise = null;
            if (msg instanceof LastHttpContent end && !end.content().isReadable() && end.trailingHeaders().isEmpty()) {
                end.release();
                FullHttpRequest whole = new DefaultFullHttpRequest(head.protocolVersion(), head.method(), head.uri(),
                        Unpooled.EMPTY_BUFFER, head.headers(), end.trailingHeaders());
                headPromise.trySuccess();
                writeRequestHead(ctx, whole, promise);
                return;
            }
            writeRequestHead(ctx, head, headPromise);
        }
        if (msg instanceof HttpRequest request && !(msg instanceof FullHttpRequest)) {
            heldHead = request;
            heldPromise = promise;
            return;
        }
        if (msg instanceof HttpRequest request) {
            writeRequestHead(ctx, request, promise);
            return;
        }
        ctx.write(msg, promise);
    }

    @Override
    public void flush(ChannelHandlerContext ctx) {
        if (heldHead != null) {
            HttpRequest head = heldHead;
            heldHead = null;
            writeRequestHead(ctx, head, heldPromise);
            heldPromise = null;
        }
        ctx.flush();
    }

    /**
     * Writes a request head through the codec, with {@code te: trailers}: the proxy relays trailers
     * both ways, so it takes them from an HTTP/2 backend whatever the client said (gRPC servers
     * require the field, RFC 9113 section 8.2.2; nginx's grpc_pass sends it too). The codec marks
     * the head with its scheme field to build the pseudo-headers. Both are removed again
     * afterwards: the head is the exchange's and may yet be sent elsewhere (a retry on another,
     * HTTP/1.1, backend, where TE is hop-by-hop).
     */
    private static void writeRequestHead(ChannelHandlerContext ctx, HttpRequest head, ChannelPromise promise) {
        HttpHeaders headers = head.headers();
        headers.set(HttpHeaderNames.TE, HttpHeaderValues.TRAILERS);
        ctx.write(head, promise);
        headers.remove(ExtensionHeaderNames.SCHEME.text());
        headers.remove(HttpHeaderNames.TE);
    }

    @Override
    public void handlerRemoved(ChannelHandlerContext ctx) {
        if (heldHead != null) {
            heldHead = null;
            heldPromise.tryFailure(new IllegalStateException("stream closed before its request was sent"));
        }
    }
}
