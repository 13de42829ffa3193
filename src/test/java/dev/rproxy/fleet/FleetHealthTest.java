package dev.rproxy.fleet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

import dev.rproxy.backend.Backend;
import dev.rproxy.support.ConfiguredProxy;
import dev.rproxy.support.ProxyFleet;
import dev.rproxy.support.RedisServer;
import dev.rproxy.support.StatusBackend;
import java.net.URI;
import java.net.http.HttpClient;
import java.net.http.HttpRequest;
import java.net.http.HttpResponse;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.concurrent.TimeUnit;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/**
 * Three proxies in this JVM with the same upstream of two backends, one of them failing, sharing
 * their health through a real redis-server: what one proxy finds (an ejection, a failed probe) the
 * others honour within one health interval, and take back when it ends, without echoing it.
 */
class FleetHealthTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    /** The health interval the honouring is held to. */
    private static final long INTERVAL_MS = 500;
    private static final long EJECTION_MS = 3000;
    /** How long a {@code down} holds here without the sender confirming it: three of its intervals. */
    private static final long DOWN_MS = 3 * INTERVAL_MS;

    @TempDir
    Path dir;

    @BeforeEach
    void needsRedis() {
        Assumptions.assumeTrue(RedisServer.available(), "redis-server is not installed (apt-get install redis-server)");
    }

    @Test
    void anEjectionByOneProxyIsHonouredByTheOthersUntilItEnds() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend good = new StatusBackend("good", 200);
                StatusBackend bad = new StatusBackend("bad", 500);
                Fleet3 fleet = new Fleet3(redis, good, bad, false)) {
            ConfiguredProxy a = fleet.proxies.get(0);
            ConfiguredProxy b = fleet.proxies.get(1);
            ConfiguredProxy c = fleet.proxies.get(2);
            String aId = a.server().fleet().id();
            for (int i = 0; i < 10 && !backend(a, "bad").isEjected(); i++) {
                get(a, "/x");
            }
            assertThat(backend(a, "bad").isEjected()).as("A ejected the failing backend").isTrue();
            assertThat(backend(a, "bad").ejectedBy()).isNull();

            await().atMost(INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> backend(b, "bad").isEjected() && backend(c, "bad").isEjected());
            for (ConfiguredProxy other : List.of(b, c)) {
                Backend learned = backend(other, "bad");
                assertThat(learned.ejectedBy()).isEqualTo(aId);
                assertThat(learned.ejectionLeftMs()).isBetween(EJECTION_MS - 1000, EJECTION_MS);
                assertThat(learned.ejections().get(learned.ejections().size() - 1).reason())
                        .startsWith("fleet: ejected by " + aId + " (2 failures in a row");
                assertThat(backend(other, "good").isEjected()).isFalse();
            }
            String health = adminGet(b, "/_health/backends/bad", b.port());
            assertThat(health).contains("\"state\":\"ejected\"", "ejected by the fleet", "fleet: ejected by " + aId);
            assertThat(adminGet(c, "/admin/upstreams", c.server().adminPort())).contains("fleet: ejected by " + aId);

            int badBefore = bad.requests();
            for (int i = 0; i < 10; i++) {
                HttpResponse<String> response = get(b, "/x");
                assertThat(response.statusCode()).isEqualTo(200);
                assertThat(response.body()).contains("\"backend\":\"good\"");
            }
            assertThat(bad.requests()).as("B sends nothing to the backend A ejected").isEqualTo(badBefore);

            // A's ejection ends; so do the ones B and C learned.
            await().atMost(EJECTION_MS + INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(20))
                    .until(() -> fleet.proxies.stream().noneMatch(p -> backend(p, "bad").isEjected()));
            await().atMost(2, TimeUnit.SECONDS).until(() -> b.server().fleet().health().received() >= 2
                    && c.server().fleet().health().received() >= 2);
            assertThat(a.server().fleet().health().published()).as("ejected, ejection over").isEqualTo(2);
            assertThat(b.server().fleet().health().published()).as("what B learned is not echoed").isZero();
            assertThat(c.server().fleet().health().published()).isZero();
            assertThat(a.server().fleet().health().received()).isZero();
            assertThat(adminGet(b, "/metrics", b.server().adminPort())).contains(
                    "rproxy_fleet_health_events_total{direction=\"published\"} 0.0",
                    "rproxy_fleet_health_events_total{direction=\"received\"} 2.0");
            assertThat(adminGet(a, "/metrics", a.server().adminPort())).contains(
                    "rproxy_fleet_health_events_total{direction=\"published\"} 2.0");
        }
    }

    @Test
    void aBackendDownByOneProxysProbesIsAvoidedByTheOthersUntilItIsUpOrTheWordLapses() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend good = new StatusBackend("good", 200);
                StatusBackend bad = new StatusBackend("bad", 200);
                Fleet3 fleet = new Fleet3(redis, good, bad, true)) {
            ConfiguredProxy a = fleet.proxies.get(0);
            ConfiguredProxy b = fleet.proxies.get(1);
            ConfiguredProxy c = fleet.proxies.get(2);
            String aId = a.server().fleet().id();
            bad.status(503); // only A probes
            await().atMost(2 * INTERVAL_MS, TimeUnit.MILLISECONDS).until(() -> !backend(a, "bad").isHealthy());
            await().atMost(INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> backend(b, "bad").isFleetDown() && backend(c, "bad").isFleetDown());
            assertThat(backend(b, "bad").isAvailable()).isFalse();
            assertThat(backend(b, "bad").fleetDownReason()).isEqualTo("fleet: down by " + aId + " (status 503)");
            assertThat(adminGet(b, "/_health/backends/bad", b.port())).contains("\"state\":\"down\"",
                    "fleet: down by " + aId);
            int badBefore = bad.requests();
            for (int i = 0; i < 6; i++) {
                assertThat(get(b, "/x").body()).contains("\"backend\":\"good\"");
            }
            assertThat(bad.requests()).isEqualTo(badBefore);
            // A confirms at each failed probe: the word holds past its three intervals.
            await().during(DOWN_MS + INTERVAL_MS, TimeUnit.MILLISECONDS).atMost(DOWN_MS + 3 * INTERVAL_MS, TimeUnit.MILLISECONDS)
                    .pollInterval(Duration.ofMillis(50)).until(() -> backend(c, "bad").isFleetDown());

            bad.status(200); // A's probe passes: it says so, and the others take the backend back
            await().atMost(3 * INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> backend(b, "bad").isAvailable() && backend(c, "bad").isAvailable());
            assertThat(b.server().fleet().health().published()).isZero();

            // Down again, and A stops: without confirmation the others' word lapses after three intervals.
            bad.status(503);
            await().atMost(3 * INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> backend(b, "bad").isFleetDown());
            a.close();
            await().atMost(DOWN_MS + 2 * INTERVAL_MS, TimeUnit.MILLISECONDS)
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> backend(b, "bad").isAvailable() && backend(c, "bad").isAvailable());
        }
    }


    @Test
    void afterARedisRestartTheSubscriptionsAreBackAndEjectionsAreSharedAgain() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend good = new StatusBackend("good", 200);
                StatusBackend bad = new StatusBackend("bad", 500);
                Fleet3 fleet = new Fleet3(redis, good, bad, false)) {
            assertThat(redis.subscribers(HealthChannel.CHANNEL)).isEqualTo(3);
            redis.restart();
            await().atMost(10, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(50))
                    .until(() -> redis.subscribers(HealthChannel.CHANNEL) == 3
                            && fleet.proxies.stream().allMatch(p -> p.server().fleet().mode() == Fleet.Mode.GLOBAL));
            ConfiguredProxy a = fleet.proxies.get(0);
            for (int i = 0; i < 10 && !backend(a, "bad").isEjected(); i++) {
                get(a, "/x");
            }
            assertThat(backend(a, "bad").isEjected()).isTrue();
            await().atMost(INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> backend(fleet.proxies.get(1), "bad").isEjected()
                            && backend(fleet.proxies.get(2), "bad").isEjected());
        }
    }

    @Test
    void anEventIsHonouredOnlyForABackendOfTheSameIdAndUrlAndNeverFromItself() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend good = new StatusBackend("good", 200);
                StatusBackend bad = new StatusBackend("bad", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"redis\": {\"url\": \"" + redis.url() + "\"},"
                        + "\"backends\": [" + good.json() + ", " + bad.json() + "]")) {
            await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.server().fleet().health().subscribed()
                    && redis.subscribers(HealthChannel.CHANNEL) == 1);
            HealthChannel health = proxy.server().fleet().health();
            String self = proxy.server().fleet().id();
            redis.publish(HealthChannel.CHANNEL, new HealthEvent("other", "bad", "http://127.0.0.1:1",
                    HealthEvent.Kind.EJECTED, 5000, 0, "another url").encode());
            redis.publish(HealthChannel.CHANNEL, new HealthEvent("other", "nobody", bad.url(),
                    HealthEvent.Kind.DOWN, 5000, 0, "unknown id").encode());
            redis.publish(HealthChannel.CHANNEL, new HealthEvent(self, "bad", bad.url(),
                    HealthEvent.Kind.EJECTED, 5000, 0, "from itself").encode());
            redis.publish(HealthChannel.CHANNEL, "{\"v\":2,\"what\":\"a later version\"}");
            redis.publish(HealthChannel.CHANNEL, new HealthEvent("other", "good", good.url(),
                    HealthEvent.Kind.DOWN, 5000, 0, "status 503").encode());
            await().atMost(INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> backend(proxy, "good").isFleetDown());
            assertThat(health.received()).as("three from another member; its own and the unreadable one dropped")
                    .isEqualTo(3);
            assertThat(backend(proxy, "bad").isAvailable()).isTrue();
            assertThat(backend(proxy, "bad").isEjected()).isFalse();
            assertThat(backend(proxy, "good").fleetDownReason()).isEqualTo("fleet: down by other (status 503)");

            redis.publish(HealthChannel.CHANNEL, new HealthEvent("someone-else", "good", good.url(),
                    HealthEvent.Kind.UP, 0, 0, "").encode());
            await().atMost(INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> health.received() == 4);
            assertThat(backend(proxy, "good").isFleetDown()).as("up from a member that did not have it down").isTrue();
            redis.publish(HealthChannel.CHANNEL, new HealthEvent("other", "good", good.url(),
                    HealthEvent.Kind.UP, 0, 0, "").encode());
            await().atMost(INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> health.received() == 5);
            assertThat(backend(proxy, "good").isAvailable()).as("up from the member that had it down").isTrue();
            assertThat(health.published()).isZero();
        }
    }

    @Test
    void theMessageReadsBackAsItWasWritten() {
        HealthEvent event = new HealthEvent("web1-4711-3fa2c", "api2", "http://10.0.0.7:3002",
                HealthEvent.Kind.EJECTED, 30000, 1796659250387L, "5 failures in a row, the last: \"status 503\"");
        assertThat(event.encode()).isEqualTo("{\"v\":1,\"from\":\"web1-4711-3fa2c\",\"backend\":\"api2\","
                + "\"url\":\"http://10.0.0.7:3002\",\"event\":\"ejected\",\"forMs\":30000,\"until\":1796659250387,"
                + "\"reason\":\"5 failures in a row, the last: \\\"status 503\\\"\"}");
        assertThat(HealthEvent.decode(event.encode())).isEqualTo(event);
        assertThat(HealthEvent.decode("not json")).isNull();
        assertThat(HealthEvent.decode("{\"v\":1,\"from\":\"a\",\"backend\":\"b\",\"url\":\"u\",\"event\":\"exploded\"}"))
                .isNull();
        assertThat(HealthEvent.decode("{\"v\":1,\"from\":\"a\",\"backend\":\"b\",\"url\":\"u\",\"event\":\"up\","
                + "\"extra\":{\"x\":[1]}}")).isEqualTo(new HealthEvent("a", "b", "u", HealthEvent.Kind.UP, 0, 0, ""));
    }

    private static Backend backend(ConfiguredProxy proxy, String id) {
        return proxy.server().upstreams().backend(id);
    }

    /**
     * Three proxies, each with the upstream {@code app} of {@code good} and {@code bad}, passive
     * health ejecting after two failures; {@code probeOnFirst}: only the first proxy probes.
     */
    private final class Fleet3 implements AutoCloseable {
        final List<ConfiguredProxy> proxies;
        private final ProxyFleet fleet;

        Fleet3(RedisServer redis, StatusBackend good, StatusBackend bad, boolean probeOnFirst) throws Exception {
            fleet = new ProxyFleet(dir, 3, i -> {
                String probes = probeOnFirst && i == 0
                        ? "{\"intervalMs\": " + INTERVAL_MS + ", \"timeoutMs\": 400, \"unhealthyThreshold\": 1,"
                                + " \"healthyThreshold\": 1}"
                        : "{\"enabled\": false}";
                return "\"redis\": {\"url\": \"" + redis.url() + "\", \"timeoutMs\": 500},"
                        + "\"upstreams\": {\"app\": {\"backends\": [" + good.json() + ", " + bad.json() + "],"
                        + " \"healthCheck\": " + probes + ","
                        + " \"outlierDetection\": {\"consecutiveFailures\": 2, \"baseEjectionMs\": " + EJECTION_MS + "}}},"
                        + "\"routes\": [{\"upstream\": \"app\"}]";
            }, p -> p.server().fleet().members() == 3 && p.server().fleet().health().subscribed());
            proxies = fleet.proxies();
        }

        @Override
        public void close() {
            fleet.close();
        }
    }

    private static HttpResponse<String> get(ConfiguredProxy proxy, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString());
    }

    private static String adminGet(ConfiguredProxy proxy, String path, int port) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + port + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }
}
