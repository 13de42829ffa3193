package dev.rproxy.http2;

import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelDuplexHandler;
import io.netty.channel.ChannelFutureListener;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ChannelPromise;
import io.netty.handler.codec.DecoderException;
import io.netty.handler.codec.DecoderResult;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.DefaultHttpRequest;
import io.netty.handler.codec.http.DefaultLastHttpContent;
import io.netty.handler.codec.http.EmptyHttpHeaders;
import io.netty.handler.codec.http.FullHttpRequest;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpStatusClass;
import io.netty.handler.codec.http.LastHttpContent;
import io.netty.handler.codec.http2.DefaultHttp2ResetFrame;
import io.netty.handler.codec.http2.Http2Exception;
import io.netty.handler.codec.http2.HttpConversionUtil.ExtensionHeaderNames;
import java.util.List;
import java.util.Map;

/**
 * On an HTTP/2 stream, between Netty's frame-to-HTTP/1-object codec and the handlers every request
 * goes through: makes a stream's request look exactly like a decoded HTTP/1 request, and a response
 * written for HTTP/1 encodable as frames.
 *
 * <p>Inbound: a request that came as one HEADERS frame with END_STREAM arrives as a full request;
 * it goes on as its head and then its (empty) end, as the HTTP/1 decoder delivers them. The
 * codec's own fields ({@code x-http2-stream-id}, {@code x-http2-scheme}) are removed. Field values
 * with CR, LF or NUL, or with whitespace at either end, make a request malformed (RFC 9113 section
 * 8.2.1). Netty's HPACK decoder resets most such streams itself (CR, LF, NUL, leading whitespace);
 * what it lets through (whitespace at the end) is found here, and the request is refused with 400
 * by the sanitizer, as a malformed HTTP/1 head is. Neither is forwarded.
 * {@code :authority} and a {@code host} field become one {@code Host} when they agree; when they
 * differ the request is malformed (RFC 9113 section 8.3.1), and the stream is reset with
 * PROTOCOL_ERROR (Netty's conversion refuses it; {@link #exceptionCaught}).
 *
 * <p>Outbound: an interim response (100, 103) written as a head and an empty end, as HTTP/1 writes
 * it, becomes one HEADERS frame without END_STREAM; its end is dropped, since over HTTP/2 it would
 * end the stream.
 */
final class StreamMessages extends ChannelDuplexHandler {
    static final List<CharSequence> CODEC_FIELDS = List.of(ExtensionHeaderNames.STREAM_ID.text(),
            ExtensionHeaderNames.SCHEME.text(), ExtensionHeaderNames.PATH.text(),
            ExtensionHeaderNames.STREAM_PROMISE_ID.text(), ExtensionHeaderNames.STREAM_DEPENDENCY_ID.text(),
            ExtensionHeaderNames.STREAM_WEIGHT.text());

    private boolean interimEndPending;

    @Override
    public void channelRead(ChannelHandlerContext ctx, Object msg) {
        if (!(msg instanceof HttpRequest request)) {
            ctx.fireChannelRead(msg);
            return;
        }
        HttpHeaders headers = request.headers();
        for (CharSequence name : CODEC_FIELDS) {
            headers.remove(name);
        }
        String malformed = malformed(headers);
        if (malformed != null && request.decoderResult().isSuccess()) {
            request.setDecoderResult(DecoderResult.failure(new DecoderException(malformed)));
        }
        if (request instanceof FullHttpRequest full) {
            HttpRequest head = new DefaultHttpRequest(full.protocolVersion(), full.method(), full.uri(), headers);
            head.setDecoderResult(full.decoderResult());
            ctx.fireChannelRead(head);
            ctx.fireChannelRead(new DefaultLastHttpContent(full.content(), full.trailingHeaders()));
            return;
        }
        ctx.fireChannelRead(request);
    }

    /** Why the fields make the request malformed, or {@code null}; merges agreeing Host values. */
    private static String malformed(HttpHeaders headers) {
        for (Map.Entry<String, String> field : headers) {
            String value = field.getValue();
            int n = value.length();
            if (n > 0 && (isSpace(value.charAt(0)) || isSpace(value.charAt(n - 1)))) {
                return "field " + field.getKey() + ": whitespace at the ends of its value";
            }
            for (int i = 0; i < n; i++) {
                char c = value.charAt(i);
                if (c == '\r' || c == '\n' || c == 0) {
                    return "field " + field.getKey() + ": CR, LF or NUL in its value";
                }
            }
        }
        List<String> hosts = headers.getAll(HttpHeaderNames.HOST);
        if (hosts.size() > 1) {
            for (String host : hosts) {
                if (!host.equalsIgnoreCase(hosts.get(0))) {
                    return ":authority and host differ";
                }
            }
            headers.set(HttpHeaderNames.HOST, hosts.get(0));
        }
        return null;
    }

    private static boolean isSpace(char c) {
        return c == ' ' || c == '\t';
    }

    /**
     * A request the conversion refuses (for instance {@code :authority} and {@code host} that
     * differ) ends its stream with the stream error's code, not as a cancelled stream.
     */
    @Override
    public void exceptionCaught(ChannelHandlerContext ctx, Throwable cause) {
        Throwable error = cause instanceof DecoderException && cause.getCause() != null ? cause.getCause() : cause;
        if (error instanceof Http2Exception http2) {
            ctx.writeAndFlush(new DefaultHttp2ResetFrame(http2.error())).addListener(ChannelFutureListener.CLOSE);
            return;
        }
        ctx.fireExceptionCaught(cause);
    }

    @Override
    public void write(ChannelHandlerContext ctx, Object msg, ChannelPromise promise) {
        if (msg instanceof HttpResponse response && !(msg instanceof FullHttpResponse)
                && response.status().codeClass() == HttpStatusClass.INFORMATIONAL && response.status().code() != 101) {
            interimEndPending = true;
            ctx.write(new DefaultFullHttpResponse(response.protocolVersion(), response.status(), Unpooled.EMPTY_BUFFER,
                    response.headers(), EmptyHttpHeaders.INSTANCE), promise);
            return;
        }
        if (interimEndPending && msg instanceof LastHttpContent end) {
            interimEndPending = false;
            end.release();
            promise.trySuccess();
            return;
        }
        ctx.write(msg, promise);
    }
}
