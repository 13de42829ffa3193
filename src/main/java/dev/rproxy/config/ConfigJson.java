package dev.rproxy.config;

import java.util.ArrayList;
import java.util.List;
import java.util.Objects;
import java.util.function.Supplier;

/**
 * The shape of config.json as Jackson binds it. Values are boxed so that a missing key stays
 * {@code null} and takes the default of its section; explicit JSON {@code null}s are rejected
 * by the loader's mapper. Record component names are the JSON keys.
 */
final class ConfigJson {

    private ConfigJson() {
    }

    record Root(Listen listen, List<Backend> backends, HealthCheck healthCheck, Timeouts timeouts, Pool pool,
                Limits limits, Shutdown shutdown, Server server, AccessLog accessLog, Security security) {

        ProxyConfig toConfig() {
            return new ProxyConfig(
                    listen == null ? null : section("listen", listen::toConfig),
                    backends == null ? null : backendConfigs(),
                    healthCheck == null ? null : section("healthCheck", healthCheck::toConfig),
                    timeouts == null ? null : section("timeouts", timeouts::toConfig),
                    pool == null ? null : section("pool", pool::toConfig),
                    limits == null ? null : section("limits", limits::toConfig),
                    shutdown == null ? null : section("shutdown", shutdown::toConfig),
                    server == null ? null : section("server", server::toConfig),
                    accessLog == null ? null : section("accessLog", accessLog::toConfig),
                    security == null ? null : section("security", security::toConfig));
        }

        private List<BackendConfig> backendConfigs() {
            List<BackendConfig> result = new ArrayList<>(backends.size());
            for (int i = 0; i < backends.size(); i++) {
                result.add(section("backends[" + i + "]", backends.get(i)::toConfig));
            }
            return result;
        }

        /** Builds one section; its relative messages ({@code port: ...}) get the section's path. */
        private static <T> T section(String path, Supplier<T> build) {
            try {
                return build.get();
            } catch (ConfigException e) {
                throw new ConfigException(path + "." + e.getMessage(), e);
            }
        }
    }

    record Listen(String host, Integer port) {
        ListenConfig toConfig() {
            ListenConfig d = ListenConfig.DEFAULT;
            return new ListenConfig(Objects.requireNonNullElse(host, d.host()),
                    Objects.requireNonNullElse(port, d.port()));
        }
    }

    record Backend(String id, String url) {
        BackendConfig toConfig() {
            return new BackendConfig(id, url);
        }
    }

    record HealthCheck(Boolean enabled, String path, Long intervalMs, Long timeoutMs, Integer unhealthyThreshold,
                       Integer healthyThreshold) {
        HealthCheckConfig toConfig() {
            HealthCheckConfig d = HealthCheckConfig.DEFAULT;
            return new HealthCheckConfig(Objects.requireNonNullElse(enabled, d.enabled()),
                    Objects.requireNonNullElse(path, d.path()),
                    Objects.requireNonNullElse(intervalMs, d.intervalMs()),
                    Objects.requireNonNullElse(timeoutMs, d.timeoutMs()),
                    Objects.requireNonNullElse(unhealthyThreshold, d.unhealthyThreshold()),
                    Objects.requireNonNullElse(healthyThreshold, d.healthyThreshold()));
        }
    }

    record Timeouts(Long connectMs, Long responseMs, Long idleMs, Long requestHeadMs, Long tunnelMs) {
        TimeoutsConfig toConfig() {
            TimeoutsConfig d = TimeoutsConfig.DEFAULT;
            return new TimeoutsConfig(Objects.requireNonNullElse(connectMs, d.connectMs()),
                    Objects.requireNonNullElse(responseMs, d.responseMs()),
                    Objects.requireNonNullElse(idleMs, d.idleMs()),
                    Objects.requireNonNullElse(requestHeadMs, d.requestHeadMs()),
                    Objects.requireNonNullElse(tunnelMs, d.tunnelMs()));
        }
    }

    record Pool(Integer maxConnectionsPerBackend, Integer maxPendingAcquires, Long acquireTimeoutMs,
                Long idleTimeoutMs) {
        PoolConfig toConfig() {
            PoolConfig d = PoolConfig.DEFAULT;
            return new PoolConfig(Objects.requireNonNullElse(maxConnectionsPerBackend, d.maxConnectionsPerBackend()),
                    Objects.requireNonNullElse(maxPendingAcquires, d.maxPendingAcquires()),
                    Objects.requireNonNullElse(acquireTimeoutMs, d.acquireTimeoutMs()),
                    Objects.requireNonNullElse(idleTimeoutMs, d.idleTimeoutMs()));
        }
    }

    record Limits(Integer maxRequestLineBytes, Integer maxHeaderBytes, Integer maxHeaderCount, Long maxBodyBytes,
                  Integer maxConnections, Long minBodyRate, Integer requestBufferBytes, Long maxBufferBytes,
                  Integer maxConnectionsPerClient) {
        LimitsConfig toConfig() {
            LimitsConfig d = LimitsConfig.DEFAULT;
            return new LimitsConfig(Objects.requireNonNullElse(maxRequestLineBytes, d.maxRequestLineBytes()),
                    Objects.requireNonNullElse(maxHeaderBytes, d.maxHeaderBytes()),
                    Objects.requireNonNullElse(maxHeaderCount, d.maxHeaderCount()),
                    Objects.requireNonNullElse(maxBodyBytes, d.maxBodyBytes()),
                    Objects.requireNonNullElse(maxConnections, d.maxConnections()),
                    Objects.requireNonNullElse(minBodyRate, d.minBodyRate()),
                    Objects.requireNonNullElse(requestBufferBytes, d.requestBufferBytes()),
                    Objects.requireNonNullElse(maxBufferBytes, d.maxBufferBytes()),
                    Objects.requireNonNullElse(maxConnectionsPerClient, d.maxConnectionsPerClient()));
        }
    }

    record Shutdown(Long graceMs) {
        ShutdownConfig toConfig() {
            return new ShutdownConfig(Objects.requireNonNullElse(graceMs, ShutdownConfig.DEFAULT.graceMs()));
        }
    }

    record Server(Integer ioThreads, String transport, Integer descriptorReserve) {
        ServerConfig toConfig() {
            ServerConfig d = ServerConfig.DEFAULT;
            return new ServerConfig(Objects.requireNonNullElse(ioThreads, d.ioThreads()),
                    Objects.requireNonNullElse(transport, d.transport()),
                    Objects.requireNonNullElse(descriptorReserve, d.descriptorReserve()));
        }
    }

    record Security(Boolean rejectDotSegments, List<String> allowedMethods) {
        SecurityConfig toConfig() {
            return new SecurityConfig(
                    Objects.requireNonNullElse(rejectDotSegments, SecurityConfig.DEFAULT.rejectDotSegments()),
                    Objects.requireNonNullElse(allowedMethods, SecurityConfig.DEFAULT.allowedMethods()));
        }
    }

    record AccessLog(Boolean enabled) {
        AccessLogConfig toConfig() {
            return new AccessLogConfig(Objects.requireNonNullElse(enabled, AccessLogConfig.DEFAULT.enabled()));
        }
    }
}
