package dev.rproxy.http;

import dev.rproxy.config.SecurityConfig;
import dev.rproxy.http.ErrorResponses.Failure;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpMethod;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.handler.codec.http.HttpUtil;
import io.netty.handler.codec.http.HttpVersion;
import io.netty.util.NetUtil;
import java.util.List;

/**
 * The checks a request head must pass before anything of it is forwarded, beyond what Netty's
 * decoder already rejects (ambiguous or malformed framing, header syntax): pure functions.
 */
final class RequestRules {
    private RequestRules() {}

    /** The methods a request method outside of is refused with 405 when none are configured. */
    private static final List<String> FORWARDED_BY_DEFAULT =
            List.of("GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE");

    /**
     * The {@code Allow} value of a 405 (RFC 9110 section 10.2.1): the methods this proxy forwards,
     * never {@code CONNECT}, which it always refuses. With {@code security.allowedMethods} that is
     * the configured list; without it every method but CONNECT is forwarded, and the registered
     * ones are named.
     */
    static String allowed(SecurityConfig security) {
        List<String> methods = security.allowedMethods().isEmpty() ? FORWARDED_BY_DEFAULT : security.allowedMethods();
        StringBuilder allow = new StringBuilder();
        for (String m : methods) {
            if (!m.equals("CONNECT")) {
                allow.append(allow.length() == 0 ? "" : ", ").append(m);
            }
        }
        return allow.toString();
    }

    /** The first rule {@code request} breaks, or {@code null}. */
    static Failure check(HttpRequest request, int maxHeaderCount, long maxBodyBytes, SecurityConfig security) {
        HttpVersion version = request.protocolVersion();
        if (version.majorVersion() != 1 || version.minorVersion() > 1 || !"HTTP".equals(version.protocolName())) {
            return Failure.VERSION_NOT_SUPPORTED;
        }
        HttpHeaders headers = request.headers();
        int hosts = headers.getAll(HttpHeaderNames.HOST).size();
        if (hosts > 1 || (hosts == 0 && version.minorVersion() == 1)) {
            return Failure.MISSING_HOST; // RFC 9112 section 3.2
        }
        if (hosts == 1 && !isValidAuthority(headers.get(HttpHeaderNames.HOST))) {
            return Failure.BAD_HOST;
        }
        if (HttpMethod.CONNECT.equals(request.method())) {
            // A tunnel is not an exchange: after a 2xx the backend connection would stop being HTTP.
            return Failure.CONNECT_NOT_ALLOWED;
        }
        if (!isValidTarget(request.uri(), request.method())) {
            return Failure.BAD_REQUEST;
        }
        if (!security.allowedMethods().isEmpty() && !security.allowedMethods().contains(request.method().name())) {
            return Failure.METHOD_NOT_ALLOWED;
        }
        if (security.rejectDotSegments() && hasDotSegmentOrEncodedNul(request.uri())) {
            return Failure.BAD_REQUEST;
        }
        Failure coding = checkTransferCoding(headers);
        if (coding != null) {
            return coding;
        }
        if (headers.size() > maxHeaderCount) {
            return Failure.HEADERS_TOO_LARGE;
        }
        if (maxBodyBytes > 0 && HttpUtil.getContentLength(request, 0L) > maxBodyBytes) {
            return Failure.BODY_TOO_LARGE;
        }
        return null;
    }

    /**
     * RFC 9112 section 3.2: origin-form ({@code /path?query}), absolute-form ({@code
     * http://authority/path}), or {@code *} for OPTIONS; only visible ASCII (0x21-0x7e), so no
     * control byte, space or non-ASCII byte is passed on or re-encoded; no fragment.
     */
    static boolean isValidTarget(String target, HttpMethod method) {
        int n = target.length();
        if (n == 0) {
            return false;
        }
        for (int i = 0; i < n; i++) {
            char c = target.charAt(i);
            if (c < 0x21 || c > 0x7e || c == '#') {
                return false;
            }
        }
        char first = target.charAt(0);
        if (first == '/') {
            return true;
        }
        if (first == '*') {
            return n == 1 && HttpMethod.OPTIONS.equals(method);
        }
        return absoluteFormAuthorityEnd(target) > 0;
    }

    /**
     * Whether the path has a {@code .} or {@code ..} segment, literal or percent-encoded ({@code
     * %2e}), or the target has an encoded NUL: the forms that let a request escape the prefix a
     * backend routes on after its own normalisation.
     */
    static boolean hasDotSegmentOrEncodedNul(String target) {
        String lower = target.toLowerCase(java.util.Locale.ROOT);
        if (lower.contains("%00")) {
            return true;
        }
        int query = lower.indexOf('?');
        String path = query < 0 ? lower : lower.substring(0, query);
        for (String segment : path.split("/", -1)) {
            String decoded = segment.replace("%2e", ".");
            if (decoded.equals(".") || decoded.equals("..")) {
                return true;
            }
        }
        return false;
    }

    /**
     * Only {@code chunked}, once, is a transfer coding this proxy implements (RFC 9112 section
     * 6.1); anything else would be dropped on the way while the backend still read the body in it.
     */
    private static Failure checkTransferCoding(HttpHeaders headers) {
        List<String> values = headers.getAll(HttpHeaderNames.TRANSFER_ENCODING);
        if (values.isEmpty()) {
            return null;
        }
        if (values.size() != 1 || !values.get(0).trim().equalsIgnoreCase("chunked")) {
            return Failure.CODING_NOT_IMPLEMENTED;
        }
        return null;
    }

    /**
     * Whether {@code host} is what a {@code Host} field may hold (RFC 9112 section 3.2, RFC 3986
     * section 3.2.2): a reg-name (letters, digits, {@code -._~}, sub-delims, percent-encoded octets;
     * dotted IPv4 is one of these), or an IPv6 literal in brackets, then optionally {@code :} and a
     * port of at most five digits up to 65535. Empty is allowed (a target without an authority). A
     * name with {@code /}, {@code @}, spaces or a second colon is refused: such a value is how
     * host-header attacks poison caches, links and password-reset mails.
     */
    static boolean isValidAuthority(String host) {
        int end = host.length();
        int portStart = -1;
        int nameEnd;
        if (host.startsWith("[")) {
            int close = host.indexOf(']');
            if (close < 0 || !NetUtil.isValidIpV6Address(host.substring(1, close))) {
                return false;
            }
            nameEnd = close + 1;
            if (nameEnd < end) {
                if (host.charAt(nameEnd) != ':') {
                    return false;
                }
                portStart = nameEnd + 1;
            }
        } else {
            int colon = host.indexOf(':');
            nameEnd = colon < 0 ? end : colon;
            portStart = colon < 0 ? -1 : colon + 1;
            for (int i = 0; i < nameEnd; i++) {
                char c = host.charAt(i);
                if (c == '%') {
                    if (i + 2 >= nameEnd || !isHex(host.charAt(i + 1)) || !isHex(host.charAt(i + 2))) {
                        return false;
                    }
                    i += 2;
                } else if (!isRegNameChar(c)) {
                    return false;
                }
            }
        }
        if (portStart >= 0) {
            int digits = end - portStart;
            if (digits > 5) {
                return false;
            }
            int port = 0;
            for (int i = portStart; i < end; i++) {
                char c = host.charAt(i);
                if (c < '0' || c > '9') {
                    return false;
                }
                port = port * 10 + (c - '0');
            }
            return port <= 65535;
        }
        return true;
    }

    private static boolean isRegNameChar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || "-._~!$&'()*+,;=".indexOf(c) >= 0;
    }

    private static boolean isHex(char c) {
        return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
    }

    /**
     * For an absolute-form target ({@code http://a.example/x}), makes the request origin-form
     * ({@code /x}) with {@code Host} set to the target's authority, which wins over any Host field
     * the client sent (RFC 9112 section 3.2.2).
     */
    static void toOriginForm(HttpRequest request) {
        String target = request.uri();
        int end = absoluteFormAuthorityEnd(target);
        if (end <= 0) {
            return;
        }
        int start = target.indexOf("//") + 2;
        String authority = target.substring(start, end);
        String rest = target.substring(end);
        request.setUri(rest.isEmpty() ? "/" : rest.charAt(0) == '?' ? "/" + rest : rest);
        request.headers().set(HttpHeaderNames.HOST, authority);
    }

    private static boolean isAuthorityChar(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '.' || c == '-' || c == '_' || c == '~' || c == ':' || c == '[' || c == ']' || c == '%';
    }

    /** Index just past the authority of an {@code http://} or {@code https://} target, else -1. */
    private static int absoluteFormAuthorityEnd(String target) {
        int start;
        if (target.regionMatches(true, 0, "http://", 0, 7)) {
            start = 7;
        } else if (target.regionMatches(true, 0, "https://", 0, 8)) {
            start = 8;
        } else {
            return -1;
        }
        int end = start;
        while (end < target.length() && target.charAt(end) != '/' && target.charAt(end) != '?') {
            if (!isAuthorityChar(target.charAt(end))) {
                return -1; // no user info (@) and nothing a Host field may not carry
            }
            end++;
        }
        return end > start ? end : -1;
    }
}
