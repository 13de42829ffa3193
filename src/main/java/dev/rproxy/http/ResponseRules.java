package dev.rproxy.http;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpResponse;
import io.netty.handler.codec.http.HttpUtil;
import java.util.List;

/**
 * The checks a backend's response head must pass before anything of it is relayed, beyond what the
 * decoder already rejects (framing, grammar): pure functions, the counterpart of {@link
 * RequestRules}.
 */
public final class ResponseRules {
    private ResponseRules() {}

    /**
     * Why {@code response} cannot be relayed to the request it answers, or {@code null}.
     *
     * @param method the request's method
     * @param offeredUpgrade the request's {@code Upgrade} headers when it offered to switch protocols,
     *     {@code null} when it did not
     */
    public static String violation(HttpResponse response, HttpMethod method, HttpHeaders offeredUpgrade) {
        int code = response.status().code();
        if (code < 100 || code > 599 || response.protocolVersion().majorVersion() != 1) {
            // RFC 9110 section 15: three digits; and this proxy speaks HTTP/1.x to backends.
            return "bad status line: " + response.protocolVersion() + " " + code;
        }
        if (code == 101) {
            if (offeredUpgrade == null) {
                return "101 without an upgrade request";
            }
            List<String> accepted = HopByHopHeaders.upgradeTokens(response.headers());
            if (accepted.isEmpty()) {
                return "101 without Upgrade"; // RFC 9110 section 15.2.2
            }
            if (!offered(accepted, HopByHopHeaders.upgradeTokens(offeredUpgrade))) {
                return "101 to a protocol not offered: " + response.headers().get(HttpHeaderNames.UPGRADE);
            }
            return null;
        }
        if (code >= 200 && !hasNoBody(method, code) && !codingIsChunkedOnly(response.headers())) {
            // Only chunked is decoded; any other coding (gzip, identity, xchunked) would be stripped
            // with the hop-by-hop header and its bytes relayed as if unencoded, or, with chunked not
            // last, the body read until close where another parser reads chunks.
            return "transfer coding other than exactly chunked: "
                    + response.headers().getAll(HttpHeaderNames.TRANSFER_ENCODING);
        }
        return null;
    }

    /** A final response that carries no body whatever its framing headers say (RFC 9112 section 6.3). */
    public static boolean hasNoBody(HttpMethod method, int status) {
        return HttpMethod.HEAD.equals(method) || status == 204 || status == 304;
    }

    /**
     * Whether the backend connection may carry another exchange after {@code response}: the backend
     * keeps it alive and the body's end is known without the connection closing.
     */
    public static boolean leavesConnectionReusable(HttpResponse response, HttpMethod method) {
        return HttpUtil.isKeepAlive(response)
                && (HttpUtil.isContentLengthSet(response)
                        || HttpUtil.isTransferEncodingChunked(response)
                        || hasNoBody(method, response.status().code()));
    }

    /** No {@code Transfer-Encoding}, or exactly one field whose value is {@code chunked}. */
    private static boolean codingIsChunkedOnly(HttpHeaders headers) {
        if (!headers.contains(HttpHeaderNames.TRANSFER_ENCODING)) {
            return true;
        }
        List<String> codings = headers.getAll(HttpHeaderNames.TRANSFER_ENCODING);
        return codings.size() == 1 && codings.get(0).trim().equalsIgnoreCase("chunked");
    }

    /** Whether every protocol switched to was among those offered (RFC 9110 section 7.8). */
    private static boolean offered(List<String> accepted, List<String> asked) {
        for (String protocol : accepted) {
            if (asked.stream().noneMatch(protocol::equalsIgnoreCase)) {
                return false;
            }
        }
        return true;
    }
}
