package dev.rproxy.config;

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
 */
public record RouteConfig(MatchConfig match, String upstream, String stripPrefix, String rewriteHost) {

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
    }

    /** Everything to {@code upstream}, as is. */
    public static RouteConfig catchAll(String upstream) {
        return new RouteConfig(MatchConfig.ANY, upstream, null, null);
    }
}
