package dev.rproxy.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;

/**
 * What the proxy changes in a relayed response head before it goes to the client: the backend's
 * hop-by-hop fields go ({@link HopByHopHeaders}), the version is the proxy's own (HTTP/1.1), and
 * the body is framed for this client. Pure functions of the head and what the client asked;
 * whether the connection persists is the connection's business ({@link HeaderSanitizingHandler}).
 */
final class ResponseFraming {
    private ResponseFraming() {}

    /**
     * Frames a final response for a client: {@code Content-Length} is kept; otherwise chunked for an
     * HTTP/1.1 client, or close-delimited for an HTTP/1.0 one; a response to HEAD, a 204 and a 304
     * carry no body. False when the body ends only with the connection.
     */
    static boolean frameFinal(HttpResponse response, boolean headRequest, HttpVersion clientVersion) {
        HttpHeaders headers = response.headers();
        HopByHopHeaders.strip(headers);
        response.setProtocolVersion(HttpVersion.HTTP_1_1);
        int code = response.status().code();
        if (code == 204) {
            headers.remove(HttpHeaderNames.CONTENT_LENGTH);
            return true;
        }
        if (headRequest || code == 304 || HttpUtil.isContentLengthSet(response)) {
            return true;
        }
        if (clientVersion.isKeepAliveDefault()) {
            headers.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
            return true;
        }
        return false; // an HTTP/1.0 client gets a close-delimited body
    }

    /** An interim (1xx) response other than 101: no hop-by-hop fields, the proxy's version. */
    static void frameInterim(HttpResponse response) {
        HopByHopHeaders.strip(response.headers());
        response.setProtocolVersion(HttpVersion.HTTP_1_1);
    }

    /**
     * A 101 the backend sent for an upgrade the proxy offered: the accepted protocol and {@code
     * Connection: upgrade} are the only hop-by-hop fields kept.
     */
    static void frameSwitch(HttpResponse response) {
        HttpHeaders headers = response.headers();
        String protocol = String.join(", ", headers.getAll(HttpHeaderNames.UPGRADE));
        HopByHopHeaders.strip(headers);
        headers.remove(HttpHeaderNames.CONTENT_LENGTH);
        headers.set(HttpHeaderNames.UPGRADE, protocol);
        headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE);
        response.setProtocolVersion(HttpVersion.HTTP_1_1);
    }
}
