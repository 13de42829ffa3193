package dev.rproxy.routing;

import dev.rproxy.config.MatchConfig;
import dev.rproxy.config.RouteConfig;
import dev.rproxy.edge.RoutePolicy;
import io.netty.handler.codec.http.HttpHeaderNames;
import io.netty.handler.codec.http.HttpHeaders;
import io.netty.handler.codec.http.HttpRequest;
import io.netty.util.AsciiString;
import java.util.Map;

/**
 * One route at run time: its conditions, prepared once so that a match allocates nothing, and
 * what it changes in the request it takes.
 *
 * <p>The path is matched as {@link Router} hands it over: with {@code security.rejectDotSegments}
 * on, a target with {@code .} or {@code ..} segments, plain or encoded, never gets here, so {@code
 * /v1/../admin} cannot be taken by the {@code /v1} route and then resolved by the backend to
 * {@code /admin}; with it off, it can (see the README).
 */
public final class Route {
    private final RouteConfig config;
    private final Upstream upstream;
    /** Lower-case; for a wildcard, the suffix with its dot ({@code .example.test}). */
    private final String host;
    private final boolean wildcard;
    private final String prefix;
    private final String[] methods;
    private final AsciiString[] headerNames;
    private final String[] headerValues;
    private final RoutePolicy policy;

    public Route(RouteConfig config, Upstream upstream) {
        this(config, upstream, null);
    }

    /** @param policy what the route checks and changes ({@link RoutePolicy#of}); {@code null}: nothing */
    public Route(RouteConfig config, Upstream upstream, RoutePolicy policy) {
        this.config = config;
        this.upstream = upstream;
        this.policy = policy;
        MatchConfig match = config.match();
        this.wildcard = match.host() != null && match.host().startsWith("*.");
        this.host = match.host() == null ? null : wildcard ? match.host().substring(1) : match.host();
        this.prefix = match.pathPrefix();
        this.methods = match.methods() == null ? null : match.methods().toArray(new String[0]);
        Map<String, String> headers = match.headers() == null ? Map.of() : match.headers();
        this.headerNames = new AsciiString[headers.size()];
        this.headerValues = new String[headers.size()];
        int i = 0;
        for (Map.Entry<String, String> e : headers.entrySet()) {
            headerNames[i] = AsciiString.of(e.getKey());
            headerValues[i] = e.getValue();
            i++;
        }
    }

    public Upstream upstream() {
        return upstream;
    }

    public RouteConfig config() {
        return config;
    }

    /** {@code null} when the route has nothing to check or change. */
    public RoutePolicy policy() {
        return policy;
    }

    /** Whether this route takes {@code request} (an origin-form target). */
    boolean matches(HttpRequest request) {
        if (methods != null && !methodMatches(request.method().name())) {
            return false;
        }
        if (prefix != null && !startsWithSegments(request.uri(), prefix)) {
            return false;
        }
        if (host != null && !hostMatches(request.headers().get(HttpHeaderNames.HOST))) {
            return false;
        }
        HttpHeaders headers = request.headers();
        for (int i = 0; i < headerNames.length; i++) {
            boolean ok = headerValues[i].equals("*") ? headers.contains(headerNames[i])
                    : headers.contains(headerNames[i], headerValues[i], false);
            if (!ok) {
                return false;
            }
        }
        return true;
    }

    /** Applies {@code stripPrefix} and {@code rewriteHost} to the request going to the backend. */
    public void apply(HttpRequest request) {
        String strip = config.stripPrefix();
        if (strip != null && startsWithSegments(request.uri(), strip)) {
            String rest = request.uri().substring(strip.length());
            request.setUri(rest.isEmpty() || rest.charAt(0) == '?' ? "/" + rest : rest);
        }
        if (config.rewriteHost() != null) {
            request.headers().set(HttpHeaderNames.HOST, config.rewriteHost());
        }
    }

    private boolean methodMatches(String method) {
        for (String m : methods) {
            if (m.equals(method)) {
                return true;
            }
        }
        return false;
    }

    /**
     * Whether the path of {@code target} (up to {@code ?}) starts with {@code prefix} at a segment
     * boundary: {@code /v1} takes {@code /v1}, {@code /v1/x} and {@code /v1?q}, not {@code /v12}.
     */
    static boolean startsWithSegments(String target, String prefix) {
        if (!target.startsWith(prefix)) {
            return false;
        }
        if (target.length() == prefix.length() || prefix.endsWith("/")) {
            return true;
        }
        char next = target.charAt(prefix.length());
        return next == '/' || next == '?';
    }

    /** The Host field's name (port, brackets and a final dot aside) against this route's, ignoring case. */
    private boolean hostMatches(String field) {
        if (field == null) {
            return false;
        }
        int end = field.length();
        if (field.startsWith("[")) {
            return false; // an IPv6 literal: routes name hosts
        }
        int colon = field.lastIndexOf(':');
        if (colon >= 0) {
            end = colon;
        }
        if (end > 0 && field.charAt(end - 1) == '.') {
            end--;
        }
        if (wildcard) {
            // *.example.test: a name with at least one label before ".example.test"
            return end > host.length() && field.regionMatches(true, end - host.length(), host, 0, host.length());
        }
        return end == host.length() && field.regionMatches(true, 0, host, 0, end);
    }
}
