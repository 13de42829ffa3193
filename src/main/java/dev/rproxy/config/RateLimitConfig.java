package dev.rproxy.config;

import java.util.List;

/**
 * A named limit that routes refer to ({@code routes[].rateLimit}): a rate, a number of requests in
 * flight, or both, counted per key.
 *
 * @param key               what the requests are counted by: {@code client_ip} (the client address,
 *                          see {@code trustedProxies}), {@code route} (all requests of a route
 *                          together), {@code header:NAME} (the value of a request field) or {@code
 *                          jwt:CLAIM} (a claim of the route's verified token). A request without the
 *                          field or claim is not counted by this limit
 * @param requestsPerSecond the sustained rate per key; 0: no rate
 * @param burst             how many requests a key may send at once after a quiet time (the token
 *                          bucket's size); 0 stands for {@code requestsPerSecond}
 * @param maxConcurrent     requests of one key in flight at a time; 0: no such limit
 * @param maxKeys           keys tracked at most; once that many are, requests of new keys are
 *                          counted together in one shared bucket (see the README)
 * @param scope             {@code local} (the default): each proxy counts on its own; {@code global}:
 *                          the rate and burst hold for the whole fleet of proxies sharing {@code
 *                          redis} (in-flight counts stay per proxy)
 */
public record RateLimitConfig(String key, int requestsPerSecond, int burst, int maxConcurrent, int maxKeys,
                              String scope) {

    public static final String CLIENT_IP = "client_ip";
    public static final String ROUTE = "route";
    public static final String HEADER = "header:";
    public static final String JWT = "jwt:";
    public static final int DEFAULT_MAX_KEYS = 100_000;
    public static final String LOCAL = "local";
    public static final String GLOBAL = "global";

    /** A limit of this proxy alone, as before fleets. */
    public RateLimitConfig(String key, int requestsPerSecond, int burst, int maxConcurrent, int maxKeys) {
        this(key, requestsPerSecond, burst, maxConcurrent, maxKeys, LOCAL);
    }

    public RateLimitConfig {
        Checks.required("key", key);
        boolean header = key.startsWith(HEADER) && Checks.isToken(key.substring(HEADER.length()));
        boolean claim = key.startsWith(JWT) && key.length() > JWT.length()
                && key.chars().allMatch(c -> c > ' ' && c < 0x7f);
        if (!key.equals(CLIENT_IP) && !key.equals(ROUTE) && !header && !claim) {
            throw new ConfigException("key: " + Checks.quote(key) + " (expected: one of "
                    + String.join(", ", List.of("\"client_ip\"", "\"route\"", "\"header:NAME\"", "\"jwt:CLAIM\"")) + ")");
        }
        Checks.between("requestsPerSecond", requestsPerSecond, 0, 10_000_000);
        Checks.between("burst", burst, 0, 10_000_000);
        Checks.between("maxConcurrent", maxConcurrent, 0, 10_000_000);
        Checks.between("maxKeys", maxKeys, 1, 100_000_000);
        if (requestsPerSecond == 0 && maxConcurrent == 0) {
            throw new ConfigException("requestsPerSecond: 0 and maxConcurrent: 0 (expected: a rate, a concurrency or both)");
        }
        if (requestsPerSecond == 0 && burst != 0) {
            throw new ConfigException("burst: " + burst + " without requestsPerSecond");
        }
        if (burst == 0) {
            burst = requestsPerSecond;
        }
        scope = scope == null ? LOCAL : Checks.oneOf("scope", scope, List.of(LOCAL, GLOBAL));
        if (scope.equals(GLOBAL) && requestsPerSecond == 0) {
            throw new ConfigException("scope: \"global\" without requestsPerSecond (a fleet shares rates; in-flight"
                    + " counts stay per proxy)");
        }
    }

    /** Whether the fleet shares this limit's rate through Redis. */
    public boolean global() {
        return GLOBAL.equals(scope);
    }
}
