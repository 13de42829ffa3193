package dev.rproxy.config;

import dev.rproxy.edge.Cidr;
import java.util.List;
import java.util.Objects;

/**
 * Where requests that match go. Routes are tried in order; the first whose {@link MatchConfig}
 * matches takes the request.
 *
 * @param match       the conditions ({@link MatchConfig#ANY} when absent)
 * @param upstream    the name of the upstream group that serves them
 * @param stripPrefix removed from the front of the path when it is there by whole segments ({@code
 *                    /v1/x?q} goes as {@code /x?q}, {@code /v1} as {@code /}); {@code null}: none
 * @param rewriteHost the {@code Host} the backend gets instead of the client's; {@code null}: the
 *                    client's
 * @param rateLimit   names of {@code rateLimits} every request of the route is counted by, in order
 * @param allow       client address blocks the route serves; empty: any not denied
 * @param deny        client address blocks refused with 403 (checked before {@code allow})
 * @param responseHeaders fields removed from and set in every response of the route
 * @param securityHeaders the preset of security fields on this route's responses; {@code null}: the
 *                    top-level {@code securityHeaders}
 * @param limits      the route's own request size limits
 * @param jwt         bearer tokens the route requires ({@code auth.jwt}); {@code null}: none
 */
public record RouteConfig(MatchConfig match, String upstream, String stripPrefix, String rewriteHost,
                          List<String> rateLimit, List<String> allow, List<String> deny,
                          ResponseHeadersConfig responseHeaders, Boolean securityHeaders, RouteLimitsConfig limits,
                          JwtConfig jwt) {

    public RouteConfig {
        match = Objects.requireNonNullElse(match, MatchConfig.ANY);
        Checks.required("upstream", upstream);
        if (stripPrefix != null && (!stripPrefix.startsWith("/") || stripPrefix.length() < 2 || stripPrefix.endsWith("/")
                || stripPrefix.chars().anyMatch(c -> c <= ' ' || c >= 0x7f || c == '?' || c == '#'))) {
            throw new ConfigException("stripPrefix: " + Checks.quote(stripPrefix)
                    + " (expected: a path such as \"/v1\": starting with \"/\", not ending with one)");
        }
        if (rewriteHost != null && (rewriteHost.isEmpty()
                || rewriteHost.chars().anyMatch(c -> c <= ' ' || c >= 0x7f || c == '/' || c == '@'))) {
            throw new ConfigException("rewriteHost: " + Checks.quote(rewriteHost)
                    + " (expected: a host, optionally with :port)");
        }
        rateLimit = List.copyOf(Objects.requireNonNullElse(rateLimit, List.of()));
        allow = blocks("allow", allow);
        deny = blocks("deny", deny);
        responseHeaders = Objects.requireNonNullElse(responseHeaders, ResponseHeadersConfig.NONE);
        limits = Objects.requireNonNullElse(limits, RouteLimitsConfig.NONE);
    }

    public RouteConfig(MatchConfig match, String upstream, String stripPrefix, String rewriteHost) {
        this(match, upstream, stripPrefix, rewriteHost, null, null, null, null, null, null, null);
    }

    private static List<String> blocks(String name, List<String> blocks) {
        if (blocks == null) {
            return List.of();
        }
        for (int i = 0; i < blocks.size(); i++) {
            try {
                Cidr.parse(blocks.get(i));
            } catch (IllegalArgumentException e) {
                throw new ConfigException(name + "[" + i + "]: " + Checks.quote(blocks.get(i)) + " (" + e.getMessage() + ")");
            }
        }
        return List.copyOf(blocks);
    }

    /** Everything to {@code upstream}, as is. */
    public static RouteConfig catchAll(String upstream) {
        return new RouteConfig(MatchConfig.ANY, upstream, null, null);
    }
}
