package dev.rproxy.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaderValues;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.util.AsciiString;
import java.util.List;

/**
 * What the proxy changes in a request head that passed {@link RequestRules} before it goes to a
 * backend: the client's hop-by-hop fields go ({@link HopByHopHeaders}), a chunked body stays
 * chunked, an upgrade the proxy offers keeps {@code Upgrade} and {@code Connection: upgrade}, an
 * absolute-form target becomes origin-form, and the {@code X-Forwarded-*} fields and {@code
 * X-Real-IP} say who asked and how. A pure function of the head and the connection's facts.
 *
 * <p>{@code X-Forwarded-For} gets the peer appended, the hop this proxy saw, even when the client
 * is someone a trusted proxy named: the chain stays complete for whoever reads it next. {@code
 * X-Real-IP} is the client ({@link dev.rproxy.edge.ClientIdentity}).
 */
final class RequestForwarding {
    static final AsciiString X_FORWARDED_FOR = AsciiString.cached("x-forwarded-for");
    static final AsciiString X_FORWARDED_PROTO = AsciiString.cached("x-forwarded-proto");
    static final AsciiString X_FORWARDED_HOST = AsciiString.cached("x-forwarded-host");
    static final AsciiString X_REAL_IP = AsciiString.cached("x-real-ip");

    private RequestForwarding() {}

    /**
     * @param peerIp   the address of the connection's peer (a PROXY header's source, or the socket's)
     * @param clientIp the client's address: the peer's, or the one a trusted peer named
     * @param scheme   the value of {@code X-Forwarded-Proto}
     */
    static void prepare(HttpRequest request, String peerIp, String clientIp, String scheme) {
        HttpHeaders headers = request.headers();
        boolean chunked = HttpUtil.isTransferEncodingChunked(request);
        String upgrade = HopByHopHeaders.upgradeToOffer(request);
        HopByHopHeaders.strip(headers);
        if (chunked) {
            headers.set(HttpHeaderNames.TRANSFER_ENCODING, HttpHeaderValues.CHUNKED);
        }
        if (upgrade != null) {
            // The one hop-by-hop request the proxy passes on: the backend may accept it with 101.
            headers.set(HttpHeaderNames.UPGRADE, upgrade);
            headers.set(HttpHeaderNames.CONNECTION, HttpHeaderValues.UPGRADE);
        }
        RequestRules.toOriginForm(request);
        addForwardedFields(headers, peerIp, clientIp, scheme);
    }

    private static void addForwardedFields(HttpHeaders headers, String ip, String clientIp, String scheme) {
        List<String> prior = headers.getAll(X_FORWARDED_FOR);
        if (prior.isEmpty()) {
            headers.set(X_FORWARDED_FOR, ip);
        } else {
            headers.set(X_FORWARDED_FOR, String.join(", ", prior) + ", " + ip);
        }
        headers.set(X_FORWARDED_PROTO, scheme);
        String host = headers.get(HttpHeaderNames.HOST);
        if (host != null) {
            headers.set(X_FORWARDED_HOST, host);
        } else {
            headers.remove(X_FORWARDED_HOST);
        }
        headers.set(X_REAL_IP, clientIp);
    }
}
