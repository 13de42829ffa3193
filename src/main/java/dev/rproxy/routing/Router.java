package dev.rproxy.routing;

import io.netty.handler.codec.http.HttpRequest;
import java.util.List;

/**
 * The routes in their order: the first that matches a request takes it.
 *
 * <p>Paths are matched as the request has them, unless {@code security.rejectDotSegments} is on:
 * then targets with dot segments were refused before routing, and a path with percent-encoded
 * unreserved characters ({@code /%761/x}) is first decoded to its normal form ({@code /v1/x}, RFC
 * 3986 section 6.2.2.2: the same resource), which is then what is matched and forwarded, so no
 * spelling of a path can pass a prefix by.
 */
public final class Router {
    private final Route[] routes;
    private final boolean normalize;

    public Router(List<Route> routes, boolean normalize) {
        this.routes = routes.toArray(new Route[0]);
        this.normalize = normalize;
    }

    /** The route for {@code request}, or {@code null} when none matches (404). */
    /**
     * The body limit a request must be under before its route is known: {@code global}, or the
     * largest a route raises it to; 0 (no limit) when either is unlimited.
     */
    public long largestBodyLimit(long global) {
        if (global == 0) {
            return 0;
        }
        long largest = global;
        for (Route r : routes) {
            largest = Math.max(largest, r.config().limits().maxBodyBytes());
        }
        return largest;
    }

    public Route route(HttpRequest request) {
        if (normalize && request.uri().indexOf('%') >= 0) {
            String normal = decodeUnreserved(request.uri());
            if (normal != null) {
                request.setUri(normal);
            }
        }
        for (Route r : routes) {
            if (r.matches(request)) {
                return r;
            }
        }
        return null;
    }

    /**
     * {@code target} with the percent-encoded unreserved characters of its path decoded (the query
     * as it is), or {@code null} when there are none.
     */
    static String decodeUnreserved(String target) {
        int query = target.indexOf('?');
        int end = query < 0 ? target.length() : query;
        StringBuilder out = null;
        for (int i = 0; i < end; i++) {
            char c = target.charAt(i);
            if (c == '%' && i + 2 < end) {
                int hi = Character.digit(target.charAt(i + 1), 16);
                int lo = Character.digit(target.charAt(i + 2), 16);
                if (hi >= 0 && lo >= 0 && unreserved((char) (hi * 16 + lo))) {
                    if (out == null) {
                        out = new StringBuilder(target.length()).append(target, 0, i);
                    }
                    out.append((char) (hi * 16 + lo));
                    i += 2;
                    continue;
                }
            }
            if (out != null) {
                out.append(c);
            }
        }
        return out == null ? null : out.append(target, end, target.length()).toString();
    }

    private static boolean unreserved(char c) {
        return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')
                || c == '-' || c == '.' || c == '_' || c == '~';
    }
}
