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
 * {@code healthCheck.spread}: three proxies in this JVM probe the same backends through a real
 * redis-server, each backend by one of them per interval; the others follow the prober's health
 * events; without Redis each probes for itself again.
 */
class ProbeSpreadTest {
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final long INTERVAL_MS = 400;
    /** Rounds the probes are counted over. */
    private static final int ROUNDS = 10;

    @TempDir
    Path dir;

    @BeforeEach
    void needsRedis() {
        Assumptions.assumeTrue(RedisServer.available(), "redis-server is not installed (apt-get install redis-server)");
    }

    @Test
    void eachBackendIsProbedByOneProxyPerInterval() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend good = new StatusBackend("good", 200);
                StatusBackend other = new StatusBackend("other", 200);
                Fleet3 fleet = new Fleet3(redis, good, other)) {
            for (StatusBackend b : List.of(good, other)) {
                assertThat(probesPerRound(b)).as("probes of %s per interval, all three proxies together", b.id())
                        .isBetween(0.6, 1.5);
            }
            assertThat(redis.exists(ProbeClaims.key("good", good.url()))).isTrue();
            long skipped = fleet.proxies.stream().mapToLong(p -> p.server().fleet().probeClaims().skipped()).sum();
            assertThat(skipped).as("the rounds the other two left to the prober").isGreaterThanOrEqualTo(2 * ROUNDS);
            ConfiguredProxy a = fleet.proxies.get(0);
            assertThat(adminGet(a, "/metrics")).containsPattern("rproxy_fleet_probes_skipped_total \\d+\\.0");
            assertThat(adminGet(a, "/admin/stats")).contains("\"fleet\":{\"id\":\"" + a.server().fleet().id() + "\"",
                    "\"connected\":true", "\"mode\":\"global\"", "\"members\":3", "\"healthPublished\":",
                    "\"healthReceived\":").containsPattern("\"probesSkipped\":\\d+");
            for (ConfiguredProxy p : fleet.proxies) {
                assertThat(backend(p, "good").isAvailable()).isTrue();
            }
        }
    }

    @Test
    void aBackendFailingItsProbesIsDownOnAllThree() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend good = new StatusBackend("good", 200);
                StatusBackend bad = new StatusBackend("bad", 200);
                Fleet3 fleet = new Fleet3(redis, good, bad)) {
            bad.status(503);
            await().atMost(3 * INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> fleet.proxies.stream().noneMatch(p -> backend(p, "bad").isAvailable()));
            // Held down on all three for several intervals while the prober confirms it.
            await().during(4 * INTERVAL_MS, TimeUnit.MILLISECONDS).atMost(6 * INTERVAL_MS, TimeUnit.MILLISECONDS)
                    .pollInterval(Duration.ofMillis(20))
                    .until(() -> fleet.proxies.stream().noneMatch(p -> backend(p, "bad").isAvailable()));
            for (ConfiguredProxy p : fleet.proxies) {
                for (int i = 0; i < 4; i++) {
                    assertThat(get(p, "/x").body()).contains("\"backend\":\"good\"");
                }
            }

            // A member none of them is holds both claims now: only a proxy whose own probes have
            // the backend down still probes it, and that is enough to bring it back everywhere.
            redis.set(ProbeClaims.key("bad", bad.url()), "someone-else", 60_000);
            redis.set(ProbeClaims.key("good", good.url()), "someone-else", 60_000);
            int goodProbes = good.probes();
            bad.status(200);
            await().atMost(4 * INTERVAL_MS, TimeUnit.MILLISECONDS).pollInterval(Duration.ofMillis(10))
                    .until(() -> fleet.proxies.stream().allMatch(p -> backend(p, "bad").isAvailable()));
            assertThat(good.probes() - goodProbes).as("at most the probes already under way").isLessThanOrEqualTo(3);
        }
    }

    @Test
    void withRedisStoppedEachProxyProbesForItselfUntilItIsBack() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend good = new StatusBackend("good", 200);
                StatusBackend other = new StatusBackend("other", 200);
                Fleet3 fleet = new Fleet3(redis, good, other)) {
            assertThat(probesPerRound(good)).isBetween(0.6, 1.5);

            redis.kill();
            await().atMost(5, TimeUnit.SECONDS)
                    .until(() -> fleet.proxies.stream().noneMatch(p -> p.server().fleet().connected()));
            assertThat(probesPerRound(good)).as("each of the three probes for itself").isGreaterThan(2.4);
            assertThat(adminGet(fleet.proxies.get(1), "/admin/stats")).contains("\"connected\":false",
                    "\"mode\":\"local\"");

            redis.restart();
            await().atMost(15, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(50))
                    .until(() -> fleet.proxies.stream().allMatch(p -> p.server().fleet().mode() == Fleet.Mode.GLOBAL));
            assertThat(probesPerRound(good)).as("spread again").isBetween(0.6, 1.5);
        }
    }

    /** Probes {@code backend} receives per interval over {@link #ROUNDS} intervals from now. */
    private static double probesPerRound(StatusBackend backend) throws InterruptedException {
        int before = backend.probes();
        long start = System.nanoTime();
        Thread.sleep(ROUNDS * INTERVAL_MS); // a rate over a window: counting, not waiting for a condition
        double rounds = (System.nanoTime() - start) / 1e6 / INTERVAL_MS;
        return (backend.probes() - before) / rounds;
    }

    private static Backend backend(ConfiguredProxy proxy, String id) {
        return proxy.server().upstreams().backend(id);
    }

    /** Three proxies, each with the upstream {@code app} of the two backends, probes spread. */
    private final class Fleet3 implements AutoCloseable {
        final List<ConfiguredProxy> proxies;
        private final ProxyFleet fleet;

        Fleet3(RedisServer redis, StatusBackend one, StatusBackend two) throws Exception {
            fleet = new ProxyFleet(dir, 3, i -> "\"redis\": {\"url\": \"" + redis.url() + "\", \"timeoutMs\": 300},"
                    + "\"upstreams\": {\"app\": {\"backends\": [" + one.json() + ", " + two.json() + "],"
                    + " \"healthCheck\": {\"intervalMs\": " + INTERVAL_MS + ", \"timeoutMs\": 300,"
                    + " \"unhealthyThreshold\": 1, \"healthyThreshold\": 1, \"spread\": true}}},"
                    + "\"routes\": [{\"upstream\": \"app\"}]",
                    p -> p.server().fleet().members() == 3 && p.server().fleet().health().subscribed());
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

    private static String adminGet(ConfiguredProxy proxy, String path) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.server().adminPort() + path))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }
}
