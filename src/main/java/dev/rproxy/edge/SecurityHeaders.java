package dev.rproxy.edge;

import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.util.AsciiString;

/**
 * The preset of {@code securityHeaders}: what a browser should be told about every response of a
 * site behind the proxy, added where the backend said nothing of it, and the fields that only tell
 * an attacker which software answers removed.
 *
 * <ul>
 * <li>{@code X-Content-Type-Options: nosniff}: no guessing a script out of a text or image type;
 * <li>{@code Referrer-Policy: strict-origin-when-cross-origin}: other sites learn the origin, not
 *     the path and query;
 * <li>{@code X-Frame-Options: DENY} and, where the response has no {@code Content-Security-Policy},
 *     {@code Content-Security-Policy: frame-ancestors 'none'}: no framing (clickjacking). A backend's
 *     own policy is never replaced, so one that allows framing keeps doing so;
 * <li>on a TLS listener, {@code Strict-Transport-Security: max-age=31536000} (a year; without
 *     {@code includeSubDomains}, which would also bind sites this proxy does not serve);
 * <li>{@code Server} and {@code X-Powered-By} removed.
 * </ul>
 */
public final class SecurityHeaders {
    static final AsciiString X_CONTENT_TYPE_OPTIONS = AsciiString.cached("x-content-type-options");
    static final AsciiString REFERRER_POLICY = AsciiString.cached("referrer-policy");
    static final AsciiString X_FRAME_OPTIONS = AsciiString.cached("x-frame-options");
    static final AsciiString X_POWERED_BY = AsciiString.cached("x-powered-by");
    static final AsciiString STRICT_TRANSPORT_SECURITY = AsciiString.cached("strict-transport-security");
    static final AsciiString NOSNIFF = AsciiString.cached("nosniff");
    static final AsciiString STRICT_ORIGIN = AsciiString.cached("strict-origin-when-cross-origin");
    static final AsciiString DENY = AsciiString.cached("DENY");
    static final AsciiString FRAME_ANCESTORS_NONE = AsciiString.cached("frame-ancestors 'none'");
    static final AsciiString ONE_YEAR = AsciiString.cached("max-age=31536000");

    private SecurityHeaders() {
    }

    /** Applies the preset to a response's {@code headers}; {@code tls}: it goes out over TLS. */
    public static void apply(HttpHeaders headers, boolean tls) {
        headers.remove(HttpHeaderNames.SERVER);
        headers.remove(X_POWERED_BY);
        setIfAbsent(headers, X_CONTENT_TYPE_OPTIONS, NOSNIFF);
        setIfAbsent(headers, REFERRER_POLICY, STRICT_ORIGIN);
        setIfAbsent(headers, X_FRAME_OPTIONS, DENY);
        setIfAbsent(headers, HttpHeaderNames.CONTENT_SECURITY_POLICY, FRAME_ANCESTORS_NONE);
        if (tls) {
            setIfAbsent(headers, STRICT_TRANSPORT_SECURITY, ONE_YEAR);
        }
    }

    private static void setIfAbsent(HttpHeaders headers, AsciiString name, AsciiString value) {
        if (!headers.contains(name)) {
            headers.set(name, value);
        }
    }
}
