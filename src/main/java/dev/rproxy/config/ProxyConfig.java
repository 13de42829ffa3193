package dev.rproxy.config;

import dev.rproxy.edge.Cidr;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Objects;

/**
 * The whole configuration, parsed once and never changed. Only {@code backends} or {@code
 * upstreams} is required: a {@code null} section gets that section's {@code DEFAULT}.
 *
 * <p>The top-level {@code backends} are the upstream named {@code default}, balanced round-robin
 * with the top-level {@code healthCheck}; without {@code routes}, one route takes every request to
 * the only upstream, so a configuration from before upstreams and routes runs as it did.
 *
 * <p>The components hold what the file says (so a record written as JSON reads back equal); {@link
 * #allUpstreams()} and {@link #routeList()} are what runs.
 *
 * @param backends  the top-level backends, or an empty list when there are none
 * @param upstreams the named upstream groups, in document order (empty when there are none)
 * @param routes    in the order they are tried; {@code null} when the file has none
 * @param admin     the admin listener; {@code null}: none
 * @param watchConfig a change to the configuration file on disk reloads it
 * @param metrics   whether exchanges are counted
 * @param rateLimits the named limits routes refer to, in document order (empty when there are none)
 * @param securityHeaders the preset of security fields on the responses of every route that does not
 *                  say otherwise, and on the proxy's own answers
 * @param trustedProxies address blocks ({@code 10.0.0.0/8}) or single addresses of the proxies in
 *     front whose {@code X-Forwarded-For} or {@code Forwarded} says who their client was; empty
 *     (the default): no peer is believed, every client is the connection's peer
 * @param redis the Redis server a fleet of proxies shares its {@code global} rate limits through;
 *     {@code null}: none, every limit is this proxy's own
 */
public record ProxyConfig(List<ListenConfig> listen, List<BackendConfig> backends, HealthCheckConfig healthCheck,
                          TimeoutsConfig timeouts, PoolConfig pool, LimitsConfig limits, ShutdownConfig shutdown,
                          ServerConfig server, AccessLogConfig accessLog, SecurityConfig security,
                          Map<String, UpstreamConfig> upstreams, List<RouteConfig> routes, AdminConfig admin,
                          boolean watchConfig, MetricsConfig metrics, Map<String, RateLimitConfig> rateLimits,
                          boolean securityHeaders, List<String> trustedProxies, RedisConfig redis) {

    public ProxyConfig {
        listen = checkListeners(Objects.requireNonNullElse(listen, List.of(ListenConfig.DEFAULT)));
        healthCheck = Objects.requireNonNullElse(healthCheck, HealthCheckConfig.DEFAULT);
        Map<String, UpstreamConfig> all = upstreams(backends, healthCheck, upstreams);
        backends = backends == null || backends.isEmpty() ? List.of() : all.get(UpstreamConfig.DEFAULT_NAME).backends();
        upstreams = upstreams == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(upstreams));
        if (routes == null && all.size() > 1) {
            throw new ConfigException("routes: required with more than one upstream (known: "
                    + String.join(", ", all.keySet()) + ")");
        }
        rateLimits = rateLimits == null ? Map.of() : Collections.unmodifiableMap(new LinkedHashMap<>(rateLimits));
        checkGlobalLimits(rateLimits, redis);
        checkRegistries(all, redis);
        routes = routes == null ? null : checkRoutes(routes, all, rateLimits);
        checkAdmin(admin, listen);
        metrics = Objects.requireNonNullElse(metrics, MetricsConfig.DEFAULT);
        timeouts = Objects.requireNonNullElse(timeouts, TimeoutsConfig.DEFAULT);
        pool = Objects.requireNonNullElse(pool, PoolConfig.DEFAULT);
        limits = Objects.requireNonNullElse(limits, LimitsConfig.DEFAULT);
        shutdown = Objects.requireNonNullElse(shutdown, ShutdownConfig.DEFAULT);
        server = Objects.requireNonNullElse(server, ServerConfig.DEFAULT);
        accessLog = Objects.requireNonNullElse(accessLog, AccessLogConfig.DEFAULT);
        security = Objects.requireNonNullElse(security, SecurityConfig.DEFAULT);
        trustedProxies = checkTrustedProxies(trustedProxies);
    }

    /** Each entry a block {@link Cidr#parse} takes; {@code null}: none. */
    private static List<String> checkTrustedProxies(List<String> entries) {
        if (entries == null) {
            return List.of();
        }
        for (int i = 0; i < entries.size(); i++) {
            String entry = Checks.required("trustedProxies[" + i + "]", entries.get(i));
            try {
                Cidr.parse(entry);
            } catch (IllegalArgumentException e) {
                throw new ConfigException("trustedProxies[" + i + "]: " + e.getMessage());
            }
        }
        return List.copyOf(entries);
    }

    /** {@link #trustedProxies} as blocks. */
    public List<Cidr> trustedBlocks() {
        return Cidr.parseAll(trustedProxies);
    }

    /** Listeners bound to the same address and (non-zero) port cannot both be opened. */
    private static List<ListenConfig> checkListeners(List<ListenConfig> listeners) {
        if (listeners.isEmpty()) {
            throw new ConfigException("listen: empty (expected: at least one listener)");
        }
        for (int i = 0; i < listeners.size(); i++) {
            ListenConfig listener = Checks.required("listen[" + i + "]", listeners.get(i));
            for (int j = 0; j < i; j++) {
                ListenConfig other = listeners.get(j);
                if (listener.port() != 0 && listener.port() == other.port() && listener.host().equals(other.host())) {
                    throw new ConfigException("listen[" + i + "]: " + listener.host() + ":" + listener.port()
                            + " is listen[" + j + "]'s address already");
                }
            }
        }
        return List.copyOf(listeners);
    }

    /** The configuration of before upstreams: top-level backends, one route for everything. */
    public ProxyConfig(List<ListenConfig> listen, List<BackendConfig> backends, HealthCheckConfig healthCheck,
                       TimeoutsConfig timeouts, PoolConfig pool, LimitsConfig limits, ShutdownConfig shutdown,
                       ServerConfig server, AccessLogConfig accessLog, SecurityConfig security) {
        this(listen, backends, healthCheck, timeouts, pool, limits, shutdown, server, accessLog, security, null, null, null,
                false, null, null, false, null, null);
    }

    /** A limit the fleet shares needs the Redis it is shared through. */
    private static void checkGlobalLimits(Map<String, RateLimitConfig> rateLimits, RedisConfig redis) {
        for (Map.Entry<String, RateLimitConfig> limit : rateLimits.entrySet()) {
            if (limit.getValue().global() && redis == null) {
                throw new ConfigException("rateLimits." + limit.getKey() + ".scope: \"global\" needs a redis section"
                        + " (the fleet shares the limit through it)");
            }
        }
    }

    /** A registry in Redis is read through the proxy's {@code redis}. */
    private static void checkRegistries(Map<String, UpstreamConfig> upstreams, RedisConfig redis) {
        for (Map.Entry<String, UpstreamConfig> u : upstreams.entrySet()) {
            DiscoveryConfig discovery = u.getValue().discovery();
            if (discovery != null && discovery.fromRedis() && redis == null) {
                throw new ConfigException("upstreams." + u.getKey() + ".discovery.redis: needs a redis section"
                        + " (the registry is read through it)");
            }
        }
    }

    /** Every upstream by name: {@code default} (the top-level backends) first when there are any, then the named ones. */
    public Map<String, UpstreamConfig> allUpstreams() {
        return upstreams(backends.isEmpty() ? null : backends, healthCheck, upstreams);
    }

    /** The routes in force: the configured ones, or one that takes everything to the only upstream. */
    public List<RouteConfig> routeList() {
        if (routes != null) {
            return routes;
        }
        return List.of(RouteConfig.catchAll(allUpstreams().keySet().iterator().next()));
    }

    /**
     * Every upstream: {@code default} from the top-level backends (when given), then the named
     * ones. Backend ids are unique across all of them: an id names one backend in logs and in
     * {@code /_health/backends/{id}}.
     */
    private static Map<String, UpstreamConfig> upstreams(List<BackendConfig> backends, HealthCheckConfig healthCheck,
                                                         Map<String, UpstreamConfig> named) {
        if (backends != null && backends.isEmpty() && named != null && !named.isEmpty()) {
            backends = null; // "backends": [] beside upstreams: no default upstream (as the record is written)
        }
        if (backends == null && (named == null || named.isEmpty())) {
            throw new ConfigException("backends: required (at least one backend, or upstreams)");
        }
        Map<String, UpstreamConfig> all = new LinkedHashMap<>();
        if (backends != null) {
            if (named != null && named.containsKey(UpstreamConfig.DEFAULT_NAME)) {
                throw new ConfigException("upstreams.default: the top-level backends are the upstream \"default\"");
            }
            // Its messages ("backends[1].id: ...") name top-level paths already.
            all.put(UpstreamConfig.DEFAULT_NAME, new UpstreamConfig(backends, healthCheck));
        }
        if (named != null) {
            for (Map.Entry<String, UpstreamConfig> entry : named.entrySet()) {
                Checks.token("upstreams", entry.getKey());
                all.put(entry.getKey(), Checks.required("upstreams." + entry.getKey(), entry.getValue()));
            }
        }
        Map<String, String> owners = new HashMap<>();
        for (Map.Entry<String, UpstreamConfig> upstream : all.entrySet()) {
            String name = upstream.getKey();
            List<BackendConfig> list = upstream.getValue().backends();
            for (int i = 0; i < list.size(); i++) {
                String id = list.get(i).id();
                String owner = owners.putIfAbsent(id, name);
                String at = name.equals(UpstreamConfig.DEFAULT_NAME) && backends != null
                        ? "backends[" + i + "]" : "upstreams." + name + ".backends[" + i + "]";
                if (owner != null) {
                    throw new ConfigException(at + ".id: duplicate id " + Checks.quote(id)
                            + " (a backend of upstream " + Checks.quote(owner) + " already)");
                }
                int at1 = id.indexOf('@');
                UpstreamConfig discovering = at1 < 0 ? null : all.get(id.substring(0, at1));
                if (discovering != null && discovering.discovery() != null) {
                    // Discovered backends are named so; a listed one must not take a name they may need.
                    throw new ConfigException(at + ".id: " + Checks.quote(id) + " (ids \"" + id.substring(0, at1)
                            + "@...\" are those of the backends upstream " + Checks.quote(id.substring(0, at1))
                            + " discovers)");
                }
            }
        }
        return Collections.unmodifiableMap(all);
    }

    /** The admin listener is never one of the proxied ports. */
    private static void checkAdmin(AdminConfig admin, List<ListenConfig> listeners) {
        if (admin == null || admin.port() == 0) {
            return;
        }
        for (int i = 0; i < listeners.size(); i++) {
            ListenConfig listener = listeners.get(i);
            boolean sameHost = listener.host().equals(admin.host()) || listener.host().equals("0.0.0.0")
                    || listener.host().equals("::") || admin.host().equals("0.0.0.0") || admin.host().equals("::");
            if (listener.port() == admin.port() && sameHost) {
                throw new ConfigException("admin.port: " + admin.port() + " is a proxied port (listen"
                        + (listeners.size() == 1 ? "" : "[" + i + "]") + "); the admin API needs a port of its own");
            }
        }
    }

    /** The routes, each naming a known upstream. */
    private static List<RouteConfig> checkRoutes(List<RouteConfig> routes, Map<String, UpstreamConfig> upstreams,
                                                 Map<String, RateLimitConfig> rateLimits) {
        if (routes.isEmpty()) {
            throw new ConfigException("routes: empty (expected: at least one route)");
        }
        List<RouteConfig> checked = new ArrayList<>(routes.size());
        for (int i = 0; i < routes.size(); i++) {
            RouteConfig route = Checks.required("routes[" + i + "]", routes.get(i));
            if (!upstreams.containsKey(route.upstream())) {
                throw new ConfigException("routes[" + i + "].upstream: " + Checks.quote(route.upstream())
                        + " is not an upstream (known: " + String.join(", ", upstreams.keySet()) + ")");
            }
            for (int j = 0; j < route.rateLimit().size(); j++) {
                String name = route.rateLimit().get(j);
                RateLimitConfig limit = rateLimits.get(name);
                if (limit == null) {
                    throw new ConfigException("routes[" + i + "].rateLimit[" + j + "]: " + Checks.quote(name)
                            + " is not in rateLimits (known: " + String.join(", ", rateLimits.keySet()) + ")");
                }
                if (limit.key().startsWith(RateLimitConfig.JWT) && route.jwt() == null) {
                    throw new ConfigException("routes[" + i + "].rateLimit[" + j + "]: " + Checks.quote(name)
                            + " counts by a token claim (" + limit.key() + "); the route needs auth.jwt");
                }
            }
            checked.add(route);
        }
        return List.copyOf(checked);
    }
}
