package dev.rproxy.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.AsciiString;
import java.util.ArrayList;
import java.util.List;

/**
 * Hop-by-hop header handling (RFC 9110 section 7.6.1): pure functions over {@link HttpHeaders}.
 *
 * <p>A proxy must remove the fixed set of connection-specific fields and, in addition, every field
 * named as a token in {@code Connection}: a client may declare any header hop-by-hop that way, and
 * forwarding it would leak per-connection state to the next hop.
 */
public final class HopByHopHeaders {

    /** The fields that are always connection-specific, whatever {@code Connection} says. */
    private static final AsciiString[] ALWAYS = {
        HttpHeaderNames.CONNECTION,
        HttpHeaderNames.KEEP_ALIVE,
        HttpHeaderNames.PROXY_CONNECTION,
        HttpHeaderNames.TE,
        HttpHeaderNames.TRAILER,
        HttpHeaderNames.TRANSFER_ENCODING,
        HttpHeaderNames.UPGRADE,
    };

    private static final String H2C = "h2c";

    private HopByHopHeaders() {}

    /**
     * Removes every hop-by-hop field from {@code headers}, including those named in {@code
     * Connection} (all occurrences, comma-separated, case-insensitive). Framing fields are removed
     * too; the caller re-derives framing for the next hop.
     */
    public static void strip(HttpHeaders headers) {
        List<String> named = connectionTokens(headers);
        for (AsciiString name : ALWAYS) {
            headers.remove(name);
        }
        for (int i = 0; i < named.size(); i++) {
            String token = named.get(i);
            // Content-Length is end-to-end framing, never hop-by-hop: a client naming it in
            // Connection must not make the proxy forward a body without a length.
            if (!HttpHeaderNames.CONTENT_LENGTH.contentEqualsIgnoreCase(token)) {
                headers.remove(token);
            }
        }
    }

    /**
     * The protocols a request asks to switch to (RFC 9110 section 7.8), as one {@code Upgrade} value,
     * or {@code null} when it asks for none: only an HTTP/1.1 request can ask (a server ignores
     * {@code Upgrade} in HTTP/1.0), and only with {@code upgrade} among its {@code Connection}
     * tokens, since {@code Upgrade} is hop-by-hop like any other field named there.
     *
     * <p>{@code h2c} is never offered: HTTP/2 inside the tunnel would carry requests the proxy never
     * sees, past every rule it applies to requests (the "h2c smuggling" of proxies that pass it on).
     */
    static String upgradeRequested(HttpRequest request) {
        if (!request.headers().contains(HttpHeaderNames.UPGRADE) || !request.protocolVersion().equals(HttpVersion.HTTP_1_1)) {
            return null;
        }
        List<String> protocols = upgradeTokens(request.headers());
        if (protocols.isEmpty()) {
            return null;
        }
        protocols.removeIf(H2C::equalsIgnoreCase);
        if (protocols.isEmpty()) {
            return null;
        }
        for (String token : connectionTokens(request.headers())) {
            if (HttpHeaderValues.UPGRADE.contentEqualsIgnoreCase(token)) {
                return String.join(", ", protocols);
            }
        }
        return null;
    }

    /**
     * The protocols the proxy offers the backend for {@code request}: those it {@linkplain
     * #upgradeRequested asks for}, when it has no body. The protocols switch where the request
     * ends; with a body still to relay, that point is not one both sides agree on, so such a
     * request is forwarded as a plain one. {@code null} when nothing is offered.
     *
     * <p>The codec and the sanitizer both decide by this: the codec holds back what follows such a
     * request until the backend has answered it.
     */
    public static String upgradeToOffer(HttpRequest request) {
        String upgrade = upgradeRequested(request);
        if (upgrade == null || HttpUtil.isTransferEncodingChunked(request) || HttpUtil.getContentLength(request, 0L) > 0) {
            return null;
        }
        return upgrade;
    }

    /**
     * The protocols of all {@code Upgrade} fields, trimmed, in order; an immutable empty list when
     * there is none, else a list the caller may change.
     */
    public static List<String> upgradeTokens(HttpHeaders headers) {
        return tokens(headers.getAll(HttpHeaderNames.UPGRADE));
    }

    /** The tokens of all {@code Connection} fields, trimmed; empty when there is none. */
    static List<String> connectionTokens(HttpHeaders headers) {
        return tokens(headers.getAll(HttpHeaderNames.CONNECTION));
    }

    /** The elements of comma-separated list fields (RFC 9110 section 5.6.1), trimmed, empty ones dropped. */
    private static List<String> tokens(List<String> values) {
        if (values.isEmpty()) {
            return List.of();
        }
        List<String> tokens = new ArrayList<>(4);
        for (String value : values) {
            int start = 0;
            int len = value.length();
            while (start <= len) {
                int comma = value.indexOf(',', start);
                int end = comma < 0 ? len : comma;
                String token = value.substring(start, end).trim();
                if (!token.isEmpty()) {
                    tokens.add(token);
                }
                start = end + 1;
            }
        }
        return tokens;
    }
}
