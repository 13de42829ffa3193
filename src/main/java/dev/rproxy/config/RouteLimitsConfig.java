package dev.rproxy.config;

/**
 * A route's own request size limits; each one left out (0) is the global {@code limits} value. The
 * request line and head are read under the global limits before a route is known, so a route's
 * limits can lower those two, not raise them.
 *
 * @param maxRequestLineBytes a longer request line: 414
 * @param maxHeaderBytes      more bytes of header fields (names and values): 431
 * @param maxBodyBytes        a longer body, declared or sent: 413
 */
public record RouteLimitsConfig(int maxRequestLineBytes, int maxHeaderBytes, long maxBodyBytes) {

    public static final RouteLimitsConfig NONE = new RouteLimitsConfig(0, 0, 0);

    public RouteLimitsConfig {
        Checks.atLeast("maxRequestLineBytes", maxRequestLineBytes, 0);
        Checks.atLeast("maxHeaderBytes", maxHeaderBytes, 0);
        Checks.atLeast("maxBodyBytes", maxBodyBytes, 0);
    }

    public boolean inheritsAll() {
        return maxRequestLineBytes == 0 && maxHeaderBytes == 0 && maxBodyBytes == 0;
    }
}
