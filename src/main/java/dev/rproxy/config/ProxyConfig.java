package dev.rproxy.config;

import java.util.HashSet;
import java.util.List;
import java.util.Objects;
import java.util.Set;

/**
 * The whole configuration, parsed once at startup and never changed. Only {@code backends} is
 * required: a {@code null} section gets that section's {@code DEFAULT}.
 */
public record ProxyConfig(List<ListenConfig> listen, List<BackendConfig> backends, HealthCheckConfig healthCheck,
                          TimeoutsConfig timeouts, PoolConfig pool, LimitsConfig limits, ShutdownConfig shutdown,
                          ServerConfig server, AccessLogConfig accessLog, SecurityConfig security) {

    public ProxyConfig {
        listen = checkListeners(Objects.requireNonNullElse(listen, List.of(ListenConfig.DEFAULT)));
        backends = checkBackends(backends);
        healthCheck = Objects.requireNonNullElse(healthCheck, HealthCheckConfig.DEFAULT);
        timeouts = Objects.requireNonNullElse(timeouts, TimeoutsConfig.DEFAULT);
        pool = Objects.requireNonNullElse(pool, PoolConfig.DEFAULT);
        limits = Objects.requireNonNullElse(limits, LimitsConfig.DEFAULT);
        shutdown = Objects.requireNonNullElse(shutdown, ShutdownConfig.DEFAULT);
        server = Objects.requireNonNullElse(server, ServerConfig.DEFAULT);
        accessLog = Objects.requireNonNullElse(accessLog, AccessLogConfig.DEFAULT);
        security = Objects.requireNonNullElse(security, SecurityConfig.DEFAULT);
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

    private static List<BackendConfig> checkBackends(List<BackendConfig> backends) {
        if (backends == null || backends.isEmpty()) {
            throw new ConfigException("backends: required (at least one backend)");
        }
        Set<String> ids = new HashSet<>();
        for (int i = 0; i < backends.size(); i++) {
            BackendConfig backend = Checks.required("backends[" + i + "]", backends.get(i));
            if (!ids.add(backend.id())) {
                throw new ConfigException("backends[" + i + "].id: duplicate id " + Checks.quote(backend.id()));
            }
        }
        return List.copyOf(backends);
    }
}
