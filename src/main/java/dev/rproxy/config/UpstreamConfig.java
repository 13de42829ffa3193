package dev.rproxy.config;

import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * One group of interchangeable backends and how requests are spread over them; its name is its key
 * in {@code upstreams} ({@code default} for the top-level {@code backends}).
 *
 * @param backends              at least one, or none with {@code discovery}
 * @param balancer              {@code round_robin} (default), {@code least_request}, {@code
 *                              consistent_hash} or {@code random}
 * @param hashKey               for {@code consistent_hash}: {@code client_ip}, {@code header:NAME},
 *                              {@code cookie:NAME} or {@code path}
 * @param healthCheck           active probes (the top-level {@code healthCheck} when absent)
 * @param outlierDetection      passive health; {@code null}: off
 * @param retries               what is retried, on another backend
 * @param slowStartMs           a backend that returns (or is added) gets a share rising linearly
 *                              to its full weight over this long; 0: off
 * @param panicThresholdPercent when strictly fewer than this share of the backends are healthy
 *                              (and at least one is), requests are balanced over all of them, 0..100
 * @param pool                  its backends' connection limits (connections, waiting requests and
 *                              how long they wait); {@code null}: the top-level {@code pool}'s. A
 *                              request over them gets a fast 503 with {@code Retry-After}.
 * @param maxRequests           requests in flight on the upstream at most, >= 0 (0: no limit); one
 *                              more gets a fast 503 with {@code Retry-After}
 * @param discovery             where its backends are found instead of {@code backends}; {@code
 *                              null}: they are listed
 */
public record UpstreamConfig(List<BackendConfig> backends, String balancer, String hashKey,
                             HealthCheckConfig healthCheck, OutlierConfig outlierDetection, RetryConfig retries,
                             long slowStartMs, int panicThresholdPercent, UpstreamPoolConfig pool, int maxRequests,
                             DiscoveryConfig discovery) {

    public static final String ROUND_ROBIN = "round_robin";
    public static final String LEAST_REQUEST = "least_request";
    public static final String CONSISTENT_HASH = "consistent_hash";
    public static final String RANDOM = "random";
    public static final List<String> BALANCERS = List.of(ROUND_ROBIN, LEAST_REQUEST, CONSISTENT_HASH, RANDOM);
    public static final String DEFAULT_NAME = "default";
    public static final int DEFAULT_PANIC_THRESHOLD = 50;

    public UpstreamConfig {
        if (discovery != null) {
            if (backends != null && !backends.isEmpty()) {
                throw new ConfigException("discovery: not with backends (an upstream lists its backends or discovers them)");
            }
            backends = List.of();
        } else if (backends == null || backends.isEmpty()) {
            throw new ConfigException("backends: required (at least one backend)");
        }
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < backends.size(); i++) {
            BackendConfig backend = Checks.required("backends[" + i + "]", backends.get(i));
            if (!ids.add(backend.id())) {
                throw new ConfigException("backends[" + i + "].id: duplicate id " + Checks.quote(backend.id()));
            }
        }
        backends = List.copyOf(backends);
        balancer = balancer == null ? ROUND_ROBIN : Checks.oneOf("balancer", balancer, BALANCERS);
        if (balancer.equals(CONSISTENT_HASH)) {
            hashKey = checkHashKey(hashKey == null ? "client_ip" : hashKey);
        } else if (hashKey != null) {
            throw new ConfigException("hashKey: only with \"balancer\": \"consistent_hash\"");
        }
        healthCheck = Objects.requireNonNullElse(healthCheck, HealthCheckConfig.DEFAULT);
        retries = Objects.requireNonNullElse(retries, RetryConfig.DEFAULT);
        Checks.atLeast("slowStartMs", slowStartMs, 0);
        Checks.between("panicThresholdPercent", panicThresholdPercent, 0, 100);
        Checks.atLeast("maxRequests", maxRequests, 0);
    }

    /** A round-robin group with the default settings. */
    public UpstreamConfig(List<BackendConfig> backends, HealthCheckConfig healthCheck) {
        this(backends, null, null, healthCheck, null, null, 0, DEFAULT_PANIC_THRESHOLD, null, 0, null);
    }

    /** The id of the backend {@code discovery} found at {@code authority} ({@code host:port}) in the upstream {@code name}. */
    public static String discoveredId(String name, String authority) {
        return name + "@" + authority;
    }

    private static String checkHashKey(String key) {
        if (key.equals("client_ip") || key.equals("path")) {
            return key;
        }
        int colon = key.indexOf(':');
        String kind = colon < 0 ? key : key.substring(0, colon);
        if ((kind.equals("header") || kind.equals("cookie")) && colon > 0 && colon < key.length() - 1) {
            Checks.token("hashKey", key.substring(colon + 1));
            return key;
        }
        throw new ConfigException("hashKey: " + Checks.quote(key)
                + " (expected: client_ip, path, header:NAME or cookie:NAME)");
    }
}
