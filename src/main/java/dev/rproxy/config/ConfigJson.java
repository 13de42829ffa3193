package dev.rproxy.config;

import java.nio.file.InvalidPathException;
import java.nio.file.Path;
import java.util.List;
import java.util.Map;
import java.util.Objects;
import java.util.function.Function;

/**
 * The shape of config.json: which keys each section has, in the order messages list them, and
 * the section record each one builds. A missing key or section takes its default; the records'
 * constructors check ranges, and their messages get the section's path.
 */
final class ConfigJson {

    private ConfigJson() {
    }

    /** {@code baseDir}: where relative file paths (certificates) start; the config file's directory. */
    static ProxyConfig root(Map<String, Object> document, Path baseDir) {
        JsonSection root = JsonSection.root(document, "listen", "backends", "healthCheck", "timeouts", "pool",
                "limits", "shutdown", "server", "accessLog", "security", "upstreams", "routes", "admin", "watchConfig", "metrics",
                "rateLimits", "securityHeaders", "trustedProxies", "redis");
        HealthCheckConfig healthCheck = build(root.section("healthCheck", HEALTH_CHECK_KEYS),
                s -> healthCheck(s, HealthCheckConfig.DEFAULT));
        HealthCheckConfig upstreamHealth = healthCheck == null ? HealthCheckConfig.DEFAULT : healthCheck;
        PoolConfig pool = build(root.section("pool", "maxConnectionsPerBackend", "maxPendingAcquires", "acquireTimeoutMs",
                "idleTimeoutMs"), ConfigJson::pool);
        PoolConfig upstreamPool = pool == null ? PoolConfig.DEFAULT : pool;
        return new ProxyConfig(
                root.oneOrList("listen", element -> element.section("host", "port", "protocols", "tls", "proxyProtocol", "allowedHosts")
                        .build(s -> listen(s, baseDir))),
                root.list("backends", element -> backend(element, baseDir)),
                healthCheck,
                build(root.section("timeouts", "connectMs", "responseMs", "idleMs", "requestHeadMs", "tunnelMs"),
                        ConfigJson::timeouts),
                pool,
                build(root.section("limits", "maxRequestLineBytes", "maxHeaderBytes", "maxHeaderCount", "maxBodyBytes",
                        "maxConnections", "minBodyRate", "requestBufferBytes", "maxBufferBytes",
                        "maxConnectionsPerClient"), ConfigJson::limits),
                build(root.section("shutdown", "graceMs"), ConfigJson::shutdown),
                build(root.section("server", "ioThreads", "transport", "descriptorReserve"), ConfigJson::server),
                build(root.section("accessLog", "enabled", "format", "file"), s -> accessLog(s, baseDir)),
                build(root.section("security", "rejectDotSegments", "allowedMethods"), ConfigJson::security),
                root.named("upstreams", (name, element) -> element.section("backends", "balancer", "hashKey",
                        "healthCheck", "outlierDetection", "retries", "slowStartMs", "panicThresholdPercent", "pool",
                        "maxRequests", "discovery").build(s -> upstream(s, upstreamHealth, upstreamPool, baseDir))),
                root.list("routes", element -> element.section("match", "upstream", "stripPrefix", "rewriteHost",
                        "rateLimit", "allow", "deny", "responseHeaders", "securityHeaders", "limits", "auth")
                        .build(r -> route(r, baseDir))),
                build(root.section("admin", "host", "port"), s -> new AdminConfig(s.string("host", AdminConfig.DEFAULT_HOST),
                        s.integer("port", AdminConfig.DEFAULT_PORT))),
                root.bool("watchConfig", false),
                build(root.section("metrics", "enabled"), s -> new MetricsConfig(s.bool("enabled", true))),
                root.named("rateLimits", (name, element) -> element.section("key", "requestsPerSecond", "burst",
                        "maxConcurrent", "maxKeys", "scope").build(s -> new RateLimitConfig(s.string("key", null),
                        s.integer("requestsPerSecond", 0), s.integer("burst", 0), s.integer("maxConcurrent", 0),
                        s.integer("maxKeys", RateLimitConfig.DEFAULT_MAX_KEYS),
                        s.string("scope", RateLimitConfig.LOCAL)))),
                root.bool("securityHeaders", false),
                root.list("trustedProxies", JsonSection.Element::string),
                build(root.section("redis", "url", "timeoutMs", "failMode"), s -> new RedisConfig(s.string("url", null),
                        s.longInteger("timeoutMs", RedisConfig.DEFAULT_TIMEOUT_MS),
                        s.string("failMode", RedisConfig.LOCAL))));
    }

    private static final String[] HEALTH_CHECK_KEYS = {"enabled", "path", "intervalMs", "timeoutMs",
        "unhealthyThreshold", "healthyThreshold", "spread"};

    /** An upstream; a key its {@code healthCheck} leaves out takes the top-level {@code healthCheck}'s value. */
    private static UpstreamConfig upstream(JsonSection s, HealthCheckConfig health, PoolConfig pool, Path baseDir) {
        JsonSection outliers = s.section("outlierDetection", "consecutiveFailures", "baseEjectionMs",
                "maxEjectionPercent", "maxEjectionMs");
        JsonSection retries = s.section("retries", "attempts", "on", "budgetPercent", "perTryTimeoutMs");
        return new UpstreamConfig(s.list("backends", element -> backend(element, baseDir)),
                s.string("balancer", null), s.string("hashKey", null),
                Objects.requireNonNullElse(build(s.section("healthCheck", HEALTH_CHECK_KEYS), h -> healthCheck(h, health)),
                        health),
                build(outliers, ConfigJson::outliers), build(retries, ConfigJson::retries),
                s.longInteger("slowStartMs", 0), s.integer("panicThresholdPercent", UpstreamConfig.DEFAULT_PANIC_THRESHOLD),
                build(s.section("pool", "maxConnectionsPerBackend", "maxPendingAcquires", "acquireTimeoutMs"),
                        p -> new UpstreamPoolConfig(p.integer("maxConnectionsPerBackend", pool.maxConnectionsPerBackend()),
                                p.integer("maxPendingAcquires", pool.maxPendingAcquires()),
                                p.longInteger("acquireTimeoutMs", pool.acquireTimeoutMs()))),
                s.integer("maxRequests", 0),
                build(s.section("discovery", "dns", "refreshMs", "nameservers", "redis"), d -> new DiscoveryConfig(
                        d.string("dns", null), d.longInteger("refreshMs", d.has("redis")
                                ? DiscoveryConfig.DEFAULT_REDIS_REFRESH_MS : DiscoveryConfig.DEFAULT_REFRESH_MS),
                        d.list("nameservers", JsonSection.Element::string), d.string("redis", null))));
    }

    private static OutlierConfig outliers(JsonSection s) {
        OutlierConfig d = OutlierConfig.DEFAULT;
        long base = s.longInteger("baseEjectionMs", d.baseEjectionMs());
        return new OutlierConfig(s.integer("consecutiveFailures", d.consecutiveFailures()), base,
                s.integer("maxEjectionPercent", d.maxEjectionPercent()),
                s.longInteger("maxEjectionMs", Math.max(base, d.maxEjectionMs())));
    }

    private static RetryConfig retries(JsonSection s) {
        RetryConfig d = RetryConfig.DEFAULT;
        List<String> on = s.list("on", JsonSection.Element::string);
        return new RetryConfig(s.integer("attempts", d.attempts()), on == null ? d.on() : on,
                s.integer("budgetPercent", d.budgetPercent()), s.longInteger("perTryTimeoutMs", d.perTryTimeoutMs()));
    }

    private static RouteConfig route(JsonSection s, Path baseDir) {
        JsonSection match = s.section("match", "host", "pathPrefix", "methods", "headers");
        JsonSection headers = s.section("responseHeaders", "set", "remove");
        JsonSection limits = s.section("limits", "maxRequestLineBytes", "maxHeaderBytes", "maxBodyBytes");
        JsonSection auth = s.section("auth", "jwt");
        JsonSection jwt = auth == null ? null : auth.section("jwt", JWT_KEYS);
        return new RouteConfig(build(match, m -> new MatchConfig(m.string("host", null), m.string("pathPrefix", null),
                        m.list("methods", JsonSection.Element::string),
                        m.named("headers", (name, value) -> value.string()))),
                s.string("upstream", null), s.string("stripPrefix", null), s.string("rewriteHost", null),
                s.list("rateLimit", JsonSection.Element::string), s.list("allow", JsonSection.Element::string),
                s.list("deny", JsonSection.Element::string),
                build(headers, h -> new ResponseHeadersConfig(h.named("set", (name, value) -> value.string()),
                        h.list("remove", JsonSection.Element::string))),
                s.has("securityHeaders") ? s.bool("securityHeaders", false) : null,
                build(limits, l -> new RouteLimitsConfig(l.integer("maxRequestLineBytes", 0), l.integer("maxHeaderBytes", 0),
                        l.longInteger("maxBodyBytes", 0))),
                build(jwt, j -> jwt(j, baseDir)));
    }

    /** {@code null} for an absent section: the record's default applies. */
    private static <T> T build(JsonSection section, Function<JsonSection, T> build) {
        return section == null ? null : section.build(build);
    }

    private static ListenConfig listen(JsonSection s, Path baseDir) {
        ListenConfig d = ListenConfig.DEFAULT;
        JsonSection tls = s.section("tls", "certificates", "minVersion");
        return new ListenConfig(s.string("host", d.host()), s.integer("port", d.port()),
                s.list("protocols", JsonSection.Element::string),
                tls == null ? null : tls.build(t -> tls(t, baseDir)), s.bool("proxyProtocol", false),
                s.list("allowedHosts", JsonSection.Element::string));
    }

    private static TlsConfig tls(JsonSection s, Path baseDir) {
        return new TlsConfig(s.list("certificates", element -> element.section("certFile", "keyFile", "ocspFile")
                        .build(c -> new CertificateConfig(file(c, "certFile", baseDir), file(c, "keyFile", baseDir),
                                file(c, "ocspFile", baseDir)))),
                s.string("minVersion", null));
    }

    /** A file path, relative ones taken from {@code baseDir}; {@code null} when absent. */
    private static Path file(JsonSection s, String key, Path baseDir) {
        String name = s.string(key, null);
        if (name == null) {
            return null;
        }
        if (name.isEmpty()) {
            throw new ConfigException(key + ": \"\" (expected: a file path)");
        }
        try {
            return baseDir.resolve(name).normalize();
        } catch (InvalidPathException e) {
            throw new ConfigException(key + ": " + Checks.quote(name) + " (expected: a file path)");
        }
    }

    private static BackendConfig backend(JsonSection.Element element, Path baseDir) {
        return element.section("id", "url", "tls", "protocol", "weight").build(s -> backend(s, baseDir));
    }

    private static BackendConfig backend(JsonSection s, Path baseDir) {
        JsonSection tls = s.section("tls", "caFile", "verify", "serverName", "certFile", "keyFile");
        return new BackendConfig(s.string("id", null), s.string("url", null),
                tls == null ? null : tls.build(t -> new BackendTlsConfig(file(t, "caFile", baseDir),
                        t.bool("verify", true), t.string("serverName", null), file(t, "certFile", baseDir),
                        file(t, "keyFile", baseDir))), s.string("protocol", null), s.integer("weight", 1));
    }

    private static HealthCheckConfig healthCheck(JsonSection s, HealthCheckConfig d) {
        return new HealthCheckConfig(s.bool("enabled", d.enabled()), s.string("path", d.path()),
                s.longInteger("intervalMs", d.intervalMs()), s.longInteger("timeoutMs", d.timeoutMs()),
                s.integer("unhealthyThreshold", d.unhealthyThreshold()),
                s.integer("healthyThreshold", d.healthyThreshold()), s.bool("spread", d.spread()));
    }

    private static TimeoutsConfig timeouts(JsonSection s) {
        TimeoutsConfig d = TimeoutsConfig.DEFAULT;
        return new TimeoutsConfig(s.longInteger("connectMs", d.connectMs()),
                s.longInteger("responseMs", d.responseMs()), s.longInteger("idleMs", d.idleMs()),
                s.longInteger("requestHeadMs", d.requestHeadMs()), s.longInteger("tunnelMs", d.tunnelMs()));
    }

    private static PoolConfig pool(JsonSection s) {
        PoolConfig d = PoolConfig.DEFAULT;
        return new PoolConfig(s.integer("maxConnectionsPerBackend", d.maxConnectionsPerBackend()),
                s.integer("maxPendingAcquires", d.maxPendingAcquires()),
                s.longInteger("acquireTimeoutMs", d.acquireTimeoutMs()),
                s.longInteger("idleTimeoutMs", d.idleTimeoutMs()));
    }

    private static LimitsConfig limits(JsonSection s) {
        LimitsConfig d = LimitsConfig.DEFAULT;
        return new LimitsConfig(s.integer("maxRequestLineBytes", d.maxRequestLineBytes()),
                s.integer("maxHeaderBytes", d.maxHeaderBytes()), s.integer("maxHeaderCount", d.maxHeaderCount()),
                s.longInteger("maxBodyBytes", d.maxBodyBytes()), s.integer("maxConnections", d.maxConnections()),
                s.longInteger("minBodyRate", d.minBodyRate()),
                s.integer("requestBufferBytes", d.requestBufferBytes()),
                s.longInteger("maxBufferBytes", d.maxBufferBytes()),
                s.integer("maxConnectionsPerClient", d.maxConnectionsPerClient()));
    }

    private static ShutdownConfig shutdown(JsonSection s) {
        return new ShutdownConfig(s.longInteger("graceMs", ShutdownConfig.DEFAULT.graceMs()));
    }

    private static ServerConfig server(JsonSection s) {
        ServerConfig d = ServerConfig.DEFAULT;
        return new ServerConfig(s.integer("ioThreads", d.ioThreads()), s.string("transport", d.transport()),
                s.integer("descriptorReserve", d.descriptorReserve()));
    }

    private static AccessLogConfig accessLog(JsonSection s, Path baseDir) {
        return new AccessLogConfig(s.bool("enabled", AccessLogConfig.DEFAULT.enabled()), s.string("format", null),
                file(s, "file", baseDir));
    }

    private static SecurityConfig security(JsonSection s) {
        SecurityConfig d = SecurityConfig.DEFAULT;
        List<String> methods = s.list("allowedMethods", JsonSection.Element::string);
        return new SecurityConfig(s.bool("rejectDotSegments", d.rejectDotSegments()),
                methods == null ? d.allowedMethods() : methods);
    }

    /** The keys of a JWT section, for the caller that finds one (a route's) to list. */
    static final String[] JWT_KEYS = {"issuer", "audiences", "jwksFile", "jwksUrl", "algorithms", "clockSkewSeconds",
        "forwardClaims", "jwksRefreshMs"};

    /**
     * A section of {@link #JWT_KEYS} as a {@link JwtConfig}; {@code jwksFile}, like certificate
     * files, is taken from {@code baseDir} when relative.
     */
    static JwtConfig jwt(JsonSection s, Path baseDir) {
        String url = s.string("jwksUrl", null);
        java.net.URI jwksUrl = null;
        if (url != null) {
            try {
                jwksUrl = java.net.URI.create(url);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("jwksUrl: " + Checks.quote(url) + " (expected: an http:// or https:// URL)");
            }
        }
        return new JwtConfig(s.string("issuer", null), s.list("audiences", JsonSection.Element::string),
                file(s, "jwksFile", baseDir), jwksUrl, s.list("algorithms", JsonSection.Element::string),
                s.integer("clockSkewSeconds", JwtConfig.DEFAULT_CLOCK_SKEW_SECONDS),
                s.named("forwardClaims", (claim, header) -> header.string()),
                s.longInteger("jwksRefreshMs", JwtConfig.DEFAULT_JWKS_REFRESH_MS));
    }
}
