package dev.rproxy.config;

import java.net.URI;
import java.net.URISyntaxException;
import java.util.List;

/**
 * The Redis server a fleet of proxies shares its global rate limits through ({@code redis}).
 * Optional: without it every limit is local, as before fleets.
 *
 * @param url       {@code redis://[user:password@]host[:port][/db]}, or {@code rediss://} for TLS
 * @param timeoutMs how long a call to Redis may take before it counts as failed (and the fleet goes
 *                  into its {@code failMode}); no request ever waits on it, by design
 * @param failMode  what global limits do while Redis is slow or unreachable: {@code open} (admit,
 *                  counted), {@code closed} (429) or {@code local} (each proxy limits to the rate
 *                  divided by the fleet members it saw last)
 */
public record RedisConfig(String url, long timeoutMs, String failMode) {

    public static final String OPEN = "open";
    public static final String CLOSED = "closed";
    public static final String LOCAL = "local";
    public static final long DEFAULT_TIMEOUT_MS = 50;
    private static final List<String> FAIL_MODES = List.of(OPEN, CLOSED, LOCAL);

    public RedisConfig {
        Checks.required("url", url);
        checkUrl(url);
        if (timeoutMs < 1 || timeoutMs > 60_000) {
            throw new ConfigException("timeoutMs: " + timeoutMs + " (expected: 1..60000)");
        }
        Checks.oneOf("failMode", failMode, FAIL_MODES);
    }

    private static void checkUrl(String url) {
        String expected = " (expected: redis://host:port or rediss://host:port, optionally with user:password@ and /db)";
        URI uri;
        try {
            uri = new URI(url);
        } catch (URISyntaxException e) {
            throw new ConfigException("url: " + Checks.quote(url) + expected);
        }
        String path = uri.getRawPath();
        boolean ok = ("redis".equals(uri.getScheme()) || "rediss".equals(uri.getScheme()))
                && uri.getHost() != null && uri.getRawQuery() == null && uri.getRawFragment() == null
                && (path == null || path.isEmpty() || path.matches("/[0-9]{0,2}"));
        if (!ok) {
            throw new ConfigException("url: " + Checks.quote(url) + expected);
        }
    }
}
