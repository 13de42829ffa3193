package dev.rproxy.fleet;

import static org.assertj.core.api.Assertions.assertThat;
import static org.awaitility.Awaitility.await;

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
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.atomic.AtomicIntegerArray;
import java.util.concurrent.locks.LockSupport;
import org.junit.jupiter.api.Assumptions;
import org.junit.jupiter.api.BeforeEach;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;
import org.slf4j.Logger;
import org.slf4j.LoggerFactory;

/**
 * Three proxies in this JVM sharing a global limit through a real redis-server: together they
 * keep to the rate, and when Redis dies each fail mode does what it says, until Redis is back.
 */
class GlobalRateLimitTest {
    private static final Logger log = LoggerFactory.getLogger(GlobalRateLimitTest.class);
    private static final HttpClient HTTP = HttpClient.newBuilder().connectTimeout(Duration.ofSeconds(5)).build();
    private static final int RATE = 100;
    private static final int BURST = 10;
    private static final int MEMBERS = 3;

    @TempDir
    Path dir;

    @BeforeEach
    void needsRedis() {
        Assumptions.assumeTrue(RedisServer.available(), "redis-server is not installed (apt-get install redis-server)");
    }

    @Test
    void threeProxiesTogetherKeepTheRateWithinFivePercentOverTenSeconds() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend app = new StatusBackend("app", 200);
                Fleet3 fleet = new Fleet3(redis, app, "local")) {
            Load load = load(fleet, 10);
            double expected = BURST + RATE * load.seconds;
            assertThat(load.other.get()).isZero();
            assertThat(load.limited.get()).as("the load was well over the rate").isGreaterThan(2 * load.ok());
            assertThat(load.ok()).as("admitted by the fleet over %.1f s", load.seconds)
                    .isBetween((int) (expected * 0.95), (int) Math.ceil(expected * 1.05));
            for (int i = 0; i < MEMBERS; i++) {
                assertThat(load.okBy.get(i)).as("proxy %d admitted some", i).isPositive();
            }
            assertThat(app.requests()).isEqualTo(load.ok());
            String metrics = metrics(fleet.proxies.get(0));
            assertThat(metrics).contains("rproxy_fleet_redis_connected 1.0", "rproxy_fleet_members 3.0",
                    "rproxy_fleet_mode{mode=\"global\"} 1.0", "rproxy_fleet_mode_transitions_total{mode=\"global\"} 1.0");
        }
    }

    @Test
    void localModeSplitsTheRateOverTheMembersSeenAndRecoveryRestoresTheGlobalRate() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend app = new StatusBackend("app", 200);
                Fleet3 fleet = new Fleet3(redis, app, "local")) {
            redis.kill();
            fleet.awaitMode(Fleet.Mode.LOCAL);
            Load local = load(fleet, 3);
            double share = (double) BURST / MEMBERS + (double) RATE / MEMBERS * local.seconds;
            for (int i = 0; i < MEMBERS; i++) {
                assertThat(local.okBy.get(i)).as("proxy %d alone, over %.1f s", i, local.seconds)
                        .isBetween((int) (share * 0.85), (int) Math.ceil(share * 1.15) + 1);
            }
            assertThat(metrics(fleet.proxies.get(0))).contains("rproxy_fleet_redis_connected 0.0",
                    "rproxy_fleet_mode{mode=\"local\"} 1.0", "rproxy_fleet_mode_transitions_total{mode=\"local\"} 1.0");

            redis.restart();
            fleet.awaitMode(Fleet.Mode.GLOBAL);
            Load global = load(fleet, 3);
            double expected = BURST + RATE * global.seconds;
            assertThat(global.ok()).as("admitted by the fleet over %.1f s with Redis back", global.seconds)
                    .isBetween((int) (expected * 0.9), (int) Math.ceil(expected * 1.1));
            assertThat(metrics(fleet.proxies.get(0))).contains("rproxy_fleet_redis_connected 1.0",
                    "rproxy_fleet_mode_transitions_total{mode=\"global\"} 2.0");
        }
    }

    @Test
    void openModeAdmitsEverythingWhileRedisIsDownAndCountsIt() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend app = new StatusBackend("app", 200);
                Fleet3 fleet = new Fleet3(redis, app, "open")) {
            redis.kill();
            fleet.awaitMode(Fleet.Mode.OPEN);
            int sent = 0;
            for (int i = 0; i < 3 * (BURST + RATE / 2); i++, sent++) {
                assertThat(get(fleet.proxies.get(i % MEMBERS), "/api/x").statusCode()).isEqualTo(200);
            }
            long counted = 0;
            for (ConfiguredProxy proxy : fleet.proxies) {
                counted += proxy.server().upstreams().rateLimits().get("global-api").failOpen();
            }
            assertThat(counted).isEqualTo(sent);
            assertThat(metrics(fleet.proxies.get(0))).contains("rproxy_fleet_mode{mode=\"open\"} 1.0",
                    "rproxy_rate_limit_fail_open_total{limit=\"global-api\"}");
            // Redis back: every proxy returns to the shared limit by itself.
            redis.restart();
            fleet.awaitMode(Fleet.Mode.GLOBAL);
            assertThat(metrics(fleet.proxies.get(0))).contains("rproxy_fleet_mode{mode=\"global\"} 1.0");
        }
    }

    @Test
    void closedModeRefusesGloballyLimitedRequestsAndOnlyThose() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend app = new StatusBackend("app", 200);
                Fleet3 fleet = new Fleet3(redis, app, "closed")) {
            assertThat(get(fleet.proxies.get(0), "/api/x").statusCode()).isEqualTo(200);
            redis.kill();
            fleet.awaitMode(Fleet.Mode.CLOSED);
            for (ConfiguredProxy proxy : fleet.proxies) {
                HttpResponse<String> refused = get(proxy, "/api/x");
                assertThat(refused.statusCode()).isEqualTo(429);
                assertThat(refused.headers().firstValue("retry-after")).hasValue("1");
                assertThat(get(proxy, "/other").statusCode()).isEqualTo(200);
                HttpResponse<String> unkeyed = HTTP.send(HttpRequest.newBuilder(
                        URI.create("http://127.0.0.1:" + proxy.port() + "/api/x")).build(), HttpResponse.BodyHandlers.ofString());
                assertThat(unkeyed.statusCode()).as("a request without the key is not counted").isEqualTo(200);
            }
            // Redis back: keyed requests are admitted again, from the shared bucket.
            redis.restart();
            fleet.awaitMode(Fleet.Mode.GLOBAL);
            await().atMost(Duration.ofSeconds(5)).until(() -> get(fleet.proxies.get(1), "/api/x").statusCode() == 200);
        }
    }

    @Test
    void aNewKeysFirstRequestsAreAdmittedOnEachProxyNotRefusedForTheRoundTrip() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend app = new StatusBackend("app", 200);
                Fleet3 fleet = new Fleet3(redis, app, "local")) {
            for (ConfiguredProxy proxy : fleet.proxies) {
                assertThat(get(proxy, "/api/x", "first").statusCode()).isEqualTo(200);
            }
            // Three at once on one proxy, a key it has never seen: its share of the burst (10 / 3).
            ConfiguredProxy proxy = fleet.proxies.get(0);
            List<CompletableFuture<HttpResponse<String>>> together = new ArrayList<>();
            for (int i = 0; i < 3; i++) {
                together.add(HTTP.sendAsync(request(proxy, "/api/x", "together"), HttpResponse.BodyHandlers.ofString()));
            }
            for (var response : together) {
                assertThat(response.get(10, TimeUnit.SECONDS).statusCode()).isEqualTo(200);
            }
        }
    }

    @Test
    void aRedisThatAnswersLaterThanTimeoutMsCountsAsDownUntilItAnswersInTime() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend app = new StatusBackend("app", 200);
                Fleet3 fleet = new Fleet3(redis, app, "closed")) {
            assertThat(get(fleet.proxies.get(0), "/api/x").statusCode()).isEqualTo(200);
            redis.stall(3000); // the connections stay up; only the answers are late
            fleet.awaitMode(Fleet.Mode.CLOSED);
            assertThat(get(fleet.proxies.get(1), "/api/x").statusCode()).isEqualTo(429);
            fleet.awaitMode(Fleet.Mode.GLOBAL);
            assertThat(get(fleet.proxies.get(1), "/api/x").statusCode()).isEqualTo(200);
            for (ConfiguredProxy proxy : fleet.proxies) {
                assertThat(proxy.server().fleet().transitions(Fleet.Mode.CLOSED)).isEqualTo(1);
            }
        }
    }

    @Test
    void aPasswordInTheUrlLogsInAndTheAdminApiDoesNotShowIt() throws Exception {
        try (RedisServer redis = new RedisServer("--requirepass", "s3cret");
                StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"admin\": {\"port\": 0},"
                        + "\"redis\": {\"url\": \"redis://:s3cret@127.0.0.1:" + redis.port() + "\"},"
                        + "\"backends\": [" + app.json() + "]")) {
            await().atMost(10, TimeUnit.SECONDS).until(() -> proxy.server().fleet().mode() == Fleet.Mode.GLOBAL);
            String config = HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.server().adminPort()
                    + "/admin/config")).build(), HttpResponse.BodyHandlers.ofString()).body();
            assertThat(config).contains("\"url\":\"redis://***@127.0.0.1:" + redis.port() + "\"").doesNotContain("s3cret");
        }
    }

    @Test
    void aReloadThatAddsRedisJoinsTheFleetAndMakesTheLimitGlobal() throws Exception {
        try (RedisServer redis = new RedisServer();
                StatusBackend app = new StatusBackend("app", 200);
                ConfiguredProxy proxy = new ConfiguredProxy(dir, "\"healthCheck\": {\"enabled\": false},"
                        + "\"rateLimits\": {\"api\": {\"key\": \"header:X-Api-Key\", \"requestsPerSecond\": 1, \"burst\": 2}},"
                        + "\"routes\": [{\"upstream\": \"default\", \"rateLimit\": [\"api\"]}],"
                        + "\"backends\": [" + app.json() + "]")) {
            assertThat(proxy.server().fleet()).isNull();
            java.nio.file.Files.writeString(proxy.file(), "{\"listen\": {\"host\": \"127.0.0.1\", \"port\": 0},"
                    + "\"healthCheck\": {\"enabled\": false}, \"redis\": {\"url\": \"" + redis.url() + "\"},"
                    + "\"rateLimits\": {\"api\": {\"key\": \"header:X-Api-Key\", \"requestsPerSecond\": 1, \"burst\": 2,"
                    + " \"scope\": \"global\"}},"
                    + "\"routes\": [{\"upstream\": \"default\", \"rateLimit\": [\"api\"]}],"
                    + "\"backends\": [" + app.json() + "]}");
            proxy.server().reloadAsync().get(10, TimeUnit.SECONDS);
            assertThat(proxy.server().fleet().mode()).isEqualTo(Fleet.Mode.GLOBAL);
            assertThat(proxy.server().upstreams().rateLimits().get("api").global()).isTrue();
            // The fleet-wide burst of 2, then 429; the bucket lives in Redis.
            assertThat(get(proxy, "/x", "reloaded").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/x", "reloaded").statusCode()).isEqualTo(200);
            assertThat(get(proxy, "/x", "reloaded").statusCode()).isEqualTo(429);
            assertThat(redis.exists("rproxy:rl:api:k:reloaded")).isTrue();
        }
    }

    /** Three proxies with one global limit on {@code /api} keyed by {@code X-Api-Key}, all members. */
    private final class Fleet3 implements AutoCloseable {
        final List<ConfiguredProxy> proxies;
        private final ProxyFleet fleet;

        Fleet3(RedisServer redis, StatusBackend app, String failMode) throws Exception {
            fleet = new ProxyFleet(dir, MEMBERS, i -> "\"healthCheck\": {\"enabled\": false},"
                    + "\"redis\": {\"url\": \"" + redis.url() + "\", \"timeoutMs\": 200, \"failMode\": \"" + failMode + "\"},"
                    + "\"rateLimits\": {\"global-api\": {\"key\": \"header:X-Api-Key\", \"requestsPerSecond\": " + RATE
                    + ", \"burst\": " + BURST + ", \"scope\": \"global\"}},"
                    + "\"upstreams\": {\"app\": {\"backends\": [" + app.json() + "]}},"
                    + "\"routes\": [{\"match\": {\"pathPrefix\": \"/api\"}, \"upstream\": \"app\", \"rateLimit\": [\"global-api\"]},"
                    + "{\"upstream\": \"app\"}]",
                    p -> p.server().fleet().members() == MEMBERS);
            proxies = fleet.proxies();
        }

        void awaitMode(Fleet.Mode mode) {
            await().atMost(10, TimeUnit.SECONDS).pollInterval(Duration.ofMillis(20))
                    .until(() -> proxies.stream().allMatch(p -> p.server().fleet().mode() == mode));
        }

        @Override
        public void close() {
            fleet.close();
        }
    }

    /** What the fleet admitted under a load of about five times the rate, spread evenly. */
    private record Load(AtomicIntegerArray okBy, AtomicInteger limited, AtomicInteger other, double seconds) {
        int ok() {
            int sum = 0;
            for (int i = 0; i < okBy.length(); i++) {
                sum += okBy.get(i);
            }
            return sum;
        }
    }

    private static Load load(Fleet3 fleet, int seconds) throws InterruptedException {
        AtomicIntegerArray ok = new AtomicIntegerArray(MEMBERS);
        AtomicInteger limited = new AtomicInteger();
        AtomicInteger other = new AtomicInteger();
        long start = System.nanoTime();
        long end = start + TimeUnit.SECONDS.toNanos(seconds);
        List<Thread> clients = new ArrayList<>();
        for (int t = 0; t < 2 * MEMBERS; t++) {
            int member = t % MEMBERS;
            ConfiguredProxy proxy = fleet.proxies.get(member);
            Thread client = new Thread(() -> {
                // About 80 attempts a second each, some 500 in all: five times the rate.
                while (System.nanoTime() < end) {
                    try {
                        int status = get(proxy, "/api/x").statusCode();
                        if (status == 200) {
                            ok.incrementAndGet(member);
                        } else {
                            (status == 429 ? limited : other).incrementAndGet();
                        }
                    } catch (Exception e) {
                        other.incrementAndGet();
                    }
                    LockSupport.parkNanos(TimeUnit.MILLISECONDS.toNanos(12));
                }
            });
            client.start();
            clients.add(client);
        }
        for (Thread client : clients) {
            client.join(30_000);
        }
        Load load = new Load(ok, limited, other, (System.nanoTime() - start) / 1e9);
        log.info("{} s: admitted {} ({}), refused {}, other {}", String.format("%.2f", load.seconds), load.ok(), ok,
                limited, other);
        return load;
    }

    private static HttpResponse<String> get(ConfiguredProxy proxy, String path) throws Exception {
        return get(proxy, path, "k1");
    }

    private static HttpResponse<String> get(ConfiguredProxy proxy, String path, String apiKey) throws Exception {
        return HTTP.send(request(proxy, path, apiKey), HttpResponse.BodyHandlers.ofString());
    }

    private static HttpRequest request(ConfiguredProxy proxy, String path, String apiKey) {
        return HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.port() + path))
                .header("X-Api-Key", apiKey).timeout(Duration.ofSeconds(10)).build();
    }

    private static String metrics(ConfiguredProxy proxy) throws Exception {
        return HTTP.send(HttpRequest.newBuilder(URI.create("http://127.0.0.1:" + proxy.server().adminPort() + "/metrics"))
                .timeout(Duration.ofSeconds(10)).build(), HttpResponse.BodyHandlers.ofString()).body();
    }
}
