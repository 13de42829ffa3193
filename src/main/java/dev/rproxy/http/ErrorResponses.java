package dev.rproxy.http;

import io.netty.buffer.ByteBuf;
import io.netty.buffer.Unpooled;
import io.netty.channel.ChannelFuture;
import io.netty.channel.ChannelHandlerContext;
import io.netty.channel.ConnectTimeoutException;
import io.netty.handler.codec.TooLongFrameException;
import io.netty.handler.codec.http.DefaultFullHttpResponse;
import io.netty.handler.codec.http.FullHttpResponse;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpResponseStatus;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.handler.codec.http.TooLongHttpHeaderException;
import io.netty.handler.codec.http.TooLongHttpLineException;
import dev.rproxy.pool.PoolExhaustedException;
import dev.rproxy.pool.TlsHandshakeException;
import java.net.ConnectException;
import java.nio.charset.StandardCharsets;

/**
 * The one place that maps failures to the statuses the proxy produces itself, and builds those
 * responses: a status line, a short text body and an explicit length.
 *
 * <p>Every response made here is a {@link FullHttpResponse}; relayed responses never are, which is
 * how {@link HeaderSanitizingHandler} tells the two apart.
 */
public final class ErrorResponses {
    private ErrorResponses() {}

    /** Why an exchange failed, with the status to answer while nothing has been sent yet. */
    public enum Failure {
        BAD_REQUEST(HttpResponseStatus.BAD_REQUEST, "bad request"),
        REQUEST_TIMEOUT(HttpResponseStatus.REQUEST_TIMEOUT, "request head not received in time"),
        BODY_TIMEOUT(HttpResponseStatus.REQUEST_TIMEOUT, "request body not received in time"),
        BODY_INCOMPLETE(HttpResponseStatus.BAD_REQUEST, "request body incomplete: the client closed its side"),
        URI_TOO_LONG(HttpResponseStatus.REQUEST_URI_TOO_LONG, "request line too long"),
        HEADERS_TOO_LARGE(HttpResponseStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "request headers too large"),
        BODY_TOO_LARGE(HttpResponseStatus.REQUEST_ENTITY_TOO_LARGE, "request body too large"),
        CODING_NOT_IMPLEMENTED(HttpResponseStatus.NOT_IMPLEMENTED, "only the chunked transfer coding is supported"),
        METHOD_NOT_ALLOWED(HttpResponseStatus.METHOD_NOT_ALLOWED, "method not allowed"),
        CONNECT_NOT_ALLOWED(HttpResponseStatus.METHOD_NOT_ALLOWED, "CONNECT is not supported"),
        VERSION_NOT_SUPPORTED(HttpResponseStatus.HTTP_VERSION_NOT_SUPPORTED, "only HTTP/1.0 and HTTP/1.1 are supported"),
        MISSING_HOST(HttpResponseStatus.BAD_REQUEST, "bad request: HTTP/1.1 needs exactly one Host header"),
        BAD_HOST(HttpResponseStatus.BAD_REQUEST, "bad request: Host is not a valid authority"),
        NO_ROUTE(HttpResponseStatus.NOT_FOUND, "no route for this request"),
        FORBIDDEN(HttpResponseStatus.FORBIDDEN, "forbidden"),
        RATE_LIMITED(HttpResponseStatus.TOO_MANY_REQUESTS, "rate limit exceeded"),
        TOO_MANY_IN_FLIGHT(HttpResponseStatus.TOO_MANY_REQUESTS, "too many requests in flight"),
        TOKEN_REQUIRED(HttpResponseStatus.UNAUTHORIZED, "bearer token required"),
        INVALID_TOKEN(HttpResponseStatus.UNAUTHORIZED, "invalid bearer token"),
        MISDIRECTED(HttpResponseStatus.MISDIRECTED_REQUEST, "this host is not served here"),
        NO_BACKEND(HttpResponseStatus.SERVICE_UNAVAILABLE, "no healthy backend"),
        POOL_EXHAUSTED(HttpResponseStatus.SERVICE_UNAVAILABLE, "backend connection pool exhausted", 1),
        UPSTREAM_FULL(HttpResponseStatus.SERVICE_UNAVAILABLE, "upstream at its limit of requests in flight", 1),
        OVERLOADED(HttpResponseStatus.SERVICE_UNAVAILABLE, "proxy overloaded: buffer memory exhausted", 1),
        CONNECT_FAILED(HttpResponseStatus.BAD_GATEWAY, "backend connection failed"),
        TLS_FAILED(HttpResponseStatus.BAD_GATEWAY, "TLS handshake with the backend failed"),
        BACKEND_CLOSED(HttpResponseStatus.BAD_GATEWAY, "backend closed the connection"),
        BAD_RESPONSE(HttpResponseStatus.BAD_GATEWAY, "backend sent an invalid response"),
        CONNECT_TIMEOUT(HttpResponseStatus.GATEWAY_TIMEOUT, "backend connect timed out"),
        RESPONSE_TIMEOUT(HttpResponseStatus.GATEWAY_TIMEOUT, "backend response timed out"),
        SHUTTING_DOWN(HttpResponseStatus.SERVICE_UNAVAILABLE, "proxy is shutting down");

        public final HttpResponseStatus status;
        public final String message;
        /** Seconds for {@code Retry-After} (RFC 9110 section 10.2.3); 0: none. */
        public final int retryAfterSeconds;

        Failure(HttpResponseStatus status, String message) {
            this(status, message, 0);
        }

        Failure(HttpResponseStatus status, String message, int retryAfterSeconds) {
            this.status = status;
            this.message = message;
            this.retryAfterSeconds = retryAfterSeconds;
        }
    }

    /** Classifies a request decoding failure. */
    public static Failure ofDecoderFailure(Throwable cause) {
        if (cause instanceof TooLongHttpLineException) {
            return Failure.URI_TOO_LONG;
        }
        if (cause instanceof TooLongHttpHeaderException || cause instanceof TooLongFrameException) {
            return Failure.HEADERS_TOO_LARGE;
        }
        return Failure.BAD_REQUEST;
    }

    /** Classifies a failure to obtain an upstream connection. */
    public static Failure ofAcquireFailure(Throwable cause) {
        if (cause instanceof ConnectTimeoutException) {
            return Failure.CONNECT_TIMEOUT;
        }
        if (cause instanceof ConnectException || cause instanceof java.io.IOException) {
            return Failure.CONNECT_FAILED;
        }
        if (cause instanceof PoolExhaustedException) {
            return Failure.POOL_EXHAUSTED;
        }
        if (cause instanceof TlsHandshakeException) {
            return Failure.TLS_FAILED;
        }
        return Failure.CONNECT_FAILED;
    }

    /** A full response with a text body; {@code close} adds {@code Connection: close}. */
    public static FullHttpResponse response(HttpResponseStatus status, String message, boolean close) {
        ByteBuf body = Unpooled.copiedBuffer(message + "\n", StandardCharsets.UTF_8);
        FullHttpResponse response = new DefaultFullHttpResponse(HttpVersion.HTTP_1_1, status, body);
        response.headers()
                .set(HttpHeaderNames.CONTENT_TYPE, HttpHeaderValues.TEXT_PLAIN + "; charset=utf-8")
                .set(HttpHeaderNames.CONTENT_LENGTH, body.readableBytes());
        if (close) {
            HttpUtil.setKeepAlive(response, false);
        }
        return response;
    }

    /**
     * Writes the failure's response and flushes. With {@code close} it says {@code Connection:
     * close}; {@link HeaderSanitizingHandler} closes the connection after it.
     */
    public static ChannelFuture send(ChannelHandlerContext ctx, Failure failure, boolean close) {
        return ctx.writeAndFlush(response(failure, close));
    }

    /** The failure's response, with {@code Retry-After} when it has one; {@code close} as above. */
    public static FullHttpResponse response(Failure failure, boolean close) {
        FullHttpResponse response = response(failure.status, failure.message, close);
        if (failure.retryAfterSeconds > 0) {
            response.headers().set(HttpHeaderNames.RETRY_AFTER, failure.retryAfterSeconds);
        }
        return response;
    }
}
